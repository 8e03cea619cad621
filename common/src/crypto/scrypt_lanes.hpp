#pragma once
// Private: scrypt's ROMix, BlockMix and Salsa20/8, and the PBKDF2 around
// them, over several lanes at once. Written once over GCC vector types and
// instantiated by the SIMD kernels: scrypt_avx2.cpp at 8 lanes (one and two
// groups) and at 16, scrypt_avx512.cpp at 16. The AVX2 build at 16 lanes
// exists so that the code shape the AVX-512 kernel runs is tested on
// machines without AVX-512.
//
// Layout. The working block X is lane-interleaved: X[w] is one vector holding
// word w of every lane, so Salsa20/8 runs on all lanes with no shuffles. The
// table V is lane-major: row i holds lane 0's block i, then lane 1's, and so
// on, 128 contiguous bytes each. ROMix's second loop reads each lane's block
// at its own data-dependent index; lane-major rows make that two cache lines
// per lane (a lane-interleaved V would touch sixteen lines per lane and use
// an eighth of each). Moving between the layouts costs a transpose of every
// eight words in each loop. Reading V with gathers instead measured 20%
// slower on Zen 3 (vpgatherdd costs about 11 cycles there).
//
// ODR. This header is compiled into translation units with different ISA
// flags. Everything here has internal linkage (an unnamed namespace), and the
// ISA policy a kernel passes in lives in that kernel's own file, so no
// instantiation can be shared between, say, the AVX2 and AVX-512 objects.
//
// The policy `Isa` provides:
//   using vec = std::uint32_t __attribute__((vector_size(4 * lanes)));
//   static constexpr unsigned lanes;  // 8 or 16
// and may provide
//   static vec load_quads(const std::uint32_t* const* p);  // see below

#include "salsa8.hpp"
#include "scrypt_kernels.hpp"
#include "sha256_compress.hpp"
#include "sha256_constants.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>

namespace bmm::crypto {
namespace {

template <class Isa, unsigned groups = 1>
struct scrypt_lanes {
    using vec = typename Isa::vec;
    static constexpr unsigned lanes = Isa::lanes;
    static constexpr unsigned n = scrypt_params::n;
    static constexpr unsigned words = scrypt_params::block_words;
    static constexpr unsigned row_words = lanes * words;  // one row of V
    static_assert(lanes == 8 || lanes == 16, "the transposes assume 8 or 16 lanes");
    static_assert(sizeof(vec) == 4 * lanes, "vec holds one word of every lane");
    static_assert(groups * (n * row_words * 4 + words * sizeof(vec)) <= groups * lanes * k_scrypt_lane_scratch,
                  "V and X fit the scratch the kernel contract provides");


    [[gnu::always_inline]] static inline void salsa8_xor(vec* b, const vec* c) noexcept { salsa8_xor_words(b, c); }

    // BlockMix with r = 1: (B0, B1) := (H(B0 ^ B1), H(B1 ^ H(B0 ^ B1))).
    [[gnu::always_inline]] static inline void block_mix(vec* x) noexcept {
        salsa8_xor(x, x + 16);
        salsa8_xor(x + 16, x);
    }

    // -----------------------------------------------------------------------
    // Transposes between X's word-vectors and V's per-lane blocks.
    //
    // An 8x8 transpose of 32-bit words is a 4x4 transpose inside every
    // 128-bit block plus an exchange of blocks between vectors. Block b of a
    // vector serves lanes 4b..4b+3. Loads fold the exchange into memory
    // accesses: a "quad" is four words of one lane, 16 bytes, and a vector is
    // loaded as one quad per block, so only the 4x4 part (interleaving 32-bit,
    // then 64-bit units) needs the shuffle unit, which Salsa20/8's shifts keep
    // busy. The policy may supply the quad loads (AVX2 does, to avoid a
    // cross-block shuffle); the generic ones leave the choice to GCC.
    // -----------------------------------------------------------------------

    // A vector whose element i is f(i).
    template <class F, std::size_t... I>
    static constexpr vec make_vec(F f, std::index_sequence<I...>) noexcept {
        return vec{static_cast<std::uint32_t>(f(static_cast<unsigned>(I)))...};
    }
    template <class F>
    static constexpr vec make_vec(F f) noexcept {
        return make_vec(f, std::make_index_sequence<lanes>{});
    }

