// SHA-256 compression, AVX2 multi-buffer: 8 independent blocks per call in
// the eight 32-bit lanes of YMM registers, or 16 as two 8-lane streams whose
// instructions interleave. The rounds are the shared lane template
// (sha256_lanes.hpp); this translation unit alone is built with -mavx2.

#include "sha256_kernels.hpp"
#include "sha256_lanes.hpp"

namespace bmm::crypto::sha256_avx2 {

void transform_8way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept {
    sha256_lanes::transform<sha256_lanes::v8u>(states, blocks);
}

void transform_16way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept {
    sha256_lanes::transform_twin<sha256_lanes::v8u>(states, blocks);
}

}  // namespace bmm::crypto::sha256_avx2
