// bmm-stratum's TLS port, [limits] and bans end to end: the real bmm-stratum
// and bmm-miner against a real litecoind (regtest) and Redis on loopback.
// Different "miners" connect from different loopback addresses (127.0.0.x),
// so that per-address limits and bans can be seen apart:
//   127.0.0.1  well-behaved miners (the ban test's control, bmm-miner)
//   127.0.0.2  floods garbage: banned, its reconnections refused
//   127.0.0.3  one connection more than max_connections_per_ip
//   127.0.0.4  connects and says nothing: half-open timeout
//   127.0.0.5  a line longer than max_line_bytes
//   127.0.0.6  never reads its answers: write queue bound
//   127.0.0.7  more submits in one read than max_pending_requests
//   127.0.0.8  plain text on the TLS port
//   127.0.0.9  TCP on the TLS port without a handshake: handshake timeout
// The pool runs two loops, so that a ban made on one loop must hold on both.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stratum_client.hpp"
#include "../support/stream.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>

namespace bmm::stratum {
namespace {

using test::stack_environment;

constexpr int k_per_ip = 3;
constexpr int k_pending = 4;
constexpr int k_share_rate = 20;    // [limits] max_shares_per_second: bursts of 100
constexpr int k_free_rejects = 30;  // [limits] free_rejects_per_minute

using test::bin;
using test::free_port;

using test::make_certificate;

// The pool: a plain port and a TLS port, tight [limits], two loops.
struct pool_process : test::pool_process {
    std::string cert, key, other_cert, other_key;
    int tls_port = 0;

