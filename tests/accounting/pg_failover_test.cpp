// PostgreSQL failover under bmm-accountd (issue 17, the program side), on
// real parts: the stack's PostgreSQL is the primary; a streaming replica made
// with pg_basebackup runs beside it on another loopback port (synchronous: a
// commit is on the replica before it returns, as Patroni's synchronous mode
// strict); PgBouncer in transaction pooling sits in front of the replica.
// bmm-accountd runs with [postgres] hosts = [primary, replica] and
// [api.read_postgres] on PgBouncer, ingesting what bmm-miner mines through a
// real bmm-stratum, and closing epochs of a few seconds.
//
// While an epoch close is inside its transaction (held there by a lock this
// test takes on ledger_transfers), the primary is stopped (pg_ctl stop -m
// immediate) and the replica promoted (pg_ctl promote). bmm-accountd must
// reconnect to the new primary and go on: every share of the stream stored
// exactly once, the interrupted epoch closed once, `bmm-accountd audit`
// clean; the API answers from PgBouncer/the replica (while the primary is
// down, too). The test prints how long the ingest stalled.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"
#include "../support/wait.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

namespace bmm::accounting {
namespace {

using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

constexpr std::int64_t k_epoch_seconds = 4;

// Polls every 100 ms: the figures this test reports depend on it.
bool wait_for(const std::function<bool()>& cond, int seconds) {
    return test::wait_until(cond, seconds, std::chrono::milliseconds(100));
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Runs a shell command as the postgres user; returns its output and exit code.
std::pair<int, std::string> as_postgres(const std::string& cmd) {
    const std::string out_file = st().dir() + "/as-postgres.out";
    const std::string full = "runuser -u postgres -- bash -c \"" + cmd + "\" > '" + out_file + "' 2>&1";
    const int rc = std::system(full.c_str());
    return {rc, test::read_text(out_file)};
}

// A connection (not the stack's default) to one server, as the pool's user.
pg::settings server(int port) {
    pg::settings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.user = st().setting("BMM_PG_USER");
    s.dbname = st().setting("BMM_PG_DB");
    s.password = st().setting("BMM_PG_PASSWORD");
    s.application_name = "pg_failover_test";
    return s;
}

std::string scalar_on(int port, const std::string& sql) {
    auto c = pg::connection::open(server(port));
    if (!c) {
        return "error: " + c.error_message();
    }
    auto r = c->exec(sql);
    if (!r || r->rows() == 0) {
        return r ? "" : "error: " + r.error_message();
    }
    return r->text(0, 0);
}

// A number from one server, or -1 when it cannot answer (yet).
long long number_on(int port, const std::string& sql) {
    const std::string v = scalar_on(port, sql);
    return v.empty() || v.rfind("error", 0) == 0 ? -1 : std::stoll(v);
}

// The uids of the shares bmm-stratum wrote into the stream that are stored as rows (accepted, or a block).
std::set<std::string> stream_share_uids(const std::string& stream) {
    redisContext* c = test::stack_redis();
    if (!c || c->err) {
        throw std::runtime_error("cannot connect to the test Redis");
    }
    std::set<std::string> out;
    auto* r = static_cast<redisReply*>(redisCommand(c, "XRANGE %s - +", stream.c_str()));
    for (std::size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
        const redisReply* f = r->element[i]->element[1];
        std::string type, uid, accepted, block;
        for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
            const std::string key(f->element[k]->str, f->element[k]->len);
            const std::string value(f->element[k + 1]->str, f->element[k + 1]->len);
            if (key == "type") {
                type = value;
            } else if (key == "uid") {
                uid = value;
            } else if (key == "accepted") {
                accepted = value;
            } else if (key == "block") {
                block = value;
            }
        }
        // A rejected share that is not a block is only counted (share_minutes), never a row (sql/0026).
        if (type == "share" && (accepted == "1" || block == "1")) {
            out.insert(uid);
        }
    }
    if (r) {
        freeReplyObject(r);
    }
    redisFree(c);
    return out;
}

int http_status(int port, const std::string& path) {
    const std::string code = test::run_capture(
        "curl -s -m 5 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" + std::to_string(port) + path + "'");
    return std::atoi(code.c_str());
}

// The replica, PgBouncer and the clean-up of both (the stack stops the primary).
struct replica_set {
    std::string pg_bin = "/usr/lib/postgresql/15/bin";
    std::string root, primary_data, replica_data, sockets, bouncer_dir;
    int primary_port = 0, replica_port = 0, bouncer_port = 0;
    bool bouncer_up = false, replica_up = false;

