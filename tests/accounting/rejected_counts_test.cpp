// Rejected shares are counts, not rows, and [ingest] keep_days keeps what the
// ledger still needs (issue 13, items 5 and 11), on the real stack:
//  - an authorised hostile client floods the real bmm-stratum with thousands of
//    rejected shares (low difficulty, duplicate, unknown job, ntime out of
//    range) while bmm-miner mines accepted ones; bmm-accountd stores no row of
//    shares for a rejected share, share_minutes holds exactly what the pool
//    answered per reason, a redelivery of every record (each sent again with a
//    new stream id, then the whole stream read again as after a crash between
//    COMMIT and XACK) counts nothing twice, the accepted shares are the same,
//    and `bmm-accountd audit` (with the records check against the stream) is
//    clean. The bytes in PostgreSQL per 100,000 rejected shares are printed,
//    as rows (the same records under a uid the counting does not take, so
//    stored the old way) and as counts.
//  - keep_days = 1 with an open epoch whose shares are three days old keeps
//    their partitions (and says why); once the epoch is closed they are dropped.
//
// Its own test binary: `bmm-accountd audit` checks the whole database.

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/redis.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"
#include "../support/stratum_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
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

std::string write_config(const std::string& name, const std::string& stream, const std::string& more) {
    return test::write_stack_file(
        "accountd", name + ".toml",
        test::postgres_toml() + test::redis_toml(stream) + test::node_toml() + more + "[log]\nlevel = \"info\"\n");
}

// A log's text so far ("" before the process made it).
std::string log_text(const std::string& path) {
    return std::filesystem::exists(path) ? test::read_text(path) : std::string();
}

// Stored up to the stream's last id `last` by consumer one.
bool stored_through(const std::string& stream, const std::string& last) {
    const auto dash = last.find('-');
    return scalar(
               "SELECT count(*) FROM stream_state WHERE stream = $1 AND consumer = 'one' AND "
               "(last_ms, last_seq) >= ($2::bigint, $3::bigint)",
               {stream, last.substr(0, dash), last.substr(dash + 1)}) == "1";
}

// Per column: what share_minutes holds for `account`.
std::map<std::string, long long> minute_sums(const std::string& account) {
    std::map<std::string, long long> out;
    const auto rows = query(
        "SELECT coalesce(sum(accepted), 0), coalesce(sum(rejected), 0), coalesce(sum(rejected_other), 0), "
        "coalesce(sum(rejected_stale), 0), coalesce(sum(rejected_duplicate), 0), "
        "coalesce(sum(rejected_low_difficulty), 0), coalesce(sum(rejected_unauthorized), 0), "
        "coalesce(sum(rejected_not_subscribed), 0), coalesce(sum(blocks), 0) FROM share_minutes WHERE account = $1",
        {account});
    const char* names[] = {"accepted", "rejected", "20", "21", "22", "23", "24", "25", "blocks"};
    for (int i = 0; i < 9; ++i) {
        out[names[i]] = std::stoll(rows[0][static_cast<std::size_t>(i)]);
    }
    return out;
}

long long relation_bytes(const std::string& rel) {
    return std::stoll(scalar("SELECT coalesce(pg_total_relation_size(to_regclass($1)), 0)", {rel}));
}

// Today's share partition, counted_records and share_minutes.
long long store_bytes() {
    const std::string today = scalar("SELECT 'shares_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')");
    return relation_bytes(today) + relation_bytes("counted_records") + relation_bytes("share_minutes");
}

