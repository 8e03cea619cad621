// scrypt: kernel dispatch, self-test and the batch front end.
//
// Every scrypt of an 80-byte header costs the same, so the front end needs no
// job queue: it hands the wide kernel full groups of headers, then finishes
// the rest on whichever costs less, the narrow kernel or one more call of
// the wide kernel with idle lanes (see scrypt_batch::hash).

#include "bmm/crypto/scrypt.hpp"

#include "kernel_select.hpp"
#include "scrypt_kernels.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace bmm::crypto {
namespace {

constexpr unsigned k_max_lanes = 16;

// Runs `count` headers (1 <= count <= k.lanes) through one call of `k`.
// Idle lanes repeat the first header and write to a dummy digest.
void run_group(const scrypt_kernel& k, const unsigned char* const* headers, digest32* out, std::size_t count,
               void* scratch) noexcept {
    const unsigned char* in[k_max_lanes];
    unsigned char* to[k_max_lanes];
    unsigned char dummy[32];
    for (unsigned i = 0; i < k.lanes; ++i) {
        in[i] = i < count ? headers[i] : headers[0];
        to[i] = i < count ? out[i].data() : dummy;
    }
    k.hash(in, to, scratch);
}

void* allocate_scratch(unsigned lanes) noexcept {
    return ::operator new (lanes* k_scrypt_lane_scratch, std::align_val_t{64}, std::nothrow);
}

void free_scratch(void* p) noexcept { ::operator delete (p, std::align_val_t{64}, std::nothrow); }

// ---------------------------------------------------------------------------
// Self-test and selection
// ---------------------------------------------------------------------------

// xorshift64*: a fixed pseudo-random sequence for the self-test.
struct test_rng {
    std::uint64_t s;
    std::uint32_t next() noexcept {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<std::uint32_t>((s * 0x2545F4914F6CDD1DULL) >> 32);
    }
};

// Litecoin's genesis block header and its scrypt proof-of-work hash (as
// stored, not in display order): a known answer, so that the scalar kernel's
// self-test proves something too.
constexpr unsigned char k_genesis_header[80] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xd9, 0xce, 0xd4, 0xed, 0x11, 0x30, 0xf7, 0xb7, 0xfa, 0xad, 0x9b, 0xe2,
    0x53, 0x23, 0xff, 0xaf, 0xa3, 0x32, 0x32, 0xa1, 0x7c, 0x3e, 0xdf, 0x6c, 0xfd, 0x97, 0xbe, 0xe6,
    0xba, 0xfb, 0xdd, 0x97, 0xb9, 0xaa, 0x8e, 0x4e, 0xf0, 0xff, 0x0f, 0x1e, 0xcd, 0x51, 0x3f, 0x7c};
constexpr unsigned char k_genesis_pow[32] = {0x00, 0x1e, 0x67, 0xb0, 0x13, 0x72, 0x6f, 0xd7, 0x38, 0x2e, 0x9a,
                                             0xcb, 0x69, 0x16, 0x5b, 0x4b, 0x63, 0x16, 0x22, 0x7f, 0xb3, 0x15,
                                             0x6b, 0x5b, 0x41, 0x4b, 0xa6, 0x34, 0x0c, 0x05, 0x00, 0x00};

const scrypt_kernel* find_kernel(std::string_view name) noexcept {
    for (const auto& k : scrypt_all_kernels())
        if (k.name == name) return &k;
    return nullptr;
}

// Preference when nothing is forced, fastest first. Hashes per second on one
// Zen 3 core (EPYC, 3.2 GHz): avx2-2x8way 21.0k, avx2-8way 20.2k, avx2-16way
// 9.8k, scalar 4.8k; OpenSSL's EVP_PBE_scrypt 3.2k. The AVX-512 kernel could
// not be measured there; it is first because it does avx2-16way's work in
// half the instructions, without spilling. Every kernel name appears here:
// forcing a family walks this list too. avx2-8way comes before avx2-2x8way:
// within 4 % of it on full batches of 64, and twice as fast on the batches of
// 3..15 a pool's loop turn often holds (bmm-verifier-bench, scrypt/*/8: 6.7x
// against 3.5x OpenSSL), since a 16-lane call runs half empty there.
constexpr std::string_view k_wide_preference[] = {"avx512-16way", "avx2-8way", "avx2-2x8way", "avx2-16way", "scalar"};
constexpr std::string_view k_narrow_preference[] = {"scalar"};

// What one call of a kernel costs, in hashes of the scalar kernel: measured
// on Zen 3, estimated for AVX-512. Only the tail rule uses it; a kernel not
// listed is assumed no faster per lane than the scalar kernel.
struct call_cost {
    std::string_view name;
    double scalar_hashes;
};
constexpr call_cost k_call_costs[] = {
    {"scalar", 1.0}, {"avx2-8way", 1.9}, {"avx2-2x8way", 3.7}, {"avx2-16way", 8.4}, {"avx512-16way", 2.5}};

double cost_of(const scrypt_kernel& k) noexcept {
    for (const auto& c : k_call_costs)
        if (c.name == k.name) return c.scalar_hashes;
    return k.lanes;
}

