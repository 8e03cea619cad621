// bmm-accountd's ledger side end to end (block tracker, epoch closer, genesis,
// audit), against the real stack: three bmm-miner processes of different
// difficulties and share counts mine through the real bmm-stratum into
// litecoind regtest; bmm-accountd ingests the stream and closes epochs of a
// few seconds; the node buries the pool's blocks under 101 more; one pool
// block is invalidated on the node. Every account's LTC and BMM balances must
// then equal what this file computes on its own from the raw stream records
// (work from each share's target, streaks, e, PP, E(k), the largest-remainder
// splits), to the base unit; the invalidated block's rewards are reversed by
// new transfers; `bmm-accountd audit` exits 0.
//
// Also: a block orphaned or matured before its epoch closes is booked at the
// close and reversed or released right after; 10 kill -9 during ingest and a
// 30-epoch catch-up leave the ledger of an uninterrupted run.
//
// Its own test binary: the ledger is one per database, so this file owns its
// stack (and resets the schema between its runs).

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/records.hpp"
#include "../support/redis.hpp"
#include "../support/reference_model.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"
#include "../support/webhook_receiver.hpp"

#include "bmm/pg/connection.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"

#include <gtest/gtest.h>
#include <boost/multiprecision/cpp_int.hpp>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

namespace bmm::accounting {
namespace {

using test::stack_environment;
using big = boost::multiprecision::cpp_int;
using record = std::map<std::string, std::string>;

stack_environment& st() { return stack_environment::get(); }

using test::bin;

using test::query;
using test::scalar;

using test::fake_pow;
using test::reset_schema;
using test::wait_until;

struct settings {
    std::int64_t genesis = 0, length = 3;
    int batch = 500;
    std::string scheme = "pp";
    std::string pplns_n_ppm = "2000000";
    std::string webhook_url;  // [notify] webhook_urls, when set
};

std::string write_config(const std::string& stream, const settings& s) {
    std::string toml = test::postgres_toml() + test::redis_toml(stream) + test::node_toml() +
                       test::ingest_toml(s.batch) + test::epochs_toml(s.length, s.genesis) +
                       "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"" + s.scheme +
                       "\"\npplns_n_ppm = " + s.pplns_n_ppm + "\nmaturity = 100\norphan_readings = 1\n" +
                       "[log]\nlevel = \"info\"\n";
    if (!s.webhook_url.empty()) {
        toml += "[notify]\nwebhook_urls = [\"" + s.webhook_url + "\"]\nattempts = 3\nbackoff_ms = 100\n";
    }
    return test::write_stack_file("accountd", "ledger.toml", toml);
}

// ---------------------------------------------------------------------------
// The independent computation (docs/accounting.md): the money rules in
// tests/support/reference_model.hpp, and here what only this test needs.
// ---------------------------------------------------------------------------

using test::reference::block_rec;
using test::reference::share_rec;
using test::reference::work_of;

// pplns weights of a block (ACCOUNTING.md): its finding share is the one
// whose record names the block's hash; walk the accepted shares (by time,
// then uid) from it back, each counting min(its work, what is left of
// floor(n_ppm x network_work / 10^6)).
std::map<std::string, big> pplns_weights_of(const std::vector<share_rec>& shares, const block_rec& b,
                                            const std::string& n_ppm) {
    std::vector<const share_rec*> order;
    for (const auto& sh : shares) {
        order.push_back(&sh);
    }
    std::sort(order.begin(), order.end(),
              [](const share_rec* x, const share_rec* y) { return x->ms != y->ms ? x->ms < y->ms : x->uid < y->uid; });
    std::ptrdiff_t f = -1;
    for (std::size_t i = 0; i < order.size() && f < 0; ++i) {
        if (order[i]->block_hash == b.hash) {
            f = static_cast<std::ptrdiff_t>(i);
        }
    }
    std::map<std::string, big> w;
    if (f < 0) {
        return w;
    }
    big left = order[static_cast<std::size_t>(f)]->network_work * big(n_ppm) / 1000000;
    for (std::ptrdiff_t i = f; i >= 0 && left > 0; --i) {
        const share_rec& sh = *order[static_cast<std::size_t>(i)];
        const big c = sh.work < left ? sh.work : left;
        w[sh.account] += c;
        left -= c;
    }
    return w;
}

// Final (account, currency) balances of user, foundation and pool accounts
// once every non-orphaned block has matured, after epochs 0..last closed.
test::reference::balances expected_balances(const std::vector<share_rec>& shares, const std::vector<block_rec>& blocks,
                                            const settings& s, std::int64_t last) {
    namespace ref = test::reference;
    ref::balances bal;
    ref::add_genesis(bal);
    auto epoch_of = [&](std::int64_t ms) { return ref::epoch_of(ms, s.genesis, s.length); };
    std::map<std::string, std::uint32_t> streak;
    std::map<std::int64_t, std::map<std::string, big>> pp_by_epoch;
    big carried = 0;
    for (std::int64_t k = 0; k <= last; ++k) {
        std::map<std::string, big> dpp;
        for (const auto& sh : shares) {
            if ((sh.late_epoch >= 0 ? sh.late_epoch : epoch_of(sh.ms)) == k) {
                dpp[sh.account] += sh.work * 1000000;
            }
        }
        const auto pp = ref::pp_of_epoch(dpp, streak);  // a user without work this epoch is back to 0
        pp_by_epoch[k] = pp;
        const auto holdings = ref::bmm_holdings(bal);
        // 1. fees and dividends, 3. miners' parts (emission, 2., does not touch LTC).
        for (const auto& b : blocks) {
            if ((b.epoch >= 0 ? b.epoch : epoch_of(b.ms)) != k || b.orphaned) {
                continue;
            }
            const big miners = ref::book_fee_and_dividends(bal, "LTC", b.reward, holdings);
            if (s.scheme == "pps") {
                bal[{"pool:pps:LTC", "LTC"}] += miners;
                continue;
            }
            // A block booked in a later epoch than the one it was found in
            // (recorded after that one closed) is split by its found epoch's PP.
            ref::pay_users(
                bal, "LTC", miners,
                s.scheme == "pplns" ? pplns_weights_of(shares, b, s.pplns_n_ppm) : pp_by_epoch[epoch_of(b.ms)]);
        }
        // pps: each (user, network work, expected reward) group of the
        // epoch's accepted work earns floor(sum w x M / network work), M the
        // miners' part of the expected reward; paid from pool:pps:LTC at once.
        if (s.scheme == "pps") {
            std::map<std::tuple<std::string, big, big>, big> groups;
            for (const auto& sh : shares) {
                if ((sh.late_epoch >= 0 ? sh.late_epoch : epoch_of(sh.ms)) == k) {
                    groups[{sh.account, sh.network_work, sh.expected}] += sh.work;
                }
            }
            for (const auto& [g, w] : groups) {
                const auto& [u, nw, r] = g;
                const big m = r - r * 10000 / 1000000 - r * 200000 / 1000000;
                const big c = w * m / nw;
                bal[{"user:" + u + ":available", "LTC"}] += c;
                bal[{"pool:pps:LTC", "LTC"}] -= c;
            }
        }
        carried = ref::pay_emission(bal, ref::emission_of(k) + carried, pp);
    }
    return bal;
}

// ---------------------------------------------------------------------------

// Mines through the real pool with `scheme` on LTC and checks every balance.
void mine_and_check(const std::string& scheme) {
    const std::string stream = "bmm:test:ledger:" + scheme;
    settings s;
    s.scheme = scheme;
    // pplns: a window of ~3000 network works, about one round of the miners'
    // work on regtest (network work ~2), so windows cut through shares.
    if (scheme == "pplns") {
        s.pplns_n_ppm = "3000000000";
    }
    s.genesis = test::unix_seconds() + 3;
    // [notify]: the blocks' webhooks go to a receiver on loopback; its first
    // answer is a 503, so the daemon's retry is what delivers the first one.
    test::webhook_receiver hooks({503});
    s.webhook_url = hooks.url("/bmm");
    const std::string cfg = write_config(stream, s);
    ASSERT_NO_THROW(test::migrate_accountd(cfg, st().dir() + "/accountd/migrate.log"));

    const int port = test::free_port_near(30000);
    test::pool_process pool;
    test::pool_options o;
    o.name = "pool-" + scheme;
    o.stream = stream;
    o.instance_id = 5;
    o.ports = {port};
    o.port_sections = "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                      "\nstart_difficulty = 0.002\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n";
    ASSERT_NO_THROW(pool.start(o));
    const std::string dir = pool.dir;
    const std::string acc_log = st().dir() + "/accountd/run.log";
    auto acc = std::make_unique<test::child_process>(
        std::vector<std::string>{bin("bmm-accountd"), "run", "--config", cfg}, acc_log);

    // Three miners of different speeds in work (difficulty x shares), in
    // rounds that start with epochs 0..3: streaks grow (e above 1.0), carol
    // skips round 1 (her streak resets), and some epochs may have no work
    // (their emission is carried forward).
    const std::string url = "stratum+tcp://127.0.0.1:" + std::to_string(port);
    struct miner_spec {
        std::string user, diff, shares;
    };
    const std::vector<miner_spec> specs = {
        {"alice.r1", "0.001", "12"}, {"bob.r1", "0.004", "6"}, {"carol.r1", "0.016", "3"}};
    for (int round = 0; round < 4; ++round) {
        const std::int64_t start_ms = (s.genesis + round * s.length) * 1000;
        const std::int64_t wait = start_ms - test::unix_ms();
        if (wait > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(wait + 50));
        }
        std::vector<std::unique_ptr<test::child_process>> miners;
        std::vector<std::string> logs;
        for (const auto& m : specs) {
            if (round == 1 && m.user == "carol.r1") {
                continue;
            }
            logs.push_back(dir + "/miner-" + m.user + "-" + std::to_string(round) + ".log");
            miners.push_back(std::make_unique<test::child_process>(
                std::vector<std::string>{bin("bmm-miner"), "--url", url, "--user", m.user, "--suggest-difficulty",
                                         m.diff, "--shares", m.shares, "--seconds", "90", "--quiet"},
                logs.back()));
        }
        for (std::size_t i = 0; i < miners.size(); ++i) {
            EXPECT_EQ(miners[i]->wait(120000), 0) << test::read_text(logs[i]);
        }
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(pool.proc->stop(SIGTERM, 20000), 0);

    // The raw records, as bmm-stratum wrote them.
    const auto records = test::redis_conn().records(stream);
    std::vector<share_rec> shares;
    std::vector<block_rec> blocks;
    std::set<std::string> uids;
    for (const auto& r : records) {
        if (!uids.insert(r.at("uid")).second) {
            continue;
        }
        const std::int64_t ms = std::stoll(r.at("time_ms"));
        if (r.at("type") == "share" && r.at("accepted") == "1") {
            shares.push_back({.ms = ms,
                              .account = r.at("account"),
                              .work = work_of(r.at("target")),
                              .uid = r.at("uid"),
                              .block_hash = r.count("block_hash") ? r.at("block_hash") : std::string(),
                              .network_work = work_of(r.at("network_target")),
                              .expected = big(r.at("reward"))});
        }
        if (r.at("type") == "block" && r.at("accepted") == "1" && ms >= s.genesis * 1000) {
            blocks.push_back(
                {.hash = r.at("hash"), .ms = ms, .reward = big(r.at("reward")), .finder = r.at("account")});
        }
    }
    ASSERT_GE(blocks.size(), 2u) << "the miners found too few blocks to test with";

    // Every pool block recorded and its epoch closed (booked immature).
    ASSERT_TRUE(wait_until(
        [&] {
            return scalar("SELECT count(*) FROM blocks b JOIN epochs e ON e.k = b.epoch AND e.closed_at IS NOT NULL") ==
                   std::to_string(blocks.size());
        },
        90))
        << test::read_text(acc_log);
    EXPECT_EQ(scalar("SELECT count(*) FROM blocks WHERE status <> 'immature'"), "0");
    // Booked immature: users hold LTC only in their immature accounts so far
    // (pps credits are available at once).
    if (scheme != "pps") {
        EXPECT_EQ(scalar("SELECT count(*) FROM balances WHERE currency = 'LTC' AND account LIKE 'user:%:available' "
                         "AND balance <> 0"),
                  "0");
        EXPECT_NE(scalar("SELECT count(*) FROM balances WHERE currency = 'LTC' AND account LIKE 'user:%:immature' "
                         "AND balance > 0"),
                  "0");
    }

    // The newest pool block is invalidated (orphaned); then 101 blocks bury the rest.
    std::sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) { return a.ms < b.ms; });
    block_rec& victim = blocks.back();
    EXPECT_EQ(st().cli("getblockheader " + victim.hash + " | grep -c '\"confirmations\": 1,'"), "1")
        << "the newest pool block is the node's tip";
    st().cli("invalidateblock " + victim.hash);
    victim.orphaned = true;
    ASSERT_TRUE(wait_until(
        [&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {victim.hash}) == "orphaned"; }, 60))
        << test::read_text(acc_log);
    EXPECT_NE(scalar("SELECT count(*) FROM ledger_transfers WHERE kind = 'block_orphan' AND reference = $1",
                     {"block:" + victim.hash}),
              "0");
    const std::string addr = st().cli("-rpcwallet=pool getnewaddress");
    st().cli("generatetoaddress 101 " + addr);
    ASSERT_TRUE(wait_until([&] { return scalar("SELECT count(*) FROM blocks WHERE status = 'immature'") == "0"; }, 90))
        << test::read_text(acc_log);
    // Webhooks (issue 16): block_found for every pool block the tracker
    // recorded, block_orphaned for the victim, block_mature for the others;
    // each a JSON POST naming the block.
    const auto sent = [&](const char* event, const std::string& hash) {
        for (const auto& r : hooks.requests()) {
            if (r.method == "POST" && r.content_type == "application/json" &&
                r.body.find(std::string("\"event\":\"") + event + "\"") != std::string::npos &&
                r.body.find("\"hash\":\"" + hash + "\"") != std::string::npos &&
                r.body.find("\"coin\":\"LTC\"") != std::string::npos) {
                return true;
            }
        }
        return false;
    };
    for (const auto& b : blocks) {
        const char* fate = b.orphaned ? "block_orphaned" : "block_mature";
        EXPECT_TRUE(wait_until([&] { return sent("block_found", b.hash) && sent(fate, b.hash); }, 30))
            << "webhooks for " << b.hash << ": block_found " << sent("block_found", b.hash) << ", " << fate << " "
            << sent(fate, b.hash) << "\n"
            << test::read_text(acc_log);
    }
    // The first POST was answered 503: it arrived again (the retry).
    const auto all = hooks.requests();
    ASSERT_FALSE(all.empty());
    EXPECT_GE(std::count_if(all.begin(), all.end(), [&](const auto& r) { return r.body == all[0].body; }), 2);
    // A pool block no record says the node accepted (answered "inconclusive":
    // a sibling at its height came first) still counts once it is in the main
    // chain: here when the victim's invalidation makes its sibling the tip. The
    // block tracker finds it there and books it at the first epoch open then
    // (that epoch is the one thing read back from accountd here).
    std::map<std::string, block_rec> unaccepted;
    std::set<std::string> accepted_hashes;
    for (const auto& b : blocks) {
        accepted_hashes.insert(b.hash);
    }
    for (const auto& r : records) {
        if (r.at("type") != "block" || r.at("accepted") != "0" || accepted_hashes.count(r.at("hash"))) {
            continue;
        }
        const std::int64_t ms = std::stoll(r.at("time_ms"));
        auto [it, fresh] = unaccepted.emplace(
            r.at("hash"),
            block_rec{.hash = r.at("hash"), .ms = ms, .reward = big(r.at("reward")), .finder = r.at("account")});
        it->second.ms = std::min(it->second.ms, ms);
    }
    for (auto& [hash, b] : unaccepted) {
        const std::string h = hash;  // a lambda below needs a variable, not a structured binding
        if (b.ms < s.genesis * 1000) {
            continue;
        }
        const std::string conf = st().cli("getblockheader " + h + " | jq -r .confirmations 2>/dev/null");
        if (conf.empty() || conf == "null" || std::stoll(conf) < 1) {
            continue;
        }
        ASSERT_TRUE(
            wait_until([&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {h}) == "mature"; }, 30))
            << h << " is in the main chain: booked and released\n"
            << test::read_text(acc_log);
        b.epoch = std::stoll(scalar("SELECT epoch FROM blocks WHERE hash = $1", {h}));
        blocks.push_back(b);
    }
    EXPECT_EQ(acc->stop(SIGTERM, 20000), 0) << test::read_text(acc_log);

    const std::int64_t last = std::stoll(scalar("SELECT max(k) FROM epochs WHERE closed_at IS NOT NULL"));
    EXPECT_GE(last, 3);
    EXPECT_GT(std::stoi(scalar("SELECT max(e_bp) FROM account_epochs")), 10000) << "no streak grew past one epoch";
    EXPECT_GE(std::stoi(scalar("SELECT count(DISTINCT b.epoch) FROM blocks b")), 2) << "blocks in one epoch only";
    // Shares the ingest stored after their epoch had closed (a loaded machine)
    // count in the first open epoch, as the ledger counts them.
    {
        std::map<std::string, std::int64_t> late;
        for (const auto& row : query("SELECT uid, late_epoch FROM shares WHERE late_epoch IS NOT NULL")) {
            late[row[0]] = std::stoll(row[1]);
        }
        for (auto& sh : shares) {
            if (auto it = late.find(sh.uid); it != late.end()) {
                sh.late_epoch = it->second;
            }
        }
    }
    const auto want = expected_balances(shares, blocks, s, last);
    const auto got = test::reference::ledger_balances();
    ASSERT_NO_FATAL_FAILURE(test::reference::expect_balances(got, want));
    for (const char* u : {"alice", "bob", "carol"}) {
        EXPECT_TRUE(got.count({std::string("user:") + u + ":available", "BMM"})) << u << " earned no BMM";
    }

    // The audit is clean.
    test::child_process audit({bin("bmm-accountd"), "audit", "--config", cfg}, st().dir() + "/accountd/audit.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/audit.log");
    if (scheme == "pps") {
        EXPECT_NE(scalar("SELECT count(*) FROM ledger_transfers WHERE kind = 'pps_credit'"), "0") << "no pps credit";
    }
}

