// A block's fate after its booking (issue 13 item 3), against the real stack:
// litecoind regtest makes orphans and returns (invalidateblock,
// reconsiderblock), bmm-accountd follows them, bmm-payout reserves a balance.
//   - an orphan verdict takes [coins.LTC] orphan_readings readings of
//     confirmations -1, orphan_reading_blocks node heights apart;
//   - an orphaned block back in the main chain is booked again (its reversal
//     reversed), idempotently;
//   - a block the node does not know (-5) is orphaned after
//     unknown_orphan_seconds;
//   - a block orphaned after it matured is taken back from the available
//     balance it went to, below zero when that was reserved for a payout: a
//     debt the audit accepts (and no further), that the planner does not pay
//     and that later earnings repay;
//   - a pplns block whose finding share is missing is parked (later epochs
//     close), listed, and resolved by `bmm-accountd block resolve`.
// `bmm-accountd audit` is clean after each step.
//
// Its own test binary: the ledger is one per database.

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/records.hpp"
#include "../support/redis.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/target.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace bmm::accounting {
namespace {

using test::stack_environment;
using record = std::map<std::string, std::string>;
using test::bin;
using test::query;
using test::reset_schema;
using test::scalar;
using test::wait_until;

stack_environment& st() { return stack_environment::get(); }

struct settings {
    std::int64_t genesis = 0, length = 3;
    std::string scheme = "pp";
    int api_port = 0;  // > 0: `run` serves the API (and /metrics) there
};

std::string write_config(const std::string& stream, const settings& s) {
    return test::write_stack_file(
        "accountd", "fate.toml",
        test::postgres_toml() + test::redis_toml(stream) + test::node_toml() + test::ingest_toml() +
            test::epochs_toml(s.length, s.genesis) + "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"" +
            s.scheme +
            "\"\npplns_n_ppm = 2000000\nmaturity = 3\norphan_readings = 2\norphan_reading_blocks = 2\n"
            "unknown_orphan_seconds = 2\n"
            "[payout]\nwallet = \"pool\"\n" +
            (s.api_port > 0 ? "[api]\nhost = \"127.0.0.1\"\nport = " + std::to_string(s.api_port) + "\n" : "") +
            "[log]\nlevel = \"info\"\n");
}

void xadd_at(const std::string& stream, const std::vector<record>& rs) { test::redis_conn().xadd_at(stream, rs); }

// Runs a program to its end; its exit code and output.
struct ran {
    int code = -1;
    std::string out;
};
ran run(const std::vector<std::string>& args, const std::string& name) {
    const std::string log = st().dir() + "/accountd/" + name + ".log";
    test::child_process p(args, log);
    ran r;
    r.code = p.wait(120000);
    r.out = test::read_text(log);
    return r;
}

ran audit(const std::string& cfg, const std::string& name) {
    return run({bin("bmm-accountd"), "audit", "--config", cfg}, "audit-" + name);
}

// Shares of two accounts in the epoch now, and block records (hash, height) by "early".
std::vector<record> epoch_records(std::int64_t t0, const std::vector<std::pair<std::string, std::string>>& blocks) {
    std::vector<record> rs;
    for (int i = 0; i < 20; ++i) {
        rs.push_back(test::share_record(i % 2 ? "early" : "late",
                                        target_from_difficulty(0.001 * (1 + i % 3), pow_algorithm::scrypt)->to_hex(),
                                        t0 + i * 10, "fate:" + std::to_string(t0) + ":" + std::to_string(i)));
    }
    int n = 0;
    for (const auto& [hash, height] : blocks) {
        rs.push_back(test::block_record(hash, height, "early", "5000000000", t0 + 300 + n * 10, "fate:block:" + hash));
        ++n;
    }
    return rs;
}

// n blocks to a new address each time (a block mined again on the same parent
// to the same address could be the very block invalidated before); the first one's hash.
std::string generate(int n, const std::string&) {
    const std::string to = st().cli("-rpcwallet=pool getnewaddress");
    const std::string json = st().cli("generatetoaddress " + std::to_string(n) + " " + to);
    if (json.find('"') == std::string::npos) {
        throw std::runtime_error("generatetoaddress: " + json);
    }
    return json.substr(json.find('"') + 1, 64);
}

std::string sum_of(const std::string& kind, const std::string& hash) {
    return scalar("SELECT coalesce(sum(amount), 0) FROM ledger_transfers WHERE kind = $1 AND reference = $2",
                  {kind, "block:" + hash});
}

TEST(block_fate, orphan_readings_apart_a_return_rebooks_and_a_late_orphan_is_a_debt) {
    const std::string addr = st().cli("-rpcwallet=pool getnewaddress");
    const std::string victim = generate(1, addr);
    const std::int64_t h = std::stoll(st().cli("getblockcount"));
    const std::string unknown(64, 'e');  // a block no node has ever seen

    settings s;
    const std::int64_t t0 = test::unix_ms();
    s.genesis = t0 / 1000 - 1;
    const std::string cfg = write_config("bmm:test:fate", s);
    reset_schema(cfg);
    xadd_at("bmm:test:fate", epoch_records(t0 - 900, {{victim, std::to_string(h)}, {unknown, std::to_string(h)}}));
    const std::string log = st().dir() + "/accountd/fate.log";
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, log);

