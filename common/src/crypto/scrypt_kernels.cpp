// The table of scrypt kernels compiled into this binary. scrypt_select()
// orders them by measured speed; this table only says what exists.

#include "scrypt_kernels.hpp"

namespace bmm::crypto {
namespace {

bool always(const cpu_features&) noexcept { return true; }
[[maybe_unused]] bool has_avx2(const cpu_features& f) noexcept { return f.avx2; }
[[maybe_unused]] bool has_avx512(const cpu_features& f) noexcept { return f.avx512; }

constexpr scrypt_kernel k_kernels[] = {
    {"scalar", "scalar", 1, &scrypt_scalar::hash_1way, &always},
#if defined(__x86_64__)
    {"avx2-8way", "avx2", 8, &scrypt_avx2::hash_8way, &has_avx2},
    {"avx2-2x8way", "avx2", 16, &scrypt_avx2::hash_2x8way, &has_avx2},
    // The AVX-512 kernel's sixteen-lane template code built for AVX2: never
    // the fastest, here so that every machine with AVX2 tests that code.
    {"avx2-16way", "avx2", 16, &scrypt_avx2::hash_16way, &has_avx2},
    {"avx512-16way", "avx512", 16, &scrypt_avx512::hash_16way, &has_avx512},
#endif
};

}  // namespace

std::span<const scrypt_kernel> scrypt_all_kernels() noexcept { return k_kernels; }

}  // namespace bmm::crypto
