// Every SHA-256 kernel against OpenSSL: every message length 0..1024, every
// batch size 1..64, misaligned inputs, and the forcing/dispatch rules.

#include "bmm/crypto/sha256.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace bmm::crypto {
namespace {

digest32 openssl_sha256(const unsigned char* p, std::size_t n) {
    digest32 d;
    SHA256(p, n, d.data());
    return d;
}

digest32 openssl_sha256d(const unsigned char* p, std::size_t n) {
    const digest32 first = openssl_sha256(p, n);
    return openssl_sha256(first.data(), first.size());
}

std::vector<unsigned char> random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::vector<unsigned char> v(n);
    for (auto& b : v) b = static_cast<unsigned char>(rng());
    return v;
}

class sha256_kernel_test : public ::testing::TestWithParam<const sha256_kernel*> {
protected:
    void SetUp() override {
        if (!GetParam()->supported(detect_cpu_features()))
            GTEST_SKIP() << "kernel " << GetParam()->name
                         << " needs instructions this CPU lacks (it has: " << detect_cpu_features().describe() << ")";
    }
    sha256_selection alone() const { return {GetParam(), GetParam()}; }
};

TEST_P(sha256_kernel_test, passes_self_test) { EXPECT_TRUE(sha256_self_test(*GetParam())); }

TEST_P(sha256_kernel_test, every_length_0_to_1024_matches_openssl) {
    std::mt19937_64 rng(1);
    const auto data = random_bytes(rng, 1024 + 64);
    const sha256_batch batch(alone());
    // All 1025 lengths in one batch, each at a different misalignment.
    std::vector<std::span<const unsigned char>> msgs;
    for (std::size_t len = 0; len <= 1024; ++len) msgs.emplace_back(data.data() + len % 61, len);
    std::vector<digest32> single(msgs.size()), dbl(msgs.size());
    batch.sha256(msgs, single.data());
    batch.sha256d(msgs, dbl.data());
    for (std::size_t len = 0; len <= 1024; ++len) {
        ASSERT_EQ(single[len], openssl_sha256(msgs[len].data(), len)) << "length " << len;
        ASSERT_EQ(dbl[len], openssl_sha256d(msgs[len].data(), len)) << "length " << len;
    }
}

TEST_P(sha256_kernel_test, every_batch_size_1_to_64_matches_openssl) {
    std::mt19937_64 rng(2);
    const sha256_batch batch(alone());
    for (std::size_t n = 1; n <= 64; ++n) {
        std::vector<std::vector<unsigned char>> owned;
        std::vector<std::span<const unsigned char>> msgs;
        for (std::size_t i = 0; i < n; ++i) owned.push_back(random_bytes(rng, rng() % 400));
        for (auto& o : owned) msgs.emplace_back(o);
        std::vector<digest32> out(n);
        batch.sha256d(msgs, out.data());
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_EQ(out[i], openssl_sha256d(owned[i].data(), owned[i].size())) << "batch " << n << " item " << i;

        // Merkle-node shape: 64-byte inputs, packed, at an odd offset.
        const auto nodes = random_bytes(rng, 64 * n + 1);
        std::vector<digest32> d64(n);
        batch.sha256d64(nodes.data() + 1, d64.data(), n);
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_EQ(d64[i], openssl_sha256d(nodes.data() + 1 + 64 * i, 64)) << "batch " << n << " node " << i;
    }
}

TEST_P(sha256_kernel_test, tail_runs_on_narrow_kernel_with_same_result) {
    // The wide kernel for the bulk and the scalar kernel for the tail.
    const sha256_kernel* scalar = &sha256_all_kernels()[0];
    const sha256_batch mixed(sha256_selection{GetParam(), scalar});
    std::mt19937_64 rng(3);
    for (std::size_t n : {1u, 3u, 7u, 9u, 17u, 33u, 100u}) {
        std::vector<std::vector<unsigned char>> owned;
        std::vector<std::span<const unsigned char>> msgs;
        for (std::size_t i = 0; i < n; ++i) owned.push_back(random_bytes(rng, rng() % 700));
        for (auto& o : owned) msgs.emplace_back(o);
        std::vector<digest32> out(n);
        mixed.sha256d(msgs, out.data());
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], openssl_sha256d(owned[i].data(), owned[i].size()));
    }
}

