// The fault suite (issue 13, "Done when"): the crash and outage faults on the
// real single-machine stack while miners mine, each a test case:
//   - bmm-stratum killed with SIGKILL at random points (restarted: it replays its journal);
//   - bmm-accountd killed with SIGKILL at random points, and once just as an epoch closes;
//   - Redis stopped (SHUTDOWN) then started; Redis killed with SIGKILL (its append-only file);
//   - PostgreSQL stopped (fast) and crashed (immediate) then started;
//   - the spool's disk full (a small tmpfs filled) then freed;
//   - litecoind (the pool's node) stopped and started.
// The stack is the real one (tests/support/stack.hpp: PostgreSQL, Redis, two
// litecoind regtest nodes); one bmm-stratum and one bmm-accountd run through
// the whole suite, and miners (tests/support/share_miners.hpp) submit real
// scrypt shares: at regtest's network target each share is also a block.
//
// After each fault, with the miners stopped and the services back:
//   - told accepted = stored once: the proof-of-work hash of every share a
//     miner was answered "accepted" is in `shares` exactly once, accepted;
//     no share uid and no accepted proof-of-work hash is stored twice;
//   - every chain block booked once: every block of node A's main chain since
//     the suite began whose coinbase pays the pool address has its row in
//     `blocks`, not orphaned, and once its epoch closed, exactly its reward
//     booked out of system:coinbase:LTC;
//   - `bmm-accountd audit` is clean (the ledger, the records per instance,
//     the chain against the wallet, the wallet against the liabilities).
//
// The random points come from a seed printed at the start (BMM_FAULT_SEED=N
// replays a run). BMM_FAULT_ROUNDS=N (default 1, CI) sets the faults per case.

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/share_miners.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/node/rpc.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bmm::fault {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::query;
using test::scalar;
using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

constexpr int k_epoch_seconds = 10;
constexpr int k_close_grace_ms = 1500;
constexpr int k_miners = 2;
constexpr int k_interval_ms = 600;  // per miner: every share is a block, so about 3 blocks a second

std::int64_t env_int(const char* name, std::int64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoll(v) : fallback;
}

long long ms_since(steady_clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(steady_clock::now() - t).count();
}

// What the whole suite shares: one pool, one bmm-accountd, one stream, and
// every share told accepted so far.
struct suite_state {
    std::string stream = "bmm:fault";
    test::pool_options pool_opts;
    test::pool_process pool;
    std::atomic<int> port{0};
    test::accountd_process acc;
    std::string spool;
    bool spool_tmpfs = false;
    long long start_height = 0;
    std::int64_t genesis = 0;  // epoch 0's start (Unix s)
    std::uint64_t seed = 0;
    int rounds = 1;
    std::set<std::string> told;  // proof-of-work hashes of the shares told accepted
    std::size_t told_blocks = 0;
};
suite_state* g = nullptr;

// ---------------------------------------------------------------- checks --

// Node A's main chain above the suite's start: the blocks whose coinbase pays the pool address.
std::vector<std::pair<long long, std::string>> pool_blocks_on_chain(std::string* error) {
    node::rpc_client node(node::rpc_endpoint{st().setting("BMM_NODE_RPC_URL"), st().setting("BMM_NODE_RPC_USER"),
                                             st().setting("BMM_NODE_RPC_PASSWORD"), ""});
    std::vector<std::pair<long long, std::string>> out;
    auto tip = node.call("getblockcount");
    if (!tip) {
        *error = tip.error_message();
        return out;
    }
    const long long top = std::stoll(*tip);
    std::vector<std::string> params;
    for (long long h = g->start_height + 1; h <= top; ++h) {
        params.push_back("[" + std::to_string(h) + "]");
    }
    auto hashes = node.call_batch("getblockhash", params);
    if (!hashes) {
        *error = hashes.error_message();
        return out;
    }
    std::vector<std::string> bparams;
    for (const auto& h : *hashes) {
        if (!h) {
            *error = h.error_message();
            return out;
        }
        bparams.push_back("[" + *h + ", 2]");
    }
    auto blocks = node.call_batch("getblock", bparams);
    if (!blocks) {
        *error = blocks.error_message();
        return out;
    }
    const std::string pool = st().setting("BMM_POOL_ADDRESS");
    simdjson::dom::parser parser;
    for (const auto& b : *blocks) {
        if (!b) {
            *error = b.error_message();
            return out;
        }
        auto doc = parser.parse(*b);
        std::string_view hash;
        std::int64_t height = 0;
        simdjson::dom::array txs;
        if (doc.error() || doc["hash"].get(hash) || doc["height"].get(height) || doc["tx"].get(txs)) {
            *error = "getblock answered without hash, height or tx: " + b->substr(0, 200);
            return out;
        }
        bool pays = false;
        simdjson::dom::array vouts;
        if (!txs.at(0)["vout"].get(vouts)) {
            for (auto v : vouts) {
                std::string_view a;
                if (!v["scriptPubKey"]["address"].get(a) && a == pool) {
                    pays = true;
                }
                simdjson::dom::array as;
                if (!v["scriptPubKey"]["addresses"].get(as)) {
                    for (auto x : as) {
                        pays = pays || (x.is_string() && std::string_view(x) == pool);
                    }
                }
            }
        }
        if (pays) {
            out.emplace_back(height, std::string(hash));
        }
    }
    return out;
}

// The chain's pool blocks without their booking; empty when every one is booked once.
std::vector<std::string> unbooked_chain_blocks(std::size_t* on_chain) {
    std::string error;
    const auto blocks = pool_blocks_on_chain(&error);
    if (!error.empty()) {
        return {"node A: " + error};
    }
    *on_chain = blocks.size();
    std::map<std::string, std::vector<std::string>> booked;  // hash -> status, reward, closed, booked sum, orphans
    for (const auto& r :
         query("SELECT b.hash, b.status, b.reward::text, (e.closed_at IS NOT NULL)::text, "
               "coalesce((SELECT sum(amount) FROM ledger_transfers t WHERE t.reference = 'block:' || b.hash AND "
               "t.debit = 'system:coinbase:LTC' AND t.kind IN ('block_fee', 'block_dividend', 'block_miner', "
               "'block_undistributed')), 0)::text, "
               "(SELECT count(*) FROM ledger_transfers t WHERE t.reference = 'block:' || b.hash AND "
               "t.kind = 'block_orphan')::text "
               "FROM blocks b LEFT JOIN epochs e ON e.k = b.epoch WHERE b.coin = 'LTC' AND b.height > $1",
               {std::to_string(g->start_height)})) {
        booked[r[0]] = {r[1], r[2], r[3], r[4], r[5]};
    }
    std::vector<std::string> problems;
    for (const auto& [height, hash] : blocks) {
        auto it = booked.find(hash);
        if (it == booked.end()) {
            problems.push_back("block " + hash + " (height " + std::to_string(height) +
                               ") is in the main chain paying the pool but has no row in blocks");
            continue;
        }
        const auto& b = it->second;
        if (b[0] == "orphaned") {
            problems.push_back("block " + hash + " is in the main chain but booked orphaned");
        } else if (b[2] == "true" && b[4] == "0" && b[3] != b[1]) {
            problems.push_back("block " + hash + ": its epoch closed and " + b[3] +
                               " was booked out of system:coinbase:LTC, not its reward " + b[1]);
        }
    }
    return problems;
}

// The told-accepted shares not stored exactly once (accepted), as "hash: n rows".
std::vector<std::string> told_not_stored_once() {
    std::string arr = "{";
    for (const auto& h : g->told) {
        arr += (arr.size() > 1 ? "," : "") + h;
    }
    arr += "}";
    std::map<std::string, std::string> rows;
    for (const auto& r : query("SELECT hash, count(*)::text FROM shares WHERE accepted AND hash = ANY($1::text[]) "
                               "GROUP BY hash",
                               {arr})) {
        rows[r[0]] = r[1];
    }
    std::vector<std::string> out;
    for (const auto& h : g->told) {
        auto it = rows.find(h);
        if (it == rows.end()) {
            out.push_back(h + ": not stored");
        } else if (it->second != "1") {
            out.push_back(h + ": stored " + it->second + " times");
        }
    }
    return out;
}

std::string head(const std::vector<std::string>& v, std::size_t n = 10) {
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < n; ++i) {
        s += "  " + v[i] + "\n";
    }
    if (v.size() > n) {
        s += "  ... and " + std::to_string(v.size() - n) + " more\n";
    }
    return s;
}

