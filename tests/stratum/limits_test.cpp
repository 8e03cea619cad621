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
