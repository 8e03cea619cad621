// The share verifier against real chain data:
//  - Bitcoin mainnet block 413567: its merkle root rebuilt from all 1557
//    txids; a share built from its real coinbase, split at every point into
//    coinb1 / extranonce1 / extranonce2 / coinb2, with its real 11-level
//    branch, nonce and ntime, must hash to the real block hash and meet the
//    block's own target, on every SHA-256 kernel.
//  - Litecoin's genesis block as a scrypt share, on every scrypt kernel.
//  - Bad input is reported per share and never disturbs the rest of a batch.

#include "bmm/verifier/share_verifier.hpp"

#include "../../support/vectors.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

namespace bmm::verifier {
namespace {

using test::hex_bytes;
using test::reversed;

std::uint32_t le32_at(const std::vector<unsigned char>& p, std::size_t off) {
    return std::uint32_t{p[off]} | (std::uint32_t{p[off + 1]} << 8) | (std::uint32_t{p[off + 2]} << 16) |
           (std::uint32_t{p[off + 3]} << 24);
}

// Block 413567 and everything a Stratum job needs from it.
struct btc_block {
    std::vector<unsigned char> raw, header, coinbase;
    std::vector<std::string> branch_hex;
    std::string block_hash_internal_hex, prevhash_stratum_hex;
    std::uint32_t version, ntime, nbits, nonce;
    uint256 target;

    btc_block() {
        const auto dir = test::vectors_dir();
        raw = test::read_file(dir / "btc-mainnet-block-413567.raw");
        test::json_file facts(dir / "btc-mainnet-block-413567.json");
        header = hex_bytes(facts.str("header_hex"));
        coinbase = hex_bytes(facts.str("coinbase_hex"));
        for (auto e : facts.root["coinbase_merkle_branch_internal_order"].get_array())
            branch_hex.emplace_back(std::string_view(e));
        block_hash_internal_hex = to_hex(reversed(hex_bytes(facts.str("block_hash"))));
        version = le32_at(header, 0);
        ntime = le32_at(header, 68);
        nbits = le32_at(header, 72);
        nonce = le32_at(header, 76);
        hash256 prev;
        std::copy(header.begin() + 4, header.begin() + 36, prev.begin());
        prevhash_stratum_hex = to_hex(stratum_prevhash_swap(prev));
        target = *uint256::from_hex(facts.str("network_target_hex"));
    }

    result<job_data> job(std::size_t coinb1_len, std::size_t en1_len, std::size_t en2_len, std::uint32_t job_version,
                         std::uint32_t mask = 0) const {
        const std::string cb = to_hex(coinbase);
        std::vector<std::string_view> br(branch_hex.begin(), branch_hex.end());
        const std::size_t tail = 2 * (coinb1_len + en1_len + en2_len);
        return job_data::from_stratum(pow_algorithm::sha256d, prevhash_stratum_hex, cb.substr(0, 2 * coinb1_len),
                                      cb.substr(tail), br, be32_hex(job_version), be32_hex(nbits), en2_len, mask);
    }
};

const btc_block& block() {
    static const btc_block b;
    return b;
}

// Folds a level of Bitcoin's merkle tree (last node paired with itself when odd).
std::vector<crypto::digest32> merkle_level(const std::vector<crypto::digest32>& level) {
    std::vector<crypto::digest32> up;
    for (std::size_t i = 0; i < level.size(); i += 2) {
        const auto& right = i + 1 < level.size() ? level[i + 1] : level[i];
        std::vector<unsigned char> pair(level[i].begin(), level[i].end());
        pair.insert(pair.end(), right.begin(), right.end());
        up.push_back(crypto::sha256d_once(pair));
    }
    return up;
}

TEST(block_413567, merkle_root_from_all_1557_txids_matches_header_and_branch) {
    const auto& b = block();
    const auto txs = test::split_transactions(b.raw);
    ASSERT_EQ(txs.size(), 1557u);
    EXPECT_EQ(txs[0], b.coinbase);
    std::vector<crypto::digest32> level;
    for (const auto& tx : txs) level.push_back(crypto::sha256d_once(tx));
    // The coinbase's branch: at each level, the sibling of the coinbase's node.
    std::vector<std::string> branch;
    while (level.size() > 1) {
        branch.push_back(to_hex(level.size() > 1 ? level[1] : level[0]));
        level = merkle_level(level);
    }
    EXPECT_EQ(to_hex(level[0]), to_hex(std::vector<unsigned char>(b.header.begin() + 36, b.header.begin() + 68)));
    EXPECT_EQ(branch, b.branch_hex);
    EXPECT_EQ(to_hex(crypto::sha256d_once(b.header)), b.block_hash_internal_hex);
}

class sha256_family_test : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        auto sha = crypto::sha256_select(GetParam());
        if (!sha) GTEST_SKIP() << sha.error_message();
        auto scrypt = crypto::scrypt_select("scalar");
        ASSERT_TRUE(scrypt) << scrypt.error_message();
        verifier_ = std::make_unique<batch_verifier>(*sha, *scrypt);
    }
    std::unique_ptr<batch_verifier> verifier_;
};