TEST(ledger_daemon, mined_blocks_epochs_maturity_and_an_orphan_equal_an_independent_computation) {
    mine_and_check("pp");
}

// ---------------------------------------------------------------------------
// kill -9 during ingest and epoch closes
// ---------------------------------------------------------------------------

// What the ledger holds for epochs up to `last`, as text rows.
std::vector<std::vector<std::string>> ledger_dump(std::int64_t last) {
    auto rows =
        query("SELECT id, debit, credit, currency, amount::text, kind, reference FROM ledger_transfers ORDER BY id");
    for (auto& r : query("SELECT 'epoch', k::text, emission::text, emission_paid::text, emission_carried::text "
                         "FROM epochs WHERE k <= $1::bigint ORDER BY k",
                         {std::to_string(last)})) {
        rows.push_back(r);
    }
    for (auto& r : query("SELECT 'account_epoch', account, k::text, dpp::text, streak::text, e_bp::text, pp::text "
                         "FROM account_epochs WHERE k <= $1::bigint ORDER BY account, k",
                         {std::to_string(last)})) {
        rows.push_back(r);
    }
    for (auto& r : query(
             "SELECT 'block', hash, found_epoch::text, epoch::text, reward::text, finder FROM blocks ORDER BY hash")) {
        rows.push_back(r);
    }
    return rows;
}

