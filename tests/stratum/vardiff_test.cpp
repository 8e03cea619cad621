// Variable difficulty, driven with synthetic time: a fast miner is ramped up
// within seconds by at most a factor of 4 per step, a quiet one is lowered,
// small deviations are ignored, and the port's bounds always hold.

#include "bmm/stratum/vardiff.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace bmm::stratum {
namespace {

port_config make_port(double start, double min, double max) {
    port_config p;
    p.start_difficulty = start;
    p.min_difficulty = min;
    p.max_difficulty = max;
    p.target_share_seconds = 10;
    p.retarget_seconds = 30;
    return p;
}

struct change_event {
    double time;
    double difficulty;
};

struct simulation {
    vardiff_state state;
    std::vector<change_event> changes;
    unsigned shares = 0;
};

// A miner doing `work_per_second` difficulty-1 shares' worth of hashing, from
// time 0 for `seconds`, in steps of 10 ms; a share is found whenever the work
// done reaches the current difficulty. The server's tick runs every second.
simulation simulate(const port_config& port, double work_per_second, double start, double seconds) {
    simulation sim;
    sim.state = vardiff_start(port, start, 0);
    double work = 0;
    const auto steps = static_cast<std::int64_t>(seconds * 100);
    for (std::int64_t i = 1; i <= steps; ++i) {
        const double now = static_cast<double>(i) / 100;
        work += work_per_second / 100;
        if (work >= sim.state.difficulty) {
            work -= sim.state.difficulty;
            ++sim.shares;
            if (auto d = vardiff_on_share(sim.state, port, now)) sim.changes.push_back({now, *d});
        }
        if (i % 100 != 0) continue;
        if (auto d = vardiff_on_tick(sim.state, port, now)) sim.changes.push_back({now, *d});
    }
    return sim;
}

TEST(vardiff, fast_miner_ramps_up_by_at_most_four_per_step) {
    // Shares every 0.1 s at difficulty 1 with a 10 s target: the right
    // difficulty is 100.
    const port_config port = make_port(1, 0.001, 1e6);
    const simulation sim = simulate(port, 10, 1, 600);
    ASSERT_EQ(sim.changes.size(), 4u);
    // The first step comes after the 12th share (four times the expected
    // count of a window), 1.2 s in: a factor of 4, not the 100 observed.
    EXPECT_NEAR(sim.changes[0].time, 1.2, 0.02);
    EXPECT_EQ(sim.changes[0].difficulty, 4);
    EXPECT_EQ(sim.changes[1].difficulty, 16);
    EXPECT_EQ(sim.changes[2].difficulty, 64);
    EXPECT_NEAR(sim.changes[3].difficulty, 100, 0.5);
    EXPECT_LT(sim.changes[2].time, 30);  // a factor of 64 within half a minute
    double previous = 1;
    for (const auto& c : sim.changes) {
        EXPECT_LE(c.difficulty, previous * 4 * (1 + 1e-12)) << "at " << c.time;
        EXPECT_GT(c.difficulty, previous) << "at " << c.time;
        previous = c.difficulty;
    }
    EXPECT_NEAR(sim.state.difficulty, 100, 0.5);
}

TEST(vardiff, fast_miner_stops_at_the_port_maximum) {
    const port_config port = make_port(1, 0.001, 50);
    const simulation sim = simulate(port, 10, 1, 600);
    ASSERT_EQ(sim.changes.size(), 3u);
    EXPECT_EQ(sim.changes[0].difficulty, 4);
    EXPECT_EQ(sim.changes[1].difficulty, 16);
    EXPECT_EQ(sim.changes[2].difficulty, 50);  // 64 wanted, 50 allowed
    EXPECT_EQ(sim.state.difficulty, 50);
    // Twice the target rate for the remaining ten minutes changed nothing.
    EXPECT_GT(sim.shares, 100u);
}

TEST(vardiff, a_burst_waits_for_half_a_second) {
    const port_config port = make_port(1, 0.001, 1e6);
    vardiff_state s = vardiff_start(port, 1, 100);
    for (int i = 1; i <= 40; ++i) EXPECT_FALSE(vardiff_on_share(s, port, 100 + i * 0.01)) << i;
    EXPECT_EQ(s.shares, 40u);
    const auto d = vardiff_on_share(s, port, 100.5);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, 4);
    EXPECT_EQ(s.difficulty, 4);
    EXPECT_EQ(s.shares, 0u);
    EXPECT_EQ(s.window_start, 100.5);
}

