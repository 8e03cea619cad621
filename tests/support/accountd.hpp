#pragma once
// Test support: a bmm-accountd on the test stack (stack.hpp): its
// configuration written from the stack's settings, `migrate`, `run` as a
// child process (started, stopped, killed, started again on the same log),
// and `audit` (the ledger's and the outside world's checks: records, chain,
// wallet), each with a bounded wait.

#include "pool_process.hpp"
#include "process.hpp"
#include "stack.hpp"
#include "stack_pg.hpp"
#include "wait.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bmm::test {

// The sections of a bmm-accountd configuration that every test writes the
// same way from the stack's settings (stack.json).

// [postgres]: the stack's database, migrations from the checkout's sql/.
inline std::string postgres_toml() {
    const auto& st = stack_environment::get();
    return "[postgres]\nhost = \"127.0.0.1\"\nport = " + st.setting("BMM_PG_PORT") + "\nuser = \"" +
           st.setting("BMM_PG_USER") + "\"\ndbname = \"" + st.setting("BMM_PG_DB") + "\"\npassword = \"" +
           st.setting("BMM_PG_PASSWORD") + "\"\nmigrations_dir = \"" + st.source_dir() + "/sql\"\n";
}

// [redis]: the stack's Redis and its password file, then `lines` (the
// stream or streams, group, consumer and whatever else the test sets).
inline std::string redis_toml_lines(const std::string& lines) {
    const auto& st = stack_environment::get();
    return "[redis]\nhost = \"127.0.0.1\"\nport = " + st.setting("BMM_REDIS_PORT") + "\npassword_file = \"" +
           st.setting("BMM_REDIS_PASSWORD_FILE") + "\"\n" + lines;
}
// [redis] for one stream, read by `consumer` of `group`.
inline std::string redis_toml(const std::string& stream, const std::string& consumer = "one",
                              const std::string& group = "accountd") {
    return redis_toml_lines("stream = \"" + stream + "\"\ngroup = \"" + group + "\"\nconsumer = \"" + consumer +
                            "\"\n");
}

// [node]: the stack's litecoind A.
inline std::string node_toml() {
    const auto& st = stack_environment::get();
    return "[node]\nurl = \"" + st.setting("BMM_NODE_RPC_URL") + "\"\nuser = \"" + st.setting("BMM_NODE_RPC_USER") +
           "\"\npassword = \"" + st.setting("BMM_NODE_RPC_PASSWORD") + "\"\ncurrency = \"LTC\"\n";
}

// [ingest] and [epochs] with the values most tests use.
inline std::string ingest_toml(int batch_size = 500, int block_ms = 100) {
    return "[ingest]\nbatch_size = " + std::to_string(batch_size) + "\nblock_ms = " + std::to_string(block_ms) + "\n";
}
inline std::string epochs_toml(std::int64_t length_seconds, std::int64_t genesis, int close_grace_ms = 1500) {
    return "[epochs]\nlength_seconds = " + std::to_string(length_seconds) + "\ngenesis = " + std::to_string(genesis) +
           "\nclose_grace_ms = " + std::to_string(close_grace_ms) + "\nstep_ms = 200\n";
}

// Writes `text` to <stack dir>/<folder>/<file> (the folder made); the path.
inline std::string write_stack_file(const std::string& folder, const std::string& file, const std::string& text) {
    const std::string dir = stack_environment::get().dir() + "/" + folder;
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/" + file;
    std::ofstream(path) << text;
    return path;
}

// `bmm-accountd migrate --config config`, its output in `log`; throws with
// that output when it fails.
inline void migrate_accountd(const std::string& config, const std::string& log) {
    child_process m({bin("bmm-accountd"), "migrate", "--config", config}, log);
    if (m.wait(60000) != 0) {
        throw std::runtime_error("bmm-accountd migrate failed:\n" + read_text(log));
    }
}

// An empty schema, migrated with `config`: a fresh ledger for a test's next run.
inline void reset_schema(const std::string& config) {
    query("DROP SCHEMA public CASCADE");
    query("CREATE SCHEMA public");
    migrate_accountd(config, stack_environment::get().dir() + "/accountd/migrate.log");
}