TEST_P(sha256_family_test, real_share_split_at_every_point_is_the_real_block) {
    const auto& b = block();
    std::mt19937 rng(413567);
    std::vector<job_data> jobs;
    std::vector<std::vector<unsigned char>> en1s;
    std::vector<std::string> en2s;
    // Every split point, with extranonce sizes cycling through 0..8 and 1..8.
    for (std::size_t at = 0; at + 16 <= b.coinbase.size(); ++at) {
        const std::size_t en1 = at % 9, en2 = 1 + (at * 7) % 8;
        auto j = b.job(at, en1, en2, b.version);
        ASSERT_TRUE(j) << j.error_message();
        jobs.push_back(std::move(*j));
        en1s.emplace_back(b.coinbase.begin() + static_cast<std::ptrdiff_t>(at),
                          b.coinbase.begin() + static_cast<std::ptrdiff_t>(at + en1));
        en2s.push_back(
            to_hex(std::vector<unsigned char>(b.coinbase.begin() + static_cast<std::ptrdiff_t>(at + en1),
                                              b.coinbase.begin() + static_cast<std::ptrdiff_t>(at + en1 + en2))));
    }
    const std::string ntime = be32_hex(b.ntime), nonce = be32_hex(b.nonce);
    std::vector<share> shares;
    for (std::size_t i = 0; i < jobs.size(); ++i)
        shares.push_back({&jobs[i], en1s[i], en2s[i], ntime, nonce, {}, b.target});
    std::vector<verdict> out(shares.size());
    verifier_->verify(shares, out);
    for (std::size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i].status, share_status::ok) << describe(out[i].status);
        ASSERT_EQ(to_hex(out[i].pow_hash), b.block_hash_internal_hex) << "split " << i;
        ASSERT_EQ(to_hex(out[i].block_hash), b.block_hash_internal_hex);
        ASSERT_EQ(std::vector<unsigned char>(out[i].header.begin(), out[i].header.end()), b.header);
        EXPECT_TRUE(out[i].meets_target);
        EXPECT_TRUE(out[i].meets_network_target);
    }
}

TEST_P(sha256_family_test, every_batch_size_gives_the_same_answer) {
    const auto& b = block();
    auto j = b.job(42, 4, 4, b.version);
    ASSERT_TRUE(j);
    const std::vector<unsigned char> en1(b.coinbase.begin() + 42, b.coinbase.begin() + 46);
    const std::string en2 = to_hex(std::vector<unsigned char>(b.coinbase.begin() + 46, b.coinbase.begin() + 50));
    const std::string ntime = be32_hex(b.ntime);
    for (std::size_t n : {1u, 2u, 7u, 8u, 9u, 16u, 17u, 64u}) {
        std::vector<std::string> nonces;
        for (std::size_t i = 0; i < n; ++i) nonces.push_back(be32_hex(b.nonce + static_cast<std::uint32_t>(i)));
        std::vector<share> shares;
        for (std::size_t i = 0; i < n; ++i) shares.push_back({&*j, en1, en2, ntime, nonces[i], {}, b.target});
        std::vector<verdict> out(n);
        verifier_->verify(shares, out);
        EXPECT_EQ(to_hex(out[0].pow_hash), b.block_hash_internal_hex);
        EXPECT_TRUE(out[0].meets_network_target);
        for (std::size_t i = 1; i < n; ++i) {
            // Other nonces: the header differs only there; check against the scalar one-shot.
            auto header = b.header;
            const auto nn = b.nonce + static_cast<std::uint32_t>(i);
            for (int k = 0; k < 4; ++k)
                header[76 + static_cast<std::size_t>(k)] = static_cast<unsigned char>(nn >> (8 * k));
            EXPECT_EQ(out[i].pow_hash, crypto::sha256d_once(header)) << "batch " << n << " share " << i;
            EXPECT_FALSE(out[i].meets_network_target);
        }
    }
}

