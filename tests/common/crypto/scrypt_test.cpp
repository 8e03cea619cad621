// Every scrypt kernel against OpenSSL's EVP_PBE_scrypt: random headers over
// every batch size up to two full passes of lanes, misaligned inputs, the
// forcing/dispatch rules, and Litecoin's genesis block as a known answer.

#include "bmm/crypto/scrypt.hpp"
#include "bmm/hex.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"

#include "../../support/vectors_dir.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace bmm::crypto {
namespace {

digest32 openssl_scrypt(const unsigned char* header) {
    digest32 d{};
    const int ok = EVP_PBE_scrypt(reinterpret_cast<const char*>(header), 80, header, 80, 1024, 1, 1, 64 * 1024 * 1024,
                                  d.data(), d.size());
    EXPECT_EQ(ok, 1) << "EVP_PBE_scrypt failed";
    return d;
}

std::vector<unsigned char> random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::vector<unsigned char> v(n);
    for (auto& b : v) b = static_cast<unsigned char>(rng());
    return v;
}

class scrypt_kernel_test : public ::testing::TestWithParam<const scrypt_kernel*> {
protected:
    void SetUp() override {
        if (!GetParam()->supported(detect_cpu_features()))
            GTEST_SKIP() << "kernel " << GetParam()->name
                         << " needs instructions this CPU lacks (it has: " << detect_cpu_features().describe() << ")";
    }
    scrypt_selection alone() const { return {GetParam(), GetParam()}; }
};

TEST_P(scrypt_kernel_test, passes_self_test) { EXPECT_TRUE(scrypt_self_test(*GetParam())); }

TEST_P(scrypt_kernel_test, every_batch_size_matches_openssl) {
    // Batches of 1 .. 2 * lanes + 1 random headers, packed at an odd offset so
    // that no header is aligned, through the kernel alone and through the
    // kernel with the scalar kernel for the tail.
    const scrypt_kernel* scalar = &scrypt_all_kernels()[0];
    scrypt_batch alone_batch(alone());
    scrypt_batch mixed_batch(scrypt_selection{GetParam(), scalar});
    std::mt19937_64 rng(GetParam()->lanes);
    const std::size_t max_n = 2 * GetParam()->lanes + 1;
    const auto data = random_bytes(rng, 80 * max_n + 3);
    std::vector<digest32> want(max_n);
    for (std::size_t i = 0; i < max_n; ++i) want[i] = openssl_scrypt(data.data() + 3 + 80 * i);
    for (std::size_t n = 1; n <= max_n; ++n) {
        // Each batch starts at a different header, so lanes see varied inputs.
        const std::size_t first = (n * 5) % (max_n - n + 1);
        std::vector<const unsigned char*> headers;
        for (std::size_t i = 0; i < n; ++i) headers.push_back(data.data() + 3 + 80 * (first + i));
        std::vector<digest32> out(n);
        alone_batch.hash(headers.data(), out.data(), n);
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], want[first + i]) << "batch " << n << " item " << i;
        if (n % 3 == 0 || n == max_n) {
            std::vector<digest32> mixed(n);
            mixed_batch.hash(headers.data(), mixed.data(), n);
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_EQ(mixed[i], want[first + i]) << "mixed batch " << n << " item " << i;
        }
    }
}

TEST_P(scrypt_kernel_test, repeated_header_pointers_and_unaligned_outputs) {
    // One header in every lane, the kernel called directly with outputs at odd
    // addresses: what the front end's idle lanes look like.
    const scrypt_kernel& k = *GetParam();
    std::mt19937_64 rng(7);
    const auto header = random_bytes(rng, 81);
    const digest32 want = openssl_scrypt(header.data() + 1);
    std::vector<const unsigned char*> headers(k.lanes, header.data() + 1);
    std::vector<unsigned char> out_buf(33 * k.lanes + 1);
    std::vector<unsigned char*> out;
    for (unsigned i = 0; i < k.lanes; ++i) out.push_back(out_buf.data() + 1 + 33 * i);
    void* scratch = ::operator new (k.lanes* k_scrypt_lane_scratch, std::align_val_t{64});
    k.hash(headers.data(), out.data(), scratch);
    ::operator delete (scratch, std::align_val_t{64});
    for (unsigned i = 0; i < k.lanes; ++i) EXPECT_EQ(0, std::memcmp(out[i], want.data(), 32)) << "lane " << i;
}

