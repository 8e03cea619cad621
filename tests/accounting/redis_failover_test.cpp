// Redis for a real deployment (issue 13 item 11, issue 17): a password on
// every server, the primary found through Sentinel, and a failover followed by
// both programs without losing or doubling a share. On loopback ports, with
// the real parts: a Redis primary and two replicas (requirepass, masterauth,
// min-replicas-to-write 1), three Sentinels (quorum 2, down after 1 s),
// bmm-stratum with sentinels and wait_replicas = 1, bmm-accountd ingesting
// through the Sentinels into the stack's PostgreSQL, and a Stratum client
// submitting shares. The primary is killed (SIGKILL) in the middle of the
// run; afterwards every share the client was told was accepted is stored
// exactly once. The failover's duration and the longest wait for a share's
// answer are printed (figures, not asserted).
//
// Also: a wrong password file and a missing one give errors that say what to
// do, and no process has a password on its command line.
//
// Its own test binary and stack: its shares are counted by account.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"
#include "../support/stratum_client.hpp"
#include "../support/wait.hpp"

#include "bmm/redis/connect.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bmm {
namespace {

using test::bin;
using test::scalar;
using test::stack_environment;
using clock_type = std::chrono::steady_clock;

stack_environment& st() { return stack_environment::get(); }

double ms_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// Polls every 50 ms: the figures this test reports depend on it.
bool wait_for(const std::function<bool()>& cond, int seconds) {
    return test::wait_until(cond, seconds, std::chrono::milliseconds(50));
}

// A primary, two replicas and three Sentinels, each a child process with its
// configuration file in its own folder; the password only in those files
// (mode 600) and in password_file.
struct redis_topology {
    std::string dir, password, password_file;
    int ports[3] = {};
    int sentinel_ports[3] = {};
    std::unique_ptr<test::child_process> servers[3], sentinels[3];
    bool ready = false;  // everything started and found each other

    void start() {
        dir = st().dir() + "/redis-ha";
        std::filesystem::create_directories(dir);
        password =
            "ha-" + std::to_string(::getpid()) + "-" + std::to_string(clock_type::now().time_since_epoch().count());
        password_file = dir + "/redis.password";
        write_private(password_file, password + "\n");
        int next = test::free_port_near(21000);
        for (int i = 0; i < 3; ++i) {
            ports[i] = next;
            next = test::free_port(next + 1);
        }
        for (int i = 0; i < 3; ++i) {
            sentinel_ports[i] = next;
            next = test::free_port(next + 1);
        }
        for (int i = 0; i < 3; ++i) {
            const std::string d = dir + "/redis-" + std::to_string(i);
            std::filesystem::create_directories(d);
            std::string conf = "port " + std::to_string(ports[i]) +
                               "\nbind 127.0.0.1\ndaemonize no\nsave \"\"\nappendonly yes\nappendfsync everysec\n"
                               "dir " +
                               d + "\nrequirepass " + password + "\nmasterauth " + password +
                               "\nmin-replicas-to-write 1\nmin-replicas-max-lag 10\n";
            if (i > 0) {
                conf += "replicaof 127.0.0.1 " + std::to_string(ports[0]) + "\n";
            }
            write_private(d + "/redis.conf", conf);
            servers[i] = std::make_unique<test::child_process>(
                std::vector<std::string>{"/usr/bin/redis-server", d + "/redis.conf"}, d + "/redis.log");
        }
        for (int i = 0; i < 3; ++i) {
            ASSERT_TRUE(wait_for([&] { return role(ports[i]) == (i == 0 ? "master" : "slave"); }, 20))
                << "Redis " << i
                << " did not start: " << test::read_text(dir + "/redis-" + std::to_string(i) + "/redis.log");
        }
        ASSERT_TRUE(wait_for([&] { return info_field(ports[0], "connected_slaves") == "2"; }, 30))
            << "the replicas did not connect";
        for (int i = 0; i < 3; ++i) {
            const std::string d = dir + "/sentinel-" + std::to_string(i);
            std::filesystem::create_directories(d);
            write_private(d + "/sentinel.conf",
                          "port " + std::to_string(sentinel_ports[i]) + "\nbind 127.0.0.1\ndaemonize no\ndir " + d +
                              "\nsentinel monitor bmm 127.0.0.1 " + std::to_string(ports[0]) +
                              " 2\nsentinel auth-pass bmm " + password +
                              "\nsentinel down-after-milliseconds bmm 1000\nsentinel failover-timeout bmm 5000\n"
                              "sentinel parallel-syncs bmm 2\n");
            sentinels[i] = std::make_unique<test::child_process>(
                std::vector<std::string>{"/usr/bin/redis-sentinel", d + "/sentinel.conf"}, d + "/sentinel.log");
        }
        // Each Sentinel knows both replicas and the two other Sentinels (a
        // failover needs two of three to agree).
        for (int i = 0; i < 3; ++i) {
            ASSERT_TRUE(wait_for(
                [&] {
                    return sentinel_count(sentinel_ports[i], "replicas") == 2 &&
                           sentinel_count(sentinel_ports[i], "sentinels") == 2;
                },
                40))
                << "Sentinel " << i << " did not find the others: "
                << test::read_text(dir + "/sentinel-" + std::to_string(i) + "/sentinel.log");
        }
        ready = true;
    }

