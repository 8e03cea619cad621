// Jobs from templates. The Bitcoin case has no node here, so a template is
// made from the real block 413567: the job must give the block's real merkle
// branch, and a share built from the real coinbase and nonce must be
// recognised as a block and serialised to exactly the real block's bytes.

#include "bmm/stratum/job.hpp"

#include "../support/vectors.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace bmm::stratum {
namespace {

std::uint32_t le32_at(const std::vector<unsigned char>& p, std::size_t off) {
    return std::uint32_t{p[off]} | (std::uint32_t{p[off + 1]} << 8) | (std::uint32_t{p[off + 2]} << 16) |
           (std::uint32_t{p[off + 3]} << 24);
}

// A getblocktemplate reply made from block 413567's bytes.
std::string template_json_from_block(const std::vector<unsigned char>& raw,
                                     const std::vector<std::vector<unsigned char>>& txs) {
    std::string prev = to_hex(test::reversed({raw.begin() + 4, raw.begin() + 36}));
    std::string j = "{\"version\":" + std::to_string(le32_at(raw, 0)) + ",\"previousblockhash\":\"" + prev +
                    "\",\"bits\":\"" + be32_hex(le32_at(raw, 72)) +
                    "\",\"height\":413567,\"curtime\":" + std::to_string(le32_at(raw, 68)) +
                    ",\"mintime\":1464300000,\"coinbasevalue\":2500000000" +
                    ",\"longpollid\":\"x\",\"rules\":[\"csv\"],\"transactions\":[";
    for (std::size_t i = 1; i < txs.size(); ++i) {
        if (i > 1) j += ',';
        const auto txid = crypto::sha256d_once(txs[i]);
        j += "{\"data\":\"" + to_hex(txs[i]) + "\",\"txid\":\"" +
             to_hex(test::reversed(std::vector<unsigned char>(txid.begin(), txid.end()))) + "\"}";
    }
    j += "]}";
    return j;
}

TEST(job, bitcoin_template_from_block_413567_round_trips_to_the_real_block) {
    const auto dir = test::vectors_dir();
    const auto raw = test::read_file(dir / "btc-mainnet-block-413567.raw");
    test::json_file facts(dir / "btc-mainnet-block-413567.json");
    const auto txs = test::split_transactions(raw);
    auto tmpl = block_template::from_json(template_json_from_block(raw, txs));
    ASSERT_TRUE(tmpl) << tmpl.error_message();
    EXPECT_EQ(tmpl->transactions.size(), 1556u);
    EXPECT_EQ(tmpl->prevhash_hex(), facts.str("prev_block_hash"));
    EXPECT_EQ(tmpl->target.to_hex(), facts.str("network_target_hex"));

    // The real coinbase, split around 4 + 4 bytes of extranonce inside its scriptSig.
    const auto& coinbase = txs[0];
    const std::size_t at = 46;
    coinbase_parts parts;
    parts.coinb1.assign(coinbase.begin(), coinbase.begin() + at);
    parts.coinb2.assign(coinbase.begin() + at + 8, coinbase.end());
    const std::vector<unsigned char> en1(coinbase.begin() + at, coinbase.begin() + at + 4);
    const std::vector<unsigned char> en2(coinbase.begin() + at + 4, coinbase.begin() + at + 8);
    auto j = make_job_with_coinbase(std::make_shared<block_template>(std::move(*tmpl)), parts, 4, "1",
                                    pow_algorithm::sha256d, 0x1fffe000, true);
    ASSERT_TRUE(j) << j.error_message();

    std::vector<std::string> want_branch;
    for (auto e : facts.root["coinbase_merkle_branch_internal_order"].get_array())
        want_branch.emplace_back(std::string_view(e));
    EXPECT_EQ((*j)->branch_hex, want_branch);

    verifier::batch_verifier v;
    const std::string en2_hex = to_hex(en2), ntime = be32_hex(le32_at(raw, 68)), nonce = be32_hex(le32_at(raw, 76));
    const verifier::share s{&(*j)->data, en1, en2_hex, ntime, nonce, {}, (*j)->tmpl->target};
    verifier::verdict out;
    v.verify({&s, 1}, {&out, 1});
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(out.meets_network_target);
    const auto block = assemble_block(**j, out, en1, en2);
    ASSERT_EQ(block.size(), raw.size());
    EXPECT_TRUE(block == raw);
}

TEST(job, merkle_branch_of_small_trees_matches_a_full_rebuild) {
    // For every tree size 1..40: root from branch == root of the full tree.
    for (std::size_t n = 1; n <= 40; ++n) {
        std::vector<hash256> leaves(n);
        for (std::size_t i = 0; i < n; ++i) leaves[i] = crypto::sha256_once(std::vector<unsigned char>(i + 1, 7));
        std::vector<hash256> others(leaves.begin() + 1, leaves.end());
        const auto branch = coinbase_merkle_branch(others);
        std::vector<hash256> level = leaves;
        while (level.size() > 1) {
            if (level.size() % 2) level.push_back(level.back());
            std::vector<hash256> up;
            for (std::size_t i = 0; i < level.size(); i += 2) {
                std::vector<unsigned char> pair(level[i].begin(), level[i].end());
                pair.insert(pair.end(), level[i + 1].begin(), level[i + 1].end());
                up.push_back(crypto::sha256d_once(pair));
            }
            level = up;
        }
        EXPECT_EQ(merkle_root_from_branch(leaves[0], branch), level[0]) << n << " leaves";
    }
}

TEST(job, notify_params_have_stratum_field_order) {
    block_template t;
    t.version = 0x20000000;
    t.bits = 0x207fffff;
    t.target = *target_from_nbits(t.bits);
    t.height = 17;
    t.curtime = 0x5f5e1000;
    t.coinbase_value = 1;
    coinbase_params p;
    p.payout_script = {0x51};
    auto j = make_job(std::make_shared<block_template>(t), p, "2a", pow_algorithm::scrypt, 0, true);
    ASSERT_TRUE(j) << j.error_message();
    const std::string n = (*j)->notify_params_json(true);
    EXPECT_EQ(n.substr(0, 6), "[\"2a\",");
    EXPECT_NE(n.find("\"20000000\",\"207fffff\",\"5f5e1000\",true]"), std::string::npos) << n;
    EXPECT_NE(n.find(",[],"), std::string::npos);  // no transactions: empty branch
    // The lines sent to miners are made once per job, one per clean_jobs value.
    EXPECT_EQ((*j)->notify_line[1], "{\"id\":null,\"method\":\"mining.notify\",\"params\":" + n + "}\n");
    const std::string& stale = (*j)->notify_line[0];
    EXPECT_NE(stale.find(",false]}\n"), std::string::npos) << stale;
}

TEST(block_template, malformed_replies_name_the_field) {
    EXPECT_NE(block_template::from_json("{").error_message().find("not JSON"), std::string::npos);
    EXPECT_NE(block_template::from_json("{\"version\":1}").error_message().find("previousblockhash"),
              std::string::npos);
    const std::string prev(64, '0');
    auto no_bits = block_template::from_json("{\"version\":1,\"previousblockhash\":\"" + prev + "\"}");
    EXPECT_NE(no_bits.error_message().find("'bits'"), std::string::npos);
    auto bad_tx = block_template::from_json("{\"version\":1,\"previousblockhash\":\"" + prev +
                                            "\",\"bits\":\"207fffff\",\"height\":1,\"curtime\":1,\"coinbasevalue\":1,"
                                            "\"transactions\":[{\"data\":\"zz\",\"txid\":\"" +
                                            prev + "\"}]}");
    ASSERT_FALSE(bad_tx);
    EXPECT_NE(bad_tx.error_message().find("entry 0 has bad hex"), std::string::npos);
}

// Found by fuzz_block_template: curtime 5975146018 was wrapped to 32 bits
// (and version, height and mintime likewise) instead of being refused.
TEST(block_template, numbers_that_do_not_fit_their_field_are_refused) {
    const std::string prev(64, '0');
    auto with = [&](const std::string& fields) {
        return block_template::from_json("{\"previousblockhash\":\"" + prev +
                                         "\",\"bits\":\"207fffff\",\"coinbasevalue\":1,\"transactions\":[]," + fields +
                                         "}");
    };
    const std::string ok = "\"version\":536870912,\"height\":432,\"curtime\":1795546090";
    auto t = with(ok + ",\"mintime\":1795546000");
    ASSERT_TRUE(t) << t.error_message();
    EXPECT_EQ(t->curtime, 1795546090u);
    EXPECT_EQ(t->mintime, 1795546000u);
    auto edges = with("\"version\":-2147483648,\"height\":2147483647,\"curtime\":4294967295,\"mintime\":0");
    ASSERT_TRUE(edges) << edges.error_message();
    EXPECT_EQ(edges->version, std::numeric_limits<std::int32_t>::min());
    EXPECT_EQ(edges->height, 2147483647);
    EXPECT_EQ(edges->curtime, 4294967295u);

    const std::vector<std::pair<std::string, std::string>> bad = {
        {"\"version\":2147483648,\"height\":1,\"curtime\":1", "'version' is missing or not a 32-bit signed integer"},
        {"\"version\":-2147483649,\"height\":1,\"curtime\":1", "'version' is missing or not a 32-bit signed integer"},
        {"\"version\":1,\"height\":2147483648,\"curtime\":1", "'height' is missing, negative or above 2^31 - 1"},
        {"\"version\":1,\"height\":1,\"curtime\":5975146018", "'curtime' is missing or not a 32-bit unsigned integer"},
        {"\"version\":1,\"height\":1,\"curtime\":-1", "'curtime' is missing or not a 32-bit unsigned integer"},
        {ok + ",\"mintime\":4294967296", "'mintime' is not a 32-bit unsigned integer"},
        {ok + ",\"mintime\":-5", "'mintime' is not a 32-bit unsigned integer"},
        {ok + ",\"mintime\":\"1795546000\"", "'mintime' is not a 32-bit unsigned integer"},
    };
    for (const auto& [fields, message] : bad) {
        auto r = with(fields);
        ASSERT_FALSE(r) << fields;
        EXPECT_EQ(r.error_message(), "getblocktemplate field " + message) << fields;
    }
}

}  // namespace
}  // namespace bmm::stratum