std::vector<const scrypt_kernel*> all_kernels() {
    std::vector<const scrypt_kernel*> v;
    for (const auto& k : scrypt_all_kernels()) v.push_back(&k);
    return v;
}

INSTANTIATE_TEST_SUITE_P(all, scrypt_kernel_test, ::testing::ValuesIn(all_kernels()), [](const auto& param_info) {
    std::string n(param_info.param->name);
    for (auto& c : n)
        if (c == '-') c = '_';
    return n;
});

// ---------------------------------------------------------------------------
// Litecoin's genesis block
// ---------------------------------------------------------------------------

// The string value of "key" in a flat JSON object of string values: enough
// for the vector file. Empty when the key is missing.
std::string json_string(const std::string& json, const std::string& key) {
    const std::size_t k = json.find('"' + key + '"');
    if (k == std::string::npos) return {};
    const std::size_t colon = json.find(':', k + key.size() + 2);
    const std::size_t open = colon == std::string::npos ? colon : json.find('"', colon);
    const std::size_t close = open == std::string::npos ? open : json.find('"', open + 1);
    if (close == std::string::npos) return {};
    return json.substr(open + 1, close - open - 1);
}

TEST(scrypt, litecoin_genesis_meets_its_target) {
    const std::string path = (test::vectors_dir() / "ltc-mainnet-genesis.json").string();
    std::ifstream f(path);
    ASSERT_TRUE(f) << "cannot open " << path;
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string json = ss.str();

    const auto header = from_hex(json_string(json, "header_hex"));
    ASSERT_TRUE(header && header->size() == 80) << "header_hex in " << path;
    const auto pow_display = uint256::from_hex(json_string(json, "pow_hash_scrypt_1024_1_1"));
    ASSERT_TRUE(pow_display) << "pow_hash_scrypt_1024_1_1 in " << path;
    const std::string bits_hex = json_string(json, "bits");
    ASSERT_FALSE(bits_hex.empty());
    const auto nbits = static_cast<std::uint32_t>(std::stoul(bits_hex, nullptr, 16));

    const std::span<const unsigned char, 80> h(header->data(), 80);
    const digest32 once = scrypt_once(h);
    // The display form is the hash read as a little-endian number.
    EXPECT_EQ(uint256::from_le_bytes(once), *pow_display);
    EXPECT_EQ(once, openssl_scrypt(header->data()));

    const auto target = target_from_nbits(nbits);
    ASSERT_TRUE(target) << target.error_message();
    EXPECT_LE(uint256::from_le_bytes(once), *target);
    // It meets the target, but only just: 2^-12 of the way, not by accident.
    EXPECT_GT(uint256::from_le_bytes(once), *target >> 12);

    // Every kernel, each lane holding the genesis header.
    for (const auto& k : scrypt_all_kernels()) {
        if (!k.supported(detect_cpu_features())) continue;
        scrypt_batch batch(scrypt_selection{&k, &k});
        const unsigned char* p = header->data();
        std::vector<const unsigned char*> headers(k.lanes, p);
        std::vector<digest32> out(k.lanes);
        batch.hash(headers.data(), out.data(), k.lanes);
        for (const auto& d : out) EXPECT_EQ(d, once) << k.name;
    }
}

TEST(scrypt, scalar_kernel_comes_first_and_kernels_have_unique_names) {
    const auto ks = scrypt_all_kernels();
    ASSERT_FALSE(ks.empty());
    EXPECT_EQ(ks[0].name, "scalar");
    EXPECT_EQ(ks[0].lanes, 1u);
    for (std::size_t i = 0; i < ks.size(); ++i) {
        EXPECT_LE(ks[i].lanes, 16u) << ks[i].name;
        for (std::size_t j = i + 1; j < ks.size(); ++j) EXPECT_NE(ks[i].name, ks[j].name);
    }
}

TEST(scrypt, empty_batch_does_nothing) {
    scrypt_batch batch;
    batch.hash(nullptr, nullptr, 0);
}