    std::string sentinels_toml() const {
        std::string s = "sentinels = [";
        for (int i = 0; i < 3; ++i) {
            s += std::string(i ? ", " : "") + "\"127.0.0.1:" + std::to_string(sentinel_ports[i]) + "\"";
        }
        return s + "]\nmaster_name = \"bmm\"\npassword_file = \"" + password_file + "\"\n";
    }

    redis::settings settings() const {
        redis::settings s;
        for (int p : sentinel_ports) {
            s.sentinels.push_back("127.0.0.1:" + std::to_string(p));
        }
        s.master_name = "bmm";
        s.password_file = password_file;
        return s;
    }

    static void write_private(const std::string& path, const std::string& text) {
        std::ofstream(path) << text;
        std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }

    // One command on a fresh authenticated connection; the reply's text (an
    // array: its elements joined by spaces), "" when unreachable.
    std::string command(int port, const std::vector<std::string>& args, bool auth = true) const {
        redis::context_ptr c(redisConnect("127.0.0.1", port));
        if (!c || c->err) {
            return "";
        }
        timeval tv{2, 0};
        redisSetTimeout(c.get(), tv);
        if (auth) {
            redis::command(c.get(), {"AUTH", password});
        }
        redis::reply_ptr r = redis::command(c.get(), args);
        if (!r) {
            return "";
        }
        if (r->type == REDIS_REPLY_ARRAY) {
            std::string out;
            for (std::size_t i = 0; i < r->elements; ++i) {
                const redisReply* e = r->element[i];
                out += (i ? " " : "") + (e->type == REDIS_REPLY_INTEGER ? std::to_string(e->integer)
                                                                        : std::string(e->str ? e->str : "", e->len));
            }
            return out;
        }
        if (r->type == REDIS_REPLY_INTEGER) {
            return std::to_string(r->integer);
        }
        return std::string(r->str ? r->str : "", r->len);
    }
    std::string role(int port) const {
        const std::string r = command(port, {"ROLE"});
        return r.substr(0, r.find(' '));
    }
    std::string info_field(int port, const std::string& name) const {
        const std::string info = command(port, {"INFO", "replication"});
        const auto at = info.find(name + ":");
        if (at == std::string::npos) {
            return "";
        }
        const auto from = at + name.size() + 1;
        return info.substr(from, info.find_first_of("\r\n", from) - from);
    }
    int sentinel_count(int port, const std::string& what) const {
        redis::context_ptr c(redisConnect("127.0.0.1", port));
        if (!c || c->err) {
            return -1;
        }
        redis::reply_ptr r = redis::command(c.get(), {"SENTINEL", what, "bmm"});
        return r && r->type == REDIS_REPLY_ARRAY ? static_cast<int>(r->elements) : -1;
    }
    // The primary's port as Sentinel i names it (0 when it cannot say).
    int named_primary(int i) const {
        const std::string r = command(sentinel_ports[i], {"SENTINEL", "get-master-addr-by-name", "bmm"}, false);
        const auto sp = r.find(' ');
        return sp == std::string::npos ? 0 : std::atoi(r.c_str() + sp + 1);
    }
};

redis_topology& topology() {
    static redis_topology t;
    static bool started = false;
    if (!started) {
        started = true;
        t.start();
    }
    return t;
}

// Pids whose command line holds one of `secrets` (/proc/*/cmdline: what ps shows).
std::vector<std::string> processes_showing(const std::vector<std::string>& secrets) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        std::string cmd;
        try {
            cmd = test::read_text(e.path().string() + "/cmdline");
        } catch (const std::exception&) {
            continue;  // the process ended since the listing (other tests' processes come and go)
        }
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        for (const auto& s : secrets) {
            if (!s.empty() && cmd.find(s) != std::string::npos) {
                out.push_back(name + ": " + cmd.substr(0, 80));
            }
        }
    }
    return out;
}

