// The table of SHA-256 kernels compiled into this binary, in order of
// preference within each width class: sha256_select() takes the first
// supported, self-tested kernel of the widest useful class.

#include "sha256_kernels.hpp"

namespace bmm::crypto {
namespace {

bool always(const cpu_features&) noexcept { return true; }

constexpr sha256_kernel k_kernels[] = {
    {"scalar", "scalar", 1, &sha256_scalar::transform, &always},
};

}  // namespace

std::span<const sha256_kernel> sha256_all_kernels() noexcept { return k_kernels; }

}  // namespace bmm::crypto