// ---------------------------------------------------------------------------
// Selection and forcing
// ---------------------------------------------------------------------------

TEST(scrypt_select, default_picks_a_supported_kernel) {
    auto sel = scrypt_select("auto");
    ASSERT_TRUE(sel) << sel.error_message();
    ASSERT_NE(sel->wide, nullptr);
    ASSERT_NE(sel->narrow, nullptr);
    EXPECT_TRUE(sel->wide->supported(detect_cpu_features()));
    EXPECT_TRUE(sel->narrow->supported(detect_cpu_features()));
    EXPECT_FALSE(sel->describe().empty());
    if (detect_cpu_features().avx2) {
        EXPECT_NE(sel->wide->family, "scalar") << sel->describe();
    }
}

TEST(scrypt_select, forcing_a_family_uses_only_that_family) {
    for (const auto& k : scrypt_all_kernels()) {
        auto sel = scrypt_select(k.family);
        if (!k.supported(detect_cpu_features())) {
            ASSERT_FALSE(sel);
            EXPECT_NE(sel.error_message().find("cannot run here: this CPU has only ["), std::string::npos)
                << sel.error_message();
            continue;
        }
        ASSERT_TRUE(sel) << sel.error_message();
        EXPECT_EQ(sel->wide->family, k.family);
        EXPECT_EQ(sel->narrow->family, k.family);
        EXPECT_LE(sel->narrow->lanes, sel->wide->lanes);
    }
}

TEST(scrypt_select, forced_family_hashes_odd_batches_on_its_own_kernels) {
    // A tail shorter than the narrow kernel runs on its partly idle lanes.
    std::mt19937_64 rng(11);
    const auto data = random_bytes(rng, 80 * 3 + 1);
    const unsigned char* headers[3] = {data.data() + 1, data.data() + 81, data.data() + 161};
    for (const auto& k : scrypt_all_kernels()) {
        if (!k.supported(detect_cpu_features())) continue;
        auto sel = scrypt_select(k.family);
        ASSERT_TRUE(sel) << sel.error_message();
        scrypt_batch batch(*sel);
        digest32 out[3];
        batch.hash(headers, out, 3);
        for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], openssl_scrypt(headers[i])) << k.family << " item " << i;
    }
}

TEST(scrypt_select, unknown_family_is_a_clear_error) {
    auto sel = scrypt_select("sse9");
    ASSERT_FALSE(sel);
    EXPECT_NE(sel.error_message().find("unknown scrypt kernel family 'sse9'"), std::string::npos)
        << sel.error_message();
}

TEST(scrypt_select, unsupported_family_is_a_clear_error) {
    bool any = false;
    for (const auto& k : scrypt_all_kernels()) {
        if (k.supported(detect_cpu_features())) continue;
        any = true;
        auto sel = scrypt_select(k.family);
        ASSERT_FALSE(sel);
        EXPECT_NE(
            sel.error_message().find("scrypt kernel family '" + std::string(k.family) +
                                     "' cannot run here: this CPU has only [" + detect_cpu_features().describe() + "]"),
            std::string::npos)
            << sel.error_message();
    }
    if (!any) GTEST_SKIP() << "this CPU runs every compiled scrypt kernel";
}

TEST(scrypt_select, environment_variable_forces_the_family) {
    ::setenv("BMM_SCRYPT_KERNEL", "scalar", 1);
    auto sel = scrypt_select();
    ::setenv("BMM_SCRYPT_KERNEL", "sse9", 1);
    auto bad = scrypt_select();
    ::unsetenv("BMM_SCRYPT_KERNEL");
    ASSERT_TRUE(sel) << sel.error_message();
    EXPECT_EQ(sel->wide->name, "scalar");
    EXPECT_EQ(sel->narrow->name, "scalar");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error_message().find("unknown scrypt kernel family 'sse9'"), std::string::npos);
    // An explicit family wins over the environment.
    ::setenv("BMM_SCRYPT_KERNEL", "sse9", 1);
    auto explicit_sel = scrypt_select("scalar");
    ::unsetenv("BMM_SCRYPT_KERNEL");
    EXPECT_TRUE(explicit_sel) << explicit_sel.error_message();
}

}  // namespace
}  // namespace bmm::crypto