struct accountd_options {
    std::string name = "accountd";  // folder under the stack's directory
    std::string stream;             // the Redis stream bmm-stratum writes
    std::string group = "accountd", consumer = "one";
    std::int64_t genesis = 0;  // epoch 0's start (Unix s)
    int epoch_seconds = 3600;
    int close_grace_ms = 1500;
    std::string scheme = "pp";
    int maturity = 100;
    std::string wallet = "pool";  // [payout] wallet: the node wallet the pool's coinbases pay
    std::string log_level = "info";
    std::string sections;  // more TOML, appended
};

struct audit_result {
    int rc = -1;  // 0 clean, 1 problems found, other: the audit could not run
    std::string out;
};

// `bmm-accountd audit --config config` (grace 0: every record counts as
// settled) and `extra`, its output in `log`; bounded at two minutes.
inline audit_result run_audit(const std::string& config, const std::string& log,
                              const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{bin("bmm-accountd"), "audit", "--config", config, "--grace-seconds", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_process a(argv, log);
    audit_result r;
    r.rc = a.wait(120000);
    r.out = read_text(log);
    return r;
}

class accountd_process {
public:
    std::string dir, config, log;

    // Writes the configuration (LTC on the stack's litecoind A) and migrates the database.
    void configure(const accountd_options& o) {
        auto& st = stack_environment::get();
        dir = st.dir() + "/" + o.name;
        std::filesystem::create_directories(dir);
        config = dir + "/bmm-accountd.toml";
        log = dir + "/run.log";
        std::ofstream f(config);
        f << postgres_toml() << redis_toml(o.stream, o.consumer, o.group) << node_toml() << ingest_toml()
          << epochs_toml(o.epoch_seconds, o.genesis, o.close_grace_ms)
          << "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"" << o.scheme
          << "\"\nmaturity = " << o.maturity << "\npool_address = \"" << st.setting("BMM_POOL_ADDRESS") << "\"\n"
          << "[payout]\nwallet = \"" << o.wallet << "\"\n"
          << "[log]\nlevel = \"" << o.log_level << "\"\n"
          << o.sections;
        f.close();
        migrate_accountd(config, dir + "/migrate.log");
    }

    // `bmm-accountd run` (ingest, ledger, API if configured), its output appended to `log`;
    // `env`: more environment (BMM_ACCOUNTD_FAULT).
    void start(const std::map<std::string, std::string>& env = {}) {
        proc_ = std::make_unique<child_process>(
            std::vector<std::string>{bin("bmm-accountd"), "run", "--config", config}, log, env);
    }
    bool running() { return proc_ && proc_->running(); }
    // kill -9, reaped (bounded).
    void kill9() {
        if (proc_) {
            proc_->signal(SIGKILL);
            proc_->wait(5000);
        }
    }
    // SIGTERM, bounded; the exit code (0: a clean stop).
    int stop() { return proc_ ? proc_->stop(SIGTERM, 20000) : 0; }

    // `bmm-accountd audit` (grace 0: every record counts as settled); bounded at two minutes.
    audit_result audit(const std::vector<std::string>& extra = {}) {
        const std::string alog = dir + "/audit-" + std::to_string(++audits_) + ".log";
        audit_result r = run_audit(config, alog, extra);
        std::filesystem::remove(alog);
        return r;
    }

    // Audits every second until clean or `seconds` have passed; the last result.
    audit_result wait_audit_clean(int seconds) {
        audit_result r;
        wait_until(
            [&] {
                r = audit();
                return r.rc == 0;
            },
            seconds);
        return r;
    }

    std::string log_tail(std::size_t bytes = 6000) const {
        const std::string all = read_text(log);
        return all.size() > bytes ? all.substr(all.size() - bytes) : all;
    }

private:
    std::unique_ptr<child_process> proc_;
    int audits_ = 0;
};

}  // namespace bmm::test
