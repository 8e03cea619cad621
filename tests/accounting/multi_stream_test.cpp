// A stream per bmm-stratum instance (issue 17): three real bmm-stratum
// processes (instance ids 1-3) each publish to their own Redis stream
// "bmm:shares:{k}" (a Redis Cluster hash tag); two bmm-accountd processes
// (consumers "one" and "two" of one group) read all three ([redis] streams);
// real bmm-miner processes mine through them into litecoind regtest.
//   - While instance 3 is idle (no miner), epochs still close: an idle stream
//     holds no close back.
//   - Then reading stream 3 is refused by Redis itself (an ACL selector lets
//     the default user XREADGROUP only streams 1 and 2; XADD, XINFO and
//     XPENDING stay allowed): instance 3's shares wait in its stream, the
//     other streams are still stored, and the epoch of those shares does not
//     close although it is due and streams 1 and 2 are stored past its
//     cutoff. Once the ACL is lifted the readers of stream 3 connect again,
//     store it, and the epoch closes with those shares in it (not late).
//   - Every share record of every stream is stored exactly once, with its
//     instance; every closed epoch credits each account that has accepted
//     shares in it; `bmm-accountd audit` (which reads every stream) is clean.
//   - A stream with a backlog of many rounds does not starve a quiet one.
//
// Its own test binary: the ledger is one per database, so this file owns its stack.

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/redis.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bmm::accounting {
namespace {

using test::bin;
using test::query;
using test::scalar;
using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

constexpr std::int64_t k_length_s = 4;     // [epochs] length_seconds
constexpr std::int64_t k_grace_ms = 1000;  // [epochs] close_grace_ms

std::string stream_of(int k) { return "bmm:shares:{" + std::to_string(k) + "}"; }

using test::redis_conn;

// The uids of the share records of `stream`.
std::set<std::string> share_uids(redis_conn& redis, const std::string& stream) {
    std::set<std::string> out;
    for (auto& m : redis.records(stream)) {
        if (m["type"] == "share") {
            out.insert(m["uid"]);
        }
    }
    return out;
}

// Redis refuses XREADGROUP on stream 3 to the default user (every client
// here): a reader that cannot read one stream, for real.
void refuse_reading_stream_3(redis_conn& r) {
    ASSERT_EQ(r.run({"ACL", "SETUSER", "default", "-xreadgroup",
                     "(+xreadgroup ~" + stream_of(1) + " ~" + stream_of(2) + ")"}),
              "OK");
}
void allow_reading_every_stream(redis_conn& r) {
    ASSERT_EQ(r.run({"ACL", "SETUSER", "default", "+xreadgroup", "clearselectors"}), "OK");
}

std::string write_config(const std::string& consumer, std::int64_t genesis) {
    return test::write_stack_file(
        "accountd", consumer + ".toml",
        test::postgres_toml() +
            test::redis_toml_lines("streams = [\"" + stream_of(1) + "\", \"" + stream_of(2) + "\", \"" + stream_of(3) +
                                   "\"]\ngroup = \"accountd\"\nconsumer = \"" + consumer + "\"\n") +
            test::node_toml() + test::ingest_toml() + test::epochs_toml(k_length_s, genesis, k_grace_ms) +
            "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\npool_address = \"" +
            st().setting("BMM_POOL_ADDRESS") + "\"\n" + "[payout]\nwallet = \"pool\"\n" + "[log]\nlevel = \"info\"\n");
}

// The number of the last closed epoch, -1 when none is.
long long last_closed() {
    return std::stoll(scalar("SELECT coalesce(max(k), -1) FROM epochs WHERE closed_at IS NOT NULL"));
}

// Accounts with accepted shares, counted in their own time's epoch, in a
// closed epoch, that the close did not credit (no account_epochs row with
// work): none when every share reached its epoch's close.
std::vector<std::vector<std::string>> uncredited(std::int64_t genesis) {
    return query(
        "WITH s AS (SELECT account, coalesce(late_epoch, floor((extract(epoch FROM time) - $1::bigint) / $2::bigint)"
        "::bigint) AS k FROM shares WHERE accepted GROUP BY 1, 2) "
        "SELECT s.account, s.k FROM s JOIN epochs e ON e.k = s.k AND e.closed_at IS NOT NULL "
        "WHERE NOT EXISTS (SELECT 1 FROM account_epochs a WHERE a.account = s.account AND a.k = s.k AND a.dpp > 0) "
        "ORDER BY 2, 1",
        {std::to_string(genesis), std::to_string(k_length_s)});
}

TEST(multi_stream, three_instances_two_readers_a_lagging_stream_holds_its_epoch_close) {
    const std::int64_t genesis = test::unix_ms() / 1000 + 2;
    const std::string cfg_one = write_config("one", genesis), cfg_two = write_config("two", genesis);
    ASSERT_NO_THROW(test::migrate_accountd(cfg_one, st().dir() + "/accountd/migrate.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(genesis * 1000 - test::unix_ms() + 1500));

    // Three bmm-stratum instances, each with its own stream.
    std::vector<std::unique_ptr<test::pool_process>> pools;
    std::vector<int> ports;
    for (int k = 1; k <= 3; ++k) {
        ports.push_back(test::free_port_near(28600 + k * 40));
        test::pool_options o;
        o.name = "pool-" + std::to_string(k);
        o.stream = stream_of(k);
        o.instance_id = k;
        o.ports = {ports.back()};
        pools.push_back(std::make_unique<test::pool_process>());
        ASSERT_NO_THROW(pools.back()->start(o));
    }
    // Two readers of all three streams; one of them runs the ledger.
    const std::string log_one = st().dir() + "/accountd/run-one.log", log_two = st().dir() + "/accountd/run-two.log";
    auto one = std::make_unique<test::child_process>(
        std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg_one}, log_one);
    auto two = std::make_unique<test::child_process>(
        std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg_two}, log_two);
    const auto logs = [&] {
        return "--- one:\n" + test::read_text(log_one) + "\n--- two:\n" + test::read_text(log_two);
    };
    auto mine = [&](int k, const std::string& user, const std::string& shares) {
        const std::string log = pools[k - 1]->dir + "/miner-" + user + ".log";
        test::child_process m(
            {bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(ports[k - 1]), "--user", user,
             "--suggest-difficulty", "0.001", "--shares", shares, "--seconds", "90", "--quiet"},
            log);
        EXPECT_EQ(m.wait(120000), 0) << test::read_text(log);
    };
    const auto stored = [](int instance) {
        return std::stoll(scalar("SELECT count(*) FROM shares WHERE instance = $1", {std::to_string(instance)}));
    };
    redis_conn redis;

    // 1. Instances 1 and 2 mine, instance 3 is idle: the epochs of their shares close.
    mine(1, "alice.r1", "5");
    mine(2, "bob.r1", "5");
    ASSERT_TRUE(test::wait_until([&] { return stored(1) >= 5 && stored(2) >= 5; }, 60)) << logs();
    const std::int64_t last_share_ms =
        std::stoll(scalar("SELECT (extract(epoch FROM max(time)) * 1000)::bigint FROM shares"));
    const long long k_last = (last_share_ms - genesis * 1000) / (k_length_s * 1000);
    ASSERT_TRUE(test::wait_until([&] { return last_closed() >= k_last; }, 60))
        << "an idle stream (instance 3) held the close of epoch " << k_last << " back\n"
        << logs();
    EXPECT_EQ(stored(3), 0);
    EXPECT_TRUE(uncredited(genesis).empty());

    // 2. Reading stream 3 refused: instance 3's shares wait in its stream.
    refuse_reading_stream_3(redis);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // reads under way (BLOCK 100 ms) end
    mine(3, "carol.r1", "4");
    const std::set<std::string> carol = share_uids(redis, stream_of(3));
    ASSERT_GE(carol.size(), 4u);
    const std::int64_t carol_last_ms = test::unix_ms();  // no share of carol's is later
    const long long k3 = (carol_last_ms - genesis * 1000) / (k_length_s * 1000);
    const std::int64_t cutoff = genesis * 1000 + (k3 + 1) * k_length_s * 1000 + k_grace_ms;
    // Streams 1 and 2 are stored past epoch k3's cutoff while stream 3 lags.
    while (test::unix_ms() < cutoff + 200) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const long long alice_before = stored(1);
    mine(1, "alice.r2", "3");
    ASSERT_TRUE(test::wait_until([&] { return stored(1) >= alice_before + 3; }, 60))
        << "stream 1 stopped with stream 3\n"
        << logs();
    ASSERT_TRUE(test::wait_until(
        [&] {
            return std::stoll(scalar("SELECT coalesce(max(last_ms), 0) FROM stream_state WHERE grp = 'accountd' AND "
                                     "stream = $1",
                                     {stream_of(1)})) >= cutoff;
        },
        30));
    // The ledger looked at least a few times since (step_ms 200) and waits for stream 3, naming it.
    ASSERT_TRUE(test::wait_until(
        [&] {
            const std::string l = logs();
            return l.find("an epoch close waits for stream " + stream_of(3)) != std::string::npos;
        },
        30))
        << logs();
    EXPECT_EQ(stored(3), 0) << "stream 3 was read although Redis refused it";
    EXPECT_LT(last_closed(), k3) << "epoch " << k3 << " closed before stream 3 was stored past its cutoff";

    // 3. Reading allowed again: stream 3 is stored, and epoch k3 closes with carol's shares in it.
    allow_reading_every_stream(redis);
    ASSERT_TRUE(test::wait_until([&] { return stored(3) >= static_cast<long long>(carol.size()); }, 60)) << logs();
    ASSERT_TRUE(test::wait_until([&] { return last_closed() >= k3; }, 60)) << logs();
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE instance = 3 AND late_epoch IS NOT NULL"), "0")
        << "instance 3's shares were stored after their epoch closed";
    EXPECT_NE(scalar("SELECT dpp FROM account_epochs WHERE account = 'carol' AND k = $1", {std::to_string(k3)}), "");
    const auto missing = uncredited(genesis);
    EXPECT_TRUE(missing.empty()) << missing.size() << " (account, epoch) pairs not credited, first "
                                 << (missing.empty() ? "" : missing[0][0] + " " + missing[0][1]);

    // 4. Every share record of each stream stored exactly once, with its instance.
    for (int k = 1; k <= 3; ++k) {
        const auto uids = share_uids(redis, stream_of(k));
        const auto rows = query("SELECT uid FROM shares WHERE instance = $1", {std::to_string(k)});
        std::multiset<std::string> db_uids;
        for (const auto& r : rows) {
            db_uids.insert(r[0]);
        }
        EXPECT_EQ(db_uids.size(), uids.size()) << stream_of(k);
        EXPECT_EQ(std::set<std::string>(db_uids.begin(), db_uids.end()), uids) << stream_of(k);
    }
    EXPECT_EQ(scalar("SELECT count(*) - count(DISTINCT uid) FROM shares"), "0");
    // Each stream has its own stream_state rows, the entries counted once over both consumers.
    for (int k = 1; k <= 3; ++k) {
        EXPECT_GE(
            std::stoll(scalar("SELECT coalesce(sum(entries), 0) FROM stream_state WHERE stream = $1", {stream_of(k)})),
            static_cast<long long>(share_uids(redis, stream_of(k)).size()))
            << stream_of(k);
    }

    // 5. The audit reads every stream: clean.
    ASSERT_EQ(one->stop(SIGTERM, 20000), 0) << logs();
    ASSERT_EQ(two->stop(SIGTERM, 20000), 0) << logs();
    const std::string audit_log = st().dir() + "/accountd/audit.log";
    test::child_process a({bin("bmm-accountd"), "audit", "--config", cfg_one, "--grace-seconds", "0"}, audit_log);
    EXPECT_EQ(a.wait(120000), 0) << test::read_text(audit_log);
    std::cout << "[ info ] shares stored per instance: " << stored(1) << ", " << stored(2) << ", " << stored(3)
              << "; entries per consumer: "
              << scalar(
                     "SELECT string_agg(consumer || ' ' || stream || ' ' || entries, ', ' ORDER BY stream, "
                     "consumer) FROM stream_state")
              << "\n";
    for (auto& p : pools) {
        p->stop();
    }
}

// Fairness: a stream with a backlog of many rounds does not starve a quiet
// one. 20,000 records wait in one stream, 5 in another, when bmm-accountd
// (ingest only, rounds of 100) starts: the quiet stream's round is stored
// among the first, long before the backlog is through. Each round is one
// transaction, so the rows' xmin orders the rounds as they were committed.
TEST(multi_stream, a_busy_stream_does_not_starve_a_quiet_one) {
    const std::string busy = "bmm:fair:{1}", quiet = "bmm:fair:{2}";
    const std::string dir = st().dir() + "/accountd";
    const std::string cfg = test::write_stack_file(
        "accountd", "fair.toml",
        test::postgres_toml() +
            test::redis_toml_lines("streams = [\"" + busy + "\", \"" + quiet +
                                   "\"]\ngroup = \"fair\"\nconsumer = \"fair\"\n") +
            "[ingest]\nbatch_size = 100\nblock_ms = 100\nauto_accounts = false\n" + "[log]\nlevel = \"info\"\n");
    ASSERT_NO_THROW(test::migrate_accountd(cfg, dir + "/fair-migrate.log"));
    redis_conn redis;
    const std::int64_t t0 = test::unix_ms();
    const auto add = [&](const std::string& stream, int instance, int n) {
        std::vector<std::vector<std::pair<std::string, std::string>>> rs;
        for (int i = 0; i < n; ++i) {
            const std::string uid = "fair:" + std::to_string(instance) + ":" + std::to_string(i);
            std::vector<std::pair<std::string, std::string>> fields{
                {"type", "share"},
                {"instance", std::to_string(instance)},
                {"coin", "LTC"},
                {"algorithm", "scrypt"},
                {"account", "fair" + std::to_string(instance)},
                {"worker", "w"},
                {"ip", "127.0.0.1"},
                {"job", "1"},
                {"height", "500"},
                {"difficulty", "1"},
                {"target", "0000ffff00000000000000000000000000000000000000000000000000000000"},
                {"accepted", "1"},
                {"code", "0"},
                {"reason", ""},
                {"block", "0"},
                {"time_ms", std::to_string(t0 - 30000 + i)},
                {"hash", test::fake_pow(uid)},
                {"uid", uid}};
            rs.push_back(std::move(fields));
        }
        ASSERT_NO_THROW(redis.xadd(stream, rs));
    };
    constexpr int k_backlog = 20000, k_quiet = 5;
    add(busy, 41, k_backlog);
    add(quiet, 42, k_quiet);
    const std::string log = dir + "/fair-run.log";
    test::child_process acc({bin("bmm-accountd"), "run", "--config", cfg}, log);
    const auto stored = [](int instance) {
        return std::stoll(scalar("SELECT count(*) FROM shares WHERE instance = $1", {std::to_string(instance)}));
    };
    ASSERT_TRUE(test::wait_until([&] { return stored(41) == k_backlog && stored(42) == k_quiet; }, 120))
        << test::read_text(log);
    // Rounds of the busy stream committed after the quiet stream's last round.
    const long long after =
        std::stoll(scalar("SELECT count(DISTINCT xmin::text) FROM shares WHERE instance = 41 AND xmin::text::bigint > "
                          "(SELECT max(xmin::text::bigint) FROM shares WHERE instance = 42)"));
    const long long rounds = std::stoll(scalar("SELECT count(DISTINCT xmin::text) FROM shares WHERE instance = 41"));
    std::cout << "[ info ] busy stream: " << rounds << " rounds, " << after
              << " of them stored after the quiet stream's\n";
    EXPECT_GE(rounds, k_backlog / 100);
    EXPECT_GE(after, rounds / 2) << "the quiet stream waited for the busy stream's backlog";
    EXPECT_EQ(scalar("SELECT count(*) - count(DISTINCT uid) FROM shares WHERE instance IN (41, 42)"), "0");
    EXPECT_EQ(acc.stop(SIGTERM, 20000), 0) << test::read_text(log);
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment());
    return RUN_ALL_TESTS();
}