TEST(rejected_counts, a_flood_of_rejected_shares_is_counted_once_per_minute_and_reason_never_stored_as_rows) {
    const std::string stream = "bmm:test:rejects";
    const std::string cfg = write_config("rejects", stream, "[ingest]\nbatch_size = 500\nblock_ms = 100\n");
    ASSERT_NO_THROW(test::reset_schema(cfg));
    const int port = test::free_port_near(31200);
    test::pool_process pool;
    test::pool_options o;
    o.name = "pool-rejects";
    o.stream = stream;
    o.instance_id = 11;
    o.ports = {port};
    // The flood is not banned: this test is about what is stored of it.
    o.sections =
        "[limits]\nmax_shares_per_second = 1000000\nfree_rejects_per_minute = 1000000\nban_threshold = 1000000000\n";
    ASSERT_NO_THROW(pool.start(o));
    const std::string acc_log = st().dir() + "/accountd/rejects-run.log";
    auto acc = std::make_unique<test::child_process>(
        std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg}, acc_log);

    // Accepted shares from an honest miner.
    {
        const std::string log = pool.dir + "/miner.log";
        test::child_process m(
            {bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(port), "--user", "honest.r1",
             "--suggest-difficulty", "0.001", "--shares", "6", "--seconds", "90", "--quiet"},
            log);
        ASSERT_EQ(m.wait(120000), 0) << test::read_text(log);
    }

    // The hostile client: authorised, then low-difficulty shares, each sent twice (a duplicate), a share of a
    // job that does not exist and one with ntime out of range. What the pool answered is the truth to match.
    std::map<int, long long> told;  // error code -> count (0: accepted)
    {
        test::stratum_client c(port);
        std::string why;
        ASSERT_TRUE(c.login("hostile.r1", &why)) << why;
        auto answer = [&](int id) {
            auto r = c.reply(id, 5000);
            ASSERT_TRUE(r.received) << "the pool did not answer submit " << id;
            ++told[r.ok ? 0 : r.code];
        };
        for (int i = 0; i < 1000; ++i) {
            c.drain(0);
            // Misses the target of difficulty 2^-15 and the network target: never a block.
            auto s = c.find_share(pow_algorithm::scrypt, 1.0 / 32768, /*want_low=*/true);
            answer(c.submit(s));
            answer(c.submit(s));
            auto unknown = s;
            unknown.job_id = "ffffff" + std::to_string(i % 10);
            answer(c.submit(unknown));
            if (i % 4 == 0) {
                auto late = s;
                late.ntime = "00000001";
                late.en2 = late.en2.substr(0, late.en2.size() - 1) + (late.en2.back() == '0' ? '1' : '0');
                answer(c.submit(late));
            }
        }
    }
    long long rejected = 0;
    for (const auto& [code, n] : told) {
        rejected += code ? n : 0;
    }
    ASSERT_GE(rejected, 3000) << "the flood was not rejected as planned";
    EXPECT_GT(told[21], 0);
    EXPECT_GT(told[22], 0);
    EXPECT_GT(told[23], 0);
    EXPECT_GT(told[20], 0);

    const auto stored_as_told = [&] {
        auto m = minute_sums("hostile");
        return m["rejected"] == rejected && m["accepted"] == told[0];
    };
    ASSERT_TRUE(test::wait_until(stored_as_told, 90)) << test::read_text(acc_log);
    const auto expect_counts = [&](const std::string& when) {
        SCOPED_TRACE(when);
        auto m = minute_sums("hostile");
        EXPECT_EQ(m["rejected"], rejected);
        for (int code = 20; code <= 25; ++code) {
            EXPECT_EQ(m[std::to_string(code)], told[code]) << "code " << code;
        }
        EXPECT_EQ(m["accepted"], told[0]);
        EXPECT_EQ(m["blocks"], 0);
        EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'hostile' AND NOT accepted"), "0")
            << "a rejected share that is not a block is never a row";
    };
    expect_counts("first delivery");
    const auto honest =
        query("SELECT uid, time::text, work::text, hash FROM shares WHERE account = 'honest' ORDER BY uid");
    ASSERT_GE(honest.size(), 6u);
    const auto honest_minutes = minute_sums("honest");
    EXPECT_EQ(std::to_string(honest_minutes.at("accepted")),
              scalar("SELECT count(*) FROM shares WHERE account = 'honest' AND accepted"));
    // Its rejected shares that were blocks (stale: regtest blocks come fast) keep their rows.
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'honest' AND NOT accepted AND NOT block"), "0");
    const std::string runs = scalar("SELECT count(*) FROM counted_records");

    // Redelivery 1: every record of the stream sent again with a new stream id (bmm-stratum's journal
    // sending what Redis took but did not confirm).
    test::redis_conn redis;
    const auto entries = redis.entries(stream);
    std::vector<std::vector<std::pair<std::string, std::string>>> again;
    for (const auto& e : entries) {
        again.push_back(e.fields);
    }
    const std::string last = redis.xadd(stream, again);
    ASSERT_TRUE(test::wait_until([&] { return stored_through(stream, last); }, 90)) << test::read_text(acc_log);
    expect_counts("every record sent again");

    // Redelivery 2: bmm-accountd killed, and the whole stream read again from its start, as when a crash came
    // between COMMIT and XACK and nothing told the ingest what it had stored (stream_state gone too).
    acc->signal(SIGKILL);
    acc->wait(20000);
    query("DELETE FROM stream_state WHERE stream = $1", {stream});
    redis.run({"XGROUP", "SETID", stream, "accountd", "0"});
    acc = std::make_unique<test::child_process>(std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg},
                                                acc_log);
    ASSERT_TRUE(test::wait_until([&] { return stored_through(stream, last); }, 90)) << test::read_text(acc_log);
    expect_counts("the stream read again from its start");
    EXPECT_TRUE(query("SELECT uid, time::text, work::text, hash FROM shares WHERE account = 'honest' ORDER BY uid") ==
                honest)
        << "the accepted shares are untouched";
    EXPECT_TRUE(minute_sums("honest") == honest_minutes);

    // The audit, with the records check (journal sequence, stream tail, stream counts), is clean.
    {
        const std::string log = st().dir() + "/accountd/rejects-audit.log";
        test::child_process a({bin("bmm-accountd"), "audit", "--config", cfg, "--skip-chain", "--grace-seconds", "0"},
                              log);
        EXPECT_EQ(a.wait(120000), 0) << test::read_text(log);
    }
    // A counted record taken out of its run is a hole the audit names.
    {
        const auto r =
            query("SELECT instance, boot, lo, hi FROM counted_records WHERE hi > lo + 2 ORDER BY lo LIMIT 1");
        ASSERT_EQ(r.size(), 1u);
        const std::string mid = std::to_string(std::stoll(r[0][2]) + 1);
        query("CREATE TABLE planted_runs AS SELECT * FROM counted_records WHERE instance = $1 AND lo = $2",
              {r[0][0], r[0][2]});
        query("UPDATE counted_records SET hi = $3::bigint - 1 WHERE instance = $1 AND lo = $2",
              {r[0][0], r[0][2], mid});
        query(
            "INSERT INTO counted_records SELECT instance, boot, $1::bigint + 1, hi, first_time, last_time, "
            "first_stream_ms, last_stream_ms FROM planted_runs",
            {mid});
        const std::string log = st().dir() + "/accountd/rejects-audit-hole.log";
        test::child_process a({bin("bmm-accountd"), "audit", "--config", cfg, "--skip-chain", "--grace-seconds", "0"},
                              log);
        EXPECT_EQ(a.wait(120000), 1) << test::read_text(log);
        const std::string uid = "11:" + r[0][1] + ":" + mid;
        EXPECT_NE(test::read_text(log).find("1 of its records (uid " + uid + ")"), std::string::npos)
            << test::read_text(log);
        query("DELETE FROM counted_records WHERE instance = $1 AND lo >= $2::bigint AND lo <= $3::bigint",
              {r[0][0], r[0][2], r[0][3]});
        query("INSERT INTO counted_records SELECT * FROM planted_runs");
        query("DROP TABLE planted_runs");
    }

    std::printf("[ measure  ] %lld rejected shares from the hostile client: %s run(s) in counted_records\n", rejected,
                runs.c_str());
    EXPECT_EQ(acc->stop(SIGTERM, 20000), 0);
    pool.stop();
}

