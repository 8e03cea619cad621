// The BMM distribution file and the batch digest: exact bytes, so that the
// same batch always exports and approves the same way.
#include "bmm/payout/distribution.hpp"
#include "bmm/payout/batch_store.hpp"

#include <gtest/gtest.h>

namespace bmm::payout {
namespace {

batch bmm_batch() {
    batch b;
    b.id = 7;
    b.currency = "BMM";
    b.digest = std::string(64, 'a');
    b.lines.push_back({1, "alice", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", amount("12500000000000000000"),
                       std::nullopt, "open"});
    b.lines.push_back(
        {2, "foundation:ecosystem", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", amount(1), std::nullopt, "open"});
    b.total = amount("12500000000000000001");
    return b;
}

TEST(distribution, token_amounts_have_exactly_18_decimals) {
    EXPECT_EQ(token_amount(amount("12500000000000000000")), "12.500000000000000000");
    EXPECT_EQ(token_amount(amount(1)), "0.000000000000000001");
    EXPECT_EQ(token_amount(amount(0)), "0.000000000000000000");
    EXPECT_EQ(token_amount(amount("1000000000000000000")), "1.000000000000000000");
    EXPECT_EQ(token_amount(amount("139000000000000000000000000")), "139000000.000000000000000000");
}

TEST(distribution, csv_bytes) {
    const std::string csv = distribution_text(bmm_batch(), distribution_format::csv);
    EXPECT_EQ(csv,
              "line,address,base_units,amount\n"
              "1,0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed,12500000000000000000,12.500000000000000000\n"
              "2,0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359,1,0.000000000000000001\n");
    EXPECT_EQ(sha256_hex(csv), "e7b9b98020d6cfd90336fa0a12f3944bab813a621f043efa2a985de8604e4654");
    EXPECT_EQ(csv, distribution_text(bmm_batch(), distribution_format::csv)) << "the same bytes every time";
}

TEST(distribution, json_bytes) {
    EXPECT_EQ(distribution_text(bmm_batch(), distribution_format::json),
              "{\"batch\":7,\"currency\":\"BMM\",\"digest\":\"" + std::string(64, 'a') +
                  "\",\"total\":\"12500000000000000001\",\"recipients\":["
                  "{\"line\":1,\"address\":\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\","
                  "\"base_units\":\"12500000000000000000\",\"amount\":\"12.500000000000000000\"},"
                  "{\"line\":2,\"address\":\"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359\",\"base_units\":\"1\","
                  "\"amount\":\"0.000000000000000001\"}]}\n");
}

TEST(distribution, sha256_of_a_known_vector) {
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(batch_digest, canonical_text_and_its_sha256) {
    std::vector<batch_line> lines = {
        {1, "alice", "rltc1qru3nduehylhdgu6m8zegafnkkc9kc6h29g82gk", amount(100000007), std::nullopt, "open"},
        {2, "foundation:ecosystem", "n2TC3s2L5GJJTZ587iHHYcoMFGxMaX2Egk", amount(5460), 3, "sent"},
    };
    EXPECT_EQ(canonical_lines(7, "LTC", lines),
              "batch:7\ncurrency:LTC\n"
              "1,alice,rltc1qru3nduehylhdgu6m8zegafnkkc9kc6h29g82gk,100000007\n"
              "2,foundation:ecosystem,n2TC3s2L5GJJTZ587iHHYcoMFGxMaX2Egk,5460\n")
        << "state and tx are not part of what is approved";
    EXPECT_EQ(batch_digest(7, "LTC", lines), "9992554a63a450d601b85babd88fa2886cefce91c441ce7fb4e7e821ffa77403");
    EXPECT_NE(batch_digest(8, "LTC", lines), batch_digest(7, "LTC", lines)) << "the batch number is in it";
    lines[0].value += 1;
    EXPECT_NE(batch_digest(7, "LTC", lines), "9992554a63a450d601b85babd88fa2886cefce91c441ce7fb4e7e821ffa77403");
}

}  // namespace
}  // namespace bmm::payout