TEST(redis_password, wrong_and_missing_passwords_say_what_to_do) {
    auto& t = topology();
    ASSERT_TRUE(t.ready) << "the Redis primary, replicas and Sentinels did not start";
    redis::settings s;
    s.port = t.ports[0];
    // No password_file: NOAUTH, and the key to set.
    auto none = redis::connect(s, std::chrono::milliseconds(2000));
    ASSERT_FALSE(none);
    EXPECT_NE(none.error_message().find("NOAUTH"), std::string::npos) << none.error_message();
    EXPECT_NE(none.error_message().find("set [redis] password_file"), std::string::npos) << none.error_message();
    // A wrong password: the file is named.
    const std::string wrong = t.dir + "/wrong.password";
    redis_topology::write_private(wrong, "not-the-password\n");
    s.password_file = wrong;
    auto bad = redis::connect(s, std::chrono::milliseconds(2000));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error_message().find("refused the password in " + wrong), std::string::npos) << bad.error_message();
    // The same through the Sentinels: the password error, not "no primary found".
    redis::settings via = t.settings();
    via.password_file = wrong;
    auto bad_via = redis::connect(via, std::chrono::milliseconds(2000));
    ASSERT_FALSE(bad_via);
    EXPECT_NE(bad_via.error_message().find("refused the password in " + wrong), std::string::npos)
        << bad_via.error_message();
    // A file that is not there.
    s.password_file = t.dir + "/no-such-file";
    auto missing = redis::connect(s, std::chrono::milliseconds(2000));
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error_message().find("password_file " + s.password_file + ": cannot read it"), std::string::npos)
        << missing.error_message();
    // The right one, directly and through the Sentinels (which name the primary).
    s.password_file = t.password_file;
    auto good = redis::connect(s, std::chrono::milliseconds(2000));
    ASSERT_TRUE(good) << good.error_message();
    EXPECT_EQ(good->role, "master");
    auto good_via = redis::connect(t.settings(), std::chrono::milliseconds(2000));
    ASSERT_TRUE(good_via) << good_via.error_message();
    EXPECT_EQ(good_via->address, "127.0.0.1:" + std::to_string(t.ports[0]));
    // A Sentinel given as host/port is named as one.
    redis::settings sentinel_as_redis;
    sentinel_as_redis.port = t.sentinel_ports[0];
    auto wrong_kind = redis::connect(sentinel_as_redis, std::chrono::milliseconds(2000));
    ASSERT_FALSE(wrong_kind);
    EXPECT_NE(wrong_kind.error_message().find("is a Sentinel"), std::string::npos) << wrong_kind.error_message();
}

std::string accountd_config(const redis_topology& t, const std::string& stream, const std::string& name = "failover",
                            const std::string& redis_extra = "") {
    const std::string dir = st().dir() + "/accountd";
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/" + name + ".toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_PG_PORT") << "\nuser = \""
      << st().setting("BMM_PG_USER") << "\"\ndbname = \"" << st().setting("BMM_PG_DB") << "\"\npassword = \""
      << st().setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st().source_dir() << "/sql\"\n"
      << "[redis]\n"
      << t.sentinels_toml() << redis_extra << "stream = \"" << stream
      << "\"\ngroup = \"accountd\"\nconsumer = \"one\"\n"
      << "[node]\nurl = \"" << st().setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st().setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st().setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << "[ingest]\nbatch_size = 500\nblock_ms = 100\n"
      << "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\npool_address = \""
      << st().setting("BMM_POOL_ADDRESS") << "\"\n"
      << "[log]\nlevel = \"info\"\n";
    return path;
}

// `bmm-accountd audit` of the records only (--skip-chain, no grace) with one
// more entry counted for `stream` in stream_state than were stored (what a
// failover to a replica that lacked an entry leaves); its output. The count is
// put back after.
std::string audit_with_one_more_counted(const std::string& cfg, const std::string& stream, const std::string& name) {
    const std::string sql = "UPDATE stream_state SET entries = entries + $1::bigint WHERE stream = $2 RETURNING 1";
    EXPECT_EQ(scalar(sql, {"1", stream}), "1");
    const std::string log = st().dir() + "/accountd/audit-" + name + ".log";
    test::child_process a({bin("bmm-accountd"), "audit", "--config", cfg, "--skip-chain", "--grace-seconds", "0"}, log);
    a.wait(120000);
    EXPECT_EQ(scalar(sql, {"-1", stream}), "1");
    return test::read_text(log);
}
bool names_shortfall(const std::string& out, const std::string& stream) {
    return out.find("stream " + stream + " has had") != std::string::npos;
}

