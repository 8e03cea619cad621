#pragma once
// Test support: a throwaway local stack (PostgreSQL, Redis, two litecoind
// regtest nodes, and bcoin regtest when a test asks for it) started by
// deploy/stack.sh in a temporary folder on free loopback ports, and stopped
// and deleted afterwards. One stack per test
// binary: register it with ::testing::AddGlobalTestEnvironment.

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

#include "process.hpp"
#include "vectors.hpp"

namespace bmm::test {

inline bool port_free(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

class stack_environment : public ::testing::Environment {
public:
    // activate_mweb: deploy/stack.sh up activates Litecoin's MWEB (height
    // 432 with a peg-in) unless false, for a test that mines that block itself.
    // with_bcoin: also start bcoin (the sha256d node; about 10 s more), for
    // the tests that mine Bitcoin blocks.
    explicit stack_environment(bool activate_mweb = true, bool with_bcoin = false)
        : activate_mweb_(activate_mweb), with_bcoin_(with_bcoin) {}

    void SetUp() override {
        const char* src = std::getenv("BMM_SOURCE_DIR");
        source_ = src && *src ? src : ".";
        char tmpl[] = "/tmp/bmm-test-stack-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            throw std::runtime_error("mkdtemp failed");
        }
        base_ = tmpl;
        ::chmod(base_.c_str(), 0755);  // the postgres user must reach its data folder
        dir_ = base_ + "/stack";
        // Ports: 11 consecutive free ones in 10000..19999 (below the kernel's
        // ephemeral range, 32768.., so that no outgoing connection can take
        // one between this check and the server's bind), starting from a
        // pid-dependent slot so that parallel test binaries rarely collide.
        int base = 0;
        for (int attempt = 0; attempt < 200 && !base; ++attempt) {
            const int candidate = 10000 + ((static_cast<int>(::getpid()) * 13 + attempt * 7) % 909) * 11;
            bool all = true;
            for (int p = candidate; p < candidate + 11 && all; ++p) {
                all = port_free(p);
            }
            if (all) {
                base = candidate;
            }
        }
        if (!base) {
            throw std::runtime_error("no 11 free loopback ports found for the test stack");
        }
        const std::string cmd = "bash '" + source_ + "/deploy/stack.sh' up --dir '" + dir_ + "' --base-port " +
                                std::to_string(base) + options() + " > '" + base_ + "/up.log' 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            const std::string log = read_text(base_ + "/up.log");
            stop();
            throw std::runtime_error("deploy/stack.sh up failed:\n" + log);
        }
        simdjson::dom::parser parser;
        simdjson::dom::object obj = parser.load(dir_ + "/stack.json");
        for (auto [key, value] : obj) {
            std::string v;
            if (value.is_string()) {
                v = std::string(std::string_view(value));
            } else if (value.is_int64()) {
                v = std::to_string(std::int64_t(value));
            }
            settings_[std::string(key)] = v;
        }
        instance_ = this;
    }

    void TearDown() override { stop(); }

    static stack_environment& get() {
        if (!instance_) {
            throw std::runtime_error("the test stack is not running");
        }
        return *instance_;
    }