TEST(ledger_daemon, kill_9_during_ingest_and_closes_gives_the_ledger_of_an_uninterrupted_run) {
    // 4,000 shares and 12 blocks over the last 60 s: 30 epochs of 2 s are due
    // at once, so the daemon catches up while it ingests.
    settings s;
    s.length = 2;
    s.batch = 20;
    const std::int64_t now_ms = test::unix_ms();
    s.genesis = now_ms / 1000 - 60;
    std::mt19937 rng(4242);
    std::vector<record> rs;
    const double diffs[] = {0.001, 0.004, 0.02, 0.5};
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
        const std::int64_t ms = s.genesis * 1000 + 100 + static_cast<std::int64_t>(i) * 13;  // epochs 0..26
        std::string account = "k", worker = "w";
        account += std::to_string(rng() % 6);
        worker += std::to_string(rng() % 3);
        const bool accepted = rng() % 8 != 0;
        auto share =
            test::share_record(account, target_from_difficulty(diffs[rng() % 4], pow_algorithm::scrypt)->to_hex(), ms,
                               "kill:" + std::to_string(i));
        share["worker"] = worker;
        share["accepted"] = accepted ? "1" : "0";
        share["code"] = accepted ? "0" : "23";
        share["reason"] = accepted ? "" : "low difficulty";
        rs.push_back(std::move(share));
        if (i % 333 == 100) {
            char hash[65];
            std::snprintf(hash, sizeof hash, "%064x", 0xb10c00 + i);
            auto block =
                test::block_record(hash, std::to_string(600 + i), account, std::to_string(1250000000 + rng() % 100000),
                                   ms, "kill:block:" + std::to_string(i));
            block["worker"] = "w0";
            rs.push_back(std::move(block));
        }
    }
    const std::int64_t last_epoch = (rs.back().count("time_ms") ? std::stoll(rs.back().at("time_ms")) : 0) / 1000;
    const std::int64_t k_last = (last_epoch - s.genesis) / s.length + 1;  // one past the last epoch with work
    // The daemon has started its ledger thread (after its signal handlers).
    auto ledger_running = [&](const std::string& log) {
        std::ifstream f(st().dir() + "/accountd/" + log);
        std::string line;
        while (std::getline(f, line)) {
            if (line.find("running the ledger") != std::string::npos) {
                return true;
            }
        }
        return false;
    };
    auto closed_through = [&](std::int64_t k) {
        const std::string v = scalar("SELECT coalesce(max(k), -1) FROM epochs WHERE closed_at IS NOT NULL");
        return !v.empty() && std::stoll(v) >= k;
    };

    // The uninterrupted run.
    const std::string cfg_a = write_config("bmm:test:kill-a", s);
    reset_schema(cfg_a);
    test::redis_conn().xadd_at("bmm:test:kill-a", rs);
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", cfg_a}, st().dir() + "/accountd/kill-a.log");
        ASSERT_TRUE(wait_until([&] { return closed_through(k_last) && ledger_running("kill-a.log"); }, 120))
            << test::read_text(st().dir() + "/accountd/kill-a.log");
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    }
    const auto want = ledger_dump(k_last);
    ASSERT_GT(want.size(), 100u);
    EXPECT_EQ(scalar("SELECT count(*) FROM blocks"), "12");

    // The same records, with kill -9 at random moments.
    const std::string cfg_b = write_config("bmm:test:kill-b", s);
    reset_schema(cfg_b);
    test::redis_conn().xadd_at("bmm:test:kill-b", rs);
    std::mt19937 when(7);
    int kills = 0;
    for (int i = 0; i < 10 && !closed_through(k_last); ++i) {
        test::child_process p({bin("bmm-accountd"), "run", "--config", cfg_b}, st().dir() + "/accountd/kill-b.log");
        std::this_thread::sleep_for(std::chrono::milliseconds(30 + when() % 400));
        p.stop(SIGKILL, 5000);
        ++kills;
        const std::string closed = scalar("SELECT count(*) FROM epochs WHERE closed_at IS NOT NULL");
        const std::string stored = scalar("SELECT count(*) FROM shares");
        std::printf("kill -9 #%d: %s epochs closed, %s shares stored\n", kills, closed.c_str(), stored.c_str());
    }
    EXPECT_GE(kills, 3) << "the run ended before enough kills";
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", cfg_b}, st().dir() + "/accountd/kill-b-end.log");
        ASSERT_TRUE(wait_until([&] { return closed_through(k_last) && ledger_running("kill-b-end.log"); }, 120))
            << test::read_text(st().dir() + "/accountd/kill-b-end.log");
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    }
    const auto got = ledger_dump(k_last);
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "the ledger after kill -9 differs from the uninterrupted run's";
    // Its blocks are made up (no node has them): the chain is not asked.
    test::child_process audit({bin("bmm-accountd"), "audit", "--config", cfg_b, "--skip-chain"},
                              st().dir() + "/accountd/audit-kill.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/audit-kill.log");
}