// ---------------------------------------------------------------- faults --

std::string redis_cli() { return st().redis_cli() + " "; }

void pg_ctl_stop(const std::string& mode) {
    (void)test::run_capture("runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D '" + st().dir() +
                            "/pg/data' -m " + mode + " -w stop 2>&1");
}

pid_t pid_in(const std::string& file) {
    std::ifstream f(file);
    long long pid = 0;
    f >> pid;
    return static_cast<pid_t>(pid);
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

void sleep_ms(long long ms) { std::this_thread::sleep_for(milliseconds(ms)); }

void restart_pool() { g->pool.start(g->pool_opts); }

// One round: miners mine, `fault` runs at a random point and returns once the
// faulted part is back (or has been brought back), miners mine on, then stop.
struct round_figures {
    long long point_ms = 0, down_ms = 0, recovery_ms = -1, settle_ms = 0, stored_ms = 0, booked_ms = 0;
    std::size_t told = 0, blocks = 0, stored = 0;
    std::size_t chain_blocks = 0;
    std::string epochs_closed, blocks_split;
    std::map<int, int> rejected;
    int unanswered = 0, connections = 0;
    std::string note;
};

class fault : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g = new suite_state;
        g->seed = static_cast<std::uint64_t>(
            env_int("BMM_FAULT_SEED", static_cast<std::int64_t>(std::random_device{}() & 0x7fffffff)));
        g->rounds = static_cast<int>(env_int("BMM_FAULT_ROUNDS", 1));
        std::printf("fault suite: seed %llu, %d round(s) per fault (replay: BMM_FAULT_SEED=%llu BMM_FAULT_ROUNDS=%d)\n",
                    static_cast<unsigned long long>(g->seed), g->rounds, static_cast<unsigned long long>(g->seed),
                    g->rounds);
        std::fflush(stdout);
        const std::int64_t genesis = test::unix_seconds() + 2;
        g->genesis = genesis;
        test::accountd_options ao;
        ao.name = "accountd-fault";
        ao.stream = g->stream;
        ao.genesis = genesis;
        ao.epoch_seconds = k_epoch_seconds;
        ao.close_grace_ms = k_close_grace_ms;
        g->acc.configure(ao);
        g->start_height = std::stoll(st().cli("getblockcount"));
        // The pool starts after genesis: its blocks' times fall in the ledger's epochs.
        sleep_ms((genesis - test::unix_seconds()) * 1000 + 1500);

        g->pool_opts.name = "pool-fault";
        g->pool_opts.stream = g->stream;
        g->pool_opts.instance_id = 5;
        g->pool_opts.threads = 1;
        const int port = test::free_port_near(34000 - 2000);
        g->port = port;
        g->pool_opts.ports = {port};
        g->pool_opts.port_sections = "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                                     "\nstart_difficulty = 0.001\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n"
                                     "target_share_seconds = 5\nretarget_seconds = 600\n";
        // The spool on its own small disk (a tmpfs), so that a test can fill it.
        g->spool = st().dir() + "/" + g->pool_opts.name + "/spool";
        std::filesystem::create_directories(g->spool);
        if (::geteuid() == 0 && std::system(("mount -t tmpfs -o size=16m tmpfs '" + g->spool + "'").c_str()) == 0) {
            g->spool_tmpfs = true;
        }
        g->pool.start(g->pool_opts);
        g->acc.start();
    }

    static void TearDownTestSuite() {
        g->pool.stop();
        (void)g->acc.stop();
        if (g->spool_tmpfs) {
            (void)std::system(("umount -l '" + g->spool + "' 2>/dev/null").c_str());
        }
        delete g;
        g = nullptr;
    }

    // A generator for this case and round, from the suite's seed.
    static std::mt19937_64 rng_for(const std::string& name, int round) {
        std::seed_seq s{static_cast<std::uint64_t>(g->seed), static_cast<std::uint64_t>(std::hash<std::string>{}(name)),
                        static_cast<std::uint64_t>(round)};
        return std::mt19937_64(s);
    }
    static long long uniform(std::mt19937_64& r, long long lo, long long hi) {
        return std::uniform_int_distribution<long long>(lo, hi)(r);
    }
    // Leaves what a case stopped down for a random lo..hi ms, then starts the
    // stack's parts again (deploy/stack.sh up); the round's note says how long.
    static void stay_down_then_start(std::mt19937_64& rng, round_figures& f, long long lo, long long hi) {
        const long long down = uniform(rng, lo, hi);
        sleep_ms(down);
        ASSERT_TRUE(st().up_again());
        f.note = "down " + std::to_string(down) + " ms";
    }

    // Runs `rounds` rounds of `fault_fn`, checking everything after each.
    // fault_fn(rng, figures) does the fault and brings the part back.
    void run_rounds(const std::string& name, const std::function<void(std::mt19937_64&, round_figures&)>& fault_fn) {
        for (int round = 1; round <= g->rounds; ++round) {
            SCOPED_TRACE(name + " round " + std::to_string(round) + " (BMM_FAULT_SEED=" + std::to_string(g->seed) +
                         ")");
            auto rng = rng_for(name, round);
            round_figures f;
            test::share_miners miners(g->port, name + std::to_string(round), k_miners, k_interval_ms);
            miners.start();
            f.point_ms = uniform(rng, 1000, 3000);
            sleep_ms(f.point_ms);
            const auto fault_start = steady_clock::now();
            fault_fn(rng, f);
            const auto back = steady_clock::now();
            f.down_ms = std::chrono::duration_cast<milliseconds>(back - fault_start).count();
            // Mining resumes: the first share told accepted after the part came back.
            test::wait_until([&] { return miners.first_accepted_after(back).has_value(); }, 60);
            if (auto t = miners.first_accepted_after(back)) {
                f.recovery_ms = std::chrono::duration_cast<milliseconds>(*t - back).count();
            }
            sleep_ms(1500);
            miners.stop();
            const auto mined = miners.accepted();
            for (const auto& s : mined) {
                g->told.insert(s.pow);
                f.blocks += s.block_candidate ? 1 : 0;
            }
            g->told_blocks += f.blocks;
            f.told = mined.size();
            f.rejected = miners.rejected();
            f.unanswered = miners.unanswered();
            f.connections = miners.connections();
            EXPECT_GT(f.recovery_ms, -1) << "no share was accepted within 60 s after the fault\n" << g->pool.log_tail();
            check(name, round, f);
        }
    }

    // The three checks, each waited for with a bound, then asserted.
    static void check(const std::string& name, int round, round_figures& f) {
        const auto settle_start = steady_clock::now();
        ASSERT_TRUE(g->pool.proc && g->pool.proc->running()) << "bmm-stratum ended\n" << g->pool.log_tail();
        ASSERT_TRUE(g->acc.running()) << "bmm-accountd ended\n" << g->acc.log_tail();
        std::vector<std::string> missing;
        test::wait_until(
            [&] {
                missing = told_not_stored_once();
                return missing.empty();
            },
            120);
        f.stored_ms = ms_since(settle_start);
        std::vector<std::string> unbooked, first_unbooked;
        test::wait_until(
            [&] {
                unbooked = unbooked_chain_blocks(&f.chain_blocks);
                if (first_unbooked.empty()) {
                    first_unbooked = unbooked;
                }
                return unbooked.empty();
            },
            120);
        f.booked_ms = ms_since(settle_start);
        const auto audit = g->acc.wait_audit_clean(120);
        f.settle_ms = ms_since(settle_start);
        if (f.settle_ms > 10000) {
            std::printf("FAULT %s round %d: slow to settle; first unbooked:\n%s", name.c_str(), round,
                        head(first_unbooked).c_str());
        }
        f.epochs_closed = scalar("SELECT count(*) FROM epochs WHERE closed_at IS NOT NULL");
        f.blocks_split = scalar(
            "SELECT count(*) FROM blocks b JOIN epochs e ON e.k = b.epoch WHERE e.closed_at IS NOT NULL AND b.height > "
            "$1",
            {std::to_string(g->start_height)});
        f.stored = g->told.size() - missing.size();

        EXPECT_TRUE(missing.empty()) << missing.size() << " of " << g->told.size()
                                     << " shares told accepted are not stored exactly once:\n"
                                     << head(missing) << g->acc.log_tail();
        const auto twice_uid =
            scalar("SELECT count(*) FROM (SELECT uid FROM shares GROUP BY uid HAVING count(*) > 1) d");
        EXPECT_EQ(twice_uid, "0") << "share uids stored twice";
        const auto twice_pow = scalar(
            "SELECT count(*) FROM (SELECT hash FROM shares WHERE accepted AND hash <> '' GROUP BY hash "
            "HAVING count(*) > 1) d");
        EXPECT_EQ(twice_pow, "0") << "accepted proof-of-work hashes stored twice";
        EXPECT_TRUE(unbooked.empty()) << "main-chain blocks paying the pool not booked once:\n"
                                      << head(unbooked) << g->acc.log_tail();
        EXPECT_EQ(audit.rc, 0) << "bmm-accountd audit is not clean:\n"
                               << audit.out << "\n"
                               << g->acc.log_tail() << "\nnode A's chain tips:\n"
                               << st().cli("getchaintips") << "\nthe last deploy/stack.sh up:\n"
                               << st().up_again_log();

        std::string rejected;
        for (const auto& [code, n] : f.rejected) {
            rejected += (rejected.empty() ? "" : " ") + std::to_string(code) + ":" + std::to_string(n);
        }
        std::printf(
            "FAULT %s round %d: point %lld ms, fault %lld ms; told accepted %zu (rejected {%s}, unanswered %d, "
            "connections %d); all told stored once %zu/%zu; pool blocks on the chain %zu (since start); mining "
            "again %lld ms after; stored after %lld ms, booked after %lld ms, audit clean after %lld ms; epochs closed "
            "%s, blocks split at a "
            "close %s%s%s\n",
            name.c_str(), round, f.point_ms, f.down_ms, f.told, rejected.c_str(), f.unanswered, f.connections, f.stored,
            g->told.size(), f.chain_blocks, f.recovery_ms, f.stored_ms, f.booked_ms, f.settle_ms,
            f.epochs_closed.c_str(), f.blocks_split.c_str(), f.note.empty() ? "" : "; ", f.note.c_str());
        std::fflush(stdout);
    }
};