    // Mask for stage `s` of the 4x4 transpose (0: 32-bit, 1: 64-bit units),
    // `hi` taking the upper units of each 128-bit block. Element i of the
    // result is element mask[i] of the concatenation (a, b): units alternate
    // a, b within each block, as unpacklo/unpackhi do.
    static constexpr vec stage_mask(unsigned s, bool hi) noexcept {
        return make_vec([s, hi](unsigned i) {
            const unsigned width = 1u << s;  // elements per unit: 1 or 2
            const unsigned block = i / 4 * 4;
            const unsigned unit = i % 4 / width;
            const unsigned src_unit = unit / 2 + (hi ? 2 / width : 0);
            return (unit % 2) * lanes + block + src_unit * width + i % width;
        });
    }

    // Transposes the 4x4 word matrix in each 128-bit block of a[0..3]: after
    // it, element e of block b of a[k] is what element k of block b of a[e]
    // was.
    [[gnu::always_inline]] static inline void transpose4(vec* a) noexcept {
        constexpr vec lo32 = stage_mask(0, false), hi32 = stage_mask(0, true);
        constexpr vec lo64 = stage_mask(1, false), hi64 = stage_mask(1, true);
        const vec t0 = __builtin_shuffle(a[0], a[1], lo32), t1 = __builtin_shuffle(a[0], a[1], hi32);
        const vec t2 = __builtin_shuffle(a[2], a[3], lo32), t3 = __builtin_shuffle(a[2], a[3], hi32);
        a[0] = __builtin_shuffle(t0, t2, lo64);
        a[1] = __builtin_shuffle(t0, t2, hi64);
        a[2] = __builtin_shuffle(t1, t3, lo64);
        a[3] = __builtin_shuffle(t1, t3, hi64);
    }

    using quad = std::uint32_t __attribute__((vector_size(16)));