TEST(ledger_daemon, a_block_orphaned_or_matured_before_its_epoch_closes_is_booked_then_reversed_or_released) {
    // Two real node blocks stand in for pool blocks: one buried under 100
    // (mature at once) and one invalidated (orphaned at once), both found in
    // epoch 0 while it is still open.
    const std::string addr = st().cli("-rpcwallet=pool getnewaddress");
    st().cli("generatetoaddress 101 " + addr);
    const std::int64_t tip = std::stoll(st().cli("getblockcount"));
    const std::string mature_hash = st().cli("getblockhash " + std::to_string(tip - 100));
    const std::string orphan_json = st().cli("generatetoaddress 1 " + addr);
    const std::string orphan_hash = orphan_json.substr(orphan_json.find('"') + 1, 64);
    st().cli("invalidateblock " + orphan_hash);
    ASSERT_EQ(st().cli("getblockheader " + orphan_hash + " | grep -c '\"confirmations\": -1,'"), "1");

    settings s;
    s.length = 8;
    const std::int64_t now_ms = test::unix_ms();
    s.genesis = now_ms / 1000 - 1;
    std::vector<record> rs;
    for (int i = 0; i < 20; ++i) {
        rs.push_back(test::share_record(i % 2 ? "early" : "late",
                                        target_from_difficulty(0.001 * (1 + i % 3), pow_algorithm::scrypt)->to_hex(),
                                        now_ms - 900 + i * 10, "before:" + std::to_string(i)));
    }
    int n = 0;
    for (const std::string& h : {mature_hash, orphan_hash}) {
        rs.push_back(test::block_record(h, "1", "early", "5000000000", now_ms - 600 + n * 10,
                                        "before:block:" + std::to_string(n)));
        ++n;
    }
    const std::string cfg = write_config("bmm:test:before", s);
    reset_schema(cfg);
    test::redis_conn().xadd_at("bmm:test:before", rs);
    const std::string log = st().dir() + "/accountd/before.log";
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, log);

    // Recorded while epoch 0 is open: immature, nothing booked, status not followed yet.
    ASSERT_TRUE(wait_until([&] { return scalar("SELECT count(*) FROM blocks") == "2"; }, 30)) << test::read_text(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const bool still_open = scalar("SELECT count(*) FROM epochs WHERE k = 0 AND closed_at IS NOT NULL") == "0";
    if (still_open) {
        EXPECT_EQ(scalar("SELECT count(*) FROM blocks WHERE status = 'immature' AND epoch = 0"), "2");
        EXPECT_EQ(scalar("SELECT count(*) FROM ledger_transfers WHERE reference LIKE 'block:%'"), "0");
    }
    EXPECT_TRUE(still_open) << "epoch 0 closed before the test could look (a slow machine?)";

    // After the close: booked immature, then released or reversed at the next step.
    ASSERT_TRUE(wait_until([&] { return scalar("SELECT count(*) FROM blocks WHERE status = 'immature'") == "0"; }, 60))
        << test::read_text(log);
    EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {mature_hash}), "mature");
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {orphan_hash}), "orphaned");
    for (const std::string& h : {mature_hash, orphan_hash}) {
        const std::string ref = "block:" + h;
        EXPECT_EQ(scalar("SELECT sum(amount) FILTER (WHERE kind IN ('block_fee', 'block_dividend', 'block_miner', "
                         "'block_undistributed')) FROM ledger_transfers WHERE reference = $1",
                         {ref}),
                  "5000000000");
    }
    EXPECT_EQ(scalar("SELECT sum(amount) FROM ledger_transfers WHERE kind = 'block_mature' AND reference = $1",
                     {"block:" + mature_hash}),
              "5000000000");
    EXPECT_EQ(scalar("SELECT sum(amount) FROM ledger_transfers WHERE kind = 'block_orphan' AND reference = $1",
                     {"block:" + orphan_hash}),
              "5000000000");
    // What stays is one block's worth, all of it available; nothing immature.
    EXPECT_EQ(
        scalar("SELECT count(*) FROM balances WHERE currency = 'LTC' AND account LIKE '%immature' AND balance <> 0"),
        "0");
    EXPECT_EQ(scalar("SELECT sum(balance) FROM balances WHERE currency = 'LTC' AND balance > 0"), "5000000000");
    EXPECT_NE(scalar("SELECT balance FROM balances WHERE currency = 'LTC' AND account = 'user:early:available'"), "");
    EXPECT_NE(scalar("SELECT balance FROM balances WHERE currency = 'LTC' AND account = 'user:late:available'"), "");
    test::child_process audit({bin("bmm-accountd"), "audit", "--config", cfg},
                              st().dir() + "/accountd/audit-before.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/audit-before.log");

    // Running again books nothing new (the closed epoch, the blocks, the premine).
    const std::string transfers = scalar("SELECT count(*) || ' ' || sum(amount) FROM ledger_transfers");
    {
        test::child_process again({bin("bmm-accountd"), "run", "--config", cfg}, st().dir() + "/accountd/again.log");
        ASSERT_TRUE(wait_until(
            [&] {
                std::ifstream f(st().dir() + "/accountd/again.log");
                std::stringstream ss;
                ss << f.rdbuf();
                return ss.str().find("running the ledger") != std::string::npos;
            },
            30));
        std::this_thread::sleep_for(std::chrono::seconds(2));
        EXPECT_EQ(again.stop(SIGTERM, 20000), 0);
    }
    EXPECT_EQ(scalar("SELECT count(*) || ' ' || sum(amount) FROM ledger_transfers"), transfers);

    // A transfer that overdraws a user: the audit names it and exits 1.
    query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) "
        "VALUES ('test:overdraw', 'user:nobody:available', 'pool:fees:LTC', 'LTC', 7, 'block_fee', 'test')");
    test::child_process bad({bin("bmm-accountd"), "audit", "--config", cfg}, st().dir() + "/accountd/audit-bad.log");
    EXPECT_EQ(bad.wait(60000), 1);
    const std::string out = test::read_text(st().dir() + "/accountd/audit-bad.log");
    EXPECT_NE(out.find("account user:nobody:available holds -7 LTC, below zero"), std::string::npos) << out;
    EXPECT_NE(out.find("invariant: "), std::string::npos) << "the C++ check reports it too:\n" << out;
}