bool usable(const scrypt_kernel& k) {
    return detail::usable_once(k, "scrypt", [](const scrypt_kernel& kk) { return scrypt_self_test(kk); });
}

}  // namespace

bool scrypt_self_test(const scrypt_kernel& kernel) noexcept {
    const scrypt_kernel& ref = *find_kernel("scalar");
    if (kernel.lanes == 0 || kernel.lanes > k_max_lanes) return false;
    void* scratch = allocate_scratch(kernel.lanes);
    if (!scratch) return false;
    test_rng rng{0x5c7e5eed0badcafeULL};
    // Headers at assorted misalignments; lane 0 holds the genesis header.
    alignas(64) unsigned char buf[k_max_lanes * 81 + 64];
    for (auto& b : buf) b = static_cast<unsigned char>(rng.next());
    std::memcpy(buf + 1, k_genesis_header, 80);
    alignas(64) unsigned char got_buf[k_max_lanes * 33 + 1];
    const unsigned char* headers[k_max_lanes];
    unsigned char* got[k_max_lanes];
    for (unsigned i = 0; i < kernel.lanes; ++i) got[i] = got_buf + 1 + 33 * i;
    auto reference = [&](const unsigned char* header, unsigned char* want) { ref.hash(&header, &want, scratch); };
    unsigned char want[32];

    // A distinct header in every lane, checked against the scalar kernel and
    // lane 0 against the known answer.
    for (unsigned i = 0; i < kernel.lanes; ++i) headers[i] = buf + 1 + 81 * i;
    kernel.hash(headers, got, scratch);
    bool ok = std::memcmp(got[0], k_genesis_pow, 32) == 0;
    for (unsigned i = 0; i < kernel.lanes && ok; ++i) {
        reference(headers[i], want);
        ok = std::memcmp(got[i], want, 32) == 0;
    }
    // One header pointer in every lane, as the front end's idle lanes repeat.
    if (ok) {
        for (unsigned i = 0; i < kernel.lanes; ++i) headers[i] = buf + 3;
        kernel.hash(headers, got, scratch);
        reference(headers[0], want);
        for (unsigned i = 0; i < kernel.lanes && ok; ++i) ok = std::memcmp(got[i], want, 32) == 0;
    }
    free_scratch(scratch);
    return ok;
}

std::string scrypt_selection::describe() const { return detail::describe_pair(wide, narrow); }

result<scrypt_selection> scrypt_select(std::string_view family) {
    auto pair = detail::select_pair<scrypt_kernel>(
        family, "BMM_SCRYPT_KERNEL", "scrypt", k_wide_preference, k_narrow_preference, "scalar, avx2, avx512, auto",
        [](std::string_view name) { return find_kernel(name); }, [](const scrypt_kernel& k) { return usable(k); });
    if (!pair) return error{pair.error_message()};
    scrypt_selection sel;
    sel.wide = pair->first;
    sel.narrow = pair->second;
    return sel;
}

const scrypt_selection& scrypt_default_selection() {
    static const scrypt_selection sel = [] {
        auto r = scrypt_select();
        if (!r) {
            std::fprintf(stderr, "bmm: %s (unset BMM_SCRYPT_KERNEL or choose another)\n", r.error_message().c_str());
            std::exit(2);
        }
        return *r;
    }();
    return sel;
}

scrypt_batch::scrypt_batch(const scrypt_selection& selection) : sel_(selection) {
    scratch_ = allocate_scratch(std::max(sel_.wide->lanes, sel_.narrow->lanes));
    if (!scratch_) throw std::bad_alloc();
}

scrypt_batch::~scrypt_batch() { free_scratch(scratch_); }

void scrypt_batch::hash(const unsigned char* const* headers, digest32* out, std::size_t n) {
    const scrypt_kernel& wide = *sel_.wide;
    const scrypt_kernel& narrow = *sel_.narrow;
    std::size_t i = 0;
    for (; n - i >= wide.lanes; i += wide.lanes) run_group(wide, headers + i, out + i, wide.lanes, scratch_);
    if (i == n) return;
    // The tail: narrow calls (the last one partly idle) unless one call of
    // the wide kernel with idle lanes costs less.
    const std::size_t narrow_calls = (n - i + narrow.lanes - 1) / narrow.lanes;
    if (static_cast<double>(narrow_calls) * cost_of(narrow) >= cost_of(wide)) {
        run_group(wide, headers + i, out + i, n - i, scratch_);
        return;
    }
    for (; i < n; i += narrow.lanes)
        run_group(narrow, headers + i, out + i, std::min<std::size_t>(narrow.lanes, n - i), scratch_);
}

digest32 scrypt_once(std::span<const unsigned char, 80> header) noexcept {
    struct scratch_holder {
        void* p = allocate_scratch(1);
        ~scratch_holder() { free_scratch(p); }
    };
    static thread_local scratch_holder scratch;
    if (!scratch.p) std::abort();
    digest32 out;
    const unsigned char* in = header.data();
    unsigned char* to = out.data();
    scrypt_scalar::hash_1way(&in, &to, scratch.p);
    return out;
}

}  // namespace bmm::crypto