// ----------------------------------------------------------------- cases --

TEST_F(fault, bmm_stratum_kill_9_while_mining) {
    run_rounds("stratum-kill9", [](std::mt19937_64& rng, round_figures& f) {
        g->pool.proc->signal(SIGKILL);
        g->pool.proc->wait(5000);
        const long long pause = uniform(rng, 0, 1000);
        sleep_ms(pause);
        restart_pool();
        // Then in the window around submitblock: a fault point kills it with the block's record written and
        // the block not yet sent, or just after the node took it (chosen at random); it restarts without one.
        const std::string point = uniform(rng, 0, 1) ? "kill-before-submitblock" : "kill-after-submitblock";
        sleep_ms(uniform(rng, 300, 1500));
        g->pool.proc->signal(SIGKILL);
        g->pool.proc->wait(5000);
        auto faulty = g->pool_opts;
        faulty.env["BMM_STRATUM_FAULT"] = point;
        g->pool.start(faulty);
        ASSERT_TRUE(test::wait_until([] { return !g->pool.proc->running(); }, 30))
            << "the fault point " << point << " did not kill bmm-stratum\n"
            << g->pool.log_tail();
        EXPECT_NE(g->pool.log_tail(20000).find("fault point " + point + ": kill -9"), std::string::npos)
            << g->pool.log_tail();
        restart_pool();
        // Then with Redis away, so that the journal holds a backlog nobody published: killed, restarted
        // while Redis is still down, and Redis back: the backlog goes out from the journal.
        (void)test::run_capture(redis_cli() + "shutdown 2>&1");
        sleep_ms(uniform(rng, 500, 2000));
        g->pool.proc->signal(SIGKILL);
        g->pool.proc->wait(5000);
        restart_pool();
        sleep_ms(uniform(rng, 500, 1500));
        ASSERT_TRUE(st().up_again());
        f.note = "restarted after " + std::to_string(pause) + " ms; then killed at " + point +
                 "; then killed with Redis down";
    });
}

