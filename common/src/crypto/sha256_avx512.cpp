// SHA-256 compression, AVX-512 multi-buffer: 16 independent blocks per call
// in the sixteen 32-bit lanes of ZMM registers. The rounds are the shared lane
// template (sha256_lanes.hpp), which the AVX2 kernels run on every machine;
// what only this kernel uses is the 16-lane width of the load and transpose
// helpers. This translation unit alone is built with AVX-512 flags, and the
// dispatcher self-tests the kernel against the scalar one before using it.

#include "sha256_kernels.hpp"
#include "sha256_lanes.hpp"

namespace bmm::crypto::sha256_avx512 {
namespace {
using v16u = std::uint32_t __attribute__((vector_size(64)));
}  // namespace

void transform_16way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept {
    sha256_lanes::transform<v16u>(states, blocks);
}

}  // namespace bmm::crypto::sha256_avx512
