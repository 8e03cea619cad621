// Admission control and ban scores (stratum/src/limits.cpp): connections per
// address and in total are counted and released exactly, bans expire, a ban
// is reported as new once, and scores halve every half-life.

#include "bmm/stratum/limits.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace bmm::stratum {
namespace {

limits_config small() {
    limits_config l;
    l.max_connections = 5;
    l.max_connections_per_ip = 2;
    l.ban_seconds = 60;
    return l;
}

TEST(admission, refuses_the_connection_over_the_per_address_limit_until_one_closes) {
    admission a(small());
    EXPECT_EQ(a.admit("10.0.0.1", 0), admission::verdict::admitted);
    EXPECT_EQ(a.admit("10.0.0.1", 0), admission::verdict::admitted);
    EXPECT_EQ(a.admit("10.0.0.1", 0), admission::verdict::per_ip_full);
    EXPECT_EQ(a.connections_from("10.0.0.1"), 2u);
    EXPECT_EQ(a.admit("10.0.0.2", 0), admission::verdict::admitted);  // another address is not affected
    a.release("10.0.0.1");
    EXPECT_EQ(a.admit("10.0.0.1", 0), admission::verdict::admitted);
    EXPECT_EQ(a.connections(), 3u);
}

TEST(admission, refuses_over_the_total_and_releases_exactly) {
    admission a(small());
    const char* ips[] = {"a", "b", "c", "d", "e"};
    for (const char* ip : ips) EXPECT_EQ(a.admit(ip, 0), admission::verdict::admitted);
    EXPECT_EQ(a.admit("f", 0), admission::verdict::total_full);
    EXPECT_EQ(a.connections_from("f"), 0u);
    for (const char* ip : ips) a.release(ip);
    EXPECT_EQ(a.connections(), 0u);
    a.release("never-seen");  // harmless
    EXPECT_EQ(a.connections(), 0u);
    EXPECT_EQ(a.admit("f", 0), admission::verdict::admitted);
}

TEST(admission, a_ban_refuses_until_it_expires_and_is_new_once) {
    admission a(small());
    EXPECT_TRUE(a.ban("10.0.0.9", 100));
    EXPECT_FALSE(a.ban("10.0.0.9", 110)) << "already banned: not a new ban";
    EXPECT_TRUE(a.banned("10.0.0.9", 150));
    EXPECT_EQ(a.admit("10.0.0.9", 150), admission::verdict::banned);
    EXPECT_EQ(a.admit("10.0.0.8", 150), admission::verdict::admitted);
    // The second ban extended it to 110 + 60.
    EXPECT_EQ(a.admit("10.0.0.9", 169), admission::verdict::banned);
    EXPECT_EQ(a.admit("10.0.0.9", 171), admission::verdict::admitted);
    EXPECT_FALSE(a.banned("10.0.0.9", 171));
    EXPECT_TRUE(a.ban("10.0.0.9", 200)) << "a ban after the last one expired is new";
}

TEST(admission, counts_stay_exact_under_threads) {
    limits_config l;
    l.max_connections = 1000000;
    l.max_connections_per_ip = 1000000;
    admission a(l);
    std::vector<std::thread> t;
    for (int i = 0; i < 4; ++i)
        t.emplace_back([&a, i] {
            const std::string ip = "10.0.0." + std::to_string(i % 2);
            for (int k = 0; k < 10000; ++k) {
                ASSERT_EQ(a.admit(ip, 0), admission::verdict::admitted);
                if (k % 2) a.release(ip);
            }
        });
    for (auto& th : t) th.join();
    EXPECT_EQ(a.connections(), 20000u);
    EXPECT_EQ(a.connections_from("10.0.0.0"), 10000u);
}

TEST(ban_score, halves_every_half_life) {
    ban_score s;
    EXPECT_DOUBLE_EQ(s.add(8, 0, 10), 8);
    EXPECT_DOUBLE_EQ(s.value_at(10, 10), 4);
    EXPECT_DOUBLE_EQ(s.value_at(20, 10), 2);
    EXPECT_DOUBLE_EQ(s.add(1, 10, 10), 5);
    EXPECT_DOUBLE_EQ(s.value_at(10, 10), 5);
    // Time that runs backwards (another clock) never raises the score.
    EXPECT_DOUBLE_EQ(s.add(1, 5, 10), 6);
}

TEST(ban_score, a_steady_trickle_stays_below_a_threshold_a_burst_crosses) {
    // One point a minute with a 60 s half-life converges to 2, far below 50.
    ban_score trickle;
    double v = 0;
    for (int i = 0; i < 1000; ++i) v = trickle.add(1, i * 60.0, 60);
    EXPECT_LT(v, 2.01);
    ban_score burst;
    for (int i = 0; i < 50; ++i) v = burst.add(1, 1000 + i * 0.01, 60);
    EXPECT_GE(v, 49.0);
}

}  // namespace
}  // namespace bmm::stratum

TEST(token_bucket, starts_full_refills_at_its_rate_and_never_past_its_burst) {
    bmm::stratum::token_bucket b;
    int taken = 0;
    while (b.take(10, 5, 64.0)) {
        ++taken;
    }
    EXPECT_EQ(taken, 5) << "a fresh bucket holds its burst";
    EXPECT_FALSE(b.take(10, 5, 64.0625)) << "0.625 of a token after 62.5 ms at 10/s";
    EXPECT_TRUE(b.take(10, 5, 64.125));
    EXPECT_FALSE(b.take(10, 5, 64.125));
    // An hour idle refills to the burst, not beyond.
    taken = 0;
    while (b.take(10, 5, 3700.0)) {
        ++taken;
    }
    EXPECT_EQ(taken, 5);
    // A clock that steps back takes nothing it has not refilled.
    EXPECT_FALSE(b.take(10, 5, 3600.0));
}

TEST(token_bucket, a_steady_rate_at_the_limit_always_passes_one_above_does_not) {
    bmm::stratum::token_bucket at, above;
    int refused_at = 0, refused_above = 0;
    for (int i = 0; i < 1000; ++i) {
        if (!at.take(20, 100, i / 20.0)) {
            ++refused_at;
        }
        if (!above.take(20, 100, i / 40.0)) {
            ++refused_above;
        }
    }
    EXPECT_EQ(refused_at, 0);
    // 1,000 takes in 25 s at 20/s with a burst of 100: 100 + 500 pass.
    EXPECT_NEAR(refused_above, 400, 2);
}
