// scrypt on AVX2 (scrypt_lanes.hpp): eight headers side by side, one 256-bit
// vector per word position; two such groups taking turns, so that each
// group's reads of V are prefetched during the other's work; and the
// sixteen-lane shape of the AVX-512 kernel.

// The sixteen-lane build passes 512-bit vectors between helpers. Those have
// internal linkage, so GCC's note that such arguments change the ABI without
// AVX-512 concerns no caller outside this file.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "scrypt_lanes.hpp"

#include <immintrin.h>

namespace bmm::crypto::scrypt_avx2 {
namespace {

using v8u = std::uint32_t __attribute__((vector_size(32)));
using v16u = std::uint32_t __attribute__((vector_size(64)));

// Eight lanes, one 256-bit register per word.
struct isa8 {
    using vec = v8u;
    static constexpr unsigned lanes = 8;

    // Two quads into one vector by a 128-bit load, a 128-bit broadcast load
    // and a blend. On Zen 3 none of these uses the shuffle pipes that
    // Salsa20/8's shifts need (vinserti128 would; measured). The loads are
    // inline assembly because GCC otherwise folds the three back into
    // vinserti128.
    [[gnu::always_inline]] static inline vec load_quads(const std::uint32_t* const* p) noexcept {
        __m256i lo, hi;
        __asm__("vmovdqa %1, %x0" : "=x"(lo) : "m"(*reinterpret_cast<const __m128i*>(p[0])));
        __asm__("vbroadcasti128 %1, %0" : "=x"(hi) : "m"(*reinterpret_cast<const __m128i*>(p[1])));
        return reinterpret_cast<vec>(_mm256_blend_epi32(lo, hi, 0xf0));
    }
};

// Sixteen lanes as the AVX-512 kernel has them, each 512-bit vector split by
// GCC into two 256-bit halves. Slower than two 8-lane groups (the halves
// spill, and 512-bit shuffles are emulated), but it runs the AVX-512
// kernel's template code, generic quad loads included, on AVX2 machines.
struct isa16 {
    using vec = v16u;
    static constexpr unsigned lanes = 16;
};

}  // namespace

void hash_8way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept {
    scrypt_lanes<isa8>::hash(headers, out, scratch);
}

void hash_2x8way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept {
    scrypt_lanes<isa8, 2>::hash(headers, out, scratch);
}

void hash_16way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept {
    scrypt_lanes<isa16>::hash(headers, out, scratch);
}

}  // namespace bmm::crypto::scrypt_avx2
