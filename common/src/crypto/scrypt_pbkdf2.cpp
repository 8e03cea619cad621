// scrypt's two PBKDF2-HMAC-SHA256 steps (one iteration each), specialised to
// an 80-byte header as both password and first salt. Shared by every scrypt
// kernel; plain C++ on the scalar SHA-256 compression.
//
// The header is longer than SHA-256's 64-byte block, so HMAC's key is
// SHA256(header). Its pad states are compressed once per header and kept in
// an hmac_key for the final step; the header's first 64 bytes, common to the
// four blocks of the first step, are compressed once too. 17 compressions a
// hash in all.

#include "scrypt_kernels.hpp"

#include "sha256_kernels.hpp"

#include <cstring>

namespace bmm::crypto::scrypt_pbkdf2 {
namespace {

void store_be32(unsigned char* p, std::uint32_t v) noexcept {
    p[0] = static_cast<unsigned char>(v >> 24);
    p[1] = static_cast<unsigned char>(v >> 16);
    p[2] = static_cast<unsigned char>(v >> 8);
    p[3] = static_cast<unsigned char>(v);
}

void store_le32(unsigned char* p, std::uint32_t v) noexcept {
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
    p[2] = static_cast<unsigned char>(v >> 16);
    p[3] = static_cast<unsigned char>(v >> 24);
}

std::uint32_t load_le32(const unsigned char* p) noexcept {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

// Writes SHA-256 padding for a message of `total` bytes whose last `used`
// bytes already sit at the start of `block` (used < 56).
void pad_block(unsigned char* block, std::size_t used, std::size_t total) noexcept {
    std::memset(block + used, 0, 64 - used);
    block[used] = 0x80;
    const std::uint64_t bits = static_cast<std::uint64_t>(total) * 8;
    store_be32(block + 56, static_cast<std::uint32_t>(bits >> 32));
    store_be32(block + 60, static_cast<std::uint32_t>(bits));
}

// The outer hash of HMAC: SHA256(opad block || inner digest), from the outer
// pad's state. The result stays as eight SHA-256 state words.
void outer_hash(const hmac_key& key, const std::uint32_t* inner_state, std::uint32_t* state) noexcept {
    unsigned char block[64];
    for (int i = 0; i < 8; ++i) store_be32(block + 4 * i, inner_state[i]);
    pad_block(block, 32, 64 + 32);
    std::memcpy(state, key.outer, 32);
    sha256_scalar::transform_one(state, block);
}

}  // namespace

void first(const unsigned char* header, std::uint32_t* b, hmac_key& key) noexcept {
    // key = SHA256(header), then the pad states.
    std::uint32_t hashed[8];
    std::memcpy(hashed, k_sha256_init, sizeof hashed);
    unsigned char block[64];
    sha256_scalar::transform_one(hashed, header);
    std::memcpy(block, header + 64, 16);
    pad_block(block, 16, 80);
    sha256_scalar::transform_one(hashed, block);

    unsigned char ipad[64], opad[64];
    for (int i = 0; i < 8; ++i) store_be32(ipad + 4 * i, hashed[i]);
    std::memset(ipad + 32, 0, 32);
    for (int i = 0; i < 64; ++i) {
        opad[i] = static_cast<unsigned char>(ipad[i] ^ 0x5c);
        ipad[i] = static_cast<unsigned char>(ipad[i] ^ 0x36);
    }
    std::memcpy(key.inner, k_sha256_init, sizeof key.inner);
    std::memcpy(key.outer, k_sha256_init, sizeof key.outer);
    sha256_scalar::transform_one(key.inner, ipad);
    sha256_scalar::transform_one(key.outer, opad);

    // T_i = HMAC(key, header || INT(i)) for i = 1..4: the inner message is
    // the 80-byte header and a 4-byte counter after the 64-byte pad block.
    std::uint32_t after_first64[8];
    std::memcpy(after_first64, key.inner, sizeof after_first64);
    sha256_scalar::transform_one(after_first64, header);
    for (std::uint32_t i = 1; i <= 4; ++i) {
        std::memcpy(block, header + 64, 16);
        store_be32(block + 16, i);
        pad_block(block, 20, 64 + 84);
        std::uint32_t inner[8], outer[8];
        std::memcpy(inner, after_first64, sizeof inner);
        sha256_scalar::transform_one(inner, block);
        outer_hash(key, inner, outer);
        // T_i's bytes are the state words big-endian; scrypt reads them as
        // little-endian words.
        unsigned char t[32];
        for (int w = 0; w < 8; ++w) store_be32(t + 4 * w, outer[w]);
        for (int w = 0; w < 8; ++w) b[8 * (i - 1) + w] = load_le32(t + 4 * w);
    }
}

void last(const hmac_key& key, const std::uint32_t* b, unsigned char* out) noexcept {
    // HMAC(key, B || INT(1)): B is two whole blocks, the counter a third.
    unsigned char block[64];
    std::uint32_t inner[8], outer[8];
    std::memcpy(inner, key.inner, sizeof inner);
    for (int half = 0; half < 2; ++half) {
        for (int w = 0; w < 16; ++w) store_le32(block + 4 * w, b[16 * half + w]);
        sha256_scalar::transform_one(inner, block);
    }
    store_be32(block, 1);
    pad_block(block, 4, 64 + 132);
    sha256_scalar::transform_one(inner, block);
    outer_hash(key, inner, outer);
    for (int w = 0; w < 8; ++w) store_be32(out + 4 * w, outer[w]);
}

}  // namespace bmm::crypto::scrypt_pbkdf2