TEST_F(fault, bmm_accountd_kill_9_at_random_and_during_an_epoch_close) {
    run_rounds("accountd-kill9", [](std::mt19937_64& rng, round_figures& f) {
        g->acc.kill9();
        sleep_ms(uniform(rng, 0, 1000));
        g->acc.start();
        // Then in the middle of an epoch's close: a fault point kills it with the close computed and not
        // booked, or just after the booking committed (chosen at random); it restarts without one.
        const std::string point = uniform(rng, 0, 1) ? "kill-before-epoch-booked" : "kill-after-epoch-booked";
        const auto closed_before = scalar("SELECT count(*) FROM epochs WHERE closed_at IS NOT NULL");
        const auto mark = test::read_text(g->acc.log).size();
        g->acc.kill9();
        g->acc.start({{"BMM_ACCOUNTD_FAULT", point}});
        ASSERT_TRUE(test::wait_until([] { return !g->acc.running(); }, 3 * k_epoch_seconds))
            << "the fault point " << point << " did not kill bmm-accountd at an epoch close\n"
            << g->acc.log_tail();
        EXPECT_NE(test::read_text(g->acc.log).find("fault point " + point, mark), std::string::npos)
            << g->acc.log_tail();
        const auto closed_at_kill = scalar("SELECT count(*) FROM epochs WHERE closed_at IS NOT NULL");
        sleep_ms(uniform(rng, 0, 1000));
        g->acc.start();
        f.note = "second kill at " + point + " (epochs closed: " + closed_before + " before, " + closed_at_kill +
                 " at the kill)";
    });
    // The epochs closed across the kills are closed (the close resumed).
    ASSERT_TRUE(test::wait_until(
        [] {
            return scalar(
                       "SELECT count(*) FROM epochs WHERE closed_at IS NULL AND end_at + interval '5 seconds' < "
                       "now()") == "0";
        },
        60))
        << g->acc.log_tail();
}