    // Booked at the close of epoch 0; the unknown block is orphaned once -5 has lasted 2 s.
    ASSERT_TRUE(wait_until([&] { return sum_of("block_miner", victim) != "0"; }, 60)) << test::read_text(log);
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {unknown}) == "orphaned"; }, 60))
        << test::read_text(log);
    EXPECT_EQ(sum_of("block_orphan", unknown), "5000000000");
    EXPECT_NE(test::read_text(log).find("unknown to the node for"), std::string::npos);
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {victim}), "immature");

    // Off the main chain: one reading is not a verdict, nor two less than 2 heights apart.
    st().cli("invalidateblock " + victim);
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT orphan_readings FROM blocks WHERE hash = $1", {victim}) == "1"; }, 30))
        << test::read_text(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // several steps of the daemon
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {victim}), "immature");
    const std::string rival = generate(1, addr);  // height h: one height past the first reading
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(scalar("SELECT status || ' ' || orphan_readings FROM blocks WHERE hash = $1", {victim}), "immature 1");
    generate(1, addr);  // two past it: the second reading is the verdict
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {victim}) == "orphaned"; }, 30))
        << test::read_text(log) << "\nnode: " << st().cli("getblockcount") << "\n"
        << st().cli("getblockheader " + victim) << "\n"
        << scalar(
               "SELECT status || ' ' || orphan_readings || ' ' || coalesce(orphan_reading_height, -1) FROM blocks "
               "WHERE hash = $1",
               {victim});
    EXPECT_EQ(sum_of("block_orphan", victim), "5000000000");
    EXPECT_EQ(scalar("SELECT coalesce(sum(balance), 0) FROM balances WHERE account = 'user:early:immature'"), "0");
    auto a1 = audit(cfg, "orphaned");
    EXPECT_EQ(a1.code, 0) << a1.out;

    // It comes back (the rival branch invalidated): its reversal is reversed, status immature.
    st().cli("reconsiderblock " + victim);
    st().cli("invalidateblock " + rival);
    ASSERT_EQ(st().cli("getbestblockhash"), victim);
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {victim}) == "immature"; }, 30))
        << test::read_text(log);
    EXPECT_EQ(sum_of("block_return", victim), "5000000000");
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger_transfers WHERE kind = 'block_return' AND reference = $1 "
                     "AND id NOT LIKE $2",
                     {"block:" + victim, "block:" + victim + ":return:1:%"}),
              "0");
    auto a2 = audit(cfg, "returned");
    EXPECT_EQ(a2.code, 0) << a2.out;

    // Buried to maturity (3 confirmations): released.
    generate(2, addr);
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {victim}) == "mature"; }, 30))
        << test::read_text(log);
    const std::string early = scalar(
        "SELECT balance FROM balances WHERE account = 'user:early:available' AND "
        "currency = 'LTC'");
    ASSERT_NE(early, "");
    ASSERT_GT(std::stoll(early), 0);

    // early's balance is reserved for a payout ...
    auto bind = run({bin("bmm-accountd"), "account", "bind", "early", "LTC", st().cli("-rpcwallet=pool getnewaddress"),
                     "--config", cfg},
                    "bind");
    ASSERT_EQ(bind.code, 0) << bind.out;
    auto plan = run({bin("bmm-payout"), "plan", "-c", cfg, "--coin", "LTC", "--min", "1"}, "plan");
    ASSERT_EQ(plan.code, 0) << plan.out;
    EXPECT_EQ(scalar("SELECT balance FROM balances WHERE account = 'user:early:available' AND currency = 'LTC'"), "0");

    // ... when the block is orphaned after maturity: taken back from early's available balance, below zero.
    st().cli("invalidateblock " + victim);
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT orphan_readings FROM blocks WHERE hash = $1", {victim}) == "1"; }, 30))
        << test::read_text(log);
    generate(2, addr);
    ASSERT_TRUE(
        wait_until([&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {victim}) == "orphaned"; }, 30))
        << test::read_text(log);
    EXPECT_EQ(scalar("SELECT balance FROM balances WHERE account = 'user:early:available' AND currency = 'LTC'"),
              "-" + early);
    EXPECT_EQ(scalar("SELECT owed FROM account_debts WHERE account = 'user:early:available' AND currency = 'LTC'"),
              early);
    EXPECT_EQ(sum_of("block_orphan", victim), "10000000000");
    EXPECT_NE(test::read_text(log).find("orphaned after it matured"), std::string::npos);
    auto a3 = audit(cfg, "late");
    EXPECT_EQ(a3.code, 0) << a3.out;

    // The statement shows the reversal from available and the debt.
    auto stmt = run({bin("bmm-payout"), "statement", "early", "--from", std::to_string(t0 / 1000 - 60), "--to",
                     std::to_string(test::unix_ms() / 1000 + 60), "--currency", "LTC", "--format", "csv", "-c", cfg},
                    "statement");
    ASSERT_EQ(stmt.code, 0) << stmt.out;
    EXPECT_NE(stmt.out.find("block:" + victim + ":orphan:2:user:early:available"), std::string::npos) << stmt.out;
    EXPECT_NE(stmt.out.find(",debt,"), std::string::npos) << stmt.out;
    EXPECT_NE(stmt.out.find("," + early + ","), std::string::npos) << stmt.out;

    // An account in debt is not paid.
    auto again = run({bin("bmm-payout"), "plan", "-c", cfg, "--coin", "LTC", "--min", "1"}, "plan-again");
    EXPECT_EQ(again.out.find("early"), std::string::npos) << again.out;

    EXPECT_EQ(p.stop(SIGTERM, 20000), 0);

    // A balance further below zero than its debts: the audit names it.
    query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) "
        "VALUES ('test:overdraw', 'user:early:available', 'pool:fees:LTC', 'LTC', 7, 'block_fee', 'test')");
    auto bad = audit(cfg, "beyond");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.out.find("user:early:available holds -" + std::to_string(std::stoll(early) + 7) +
                           " LTC, below zero beyond its late-orphan debts of " + early),
              std::string::npos)
        << bad.out;
    EXPECT_NE(bad.out.find("invariant: account user:early:available"), std::string::npos) << bad.out;
}