TEST_P(sha256_family_test, version_rolling_within_the_mask) {
    const auto& b = block();
    constexpr std::uint32_t mask = 0x1fffe000;
    // The job's version has bit 13 set; the miner rolls it back to 0 and so
    // reproduces the real header (version 4).
    auto j = b.job(50, 4, 4, b.version | 0x2000, mask);
    ASSERT_TRUE(j);
    const std::vector<unsigned char> en1(b.coinbase.begin() + 50, b.coinbase.begin() + 54);
    const std::string en2 = to_hex(std::vector<unsigned char>(b.coinbase.begin() + 54, b.coinbase.begin() + 58));
    const std::string ntime = be32_hex(b.ntime), nonce = be32_hex(b.nonce);
    std::vector<share> shares = {
        {&*j, en1, en2, ntime, nonce, "00000000", b.target},  // rolls bit 13 off: the real block
        {&*j, en1, en2, ntime, nonce, "00004000", b.target},  // bit 14 instead: another header
        {&*j, en1, en2, ntime, nonce, "20000000", b.target},  // bit 29: outside the mask
        {&*j, en1, en2, ntime, nonce, "0000400", b.target},   // 7 digits
    };
    std::vector<verdict> out(shares.size());
    verifier_->verify(shares, out);
    ASSERT_EQ(out[0].status, share_status::ok);
    EXPECT_EQ(out[0].version, b.version);
    EXPECT_EQ(to_hex(out[0].pow_hash), b.block_hash_internal_hex);
    ASSERT_EQ(out[1].status, share_status::ok);
    EXPECT_EQ(out[1].version, (b.version & ~mask) | 0x4000u);
    EXPECT_NE(to_hex(out[1].pow_hash), b.block_hash_internal_hex);
    EXPECT_FALSE(out[1].meets_network_target);
    EXPECT_EQ(out[2].status, share_status::version_outside_mask);
    EXPECT_EQ(out[3].status, share_status::bad_version_bits);
}