TEST_F(fault, redis_stopped_then_started) {
    run_rounds("redis-stop", [](std::mt19937_64& rng, round_figures& f) {
        (void)test::run_capture(redis_cli() + "shutdown 2>&1");
        stay_down_then_start(rng, f, 1000, 3000);
    });
}

TEST_F(fault, redis_kill_9_then_started_from_its_append_only_file) {
    run_rounds("redis-kill9", [](std::mt19937_64& rng, round_figures& f) {
        const pid_t pid = pid_in(st().dir() + "/redis/redis.pid");
        ASSERT_TRUE(alive(pid)) << "no Redis pid";
        ::kill(pid, SIGKILL);
        ASSERT_TRUE(test::wait_until([&] { return !alive(pid); }, 10));
        stay_down_then_start(rng, f, 500, 2500);
    });
}

TEST_F(fault, postgresql_stopped_fast_then_started) {
    run_rounds("pg-fast", [](std::mt19937_64& rng, round_figures& f) {
        pg_ctl_stop("fast");
        stay_down_then_start(rng, f, 1000, 3000);
    });
}

TEST_F(fault, postgresql_crashed_immediate_then_started) {
    run_rounds("pg-immediate", [](std::mt19937_64& rng, round_figures& f) {
        pg_ctl_stop("immediate");
        stay_down_then_start(rng, f, 1000, 3000);
    });
}

