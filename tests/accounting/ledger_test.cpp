// The in-memory ledger: idempotent booking, atomic lists, account naming and
// the invariants' readable problems.
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/rules.hpp"

#include <gtest/gtest.h>

namespace {

using namespace bmm::accounting;

transfer t(std::string id, std::string debit, std::string credit, amount v, std::string currency = "LTC") {
    return transfer{std::move(id), std::move(debit),           std::move(credit), std::move(currency),
                    std::move(v),  transfer_kind::block_miner, "block:h"};
}

TEST(naming, immature_accounts_map_both_ways) {
    EXPECT_EQ(user_available("alice"), "user:alice:available");
    EXPECT_EQ(immature_of("user:alice:available"), "user:alice:immature");
    EXPECT_EQ(immature_of("foundation:ecosystem"), "foundation:ecosystem:immature");
    EXPECT_EQ(immature_of("pool:fees:LTC"), "pool:fees:LTC:immature");
    EXPECT_EQ(*available_of_immature("user:alice:immature"), "user:alice:available");
    EXPECT_EQ(*available_of_immature("pool:fees:LTC:immature"), "pool:fees:LTC");
    EXPECT_FALSE(available_of_immature("user:alice:available").has_value());
    EXPECT_TRUE(is_bmm_holder_account("user:alice:available"));
    EXPECT_TRUE(is_bmm_holder_account("foundation:airdrop"));
    EXPECT_FALSE(is_bmm_holder_account("foundation:airdrop:immature"));
    EXPECT_FALSE(is_bmm_holder_account("user:alice:immature"));
    EXPECT_FALSE(is_bmm_holder_account("system:genesis:BMM"));
    EXPECT_FALSE(is_bmm_holder_account("payout:in-flight"));
    for (auto k : {transfer_kind::premine, transfer_kind::block_orphan, transfer_kind::pps_credit}) {
        EXPECT_EQ(*parse_transfer_kind(to_string(k)), k);
    }
    EXPECT_FALSE(parse_transfer_kind("gift").has_value());
}

TEST(ledger, books_once_and_refuses_conflicting_ids) {
    ledger l;
    EXPECT_TRUE(*l.apply(t("x", "system:coinbase:LTC", "user:a:immature", 5)));
    EXPECT_FALSE(*l.apply(t("x", "system:coinbase:LTC", "user:a:immature", 5))) << "a replay books nothing";
    auto conflict = l.apply(t("x", "system:coinbase:LTC", "user:a:immature", 6));
    ASSERT_FALSE(conflict.ok());
    EXPECT_NE(conflict.error_message().find("different content"), std::string::npos);
    EXPECT_EQ(l.balance("user:a:immature", "LTC"), amount(5));
    EXPECT_EQ(l.balance("system:coinbase:LTC", "LTC"), amount(-5));
    EXPECT_EQ(l.transfers().size(), 1u);
    EXPECT_FALSE(l.apply(t("y", "a", "a", 1)).ok());
    EXPECT_FALSE(l.apply(t("y", "a", "b", 0)).ok());
    EXPECT_FALSE(l.apply(t("", "a", "b", 1)).ok());
    EXPECT_TRUE(l.check_invariants().empty());
}

TEST(ledger, apply_all_is_all_or_nothing) {
    ledger l;
    std::vector<transfer> list{t("1", "system:coinbase:LTC", "user:a:immature", 5),
                               t("2", "system:coinbase:LTC", "user:b:immature", -1)};
    EXPECT_FALSE(l.apply_all(list).ok());
    EXPECT_TRUE(l.transfers().empty());
    list[1].value = 3;
    EXPECT_EQ(*l.apply_all(list), 2u);
    EXPECT_EQ(*l.apply_all(list), 0u);
    list.push_back(t("1", "system:coinbase:LTC", "user:a:immature", 4));
    EXPECT_FALSE(l.apply_all(list).ok());
    EXPECT_EQ(l.transfers().size(), 2u);
}

TEST(ledger, invariants_name_each_problem) {
    ledger l;
    ASSERT_EQ(*l.apply_all(genesis_transfers()), 3u);
    EXPECT_TRUE(l.check_invariants().empty());
    EXPECT_EQ(l.bmm_issued(), bmm_premine_total());
    EXPECT_EQ(l.bmm_holdings().size(), 3u);
    // A user paying out more than they hold.
    ASSERT_TRUE(l.apply(t("pay", "user:a:available", "payout:in-flight", 1)).ok());
    auto problems = l.check_invariants();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("user:a:available"), std::string::npos) << problems[0];
    // More premine than the 10 %.
    ASSERT_TRUE(l.apply(transfer{"genesis:premine:extra", "system:genesis:BMM", "foundation:airdrop", "BMM", 1,
                                 transfer_kind::premine, "genesis"})
                    .ok());
    problems = l.check_invariants();
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_NE(problems[1].find("premine"), std::string::npos) << problems[1];
    // Emission above the 90 %.
    ASSERT_TRUE(l.apply(transfer{"epoch:0:emission:a", "system:emission:BMM", "user:a:available", "BMM",
                                 bmm_mining_supply() + 1, transfer_kind::emission, "epoch:0"})
                    .ok());
    problems = l.check_invariants();
    ASSERT_EQ(problems.size(), 4u);  // + emission above 90 %, + total above supply
    EXPECT_NE(problems[3].find("above the supply"), std::string::npos) << problems[3];
}

}  // namespace