// bmm-accountd with [redis] wait_replicas = 1 stores a round only once WAIT
// saw it on a replica: with both replicas stopped (SIGSTOP) the primary still
// takes bmm-stratum's records (min-replicas-max-lag 10 s has not run out) and
// hands them to the reader, but none is stored; once the replicas run again,
// every one is (read again from the pending entries), once. Runs before the
// failover test, on the topology as it started.
TEST(redis_failover, accountd_stores_nothing_a_replica_does_not_have) {
    auto& t = topology();
    ASSERT_TRUE(t.ready) << "the Redis primary, replicas and Sentinels did not start";
    const std::string stream = "bmm:test:replica-wait";
    const std::string cfg = accountd_config(t, stream, "replica-wait", "wait_replicas = 1\nwait_timeout_ms = 300\n");
    {
        const std::string log = st().dir() + "/accountd/migrate-replica-wait.log";
        test::child_process m({bin("bmm-accountd"), "migrate", "--config", cfg}, log);
        ASSERT_EQ(m.wait(60000), 0) << test::read_text(log);
    }
    const int port = test::free_port_near(21500);
    test::pool_process pool;
    test::pool_options o;
    o.name = "pool-replica-wait";
    o.stream = stream;
    o.instance_id = 12;
    o.ports = {port};
    o.redis_connection = t.sentinels_toml();  // no WAIT here: the records reach the primary alone
    ASSERT_NO_THROW(pool.start(o));
    const std::string acc_log = st().dir() + "/accountd/replica-wait-run.log";
    test::child_process acc({bin("bmm-accountd"), "run", "--config", cfg}, acc_log);

    const std::string account = "replicawait";
    test::stratum_client c(port);
    std::string why;
    ASSERT_TRUE(c.login(account + ".w1", &why)) << why << pool.log_tail();
    long long accepted = 0;
    auto submit = [&](int n) {
        for (int i = 0; i < n; ++i) {
            c.drain(20);
            const auto r = c.reply(c.submit(c.find_share(pow_algorithm::scrypt, c.difficulty())), 20000);
            ASSERT_TRUE(r.received) << "no answer to a share; the pool's log:\n" << pool.log_tail();
            accepted += r.ok && r.result == "true" ? 1 : 0;
        }
    };
    const std::string count_sql =
        "SELECT count(*) || ' ' || count(DISTINCT uid) FROM shares WHERE account = '" + account + "' AND accepted";
    auto stored_is = [&](long long n) {
        return wait_for([&] { return scalar(count_sql) == std::to_string(n) + " " + std::to_string(n); }, 60);
    };
    submit(5);
    ASSERT_GT(accepted, 0);
    ASSERT_TRUE(stored_is(accepted)) << "with the replicas up: stored " << scalar(count_sql) << " of " << accepted
                                     << "\n"
                                     << test::read_text(acc_log).substr(0, 4000);
    const long long before = accepted;

    t.servers[1]->signal(SIGSTOP);
    t.servers[2]->signal(SIGSTOP);
    struct resume {
        redis_topology& t;
        ~resume() {
            t.servers[1]->signal(SIGCONT);
            t.servers[2]->signal(SIGCONT);
        }
    } resume_replicas{t};
    submit(8);
    ASSERT_GT(accepted, before) << "the primary took no record with its replicas stopped";
    const std::string on_primary = t.command(t.ports[0], {"XLEN", stream});
    ASSERT_TRUE(wait_for(
        [&] { return test::read_text(acc_log).find("not known to be on a replica") != std::string::npos; }, 20))
        << "bmm-accountd did not refuse a round that no replica acknowledged:\n"
        << test::read_text(acc_log).substr(0, 6000);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(scalar(count_sql), std::to_string(before) + " " + std::to_string(before))
        << "stored while no replica had the records (stream length on the primary " << on_primary << ")";

    t.servers[1]->signal(SIGCONT);
    t.servers[2]->signal(SIGCONT);
    EXPECT_TRUE(stored_is(accepted)) << "after the replicas came back: stored " << scalar(count_sql) << " of "
                                     << accepted << "\n"
                                     << test::read_text(acc_log).substr(0, 6000);
    std::printf(
        "replica_wait: %lld shares accepted, %lld of them while both replicas were stopped: none stored then, "
        "all stored once after\n",
        accepted, accepted - before);
    std::fflush(stdout);
    EXPECT_EQ(acc.stop(SIGTERM, 20000), 0) << test::read_text(acc_log);
    pool.stop();
    // The audit's entries-added check is strict on a primary that never was a
    // replica (INFO replication second_repl_offset -1).
    EXPECT_EQ(t.info_field(t.ports[0], "second_repl_offset"), "-1");
    const std::string strict = audit_with_one_more_counted(cfg, stream, "replica-wait-strict");
    EXPECT_TRUE(names_shortfall(strict, stream))
        << "the audit did not name an entry counted that the never-promoted primary lacks:\n"
        << strict;
    // The failover test below needs both replicas online again.
    ASSERT_TRUE(wait_for([&] { return t.info_field(t.ports[0], "connected_slaves") == "2"; }, 30));
}