// A share that reaches the stream after its epoch has closed (bmm-stratum's
// spool after a long Redis outage) counts once, in the first epoch still open
// when it is stored: its DPP there equals that of the same share in time.
TEST(ledger_daemon, a_share_stored_after_its_epoch_closed_counts_in_the_first_open_epoch) {
    settings s;
    s.length = 2;
    const std::int64_t now_ms = test::unix_ms();
    s.genesis = now_ms / 1000 - 1;
    const std::string target = target_from_difficulty(0.004, pow_algorithm::scrypt)->to_hex();
    auto share = [&](const std::string& account, const std::string& uid, std::int64_t ms) {
        auto r = test::share_record(account, target, ms, uid);
        r["difficulty"] = "0.004";
        r["reason"] = "-";
        r["hash"] = fake_pow(account + uid);
        return r;
    };
    const std::int64_t in_epoch0 = s.genesis * 1000 + 300;
    const std::string stream = "bmm:test:late", cfg = write_config(stream, s);
    reset_schema(cfg);
    test::redis_conn().xadd_at(stream, {share("ontime", "late-test:1", in_epoch0)});
    const std::string log = st().dir() + "/accountd/late.log";
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, log);
    ASSERT_TRUE(wait_until(
        [&] { return scalar("SELECT count(*) FROM epochs WHERE k = 1 AND closed_at IS NOT NULL") == "1"; }, 30))
        << test::read_text(log);

    // The same share of another account, appended now with its time in epoch 0.
    const record r = share("tardy", "late-test:2", in_epoch0);
    std::string cmd = st().redis_cli() + " XADD " + stream + " '*'";
    for (const auto& [k, v] : r) {
        cmd += " " + k + " '" + v + "'";
    }
    ASSERT_EQ(test::run_capture(cmd + " 2>&1").size(), std::string("1700000000000-0").size());
    ASSERT_TRUE(wait_until(
        [&] {
            return scalar("SELECT coalesce(late_epoch::text, 'in time') FROM shares WHERE uid = 'late-test:2'") != "";
        },
        30))
        << test::read_text(log);
    const std::string k = scalar("SELECT late_epoch::text FROM shares WHERE uid = 'late-test:2'");
    ASSERT_NE(k, "") << "stored after epoch 0 and 1 closed, it is late";
    EXPECT_GE(std::stoll(k), 2);
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE late_epoch IS NOT NULL"), "1")
        << "the share in time is not late";
    ASSERT_TRUE(wait_until(
        [&] {
            return scalar("SELECT count(*) FROM epochs WHERE k = $1::bigint AND closed_at IS NOT NULL", {k}) == "1";
        },
        30))
        << test::read_text(log);
    EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
    EXPECT_EQ(scalar("SELECT string_agg(k::text, ',') FROM account_epochs WHERE account = 'tardy' AND dpp > 0"), k)
        << "counted once, in epoch " << k;
    EXPECT_EQ(scalar("SELECT dpp::text FROM account_epochs WHERE account = 'tardy' AND k = $1::bigint", {k}),
              scalar("SELECT dpp::text FROM account_epochs WHERE account = 'ontime' AND k = 0"));
    EXPECT_NE(test::read_text(log).find("arrived after their epoch had closed"), std::string::npos)
        << test::read_text(log);
    test::child_process audit({bin("bmm-accountd"), "audit", "--config", cfg}, st().dir() + "/accountd/audit-late.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/audit-late.log");
}

