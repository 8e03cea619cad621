// Hand-computed cases for the money rules (ACCOUNTING.md): work, DPP, streak,
// e, PP, the largest-remainder split, the block split and the BMM schedule.
#include "bmm/accounting/rules.hpp"

#include <gtest/gtest.h>

namespace {

using namespace bmm::accounting;
using bmm::uint256;

amount pow2(unsigned n) { return amount(1) << n; }

TEST(amount_text, round_trips_and_rejects_garbage) {
    const amount big = pow2(300) + 12345;
    auto back = parse_amount(to_decimal(big));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, big);
    EXPECT_EQ(to_decimal(amount(0)), "0");
    EXPECT_EQ(to_decimal(amount(-1)), "-1");
    EXPECT_EQ(to_decimal(amount("10000000000000000000")), "10000000000000000000");
    EXPECT_EQ(to_decimal(amount("-1390000000000000000000000000")), "-1390000000000000000000000000");
    EXPECT_EQ(*parse_amount("-42"), amount(-42));
    for (const char* bad : {"", "-", "1.5", "1e9", " 1", "0x10", "12a"}) {
        EXPECT_FALSE(parse_amount(bad).ok()) << bad;
    }
}

TEST(work, is_floor_of_two_to_256_over_target_plus_one) {
    EXPECT_EQ(share_work(uint256::max()), amount(1));
    EXPECT_EQ(share_work(uint256(1) << 255), amount(1));                // 2^256 / (2^255 + 1)
    EXPECT_EQ(share_work((uint256(1) << 32) - uint256(1)), pow2(224));  // 2^256 / 2^32
    EXPECT_EQ(share_work(uint256(2)), (pow2(256) / 3));                 // floor(2^256 / 3)
    EXPECT_EQ(share_work(uint256(0)), pow2(256) - 1);                   // never met by a hash: saturates
}

TEST(dpp, weights_each_coin_in_ppm) {
    std::map<std::string, std::uint64_t> w{{"LTC", 250000}, {"BTC", 1000000}};
    auto d = dpp({{"LTC", 5}, {"BTC", 7}}, w);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, amount(5 * 250000 + 7 * 1000000));
    EXPECT_FALSE(dpp({{"DOGE", 1}}, w).ok());
    EXPECT_FALSE(dpp({{"LTC", -1}}, w).ok());
    EXPECT_EQ(*dpp({}, w), amount(0));
}

TEST(streak_and_e, follow_the_basis_point_formula) {
    persistence_params p;  // defaults: step 100 bp, max 15000 bp, any share counts
    EXPECT_EQ(next_streak(0, 1, p), 1u);
    EXPECT_EQ(next_streak(7, 1, p), 8u);
    EXPECT_EQ(next_streak(7, 0, p), 0u);
    p.min_epoch_dpp = 100;
    EXPECT_EQ(next_streak(7, 99, p), 0u);
    EXPECT_EQ(next_streak(7, 100, p), 8u);
    p.min_epoch_dpp = 0;
    EXPECT_EQ(next_streak(3, 0, p), 0u) << "no work never extends a streak";

    persistence_params d;
    EXPECT_EQ(e_bp(0, d), 0u);
    EXPECT_EQ(e_bp(1, d), 10000u);
    EXPECT_EQ(e_bp(2, d), 10100u);
    EXPECT_EQ(e_bp(50, d), 14900u);
    EXPECT_EQ(e_bp(51, d), 15000u);
    EXPECT_EQ(e_bp(52, d), 15000u);
    EXPECT_EQ(e_bp(4000000000u, d), 15000u) << "no wrap for long streaks";
    EXPECT_EQ(pp(pow2(300), 10100), pow2(300) * 10100);
}

TEST(split, gives_leftover_units_to_largest_remainders) {
    auto s = split_largest_remainder(100, {{"b", 1}, {"a", 2}});
    ASSERT_TRUE(s.ok());
    // 200/3 = 66 r 2, 100/3 = 33 r 1: the one unit left goes to a.
    EXPECT_EQ(s->at("a"), amount(67));
    EXPECT_EQ(s->at("b"), amount(33));
}

TEST(split, breaks_ties_by_name_bytewise) {
    auto s = split_largest_remainder(10, {{"c", 1}, {"b", 1}, {"a", 1}});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->at("a"), amount(4));
    EXPECT_EQ(s->at("b"), amount(3));
    EXPECT_EQ(s->at("c"), amount(3));
    // Bytewise: 'B' (0x42) before 'a' (0x61); "z" (0x7a) before "\xc3\xa9" (UTF-8 e-acute).
    auto t = split_largest_remainder(1, {{"a", 1}, {"B", 1}});
    EXPECT_EQ(t->at("B"), amount(1));
    EXPECT_EQ(t->at("a"), amount(0));
    auto u = split_largest_remainder(1, {{"\xc3\xa9", 1}, {"z", 1}});
    EXPECT_EQ(u->at("z"), amount(1));
    EXPECT_EQ(u->at("\xc3\xa9"), amount(0));
}

