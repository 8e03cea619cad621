// Epoch close on hand-computed inputs: the order of the steps, the ids, the
// schemes, carried emission, maturity and orphans.
#include "bmm/accounting/epoch_close.hpp"

#include <gtest/gtest.h>

namespace {

using namespace bmm::accounting;

accounting_config ltc_config(payout_scheme scheme) {
    accounting_config c;
    c.coins["LTC"] = coin_rules{10000, 200000, scheme, 1000000, 2000000};
    return c;
}

const transfer* find(const std::vector<transfer>& ts, std::string_view id) {
    for (const auto& t : ts) {
        if (t.id == id) return &t;
    }
    return nullptr;
}

amount value_of(const std::vector<transfer>& ts, std::string_view id) {
    const transfer* t = find(ts, id);
    return t ? t->value : amount(-1);
}

// alice: work 3, streak 1 -> 2, e 10100 bp, PP 3e6 x 10100 = 30,300,000,000
// bob:   work 1, streak 0 -> 1, e 10000 bp, PP 1e6 x 10000 = 10,000,000,000
// Holdings: foundation:ecosystem 3, user:carol:available 1.
// Block h1, R = 1000: fee 10, dividend 200 (150 / 50), miners 790 by PP 303:100:
// alice 239370/403 = 593 r 391, bob 79000/403 = 196 r 12, the unit left to alice.
epoch_close_input hand_input(payout_scheme scheme) {
    epoch_close_input in;
    in.k = 0;
    in.config = ltc_config(scheme);
    in.work["alice"]["LTC"] = 3;
    in.work["bob"]["LTC"] = 1;
    in.previous_streaks = {{"alice", 1}, {"dave", 4}};
    in.bmm_holdings = {{"foundation:ecosystem", 3}, {"user:carol:available", 1}};
    block_input b;
    b.hash = "h1";
    b.coin = "LTC";
    b.height = 7;
    b.reward = 1000;
    b.finder = "bob";
    b.found_epoch = 0;
    in.blocks.push_back(b);
    return in;
}

TEST(epoch_close, pp_scheme_by_hand) {
    auto out = close_epoch(hand_input(payout_scheme::pp));
    ASSERT_TRUE(out.ok()) << out.error_message();
    const auto& a = out->accounts;
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a.at("alice"), (account_epoch{3000000, 2, 10100, amount(30300000000LL)}));
    EXPECT_EQ(a.at("bob"), (account_epoch{1000000, 1, 10000, amount(10000000000LL)}));
    EXPECT_EQ(a.at("dave"), (account_epoch{0, 0, 0, 0})) << "a missed epoch resets the streak";

    const auto& ts = out->transfers;
    EXPECT_EQ(value_of(ts, "block:h1:fee"), amount(10));
    EXPECT_EQ(value_of(ts, "block:h1:dividend:foundation:ecosystem"), amount(150));
    EXPECT_EQ(value_of(ts, "block:h1:dividend:user:carol:available"), amount(50));
    // The weights the dividend was split by, for the epoch's snapshot (sql/0018).
    EXPECT_EQ(out->bmm_holdings,
              (std::map<std::string, amount>{{"foundation:ecosystem", 3}, {"user:carol:available", 1}}));
    EXPECT_EQ(value_of(ts, "block:h1:miner:alice"), amount(594));
    EXPECT_EQ(value_of(ts, "block:h1:miner:bob"), amount(196));
    // E0 = 428131416837782340862422 split 303:100: alice's remainder 8.8e9,
    // bob's 3.15e10, so bob takes the unit left over.
    EXPECT_EQ(to_decimal(value_of(ts, "epoch:0:emission:alice")), "321895333255206077621126");
    EXPECT_EQ(to_decimal(value_of(ts, "epoch:0:emission:bob")), "106236083582576263241296");
    EXPECT_EQ(out->emission_paid, emission_e0(1461));
    EXPECT_EQ(out->carried_emission, amount(0));
    ASSERT_EQ(ts.size(), 7u);
    // Order: fee and dividends, then emission, then miners.
    EXPECT_EQ(ts[0].id, "block:h1:fee");
    EXPECT_EQ(ts[3].kind, transfer_kind::emission);
    EXPECT_EQ(ts[6].kind, transfer_kind::block_miner);