    void start() {
        auto& st = stack_environment::get();
        const std::string d = st.dir() + "/limits-pool";
        std::filesystem::create_directories(d);
        cert = d + "/cert.pem";
        key = d + "/key.pem";
        other_cert = d + "/other-cert.pem";
        other_key = d + "/other-key.pem";
        make_certificate(cert, key);
        make_certificate(other_cert, other_key);  // a stranger's: not the pool's CA
        test::pool_options o;
        o.name = "limits-pool";
        o.stream = "bmm:shares:limits";
        o.threads = 2;
        o.log_level = "debug";
        o.ports = {test::free_port_near(22000)};
        tls_port = free_port(o.ports[0] + 1);
        o.ports.push_back(tls_port);
        o.sections = "[limits]\nmax_connections = 100\nmax_connections_per_ip = " + std::to_string(k_per_ip) +
                     "\nmax_line_bytes = 1024\nmax_pending_requests = " + std::to_string(k_pending) +
                     "\nmax_write_queue_bytes = 65536\nhalf_open_timeout_seconds = 3\n"
                     "tls_handshake_timeout_seconds = 2\nban_threshold = 10\nban_half_life_seconds = 600\n"
                     "ban_seconds = 60\nmax_shares_per_second = " +
                     std::to_string(k_share_rate) + "\nfree_rejects_per_minute = " + std::to_string(k_free_rejects) +
                     "\n";
        o.port_sections =
            test::stratum_port_toml(o.ports[0]) +
            test::stratum_port_toml(tls_port, "tls = true\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n");
        test::pool_process::start(o);
    }
};

pool_process* g_pool = nullptr;

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

// Waits (bounded) for `needle` to appear in the pool's log.
bool log_shows(const std::string& needle, int timeout_ms = 5000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        if (test::read_text(g_pool->log).find(needle) != std::string::npos) return true;
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

long block_count() { return std::stol(stack_environment::get().cli("getblockcount")); }

// A connection the pool refuses at accept: closed at once, no answer.
void expect_refused(const char* source, int port) {
    test::stratum_client c(port, "127.0.0.1", source);
    try {
        c.request("mining.subscribe", "[]");
    } catch (const std::exception&) {
        return;  // already reset: refused
    }
    EXPECT_TRUE(c.wait_closed(2000)) << "a connection from " << source << " was not refused";
    EXPECT_TRUE(c.pending_lines().empty()) << "a refused connection got an answer: " << c.pending_lines().front();
}

// Runs bmm-miner; returns its exit code and leaves its output in `out`.
int run_miner(const std::vector<std::string>& extra, const std::string& log_path, std::string& out) {
    std::filesystem::remove(log_path);
    std::vector<std::string> args = {bin("bmm-miner"), "--user", "tlsminer.rig1", "--seconds", "60", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    test::child_process miner(args, log_path);
    const int rc = miner.wait(90000);
    out = test::read_text(log_path);
    return rc;
}

// A number from bmm-miner's JSON summary line.
long json_number(const std::string& out, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("\"" + key + "\":([0-9]+)"))) return -1;
    return std::stol(m[1]);
}

class limits_e2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g_pool = new pool_process;
        g_pool->start();
    }
    static void TearDownTestSuite() {
        if (g_pool) g_pool->stop();
        delete g_pool;
        g_pool = nullptr;
    }
    void TearDown() override {
        if (HasFailure() && g_pool) {
            std::cerr << "---- bmm-stratum log (tail) ----\n" << g_pool->log_tail(6000) << "\n";
        }
        // Let the pool see closed connections before the next test counts them.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
};

TEST_F(limits_e2e, bmm_miner_mines_over_tls_verifying_the_pool_certificate) {
    const long before = block_count();
    std::string out;
    const int rc = run_miner(
        {"--url", "stratum+ssl://127.0.0.1:" + std::to_string(g_pool->tls_port), "--ca", g_pool->cert, "--shares", "3"},
        g_pool->dir + "/miner-tls.log", out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_GE(json_number(out, "accepted"), 3) << out;
    EXPECT_NE(out.find("\"tls\":true"), std::string::npos) << out;
    // In regtest accepted shares are blocks: the node took at least one from the TLS session.
    EXPECT_GT(block_count(), before);
}

TEST_F(limits_e2e, stratum_tls_scheme_without_ca_encrypts_without_checking) {
    std::string out;
    const int rc = run_miner({"--url", "stratum+tls://127.0.0.1:" + std::to_string(g_pool->tls_port), "--shares", "1"},
                             g_pool->dir + "/miner-tls-noca.log", out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_GE(json_number(out, "accepted"), 1) << out;
    EXPECT_NE(out.find("\"tls\":true"), std::string::npos) << out;
}

TEST_F(limits_e2e, bmm_miner_refuses_a_pool_whose_certificate_its_ca_did_not_sign) {
    std::string out;
    const int rc = run_miner({"--url", "stratum+ssl://127.0.0.1:" + std::to_string(g_pool->tls_port), "--ca",
                              g_pool->other_cert, "--shares", "1"},
                             g_pool->dir + "/miner-tls-wrongca.log", out);
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("certificate check failed"), std::string::npos) << out;
    EXPECT_EQ(json_number(out, "accepted"), -1) << "no session should have started: " << out;
}

TEST_F(limits_e2e, plain_text_on_the_tls_port_is_a_tls_failure) {
    test::stratum_client c(g_pool->tls_port, "127.0.0.1", "127.0.0.8");
    c.request("mining.subscribe", "[]");
    EXPECT_TRUE(c.wait_closed(3000));
    EXPECT_TRUE(log_shows("from 127.0.0.8 closed: TLS: TLS handshake failed"));
}

TEST_F(limits_e2e, a_tls_handshake_that_never_comes_times_out) {
    test::stratum_client c(g_pool->tls_port, "127.0.0.1", "127.0.0.9");
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.wait_closed(6000));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "closed before the handshake timeout";
    EXPECT_TRUE(log_shows("from 127.0.0.9 closed: TLS handshake not finished"));
}

TEST_F(limits_e2e, the_connection_over_max_connections_per_ip_is_refused) {
    std::vector<std::unique_ptr<test::stratum_client>> held;
    for (int i = 0; i < k_per_ip; ++i) {
        held.push_back(std::make_unique<test::stratum_client>(g_pool->port, "127.0.0.1", "127.0.0.3"));
        std::string why;
        ASSERT_TRUE(held.back()->login("perip.w" + std::to_string(i), &why)) << why;
    }
    expect_refused("127.0.0.3", g_pool->port);
    expect_refused("127.0.0.3", g_pool->tls_port);  // the limit is per address, over all ports
    // One closes: there is room again.
    held.pop_back();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    test::stratum_client again(g_pool->port, "127.0.0.1", "127.0.0.3");
    std::string why;
    EXPECT_TRUE(again.login("perip.again", &why)) << why;
}

TEST_F(limits_e2e, a_garbage_flood_is_banned_while_a_good_miner_keeps_its_answers) {
    test::stratum_client good(g_pool->port);  // from 127.0.0.1
    std::string why;
    ASSERT_TRUE(good.login("goodminer.w1", &why)) << why;

    test::stratum_client bad(g_pool->port, "127.0.0.1", "127.0.0.2");
    for (int i = 0; i < 30; ++i) {
        try {
            bad.send_line("{garbage " + std::to_string(i));
        } catch (const std::exception&) {
            break;  // closed already
        }
    }
    EXPECT_TRUE(bad.wait_closed(3000)) << "the flooding connection was not closed";
    ASSERT_TRUE(log_shows("banned 127.0.0.2 for 60 s: malformed lines"));
    // Its reconnections are refused on both loops and both ports.
    for (int i = 0; i < 6; ++i) expect_refused("127.0.0.2", i % 2 ? g_pool->tls_port : g_pool->port);
    EXPECT_EQ(count_of(test::read_text(g_pool->log), "banned 127.0.0.2"), 1u) << "a ban is logged once";

    // The good miner still gets every answer, a share accepted too.
    auto r = good.reply(good.request("mining.extranonce.subscribe", "[]"));
    EXPECT_TRUE(r.ok) << r.raw;
    good.drain(200);
    auto share = good.find_share(pow_algorithm::scrypt, good.difficulty());
    auto verdict = good.reply(good.submit(share));
    ASSERT_TRUE(verdict.received);
    // Accepted, or stale when another test's block moved the tip just now.
    EXPECT_TRUE(verdict.ok || verdict.code == 21) << verdict.raw;
}

TEST_F(limits_e2e, half_open_connections_are_closed) {
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.4");
    auto r = c.reply(c.request("mining.subscribe", "[]"));
    ASSERT_TRUE(r.ok) << r.raw;  // subscribed, never authorised
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.wait_closed(7000));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
    EXPECT_TRUE(log_shows("from 127.0.0.4 closed: half-open"));
}