// 100,000 rejected shares (the four reasons, four workers, over about two minutes), as bmm-stratum writes
// them: the bytes PostgreSQL grows by, stored as counts (this build) and as rows (the same records under
// uids the counting does not take, so stored one row each as before sql/0026).
TEST(rejected_counts, bytes_per_100000_rejected_shares_as_counts_and_as_rows) {
    const std::string stream = "bmm:test:rejects-bytes";
    const std::string cfg = write_config("rejects-bytes", stream, "[ingest]\nbatch_size = 5000\nblock_ms = 100\n");
    ASSERT_NO_THROW(test::reset_schema(cfg));
    query("SELECT bmm_ensure_share_partition((now() AT TIME ZONE 'UTC')::date)");
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const int codes[] = {21, 22, 23, 20};
    const char* reasons[] = {"job not found", "duplicate share", "low difficulty share", "ntime out of range"};
    const auto records = [&](const std::string& uid_prefix, const std::string& account) {
        std::vector<std::vector<std::pair<std::string, std::string>>> rs;
        rs.reserve(100000);
        for (int i = 0; i < 100000; ++i) {
            const int k = i % 4;
            rs.push_back({{"type", "share"},
                          {"instance", "12"},
                          {"coin", "LTC"},
                          {"algorithm", "scrypt"},
                          {"account", account},
                          {"worker", "rig" + std::to_string(i % 4)},
                          {"ip", "127.0.0.1"},
                          {"job", k == 0 ? "ffffff" : "3a"},
                          {"height", "812"},
                          {"difficulty", "0.001"},
                          {"target", k == 0 ? "" : "0000000000ffff00000000000000000000000000000000000000000000000000"},
                          {"accepted", "0"},
                          {"code", std::to_string(codes[k])},
                          {"reason", reasons[k]},
                          {"block", "0"},
                          {"time_ms", std::to_string(now_ms - 120000 + i)},
                          {"hash", k == 0 ? "" : test::fake_pow("bytes:" + std::to_string(i))},
                          {"uid", uid_prefix + "12:1764000000000:" + std::to_string(i)}});
        }
        return rs;
    };
    test::redis_conn redis;
    const auto ingest = [&](const std::vector<std::vector<std::pair<std::string, std::string>>>& rs) {
        const long long before = store_bytes();
        const std::string last = redis.xadd(stream, rs);
        test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, st().dir() + "/accountd/bytes.log");
        EXPECT_TRUE(test::wait_until([&] { return stored_through(stream, last); }, 120))
            << test::read_text(st().dir() + "/accountd/bytes.log");
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
        return store_bytes() - before;
    };
    const long long as_counts = ingest(records("", "bytescounted"));
    EXPECT_EQ(scalar("SELECT sum(rejected) FROM share_minutes WHERE account = 'bytescounted'"), "100000");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'bytescounted'"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM counted_records WHERE instance = 12"), "1");
    const long long as_rows = ingest(records("rows-", "bytesrows"));
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'bytesrows'"), "100000");
    std::printf(
        "[ measure  ] PostgreSQL bytes per 100,000 rejected shares (today's shares partition, "
        "share_minutes, counted_records): as rows %lld, as counts %lld\n",
        as_rows, as_counts);
    EXPECT_LT(as_counts * 100, as_rows) << "counts cost less than a hundredth of the rows";
}