    // A vector whose block b is the quad at p[b] (16-byte aligned).
    [[gnu::always_inline]] static inline vec load_quads(const std::uint32_t* const* p) noexcept {
        if constexpr (requires { Isa::load_quads(p); }) {
            return Isa::load_quads(p);
        } else {
            const quad q0 = *reinterpret_cast<const quad*>(p[0]);
            const quad q1 = *reinterpret_cast<const quad*>(p[1]);
            const auto h0 = __builtin_shufflevector(q0, q1, 0, 1, 2, 3, 4, 5, 6, 7);
            if constexpr (lanes == 8) {
                return h0;
            } else {
                const quad q2 = *reinterpret_cast<const quad*>(p[2]);
                const quad q3 = *reinterpret_cast<const quad*>(p[3]);
                const auto h1 = __builtin_shufflevector(q2, q3, 0, 1, 2, 3, 4, 5, 6, 7);
                return __builtin_shufflevector(h0, h1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            }
        }
    }

    using run = std::uint32_t __attribute__((vector_size(32)));

    // Eight words of the lane served by block b: block b of `lo`, then block
    // b of `hi`.
    template <unsigned b>
    [[gnu::always_inline]] static inline run block_pair(const vec& lo, const vec& hi) noexcept {
        return __builtin_shufflevector(lo, hi, 4 * b, 4 * b + 1, 4 * b + 2, 4 * b + 3, lanes + 4 * b, lanes + 4 * b + 1,
                                       lanes + 4 * b + 2, lanes + 4 * b + 3);
    }

    template <unsigned... b>
    [[gnu::always_inline]] static inline void store_pairs(const vec& lo, const vec& hi, std::uint32_t* v, unsigned k,
                                                          std::integer_sequence<unsigned, b...>) noexcept {
        ((*reinterpret_cast<run*>(v + (4 * b + k) * words) = block_pair<b>(lo, hi)), ...);
    }

    // Row i of V gets X: lane l's block at v + l * words. Stores are whole
    // 32-byte runs (eight words of one lane): on Zen 3 that beats storing
    // quads, where the store unit, not the shuffles, becomes the limit.
    [[gnu::always_inline]] static inline void store_block(const vec* x, std::uint32_t* v) noexcept {
#pragma GCC unroll 4
        for (unsigned c = 0; c < words; c += 8) {
            vec u[8] = {x[c], x[c + 1], x[c + 2], x[c + 3], x[c + 4], x[c + 5], x[c + 6], x[c + 7]};
            transpose4(u);
            transpose4(u + 4);
            // Block b of u[k] is lane 4b + k's words c..c+3, of u[k + 4] its
            // words c+4..c+7.
            for (unsigned k = 0; k < 4; ++k)
                store_pairs(u[k], u[k + 4], v + c, k, std::make_integer_sequence<unsigned, lanes / 4>{});
        }
    }

    // t[w][l] = V[j[l]] word w of lane l, for j = x[16] mod N.
    [[gnu::always_inline]] static inline void load_block(vec* t, const std::uint32_t* v, const vec& x16) noexcept {
        constexpr vec lane_offset = make_vec([](unsigned l) { return l * words; });
        const vec offsets = (x16 & (n - 1)) * row_words + lane_offset;
        const std::uint32_t* src[lanes];
        for (unsigned l = 0; l < lanes; ++l) src[l] = v + offsets[l];
#pragma GCC unroll 8
        for (unsigned c = 0; c < words; c += 4) {
            vec* u = t + c;
            for (unsigned k = 0; k < 4; ++k) {
                const std::uint32_t* from[lanes / 4];
                for (unsigned b = 0; b < lanes / 4; ++b) from[b] = src[4 * b + k] + c;
                u[k] = load_quads(from);
            }
            // Block b of u[k] is lane 4b + k's words c..c+3; transposed,
            // u[k] is word c + k of every lane.
            transpose4(u);
        }
    }

    // Fetches the blocks load_block(t, v, x16) will read towards L1.
    [[gnu::always_inline]] static inline void prefetch_block(const std::uint32_t* v, const vec& x16) noexcept {
        constexpr vec lane_offset = make_vec([](unsigned l) { return l * words; });
        const vec offsets = (x16 & (n - 1)) * row_words + lane_offset;
        for (unsigned l = 0; l < lanes; ++l) {
            __builtin_prefetch(v + offsets[l]);
            __builtin_prefetch(v + offsets[l] + 16);
        }
    }

    // ROMix on `groups` independent groups of lanes, group g's X at
    // x + g * words and its V at v + g * n * row_words. The second loop's
    // reads wait on the BlockMix before them, and V outgrows L2 (1 MiB at 8
    // lanes), so a lone group stalls on them. With two groups, each group's
    // next reads are prefetched before the other group's BlockMix.
    static void romix(vec* x, std::uint32_t* v) noexcept {
        for (unsigned i = 0; i < n; ++i)
            for (unsigned g = 0; g < groups; ++g) {
                store_block(x + g * words, v + g * n * row_words + i * row_words);
                block_mix(x + g * words);
            }
        for (unsigned i = 0; i < n; ++i)
            for (unsigned g = 0; g < groups; ++g) {
                vec* xg = x + g * words;
                const std::uint32_t* vg = v + g * n * row_words;
                vec t[words];
                load_block(t, vg, xg[16]);
                for (unsigned w = 0; w < words; ++w) xg[w] ^= t[w];
                block_mix(xg);
                if constexpr (groups > 1) prefetch_block(vg, xg[16]);
            }
    }

    // -----------------------------------------------------------------------
    // PBKDF2-HMAC-SHA256, lane-parallel: the same steps as scrypt_pbkdf2.cpp
    // (see there), with SHA-256 on word-vectors. Run one lane at a time in
    // plain C++ they cost nearly a tenth of the whole hash (measured).
    // -----------------------------------------------------------------------

    [[gnu::always_inline]] static inline vec bswap(const vec& x) noexcept {
        return (x << 24) | ((x & 0xff00u) << 8) | ((x >> 8) & 0xff00u) | (x >> 24);
    }

    [[gnu::always_inline]] static inline vec splat(std::uint32_t c) noexcept { return vec{} + c; }

    // Compresses the 16-word block `m` (SHA-256's big-endian words, as
    // numbers) into the eight-word state `s`.
    [[gnu::noinline]] static void sha256_compress(vec* s, const vec* m) noexcept { sha256_compress_words(s, m); }

    static void sha256_init(vec* s) noexcept {
        for (int i = 0; i < 8; ++i) s[i] = splat(k_sha256_init[i]);
    }

    // Padding of a block whose first `used` words are message: 0x80 then
    // zeros, and the whole message's length in bits at the end.
    static void sha256_pad(vec* m, int used, std::uint32_t total_bytes) noexcept {
        m[used] = splat(0x80000000u);
        for (int i = used + 1; i < 15; ++i) m[i] = splat(0);
        m[15] = splat(total_bytes * 8);
    }

    // HMAC's outer hash: o = SHA256(opad block || inner state's digest).
    static void hmac_outer(const vec* outer, const vec* inner_state, vec* o) noexcept {
        vec m[16];
        for (int i = 0; i < 8; ++i) m[i] = inner_state[i];
        sha256_pad(m, 8, 64 + 32);
        for (int i = 0; i < 8; ++i) o[i] = outer[i];
        sha256_compress(o, m);
    }

    // scrypt_pbkdf2::first on every lane: X = PBKDF2(header, header, 1, 128)
    // as little-endian words, and each lane's HMAC pad states.
    static void pbkdf2_first(const unsigned char* const* headers, vec* x, vec* inner, vec* outer) noexcept {
        vec hdr[20];
        for (unsigned l = 0; l < lanes; ++l)
            for (int i = 0; i < 20; ++i) {
                const unsigned char* p = headers[l] + 4 * i;
                hdr[i][l] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
                            std::uint32_t{p[3]};
            }
        // The key is SHA256(header): the header exceeds the block size.
        vec key[8], m[16];
        sha256_init(key);
        sha256_compress(key, hdr);
        for (int i = 0; i < 4; ++i) m[i] = hdr[16 + i];
        sha256_pad(m, 4, 80);
        sha256_compress(key, m);
        for (int i = 0; i < 8; ++i) m[i] = key[i] ^ 0x36363636u;
        for (int i = 8; i < 16; ++i) m[i] = splat(0x36363636u);
        sha256_init(inner);
        sha256_compress(inner, m);
        for (int i = 0; i < 16; ++i) m[i] ^= 0x36363636u ^ 0x5c5c5c5cu;
        sha256_init(outer);
        sha256_compress(outer, m);
        // T_i = HMAC(key, header || INT(i)); the header's first 64 bytes are
        // common to all four.
        vec mid[8];
        for (int i = 0; i < 8; ++i) mid[i] = inner[i];
        sha256_compress(mid, hdr);
        for (std::uint32_t t = 1; t <= 4; ++t) {
            vec s[8], o[8];
            for (int i = 0; i < 8; ++i) s[i] = mid[i];
            for (int i = 0; i < 4; ++i) m[i] = hdr[16 + i];
            m[4] = splat(t);
            sha256_pad(m, 5, 64 + 84);
            sha256_compress(s, m);
            hmac_outer(outer, s, o);
            for (int i = 0; i < 8; ++i) x[8 * (t - 1) + i] = bswap(o[i]);
        }
    }

    // scrypt_pbkdf2::last on every lane: out = PBKDF2(header, X, 1, 32).
    static void pbkdf2_last(const vec* x, const vec* inner, const vec* outer, unsigned char* const* out) noexcept {
        vec s[8], o[8], m[16];
        for (int i = 0; i < 8; ++i) s[i] = inner[i];
        for (int half = 0; half < 2; ++half) {
            for (int i = 0; i < 16; ++i) m[i] = bswap(x[16 * half + i]);
            sha256_compress(s, m);
        }
        m[0] = splat(1);
        sha256_pad(m, 1, 64 + 132);
        sha256_compress(s, m);
        hmac_outer(outer, s, o);
        for (unsigned l = 0; l < lanes; ++l)
            for (int i = 0; i < 8; ++i) {
                const std::uint32_t word = o[i][l];
                unsigned char* p = out[l] + 4 * i;
                p[0] = static_cast<unsigned char>(word >> 24);
                p[1] = static_cast<unsigned char>(word >> 16);
                p[2] = static_cast<unsigned char>(word >> 8);
                p[3] = static_cast<unsigned char>(word);
            }
    }

    // The kernel entry point (see scrypt_kernel::hash): V then X in scratch.
    static void hash(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept {
        auto* v = static_cast<std::uint32_t*>(scratch);
        vec* x = reinterpret_cast<vec*>(v + groups * n * row_words);
        vec inner[groups][8], outer[groups][8];
        for (unsigned g = 0; g < groups; ++g) pbkdf2_first(headers + g * lanes, x + g * words, inner[g], outer[g]);
        romix(x, v);
        for (unsigned g = 0; g < groups; ++g) pbkdf2_last(x + g * words, inner[g], outer[g], out + g * lanes);
    }
};

}  // namespace
}  // namespace bmm::crypto