    const std::string& setting(const std::string& key) const {
        auto it = settings_.find(key);
        if (it == settings_.end()) {
            throw std::runtime_error("stack.json has no " + key);
        }
        return it->second;
    }
    // redis-cli for the stack's Redis, its password in REDISCLI_AUTH (read
    // from the password file by the shell: never on a command line).
    std::string redis_cli() const {
        return "REDISCLI_AUTH=\"$(cat '" + setting("BMM_REDIS_PASSWORD_FILE") + "')\" redis-cli -h 127.0.0.1 -p " +
               setting("BMM_REDIS_PORT");
    }
    const std::string& dir() const { return dir_; }
    // What the last up_again() printed (deploy/stack.sh up: e.g. a tie between the nodes' tips broken).
    std::string up_again_log() const {
        std::ifstream in(base_ + "/up-again.log");
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const std::string& source_dir() const { return source_; }

    // deploy/stack.sh up again, with the options the stack started with:
    // starts what a test stopped (Redis, PostgreSQL, a node). True on success.
    bool up_again() const {
        const std::string cmd = "bash '" + source_ + "/deploy/stack.sh' up --dir '" + dir_ + "'" + options() + " > '" +
                                base_ + "/up-again.log' 2>&1";
        return std::system(cmd.c_str()) == 0;
    }

    // litecoin-cli against node A (or B), for test set-up steps.
    std::string cli(const std::string& args, bool node_b = false) const {
        const std::string datadir = setting(node_b ? "BMM_NODE2_DATADIR" : "BMM_NODE_DATADIR");
        return run_capture("litecoin-cli -datadir='" + datadir + "' " + args + " 2>&1");
    }

    // A JSON-RPC call to bcoin (the node, or its wallet when `wallet`):
    // method and params (a JSON array). Returns the whole JSON answer, or
    // the curl error text. The credentials are in a curl config file.
    std::string btc_rpc(const std::string& method, const std::string& params = "[]", bool wallet = false) const {
        const std::string url = setting(wallet ? "BMM_BTC_WALLET_RPC_URL" : "BMM_BTC_RPC_URL");
        const std::string body = "{\"method\":\"" + method + "\",\"params\":" + params + ",\"id\":1}";
        const std::string file = base_ + "/btc-rpc-body.json";
        std::ofstream(file) << body;
        return run_capture("curl -sS -m 120 -K '" + setting("BMM_BTC_CURL_CONFIG") + "' --data-binary @'" + file +
                           "' '" + url + "' 2>&1");
    }

private:
    std::string options() const {
        return std::string(activate_mweb_ ? "" : " --no-mweb") + (with_bcoin_ ? "" : " --no-bcoin");
    }

    void stop() {
        if (dir_.empty()) {
            return;
        }
        // BMM_KEEP_STACK=1: stop the services but keep their data and logs (and the
        // tests' files under base_) to look at after a failure.
        const char* keep = std::getenv("BMM_KEEP_STACK");
        if (keep && *keep && std::string(keep) != "0") {
            const std::string down =
                "bash '" + source_ + "/deploy/stack.sh' down --dir '" + dir_ + "' > /dev/null 2>&1";
            (void)std::system(down.c_str());
            std::fprintf(stderr, "BMM_KEEP_STACK: the stack's files are kept in %s\n", base_.c_str());
            dir_.clear();
            instance_ = nullptr;
            return;
        }
        const std::string cmd =
            "bash '" + source_ + "/deploy/stack.sh' down --purge --dir '" + dir_ + "' > /dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            std::filesystem::remove_all(dir_);
        }
        std::filesystem::remove_all(base_);
        dir_.clear();
        instance_ = nullptr;
    }

    std::string source_, base_, dir_;
    bool activate_mweb_ = true;
    bool with_bcoin_ = false;
    std::map<std::string, std::string> settings_;
    static inline stack_environment* instance_ = nullptr;
};

// A hiredis connection to the stack's Redis, authenticated with the stack's
// password (its err is set when either failed; the caller frees it).
inline redisContext* stack_redis() {
    const auto& st = stack_environment::get();
    redisContext* c = redisConnect("127.0.0.1", std::stoi(st.setting("BMM_REDIS_PORT")));
    if (!c || c->err) {
        return c;
    }
    const std::string password = read_text(st.setting("BMM_REDIS_PASSWORD_FILE"));
    const std::string first = password.substr(0, password.find('\n'));
    auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %b", first.data(), first.size()));
    if (!r || r->type == REDIS_REPLY_ERROR) {
        c->err = REDIS_ERR_OTHER;
        std::snprintf(c->errstr, sizeof c->errstr, "AUTH failed: %s", r ? r->str : "no answer");
    }
    if (r) {
        freeReplyObject(r);
    }
    return c;
}

}  // namespace bmm::test
