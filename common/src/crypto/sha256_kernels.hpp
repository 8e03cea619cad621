#pragma once
// Private: the entry points of the SHA-256 kernel translation units. Each
// namespace names algorithm and ISA, each function its lane count, so a call
// site says what it runs. Only sha256_kernels.cpp builds the table from these.

#include "bmm/crypto/sha256.hpp"

#include <cstdint>

namespace bmm::crypto {

namespace sha256_scalar {
void transform_one(std::uint32_t* state, const unsigned char* block) noexcept;
void transform(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;  // 1 lane
}  // namespace sha256_scalar

namespace sha256_shani {
void transform_1way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
void transform_2way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
}  // namespace sha256_shani

namespace sha256_avx2 {
void transform_8way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
void transform_16way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
}  // namespace sha256_avx2

namespace sha256_avx512 {
void transform_16way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
}  // namespace sha256_avx512

}  // namespace bmm::crypto