TEST_P(sha256_family_test, bad_input_is_reported_per_share_and_the_rest_still_verify) {
    const auto& b = block();
    auto j = b.job(42, 4, 4, b.version);
    ASSERT_TRUE(j);
    // A job whose coinbase is far past any sane size.
    job_data huge = *j;
    huge.coinb1.resize(k_max_coinbase_size, 0x51);
    const std::vector<unsigned char> en1(b.coinbase.begin() + 42, b.coinbase.begin() + 46);
    const std::vector<unsigned char> long_en1(9, 0);
    const std::string en2 = to_hex(std::vector<unsigned char>(b.coinbase.begin() + 46, b.coinbase.begin() + 50));
    const std::string ntime = be32_hex(b.ntime), nonce = be32_hex(b.nonce);
    // Shares hold views: the strings they view must outlive the batch.
    const std::string en2_long = en2 + "00", en2_short = en2.substr(2), en2_not_hex = "zz" + en2.substr(2);
    const std::vector<share> shares = {
        {&*j, en1, en2, ntime, nonce, {}, b.target},          // good
        {&*j, en1, en2_long, ntime, nonce, {}, b.target},     // extranonce2 too long
        {&*j, en1, en2_short, ntime, nonce, {}, b.target},    // too short
        {&*j, en1, en2_not_hex, ntime, nonce, {}, b.target},  // not hex
        {&*j, en1, en2, "5747xd8b", nonce, {}, b.target},     // ntime not hex
        {&*j, en1, en2, ntime, "7e5fb9", {}, b.target},       // nonce too short
        {&huge, en1, en2, ntime, nonce, {}, b.target},        // coinbase too large
        {nullptr, en1, en2, ntime, nonce, {}, b.target},      // no job
        {&*j, long_en1, en2, ntime, nonce, {}, b.target},     // extranonce1 too long
        {&*j, en1, en2, ntime, nonce, {}, b.target},          // good again
    };
    std::vector<verdict> out(shares.size());
    verifier_->verify(shares, out);
    const share_status want[] = {share_status::ok,
                                 share_status::bad_extranonce2,
                                 share_status::bad_extranonce2,
                                 share_status::bad_extranonce2,
                                 share_status::bad_ntime,
                                 share_status::bad_nonce,
                                 share_status::coinbase_too_large,
                                 share_status::missing_job,
                                 share_status::bad_extranonce1,
                                 share_status::ok};
    for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].status, want[i]) << "share " << i << ": " << describe(out[i].status);
        if (out[i].ok()) {
            EXPECT_EQ(to_hex(out[i].pow_hash), b.block_hash_internal_hex);
            EXPECT_TRUE(out[i].meets_network_target);
        } else {
            EXPECT_FALSE(out[i].meets_target);
            EXPECT_FALSE(out[i].meets_network_target);
        }
    }
}

TEST_P(sha256_family_test, share_target_is_compared_exactly) {
    const auto& b = block();
    auto j = b.job(42, 4, 4, b.version);
    ASSERT_TRUE(j);
    const std::vector<unsigned char> en1(b.coinbase.begin() + 42, b.coinbase.begin() + 46);
    const std::string en2 = to_hex(std::vector<unsigned char>(b.coinbase.begin() + 46, b.coinbase.begin() + 50));
    const std::string ntime = be32_hex(b.ntime), nonce = be32_hex(b.nonce);
    const uint256 hash =
        uint256::from_le_bytes(std::span<const unsigned char, 32>(hex_bytes(b.block_hash_internal_hex).data(), 32));
    const std::vector<share> shares = {
        {&*j, en1, en2, ntime, nonce, {}, hash},               // equal: meets
        {&*j, en1, en2, ntime, nonce, {}, hash - uint256(1)},  // one below: does not
    };
    std::vector<verdict> out(2);
    verifier_->verify(shares, out);
    EXPECT_TRUE(out[0].meets_target);
    EXPECT_FALSE(out[1].meets_target);
}

INSTANTIATE_TEST_SUITE_P(kernels, sha256_family_test, ::testing::Values("scalar", "shani", "avx2", "avx512"));

TEST(job_data, from_stratum_names_the_bad_field) {
    const auto& b = block();
    const std::vector<std::string_view> no_branch;
    auto bad_prev =
        job_data::from_stratum(pow_algorithm::sha256d, "00", "01", "02", no_branch, "00000004", "18058436", 4);
    ASSERT_FALSE(bad_prev);
    EXPECT_NE(bad_prev.error_message().find("prevhash"), std::string::npos);
    auto bad_nbits = job_data::from_stratum(pow_algorithm::sha256d, b.prevhash_stratum_hex, "01", "02", no_branch,
                                            "00000004", "xx", 4);
    ASSERT_FALSE(bad_nbits);
    EXPECT_NE(bad_nbits.error_message().find("nbits"), std::string::npos);
    auto bad_size = job_data::from_stratum(pow_algorithm::sha256d, b.prevhash_stratum_hex, "01", "02", no_branch,
                                           "00000004", "18058436", 9);
    ASSERT_FALSE(bad_size);
    EXPECT_NE(bad_size.error_message().find("extranonce2 size"), std::string::npos);
    const std::vector<std::string_view> bad_branch = {"abcd"};
    auto bb = job_data::from_stratum(pow_algorithm::sha256d, b.prevhash_stratum_hex, "01", "02", bad_branch, "00000004",
                                     "18058436", 4);
    ASSERT_FALSE(bb);
    EXPECT_NE(bb.error_message().find("merkle branch entry 0"), std::string::npos);
}

