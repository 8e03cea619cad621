#include "bmm/stratum/coinbase.hpp"

#include "bmm/hex.hpp"

#include <gtest/gtest.h>

namespace bmm::stratum {
namespace {

TEST(bip34, heights_1_to_16_are_small_integer_opcodes) {
    EXPECT_EQ(bip34_height_push(0), std::vector<unsigned char>{0x00});
    EXPECT_EQ(bip34_height_push(1), std::vector<unsigned char>{0x51});
    EXPECT_EQ(bip34_height_push(16), std::vector<unsigned char>{0x60});
}

TEST(bip34, larger_heights_are_minimal_script_numbers) {
    EXPECT_EQ(to_hex(bip34_height_push(17)), "0111");
    EXPECT_EQ(to_hex(bip34_height_push(127)), "017f");
    EXPECT_EQ(to_hex(bip34_height_push(128)), "028000");  // sign bit needs a zero byte
    EXPECT_EQ(to_hex(bip34_height_push(255)), "02ff00");
    EXPECT_EQ(to_hex(bip34_height_push(256)), "020001");
    EXPECT_EQ(to_hex(bip34_height_push(32768)), "03008000");
    // Block 413567's real coinbase starts its scriptSig with 037f4f06.
    EXPECT_EQ(to_hex(bip34_height_push(413567)), "037f4f06");
}

block_template regtest_template(std::int64_t height, bool witness) {
    block_template t;
    t.height = height;
    t.coinbase_value = 5000000000;
    if (witness)
        t.witness_commitment =
            *from_hex("6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9");
    return t;
}

coinbase_params params(std::string tag) {
    coinbase_params p;
    p.payout_script = *from_hex("0014751e76e8199196d454941c45d1b3a323f1433bd6");
    p.pool_tag = std::move(tag);
    return p;
}

TEST(coinbase, layout_height_extranonce_tag_sequence_outputs_locktime) {
    auto parts = build_coinbase(regtest_template(5, true), params("/BMM/"));
    ASSERT_TRUE(parts) << parts.error_message();
    EXPECT_TRUE(parts->has_witness);
    // coinb1: version 2, one null input, scriptSig length, OP_5, push of 8 extranonce bytes.
    EXPECT_EQ(to_hex(parts->coinb1),
              "02000000"
              "01" +
                  std::string(64, '0') +
                  "ffffffff"
                  "10"
                  "55"
                  "08");
    // coinb2: push("/BMM/"), sequence fffffffe, 2 outputs, payout, commitment, lock time 4.
    const std::string b = to_hex(parts->coinb2);
    EXPECT_EQ(b.substr(0, 12), "052f424d4d2f");
    EXPECT_EQ(b.substr(12, 8), "feffffff");
    EXPECT_EQ(b.substr(20, 2), "02");
    EXPECT_EQ(b.substr(22, 16), "00f2052a01000000");
    EXPECT_NE(b.find("6a24aa21a9ed"), std::string::npos);
    EXPECT_EQ(b.substr(b.size() - 8), "04000000");
    const std::size_t total = parts->coinb1.size() + 8 + parts->coinb2.size();
    EXPECT_LT(total, 200u);  // firmware limits start near 500 bytes
}

TEST(coinbase, without_witness_commitment_has_one_output_and_no_witness) {
    auto parts = build_coinbase(regtest_template(1000, false), params(""));
    ASSERT_TRUE(parts);
    EXPECT_FALSE(parts->has_witness);
    EXPECT_EQ(to_hex(parts->coinb2).substr(0, 10),
              "feffffff"
              "01");
}

TEST(coinbase, script_sig_bounds) {
    // 2 bytes minimum: height OP_1 plus the extranonce push make 2 + 8 = 10 here.
    auto small = build_coinbase(regtest_template(1, false), params(""));
    ASSERT_TRUE(small);
    // 100 bytes maximum: height (4) + push (1) + 24 bytes of extranonce + push (1) + 75-byte tag = 105.
    coinbase_params wide = params(std::string(75, 'x'));
    wide.extranonce1_size = 8;
    wide.extranonce2_size = 16;
    auto big = build_coinbase(regtest_template(500000, false), wide);
    ASSERT_FALSE(big);
    EXPECT_NE(big.error_message().find("consensus allows 2 to 100"), std::string::npos);
    // The same with an 8-byte extranonce2 is 97 bytes: allowed.
    wide.extranonce2_size = 8;
    EXPECT_TRUE(build_coinbase(regtest_template(500000, false), wide));
    auto longer = build_coinbase(regtest_template(500000, false), params(std::string(76, 'x')));
    ASSERT_FALSE(longer);
    coinbase_params none = params("");
    none.payout_script.clear();
    EXPECT_FALSE(build_coinbase(regtest_template(1, false), none));
}

TEST(coinbase, witness_serialisation_inserts_marker_flag_and_reserved_value) {
    const auto cb = *from_hex("0200000001aa00000000");
    const auto w = with_coinbase_witness(cb);
    EXPECT_EQ(to_hex(w),
              "02000000"
              "0001"
              "01aa"
              "0120" +
                  std::string(64, '0') + "00000000");
}

TEST(compact_size, encodings) {
    std::vector<unsigned char> out;
    put_compact_size(out, 0xfc);
    put_compact_size(out, 0xfd);
    put_compact_size(out, 0x10000);
    put_compact_size(out, 0x100000000ULL);
    EXPECT_EQ(to_hex(out),
              "fc"
              "fdfd00"
              "fe00000100"
              "ff0000000001000000");
}

}  // namespace
}  // namespace bmm::stratum