    void start() {
        sockets = st().setting("BMM_PG_SOCKET_DIR");
        root = std::filesystem::path(sockets).parent_path().string();
        primary_data = root + "/data";
        replica_data = root + "/replica";
        primary_port = std::stoi(st().setting("BMM_PG_PORT"));
        replica_port = test::free_port_near(30500);
        bouncer_port = test::free_port(replica_port + 1);
        // Replication by peer over the socket for the superuser (the stack's
        // pg_hba has no replication line), then the base backup.
        auto [h, hout] = as_postgres("echo 'local replication postgres peer' >> " + primary_data + "/pg_hba.conf && " +
                                     pg_bin + "/pg_ctl -D " + primary_data + " reload");
        if (h != 0) {
            throw std::runtime_error("pg_hba for replication: " + hout);
        }
        auto [b, bout] = as_postgres(pg_bin + "/pg_basebackup -h " + sockets + " -p " + std::to_string(primary_port) +
                                     " -U postgres -D " + replica_data + " -R -X stream -c fast");
        if (b != 0) {
            throw std::runtime_error("pg_basebackup failed: " + bout);
        }
        auto [s, sout] = as_postgres(pg_bin + "/pg_ctl -D " + replica_data + " -l " + root +
                                     "/replica.log -w -t 60 -o '-p " + std::to_string(replica_port) + "' start");
        if (s != 0) {
            throw std::runtime_error("the replica did not start: " + sout + test::read_text(root + "/replica.log"));
        }
        replica_up = true;
        // Synchronous: a COMMIT returns once the replica has it (the
        // replica's own configuration, copied before this, has no such line:
        // promoted, it writes alone).
        auto [y, yout] = as_postgres(pg_bin + "/psql -X -q -h " + sockets + " -p " + std::to_string(primary_port) +
                                     " -U postgres -d postgres -c \\\"ALTER SYSTEM SET synchronous_standby_names = "
                                     "'*'\\\" -c 'SELECT pg_reload_conf()'");
        if (y != 0) {
            throw std::runtime_error("synchronous_standby_names: " + yout);
        }
        // PgBouncer (refuses to run as root) in transaction pooling in front of the replica.
        bouncer_dir = root + "/pgbouncer";
        std::filesystem::create_directories(bouncer_dir);
        const std::string db = st().setting("BMM_PG_DB"), user = st().setting("BMM_PG_USER");
        std::ofstream(bouncer_dir + "/users.txt")
            << "\"" << user << "\" \"" << st().setting("BMM_PG_PASSWORD") << "\"\n";
        std::ofstream(bouncer_dir + "/pgbouncer.ini")
            << "[databases]\n"
            << db << " = host=127.0.0.1 port=" << replica_port << " dbname=" << db << "\n"
            << "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " << bouncer_port
            << "\nunix_socket_dir =\nauth_type = scram-sha-256\nauth_file = " << bouncer_dir
            << "/users.txt\npool_mode = transaction\nmax_client_conn = 100\ndefault_pool_size = 4\n"
            << "logfile = " << bouncer_dir << "/pgbouncer.log\npidfile = " << bouncer_dir << "/pgbouncer.pid\n";
        test::run_capture("chown -R postgres:postgres '" + bouncer_dir + "' && chmod 600 '" + bouncer_dir +
                          "/users.txt'");
        auto [p, pout] = as_postgres("pgbouncer -d " + bouncer_dir + "/pgbouncer.ini");
        if (p != 0) {
            throw std::runtime_error("pgbouncer did not start: " + pout +
                                     test::read_text(bouncer_dir + "/pgbouncer.log"));
        }
        bouncer_up = true;
        if (!wait_for([&] { return !test::port_free(bouncer_port); }, 20)) {
            throw std::runtime_error("pgbouncer does not listen: " + test::read_text(bouncer_dir + "/pgbouncer.log"));
        }
    }

