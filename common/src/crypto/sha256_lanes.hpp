#pragma once
// Private: multi-buffer SHA-256, written once over a lane-vector type and
// instantiated by the AVX2 and AVX-512 kernel translation units.
//
// A lane vector V holds one 32-bit word of each of lanes_of<V> independent
// messages ("lane-interleaved"); the 64 rounds are then plain vector
// arithmetic. V is a GCC vector-extension type (8 lanes in a YMM register,
// 16 in a ZMM register) or twin<V>, two of them side by side, whose operators
// act on both halves so that one instruction stream carries two independent
// dependency chains. The round code uses only + ^ & | << >>, so the same
// source is exercised by the AVX2 kernels (8 and 16 lanes) that run on every
// test machine and compiled unchanged into the AVX-512 kernel; rotations are
// written as shift-or pairs, which GCC turns into VPRORD on AVX-512, and the
// logic into VPTERNLOGD. The AVX-512 kernel takes the same path as the 8-lane
// AVX2 one (schedule_mode::in_rounds); what only it uses is the 16-lane width
// of the load/transpose/store helpers below, which use
// __builtin_shufflevector (no intrinsics) with masks computed from the lane
// count. tests/common/crypto/sha256_avx512_test.cpp runs that source built
// for AVX2.
//
// ODR: every kernel TU that includes this header is compiled with different
// ISA flags, so everything here has internal linkage (an unnamed namespace).
// Were these external inline functions or templates, the linker would keep
// one copy of each, possibly the AVX-512 one for the AVX2 kernel. For the same
// reason this header calls no standard-library function templates, which
// would be emitted as shared COMDAT symbols in unoptimised builds; memcpy is a
// compiler builtin.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include "sha256_constants.hpp"

namespace bmm::crypto {
namespace {
namespace sha256_lanes {

using v8u = std::uint32_t __attribute__((vector_size(32)));

constexpr const auto& k_round = ::bmm::crypto::k_sha256_round;

// ---------------------------------------------------------------------------
// Two lane vectors acting as one of twice the width
// ---------------------------------------------------------------------------

template <class V>
struct twin {
    V lo, hi;