// Litecoin's genesis coinbase, rebuilt from the chain parameters (timestamp
// text, 50 LTC to the genesis key). Its txid is the genesis merkle root, which
// the test checks against the real header before trusting it.
constexpr std::string_view k_ltc_genesis_coinbase =
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4804ffff001d0104404e"
    "592054696d65732030352f4f63742f32303131205374657665204a6f62732c204170706c65e280997320566973696f6e6172"
    "792c2044696573206174203536ffffffff0100f2052a010000004341040184710fa689ad5023690c80f3a49c8f13f8d45b8c85"
    "7fbcbc8bc4a8e4d3eb4b10f4d4604fa08dce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9ac00000000";

class scrypt_family_test : public ::testing::TestWithParam<std::string> {};

TEST_P(scrypt_family_test, litecoin_genesis_as_a_scrypt_share) {
    auto scrypt = crypto::scrypt_select(GetParam());
    if (!scrypt) GTEST_SKIP() << scrypt.error_message();
    auto sha = crypto::sha256_select("scalar");
    ASSERT_TRUE(sha);
    batch_verifier verifier(*sha, *scrypt);

    test::json_file facts(test::vectors_dir() / "ltc-mainnet-genesis.json");
    const auto header = hex_bytes(facts.str("header_hex"));
    const auto coinbase = hex_bytes(k_ltc_genesis_coinbase);
    ASSERT_EQ(to_hex(crypto::sha256d_once(coinbase)),
              to_hex(std::vector<unsigned char>(header.begin() + 36, header.begin() + 68)));
    hash256 prev;
    std::copy(header.begin() + 4, header.begin() + 36, prev.begin());
    const std::string cb = to_hex(coinbase);
    const std::vector<std::string_view> no_branch;
    // Split: coinb1 up to the scriptSig's timestamp, extranonce1 4 bytes, extranonce2 4 bytes.
    auto job = job_data::from_stratum(pow_algorithm::scrypt, to_hex(stratum_prevhash_swap(prev)), cb.substr(0, 100),
                                      cb.substr(116), no_branch, be32_hex(le32_at(header, 0)),
                                      be32_hex(le32_at(header, 72)), 4);
    ASSERT_TRUE(job) << job.error_message();
    const auto en1 = hex_bytes(cb.substr(100, 8));
    const std::string en2 = cb.substr(108, 8);
    const std::string ntime = be32_hex(le32_at(header, 68)), nonce = be32_hex(le32_at(header, 76));
    const std::string wrong_nonce = be32_hex(le32_at(header, 76) + 1);
    const uint256 diff1 = diff1_target(pow_algorithm::scrypt);
    // 20 shares so that every lane count and tail is exercised; odd ones miss.
    std::vector<share> shares;
    for (int i = 0; i < 20; ++i) shares.push_back({&*job, en1, en2, ntime, i % 2 ? wrong_nonce : nonce, {}, diff1});
    std::vector<verdict> out(shares.size());
    verifier.verify(shares, out);
    const std::string want_pow = to_hex(reversed(hex_bytes(facts.str("pow_hash_scrypt_1024_1_1"))));
    const std::string want_id = to_hex(reversed(hex_bytes(facts.str("block_hash"))));
    for (std::size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i].status, share_status::ok);
        if (i % 2) {
            EXPECT_NE(to_hex(out[i].pow_hash), want_pow);
            continue;
        }
        EXPECT_EQ(to_hex(out[i].pow_hash), want_pow);
        EXPECT_EQ(to_hex(out[i].block_hash), want_id);
        EXPECT_TRUE(out[i].meets_network_target);
        EXPECT_TRUE(out[i].meets_target);
        EXPECT_EQ(std::vector<unsigned char>(out[i].header.begin(), out[i].header.end()), header);
    }
}

INSTANTIATE_TEST_SUITE_P(kernels, scrypt_family_test, ::testing::Values("scalar", "avx2", "avx512"));

}  // namespace
}  // namespace bmm::verifier