TEST_F(limits_e2e, lines_up_to_max_line_bytes_are_answered_and_longer_ones_close) {
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.5");
    // 1024 bytes in all: the longest line allowed.
    const std::string head = "{\"id\":\"", tail = "\",\"method\":\"mining.extranonce.subscribe\",\"params\":[]}";
    const std::string id(1024 - head.size() - tail.size(), 'a');
    c.send_line(head + id + tail);
    auto r = c.wait_reply("\"id\":\"" + id + "\",");
    EXPECT_TRUE(r.ok) << r.raw;
    c.send_raw(std::string(1100, 'x'));  // no newline yet, already too long
    EXPECT_TRUE(c.wait_closed(2000));
    EXPECT_TRUE(log_shows("from 127.0.0.5 closed: line longer than [limits] max_line_bytes"));
}

TEST_F(limits_e2e, a_miner_that_does_not_read_is_closed_at_the_write_queue_bound) {
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.6", /*receive_buffer=*/4096);
    // Each request makes an answer of about 1 KB (the id comes back); none is read.
    const std::string id(900, 'q');
    const std::string line = "{\"id\":\"" + id + "\",\"method\":\"mining.extranonce.subscribe\",\"params\":[]}\n";
    std::string burst;
    for (int i = 0; i < 16; ++i) burst += line;
    bool refused = false;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < 2000 && std::chrono::steady_clock::now() < end; ++i)
        if (!c.send_raw(burst)) {
            refused = true;
            break;
        }
    EXPECT_TRUE(refused || c.wait_closed(5000)) << "the pool kept the connection of a miner that does not read";
    EXPECT_TRUE(log_shows("from 127.0.0.6 closed: the miner does not read"));
}