TEST_F(fault, spool_disk_full_then_freed) {
    if (!g->spool_tmpfs) {
        GTEST_SKIP() << "needs root to mount a small tmpfs as the spool";
    }
    run_rounds("spool-full", [](std::mt19937_64& rng, round_figures& f) {
        const std::string filler = g->spool + "/filler";
        (void)std::system(("dd if=/dev/zero of='" + filler + "' bs=4k 2>/dev/null").c_str());
        ASSERT_NE(std::system(("echo x >> '" + g->spool + "/probe' 2>/dev/null").c_str()), 0) << "the disk is not full";
        const long long full = uniform(rng, 1500, 3500);
        sleep_ms(full);
        std::filesystem::remove(filler);
        std::filesystem::remove(g->spool + "/probe");
        f.note = "full for " + std::to_string(full) + " ms";
    });
}

TEST_F(fault, litecoind_restarted) {
    run_rounds("litecoind-restart", [](std::mt19937_64& rng, round_figures& f) {
        const pid_t pid = pid_in(st().setting("BMM_NODE_DATADIR") + "/litecoind.pid");
        (void)st().cli("stop");
        ASSERT_TRUE(test::wait_until([&] { return !alive(pid); }, 60)) << "litecoind A did not stop";
        const long long down = uniform(rng, 0, 2000);
        sleep_ms(down);
        ASSERT_TRUE(st().up_again());
        f.note = "down " + std::to_string(down) + " ms after it stopped";
    });
}

}  // namespace
}  // namespace bmm::fault

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
