// scrypt on AVX-512: sixteen headers side by side, one 512-bit vector per
// word position (scrypt_lanes.hpp). With 32 vector registers the Salsa20/8
// state stays in registers, and rotations are single instructions (vprold).
// The same template code runs at sixteen lanes in scrypt_avx2.cpp, which is
// how it is tested on machines without AVX-512.

#include "scrypt_lanes.hpp"

namespace bmm::crypto::scrypt_avx512 {
namespace {

struct isa16 {
    using vec = std::uint32_t __attribute__((vector_size(64)));
    static constexpr unsigned lanes = 16;
};

}  // namespace

void hash_16way(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept {
    scrypt_lanes<isa16>::hash(headers, out, scratch);
}

}  // namespace bmm::crypto::scrypt_avx512