TEST(redis_failover, primary_killed_mid_run_every_accepted_share_stored_once) {
    auto& t = topology();
    ASSERT_TRUE(t.ready) << "the Redis primary, replicas and Sentinels did not start";
    const std::string stream = "bmm:test:failover";
    const std::string cfg = accountd_config(t, stream);
    {
        const std::string log = st().dir() + "/accountd/migrate-failover.log";
        test::child_process m({bin("bmm-accountd"), "migrate", "--config", cfg}, log);
        ASSERT_EQ(m.wait(60000), 0) << test::read_text(log);
    }
    const int port = test::free_port_near(21400);
    test::pool_process pool;
    test::pool_options o;
    o.name = "pool-failover";
    o.stream = stream;
    o.instance_id = 11;
    o.ports = {port};
    o.redis_connection = t.sentinels_toml() + "wait_replicas = 1\nwait_timeout_ms = 1000\n";
    ASSERT_NO_THROW(pool.start(o));
    const std::string acc_log = st().dir() + "/accountd/failover-run.log";
    test::child_process acc({bin("bmm-accountd"), "run", "--config", cfg}, acc_log);

    // No password on any command line: Redis', the Sentinels', the stack's PostgreSQL.
    const std::string pg_password = st().setting("BMM_PG_PASSWORD");
    const std::string stack_redis_password = test::read_text(st().setting("BMM_REDIS_PASSWORD_FILE"));
    const auto shown =
        processes_showing({t.password, pg_password, stack_redis_password.substr(0, stack_redis_password.find('\n'))});
    EXPECT_TRUE(shown.empty()) << shown.front();

    const std::string account = "failover";
    test::stratum_client c(port);
    std::string why;
    ASSERT_TRUE(c.login(account + ".w1", &why)) << why << pool.log_tail();

    // Sentinel's view, watched from the side: when a new primary is named.
    const int old_primary = t.ports[0];
    std::atomic<bool> killed{false}, watching{true};
    std::atomic<clock_type::rep> kill_at{0}, promoted_at{0}, published_at{0};
    std::atomic<int> new_primary{0};
    long long promoted_len = 0;  // the watcher's own
    std::thread watcher;
    struct joiner {
        std::atomic<bool>& flag;
        std::thread& t;
        ~joiner() {
            flag = false;
            if (t.joinable()) {
                t.join();
            }
        }
    } join_watcher{watching, watcher};
    watcher = std::thread([&] {
        while (watching.load()) {
            if (killed.load() && promoted_at.load() == 0) {
                for (int i = 0; i < 3; ++i) {
                    const int p = t.named_primary(i);
                    if (p != 0 && p != old_primary && t.role(p) == "master") {
                        promoted_at = clock_type::now().time_since_epoch().count();
                        new_primary = p;
                        promoted_len = std::atoll(t.command(p, {"XLEN", stream}).c_str());
                        break;
                    }
                }
            } else if (promoted_at.load() != 0 && published_at.load() == 0 &&
                       std::atoll(t.command(new_primary.load(), {"XLEN", stream}).c_str()) > promoted_len) {
                // bmm-stratum found the new primary and its records arrive there.
                published_at = clock_type::now().time_since_epoch().count();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });

    long long accepted = 0, rejected = 0;
    std::map<std::string, int> reasons;
    double longest_gap_ms = 0;
    const auto start = clock_type::now();
    auto last_answer = start;
    auto finish = start + std::chrono::seconds(60);  // moved to 8 s after the promotion
    while (clock_type::now() < finish) {
        const auto now = clock_type::now();
        if (!killed.load() && now - start > std::chrono::seconds(6)) {
            t.servers[0]->signal(SIGKILL);
            kill_at = clock_type::now().time_since_epoch().count();
            killed = true;
        }
        if (promoted_at.load() != 0 && finish - now > std::chrono::seconds(8)) {
            finish = now + std::chrono::seconds(8);
        }
        c.drain(20);
        const auto share = c.find_share(pow_algorithm::scrypt, c.difficulty());
        const auto r = c.reply(c.submit(share), 20000);
        ASSERT_TRUE(r.received) << "no answer to a share in 20 s; the pool's log:\n" << pool.log_tail();
        const auto answered = clock_type::now();
        longest_gap_ms = std::max(longest_gap_ms, ms_between(last_answer, answered));
        last_answer = answered;
        (r.ok && r.result == "true" ? accepted : rejected) += 1;
        if (!r.ok) {
            ++reasons[r.message];
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    watching = false;
    watcher.join();
    ASSERT_TRUE(killed.load());
    ASSERT_NE(promoted_at.load(), 0) << "no replica was promoted; Sentinel 0's log:\n"
                                     << test::read_text(t.dir + "/sentinel-0/sentinel.log");
    ASSERT_GT(accepted, 20) << "too few shares accepted to test with (" << rejected << " rejected)";

    // Every share the client was told was accepted is stored, once.
    const std::string count_sql =
        "SELECT count(*) || ' ' || count(DISTINCT uid) || ' ' || count(DISTINCT hash) "
        "FROM shares WHERE account = '" +
        account + "' AND accepted";
    const std::string want = std::to_string(accepted) + " " + std::to_string(accepted) + " " + std::to_string(accepted);
    std::string got;
    ASSERT_TRUE(wait_for(
        [&] {
            got = scalar(count_sql);
            return got == want;
        },
        120))
        << "stored (rows, uids, hashes) " << got << ", told accepted " << accepted << "\npool:\n"
        << pool.log_tail() << "\naccountd:\n"
        << test::read_text(acc_log).substr(0, 6000);
    // And it stays so once the journal has drained (a resend adds no row).
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(scalar(count_sql), want);
    // The new primary holds the stream; both programs reached it.
    EXPECT_EQ(t.role(new_primary.load()), "master");
    const std::string on_new = t.command(new_primary.load(), {"XLEN", stream});
    EXPECT_GE(std::atoll(on_new.c_str()), accepted) << "stream on the new primary: " << on_new;

    const auto at = [](clock_type::rep r) { return clock_type::time_point(clock_type::duration(r)); };
    std::string why_rejected;
    for (const auto& [m, n] : reasons) {
        why_rejected += (why_rejected.empty() ? "" : ", ") + std::to_string(n) + " " + m;
    }
    std::printf(
        "redis_failover: %lld shares accepted, %lld rejected (%s); Sentinel promoted 127.0.0.1:%d %.0f ms "
        "after the kill -9 of the primary; bmm-stratum's records reached it %.0f ms after the kill; longest "
        "time between two share answers %.0f ms\n",
        accepted, rejected, why_rejected.c_str(), new_primary.load(),
        ms_between(at(kill_at.load()), at(promoted_at.load())),
        published_at.load() ? ms_between(at(kill_at.load()), at(published_at.load())) : -1.0, longest_gap_ms);
    std::fflush(stdout);
    RecordProperty("failover_ms", static_cast<int>(ms_between(at(kill_at.load()), at(promoted_at.load()))));
    RecordProperty("longest_answer_gap_ms", static_cast<int>(longest_gap_ms));
    EXPECT_EQ(acc.stop(SIGTERM, 20000), 0) << test::read_text(acc_log);
    pool.stop();
    // On the promoted replica (second_repl_offset set) an entry counted that
    // it lacks is what a failover leaves: accepted, the record sequence check
    // finding no hole.
    EXPECT_NE(t.info_field(new_primary.load(), "second_repl_offset"), "-1");
    const std::string promoted = audit_with_one_more_counted(cfg, stream, "failover-promoted");
    EXPECT_FALSE(names_shortfall(promoted, stream)) << promoted;
    // ... and because the stream was checked, not skipped.
    EXPECT_EQ(promoted.find("not checked"), std::string::npos) << promoted;
    EXPECT_EQ(promoted.find("is not stored up to"), std::string::npos) << promoted;
    std::printf("audit after the failover: %s\n", promoted.substr(0, 400).c_str());
}

}  // namespace
}  // namespace bmm

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
