// The table of SHA-256 kernels compiled into this binary, in order of
// preference within each width class: sha256_select() takes the first
// supported, self-tested kernel of the widest useful class.

#include "sha256_kernels.hpp"

namespace bmm::crypto {
namespace {

bool always(const cpu_features&) noexcept { return true; }
bool has_shani(const cpu_features& f) noexcept { return f.sha && f.sse41 && f.ssse3; }
bool has_avx2(const cpu_features& f) noexcept { return f.avx2; }
bool has_avx512(const cpu_features& f) noexcept { return f.avx512; }

constexpr sha256_kernel k_kernels[] = {
    {"scalar", "scalar", 1, &sha256_scalar::transform, &always},
    {"shani", "shani", 1, &sha256_shani::transform_1way, &has_shani},
    {"shani-2way", "shani", 2, &sha256_shani::transform_2way, &has_shani},
    {"avx2-8way", "avx2", 8, &sha256_avx2::transform_8way, &has_avx2},
    {"avx2-16way", "avx2", 16, &sha256_avx2::transform_16way, &has_avx2},
    {"avx512-16way", "avx512", 16, &sha256_avx512::transform_16way, &has_avx512},
};

}  // namespace

std::span<const sha256_kernel> sha256_all_kernels() noexcept { return k_kernels; }

}  // namespace bmm::crypto