TEST(vardiff, fewer_shares_than_a_flood_wait_for_the_window) {
    const port_config port = make_port(1, 0.001, 1e6);
    vardiff_state s = vardiff_start(port, 1, 0);
    // 10 shares in 10 s: fast, but fewer than 12 and the window is not over.
    for (int i = 1; i <= 10; ++i) EXPECT_FALSE(vardiff_on_share(s, port, i)) << i;
    EXPECT_EQ(s.shares, 10u);
    // At 30 s the window closes: 11 shares in 30 s.
    const auto d = vardiff_on_share(s, port, 30);
    ASSERT_TRUE(d);
    EXPECT_DOUBLE_EQ(*d, 1 * 10 / (30.0 / 11));
}

TEST(vardiff, quiet_miner_is_halved_after_two_windows) {
    const port_config port = make_port(1, 0.001, 1e6);
    vardiff_state s = vardiff_start(port, 100, 1000);
    EXPECT_FALSE(vardiff_on_tick(s, port, 1030));
    EXPECT_FALSE(vardiff_on_tick(s, port, 1059.9));
    EXPECT_EQ(s.difficulty, 100);
    auto d = vardiff_on_tick(s, port, 1060);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, 50);
    EXPECT_EQ(s.difficulty, 50);
    EXPECT_EQ(s.window_start, 1060);
    EXPECT_FALSE(vardiff_on_tick(s, port, 1119));
    d = vardiff_on_tick(s, port, 1120);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, 25);
}

TEST(vardiff, early_shares_then_silence_still_lower_the_difficulty) {
    // One share just after the window opened, then nothing: the miner is as
    // quiet as one with no share at all and must not keep a difficulty it
    // cannot meet until its next share, however long that takes.
    const port_config port = make_port(1, 0.001, 1e6);
    vardiff_state s = vardiff_start(port, 100, 0);
    EXPECT_FALSE(vardiff_on_share(s, port, 2));
    EXPECT_FALSE(vardiff_on_tick(s, port, 59));
    const auto d = vardiff_on_tick(s, port, 60);
    ASSERT_TRUE(d);
    // One share in 60 s at a 10 s target: a sixth wanted, a quarter allowed.
    EXPECT_EQ(*d, 25);
    EXPECT_EQ(s.shares, 0u);
    EXPECT_EQ(s.window_start, 60);

    // A quiet spell never raises the difficulty, even after a busy start.
    vardiff_state busy = vardiff_start(port, 100, 0);
    for (int i = 1; i <= 11; ++i) EXPECT_FALSE(vardiff_on_share(busy, port, i));
    EXPECT_FALSE(vardiff_on_tick(busy, port, 60));
    EXPECT_EQ(busy.difficulty, 100);
    EXPECT_EQ(busy.shares, 0u);
}

TEST(vardiff, slow_miner_comes_down_and_settles) {
    // Work for one share per second at difficulty 1: the right difficulty is 10.
    const port_config port = make_port(1, 0.001, 1e6);
    const simulation sim = simulate(port, 1, 1000, 3600);
    ASSERT_FALSE(sim.changes.empty());
    EXPECT_EQ(sim.changes[0].time, 60);
    EXPECT_EQ(sim.changes[0].difficulty, 500);
    double previous = 1000;
    for (const auto& c : sim.changes) {
        EXPECT_GE(c.difficulty, previous / 4 * (1 - 1e-12)) << "at " << c.time;
        previous = c.difficulty;
    }
    EXPECT_NEAR(sim.state.difficulty, 10, 1.0);
    EXPECT_LT(sim.changes.back().time, 1800) << "still changing after half an hour";
}

TEST(vardiff, steady_miner_at_the_target_rate_stays_put) {
    const port_config port = make_port(100, 0.001, 1e6);
    vardiff_state s = vardiff_start(port, 100, 0);
    // Exactly one share per 10 s for an hour, with the tick every second.
    for (int t = 1; t <= 3600; ++t) {
        if (t % 10 == 0) {
            EXPECT_FALSE(vardiff_on_share(s, port, t)) << t;
        }
        EXPECT_FALSE(vardiff_on_tick(s, port, t)) << t;
    }
    EXPECT_EQ(s.difficulty, 100);

    // The same with a simulated miner of the right speed.
    const simulation sim = simulate(port, 10, 100, 3600);
    EXPECT_TRUE(sim.changes.empty()) << sim.changes.size() << " changes, first to " << sim.changes[0].difficulty;
    EXPECT_EQ(sim.state.difficulty, 100);
    EXPECT_NEAR(sim.shares, 360u, 1u);
}