TEST_F(limits_e2e, submits_over_max_pending_requests_get_an_error) {
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.7");
    std::string why;
    ASSERT_TRUE(c.login("pending.w1", &why)) << why;
    // Ten submits in one write, so in one read and one batch.
    std::string lines;
    for (int id = 100; id < 110; ++id)
        lines += "{\"id\":" + std::to_string(id) +
                 ",\"method\":\"mining.submit\",\"params\":[\"pending.w1\",\"ffffff\",\"00000000\",\"00000000\","
                 "\"00000000\"]}\n";
    ASSERT_TRUE(c.send_raw(lines));
    int judged = 0, refused = 0;
    for (int id = 100; id < 110; ++id) {
        auto r = c.reply(id);
        ASSERT_TRUE(r.received) << "no answer to " << id;
        if (r.code == 21) ++judged;  // judged: job not found
        else if (r.code == 20 && r.message.rfind("too many requests awaiting an answer", 0) == 0) ++refused;
        else ADD_FAILURE() << r.raw;
    }
    EXPECT_EQ(judged, k_pending);
    EXPECT_EQ(refused, 10 - k_pending);
    // Once answered, submits are taken again.
    auto r = c.reply(c.request("mining.submit", R"(["pending.w1","ffffff","00000000","00000000","00000000"])"));
    EXPECT_EQ(r.code, 21) << r.raw;
}