    ~replica_set() {
        if (bouncer_up) {
            as_postgres("kill $(cat " + bouncer_dir + "/pgbouncer.pid)");
        }
        if (replica_up) {
            as_postgres(pg_bin + "/pg_ctl -D " + replica_data + " -m immediate -w -t 30 stop");
        }
    }
};

std::string write_config(const replica_set& rs, const std::string& stream, std::int64_t genesis, int api_port) {
    const std::string dir = st().dir() + "/accountd";
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/failover.toml";
    std::ofstream f(path);
    f << "[postgres]\nhosts = [\"127.0.0.1:" << rs.primary_port << "\", \"127.0.0.1:" << rs.replica_port
      << "\"]\ntarget_session_attrs = \"read-write\"\nuser = \"" << st().setting("BMM_PG_USER") << "\"\ndbname = \""
      << st().setting("BMM_PG_DB") << "\"\npassword = \"" << st().setting("BMM_PG_PASSWORD")
      << "\"\nmigrations_dir = \"" << st().source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st().setting("BMM_REDIS_PASSWORD_FILE") << "\"\nstream = \"" << stream
      << "\"\ngroup = \"accountd\"\nconsumer = \"one\"\n"
      << "[node]\nurl = \"" << st().setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st().setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st().setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << "[ingest]\nbatch_size = 200\nblock_ms = 100\n"
      << "[epochs]\nlength_seconds = " << k_epoch_seconds << "\ngenesis = " << genesis
      << "\nclose_grace_ms = 1000\nstep_ms = 200\n"
      << "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\norphan_readings = 1\n"
      << "[api]\nenabled = true\nhost = \"127.0.0.1\"\nport = " << api_port << "\n"
      << "[api.read_postgres]\nhost = \"127.0.0.1\"\nport = " << rs.bouncer_port << "\n"
      << "[log]\nlevel = \"info\"\n";
    return path;
}

TEST(PgFailover, AccountdFollowsThePromotedReplicaAndStoresEverythingOnce) {
    replica_set rs;
    ASSERT_NO_THROW(rs.start());
    // The replica streams, synchronously.
    const std::string sync_query = rs.pg_bin + "/psql -X -tA -h " + rs.sockets + " -p " +
                                   std::to_string(rs.primary_port) +
                                   " -U postgres -d postgres -c 'SELECT sync_state FROM pg_stat_replication'";
    ASSERT_TRUE(wait_for([&] { return as_postgres(sync_query).second.find("sync") == 0; }, 30))
        << as_postgres(sync_query).second;

    const std::string stream = "bmm:shares:failover";
    const std::int64_t genesis = now_ms() / 1000 + 2;
    const int api_port = test::free_port(rs.bouncer_port + 1);
    const std::string cfg = write_config(rs, stream, genesis, api_port);
    {
        test::child_process check({test::bin("bmm-accountd"), "check-config", "--config", cfg},
                                  st().dir() + "/accountd/check.log");
        ASSERT_EQ(check.wait(30000), 0) << test::read_text(st().dir() + "/accountd/check.log");
        const std::string said = test::read_text(st().dir() + "/accountd/check.log");
        EXPECT_NE(said.find("127.0.0.1:" + std::to_string(rs.replica_port)), std::string::npos) << said;
        EXPECT_NE(said.find("transaction pooling"), std::string::npos) << said;
    }

    test::pool_process pool;
    test::pool_options po;
    po.name = "pool-failover";
    po.stream = stream;
    po.instance_id = 1;
    po.ports = {test::free_port_near(28000)};
    ASSERT_NO_THROW(pool.start(po));
    const std::string acc_log = st().dir() + "/accountd/failover-run.log";
    auto acc = std::make_unique<test::child_process>(
        std::vector<std::string>{test::bin("bmm-accountd"), "run", "--config", cfg}, acc_log);

    auto miner = [&](const std::string& user, int seconds) {
        const std::string log = st().dir() + "/miner-" + user + ".log";
        return std::make_unique<test::child_process>(
            std::vector<std::string>{test::bin("bmm-miner"), "--url",
                                     "stratum+tcp://127.0.0.1:" + std::to_string(po.ports[0]), "--user", user,
                                     "--suggest-difficulty", "0.0005", "--shares", "100000", "--submits", "1000000",
                                     "--seconds", std::to_string(seconds), "--quiet"},
            log);
    };
    auto alice = miner("alice.rig", 40);
    auto bob = miner("bob.rig", 40);

    // Shares flow into the primary; the account row reaches the replica and
    // the API reads it there through PgBouncer.
    ASSERT_TRUE(wait_for([&] { return number_on(rs.primary_port, "SELECT count(*) FROM shares") >= 20; }, 60))
        << test::read_text(acc_log);
    ASSERT_TRUE(wait_for(
        [&] { return scalar_on(rs.replica_port, "SELECT count(*) FROM accounts WHERE name = 'alice'") == "1"; }, 30));
    ASSERT_TRUE(wait_for([&] { return http_status(api_port, "/api/v1/accounts/alice") == 200; }, 30))
        << test::read_text(acc_log);
    EXPECT_EQ(http_status(api_port, "/api/v1/accounts/nobody-here"), 404);
    // PgBouncer carried those reads: its pool to the replica has been used.
    const std::string bouncer_stats =
        test::run_capture("PGPASSWORD='" + st().setting("BMM_PG_PASSWORD") + "' psql -X -tA -h 127.0.0.1 -p " +
                          std::to_string(rs.bouncer_port) + " -U " + st().setting("BMM_PG_USER") + " -d " +
                          st().setting("BMM_PG_DB") + " -c 'SELECT inet_server_port(), pg_is_in_recovery()' 2>&1");
    EXPECT_NE(bouncer_stats.find(std::to_string(rs.replica_port) + "|t"), std::string::npos) << bouncer_stats;

    // Hold the next epoch close inside its transaction: it locks
    // ledger_transfers (SHARE ROW EXCLUSIVE) after locking its epoch row;
    // this ROW EXCLUSIVE lock makes it wait there.
    auto holder = pg::connection::open(server(rs.primary_port));
    ASSERT_TRUE(holder) << holder.error_message();
    ASSERT_TRUE(holder->exec("BEGIN; LOCK TABLE ledger_transfers IN ROW EXCLUSIVE MODE"));
    ASSERT_TRUE(wait_for(
        [&] {
            return scalar_on(rs.primary_port,
                             "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE "
                             "'LOCK TABLE ledger_transfers%'") == "1";
        },
        60))
        << test::read_text(acc_log);
    const std::string held_epoch = scalar_on(rs.primary_port, "SELECT min(k) FROM epochs WHERE closed_at IS NULL");
    const long long shares_before = number_on(rs.primary_port, "SELECT count(*) FROM shares");

    // The failover: the primary stops at once, the replica is promoted.
    const auto t_stop = std::chrono::steady_clock::now();
    auto [s, sout] = as_postgres(rs.pg_bin + "/pg_ctl -D " + rs.primary_data + " -m immediate -w -t 30 stop");
    ASSERT_EQ(s, 0) << sout;
    // While no primary runs, the API still reads from the replica.
    EXPECT_EQ(http_status(api_port, "/api/v1/accounts/alice"), 200);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto t_promote = std::chrono::steady_clock::now();
    auto [p, pout] = as_postgres(rs.pg_bin + "/pg_ctl -D " + rs.replica_data + " -w -t 30 promote");
    ASSERT_EQ(p, 0) << pout;
    ASSERT_EQ(scalar_on(rs.replica_port, "SELECT pg_is_in_recovery()"), "f");
    const long long before = number_on(rs.replica_port, "SELECT count(*) FROM shares");
    EXPECT_GE(before, shares_before) << "a committed share was lost in the failover";
    ASSERT_TRUE(wait_for([&] { return number_on(rs.replica_port, "SELECT count(*) FROM shares") > before; }, 60))
        << test::read_text(acc_log);
    const auto t_resumed = std::chrono::steady_clock::now();
    auto ms = [](auto a, auto b) { return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count(); };
    std::cout << "ingest stalled " << ms(t_stop, t_resumed) << " ms from the primary's stop ("
              << ms(t_promote, t_resumed)
              << " ms after the promotion) to the first new share stored on the new primary\n";

    // The interrupted close completes on the new primary.
    ASSERT_TRUE(wait_for(
        [&] {
            return scalar_on(rs.replica_port, "SELECT closed_at IS NOT NULL FROM epochs WHERE k = " + held_epoch) ==
                   "t";
        },
        60))
        << test::read_text(acc_log);

    // The miners finish; everything the stream holds gets stored, once.
    alice->wait(90000);
    bob->wait(90000);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    pool.stop();
    const auto uids = stream_share_uids(stream);
    ASSERT_GT(uids.size(), 40u);
    ASSERT_TRUE(wait_for(
        [&] {
            return scalar_on(rs.replica_port, "SELECT count(DISTINCT uid) FROM shares") == std::to_string(uids.size());
        },
        60))
        << scalar_on(rs.replica_port, "SELECT count(DISTINCT uid) FROM shares") << " of " << uids.size() << "\n"
        << test::read_text(acc_log);
    EXPECT_EQ(scalar_on(rs.replica_port, "SELECT count(*) FROM shares"), std::to_string(uids.size()))
        << "a share stored twice";
    // Epochs after the failover close too; each close is logged once.
    const std::string later = std::to_string(std::stoll(held_epoch) + 2);
    EXPECT_TRUE(wait_for(
        [&] {
            return scalar_on(rs.replica_port, "SELECT closed_at IS NOT NULL FROM epochs WHERE k = " + later) == "t";
        },
        60))
        << test::read_text(acc_log);
    EXPECT_EQ(acc->stop(SIGTERM, 20000), 0);
    const std::string log = test::read_text(acc_log);
    std::size_t closes = 0;
    for (auto at = log.find("epoch " + held_epoch + " closed:"); at != std::string::npos;
         at = log.find("epoch " + held_epoch + " closed:", at + 1)) {
        ++closes;
    }
    EXPECT_EQ(closes, 1u) << log;
    // What bmm-accountd said about the failover, for the record.
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("a failover?") != std::string::npos || line.find("connected again") != std::string::npos ||
            line.find("on a new connection") != std::string::npos ||
            line.find("epoch " + held_epoch + " closed") != std::string::npos) {
            std::cout << "accountd: " << line.substr(0, 400) << "\n";
        }
    }
    EXPECT_NE(log.find("reconnecting (to the primary among [postgres] hosts)"), std::string::npos) << log;

    test::child_process audit({test::bin("bmm-accountd"), "audit", "--config", cfg},
                              st().dir() + "/accountd/audit.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st().dir() + "/accountd/audit.log");
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment(/*activate_mweb=*/false));
    return RUN_ALL_TESTS();
}
