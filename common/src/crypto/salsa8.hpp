#pragma once
// Private: Salsa20/8 (scrypt's core, RFC 7914 section 3), written once over a
// word type W: std::uint32_t in the portable kernel (scrypt_scalar.cpp), a
// GCC vector of 32-bit lanes in the multi-lane kernels (scrypt_lanes.hpp).
// Everything here has internal linkage, so each translation unit, whatever
// its ISA flags, gets its own instance.

namespace bmm::crypto {
namespace {

// b = Salsa20/8(b ^ c), 16 words each. The state stays in locals so the
// compiler keeps as much of it in registers as the ISA allows.
template <class W>
[[gnu::always_inline]] inline void salsa8_xor_words(W* b, const W* c) noexcept {
    const auto rotl = [](const W& x, int k) -> W { return (x << k) | (x >> (32 - k)); };
    const W in0 = b[0] ^ c[0], in1 = b[1] ^ c[1], in2 = b[2] ^ c[2], in3 = b[3] ^ c[3];
    const W in4 = b[4] ^ c[4], in5 = b[5] ^ c[5], in6 = b[6] ^ c[6], in7 = b[7] ^ c[7];
    const W in8 = b[8] ^ c[8], in9 = b[9] ^ c[9], in10 = b[10] ^ c[10], in11 = b[11] ^ c[11];
    const W in12 = b[12] ^ c[12], in13 = b[13] ^ c[13], in14 = b[14] ^ c[14], in15 = b[15] ^ c[15];
    W x0 = in0, x1 = in1, x2 = in2, x3 = in3, x4 = in4, x5 = in5, x6 = in6, x7 = in7;
    W x8 = in8, x9 = in9, x10 = in10, x11 = in11, x12 = in12, x13 = in13, x14 = in14, x15 = in15;
#pragma GCC unroll 4
    for (int round = 0; round < 8; round += 2) {
        // Columns.
        x4 ^= rotl(x0 + x12, 7);
        x9 ^= rotl(x5 + x1, 7);
        x14 ^= rotl(x10 + x6, 7);
        x3 ^= rotl(x15 + x11, 7);
        x8 ^= rotl(x4 + x0, 9);
        x13 ^= rotl(x9 + x5, 9);
        x2 ^= rotl(x14 + x10, 9);
        x7 ^= rotl(x3 + x15, 9);
        x12 ^= rotl(x8 + x4, 13);
        x1 ^= rotl(x13 + x9, 13);
        x6 ^= rotl(x2 + x14, 13);
        x11 ^= rotl(x7 + x3, 13);
        x0 ^= rotl(x12 + x8, 18);
        x5 ^= rotl(x1 + x13, 18);
        x10 ^= rotl(x6 + x2, 18);
        x15 ^= rotl(x11 + x7, 18);
        // Rows.
        x1 ^= rotl(x0 + x3, 7);
        x6 ^= rotl(x5 + x4, 7);
        x11 ^= rotl(x10 + x9, 7);
        x12 ^= rotl(x15 + x14, 7);
        x2 ^= rotl(x1 + x0, 9);
        x7 ^= rotl(x6 + x5, 9);
        x8 ^= rotl(x11 + x10, 9);
        x13 ^= rotl(x12 + x15, 9);
        x3 ^= rotl(x2 + x1, 13);
        x4 ^= rotl(x7 + x6, 13);
        x9 ^= rotl(x8 + x11, 13);
        x14 ^= rotl(x13 + x12, 13);
        x0 ^= rotl(x3 + x2, 18);
        x5 ^= rotl(x4 + x7, 18);
        x10 ^= rotl(x9 + x8, 18);
        x15 ^= rotl(x14 + x13, 18);
    }
    b[0] = in0 + x0;
    b[1] = in1 + x1;
    b[2] = in2 + x2;
    b[3] = in3 + x3;
    b[4] = in4 + x4;
    b[5] = in5 + x5;
    b[6] = in6 + x6;
    b[7] = in7 + x7;
    b[8] = in8 + x8;
    b[9] = in9 + x9;
    b[10] = in10 + x10;
    b[11] = in11 + x11;
    b[12] = in12 + x12;
    b[13] = in13 + x13;
    b[14] = in14 + x14;
    b[15] = in15 + x15;
}

}  // namespace
}  // namespace bmm::crypto