// Submits past [limits] max_shares_per_second are answered at once, neither
// hashed nor recorded, and each adds a ban point: a flood ends in a ban.
TEST_F(limits_e2e, a_submit_flood_past_max_shares_per_second_is_refused_unrecorded_and_banned) {
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.8");
    std::string why;
    ASSERT_TRUE(c.login("ratelimit.w1", &why)) << why;
    const auto started = std::chrono::steady_clock::now();
    int judged = 0, too_fast = 0, id = 1000;
    bool closed = false;
    // Rounds of k_pending submits (the pending limit is checked first), as
    // fast as the answers come; bounded in count.
    for (int round = 0; round < 100 && !closed; ++round) {
        std::string lines;
        const int first = id;
        for (int i = 0; i < k_pending; ++i, ++id) {
            lines += "{\"id\":" + std::to_string(id) +
                     ",\"method\":\"mining.submit\",\"params\":[\"ratelimit.w1\",\"ffffff\",\"00000000\",\"00000000\","
                     "\"00000000\"]}\n";
        }
        if (!c.send_raw(lines)) {
            break;
        }
        for (int i = first; i < id; ++i) {
            auto r = c.reply(i, 2000);
            if (!r.received) {
                closed = true;
                break;
            }
            if (r.code == 21) {
                ++judged;  // judged: job not found
            } else if (r.code == 20 && r.message.rfind("too many shares", 0) == 0) {
                ++too_fast;
            } else {
                ADD_FAILURE() << r.raw;
            }
        }
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_TRUE(closed || c.wait_closed(3000)) << "the flooding connection was not closed";
    ASSERT_TRUE(log_shows("banned 127.0.0.8 for 60 s: shares past [limits] max_shares_per_second"));
    // The burst (five seconds' worth) and what the rate refilled were judged;
    // the ban came at ban_threshold (10) refusals.
    EXPECT_GE(judged, 5 * k_share_rate);
    EXPECT_LE(judged, 5 * k_share_rate + static_cast<int>(k_share_rate * elapsed) + 1);
    EXPECT_GE(too_fast, 1);
    EXPECT_LE(too_fast, 10 + k_pending);  // the ban's round may answer the rest of its lines
    // Recorded: the judged ones only (a rejected share is recorded).
    auto recorded = [] {
        int n = 0;
        for (const auto& r : test::read_stream("bmm:shares:limits")) {
            if (r.count("account") && r.at("account") == "ratelimit") {
                ++n;
            }
        }
        return n;
    };
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (recorded() < judged && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(recorded(), judged) << "refused submits were recorded";
}

// Shares that cost the pool a hash and miss the target are honest mistakes up
// to [limits] free_rejects_per_minute; a low-difficulty flood past it is banned.
TEST_F(limits_e2e, a_low_difficulty_flood_past_free_rejects_per_minute_is_banned) {
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.9");
    std::string why;
    ASSERT_TRUE(c.login("lowdiff.w1", &why)) << why;
    int low = 0, other = 0;
    bool closed = false;
    for (int i = 0; i < 80 && !closed; ++i) {
        // Misses the target of difficulty 2^-15 and the network target:
        // low difficulty, and no block.
        const auto share = c.find_share(pow_algorithm::scrypt, 1.0 / 32768, /*want_low=*/true);
        int id = 0;
        try {
            id = c.submit(share);
        } catch (const std::exception&) {
            closed = true;
            break;
        }
        auto r = c.reply(id, 2000);
        if (!r.received) {
            closed = true;
        } else if (r.code == 23) {
            ++low;
        } else {
            ++other;  // stale (a block from another test moved the tip): free
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // well under max_shares_per_second
    }
    EXPECT_TRUE(closed || c.wait_closed(3000)) << "the low-difficulty flood was not closed";
    ASSERT_TRUE(log_shows("banned 127.0.0.9 for 60 s: rejected shares past [limits] free_rejects_per_minute"));
    // k_free_rejects free (plus what a minute's rate refilled meanwhile), then
    // ban_threshold (10) points.
    EXPECT_GE(low, k_free_rejects + 9);
    EXPECT_LE(low, k_free_rejects + 10 + 5);
}

TEST_F(limits_e2e, start_up_warns_when_the_open_file_limit_caps_max_connections) {
    // 120 descriptors leave room for about 56 miners, below max_connections = 100.
    auto& st = stack_environment::get();
    const std::string out =
        test::run_capture("ulimit -n 120 && BMM_NODE_RPC_USER='" + st.setting("BMM_NODE_RPC_USER") +
                          "' BMM_NODE_RPC_PASSWORD='" + st.setting("BMM_NODE_RPC_PASSWORD") + "' '" +
                          bin("bmm-stratum") + "' --config '" + g_pool->config + "' --check 2>&1");
    EXPECT_NE(out.find("open file limit 120 (soft was 120, hard 120): room for about 56 miners"), std::string::npos)
        << out;
    EXPECT_NE(out.find("the open file limit caps connections at about 56, below [limits] max_connections 100"),
              std::string::npos)
        << out;
}

// Last: stopping reports the counters.
TEST_F(limits_e2e, stop_reports_refused_banned_and_closed_counts) {
    ASSERT_EQ(g_pool->proc->stop(SIGTERM, 15000), 0);
    const std::string log = test::read_text(g_pool->log);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(log, m,
                                  std::regex("([0-9]+) connections refused, ([0-9]+) addresses banned, ([0-9]+) "
                                             "closed by limits, ([0-9]+) TLS failures")))
        << log.substr(log.size() > 2000 ? log.size() - 2000 : 0);
    EXPECT_GE(std::stoi(m[1]), 8);  // 2 over the per-address limit, 6 banned
    EXPECT_EQ(std::stoi(m[2]), 3);  // the garbage, submit and low-difficulty floods
    EXPECT_GE(std::stoi(m[3]), 5);
    EXPECT_GE(std::stoi(m[4]), 1);
    // Start-up said what the open-file limit allows, beside [limits] max_connections.
    EXPECT_TRUE(std::regex_search(log, std::regex("open file limit [0-9]+ \\(soft was [0-9]+, hard [0-9]+\\): room "
                                                  "for about [0-9]+ miners; \\[limits\\] max_connections 100")))
        << log.substr(0, 3000);
}

}  // namespace
}  // namespace bmm::stratum

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
