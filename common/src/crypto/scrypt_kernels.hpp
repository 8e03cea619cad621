#pragma once
// Private: what the scrypt kernel translation units share. Each namespace
// names algorithm and ISA, each function its lane count, so a call site says
// what it runs. Only scrypt_kernels.cpp builds the table from these.
//
// Litecoin's scrypt is scrypt(P = header, S = header, N = 1024, r = 1, p = 1,
// dkLen = 32): PBKDF2-HMAC-SHA256 stretches the header to one 128-byte block
// B, ROMix mixes B through a 128 KiB table, and PBKDF2 again turns the result
// into 32 bytes. ROMix's 4096 Salsa20/8 cores are nearly all the work; the
// PBKDF2 steps cost 17 SHA-256 compressions. scrypt_pbkdf2 does them for one
// lane in plain C++ (the scalar kernel); the SIMD kernels run the same steps
// on all their lanes at once (scrypt_lanes.hpp).

#include "bmm/crypto/scrypt.hpp"

#include <cstdint>

namespace bmm::crypto {

namespace scrypt_params {
inline constexpr unsigned n = 1024;          // ROMix table length
inline constexpr unsigned block_words = 32;  // one BlockMix block (r = 1): 128 bytes
static_assert(k_scrypt_lane_scratch >= n * block_words * 4 + 2 * block_words * 4,
              "a lane's scratch holds its table and its working block");
}  // namespace scrypt_params

namespace scrypt_pbkdf2 {

// HMAC-SHA256 keyed with one header, after the key's pads are compressed:
// the SHA-256 states after the inner (0x36) and outer (0x5c) pad blocks.
struct hmac_key {
    std::uint32_t inner[8];
    std::uint32_t outer[8];
};

// B = PBKDF2-HMAC-SHA256(header, header, 1, 128) as 32 little-endian words
// (scrypt reads B that way), and the header's HMAC key for `last`.
void first(const unsigned char* header, std::uint32_t* b, hmac_key& key) noexcept;

// out = PBKDF2-HMAC-SHA256(header, B, 1, 32), B given as 32 little-endian
// words and the header by the key `first` returned for it.
void last(const hmac_key& key, const std::uint32_t* b, unsigned char* out) noexcept;

}  // namespace scrypt_pbkdf2

namespace scrypt_scalar {
void hash_1way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept;
}  // namespace scrypt_scalar

namespace scrypt_avx2 {
void hash_8way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept;
void hash_2x8way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept;  // 16 lanes
void hash_16way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept;
}  // namespace scrypt_avx2

namespace scrypt_avx512 {
void hash_16way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept;
}  // namespace scrypt_avx512

}  // namespace bmm::crypto
