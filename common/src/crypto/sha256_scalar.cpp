// SHA-256 compression, portable C++: the reference every other kernel is
// checked against, and the fallback on CPUs without SHA-NI or AVX2.

#include "sha256_compress.hpp"
#include "sha256_kernels.hpp"

#include <cstring>

namespace bmm::crypto::sha256_scalar {
namespace {

inline std::uint32_t load_be32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

void transform_one(std::uint32_t* s, const unsigned char* block) noexcept {
    std::uint32_t m[16];
    for (int i = 0; i < 16; ++i) {
        m[i] = load_be32(block + 4 * i);
    }
    sha256_compress_words(s, m);
}

void transform(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept {
    transform_one(states[0], blocks[0]);
}

}  // namespace bmm::crypto::sha256_scalar