TEST(vardiff, changes_within_ten_percent_are_ignored) {
    const port_config port = make_port(100, 0.001, 1e6);
    // 3 shares in 33 s: 11 s apart, 90.9 wanted, 9.1 % lower: no change, but
    // a new window starts.
    vardiff_state s = vardiff_start(port, 100, 0);
    EXPECT_FALSE(vardiff_on_share(s, port, 11));
    EXPECT_FALSE(vardiff_on_share(s, port, 22));
    EXPECT_FALSE(vardiff_on_share(s, port, 33));
    EXPECT_EQ(s.difficulty, 100);
    EXPECT_EQ(s.shares, 0u);
    EXPECT_EQ(s.window_start, 33);

    // 3 shares in 34 s: 88.2 wanted, 11.8 % lower: changed.
    s = vardiff_start(port, 100, 0);
    EXPECT_FALSE(vardiff_on_share(s, port, 12));
    EXPECT_FALSE(vardiff_on_share(s, port, 23));
    const auto d = vardiff_on_share(s, port, 34);
    ASSERT_TRUE(d);
    EXPECT_DOUBLE_EQ(*d, 100 * 10 / (34.0 / 3));

    // 4 shares in 36 s: 111.1 wanted, 11.1 % higher: changed; 4 in 36.67 s
    // (109.1 wanted) not.
    s = vardiff_start(port, 100, 0);
    for (double t : {9.0, 18.0, 27.0}) EXPECT_FALSE(vardiff_on_share(s, port, t));
    const auto up = vardiff_on_share(s, port, 36);
    ASSERT_TRUE(up);
    EXPECT_DOUBLE_EQ(*up, 100 * 10 / 9.0);
    s = vardiff_start(port, 100, 0);
    for (double t : {9.0, 18.0, 27.0}) EXPECT_FALSE(vardiff_on_share(s, port, t));
    EXPECT_FALSE(vardiff_on_share(s, port, 36.67));
    EXPECT_EQ(s.difficulty, 100);
}

TEST(vardiff, difficulty_stays_within_the_port_bounds) {
    const port_config port = make_port(8, 2, 64);
    EXPECT_EQ(vardiff_start(port, 1e9, 0).difficulty, 64);
    EXPECT_EQ(vardiff_start(port, 0.01, 0).difficulty, 2);
    EXPECT_EQ(vardiff_start(port, 10, 0).difficulty, 10);

    // At the minimum a quiet miner stays there: nothing to announce.
    vardiff_state s = vardiff_start(port, 3, 0);
    auto d = vardiff_on_tick(s, port, 60);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, 2);  // 1.5 wanted
    EXPECT_FALSE(vardiff_on_tick(s, port, 120));
    EXPECT_FALSE(vardiff_on_tick(s, port, 1e6));
    EXPECT_EQ(s.difficulty, 2);

    // At the maximum a flood changes nothing.
    s = vardiff_start(port, 64, 0);
    for (int i = 1; i <= 100; ++i) EXPECT_FALSE(vardiff_on_share(s, port, i * 0.05)) << i;
    EXPECT_EQ(s.difficulty, 64);
}

TEST(vardiff, clamp_handles_nonsense_and_bounds) {
    const port_config port = make_port(8, 2, 64);
    EXPECT_EQ(vardiff_clamp(port, std::numeric_limits<double>::quiet_NaN()), 8);
    EXPECT_EQ(vardiff_clamp(port, std::numeric_limits<double>::infinity()), 8);
    EXPECT_EQ(vardiff_clamp(port, -std::numeric_limits<double>::infinity()), 8);
    EXPECT_EQ(vardiff_clamp(port, 0), 8);
    EXPECT_EQ(vardiff_clamp(port, -0.0), 8);
    EXPECT_EQ(vardiff_clamp(port, -1), 8);
    EXPECT_EQ(vardiff_clamp(port, 1), 2);
    EXPECT_EQ(vardiff_clamp(port, 1e300), 64);
    EXPECT_EQ(vardiff_clamp(port, 2), 2);
    EXPECT_EQ(vardiff_clamp(port, 64), 64);
    EXPECT_EQ(vardiff_clamp(port, 33.5), 33.5);
    EXPECT_EQ(vardiff_start(port, std::numeric_limits<double>::quiet_NaN(), 5).difficulty, 8);
    EXPECT_EQ(vardiff_start(port, -3, 5).window_start, 5);
}

}  // namespace
}  // namespace bmm::stratum
