// The extranonce1 counter allocator (stratum/src/extranonce.cpp) as pure
// code: after the counter wraps it skips the values live connections hold
// (a plain counter handed them out again after 2^24 subscriptions), gives
// back values at close, and says so when every value is held.

#include "extranonce.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace bmm::stratum {
namespace {

TEST(extranonce, counts_from_the_seed_and_wraps_at_the_width) {
    extranonce_allocator a(3);  // 8 values
    a.seed(6);
    EXPECT_EQ(a.take(), 6u);
    EXPECT_EQ(a.take(), 7u);
    EXPECT_EQ(a.take(), 0u);
    EXPECT_EQ(a.held(), 3u);
    a.seed(13);  // wider than 3 bits: masked
    EXPECT_EQ(a.take(), 5u);
}

TEST(extranonce, after_the_wrap_values_held_by_live_connections_are_skipped) {
    extranonce_allocator a(3);
    a.seed(0);
    for (std::uint32_t v = 0; v < 8; ++v) ASSERT_EQ(a.take(), v);
    // Every value is live: nothing to hand out (the subscribe is refused).
    EXPECT_EQ(a.take(), std::nullopt);
    // Connections 2 and 5 close; the counter (back at 0) skips the live ones.
    a.give_back(5);
    a.give_back(2);
    EXPECT_EQ(a.take(), 2u);
    EXPECT_EQ(a.take(), 5u);
    EXPECT_EQ(a.take(), std::nullopt);
    EXPECT_EQ(a.held(), 8u);
}

TEST(extranonce, the_real_24_bit_counter_skips_a_live_value_at_the_wrap) {
    extranonce_allocator a(24);
    a.seed(0);
    ASSERT_EQ(a.take(), 0u);  // a long-lived connection
    ASSERT_EQ(a.take(), 1u);  // closes below
    a.give_back(1);
    a.seed(0xfffffe);  // 2^24 - 2 subscriptions later
    EXPECT_EQ(a.take(), 0xfffffeu);
    EXPECT_EQ(a.take(), 0xffffffu);
    EXPECT_EQ(a.take(), 1u);  // 0 is still live: skipped; 1 was given back
    EXPECT_EQ(a.take(), 2u);
}

TEST(extranonce, loops_taking_at_once_never_share_a_value) {
    extranonce_allocator a(10);  // 1024 values, 4 threads of 200
    std::vector<std::vector<std::uint32_t>> got(4);
    std::vector<std::thread> threads;
    for (auto& g : got)
        threads.emplace_back([&a, &g] {
            for (int i = 0; i < 200; ++i) {
                g.push_back(*a.take());
                if (i % 2) a.give_back(g.back());  // half close at once, half stay
            }
        });
    for (auto& t : threads) t.join();
    std::set<std::uint32_t> live;
    for (const auto& g : got)
        for (std::size_t i = 0; i < g.size(); i += 2) EXPECT_TRUE(live.insert(g[i]).second) << g[i];
    EXPECT_EQ(a.held(), live.size());
}

}  // namespace
}  // namespace bmm::stratum