TEST_P(sha256_kernel_test, same_length_batches_match_openssl) {
    // Batches whose messages share one length take the grouped fast path;
    // lengths around the one- and two-tail-block boundaries, with the wide
    // kernel alone and with a scalar tail.
    const sha256_kernel* scalar = &sha256_all_kernels()[0];
    std::mt19937_64 rng(4);
    const auto data = random_bytes(rng, 64 * 400 + 64);
    for (const auto& sel : {alone(), sha256_selection{GetParam(), scalar}}) {
        const sha256_batch batch(sel);
        for (std::size_t len : {0u, 1u, 55u, 56u, 63u, 64u, 80u, 119u, 120u, 185u, 300u}) {
            for (std::size_t n = 1; n <= 35; ++n) {
                std::vector<std::span<const unsigned char>> msgs;
                for (std::size_t i = 0; i < n; ++i) msgs.emplace_back(data.data() + 3 + 7 * i, len);
                std::vector<digest32> one(n), two(n);
                batch.sha256(msgs, one.data());
                batch.sha256d(msgs, two.data());
                for (std::size_t i = 0; i < n; ++i) {
                    ASSERT_EQ(one[i], openssl_sha256(msgs[i].data(), len)) << "len " << len << " n " << n << " i " << i;
                    ASSERT_EQ(two[i], openssl_sha256d(msgs[i].data(), len)) << "len " << len << " n " << n;
                }
            }
        }
    }
}

std::vector<const sha256_kernel*> all_kernels() {
    std::vector<const sha256_kernel*> v;
    for (const auto& k : sha256_all_kernels()) v.push_back(&k);
    return v;
}

INSTANTIATE_TEST_SUITE_P(all, sha256_kernel_test, ::testing::ValuesIn(all_kernels()), [](const auto& param_info) {
    std::string n(param_info.param->name);
    for (auto& c : n)
        if (c == '-') c = '_';
    return n;
});

TEST(sha256, one_shot_helpers_match_openssl) {
    const std::string abc = "abc";
    const auto* p = reinterpret_cast<const unsigned char*>(abc.data());
    EXPECT_EQ(sha256_once({p, abc.size()}), openssl_sha256(p, abc.size()));
    EXPECT_EQ(sha256d_once({p, abc.size()}), openssl_sha256d(p, abc.size()));
}

TEST(sha256, scalar_kernel_comes_first_and_kernels_have_unique_names) {
    const auto ks = sha256_all_kernels();
    ASSERT_FALSE(ks.empty());
    EXPECT_EQ(ks[0].name, "scalar");
    for (std::size_t i = 0; i < ks.size(); ++i)
        for (std::size_t j = i + 1; j < ks.size(); ++j) EXPECT_NE(ks[i].name, ks[j].name);
}

TEST(sha256_select, default_picks_a_supported_kernel) {
    auto sel = sha256_select("auto");
    ASSERT_TRUE(sel) << sel.error_message();
    ASSERT_NE(sel->wide, nullptr);
    ASSERT_NE(sel->narrow, nullptr);
    EXPECT_TRUE(sel->wide->supported(detect_cpu_features()));
    EXPECT_TRUE(sel->narrow->supported(detect_cpu_features()));
    EXPECT_FALSE(sel->describe().empty());
}

TEST(sha256_select, forcing_a_family_uses_only_that_family) {
    for (const auto& k : sha256_all_kernels()) {
        auto sel = sha256_select(k.family);
        if (!k.supported(detect_cpu_features())) {
            ASSERT_FALSE(sel);
            EXPECT_NE(sel.error_message().find("cannot run here"), std::string::npos) << sel.error_message();
            continue;
        }
        ASSERT_TRUE(sel) << sel.error_message();
        EXPECT_EQ(sel->wide->family, k.family);
        EXPECT_EQ(sel->narrow->family, k.family);
    }
}

TEST(sha256_select, unknown_family_is_a_clear_error) {
    auto sel = sha256_select("sse9");
    ASSERT_FALSE(sel);
    EXPECT_NE(sel.error_message().find("unknown sha256 kernel family 'sse9'"), std::string::npos);
}

TEST(sha256_select, environment_variable_forces_the_family) {
    ::setenv("BMM_SHA256_KERNEL", "scalar", 1);
    auto sel = sha256_select();
    ::unsetenv("BMM_SHA256_KERNEL");
    ASSERT_TRUE(sel) << sel.error_message();
    EXPECT_EQ(sel->wide->name, "scalar");
}

}  // namespace
}  // namespace bmm::crypto
