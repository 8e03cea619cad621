// The AVX-512 SHA-256 kernel's own source, built a second time with AVX2 flags
// only (tests/CMakeLists.txt renames its namespace to sha256_avx512_on_avx2),
// against the scalar kernel. Test machines may lack AVX-512, so sha256_test
// skips the real kernel; this runs every line of sha256_avx512.cpp, including
// the 16-lane load and transpose paths no AVX2 kernel uses, wherever AVX2
// exists. GCC lowers its 64-byte vectors to AVX2 pieces; what stays unchecked
// is GCC's AVX-512 code generation, which the dispatcher's self-test checks on
// an AVX-512 machine before selecting the kernel.

#include "bmm/crypto/sha256.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace bmm::crypto {
namespace sha256_avx512_on_avx2 {
void transform_16way(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
}  // namespace sha256_avx512_on_avx2

namespace {

const sha256_kernel k_on_avx2{"avx512-16way-on-avx2", "avx512", 16, &sha256_avx512_on_avx2::transform_16way,
                              +[](const cpu_features& f) noexcept { return f.avx2; }};

class sha256_avx512_source : public ::testing::Test {
protected:
    void SetUp() override {
        if (!detect_cpu_features().avx2)
            GTEST_SKIP() << "the AVX2 build of the AVX-512 kernel needs AVX2 (this CPU has: "
                         << detect_cpu_features().describe() << ")";
    }
};

TEST_F(sha256_avx512_source, passes_self_test_when_built_for_avx2) { EXPECT_TRUE(sha256_self_test(k_on_avx2)); }

TEST_F(sha256_avx512_source, every_length_0_to_1024_matches_scalar) {
    std::mt19937_64 rng(4);
    std::vector<unsigned char> data(1024 + 64);
    for (auto& b : data) b = static_cast<unsigned char>(rng());
    std::vector<std::span<const unsigned char>> msgs;
    for (std::size_t len = 0; len <= 1024; ++len) msgs.emplace_back(data.data() + len % 59, len);
    std::vector<digest32> out(msgs.size());
    sha256_batch(sha256_selection{&k_on_avx2, &k_on_avx2}).sha256d(msgs, out.data());
    for (std::size_t len = 0; len <= 1024; ++len) ASSERT_EQ(out[len], sha256d_once(msgs[len])) << "length " << len;
}

}  // namespace
}  // namespace bmm::crypto
