// SHA-256 compression with the SHA extensions (SHA-NI): one block per call,
// or two independent blocks whose instructions interleave.
//
// SHA256RNDS2 does two rounds, but its result feeds the next one, so a single
// stream waits out its latency 32 times per block; a second stream fills those
// gaps. This translation unit alone is built with -msha -msse4.1 -mssse3.
//
// Register layout (what SHA256RNDS2 expects): abef holds the words a, b, e, f
// with a in the top element, cdgh holds c, d, g, h likewise. The message
// schedule keeps four vectors, slot q % 4 holding words 4q..4q+3.

#include "sha256_constants.hpp"
#include "sha256_kernels.hpp"

#include <immintrin.h>

#include <utility>

namespace bmm::crypto::sha256_shani {
namespace {

constexpr const auto& k_round = k_sha256_round;

// One block in flight: its state, the state it started from, and the message
// schedule window.
struct stream {
    const unsigned char* block;
    __m128i abef, cdgh;
    __m128i abef_in, cdgh_in;
    __m128i m[4];
};

// Reads four big-endian message words.
[[gnu::always_inline]] inline __m128i load_words(const unsigned char* p) {
    const __m128i swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), swap);
}

// s[0..3] = a b c d and s[4..7] = e f g h, elements low to high, become
// abef = (f e b a) and cdgh = (h g d c).
[[gnu::always_inline]] inline void load_state(stream& x, const std::uint32_t* s) {
    const __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)), 0x1b);
    const __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 4)), 0x1b);
    x.abef = x.abef_in = _mm_unpackhi_epi64(hgfe, dcba);
    x.cdgh = x.cdgh_in = _mm_unpacklo_epi64(hgfe, dcba);
}

// Adds the starting state and stores in FIPS order: the inverse of load_state.
[[gnu::always_inline]] inline void store_state(const stream& x, std::uint32_t* s) {
    const __m128i abef = _mm_add_epi32(x.abef, x.abef_in);
    const __m128i cdgh = _mm_add_epi32(x.cdgh, x.cdgh_in);
    const __m128i abcd = _mm_shuffle_epi32(_mm_unpackhi_epi64(cdgh, abef), 0x1b);
    const __m128i efgh = _mm_shuffle_epi32(_mm_unpacklo_epi64(cdgh, abef), 0x1b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(s), abcd);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(s + 4), efgh);
}

// Rounds 4q..4q+3, then the schedule work that later groups need:
//   words of group q+1 = msg2(msg1(W[q-3], W[q-2]) + (W[q-1] shifted by one
//   word), W[q]) for q+1 in 4..15, where slot (q+1) % 4 already holds the
//   msg1 term (computed two groups earlier);
//   slot (q-1) % 4 = msg1(W[q-1], W[q]) for groups 1..12, once W[q-1] is no
//   longer needed on its own.
template <int q>
[[gnu::always_inline]] inline void quad_round(stream& x) {
    if constexpr (q < 4) x.m[q] = load_words(x.block + 16 * q);
    const __m128i wk = _mm_add_epi32(x.m[q % 4], _mm_load_si128(reinterpret_cast<const __m128i*>(k_round + 4 * q)));
    x.cdgh = _mm_sha256rnds2_epu32(x.cdgh, x.abef, wk);
    x.abef = _mm_sha256rnds2_epu32(x.abef, x.cdgh, _mm_shuffle_epi32(wk, 0x0e));
    if constexpr (q >= 3 && q <= 14) {
        __m128i& next = x.m[(q + 1) % 4];
        next = _mm_add_epi32(next, _mm_alignr_epi8(x.m[q % 4], x.m[(q + 3) % 4], 4));
        next = _mm_sha256msg2_epu32(next, x.m[q % 4]);
    }
    if constexpr (q >= 1 && q <= 12) x.m[(q + 3) % 4] = _mm_sha256msg1_epu32(x.m[(q + 3) % 4], x.m[q % 4]);
}

// All sixteen groups of rounds for each stream, the streams interleaved group
// by group so that either can issue while the other waits.
template <int q, class... S>
[[gnu::always_inline]] inline void quad_round_each(S&... xs) {
    (quad_round<q>(xs), ...);
}

template <int... q, class... S>
[[gnu::always_inline]] inline void all_rounds(std::integer_sequence<int, q...>, S&... xs) {
    (quad_round_each<q>(xs...), ...);
}

}  // namespace

void transform_1way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept {
    stream a;
    a.block = blocks[0];
    load_state(a, states[0]);
    all_rounds(std::make_integer_sequence<int, 16>{}, a);
    store_state(a, states[0]);
}

void transform_2way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept {
    stream a, b;
    a.block = blocks[0];
    b.block = blocks[1];
    load_state(a, states[0]);
    load_state(b, states[1]);
    all_rounds(std::make_integer_sequence<int, 16>{}, a, b);
    store_state(a, states[0]);
    store_state(b, states[1]);
}

}  // namespace bmm::crypto::sha256_shani
