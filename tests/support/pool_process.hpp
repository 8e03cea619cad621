#pragma once
// Test support: a bmm-stratum child process on the test stack (stack.hpp).
//
// The configuration's [pool], [node], [redis] and [log] sections come from
// the stack (its node, its Redis, its pool address: litecoind and scrypt, or
// with `btc` bcoin and sha256d); a test adds what it is
// about ([limits], [metrics], its [[port]]s) as TOML text. start() returns
// once every listed port accepts connections, or throws with the log.

#include "process.hpp"
#include "stack.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace bmm::test {

// A program built by this build (BMM_BIN_DIR, set by bmm_add_test).
inline std::string bin(const std::string& name) {
    const char* d = std::getenv("BMM_BIN_DIR");
    return std::string(d && *d ? d : "build/bin") + "/" + name;
}

// The first free loopback port at or after `from` (steps of 7, below 60000).
inline int free_port(int from) {
    for (int p = from; p < 60000; p += 7) {
        if (port_free(p)) {
            return p;
        }
    }
    throw std::runtime_error("no free loopback port from " + std::to_string(from));
}

// A free port in a pid-dependent slot above `base`, so that test binaries
// running side by side rarely reach for the same one. Tests keep their ports
// in 20000..32767, below the ephemeral range (32768..) where outgoing
// connections could take a port between the check and the bind, and above
// the test stacks (10000..19999):
//   stratum_e2e 20000, limits_e2e 22000, metrics_e2e 24000, bmm_bench 26000,
//   accountd 28000, ledger_daemon 30000, api 32000.
inline int free_port_near(int base) { return free_port(base + (static_cast<int>(::getpid()) % 500) * 4); }

// A self-signed certificate for 127.0.0.1 (and its key), made with the openssl CLI.
void make_certificate(const std::string& cert, const std::string& key) {
    const std::string out =
        run_capture("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" + key +
                    "' -out '" + cert + "' -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>&1");
    if (!std::filesystem::exists(cert) || !std::filesystem::exists(key)) {
        throw std::runtime_error("openssl could not make a test certificate: " + out);
    }
}

// One [[port]] section for scrypt on the stack (difficulty 0.001: regtest's
// network target is easier still, so nearly every share is a block).
inline std::string stratum_port_toml(int port, const std::string& extra = {}) {
    return "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) + "\n" + extra +
           "start_difficulty = 0.001\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n"
           "target_share_seconds = 5\nretarget_seconds = 600\n";
}

struct pool_options {
    std::string name = "pool";  // folder under the stack's directory
    std::string stream;         // the Redis stream
    int instance_id = 9;
    unsigned threads = 0;  // 0: not set (one loop per core)
    std::string log_level = "info";
    std::string sections;                    // more TOML: [limits], [metrics], ...
    std::vector<int> ports;                  // wait for these to listen; the first is `port`
    std::string port_sections;               // the [[port]] sections (default: one plain port on ports[0])
    std::vector<std::string> extra_args;     // more command-line arguments, e.g. --log-file F
    std::map<std::string, std::string> env;  // more environment, e.g. BMM_STRATUM_FAULT
    bool btc = false;                        // sha256d on the stack's bcoin (stack_environment with_bcoin)
    // [redis] lines in place of the stack's host, port and password_file
    // (e.g. sentinels, master_name, wait_replicas); stream and spool_dir stay.
    std::string redis_connection;
};

struct pool_process {
    std::string dir, config, log, stream;
    int port = 0;
    std::unique_ptr<child_process> proc;

    void start(const pool_options& o) {
        auto& st = stack_environment::get();
        dir = st.dir() + "/" + o.name;
        std::filesystem::create_directories(dir);
        config = dir + "/bmm-stratum.toml";
        log = dir + "/bmm-stratum.log";
        stream = o.stream;
        if (o.ports.empty()) {
            throw std::runtime_error("pool_options.ports is empty");
        }
        port = o.ports.front();
        // The stack's settings for the chosen node: BMM_NODE_* (litecoind) or BMM_BTC_* (bcoin).
        const std::string node = o.btc ? "BMM_BTC_" : "BMM_NODE_";
        std::string toml =
            "[pool]\ninstance_id = " + std::to_string(o.instance_id) +
            (o.btc ? "\nalgorithm = \"sha256d\"\ncoin = \"BTC\"\n" : "\nalgorithm = \"scrypt\"\ncoin = \"LTC\"\n");
        if (o.threads) {
            toml += "threads = " + std::to_string(o.threads) + "\n";
        }
        toml += "address = \"" + st.setting(o.btc ? "BMM_BTC_POOL_ADDRESS" : "BMM_POOL_ADDRESS") +
                "\"\ntag = \"/BMM pool/\"\n";
        toml += "[node]\nurl = \"" + st.setting(node + "RPC_URL") + "\"\nuser = \"${" + node +
                "RPC_USER}\"\npassword = \"${" + node + "RPC_PASSWORD}\"\n";
        if (o.btc) {
            toml += "rules = [\"segwit\"]\n";
        }
        toml += "template_refresh_seconds = 30\npoll_seconds = 0.2\n";
        toml +=
            "[redis]\n" +
            (o.redis_connection.empty() ? "host = \"127.0.0.1\"\nport = " + st.setting("BMM_REDIS_PORT") +
                                              "\npassword_file = \"" + st.setting("BMM_REDIS_PASSWORD_FILE") + "\"\n"
                                        : o.redis_connection) +
            "stream = \"" + stream + "\"\nspool_dir = \"" + dir + "/spool\"\n";
        toml += "[log]\nlevel = \"" + o.log_level + "\"\n";
        toml += o.sections;
        toml += o.port_sections.empty() ? stratum_port_toml(port) : o.port_sections;
        std::ofstream(config) << toml;
        std::vector<std::string> argv{bin("bmm-stratum"), "--config", config};
        argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
        std::map<std::string, std::string> env{{node + "RPC_USER", st.setting(node + "RPC_USER")},
                                               {node + "RPC_PASSWORD", st.setting(node + "RPC_PASSWORD")}};
        env.insert(o.env.begin(), o.env.end());
        proc = std::make_unique<child_process>(argv, log, env);
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        auto any_closed = [&] {
            for (int p : o.ports) {
                if (port_free(p)) {
                    return true;
                }
            }
            return false;
        };
        while (any_closed()) {
            if (!proc->running() || std::chrono::steady_clock::now() > end) {
                throw std::runtime_error("bmm-stratum did not start; its log:\n" + read_text(log));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    // Graceful stop (SIGTERM, bounded).
    void stop() {
        if (proc) {
            proc->stop(SIGTERM, 15000);
        }
    }

    // The last `bytes` of the log, for failure messages.
    std::string log_tail(std::size_t bytes = 4000) const {
        const std::string all = read_text(log);
        return all.size() > bytes ? all.substr(all.size() - bytes) : all;
    }
};

}  // namespace bmm::test
