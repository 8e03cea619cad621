// tools/bmm-bench against the real pool: bmm-stratum on a real litecoind
// regtest node and a real Redis (tests/support/stack.hpp), both on loopback.
//  - valid mode (two worker processes on source addresses 127.0.0.2 and
//    127.0.0.3, version rolling): the accepted and rejected counts in the
//    bench's JSON are exactly what the Redis stream holds for its users, and
//    the pool saw the connections come from those source addresses;
//  - invalid mode: every share rejected as low difficulty, in the JSON and in
//    the stream alike;
//  - latency fields present and ordered p50 <= p90 <= p99 <= max;
//  - a non-loopback --url is refused without --allow-remote.
// The bench's speed is not asserted (it is a benchmark tool); each run is a
// few seconds, bounded by --duration and the test's own waits.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stream.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <simdjson.h>

#include <fstream>
#include <map>
#include <set>

namespace bmm::test {
namespace {

using test::bin;
using test::pool_process;

pool_process* g_pool = nullptr;
int g_tls_port = 0;
std::string g_cert;

using record = std::map<std::string, std::string>;

using test::read_stream;

// The share records of one account, once the stream holds `expected` of them
// (the pool's publisher moves its journal to Redis shortly after answering);
// waits at most 15 s.
std::vector<record> shares_of(const std::string& account, std::uint64_t expected) {
    std::vector<record> mine;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    do {
        mine.clear();
        for (auto& r : read_stream(g_pool->stream))
            if (r["type"] == "share" && r["account"] == account) mine.push_back(r);
        if (mine.size() >= expected) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (std::chrono::steady_clock::now() < end);
    return mine;
}

struct bench_run {
    int exit_code = -1;
    std::string output;
    simdjson::dom::parser parser;
    simdjson::dom::element report;
};

// Runs bmm-bench with `args` (its JSON to a file) and parses the report.
// `url` defaults to the pool's plain port.
void run_bench(const std::string& name, std::vector<std::string> args, bench_run& out, std::string url = {}) {
    const std::string dir = stack_environment::get().dir() + "/bench-pool";
    const std::string log = dir + "/" + name + ".log", json = dir + "/" + name + ".json";
    if (url.empty()) url = "stratum+tcp://127.0.0.1:" + std::to_string(g_pool->port);
    args.insert(args.begin(), bin("bmm-bench"));
    args.insert(args.end(), {"--url", url, "--json", json});
    child_process p(args, log);
    out.exit_code = p.wait(60000);
    out.output = read_text(log);
    std::printf("%s\n", out.output.substr(0, out.output.find('\n')).c_str());  // the summary line
    ASSERT_EQ(out.exit_code, 0) << out.output;
    ASSERT_EQ(out.parser.load(json).get(out.report), simdjson::SUCCESS) << out.output;
}

std::uint64_t u64(simdjson::dom::element e, const char* a, const char* b) {
    std::uint64_t v = 0;
    EXPECT_EQ(e[a][b].get(v), simdjson::SUCCESS) << a << "." << b;
    return v;
}

void expect_latency_ordered(simdjson::dom::element report, std::uint64_t answered) {
    double p50 = -1, p90 = -1, p99 = -1, mx = -1;
    std::uint64_t count = 0;
    auto lat = report["latency_ms"];
    ASSERT_EQ(lat["p50"].get(p50), simdjson::SUCCESS);
    ASSERT_EQ(lat["p90"].get(p90), simdjson::SUCCESS);
    ASSERT_EQ(lat["p99"].get(p99), simdjson::SUCCESS);
    ASSERT_EQ(lat["max"].get(mx), simdjson::SUCCESS);
    ASSERT_EQ(lat["count"].get(count), simdjson::SUCCESS);
    EXPECT_EQ(count, answered);
    EXPECT_GT(p50, 0);
    EXPECT_LE(p50, p90);
    EXPECT_LE(p90, p99);
    EXPECT_LE(p99, mx);
}

// Valid shares on regtest are blocks, and the jobs on the tips they made
// reach the bench's connections a moment after the run that found them. A
// run that must see no stale share (21) starts once the node's chain has been
// still for two seconds (waiting at most 20 s).
void await_still_chain() {
    auto& env = stack_environment::get();
    long last = std::stol(env.cli("getblockcount"));
    auto still_since = std::chrono::steady_clock::now();
    const auto end = still_since + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end &&
           std::chrono::steady_clock::now() - still_since < std::chrono::seconds(2)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (const long h = std::stol(env.cli("getblockcount")); h != last) {
            last = h;
            still_since = std::chrono::steady_clock::now();
        }
    }
}

class bmm_bench : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g_pool = new pool_process;
        test::pool_options o;
        o.name = "bench-pool";
        o.stream = "bmm:shares:bench-test";
        o.ports = {test::free_port_near(26000)};
        g_tls_port = test::free_port(o.ports[0] + 1);
        o.ports.push_back(g_tls_port);
        const std::string dir = stack_environment::get().dir() + "/bench-pool";
        std::filesystem::create_directories(dir);
        g_cert = dir + "/cert.pem";
        test::make_certificate(g_cert, dir + "/key.pem");
        o.port_sections = test::stratum_port_toml(o.ports[0]) +
                          test::stratum_port_toml(g_tls_port, "tls = true\ntls_cert = \"" + g_cert +
                                                                  "\"\ntls_key = \"" + dir + "/key.pem\"\n");
        g_pool->start(o);
    }
    static void TearDownTestSuite() {
        if (g_pool) g_pool->stop();
        delete g_pool;
        g_pool = nullptr;
    }
};

