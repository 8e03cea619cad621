// SHA-256: kernel dispatch, self-test and the batch front end.
//
// The front end keeps one "job" per message: its chaining state, where its
// next block is, and its final padded block(s). It fills every lane of the
// kernel with a job, compresses one block in each lane, and refills a lane the
// moment its job ends, so lanes stay busy whatever the message lengths. When
// the queue is empty and fewer than half the wide kernel's lanes would be
// busy, the remaining jobs move to the narrow kernel.

#include "bmm/crypto/sha256.hpp"

#include "kernel_select.hpp"
#include "sha256_kernels.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace bmm::crypto {
namespace {

// ---------------------------------------------------------------------------
// Jobs and the lane scheduler
// ---------------------------------------------------------------------------

struct job {
    const unsigned char* data;  // the message's whole blocks
    std::size_t full_blocks;    // blocks read straight from data
    std::size_t next;           // index of the next block to compress
    std::size_t total;          // full_blocks + tail blocks
    bool second_pass;           // set while hashing the first digest (sha256d)
    bool double_hash;
    digest32* out;
    alignas(16) std::uint32_t state[8];
    alignas(16) unsigned char tail[128];  // the final one or two padded blocks

    const unsigned char* block() const noexcept {
        return next < full_blocks ? data + 64 * next : tail + 64 * (next - full_blocks);
    }
};

// One bswap and one store: byte-wise stores here stalled the front end (it
// showed as 44% of sha256d64's time under perf).
void store_be32(unsigned char* p, std::uint32_t v) noexcept {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}

// Sets a job up to hash `len` bytes at `data` from the initial state.
void start_job(job& j, const unsigned char* data, std::size_t len) noexcept {
    j.data = data;
    j.full_blocks = len / 64;
    j.next = 0;
    const std::size_t rest = len % 64;
    const std::size_t tail_blocks = rest < 56 ? 1 : 2;
    j.total = j.full_blocks + tail_blocks;
    std::memset(j.tail, 0, 64 * tail_blocks);
    if (rest) std::memcpy(j.tail, data + 64 * j.full_blocks, rest);
    j.tail[rest] = 0x80;
    const std::uint64_t bits = static_cast<std::uint64_t>(len) * 8;
    unsigned char* end = j.tail + 64 * tail_blocks;
    store_be32(end - 8, static_cast<std::uint32_t>(bits >> 32));
    store_be32(end - 4, static_cast<std::uint32_t>(bits));
    std::memcpy(j.state, k_sha256_init, sizeof j.state);
}

// Called when a job's last block is compressed. Returns true when the job is
// finished; false when it starts its second pass (sha256d).
bool finish_pass(job& j) noexcept {
    unsigned char digest[32];
    for (int i = 0; i < 8; ++i) store_be32(digest + 4 * i, j.state[i]);
    if (j.double_hash && !j.second_pass) {
        j.second_pass = true;
        j.data = nullptr;
        j.full_blocks = 0;
        j.next = 0;
        j.total = 1;
        std::memcpy(j.tail, digest, 32);
        std::memset(j.tail + 32, 0, 32);
        j.tail[32] = 0x80;
        j.tail[62] = 0x01;  // 256 bits, big-endian
        std::memcpy(j.state, k_sha256_init, sizeof j.state);
        return false;
    }
    std::memcpy(j.out->data(), digest, 32);
    return true;
}

constexpr unsigned k_max_lanes = 16;

// How many unfinished messages are better off on the narrow kernel.
int tail_limit(const sha256_selection& sel) noexcept {
    if (!sel.narrow || sel.narrow == sel.wide) return -1;
    if (sel.tail_jobs >= 0) return sel.tail_jobs;
    return static_cast<int>(sel.wide->lanes / 2) - (sel.wide->lanes % 2 == 0 ? 1 : 0);
}


// Runs jobs [queue, queue_end) plus the already active ones (at most k.lanes)
// through `k`.
// Stops once the queue is empty and at most `tail_jobs` lanes are busy (never,
// for -1), leaving the unfinished jobs in `active` for the caller.
void run_lanes(const sha256_kernel& k, job** queue, job** queue_end, std::vector<job*>& active,
               int tail_jobs) noexcept {
    alignas(64) static thread_local std::uint32_t dummy_state[k_max_lanes][8];
    static const unsigned char dummy_block[64] = {};
    job* lane[k_max_lanes] = {};
    unsigned busy = 0;
    for (job* j : active) lane[busy++] = j;
    active.clear();
    for (unsigned i = busy; i < k.lanes && queue != queue_end; ++i) lane[busy++] = *queue++;

    std::uint32_t* states[k_max_lanes];
    const unsigned char* blocks[k_max_lanes];
    while (busy > 0) {
        if (queue == queue_end && static_cast<int>(busy) <= tail_jobs) break;
        for (unsigned i = 0; i < k.lanes; ++i) {
            if (i < busy) {
                states[i] = lane[i]->state;
                blocks[i] = lane[i]->block();
            } else {
                states[i] = dummy_state[i];
                blocks[i] = dummy_block;
            }
        }
        k.transform(states, blocks);
        for (unsigned i = 0; i < busy;) {
            job& j = *lane[i];
            if (++j.next < j.total || !finish_pass(j)) {
                ++i;
                continue;
            }
            // The job is done: refill the lane, or close the gap.
            if (queue != queue_end) {
                lane[i++] = *queue++;
            } else {
                lane[i] = lane[--busy];
            }
        }
    }
    for (unsigned i = 0; i < busy; ++i) active.push_back(lane[i]);
}

void run_jobs(const sha256_selection& sel, std::vector<job>& jobs) {
    static thread_local std::vector<job*> order;
    static thread_local std::vector<job*> active;
    order.clear();
    active.clear();
    for (job& j : jobs) order.push_back(&j);
    job** begin = order.data();
    job** end = begin + order.size();
    const bool split = sel.narrow && sel.narrow != sel.wide;
    run_lanes(*sel.wide, begin, end, active, split ? tail_limit(sel) : -1);
    if (!active.empty()) {
        // The unfinished jobs can outnumber the narrow kernel's lanes (up to
        // three left by an 8-lane kernel, one scalar lane), so they reach it
        // as its queue, not as lanes already occupied.
        order.assign(active.begin(), active.end());
        active.clear();
        run_lanes(*sel.narrow, order.data(), order.data() + order.size(), active, -1);
    }
}

// The fast path for messages that all have the same length (merkle nodes,
// headers, the coinbases of one job): lanes are filled in fixed groups, the
// padded tail blocks are built once per lane, and no per-block bookkeeping is
// needed. `at(i)` gives message i's bytes.
template <class At>
void hash_same_length(const sha256_kernel& k, At at, std::size_t len, digest32* out, std::size_t first,
                      std::size_t count, bool double_hash) noexcept {
    alignas(64) std::uint32_t state[k_max_lanes][8];
    alignas(64) unsigned char tail[k_max_lanes][128];
    alignas(64) unsigned char second[k_max_lanes][64];
    std::uint32_t* states[k_max_lanes];
    const unsigned char* blocks[k_max_lanes];
    const std::size_t full = len / 64, rest = len % 64;
    const std::size_t tail_blocks = rest < 56 ? 1 : 2;
    const std::uint64_t bits = static_cast<std::uint64_t>(len) * 8;
    for (unsigned l = 0; l < k.lanes; ++l) {
        states[l] = state[l];
        std::memset(tail[l], 0, sizeof tail[l]);
        tail[l][rest] = 0x80;
        store_be32(tail[l] + 64 * tail_blocks - 8, static_cast<std::uint32_t>(bits >> 32));
        store_be32(tail[l] + 64 * tail_blocks - 4, static_cast<std::uint32_t>(bits));
        std::memset(second[l], 0, sizeof second[l]);
        second[l][32] = 0x80;
        second[l][62] = 0x01;  // 256 bits
    }
    for (std::size_t i = first; i < first + count; i += k.lanes) {
        const unsigned m = static_cast<unsigned>(std::min<std::size_t>(k.lanes, first + count - i));
        for (unsigned l = 0; l < k.lanes; ++l) {
            std::memcpy(state[l], k_sha256_init, sizeof state[l]);
            if (l < m && rest) std::memcpy(tail[l], at(i + l) + 64 * full, rest);
        }
        for (std::size_t b = 0; b < full; ++b) {
            for (unsigned l = 0; l < k.lanes; ++l) blocks[l] = at(i + (l < m ? l : 0)) + 64 * b;
            k.transform(states, blocks);
        }
        for (std::size_t b = 0; b < tail_blocks; ++b) {
            for (unsigned l = 0; l < k.lanes; ++l) blocks[l] = tail[l] + 64 * b;
            k.transform(states, blocks);
        }
        if (double_hash) {
            for (unsigned l = 0; l < k.lanes; ++l) {
                for (int w = 0; w < 8; ++w) store_be32(second[l] + 4 * w, state[l][w]);
                std::memcpy(state[l], k_sha256_init, sizeof state[l]);
                blocks[l] = second[l];
            }
            k.transform(states, blocks);
        }
        for (unsigned l = 0; l < m; ++l)
            for (int w = 0; w < 8; ++w) store_be32(out[i + l].data() + 4 * w, state[l][w]);
    }
}

// Runs the same-length fast path: whole groups on the wide kernel, and the
// rest on the narrow one when the wide kernel would run less than half full.
template <class At>
void run_same_length(const sha256_selection& sel, At at, std::size_t len, digest32* out, std::size_t n,
                     bool double_hash) noexcept {
    const sha256_kernel& wide = *sel.wide;
    const sha256_kernel& narrow = sel.narrow ? *sel.narrow : wide;
    std::size_t bulk = n / wide.lanes * wide.lanes;
    const std::size_t left = n - bulk;
    if (left && static_cast<int>(left) > tail_limit(sel)) bulk = n;  // the last group stays wide
    if (bulk) hash_same_length(wide, at, len, out, 0, bulk, double_hash);
    if (bulk < n) hash_same_length(narrow, at, len, out, bulk, n - bulk, double_hash);
}

void hash_messages(const sha256_selection& sel, std::span<const std::span<const unsigned char>> msgs, digest32* out,
                   bool double_hash) {
    if (!msgs.empty()) {
        const std::size_t len = msgs[0].size();
        bool same = true;
        for (const auto& m : msgs) same = same && m.size() == len;
        if (same) {
            run_same_length(
                sel, [&](std::size_t i) { return msgs[i].data(); }, len, out, msgs.size(), double_hash);
            return;
        }
    }
    static thread_local std::vector<job> jobs;
    jobs.resize(msgs.size());
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        start_job(jobs[i], msgs[i].data(), msgs[i].size());
        jobs[i].double_hash = double_hash;
        jobs[i].second_pass = false;
        jobs[i].out = out + i;
    }
    run_jobs(sel, jobs);
}

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

