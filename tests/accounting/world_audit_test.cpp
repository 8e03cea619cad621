// `bmm-accountd audit` checks the world outside the ledger (issue 13, item 4;
// accounting/ledger/world_audit.cpp, sql/0022_audit_records.sql), end to end on
// the real stack: bmm-miner mines real blocks through the real bmm-stratum into
// litecoind regtest, bmm-accountd ingests and books them, and the audit is
// clean (exit 0). Then one fault at a time is planted, the audit must name it
// (exit 1), and the fault is taken back:
//   - a booked block's row deleted, a block the node never saw booked (chain);
//   - a share row copied under its own uid, a share's proof-of-work hash
//     credited to a second row, a stored share row deleted (records);
//   - a stream entry deleted before bmm-accountd read it (records: the hole in
//     its instance's sequence), more entries counted stored than Redis had;
//   - coins sent out of the pool wallet with sendtoaddress after the blocks
//     matured (wallet: less than the ledger owes).
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
#include <string>
#include <thread>
#include <vector>

namespace bmm::accounting {
namespace {

using test::audit_result;
using test::bin;
using test::query;
using test::scalar;
using test::stack_environment;
using test::wait_until;

stack_environment& st() { return stack_environment::get(); }

std::string write_config(const std::string& stream, std::int64_t genesis) {
    return test::write_stack_file(
        "accountd", "world.toml",
        test::postgres_toml() + test::redis_toml(stream) + test::node_toml() + test::ingest_toml() +
            test::epochs_toml(3, genesis) +
            "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\npool_address = \"" +
            st().setting("BMM_POOL_ADDRESS") + "\"\n" + "[payout]\nwallet = \"pool\"\n" + "[log]\nlevel = \"info\"\n");
}

audit_result audit(const std::string& cfg) {
    static int n = 0;
    return test::run_audit(cfg, st().dir() + "/accountd/audit-" + std::to_string(++n) + ".log");
}

bool has_line(const std::string& out, const std::vector<std::string>& parts) {
    std::size_t pos = 0;
    while (pos < out.size()) {
        const std::size_t nl = out.find('\n', pos);
        const std::string line = out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        bool all = true;
        for (const auto& p : parts) {
            all = all && line.find(p) != std::string::npos;
        }
        if (all) {
            return true;
        }
        pos = nl == std::string::npos ? out.size() : nl + 1;
    }
    return false;
}

TEST(world_audit, names_each_fault_planted_in_the_chain_the_records_and_the_wallet) {
    const std::string stream = "bmm:test:world";
    const std::int64_t genesis = test::unix_seconds() + 2;
    const std::string cfg = write_config(stream, genesis);
    ASSERT_NO_THROW(test::migrate_accountd(cfg, st().dir() + "/accountd/migrate.log"));
    // The pool starts after genesis, so its templates' (and blocks') times are in the ledger's epochs.
    std::this_thread::sleep_for(std::chrono::milliseconds((genesis - test::unix_seconds()) * 1000 + 1500));
    const int port = test::free_port_near(30200);
    test::pool_process pool;
    test::pool_options o;
    o.name = "pool-world";
    o.stream = stream;
    o.instance_id = 7;
    o.ports = {port};
    ASSERT_NO_THROW(pool.start(o));
    const std::string acc_log = st().dir() + "/accountd/run.log";
    auto acc = std::make_unique<test::child_process>(
        std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg}, acc_log);
    const std::string url = "stratum+tcp://127.0.0.1:" + std::to_string(port);
    auto mine = [&](const std::string& shares, const std::string& tag) {
        const std::string log = pool.dir + "/miner-" + tag + ".log";
        test::child_process m({bin("bmm-miner"), "--url", url, "--user", "alice.r1", "--suggest-difficulty", "0.001",
                               "--shares", shares, "--seconds", "90", "--quiet"},
                              log);
        EXPECT_EQ(m.wait(120000), 0) << test::read_text(log);
    };
    mine("8", "1");

    // Clean once the ingest and the block tracker have stored and booked everything.
    audit_result clean;
    ASSERT_TRUE(wait_until(
        [&] {
            clean = audit(cfg);
            return clean.rc == 0;
        },
        90))
        << clean.out << "\n"
        << test::read_text(acc_log);
    ASSERT_GE(std::stoi(scalar("SELECT count(*) FROM blocks WHERE coin = 'LTC'")), 2) << "too few blocks to test with";
    ASSERT_EQ(acc->stop(SIGTERM, 20000), 0) << test::read_text(acc_log);  // nothing heals a planted fault
    clean = audit(cfg);
    ASSERT_EQ(clean.rc, 0) << clean.out;

