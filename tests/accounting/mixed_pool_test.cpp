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

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <boost/multiprecision/cpp_int.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

namespace bmm::accounting {
namespace {

using test::query;
using test::scalar;
using test::stack_environment;
using big = boost::multiprecision::cpp_int;
using record = std::map<std::string, std::string>;

stack_environment& st() { return stack_environment::get(); }

constexpr std::int64_t k_epoch_seconds = 4;
const std::map<std::string, std::uint64_t> k_weight_ppm = {{"LTC", 1000000}, {"BTC", 250000}};

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

template <class F>
bool wait_for(F cond, int seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return cond();
}

std::vector<record> xrange(const std::string& stream) {
    redisContext* c = bmm::test::stack_redis();
    if (!c || c->err) {
        throw std::runtime_error("cannot connect to the test Redis");
    }
    std::vector<record> out;
    auto* r = static_cast<redisReply*>(redisCommand(c, "XRANGE %s - +", stream.c_str()));
    for (std::size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
        const redisReply* f = r->element[i]->element[1];
        record m;
        for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
            m[std::string(f->element[k]->str, f->element[k]->len)] =
                std::string(f->element[k + 1]->str, f->element[k + 1]->len);
        }
        out.push_back(std::move(m));
    }
    if (r) {
        freeReplyObject(r);
    }
    redisFree(c);
    return out;
}

std::string write_config(const std::string& stream, std::int64_t genesis) {
    const std::string dir = st().dir() + "/accountd";
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/mixed.toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_PG_PORT") << "\nuser = \""
      << st().setting("BMM_PG_USER") << "\"\ndbname = \"" << st().setting("BMM_PG_DB") << "\"\npassword = \""
      << st().setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st().source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st().setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\nstream = \"" << stream << "\"\ngroup = \"accountd\"\nconsumer = \"one\"\n"
      << "[node]\nurl = \"" << st().setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st().setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st().setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << "[ingest]\nbatch_size = 500\nblock_ms = 100\n"
      << "[epochs]\nlength_seconds = " << k_epoch_seconds << "\ngenesis = " << genesis
      << "\nclose_grace_ms = 1500\nstep_ms = 200\n";
    for (const auto& [coin, w] : k_weight_ppm) {
        f << "[coins." << coin
          << "]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\norphan_readings = 1\n"
          << "resource_weight_ppm = " << w << "\n";
        if (coin == "BTC") {
            f << "node_url = \"" << st().setting("BMM_BTC_RPC_URL") << "\"\nnode_user = \""
              << st().setting("BMM_BTC_RPC_USER") << "\"\nnode_password = \"" << st().setting("BMM_BTC_RPC_PASSWORD")
              << "\"\n";
        }
    }
    f << "[log]\nlevel = \"info\"\n";
    return path;
}

// ---------------------------------------------------------------------------
// The independent computation (docs/accounting.md, written out plainly here).
// ---------------------------------------------------------------------------

// Largest remainder: floor(A W_i / sum), leftovers one each to the largest
// remainders, ties to the name that sorts first.
std::map<std::string, big> split(const big& a, const std::map<std::string, big>& w) {
    big sum = 0;
    for (const auto& [k, v] : w) {
        sum += v;
    }
    std::map<std::string, big> out;
    if (sum == 0) {
        return out;
    }
    big given = 0;
    std::vector<std::pair<big, std::string>> rem;
    for (const auto& [k, v] : w) {
        if (v == 0) {
            continue;
        }
        out[k] = a * v / sum;
        given += out[k];
        rem.emplace_back(a * v % sum, k);
    }
    std::sort(rem.begin(), rem.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    for (std::size_t i = 0; given < a; ++i, ++given) {
        out[rem[i].second] += 1;
    }
    return out;
}

big work_of(const std::string& target_hex) {
    big t = 0;
    for (char c : target_hex) {
        t = t * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return (big(1) << 256) / (t + 1);
}

struct share_rec {
    std::int64_t ms;
    std::string coin, account;
    big work;
};
struct block_rec {
    std::string coin, hash;
    std::int64_t ms;
    big reward;
    bool orphaned = false;  // the node has it off its main chain (two pool blocks at one height)
};

// Final (account, currency) balances once every block has matured, after
// epochs 0..last closed.
std::map<std::pair<std::string, std::string>, big> expected_balances(const std::vector<share_rec>& shares,
                                                                     const std::vector<block_rec>& blocks,
                                                                     std::int64_t genesis, std::int64_t last) {
    std::map<std::pair<std::string, std::string>, big> bal;
    const big unit = big(1000000000000000000ULL);
    bal[{"foundation:airdrop", "BMM"}] = 27800000 * unit;
    bal[{"foundation:developers", "BMM"}] = 27800000 * unit;
    bal[{"foundation:ecosystem", "BMM"}] = 83400000 * unit;
    const big e0 = big(1251000000) * unit / (2 * 1461);
    auto epoch_of = [&](std::int64_t ms) {
        return ms < genesis * 1000 ? -1 : (ms - genesis * 1000) / (k_epoch_seconds * 1000);
    };
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
        std::map<std::string, big> pp;
        std::map<std::string, std::uint32_t> next;
        for (const auto& [u, d] : dpp) {
            const std::uint32_t sk = d >= 1 ? streak[u] + 1 : 0;
            next[u] = sk;
            const std::uint32_t e = sk == 0 ? 0 : std::min<std::uint32_t>(15000, 10000 + 100 * (sk - 1));
            pp[u] = d * e;
        }
        streak = next;
        std::map<std::string, big> holdings;
        for (const auto& [key, v] : bal) {
            if (key.second == "BMM" && v > 0 &&
                (key.first.rfind("foundation:", 0) == 0 ||
                 (key.first.rfind("user:", 0) == 0 && key.first.size() > 10 &&
                  key.first.compare(key.first.size() - 10, 10, ":available") == 0))) {
                // By holder name (ties go to the name that sorts first): user:<n>:available as <n>.
                holdings[key.first.rfind("user:", 0) == 0 ? key.first.substr(5, key.first.size() - 15) : key.first] = v;
            }
        }
        // Each coin's blocks of the epoch: fee, dividends to BMM holders, the
        // miners' part by PP, all in that coin.
        for (const auto& b : blocks) {
            if (epoch_of(b.ms) != k || b.orphaned) {
                continue;
            }
            const big fee = b.reward * 10000 / 1000000, div = b.reward * 200000 / 1000000,
                      miners = b.reward - fee - div;
            bal[{"pool:fees:" + b.coin, b.coin}] += fee;
            auto d = split(div, holdings);
            if (d.empty()) {
                bal[{"pool:undistributed:" + b.coin, b.coin}] += div;
            }
            for (const auto& [a, v] : d) {
                bal[{a.find(':') == std::string::npos ? "user:" + a + ":available" : a, b.coin}] += v;
            }
            auto m = split(miners, pp);
            if (m.empty()) {
                bal[{"pool:undistributed:" + b.coin, b.coin}] += miners;
            }
            for (const auto& [u, v] : m) {
                bal[{"user:" + u + ":available", b.coin}] += v;
            }
        }
        const big pay = e0 / (big(1) << static_cast<unsigned>(k / 1461)) + carried;
        auto em = split(pay, pp);
        carried = em.empty() ? pay : big(0);
        for (const auto& [u, v] : em) {
            bal[{"user:" + u + ":available", "BMM"}] += v;
        }
    }
    return bal;
}

TEST(mixed_pool, ltc_btc_and_bmm_balances_equal_an_independent_computation_from_the_stream) {
    const std::string stream = "bmm:test:mixed";
    const std::int64_t genesis = now_ms() / 1000 + 3;
    const std::string cfg = write_config(stream, genesis);
    {
        test::child_process m({test::bin("bmm-accountd"), "migrate", "--config", cfg}, st().dir() + "/accountd/m.log");
        ASSERT_EQ(m.wait(60000), 0) << test::read_text(st().dir() + "/accountd/m.log");
    }
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
        const std::int64_t wait = (genesis + round * k_epoch_seconds) * 1000 - now_ms();
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
    for (const auto& r : xrange(stream)) {
        if (!uids.insert(r.at("uid")).second) {
            continue;
        }
        const std::int64_t ms = std::stoll(r.at("time_ms"));
        if (r.at("type") == "share" && r.at("accepted") == "1") {
            shares.push_back({ms, r.at("coin"), r.at("account"), work_of(r.at("target"))});
        }
        if (r.at("type") == "block" && r.at("accepted") == "1" && ms >= genesis * 1000) {
            blocks.push_back({r.at("coin"), r.at("hash"), ms, big(r.at("reward"))});
            ++blocks_of[r.at("coin")];
        }
    }
    ASSERT_GE(blocks_of["LTC"], 2) << "too few LTC blocks to test with";
    ASSERT_GE(blocks_of["BTC"], 2) << "too few BTC blocks to test with";

    // Every pool block recorded and its epoch closed; then both nodes bury them.
    ASSERT_TRUE(wait_for(
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
    ASSERT_TRUE(wait_for([&] { return scalar("SELECT count(*) FROM blocks WHERE status = 'immature'") == "0"; }, 90))
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
    std::map<std::pair<std::string, std::string>, big> got;
    for (const auto& row : query("SELECT account, currency, balance::text FROM balances WHERE balance <> 0 AND "
                                 "(account LIKE 'user:%' OR account LIKE 'foundation:%' OR account LIKE 'pool:%')")) {
        got[{row[0], row[1]}] = big(row[2]);
    }
    std::map<std::pair<std::string, std::string>, big> want_nonzero;
    for (const auto& [k, v] : want) {
        if (v != 0) {
            want_nonzero[k] = v;
        }
    }
    EXPECT_EQ(got.size(), want_nonzero.size());
    for (const auto& [k, v] : want_nonzero) {
        auto it = got.find(k);
        ASSERT_NE(it, got.end()) << k.first << " " << k.second << " expected " << v;
        EXPECT_EQ(it->second, v) << k.first << " " << k.second;
    }
    for (const auto& [k, v] : got) {
        EXPECT_TRUE(want_nonzero.count(k)) << k.first << " " << k.second << " = " << v;
    }
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