TEST(split, zero_weights_receive_nothing_and_empty_sets_carry) {
    auto s = split_largest_remainder(7, {{"a", 0}, {"b", 5}});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->size(), 1u);
    EXPECT_EQ(s->at("b"), amount(7));
    EXPECT_TRUE(split_largest_remainder(7, {{"a", 0}, {"b", 0}})->empty());
    EXPECT_TRUE(split_largest_remainder(7, {})->empty());
    EXPECT_EQ(split_largest_remainder(0, {{"a", 1}})->at("a"), amount(0));
    EXPECT_FALSE(split_largest_remainder(-1, {{"a", 1}}).ok());
    EXPECT_FALSE(split_largest_remainder(1, {{"a", -1}, {"b", 2}}).ok());
}

TEST(split, is_exact_when_products_outgrow_256_bits) {
    // Weights 2^400, 2^400, 2^401 (sum 2^402), amount 10^27 + 1: products are
    // ~2^490. a and b get (10^27 + 1) / 4 rounded down with remainder 2^400,
    // c gets (10^27 + 1) / 2 rounded down with remainder 2^401, so c takes the
    // one unit left over.
    const amount total = amount("1000000000000000000000000001");
    auto s = split_largest_remainder(total, {{"a", pow2(400)}, {"b", pow2(400)}, {"c", pow2(401)}});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(to_decimal(s->at("a")), "250000000000000000000000000");
    EXPECT_EQ(to_decimal(s->at("b")), "250000000000000000000000000");
    EXPECT_EQ(to_decimal(s->at("c")), "500000000000000000000000001");
}

TEST(block_split, floors_fee_and_dividend) {
    auto p = split_block_reward(625000000, 10000, 200000);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->fee, amount(6250000));
    EXPECT_EQ(p->dividend, amount(125000000));
    EXPECT_EQ(p->miners, amount(493750000));
    auto q = split_block_reward(99, 10000, 200000);  // 0.99 -> 0, 19.8 -> 19
    EXPECT_EQ(q->fee, amount(0));
    EXPECT_EQ(q->dividend, amount(19));
    EXPECT_EQ(q->miners, amount(80));
    EXPECT_FALSE(split_block_reward(100, 600000, 400001).ok());
    EXPECT_FALSE(split_block_reward(-1, 0, 0).ok());
    EXPECT_EQ(split_block_reward(100, 600000, 400000)->miners, amount(0));
}

TEST(schedule, supply_and_premine) {
    EXPECT_EQ(to_decimal(bmm_total_supply()), "1390000000000000000000000000");
    amount premine = 0;
    for (const auto& [account, v] : bmm_premine()) premine += v;
    EXPECT_EQ(premine, bmm_premine_total());
    EXPECT_EQ(to_decimal(bmm_premine().at("foundation:ecosystem")), "83400000000000000000000000");
    EXPECT_EQ(bmm_premine_total() + bmm_mining_supply(), bmm_total_supply());
}

TEST(schedule, halves_at_period_boundaries) {
    // E0 = floor(1,251,000,000 x 10^18 / 2922)
    EXPECT_EQ(to_decimal(emission_e0(1461)), "428131416837782340862422");
    EXPECT_EQ(epoch_emission(0, 1461), emission_e0(1461));
    EXPECT_EQ(epoch_emission(1460, 1461), emission_e0(1461));
    EXPECT_EQ(to_decimal(epoch_emission(1461, 1461)), "214065708418891170431211");
    EXPECT_EQ(to_decimal(epoch_emission(2921, 1461)), "214065708418891170431211");
    EXPECT_EQ(to_decimal(epoch_emission(2922, 1461)), "107032854209445585215605");
    EXPECT_EQ(epoch_emission(1461ULL * 200, 1461), amount(0));
    EXPECT_EQ(epoch_emission(~0ULL, 1), amount(0));
    EXPECT_EQ(epoch_emission(5, 0), amount(0));
}

TEST(schedule, cumulative_never_exceeds_the_cap) {
    // Closed form against a plain running sum over 100 halving periods.
    for (std::uint64_t h : {1ULL, 3ULL, 1461ULL}) {
        amount running = 0;
        for (std::uint64_t k = 0; k < 100 * h; ++k) {
            ASSERT_EQ(cumulative_emission(k, h), running) << "k=" << k << " H=" << h;
            running += epoch_emission(k, h);
            ASSERT_LE(running, bmm_mining_supply());
        }
        EXPECT_EQ(cumulative_emission(100 * h, h), running);
        EXPECT_LE(bmm_premine_total() + running, bmm_total_supply());
    }
    // After 100 periods of H = 1461 the series is 52,590 base units below the cap.
    EXPECT_EQ(to_decimal(bmm_mining_supply() - cumulative_emission(146100, 1461)), "52590");
}

}  // namespace