    const transfer* fee = find(ts, "block:h1:fee");
    EXPECT_EQ(fee->debit, "system:coinbase:LTC");
    EXPECT_EQ(fee->credit, "pool:fees:LTC:immature");
    EXPECT_EQ(fee->reference, "block:h1");
    EXPECT_EQ(find(ts, "block:h1:dividend:foundation:ecosystem")->credit, "foundation:ecosystem:immature");
    EXPECT_EQ(find(ts, "block:h1:miner:alice")->credit, "user:alice:immature");
    EXPECT_EQ(find(ts, "epoch:0:emission:bob")->credit, "user:bob:available");
    EXPECT_EQ(find(ts, "epoch:0:emission:bob")->debit, "system:emission:BMM");

    // Closing again with the same input: the same transfers, nothing new booked.
    ledger l;
    ASSERT_EQ(*l.apply_all(ts), 7u);
    auto again = close_epoch(hand_input(payout_scheme::pp));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->transfers, ts);
    EXPECT_EQ(*l.apply_all(again->transfers), 0u);
    EXPECT_TRUE(l.check_invariants().empty());
}

TEST(epoch_close, solo_pplns_and_pps_schemes) {
    auto solo = close_epoch(hand_input(payout_scheme::solo));
    ASSERT_TRUE(solo.ok());
    EXPECT_EQ(value_of(solo->transfers, "block:h1:miner:bob"), amount(790));
    EXPECT_EQ(find(solo->transfers, "block:h1:miner:alice"), nullptr);

    // PPLNS, N = 2, network work 10: window 20 over shares a10 b10 c10 a5
    // (oldest first) counts a 5, c 10, b 5 of 790: 197.5 / 395 / 197.5 ->
    // 197 r 5, 395, 197 r 5: tie, the unit goes to "a" (sorts first).
    auto in = hand_input(payout_scheme::pplns);
    in.blocks[0].pplns_shares = {{"a", 10}, {"b", 10}, {"c", 10}, {"a", 5}};
    in.blocks[0].network_work = 10;
    auto pplns = close_epoch(in);
    ASSERT_TRUE(pplns.ok()) << pplns.error_message();
    EXPECT_EQ(value_of(pplns->transfers, "block:h1:miner:a"), amount(198));
    EXPECT_EQ(value_of(pplns->transfers, "block:h1:miner:b"), amount(197));
    EXPECT_EQ(value_of(pplns->transfers, "block:h1:miner:c"), amount(395));
    auto w = pplns_weights(in.blocks[0].pplns_shares, 10, 2000000);
    EXPECT_EQ(*w, (std::map<std::string, amount>{{"a", 5}, {"b", 5}, {"c", 10}}));
    // Fewer shares than the window: all count.
    EXPECT_EQ(*pplns_weights(in.blocks[0].pplns_shares, 100, 2000000),
              (std::map<std::string, amount>{{"a", 15}, {"b", 10}, {"c", 10}}));

    // PPS: the block's miners' part goes to the reserve; shares earn
    // floor(sum w x M / network_work), M = 1000 - 10 - 200 = 790 per group.
    auto pin = hand_input(payout_scheme::pps);
    pin.pps = {{"alice", "LTC", 2, 7, 1000},
               {"alice", "LTC", 1, 7, 1000},
               {"bob", "LTC", 1, 7, 1000},
               {"bob", "LTC", 1, 9, 1000}};
    auto pps = close_epoch(pin);
    ASSERT_TRUE(pps.ok()) << pps.error_message();
    EXPECT_EQ(value_of(pps->transfers, "block:h1:pps"), amount(790));
    EXPECT_EQ(find(pps->transfers, "block:h1:pps")->credit, "pool:pps:LTC:immature");
    // alice: one group, 3 x 790 / 7 = 338.57 -> 338; bob: 790/7 -> 112 plus 790/9 -> 87.
    EXPECT_EQ(value_of(pps->transfers, "epoch:0:pps:LTC:alice"), amount(338));
    EXPECT_EQ(value_of(pps->transfers, "epoch:0:pps:LTC:bob"), amount(199));
    EXPECT_EQ(find(pps->transfers, "epoch:0:pps:LTC:bob")->debit, "pool:pps:LTC");
    EXPECT_EQ(*pps_credit(3, 7, 700, coin_rules{0, 0, payout_scheme::pps, 1000000, 1}), amount(300));
}