// A block found by a share rejected for accounting (stale) is still the pool's
// block (docs/accounting.md): it is booked whole at its epoch's close. Its
// finder is the account that sent the share: under solo the miners' part is
// all its own; under pplns the window ends at that share, which adds no work,
// so the miners' part goes to the accepted shares before it. The rejected
// share counts in no DPP.
TEST(ledger_daemon, a_block_found_by_a_rejected_share_is_booked_for_its_finder) {
    const std::string addr = st().cli("-rpcwallet=pool getnewaddress");
    for (const std::string scheme : {"solo", "pplns"}) {
        SCOPED_TRACE(scheme);
        st().cli("generatetoaddress 101 " + addr);
        const std::int64_t tip = std::stoll(st().cli("getblockcount"));
        const std::string hash = st().cli("getblockhash " + std::to_string(tip - 100));  // buried: mature at once
        settings s;
        s.length = 8;
        s.scheme = scheme;
        const std::int64_t now_ms = test::unix_ms();
        s.genesis = now_ms / 1000 - 1;
        const std::string target = target_from_difficulty(0.001, pow_algorithm::scrypt)->to_hex();
        // The network target: 4 of these shares' work, so the pplns window (N = 2) is 8 shares.
        const std::string network = target_from_difficulty(0.004, pow_algorithm::scrypt)->to_hex();
        auto share = [&](const std::string& account, int i, bool accepted, const std::string& block_hash) {
            auto r = test::share_record(account, target, now_ms - 900 + i * 10, scheme + ":" + std::to_string(i));
            r["v"] = "2";
            r["difficulty"] = "0.001";
            r["network_target"] = network;
            r["reward"] = "5000000000";
            r["accepted"] = accepted ? "1" : "0";
            r["code"] = accepted ? "0" : "21";
            r["reason"] = accepted ? "" : "stale share";
            r["block"] = block_hash.empty() ? "0" : "1";
            if (!block_hash.empty()) {
                r["block_hash"] = block_hash;
            }
            return r;
        };
        std::vector<record> rs;
        for (int i = 0; i < 10; ++i) {
            rs.push_back(share("helper", i, true, ""));
        }
        rs.push_back(share("finder", 10, false, hash));  // stale, but meets the network target
        rs.push_back(share("after", 11, true, ""));      // after the block: outside its pplns window
        rs.push_back(test::block_record(hash, "1", "finder", "5000000000", now_ms - 880 + 11 * 10, scheme + ":block"));
        const std::string stream = "bmm:test:rejected:" + scheme;
        const std::string cfg = write_config(stream, s);
        reset_schema(cfg);
        test::redis_conn().xadd_at(stream, rs);
        const std::string log = st().dir() + "/accountd/rejected-" + scheme + ".log";
        test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, log);
        ASSERT_TRUE(
            wait_until([&] { return scalar("SELECT count(*) FROM blocks WHERE status = 'mature'") == "1"; }, 60))
            << test::read_text(log);
        EXPECT_EQ(p.stop(SIGTERM, 20000), 0);
        EXPECT_EQ(scalar("SELECT finder FROM blocks WHERE hash = $1", {hash}), "finder");
        EXPECT_EQ(scalar("SELECT sum(amount) FROM ledger_transfers WHERE kind = 'block_mature' AND reference = $1",
                         {"block:" + hash}),
                  "5000000000");
        // R = 5000000000: fee 50000000, dividend 1000000000, miners 3950000000.
        const std::string miners_of =
            "SELECT coalesce(sum(amount), 0)::text FROM ledger_transfers WHERE kind = 'block_miner' "
            "AND reference = $1 AND credit = $2";
        if (scheme == "solo") {
            EXPECT_EQ(scalar(miners_of, {"block:" + hash, "user:finder:immature"}), "3950000000");
            EXPECT_EQ(scalar(miners_of, {"block:" + hash, "user:helper:immature"}), "0");
        } else {
            EXPECT_EQ(scalar(miners_of, {"block:" + hash, "user:helper:immature"}), "3950000000");
            EXPECT_EQ(scalar(miners_of, {"block:" + hash, "user:finder:immature"}), "0");
            EXPECT_EQ(scalar(miners_of, {"block:" + hash, "user:after:immature"}), "0");
        }
        EXPECT_EQ(scalar("SELECT count(*) FROM account_epochs WHERE account = 'finder' AND dpp > 0"), "0");
        EXPECT_EQ(scalar("SELECT count(*) FROM account_epochs WHERE account = 'helper' AND dpp > 0"), "1");
        // Synthetic blocks no node has: the ledger's checks, not the chain's.
        test::child_process audit({bin("bmm-accountd"), "audit", "--config", cfg, "--skip-chain"},
                                  st().dir() + "/accountd/audit-rejected.log");
        EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/audit-rejected.log");
    }
}

// pplns and pps on the same mining run shape, each on a fresh ledger.
TEST(ledger_daemon, pplns_mined_blocks_equal_an_independent_computation) {
    reset_schema(write_config("unused", settings{}));
    mine_and_check("pplns");
}

TEST(ledger_daemon, pps_mined_blocks_equal_an_independent_computation) {
    reset_schema(write_config("unused", settings{}));
    mine_and_check("pps");
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
