// Both coins in one pool (issue 14), end to end on the real nodes: a scrypt
// bmm-stratum on litecoind and a sha256d one on bcoin write into one stream;
// one bmm-accountd with [coins.LTC] and [coins.BTC] (different
// resource_weight_ppm) books it. Three miners (two scrypt, one sha256d with
// version rolling) mine over several epochs of a few seconds; the nodes then
// bury the pool's blocks under 101 more. Every LTC, BTC and BMM balance must
// equal what this file computes on its own from the raw stream records (work
// from each share's target, DPP summed over both coins by their weights,
// streaks, e, PP, E(k), each coin's blocks split by PP with the largest
// remainder), to the base unit; `bmm-accountd audit` exits 0.

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/redis.hpp"
#include "../support/reference_model.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>
#include <boost/multiprecision/cpp_int.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

namespace bmm::accounting {
namespace {

using test::scalar;
using test::stack_environment;
using big = boost::multiprecision::cpp_int;

stack_environment& st() { return stack_environment::get(); }

constexpr std::int64_t k_epoch_seconds = 4;
const std::map<std::string, std::uint64_t> k_weight_ppm = {{"LTC", 1000000}, {"BTC", 250000}};

using test::wait_until;

std::string write_config(const std::string& stream, std::int64_t genesis) {
    std::string toml = test::postgres_toml() + test::redis_toml(stream) + test::node_toml() + test::ingest_toml() +
                       test::epochs_toml(k_epoch_seconds, genesis);
    for (const auto& [coin, w] : k_weight_ppm) {
        toml += "[coins." + coin +
                "]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\norphan_readings = 1\n" +
                "resource_weight_ppm = " + std::to_string(w) + "\n";
        if (coin == "BTC") {
            toml += "node_url = \"" + st().setting("BMM_BTC_RPC_URL") + "\"\nnode_user = \"" +
                    st().setting("BMM_BTC_RPC_USER") + "\"\nnode_password = \"" + st().setting("BMM_BTC_RPC_PASSWORD") +
                    "\"\n";
        }
    }
    toml += "[log]\nlevel = \"info\"\n";
    return test::write_stack_file("accountd", "mixed.toml", toml);
}

// ---------------------------------------------------------------------------
// The independent computation (docs/accounting.md): the money rules in
// tests/support/reference_model.hpp; here DPP summed over both coins by their
// weights and each coin's blocks paid in that coin.
// ---------------------------------------------------------------------------

using test::reference::block_rec;
using test::reference::share_rec;
using test::reference::work_of;

// Final (account, currency) balances once every block has matured, after
// epochs 0..last closed.
test::reference::balances expected_balances(const std::vector<share_rec>& shares, const std::vector<block_rec>& blocks,
                                            std::int64_t genesis, std::int64_t last) {
    namespace ref = test::reference;
    ref::balances bal;
    ref::add_genesis(bal);
    auto epoch_of = [&](std::int64_t ms) { return ref::epoch_of(ms, genesis, k_epoch_seconds); };
    std::map<std::string, std::uint32_t> streak;
    big carried = 0;
    for (std::int64_t k = 0; k <= last; ++k) {
        // DPP: each coin's work times its weight, summed over the coins.
        std::map<std::string, big> dpp;
        for (const auto& sh : shares) {
            if (epoch_of(sh.ms) == k) {
                dpp[sh.account] += sh.work * k_weight_ppm.at(sh.coin);
            }
        }
        const auto pp = ref::pp_of_epoch(dpp, streak);
        const auto holdings = ref::bmm_holdings(bal);
        // Each coin's blocks of the epoch: fee, dividends to BMM holders, the
        // miners' part by PP, all in that coin.
        for (const auto& b : blocks) {
            if (epoch_of(b.ms) != k || b.orphaned) {
                continue;
            }
            ref::pay_users(bal, b.coin, ref::book_fee_and_dividends(bal, b.coin, b.reward, holdings), pp);
        }
        carried = ref::pay_emission(bal, ref::emission_of(k) + carried, pp);
    }
    return bal;
}

TEST(mixed_pool, ltc_btc_and_bmm_balances_equal_an_independent_computation_from_the_stream) {
    const std::string stream = "bmm:test:mixed";
    const std::int64_t genesis = test::unix_ms() / 1000 + 3;
    const std::string cfg = write_config(stream, genesis);
    ASSERT_NO_THROW(test::migrate_accountd(cfg, st().dir() + "/accountd/m.log"));
    // The two pools of deploy/up.sh, each with its own instance id, into one stream.
    auto port_toml = [](int port, const std::string& start) {
        return "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) + "\nstart_difficulty = " + start +
               "\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n";
    };
    test::pool_process ltc, btc;
    test::pool_options lo;
    lo.name = "pool-ltc";
    lo.stream = stream;
    lo.instance_id = 1;
    lo.ports = {test::free_port_near(28000)};
    lo.port_sections = port_toml(lo.ports[0], "0.002");
    ASSERT_NO_THROW(ltc.start(lo));
    test::pool_options bo = lo;
    bo.name = "pool-btc";
    bo.instance_id = 2;
    bo.btc = true;
    bo.ports = {test::free_port(lo.ports[0] + 1)};
    bo.port_sections = port_toml(bo.ports[0], "0.0002");
    ASSERT_NO_THROW(btc.start(bo));
    const std::string acc_log = st().dir() + "/accountd/mixed-run.log";
    auto acc = std::make_unique<test::child_process>(
        std::vector<std::string>{test::bin("bmm-accountd"), "run", "--config", cfg}, acc_log);

    // Rounds that start with epochs 0..3: alice and bob mine scrypt at
    // different difficulties, carol an ASIC's sha256d (skipping round 1, so
    // her streak resets).
    struct miner_spec {
        std::string user, port, algo, diff, shares;
    };
    const std::string lp = std::to_string(lo.ports[0]), bp = std::to_string(bo.ports[0]);
    const std::vector<miner_spec> specs = {{"alice.r1", lp, "scrypt", "0.001", "8"},
                                           {"bob.r1", lp, "scrypt", "0.004", "4"},
                                           {"carol.s19", bp, "sha256d", "0.0002", "4"}};
    for (int round = 0; round < 4; ++round) {
        const std::int64_t wait = (genesis + round * k_epoch_seconds) * 1000 - test::unix_ms();
        if (wait > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(wait + 50));
        }
        std::vector<std::unique_ptr<test::child_process>> miners;
        std::vector<std::string> logs;
        for (const auto& m : specs) {
            if (round == 1 && m.algo == "sha256d") {
                continue;
            }
            logs.push_back(st().dir() + "/miner-" + m.user + "-" + std::to_string(round) + ".log");
            std::vector<std::string> args = {test::bin("bmm-miner"),
                                             "--url",
                                             "stratum+tcp://127.0.0.1:" + m.port,
                                             "--user",
                                             m.user,
                                             "--algo",
                                             m.algo,
                                             "--suggest-difficulty",
                                             m.diff,
                                             "--shares",
                                             m.shares,
                                             "--seconds",
                                             "60",
                                             "--quiet"};
            if (m.algo == "sha256d") {
                args.push_back("--version-rolling");
            }
            miners.push_back(std::make_unique<test::child_process>(args, logs.back()));
        }
        for (std::size_t i = 0; i < miners.size(); ++i) {
            EXPECT_EQ(miners[i]->wait(90000), 0) << test::read_text(logs[i]);
        }
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(ltc.proc->stop(SIGTERM, 20000), 0);
    EXPECT_EQ(btc.proc->stop(SIGTERM, 20000), 0);

    // The raw records, as the two bmm-stratum wrote them.
    std::vector<share_rec> shares;
    std::vector<block_rec> blocks;
    std::set<std::string> uids;
    std::map<std::string, int> blocks_of;
    for (const auto& r : test::redis_conn().records(stream)) {
        if (!uids.insert(r.at("uid")).second) {
            continue;
        }
        const std::int64_t ms = std::stoll(r.at("time_ms"));
        if (r.at("type") == "share" && r.at("accepted") == "1") {
            test::reference::share_rec s;
            s.ms = ms;
            s.coin = r.at("coin");
            s.account = r.at("account");
            s.work = work_of(r.at("target"));
            shares.push_back(std::move(s));
        }
        if (r.at("type") == "block" && r.at("accepted") == "1" && ms >= genesis * 1000) {
            test::reference::block_rec b;
            b.coin = r.at("coin");
            b.hash = r.at("hash");
            b.ms = ms;
            b.reward = big(r.at("reward"));
            blocks.push_back(std::move(b));
            ++blocks_of[r.at("coin")];
        }
    }
    ASSERT_GE(blocks_of["LTC"], 2) << "too few LTC blocks to test with";
    ASSERT_GE(blocks_of["BTC"], 2) << "too few BTC blocks to test with";

    // Every pool block recorded and its epoch closed; then both nodes bury them.
    ASSERT_TRUE(wait_until(
        [&] {
            return scalar("SELECT count(*) FROM blocks b JOIN epochs e ON e.k = b.epoch AND e.closed_at IS NOT NULL") ==
                   std::to_string(blocks.size());
        },
        90))
        << test::read_text(acc_log);
    EXPECT_EQ(scalar("SELECT count(DISTINCT coin) FROM blocks"), "2");
    st().cli("generatetoaddress 101 " + st().cli("-rpcwallet=pool getnewaddress"));
    const std::string btc_addr = st().setting("BMM_BTC_POOL_ADDRESS");
    ASSERT_NE(st().btc_rpc("generatetoaddress", "[101,\"" + btc_addr + "\"]").find("\"error\":null"),
              std::string::npos);
    ASSERT_TRUE(wait_until([&] { return scalar("SELECT count(*) FROM blocks WHERE status = 'immature'") == "0"; }, 90))
        << test::read_text(acc_log);
    // A block the node accepted may still lose to another pool block at the
    // same height (both "accepted" by submitblock): the node says which.
    int orphans = 0;
    for (auto& b : blocks) {
        const std::string h = b.coin == "LTC" ? st().cli("getblockheader " + b.hash)
                                              : st().btc_rpc("getblockheader", "[\"" + b.hash + "\"]");
        b.orphaned = h.find("\"confirmations\": -1,") != std::string::npos ||
                     h.find("\"confirmations\":-1,") != std::string::npos;
        orphans += b.orphaned;
        EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {b.hash}), b.orphaned ? "orphaned" : "mature")
            << b.coin << " block " << b.hash << ": " << h.substr(0, 300);
    }
    EXPECT_LT(orphans, static_cast<int>(blocks.size()) / 2) << "most pool blocks lost: " << orphans;
    std::cout << "pool blocks: LTC " << blocks_of["LTC"] << ", BTC " << blocks_of["BTC"] << ", of them orphaned "
              << orphans << "; shares " << shares.size() << "\n";
    EXPECT_EQ(acc->stop(SIGTERM, 20000), 0) << test::read_text(acc_log);

    const std::int64_t last = std::stoll(scalar("SELECT max(k) FROM epochs WHERE closed_at IS NOT NULL"));
    EXPECT_GE(last, 3);
    const auto want = expected_balances(shares, blocks, genesis, last);
    const auto got = test::reference::ledger_balances();
    ASSERT_NO_FATAL_FAILURE(test::reference::expect_balances(got, want));
    // Everyone earned BMM and both coins (carol's sha256d work earns LTC too, by PP).
    for (const char* u : {"alice", "bob", "carol"}) {
        for (const char* cur : {"BMM", "LTC", "BTC"}) {
            EXPECT_TRUE(got.count({std::string("user:") + u + ":available", cur})) << u << " earned no " << cur;
        }
    }

    test::child_process audit({test::bin("bmm-accountd"), "audit", "--config", cfg}, st().dir() + "/accountd/a.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/a.log");
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment(/*activate_mweb=*/true, /*with_bcoin=*/true));
    return RUN_ALL_TESTS();
}