// docs/accounting.md: equal remainders go to the account name that sorts first,
// in the dividend split as in the others, foundation accounts by their own
// names. alice and foundation:x hold 1 BMM unit each and share a dividend of 1
// unit: remainders 1 and 1, a tie. By name, "alice" < "foundation:x" and alice
// gets it; by ledger account ("foundation:x" < "user:alice:available") the
// foundation would. Likewise "a-b" against "a": by name "a" sorts first, by
// ledger account "user:a-b:available" would ('-' < ':').
TEST(epoch_close, dividend_ties_go_to_the_account_name_that_sorts_first) {
    epoch_close_input in;
    in.k = 0;
    in.config = ltc_config(payout_scheme::pp);
    in.bmm_holdings = {{"foundation:x", 1}, {"user:alice:available", 1}};
    block_input b;
    b.hash = "t1";
    b.coin = "LTC";
    b.height = 1;
    b.reward = 5;  // fee floor(0.05) = 0, dividend floor(1.0) = 1, miners 4
    b.finder = "alice";
    b.found_epoch = 0;
    in.blocks.push_back(b);
    auto out = close_epoch(in);
    ASSERT_TRUE(out.ok()) << out.error_message();
    EXPECT_EQ(value_of(out->transfers, "block:t1:dividend:user:alice:available"), amount(1));
    EXPECT_EQ(find(out->transfers, "block:t1:dividend:foundation:x"), nullptr);
    ASSERT_NE(find(out->transfers, "block:t1:dividend:user:alice:available"), nullptr);
    EXPECT_EQ(find(out->transfers, "block:t1:dividend:user:alice:available")->credit, "user:alice:immature");

    in.bmm_holdings = {{"user:a-b:available", 1}, {"user:a:available", 1}};
    out = close_epoch(in);
    ASSERT_TRUE(out.ok()) << out.error_message();
    EXPECT_EQ(value_of(out->transfers, "block:t1:dividend:user:a:available"), amount(1));
    EXPECT_EQ(find(out->transfers, "block:t1:dividend:user:a-b:available"), nullptr);
    // The snapshot (the voting power) is still by ledger account.
    EXPECT_TRUE(out->bmm_holdings.contains("user:a-b:available"));
}

// PPS (docs/accounting.md, "pps"): each (account, coin, network work, expected
// reward) group is credited floor(W x M / network_work), M the miners' part
// of the expected reward; what the floors leave is never paid out: it stays in
// pool:pps:<COIN>, whose debits are exactly the credits.
TEST(epoch_close, pps_floors_per_group_and_the_fraction_stays_in_the_reserve) {
    auto in = hand_input(payout_scheme::pps);
    in.blocks.clear();
    // M = 1000 - 10 - 200 = 790. carol: 1 x 790 / 3 = 263.33 -> 263;
    // dan: 2 x 790 / 3 = 526.67 -> 526 (floored, not rounded).
    in.pps = {{"carol", "LTC", 1, 3, 1000}, {"dan", "LTC", 2, 3, 1000}};
    auto out = close_epoch(in);
    ASSERT_TRUE(out.ok()) << out.error_message();
    EXPECT_EQ(value_of(out->transfers, "epoch:0:pps:LTC:carol"), amount(263));
    EXPECT_EQ(value_of(out->transfers, "epoch:0:pps:LTC:dan"), amount(526));
    ledger l;
    ASSERT_TRUE(l.apply_all(out->transfers).ok());
    // 789 credited of the exact 790: the unit the floors left stays in the reserve.
    EXPECT_EQ(l.balance("pool:pps:LTC", "LTC"), amount(-789));
    EXPECT_EQ(l.balance("user:carol:available", "LTC") + l.balance("user:dan:available", "LTC"), amount(789));
}

TEST(epoch_close, no_pp_carries_emission_and_books_undistributed) {
    epoch_close_input in;
    in.k = 1461;  // first epoch of the second halving period
    in.config = ltc_config(payout_scheme::pp);
    in.carried_emission = 5;
    in.bmm_holdings = {{"user:amy:available", 0}};  // a zero holding weighs nothing and is not kept
    block_input b;
    b.hash = "h2";
    b.coin = "LTC";
    b.reward = 100;
    b.finder = "zed";
    b.found_epoch = 1461;
    in.blocks.push_back(b);
    auto out = close_epoch(in);
    ASSERT_TRUE(out.ok()) << out.error_message();
    EXPECT_EQ(out->emission, emission_e0(1461) / 2);
    EXPECT_EQ(out->emission_paid, amount(0));
    EXPECT_EQ(out->carried_emission, emission_e0(1461) / 2 + 5);
    EXPECT_EQ(value_of(out->transfers, "block:h2:undistributed:dividend"), amount(20));
    EXPECT_TRUE(out->bmm_holdings.empty());
    EXPECT_EQ(value_of(out->transfers, "block:h2:undistributed:miners"), amount(79));
    EXPECT_EQ(value_of(out->transfers, "block:h2:fee"), amount(1));

    // Next epoch someone mines: they get E(1462) plus what was carried.
    epoch_close_input next;
    next.k = 1462;
    next.config = in.config;
    next.work["zed"]["LTC"] = 1;
    next.carried_emission = out->carried_emission;
    auto paid = close_epoch(next);
    ASSERT_TRUE(paid.ok());
    EXPECT_EQ(value_of(paid->transfers, "epoch:1462:emission:zed"), emission_e0(1461) + 5);
}