    // Chain 1: a booked block's row deleted: the node's main chain has a coinbase to the pool nobody booked.
    const std::string victim =
        scalar("SELECT hash FROM blocks WHERE coin = 'LTC' AND status = 'immature' ORDER BY height DESC LIMIT 1");
    ASSERT_FALSE(victim.empty());
    query("CREATE TABLE planted_block AS SELECT * FROM blocks WHERE hash = $1", {victim});
    query("DELETE FROM blocks WHERE hash = $1", {victim});
    auto r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, {"chain: LTC block " + victim, "pays the pool", "not booked in blocks"})) << r.out;
    query("INSERT INTO blocks SELECT * FROM planted_block");
    query("DROP TABLE planted_block");

    // Chain 2: a block the node never saw, booked.
    const std::string fake(64, 'e');
    query(
        "INSERT INTO blocks (hash, coin, height, reward, finder, found_at, found_epoch, epoch) "
        "VALUES ($1, 'LTC', 1, 625000000, 'alice', now() - interval '1 minute', 0, 0)",
        {fake});
    r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, {"chain: LTC block " + fake, "booked but the node does not know it"})) << r.out;
    EXPECT_TRUE(has_line(r.out, {"chain: LTC block " + fake, "no coinbase of wallet 'pool'"})) << r.out;
    query("DELETE FROM blocks WHERE hash = $1", {fake});

    // Chain 3: a booked immature block reorged out of node A's main chain (as litecoind does on a restart between
    // two tips of equal work). The wallet lists its coinbase in no block any more; the block waits for the block
    // tracker's orphan verdict (orphan_readings, the chain must move on): not a fault, not "not the pool's".
    const std::string reorged =
        scalar("SELECT hash FROM blocks WHERE coin = 'LTC' AND status = 'immature' ORDER BY height DESC LIMIT 1");
    ASSERT_FALSE(reorged.empty());
    const std::string invalidated = st().cli("invalidateblock " + reorged);
    ASSERT_TRUE(invalidated.empty()) << invalidated;
    EXPECT_EQ(st().cli("-rpcwallet=pool listsinceblock").find("\"blockhash\": \"" + reorged + "\""), std::string::npos)
        << "the wallet still lists the coinbase of the block taken out of the main chain";
    // (Node A may now be on a sibling the pool also found at that height and nobody booked, bmm-accountd being
    // stopped: the audit names that one, rightly.)
    r = audit(cfg);
    EXPECT_EQ(r.out.find(reorged), std::string::npos) << r.out;
    const std::string reconsidered = st().cli("reconsiderblock " + reorged);
    ASSERT_TRUE(reconsidered.empty()) << reconsidered;
    // Back on the reorged block: a sibling of equal work that became the tip meanwhile is set aside and let back.
    const std::string height = scalar("SELECT height FROM blocks WHERE hash = $1", {reorged});
    for (int i = 0; i < 8; ++i) {
        std::string at = st().cli("getblockhash " + height);
        at.erase(at.find_last_not_of(" \n") + 1);
        if (at == reorged) {
            break;
        }
        (void)st().cli("invalidateblock " + at);
        (void)st().cli("reconsiderblock " + at);
    }

    r = audit(cfg);
    ASSERT_EQ(r.rc, 0) << "the chain faults are taken back\n" << r.out;

    // Records 1: an accepted share's row copied under its own uid (a second time).
    const auto share = query(
        "SELECT uid, hash FROM shares WHERE accepted AND hash <> '' ORDER BY split_part(uid, ':', 3)::bigint LIMIT 1 "
        "OFFSET 2");
    ASSERT_EQ(share.size(), 1u);
    const std::string uid = share[0][0], pow = share[0][1];
    query("CREATE TABLE planted_share AS SELECT * FROM shares WHERE uid = $1", {uid});
    query("UPDATE planted_share SET time = time + interval '1 second'");
    query("INSERT INTO shares SELECT * FROM planted_share");
    r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, {"share uid " + uid + " is stored 2 times"})) << r.out;
    query("DELETE FROM shares WHERE uid = $1 AND time = (SELECT max(time) FROM shares WHERE uid = $1)", {uid});

    // Records 2: the same proof-of-work hash credited to a second row (another uid).
    query("UPDATE planted_share SET time = time - interval '1 second', uid = 'planted:' || uid");
    query("INSERT INTO shares SELECT * FROM planted_share");
    query("DROP TABLE planted_share");
    r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, {"proof-of-work hash " + pow, "credited to 2 accepted shares", uid})) << r.out;
    query("DELETE FROM shares WHERE uid = $1", {"planted:" + uid});

    // Records 3: a stored row deleted: a hole in instance 7's sequence, and a settled stream entry not stored.
    query("CREATE TABLE planted_share AS SELECT * FROM shares WHERE uid = $1", {uid});
    query("DELETE FROM shares WHERE uid = $1", {uid});
    r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(
        has_line(r.out, {"records: bmm-stratum instance 7", "1 of its records (uid " + uid + ")", "are not stored"}))
        << r.out;
    EXPECT_TRUE(has_line(r.out, {"records: Redis", "(uid " + uid + ",", "acknowledged but is not stored"})) << r.out;
    query("INSERT INTO shares SELECT * FROM planted_share");
    query("DROP TABLE planted_share");
    // Records 4: the database counts more stream entries stored than Redis ever had added (Redis lost them).
    query("UPDATE stream_state SET entries = entries + 1000 WHERE stream = $1", {stream});
    r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, {"records: Redis", "entries added, but the database stored", "Redis lost entries"}))
        << r.out;
    query("UPDATE stream_state SET entries = entries - 1000 WHERE stream = $1", {stream});
    r = audit(cfg);
    ASSERT_EQ(r.rc, 0) << "the record faults are taken back\n" << r.out;

    // Records 5: a stream entry deleted before bmm-accountd read it (kept for the end: it cannot be undone).
    test::redis_conn redis;
    const std::size_t before = redis.entries(stream).size();
    mine("4", "2");
    ASSERT_TRUE(wait_until([&] { return redis.entries(stream).size() >= before + 4; }, 30));
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the pool's last records published
    const auto entries = redis.entries(stream);
    std::string dropped_id, dropped_uid;
    for (std::size_t i = before; i + 1 < entries.size() && dropped_id.empty(); ++i) {
        const auto fields = entries[i].map();
        if (fields.at("type") == "share") {
            dropped_id = entries[i].id;
            dropped_uid = fields.at("uid");
        }
    }
    ASSERT_FALSE(dropped_id.empty());
    ASSERT_EQ(redis.integer("XDEL %s %s", stream, dropped_id), 1);
    acc = std::make_unique<test::child_process>(std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg},
                                                acc_log);
    // Stored, and every new block booked, once the only problem left is the hole.
    ASSERT_TRUE(wait_until(
        [&] {
            r = audit(cfg);
            return r.rc == 1 && r.out.find(", 1 problems") != std::string::npos &&
                   has_line(r.out, {"records: bmm-stratum instance 7", "1 of its records (uid " + dropped_uid + ")"});
        },
        90))
        << r.out << "\n"
        << test::read_text(acc_log);

    // Wallet: the pool's blocks mature (101 blocks to another wallet), then the pool wallet's coins go there too.
    st().cli("createwallet sink");
    const std::string sink = st().cli("-rpcwallet=sink getnewaddress");
    st().cli("generatetoaddress 101 " + sink);
    ASSERT_TRUE(wait_until([&] { return scalar("SELECT count(*) FROM blocks WHERE status = 'immature'") == "0"; }, 90))
        << test::read_text(acc_log);
    ASSERT_EQ(acc->stop(SIGTERM, 20000), 0) << test::read_text(acc_log);
    r = audit(cfg);
    EXPECT_FALSE(has_line(r.out, {"wallet: "})) << r.out;
    const std::string trusted = st().cli("-rpcwallet=pool getbalances | jq -r '.mine.trusted'");
    const double send = std::stod(trusted) - 3;  // a test amount for the CLI; the audit reads litoshi
    ASSERT_GT(send, 0) << trusted;
    char amount[64];
    std::snprintf(amount, sizeof amount, "%.8f", send);
    const std::string txid = st().cli(std::string("-rpcwallet=pool sendtoaddress ") + sink + " " + amount);
    ASSERT_EQ(txid.size(), 64u) << txid;
    r = audit(cfg);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has_line(r.out, {"wallet: LTC wallet 'pool' holds", "but the ledger owes", "missing"})) << r.out;
    pool.stop();
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