const sha256_kernel* find_kernel(std::string_view name) noexcept {
    for (const auto& k : sha256_all_kernels())
        if (k.name == name) return &k;
    return nullptr;
}

// Preference when nothing is forced, fastest first. Measured on one core of
// an AMD EPYC (Zen 3: SHA-NI and AVX2, no AVX-512), compressions per second
// with every lane busy: shani-2way 43.7 M, avx2-8way 24.5 M, avx2-16way
// 24.4 M, shani 22.3 M, scalar 3.9 M (OpenSSL's SHA-NI transform: 22.4 M).
// avx2-8way goes before avx2-16way: as fast, and a short batch leaves fewer
// lanes idle. avx512-16way stays first although no test machine can run it:
// with rotates and three-input logic as single instructions it needs about
// 28 ZMM operations per round for 16 lanes, an estimated 55-65 cycles per
// block against about 73 for two SHA-NI streams; re-measure on an AVX-512
// host. Its self-test still gates its use. The tail kernel is the first
// supported one-lane kernel.
constexpr std::string_view k_wide_preference[] = {"avx512-16way", "shani-2way", "avx2-8way",
                                                  "avx2-16way",   "shani",      "scalar"};
constexpr std::string_view k_narrow_preference[] = {"shani", "scalar"};

// Nanoseconds per call of a kernel, from a short timed loop (about 0.1 ms).
double ns_per_call(const sha256_kernel& k) noexcept {
    alignas(64) std::uint32_t state[k_max_lanes][8] = {};
    alignas(64) unsigned char block[64] = {1};
    std::uint32_t* states[k_max_lanes];
    const unsigned char* blocks[k_max_lanes];
    for (unsigned l = 0; l < k.lanes; ++l) {
        states[l] = state[l];
        blocks[l] = block;
    }
    const unsigned calls = 2048 / k.lanes + 16;
    for (unsigned i = 0; i < 16; ++i) k.transform(states, blocks);
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; i < calls; ++i) k.transform(states, blocks);
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / calls;
}