TEST(rejected_counts, keep_days_keeps_the_partitions_an_open_epoch_needs_and_drops_them_once_it_is_closed) {
    // Epoch 0 is [3 days ago, 1 day ago) (UTC midnights): its shares are older than keep_days = 1.
    const std::int64_t today = test::unix_seconds() / 86400 * 86400;
    const std::int64_t genesis = today - 3 * 86400;
    const std::string stream = "bmm:test:keep";
    const auto config = [&](const std::string& name, const std::string& ingest, std::int64_t grace_ms) {
        return write_config(name, stream,
                            "[ingest]\nbatch_size = 500\nblock_ms = 100\n" + ingest +
                                "[epochs]\nlength_seconds = 172800\ngenesis = " + std::to_string(genesis) +
                                "\nclose_grace_ms = " + std::to_string(grace_ms) +
                                "\nstep_ms = 200\n[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = "
                                "\"pp\"\nmaturity = 100\n");
    };
    // A grace of two days: epoch 0 (ended a day ago) stays open.
    const std::string open_cfg = config("keep-open", "", 172800000);
    ASSERT_NO_THROW(test::reset_schema(open_cfg));
    std::vector<std::vector<std::pair<std::string, std::string>>> rs;
    for (int i = 0; i < 40; ++i) {
        const std::int64_t ms = (genesis + 3600 + (i % 2) * 86400) * 1000 + i;  // days -3 and -2
        rs.push_back({{"type", "share"},
                      {"instance", "5"},
                      {"coin", "LTC"},
                      {"algorithm", "scrypt"},
                      {"account", "keeper"},
                      {"worker", "w"},
                      {"ip", "127.0.0.1"},
                      {"job", "1"},
                      {"height", "500"},
                      {"difficulty", "0.001"},
                      {"target", "0000ffff00000000000000000000000000000000000000000000000000000000"},
                      {"accepted", "1"},
                      {"code", "0"},
                      {"reason", ""},
                      {"block", "0"},
                      {"time_ms", std::to_string(ms)},
                      {"hash", test::fake_pow("keep:" + std::to_string(i))},
                      {"uid", "5:1:" + std::to_string(i)}});
    }
    test::redis_conn redis;
    const std::string last = redis.xadd(stream, rs);
    const auto day_name = [](std::int64_t s) {
        return scalar("SELECT 'shares_' || to_char(to_timestamp($1::bigint) AT TIME ZONE 'UTC', 'YYYYMMDD')",
                      {std::to_string(s)});
    };
    const std::string d3 = day_name(genesis), d2 = day_name(genesis + 86400);
    const std::string log1 = st().dir() + "/accountd/keep-open.log";
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", open_cfg}, log1);
        ASSERT_TRUE(test::wait_until([&] { return stored_through(stream, last); }, 60)) << test::read_text(log1);
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    }
    ASSERT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'keeper'"), "40");
    // keep_days = 1 while epoch 0 is open: both days are kept, and the log says why.
    const std::string held_cfg = config("keep-held", "keep_days = 1\n", 172800000);
    const std::string log2 = st().dir() + "/accountd/keep-held.log";
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", held_cfg}, log2);
        ASSERT_TRUE(
            test::wait_until([&] { return log_text(log2).find("keep_days = 1 would drop") != std::string::npos; }, 60))
            << test::read_text(log2);
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    }
    EXPECT_NE(test::read_text(log2).find("epoch 0 (from"), std::string::npos) << test::read_text(log2);
    EXPECT_EQ(scalar("SELECT to_regclass($1) IS NOT NULL", {d3}), "t") << test::read_text(log2);
    EXPECT_EQ(scalar("SELECT to_regclass($1) IS NOT NULL", {d2}), "t");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'keeper'"), "40");
    EXPECT_EQ(scalar("SELECT count(*) FROM epochs WHERE k = 0 AND closed_at IS NOT NULL"), "0");

    // The grace over: epoch 0 closes (with its shares' work), and then keep_days drops its days.
    const std::string close_cfg = config("keep-close", "keep_days = 1\n", 1500);
    const std::string log3 = st().dir() + "/accountd/keep-close.log";
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", close_cfg}, log3);
        ASSERT_TRUE(test::wait_until(
            [&] { return scalar("SELECT count(*) FROM epochs WHERE k = 0 AND closed_at IS NOT NULL") == "1"; }, 60))
            << test::read_text(log3);
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    }
    EXPECT_NE(scalar("SELECT coalesce(sum(dpp), 0) FROM account_epochs WHERE k = 0 AND account = 'keeper'"), "0")
        << "epoch 0 closed with its shares";
    const std::string log4 = st().dir() + "/accountd/keep-drop.log";
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", close_cfg}, log4);
        ASSERT_TRUE(test::wait_until([&] { return scalar("SELECT to_regclass($1) IS NULL", {d2}) == "t"; }, 60))
            << test::read_text(log4);
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    }
    EXPECT_EQ(scalar("SELECT to_regclass($1) IS NULL", {d3}), "t");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account = 'keeper'"), "0");
    EXPECT_NE(test::read_text(log4).find("dropped " + d3), std::string::npos) << test::read_text(log4);
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
