#pragma once
// Test support: a bmm-accountd on the test stack (stack.hpp): its
// configuration written from the stack's settings, `migrate`, `run` as a
// child process (started, stopped, killed, started again on the same log),
// and `audit` (the ledger's and the outside world's checks: records, chain,
// wallet), each with a bounded wait.

#include "pool_process.hpp"
#include "process.hpp"
#include "stack.hpp"

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

// Polls `done` every 200 ms until it holds or `seconds` have passed; whether it held.
inline bool wait_until(const std::function<bool()>& done, int seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (done()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return done();
}

inline std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
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
        f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_PG_PORT") << "\nuser = \""
          << st.setting("BMM_PG_USER") << "\"\ndbname = \"" << st.setting("BMM_PG_DB") << "\"\npassword = \""
          << st.setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st.source_dir() << "/sql\"\n"
          << "[redis]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_REDIS_PORT") << "\npassword_file = \""
          << st.setting("BMM_REDIS_PASSWORD_FILE") << "\"\nstream = \"" << o.stream << "\"\ngroup = \"" << o.group
          << "\"\nconsumer = \"" << o.consumer << "\"\n"
          << "[node]\nurl = \"" << st.setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st.setting("BMM_NODE_RPC_USER")
          << "\"\npassword = \"" << st.setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
          << "[ingest]\nbatch_size = 500\nblock_ms = 100\n"
          << "[epochs]\nlength_seconds = " << o.epoch_seconds << "\ngenesis = " << o.genesis
          << "\nclose_grace_ms = " << o.close_grace_ms << "\nstep_ms = 200\n"
          << "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"" << o.scheme
          << "\"\nmaturity = " << o.maturity << "\npool_address = \"" << st.setting("BMM_POOL_ADDRESS") << "\"\n"
          << "[payout]\nwallet = \"" << o.wallet << "\"\n"
          << "[log]\nlevel = \"" << o.log_level << "\"\n"
          << o.sections;
        f.close();
        const std::string mlog = dir + "/migrate.log";
        child_process m({bin("bmm-accountd"), "migrate", "--config", config}, mlog);
        if (m.wait(60000) != 0) {
            throw std::runtime_error("bmm-accountd migrate failed:\n" + read_text(mlog));
        }
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
        std::vector<std::string> argv{bin("bmm-accountd"), "audit", "--config", config, "--grace-seconds", "0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        child_process a(argv, alog);
        audit_result r;
        r.rc = a.wait(120000);
        r.out = read_text(alog);
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