TEST_F(bmm_bench, valid_shares_match_the_redis_stream_across_two_processes) {
    bench_run r;
    run_bench("valid",
              {"--mode", "valid", "--algo", "scrypt", "--difficulty", "0.0001", "--user", "bvalid", "--connections",
               "4", "--processes", "2", "--rate", "2", "--duration", "4", "--version-rolling", "--quiet"},
              r);
    if (HasFatalFailure()) return;
    const auto held = u64(r.report, "connections", "held"), sent = u64(r.report, "shares", "sent");
    const auto accepted = u64(r.report, "shares", "accepted"), rejected = u64(r.report, "shares", "rejected");
    EXPECT_EQ(held, 4u) << r.output;
    EXPECT_GT(accepted, 0u) << r.output;
    EXPECT_EQ(accepted + rejected, sent) << r.output;
    expect_latency_ordered(r.report, accepted + rejected);

    const auto records = shares_of("bvalid", accepted + rejected);
    std::uint64_t in_stream_accepted = 0, in_stream_rejected = 0;
    std::set<std::string> ips, workers;
    for (const auto& rec : records) {
        (rec.at("accepted") == "1" ? in_stream_accepted : in_stream_rejected)++;
        ips.insert(rec.at("ip"));
        workers.insert(rec.at("worker"));
    }
    EXPECT_EQ(in_stream_accepted, accepted) << r.output;
    EXPECT_EQ(in_stream_rejected, rejected) << r.output;
    // Two processes, each bound to its own source address.
    EXPECT_EQ(ips, (std::set<std::string>{"127.0.0.2", "127.0.0.3"}));
    EXPECT_EQ(workers, (std::set<std::string>{"w0", "w1", "w2", "w3"}));
}

TEST_F(bmm_bench, invalid_shares_are_all_rejected_as_low_difficulty_in_the_json_and_the_stream) {
    await_still_chain();
    bench_run r;
    run_bench("invalid",
              {"--mode", "invalid", "--algo", "scrypt", "--difficulty", "1000", "--user", "binvalid", "--connections",
               "3", "--rate", "5", "--duration", "3", "--quiet"},
              r);
    if (HasFatalFailure()) return;
    const auto sent = u64(r.report, "shares", "sent");
    const auto accepted = u64(r.report, "shares", "accepted"), rejected = u64(r.report, "shares", "rejected");
    EXPECT_GT(sent, 10u) << r.output;
    EXPECT_EQ(accepted, 0u) << r.output;
    EXPECT_EQ(rejected, sent) << r.output;
    EXPECT_EQ(u64(r.report, "shares", "unanswered"), 0u);
    std::uint64_t low = 0;
    ASSERT_EQ(r.report["shares"]["reasons"]["23 low difficulty share"].get(low), simdjson::SUCCESS) << r.output;
    EXPECT_EQ(low, rejected);
    expect_latency_ordered(r.report, rejected);

    const auto records = shares_of("binvalid", rejected);
    ASSERT_EQ(records.size(), rejected);
    for (const auto& rec : records) {
        EXPECT_EQ(rec.at("accepted"), "0");
        EXPECT_EQ(rec.at("code"), "23");
        EXPECT_EQ(rec.at("ip"), "127.0.0.1");
        EXPECT_TRUE(rec.count("hash")) << "the pool hashed the share in full";
    }
}

TEST_F(bmm_bench, valid_shares_over_tls_with_the_pools_certificate) {
    bench_run r;
    run_bench("tls",
              {"--mode", "valid", "--algo", "scrypt", "--difficulty", "0.0001", "--user", "btls", "--connections", "3",
               "--rate", "2", "--duration", "3", "--ca", g_cert, "--quiet"},
              r, "stratum+ssl://127.0.0.1:" + std::to_string(g_tls_port));
    if (HasFatalFailure()) return;
    const auto accepted = u64(r.report, "shares", "accepted"), rejected = u64(r.report, "shares", "rejected");
    EXPECT_EQ(u64(r.report, "connections", "held"), 3u) << r.output;
    EXPECT_GT(accepted, 0u) << r.output;
    EXPECT_EQ(accepted + rejected, u64(r.report, "shares", "sent")) << r.output;
    expect_latency_ordered(r.report, accepted + rejected);
    std::uint64_t in_stream_accepted = 0;
    for (const auto& rec : shares_of("btls", accepted + rejected)) in_stream_accepted += rec.at("accepted") == "1";
    EXPECT_EQ(in_stream_accepted, accepted) << r.output;
}

TEST_F(bmm_bench, refuses_a_non_loopback_target_without_allow_remote) {
    const std::string log = stack_environment::get().dir() + "/bench-pool/remote.log";
    // 192.0.2.1 is TEST-NET-1: never reached, as the bench refuses before connecting.
    child_process p(
        {bin("bmm-bench"), "--url", "stratum+tcp://192.0.2.1:3333", "--connections", "1", "--duration", "1"}, log);
    EXPECT_EQ(p.wait(10000), 2);
    const std::string text = read_text(log);
    EXPECT_NE(text.find("not a loopback address"), std::string::npos) << text;
    EXPECT_NE(text.find("--allow-remote"), std::string::npos) << text;
    EXPECT_EQ(text.find("\"connections\""), std::string::npos) << "no report: nothing was attempted";
}

}  // namespace
}  // namespace bmm::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