TEST(block_fate, a_pplns_block_without_its_finding_share_is_parked_and_later_epochs_close) {
    const std::string addr = st().cli("-rpcwallet=pool getnewaddress");
    const std::string parked = generate(1, addr);
    const std::int64_t h = std::stoll(st().cli("getblockcount"));
    settings s;
    s.scheme = "pplns";
    s.api_port = test::free_port_near(30600);
    const std::int64_t t0 = test::unix_ms();
    s.genesis = t0 / 1000 - 1;
    const std::string cfg = write_config("bmm:test:parked", s);
    reset_schema(cfg);
    xadd_at("bmm:test:parked", epoch_records(t0 - 900, {{parked, std::to_string(h)}}));
    const std::string log = st().dir() + "/accountd/parked.log";
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, log);

    ASSERT_TRUE(wait_until(
        [&] { return std::stoi(scalar("SELECT count(*) FROM epochs WHERE closed_at IS NOT NULL")) >= 3; }, 60))
        << "epochs stopped closing:\n"
        << test::read_text(log);
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {parked}), "parked");
    EXPECT_NE(
        scalar("SELECT parked_reason FROM blocks WHERE hash = $1", {parked}).find("no share with this block_hash"),
        std::string::npos);
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger_transfers WHERE reference = $1", {"block:" + parked}), "0");
    const std::string text = test::read_text(log);
    EXPECT_NE(text.find("PARKED"), std::string::npos) << text;
    // The alert: the gauge on /metrics.
    const std::string metrics =
        test::run_capture("curl -s http://127.0.0.1:" + std::to_string(s.api_port) + "/metrics");
    EXPECT_NE(metrics.find("\nbmm_accountd_blocks_parked 1\n"), std::string::npos) << metrics;
    auto a1 = audit(cfg, "parked");
    EXPECT_EQ(a1.code, 0) << a1.out;

    auto list = run({bin("bmm-accountd"), "block", "list", "--config", cfg}, "block-list");
    EXPECT_EQ(list.code, 0) << list.out;
    EXPECT_NE(list.out.find(parked + " LTC height " + std::to_string(h)), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("1 parked blocks"), std::string::npos) << list.out;

    // Bad input: a clear error, nothing changed.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--as", "lost"}, {"--finder", "nobody"}, {"--finder", "a:b"}, {"--as", "orphan", "--finder", "late"}}) {
        std::vector<std::string> cmd = {bin("bmm-accountd"), "block", "resolve", parked, "--config", cfg};
        cmd.insert(cmd.end(), args.begin(), args.end());
        auto r = run(cmd, "resolve-bad");
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_NE(r.out.find("nothing changed"), std::string::npos) << r.out;
    }
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {parked}), "parked");

    auto ok = run({bin("bmm-accountd"), "block", "resolve", parked, "--finder", "late", "--config", cfg}, "resolve");
    ASSERT_EQ(ok.code, 0) << ok.out;
    // Booked at the close of the first open epoch: the miners' part to late alone.
    ASSERT_TRUE(wait_until([&] { return sum_of("block_miner", parked) != "0"; }, 60)) << test::read_text(log);
    EXPECT_EQ(scalar("SELECT string_agg(credit, ',') FROM ledger_transfers WHERE kind = 'block_miner' AND "
                     "reference = $1",
                     {"block:" + parked}),
              "user:late:immature");
    EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    auto a2 = audit(cfg, "resolved");
    EXPECT_EQ(a2.code, 0) << a2.out;
    auto again = run({bin("bmm-accountd"), "block", "resolve", parked, "--as", "orphan", "--config", cfg}, "resolve2");
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.out.find("not parked"), std::string::npos) << again.out;
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
