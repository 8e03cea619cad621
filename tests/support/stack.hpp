#pragma once
// Test support: a throwaway local stack (PostgreSQL, Redis, two litecoind
// regtest nodes) started by deploy/stack.sh in a temporary folder on free
// loopback ports, and stopped and deleted afterwards. One stack per test
// binary: register it with ::testing::AddGlobalTestEnvironment.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

#include "process.hpp"
#include "vectors.hpp"

namespace bmm::test {

inline bool port_free(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) { return false;
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
    explicit stack_environment(bool activate_mweb = true) : activate_mweb_(activate_mweb) {}

    void SetUp() override {
        const char* src = std::getenv("BMM_SOURCE_DIR");
        source_ = src && *src ? src : ".";
        char tmpl[] = "/tmp/bmm-test-stack-XXXXXX";
        if (!::mkdtemp(tmpl)) { throw std::runtime_error("mkdtemp failed");
}
        base_ = tmpl;
        ::chmod(base_.c_str(), 0755);  // the postgres user must reach its data folder
        dir_ = base_ + "/stack";
        // Ports: 8 consecutive free ones in 10000..19999 (below the kernel's
        // ephemeral range, 32768.., so that no outgoing connection can take
        // one between this check and the server's bind), starting from a
        // pid-dependent slot so that parallel test binaries rarely collide.
        int base = 0;
        for (int attempt = 0; attempt < 200 && !base; ++attempt) {
            const int candidate = 10000 + ((static_cast<int>(::getpid()) * 13 + attempt * 7) % 1250) * 8;
            bool all = true;
            for (int p = candidate; p < candidate + 8 && all; ++p) { all = port_free(p);
}
            if (all) { base = candidate;
}
        }
        if (!base) { throw std::runtime_error("no 8 free loopback ports found for the test stack");
}
        const std::string cmd = "bash '" + source_ + "/deploy/stack.sh' up --dir '" + dir_ + "' --base-port " +
                                std::to_string(base) + (activate_mweb_ ? "" : " --no-mweb") + " > '" + base_ +
                                "/up.log' 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            const std::string log = read_text(base_ + "/up.log");
            stop();
            throw std::runtime_error("deploy/stack.sh up failed:\n" + log);
        }
        simdjson::dom::parser parser;
        simdjson::dom::object obj = parser.load(dir_ + "/stack.json");
        for (auto [key, value] : obj) {
            std::string v;
            if (value.is_string()) { v = std::string(std::string_view(value));
            } else if (value.is_int64()) { v = std::to_string(std::int64_t(value));
}
            settings_[std::string(key)] = v;
        }
        instance_ = this;
    }

    void TearDown() override { stop(); }

    static stack_environment& get() {
        if (!instance_) { throw std::runtime_error("the test stack is not running");
}
        return *instance_;
    }

    const std::string& setting(const std::string& key) const {
        auto it = settings_.find(key);
        if (it == settings_.end()) { throw std::runtime_error("stack.json has no " + key);
}
        return it->second;
    }
    const std::string& dir() const { return dir_; }
    const std::string& source_dir() const { return source_; }

    // deploy/stack.sh up again, with the options the stack started with:
    // starts what a test stopped (Redis, PostgreSQL, a node). True on success.
    bool up_again() const {
        const std::string cmd = "bash '" + source_ + "/deploy/stack.sh' up --dir '" + dir_ + "'" +
                                (activate_mweb_ ? "" : " --no-mweb") + " > '" + base_ + "/up-again.log' 2>&1";
        return std::system(cmd.c_str()) == 0;
    }

    // litecoin-cli against node A (or B), for test set-up steps.
    std::string cli(const std::string& args, bool node_b = false) const {
        const std::string datadir = setting(node_b ? "BMM_NODE2_DATADIR" : "BMM_NODE_DATADIR");
        return run_capture("litecoin-cli -datadir='" + datadir + "' " + args + " 2>&1");
    }

private:
    void stop() {
        if (dir_.empty()) { return;
}
        const std::string cmd =
            "bash '" + source_ + "/deploy/stack.sh' down --purge --dir '" + dir_ + "' > /dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) { std::filesystem::remove_all(dir_);
}
        std::filesystem::remove_all(base_);
        dir_.clear();
        instance_ = nullptr;
    }

    std::string source_, base_, dir_;
    bool activate_mweb_ = true;
    std::map<std::string, std::string> settings_;
    static inline stack_environment* instance_ = nullptr;
};

}  // namespace bmm::test
