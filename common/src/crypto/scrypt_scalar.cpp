// scrypt ROMix, portable C++, one lane: the reference every other kernel is
// checked against, and the fallback on CPUs without AVX2.
//
// Blocks are kept as native 32-bit words: scrypt reads its bytes as
// little-endian words, and the conversion happens once, in scrypt_pbkdf2.

#include "scrypt_kernels.hpp"

#include <bit>
#include <cstring>

namespace bmm::crypto::scrypt_scalar {
namespace {

using scrypt_params::block_words;
using scrypt_params::n;

// b = Salsa20/8(b ^ c), 16 words each. The state stays in locals so the
// compiler can keep it in registers through the eight rounds.
inline void salsa8_xor(std::uint32_t* b, const std::uint32_t* c) noexcept {
    const std::uint32_t in0 = b[0] ^ c[0], in1 = b[1] ^ c[1], in2 = b[2] ^ c[2], in3 = b[3] ^ c[3];
    const std::uint32_t in4 = b[4] ^ c[4], in5 = b[5] ^ c[5], in6 = b[6] ^ c[6], in7 = b[7] ^ c[7];
    const std::uint32_t in8 = b[8] ^ c[8], in9 = b[9] ^ c[9], in10 = b[10] ^ c[10], in11 = b[11] ^ c[11];
    const std::uint32_t in12 = b[12] ^ c[12], in13 = b[13] ^ c[13], in14 = b[14] ^ c[14], in15 = b[15] ^ c[15];
    std::uint32_t x0 = in0, x1 = in1, x2 = in2, x3 = in3, x4 = in4, x5 = in5, x6 = in6, x7 = in7;
    std::uint32_t x8 = in8, x9 = in9, x10 = in10, x11 = in11, x12 = in12, x13 = in13, x14 = in14, x15 = in15;
    for (int round = 0; round < 8; round += 2) {
        // Columns.
        x4 ^= std::rotl(x0 + x12, 7);
        x9 ^= std::rotl(x5 + x1, 7);
        x14 ^= std::rotl(x10 + x6, 7);
        x3 ^= std::rotl(x15 + x11, 7);
        x8 ^= std::rotl(x4 + x0, 9);
        x13 ^= std::rotl(x9 + x5, 9);
        x2 ^= std::rotl(x14 + x10, 9);
        x7 ^= std::rotl(x3 + x15, 9);
        x12 ^= std::rotl(x8 + x4, 13);
        x1 ^= std::rotl(x13 + x9, 13);
        x6 ^= std::rotl(x2 + x14, 13);
        x11 ^= std::rotl(x7 + x3, 13);
        x0 ^= std::rotl(x12 + x8, 18);
        x5 ^= std::rotl(x1 + x13, 18);
        x10 ^= std::rotl(x6 + x2, 18);
        x15 ^= std::rotl(x11 + x7, 18);
        // Rows.
        x1 ^= std::rotl(x0 + x3, 7);
        x6 ^= std::rotl(x5 + x4, 7);
        x11 ^= std::rotl(x10 + x9, 7);
        x12 ^= std::rotl(x15 + x14, 7);
        x2 ^= std::rotl(x1 + x0, 9);
        x7 ^= std::rotl(x6 + x5, 9);
        x8 ^= std::rotl(x11 + x10, 9);
        x13 ^= std::rotl(x12 + x15, 9);
        x3 ^= std::rotl(x2 + x1, 13);
        x4 ^= std::rotl(x7 + x6, 13);
        x9 ^= std::rotl(x8 + x11, 13);
        x14 ^= std::rotl(x13 + x12, 13);
        x0 ^= std::rotl(x3 + x2, 18);
        x5 ^= std::rotl(x4 + x7, 18);
        x10 ^= std::rotl(x9 + x8, 18);
        x15 ^= std::rotl(x14 + x13, 18);
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

// BlockMix with r = 1: (B0, B1) := (H(B0 ^ B1), H(B1 ^ H(B0 ^ B1))).
inline void block_mix(std::uint32_t* x) noexcept {
    salsa8_xor(x, x + 16);
    salsa8_xor(x + 16, x);
}

}  // namespace

void hash_1way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept {
    auto* v = static_cast<std::uint32_t*>(scratch);
    std::uint32_t* x = v + n * block_words;
    scrypt_pbkdf2::hmac_key key;
    scrypt_pbkdf2::first(headers[0], x, key);
    for (unsigned i = 0; i < n; ++i) {
        std::memcpy(v + i * block_words, x, block_words * 4);
        block_mix(x);
    }
    for (unsigned i = 0; i < n; ++i) {
        // Integerify: the first word of the last 64-byte half, modulo N.
        const std::uint32_t* vj = v + (x[16] & (n - 1)) * block_words;
        for (unsigned w = 0; w < block_words; ++w) x[w] ^= vj[w];
        block_mix(x);
    }
    scrypt_pbkdf2::last(key, x, out[0]);
}

}  // namespace bmm::crypto::scrypt_scalar