// The largest number of unfinished messages for which ceil(n / narrow lanes)
// narrow calls cost less than one wide call.
int measured_tail_jobs(const sha256_kernel& wide, const sha256_kernel& narrow) noexcept {
    if (&wide == &narrow) return -1;
    const double w = ns_per_call(wide), n = ns_per_call(narrow);
    int best = 0;
    for (unsigned jobs = 1; jobs < wide.lanes; ++jobs) {
        const double narrow_calls = static_cast<double>((jobs + narrow.lanes - 1) / narrow.lanes);
        if (narrow_calls * n < w) best = static_cast<int>(jobs);
    }
    return best;
}

bool usable(const sha256_kernel& k) {
    return detail::usable_once(k, "sha256", [](const sha256_kernel& kk) { return sha256_self_test(kk); });
}

}  // namespace

bool sha256_self_test(const sha256_kernel& kernel) noexcept {
    const sha256_kernel& ref = *find_kernel("scalar");
    test_rng rng{0x5eed5eed12345678ULL};
    // Blocks at every misalignment 0..15 from a 64-byte boundary.
    alignas(64) unsigned char buf[k_max_lanes * 64 + 64];
    for (auto& b : buf) b = static_cast<unsigned char>(rng.next());
    for (unsigned round = 0; round < 16; ++round) {
        std::uint32_t got[k_max_lanes][8], want[k_max_lanes][8];
        std::uint32_t* got_p[k_max_lanes];
        const unsigned char* blocks[k_max_lanes];
        for (unsigned i = 0; i < kernel.lanes; ++i) {
            for (int w = 0; w < 8; ++w) got[i][w] = want[i][w] = rng.next();
            // Odd rounds repeat one block pointer in every lane, as idle lanes do.
            blocks[i] = (round & 1) ? buf + round : buf + (i * 64 + round + i) % (k_max_lanes * 64);
            got_p[i] = got[i];
        }
        kernel.transform(got_p, blocks);
        for (unsigned i = 0; i < kernel.lanes; ++i) {
            std::uint32_t* one = want[i];
            ref.transform(&one, &blocks[i]);
            if (std::memcmp(got[i], want[i], sizeof want[i]) != 0) return false;
        }
    }
    // The front end over every batch size up to two full passes of lanes, with
    // misaligned messages of assorted lengths.
    const sha256_selection alone{&kernel, &kernel};
    const sha256_selection scalar{&ref, &ref};
    std::vector<unsigned char> data(4096 + 64);
    for (auto& b : data) b = static_cast<unsigned char>(rng.next());
    for (unsigned n = 1; n <= 2 * kernel.lanes + 1; ++n) {
        std::vector<std::span<const unsigned char>> msgs;
        for (unsigned i = 0; i < n; ++i) {
            const std::size_t off = 1 + rng.next() % 63;
            const std::size_t len = rng.next() % 300;
            msgs.emplace_back(data.data() + off + i, len);
        }
        std::vector<digest32> a(n), b(n);
        hash_messages(alone, msgs, a.data(), true);
        hash_messages(scalar, msgs, b.data(), true);
        if (a != b) return false;
        // The same-length fast path, at a length with two tail blocks.
        for (auto& m : msgs) m = {m.data(), 119};
        hash_messages(alone, msgs, a.data(), true);
        hash_messages(scalar, msgs, b.data(), true);
        if (a != b) return false;
    }
    return true;
}

