// scrypt ROMix, portable C++, one lane: the reference every other kernel is
// checked against, and the fallback on CPUs without AVX2.
//
// Blocks are kept as native 32-bit words: scrypt reads its bytes as
// little-endian words, and the conversion happens once, in scrypt_pbkdf2.

#include "salsa8.hpp"
#include "scrypt_kernels.hpp"

#include <cstring>

namespace bmm::crypto::scrypt_scalar {
namespace {

using scrypt_params::block_words;
using scrypt_params::n;

inline void salsa8_xor(std::uint32_t* b, const std::uint32_t* c) noexcept { salsa8_xor_words(b, c); }

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
