// Every program's command line goes through CLI11 the same way
// (common/include/bmm/cli.hpp): --version prints "<program> <version>
// (commit <commit>)" with the project's version and the git commit built, --help exits 0 and lists the options, and a
// bad option or value exits non-zero with a message naming the option. Runs the real programs of this build; none of
// them gets far enough to need a stack.

#include "bmm/git_commit.hpp"
#include "bmm/version.hpp"

#include "../support/process.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace bmm::test {
namespace {

struct run_result {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

// Runs a program of this build (BMM_BIN_DIR) with `args` (shell-quoted here).
run_result run(const std::string& program, const std::vector<std::string>& args) {
    const char* dir = std::getenv("BMM_BIN_DIR");
    std::string cmd = "'";
    cmd += dir && *dir ? dir : "build/bin";
    cmd += "/" + program + "'";
    for (const auto& a : args) cmd += " '" + a + "'";
    const std::string out = run_capture(cmd + " 2>&1; echo \"exit=$?\"");
    const auto at = out.rfind("exit=");
    if (at == std::string::npos) return {};
    return {std::atoi(out.c_str() + at + 5), out.substr(0, at)};
}

struct program {
    std::string name;
    std::string an_option;  // one of its own options, which --help must list
};

std::vector<program> programs() {
    std::vector<program> p = {{"bmm-stratum", "--config"},
                              {"bmm-miner", "--url"},
                              {"bmm-bench", "--connections"},
                              {"bmm-accountd", "migrate"},
                              {"bmm-payout", "approve"}};
#ifdef BMM_HAVE_VERIFIER_BENCH
    p.push_back({"bmm-verifier-bench", "--benchmark_filter"});
#endif
    return p;
}

TEST(cli, version_prints_program_and_project_version) {
    for (const auto& p : programs()) {
        const auto r = run(p.name, {"--version"});
        EXPECT_EQ(r.exit_code, 0) << p.name << ": " << r.output;
        EXPECT_EQ(r.output, p.name + " " + k_version + " (commit " + k_git_commit + ")\n") << p.name;
    }
}

// The commit is a real commit of this repository (12 hex digits git knows,
// "-dirty" when the tree had changes), the one the build was made from, not a
// placeholder; every program of the build prints the same.
TEST(cli, version_names_the_git_commit_built) {
    const std::string head = run_capture("git -C '" BMM_SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null");
    if (head.size() < 12) {
        GTEST_SKIP() << "the source is not a git checkout";
    }
    const std::string commit = k_git_commit;
    ASSERT_GE(commit.size(), 12u) << commit;
    const std::string hash = commit.substr(0, 12);
    EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos) << commit;
    EXPECT_TRUE(commit.size() == 12 || commit.substr(12) == "-dirty") << commit;
    const std::string known =
        run_capture("git -C '" BMM_SOURCE_DIR "' cat-file -t " + hash + " 2>/dev/null; echo \"exit=$?\"");
    EXPECT_NE(known.find("commit"), std::string::npos) << hash << " is not a commit of this repository: " << known;
    for (const auto& p : programs()) {
        EXPECT_NE(run(p.name, {"--version"}).output.find("(commit " + commit + ")"), std::string::npos) << p.name;
    }
}

TEST(cli, help_exits_0_and_lists_options) {
    for (const auto& p : programs()) {
        const auto r = run(p.name, {"--help"});
        EXPECT_EQ(r.exit_code, 0) << p.name << ": " << r.output;
        EXPECT_NE(r.output.find(p.an_option), std::string::npos) << p.name << ": " << r.output;
        EXPECT_NE(r.output.find("--version"), std::string::npos) << p.name << ": " << r.output;
    }
}

TEST(cli, an_unknown_option_is_named) {
    for (const auto& p : programs()) {
        const auto r = run(p.name, {"--no-such-option"});
        EXPECT_NE(r.exit_code, 0) << p.name << ": " << r.output;
        EXPECT_NE(r.output.find("--no-such-option"), std::string::npos) << p.name << ": " << r.output;
    }
}

// Bad values and missing options: exit 2 (the programs' "bad arguments"),
// and the message names the option.
TEST(cli, bad_values_name_the_option) {
    struct bad_case {
        std::string program;
        std::vector<std::string> args;
        std::string named;
    };
    const std::vector<bad_case> cases = {
        {"bmm-stratum", {}, "--config"},
        {"bmm-stratum", {"--config"}, "--config"},
        {"bmm-miner", {"--url", "stratum+tcp://127.0.0.1:1"}, "--user"},
        {"bmm-miner", {"--user", "a.b", "--shares", "many"}, "--shares"},
        {"bmm-miner", {"--user", "a.b", "--url", "http://127.0.0.1:1"}, "--url"},
        {"bmm-miner", {"--user", "a.b", "--algo", "x11"}, "--algo"},
        {"bmm-miner", {"--user", "a.b", "--ca", "ca.pem"}, "--ca"},
        {"bmm-bench", {}, "--url"},
        {"bmm-bench", {"--url", "stratum+tcp://127.0.0.1:1", "--connections", "0"}, "--connections"},
        {"bmm-bench", {"--url", "stratum+tcp://127.0.0.1:1", "--mode", "fast"}, "--mode"},
        {"bmm-bench", {"--url", "stratum+tcp://127.0.0.1:1", "--duration", "-1"}, "--duration"},
        {"bmm-bench", {"--url", "stratum+tcp://127.0.0.1:1", "--user", "a.b"}, "--user"},
        {"bmm-bench", {"--url", "stratum+tcp://127.0.0.1:1", "--sources", "127.0.0.2,nope"}, "--sources"},
        {"bmm-bench",
         {"--url", "stratum+tcp://127.0.0.1:1", "--sources", "127.0.0.2", "--source-count", "2"},
         "--source"},
        {"bmm-payout", {"plan", "--config", "x.toml"}, "--coin"},
        {"bmm-payout", {"export", "1", "--config", "x.toml", "--format", "xml"}, "--format"},
        {"bmm-payout", {"show", "0", "--config", "x.toml"}, "batch"},
    };
    for (const auto& c : cases) {
        const auto r = run(c.program, c.args);
        std::string line = c.program;
        for (const auto& a : c.args) line += " " + a;
        EXPECT_EQ(r.exit_code, 2) << line << ": " << r.output;
        EXPECT_NE(r.output.find(c.named), std::string::npos) << line << ": " << r.output;
        EXPECT_NE(r.output.find(c.program + ": "), std::string::npos) << line << ": " << r.output;
    }
}

#ifdef BMM_HAVE_VERIFIER_BENCH
// Google Benchmark's own flags still reach it through CLI11.
TEST(cli, benchmark_flags_pass_through) {
    const auto r = run("bmm-verifier-bench", {"--benchmark_list_tests=true", "--benchmark_filter=openssl"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("openssl"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("sha256d_share"), std::string::npos) << "the filter was applied: " << r.output;
}
#endif

}  // namespace
}  // namespace bmm::test