std::string sha256_selection::describe() const { return detail::describe_pair(wide, narrow); }

result<sha256_selection> sha256_select(std::string_view family) {
    auto pair = detail::select_pair<sha256_kernel>(
        family, "BMM_SHA256_KERNEL", "sha256", k_wide_preference, k_narrow_preference,
        "scalar, shani, avx2, avx512, auto", [](std::string_view name) { return find_kernel(name); },
        [](const sha256_kernel& k) { return usable(k); });
    if (!pair) return error{pair.error_message()};
    sha256_selection sel;
    sel.wide = pair->first;
    sel.narrow = pair->second;
    sel.tail_jobs = measured_tail_jobs(*sel.wide, *sel.narrow);
    return sel;
}

const sha256_selection& sha256_default_selection() {
    static const sha256_selection sel = [] {
        auto r = sha256_select();
        if (!r) {
            std::fprintf(stderr, "bmm: %s (unset BMM_SHA256_KERNEL or choose another)\n", r.error_message().c_str());
            std::exit(2);
        }
        return *r;
    }();
    return sel;
}

void sha256_batch::sha256(std::span<const std::span<const unsigned char>> msgs, digest32* out) const {
    hash_messages(sel_, msgs, out, false);
}

void sha256_batch::sha256d(std::span<const std::span<const unsigned char>> msgs, digest32* out) const {
    hash_messages(sel_, msgs, out, true);
}

void sha256_batch::sha256d64(const unsigned char* in, digest32* out, std::size_t n) const {
    run_same_length(
        sel_, [in](std::size_t i) { return in + 64 * i; }, 64, out, n, true);
}

digest32 sha256_once(std::span<const unsigned char> data) noexcept {
    job j;
    digest32 out;
    start_job(j, data.data(), data.size());
    j.double_hash = false;
    j.second_pass = false;
    j.out = &out;
    for (; j.next < j.total; ++j.next) sha256_scalar::transform_one(j.state, j.block());
    finish_pass(j);
    return out;
}

digest32 sha256d_once(std::span<const unsigned char> data) noexcept {
    const digest32 first = sha256_once(data);
    return sha256_once(first);
}

}  // namespace bmm::crypto