    friend twin operator+(const twin& x, const twin& y) { return {x.lo + y.lo, x.hi + y.hi}; }
    friend twin operator^(const twin& x, const twin& y) { return {x.lo ^ y.lo, x.hi ^ y.hi}; }
    friend twin operator&(const twin& x, const twin& y) { return {x.lo & y.lo, x.hi & y.hi}; }
    friend twin operator|(const twin& x, const twin& y) { return {x.lo | y.lo, x.hi | y.hi}; }
    friend twin operator<<(const twin& x, int n) { return {x.lo << n, x.hi << n}; }
    friend twin operator>>(const twin& x, int n) { return {x.lo >> n, x.hi >> n}; }
    // Adds the scalar to every lane (GCC vectors broadcast scalars the same way).
    friend twin operator+(const twin& x, std::uint32_t k) { return {x.lo + k, x.hi + k}; }
};

// ---------------------------------------------------------------------------
// The 64 rounds, for any lane vector
// ---------------------------------------------------------------------------

template <int n, class V>
[[gnu::always_inline]] inline V rotr(const V& x) {
    return (x >> n) | (x << (32 - n));
}

template <class V>
[[gnu::always_inline]] inline V small_sigma0(const V& x) {
    return rotr<7>(x) ^ rotr<18>(x) ^ (x >> 3);
}

template <class V>
[[gnu::always_inline]] inline V small_sigma1(const V& x) {
    return rotr<17>(x) ^ rotr<19>(x) ^ (x >> 10);
}

// One round, j places into the eight-round group whose message words start at
// w. The caller renames the working variables instead of moving them, so
// only d and h are written. From round 16 on (schedule) the round first
// extends the message schedule by one word. maj is written as
// b ^ ((a ^ b) & (b ^ c)) because the next round's (b ^ c) is this round's
// (a ^ b): the compiler reuses it, saving an operation per round.
template <int j, bool schedule, class V>
[[gnu::always_inline]] inline void round(const V& a, const V& b, const V& c, V& d, const V& e, const V& f, const V& g,
                                         V& h, V* w, const std::uint32_t* k) {
    if constexpr (schedule) w[j] = w[j - 16] + small_sigma0(w[j - 15]) + w[j - 7] + small_sigma1(w[j - 2]);
    const V big_sigma1 = rotr<6>(e) ^ rotr<11>(e) ^ rotr<25>(e);
    const V choose = g ^ (e & (f ^ g));
    const V t1 = h + big_sigma1 + choose + (w[j] + k[j]);
    const V big_sigma0 = rotr<2>(a) ^ rotr<13>(a) ^ rotr<22>(a);
    const V majority = b ^ ((a ^ b) & (b ^ c));
    d = d + t1;
    h = t1 + big_sigma0 + majority;
}

// Eight rounds with message words w[0..7] and round constants k[0..7]. The
// working variables rotate one place per round, so after eight rounds the
// names line up again.
template <bool schedule, class V>
[[gnu::always_inline]] inline void eight_rounds(V (&s)[8], V* w, const std::uint32_t* k) {
    V& a = s[0];
    V& b = s[1];
    V& c = s[2];
    V& d = s[3];
    V& e = s[4];
    V& f = s[5];
    V& g = s[6];
    V& h = s[7];
    round<0, schedule>(a, b, c, d, e, f, g, h, w, k);
    round<1, schedule>(h, a, b, c, d, e, f, g, w, k);
    round<2, schedule>(g, h, a, b, c, d, e, f, w, k);
    round<3, schedule>(f, g, h, a, b, c, d, e, w, k);
    round<4, schedule>(e, f, g, h, a, b, c, d, w, k);
    round<5, schedule>(d, e, f, g, h, a, b, c, w, k);
    round<6, schedule>(c, d, e, f, g, h, a, b, w, k);
    round<7, schedule>(b, c, d, e, f, g, h, a, w, k);
}

// How compress() interleaves the message schedule with the rounds.
enum class schedule_mode {
    // Each of rounds 16..63 extends the schedule by the word it needs: the
    // shift-heavy schedule arithmetic then fills the gaps in the rounds'
    // dependency chains. Best while state and temporaries fit in registers.
    in_rounds,
    // All 48 words are expanded before the rounds. Best for twin<v8u> on AVX2,
    // whose sixteen state registers are all AVX2 has: schedule temporaries
    // mixed into the rounds would spill (measured on Zen 3: 16-lane AVX2
    // 20.1 -> 23.8 M compressions/s this way, 8-lane AVX2 24.7 -> 21.9).
    up_front,
};

// Compresses the message words w[0..15] (one block per lane) into the state
// s (words a..h); w has room for all 64 schedule words. The rounds run as
// loops of eight-round bodies, which keeps the code small (unrolled 16-round
// bodies made the 16-lane AVX2 kernel slower); the words live on the stack,
// and loading them is cheap next to the arithmetic.
template <schedule_mode mode, class V>
[[gnu::always_inline]] inline void compress(V (&s)[8], V (&w)[64]) {
    V x[8];
    for (int i = 0; i < 8; ++i) x[i] = s[i];
    if constexpr (mode == schedule_mode::in_rounds) {
#pragma GCC unroll 1
        for (int r = 0; r < 16; r += 8) eight_rounds<false>(x, w + r, k_round + r);
#pragma GCC unroll 1
        for (int r = 16; r < 64; r += 8) eight_rounds<true>(x, w + r, k_round + r);
    } else {
        for (int t = 16; t < 64; ++t) w[t] = w[t - 16] + small_sigma0(w[t - 15]) + w[t - 7] + small_sigma1(w[t - 2]);
#pragma GCC unroll 1
        for (int r = 0; r < 64; r += 8) eight_rounds<false>(x, w + r, k_round + r);
    }
    for (int i = 0; i < 8; ++i) s[i] = s[i] + x[i];
}

// ---------------------------------------------------------------------------
// Loading and storing native lane vectors (8 or 16 lanes)
// ---------------------------------------------------------------------------

template <class V>
inline constexpr unsigned lanes_of = sizeof(V) / sizeof(std::uint32_t);

// One stage of a butterfly transpose: for rows x (row bit b clear) and y (row
// bit b set), the elements whose column bit b differs from their row bit b
// trade places. Running the stages for bits 1, 2, 4, ... of an n x n matrix
// swaps every element's row and column: a transpose. With fewer stages than
// log2(n), each aligned block of columns is transposed on its own.
template <unsigned b, bool upper, class V, std::size_t... j>
[[gnu::always_inline]] inline V butterfly(const V& x, const V& y, std::index_sequence<j...>) {
    constexpr std::size_t n = lanes_of<V>;
    if constexpr (upper) return __builtin_shufflevector(x, y, ((j & b) ? n + j : j + b)...);
    else return __builtin_shufflevector(x, y, ((j & b) ? n + j - b : j)...);
}

template <unsigned b, unsigned rows, class V>
[[gnu::always_inline]] inline void transpose_stage(V* r) {
    constexpr auto columns = std::make_index_sequence<lanes_of<V>>{};
#pragma GCC unroll 16
    for (unsigned i = 0; i < rows; ++i) {
        if (i & b) continue;
        const V x = r[i];
        const V y = r[i + b];
        r[i] = butterfly<b, false>(x, y, columns);
        r[i + b] = butterfly<b, true>(x, y, columns);
    }
}

// Transposes each 8 x 8 block of r[0..7] (rows = 8), or the whole 16 x 16
// matrix r[0..15] (rows = 16, 16 lanes). Its own inverse.
template <unsigned rows, class V>
[[gnu::always_inline]] inline void transpose(V* r) {
    static_assert(rows == 8 || rows == 16);
    static_assert(rows <= lanes_of<V>);
    transpose_stage<1, rows>(r);
    transpose_stage<2, rows>(r);
    transpose_stage<4, rows>(r);
    if constexpr (rows == 16) transpose_stage<8, rows>(r);
}

// Reverses the bytes of every 32-bit word (SHA-256 words are big-endian).
template <class V, std::size_t... j>
[[gnu::always_inline]] inline V byte_swap(const V& x, std::index_sequence<j...>) {
    typedef unsigned char bytes __attribute__((vector_size(sizeof(V))));
    const bytes v = __builtin_bit_cast(bytes, x);
    return __builtin_bit_cast(V, __builtin_shufflevector(v, v, (j ^ 3)...));
}

template <class V>
[[gnu::always_inline]] inline V load(const void* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// The 16 message words of every lane's block: w[t] (t < 16) holds word t of
// each lane.
// Each pass reads lanes_of<V> consecutive words of every block as one row and
// transposes the square they form.
template <class V>
[[gnu::always_inline]] inline void load_message(V* w, const unsigned char* const* blocks) {
    constexpr unsigned n = lanes_of<V>;
    static_assert(n == 8 || n == 16);
    for (unsigned part = 0; part < 16 / n; ++part) {
        V* rows = w + n * part;
        for (unsigned i = 0; i < n; ++i)
            rows[i] = byte_swap(load<V>(blocks[i] + 4 * n * part), std::make_index_sequence<sizeof(V)>{});
        transpose<n>(rows);
    }
}

// Row i of the state matrix: the eight words of states[i + 8 q] for each
// group q of eight lanes in V, side by side. After an 8 x 8 block transpose, row t
// holds word t of every lane, lanes in order.
template <class V>
[[gnu::always_inline]] inline V load_state_row(std::uint32_t* const* states, unsigned i) {
    if constexpr (lanes_of<V> == 8) {
        return load<V>(states[i]);
    } else {
        static_assert(lanes_of<V> == 16);
        const v8u lo = load<v8u>(states[i]);
        const v8u hi = load<v8u>(states[i + 8]);
        return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    }
}

template <class V>
[[gnu::always_inline]] inline void store_state_row(std::uint32_t* const* states, unsigned i, const V& row) {
    if constexpr (lanes_of<V> == 8) {
        std::memcpy(states[i], &row, sizeof row);
    } else {
        static_assert(lanes_of<V> == 16);
        const v8u lo = __builtin_shufflevector(row, row, 0, 1, 2, 3, 4, 5, 6, 7);
        const v8u hi = __builtin_shufflevector(row, row, 8, 9, 10, 11, 12, 13, 14, 15);
        std::memcpy(states[i], &lo, sizeof lo);
        std::memcpy(states[i + 8], &hi, sizeof hi);
    }
}

template <class V>
[[gnu::always_inline]] inline void load_states(V (&s)[8], std::uint32_t* const* states) {
    for (unsigned i = 0; i < 8; ++i) s[i] = load_state_row<V>(states, i);
    transpose<8>(s);
}

template <class V>
[[gnu::always_inline]] inline void store_states(V (&s)[8], std::uint32_t* const* states) {
    transpose<8>(s);
    for (unsigned i = 0; i < 8; ++i) store_state_row(states, i, s[i]);
}

// ---------------------------------------------------------------------------
// Kernel bodies
// ---------------------------------------------------------------------------

// The kernel contract (sha256_kernel::transform) on a native lane vector.
template <class V>
[[gnu::always_inline]] inline void transform(std::uint32_t* const* states, const unsigned char* const* blocks) {
    V w[64];
    V s[8];
    load_message(w, blocks);
    load_states(s, states);
    compress<schedule_mode::in_rounds>(s, w);
    store_states(s, states);
}

// The kernel contract on twin<V>: lanes [0, n) in the low halves and
// [n, 2n) in the high halves, loaded and stored as two native passes.
template <class V>
[[gnu::always_inline]] inline void transform_twin(std::uint32_t* const* states, const unsigned char* const* blocks) {
    constexpr unsigned n = lanes_of<V>;
    V w_lo[16], w_hi[16], s_lo[8], s_hi[8];
    load_message(w_lo, blocks);
    load_message(w_hi, blocks + n);
    load_states(s_lo, states);
    load_states(s_hi, states + n);
    twin<V> w[64], s[8];
    for (int i = 0; i < 16; ++i) w[i] = {w_lo[i], w_hi[i]};
    for (int i = 0; i < 8; ++i) s[i] = {s_lo[i], s_hi[i]};
    compress<schedule_mode::up_front>(s, w);
    for (int i = 0; i < 8; ++i) {
        s_lo[i] = s[i].lo;
        s_hi[i] = s[i].hi;
    }
    store_states(s_lo, states);
    store_states(s_hi, states + n);
}

}  // namespace sha256_lanes
}  // namespace
}  // namespace bmm::crypto