TEST(epoch_close, block_found_in_an_earlier_epoch_uses_that_epochs_pp) {
    auto in = hand_input(payout_scheme::pp);
    in.k = 3;
    in.blocks[0].found_epoch = 2;
    in.blocks[0].found_epoch_pp = {{"erin", 1}};
    auto out = close_epoch(in);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(value_of(out->transfers, "block:h1:miner:erin"), amount(790));
}

TEST(epoch_close, bad_input_is_refused_with_a_reason) {
    auto expect_error = [](epoch_close_input in, std::string_view needle) {
        auto out = close_epoch(in);
        ASSERT_FALSE(out.ok()) << needle;
        EXPECT_NE(out.error_message().find(needle), std::string::npos) << out.error_message();
    };
    auto in = hand_input(payout_scheme::pp);
    in.work["a:b"]["LTC"] = 1;
    expect_error(in, "a:b");
    in = hand_input(payout_scheme::pp);
    in.work["x"]["DOGE"] = 1;
    expect_error(in, "DOGE");
    in = hand_input(payout_scheme::pp);
    in.blocks.push_back(in.blocks[0]);
    expect_error(in, "listed twice");
    in = hand_input(payout_scheme::pp);
    in.blocks[0].found_epoch = 1;
    expect_error(in, "found after");
    in = hand_input(payout_scheme::pp);
    in.bmm_holdings["system:genesis:BMM"] = 1;
    expect_error(in, "not a BMM holder");
    in = hand_input(payout_scheme::pp);
    in.carried_emission = 1;  // nothing was scheduled before epoch 0
    expect_error(in, "carried emission");
    in = hand_input(payout_scheme::pp);
    in.config.coins["LTC"].holders_ppm = 995000;
    expect_error(in, "exceed");
    in = hand_input(payout_scheme::pp);
    in.pps = {{"alice", "LTC", 1, 7, 1000}};
    expect_error(in, "not pps");
}

TEST(block_lifecycle, matures_or_reverses_never_both) {
    auto out = close_epoch(hand_input(payout_scheme::pp));
    ASSERT_TRUE(out.ok());
    ledger l;
    ASSERT_TRUE(l.apply_all(out->transfers).ok());
    auto mature = block_maturity_transfers("h1", l.transfers());
    ASSERT_TRUE(mature.ok()) << mature.error_message();
    ASSERT_EQ(mature->size(), 5u);  // fee, two holders, two miners
    ASSERT_EQ(*l.apply_all(*mature), 5u);
    EXPECT_EQ(l.balance("user:alice:available", "LTC"), amount(594));
    EXPECT_EQ(l.balance("user:alice:immature", "LTC"), amount(0));
    EXPECT_EQ(l.balance("foundation:ecosystem", "LTC"), amount(150));
    EXPECT_EQ(l.balance("pool:fees:LTC", "LTC"), amount(10));
    EXPECT_EQ(l.balance("system:coinbase:LTC", "LTC"), amount(-1000));
    // Asking again yields the same ids: nothing new.
    EXPECT_EQ(*l.apply_all(*block_maturity_transfers("h1", l.transfers())), 0u);
    auto orphan = block_orphan_transfers("h1", l.transfers());
    ASSERT_FALSE(orphan.ok());
    EXPECT_NE(orphan.error_message().find("matured"), std::string::npos);
    EXPECT_FALSE(block_maturity_transfers("nope", l.transfers()).ok());
    EXPECT_TRUE(l.check_invariants().empty());

    ledger m;
    ASSERT_TRUE(m.apply_all(out->transfers).ok());
    auto rev = block_orphan_transfers("h1", m.transfers());
    ASSERT_TRUE(rev.ok());
    ASSERT_EQ(*m.apply_all(*rev), 5u);
    EXPECT_EQ(m.balance("system:coinbase:LTC", "LTC"), amount(0));
    EXPECT_EQ(m.balance("user:alice:immature", "LTC"), amount(0));
    EXPECT_EQ(find(*rev, "block:h1:orphan:user:alice:available")->debit, "user:alice:immature");
    EXPECT_FALSE(block_maturity_transfers("h1", m.transfers()).ok());
    EXPECT_TRUE(m.check_invariants().empty());
}

}  // namespace
