// bmm-stratum's /metrics end to end: the real bmm-stratum (two loops,
// metrics on) against a real litecoind in regtest and a real Redis, started
// by this test on loopback, mined by the real bmm-miner. The numbers scraped
// over HTTP must equal what the miners saw, what the node accepted and what
// reached the Redis stream:
//  - the connection gauge and counter follow a client connecting and leaving;
//  - bmm-miner's accepted and rejected counts equal the share counters, and
//    the accepted work is difficulty × 2^32 / 65535 (scrypt's difficulty 1);
//  - each kind of rejection a client provokes moves its own counter by one;
//  - blocks found, submitted and accepted match the node's chain growth;
//  - with Redis away the backlog counts exactly the records spooled, and
//    drains to zero when it returns; the spool size is journal.log's size;
//  - [limits] at work: a connection over max_connections_per_ip is refused
//    and counted; submits beyond max_pending_requests count as too_many_pending;
//  - garbage HTTP gets an error and the endpoint keeps serving.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stratum_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <fstream>
#include <map>

namespace bmm::stratum {
namespace {

using test::stack_environment;

using test::bin;
using test::pool_process;

pool_process* g_pool = nullptr;
int g_metrics_port = 0;

// One HTTP exchange with the metrics port: the whole response, or "" when
// the connection failed. Bounded by a 5 s receive timeout.
std::string http(const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(g_metrics_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return {};
    }
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[8192];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}

// The scraped samples: "name{labels}" -> value.
struct scrape {
    std::map<std::string, double> v;
    std::string text;

    // The sample `name` with the pool's instance label and `labels` (text
    // such as port="3333",result="accepted"); fails the test when absent.
    double at(const std::string& name, const std::string& labels = {}) const {
        const std::string key = name + "{instance_id=\"9\"" + (labels.empty() ? "" : "," + labels) + "}";
        auto it = v.find(key);
        if (it == v.end()) {
            ADD_FAILURE() << key << " is not on the page";
            return -1;
        }
        return it->second;
    }
    bool has(const std::string& prefix) const { return text.find(prefix) != std::string::npos; }
};

scrape get_metrics() {
    const std::string r = http("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    scrape s;
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r.substr(0, 200);
    const auto body_at = r.find("\r\n\r\n");
    if (body_at == std::string::npos) return s;
    s.text = r.substr(body_at + 4);
    std::istringstream in(s.text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto sp = line.rfind(' ');
        s.v[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    }
    return s;
}

// node="host:port" of the node's RPC URL, as bmm-stratum labels it.
std::string node_label() {
    std::string url = stack_environment::get().setting("BMM_NODE_RPC_URL");
    url = url.substr(url.find("://") + 3);
    return "node=\"" + url.substr(0, url.find('/')) + "\"";
}

std::string port_label() { return "port=\"" + std::to_string(g_pool->port) + "\""; }
double shares(const scrape& s, const std::string& result) {
    return s.at("bmm_stratum_shares_total", port_label() + ",result=\"" + result + "\"");
}
double all_shares(const scrape& s) {
    double n = 0;
    for (const char* r : {"accepted", "stale", "job_not_found", "duplicate", "low_difficulty", "unauthorized",
                          "not_subscribed", "invalid", "not_recorded", "too_many_pending", "too_fast"}) {
        n += shares(s, r);
    }
    return n;
}

// Scrapes until `ok` holds (bounded: 10 s), returning the last scrape.
template <class F>
scrape wait_for(F ok) {
    scrape s = get_metrics();
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ok(s) && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        s = get_metrics();
    }
    return s;
}

std::string cli(const std::string& args) { return stack_environment::get().cli(args); }
long block_count() { return std::stol(cli("getblockcount")); }

std::size_t stream_length() {
    redisContext* c = bmm::test::stack_redis();
    if (!c || c->err) {
        if (c) redisFree(c);
        return 0;
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, "XLEN %s", g_pool->stream.c_str()));
    const std::size_t n = r && r->type == REDIS_REPLY_INTEGER ? static_cast<std::size_t>(r->integer) : 0;
    if (r) freeReplyObject(r);
    redisFree(c);
    return n;
}

// The stream's last records, one line each, for failure messages.
std::string stream_tail(int n) {
    std::string out;
    redisContext* c = bmm::test::stack_redis();
    if (!c || c->err) {
        if (c) redisFree(c);
        return "(Redis unreachable)";
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, "XREVRANGE %s + - COUNT %d", g_pool->stream.c_str(), n));
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (std::size_t i = 0; i < r->elements; ++i) {
            const redisReply* fields = r->element[i]->element[1];
            out += "  ";
            for (std::size_t k = 0; k + 1 < fields->elements; k += 2) {
                const std::string key = fields->element[k]->str;
                if (key == "type" || key == "account" || key == "code" || key == "time_ms" || key == "uid")
                    out += key + "=" + fields->element[k + 1]->str + " ";
            }
            out += "\n";
        }
    if (r) freeReplyObject(r);
    redisFree(c);
    return out;
}

// bmm-miner's JSON summary line.
struct miner_summary {
    int accepted = -1, rejected = -1, submitted = -1;
};
miner_summary run_miner(const std::string& user, const std::string& log) {
    test::child_process miner({bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(g_pool->port),
                               "--user", user, "--shares", "5", "--seconds", "60", "--quiet"},
                              log);
    EXPECT_EQ(miner.wait(90000), 0) << test::read_text(log);
    miner_summary m;
    const std::string text = test::read_text(log);
    const auto at = text.rfind("{\"accepted\":");
    if (at == std::string::npos) {
        ADD_FAILURE() << "no summary from bmm-miner:\n" << text;
        return m;
    }
    std::sscanf(text.c_str() + at, "{\"accepted\":%d,\"rejected\":%d,\"submitted\":%d", &m.accepted, &m.rejected,
                &m.submitted);
    return m;
}

class metrics_e2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g_pool = new pool_process;
        test::pool_options o;
        o.name = "pool-metrics";
        o.stream = "bmm:shares:metrics-e2e";
        o.threads = 2;
        o.ports = {test::free_port_near(24000)};
        g_metrics_port = test::free_port(o.ports[0] + 1);
        o.ports.push_back(g_metrics_port);
        o.sections =
            "[limits]\nmax_connections_per_ip = 16\nmax_pending_requests = 64\n"
            "[metrics]\nhost = \"127.0.0.1\"\nport = " +
            std::to_string(g_metrics_port) + "\nworker_series = 50\nhashrate_window_seconds = 60\n";
        g_pool->start(o);
    }
    static void TearDownTestSuite() {
        if (g_pool) g_pool->stop();
        delete g_pool;
        g_pool = nullptr;
    }
    void TearDown() override {
        if (HasFailure() && g_pool) {
            std::cerr << "---- bmm-stratum log (tail) ----\n" << g_pool->log_tail() << "\n";
        }
    }
};

TEST_F(metrics_e2e, the_page_describes_the_process_before_any_miner) {
    const scrape s = get_metrics();
    EXPECT_EQ(s.at("bmm_stratum_loops"), 2);
    EXPECT_EQ(s.at("bmm_stratum_connections", port_label()), 0);
    EXPECT_EQ(all_shares(s), 0);
    EXPECT_EQ(s.at("bmm_stratum_template_height", node_label()), static_cast<double>(block_count() + 1));
    EXPECT_TRUE(s.has("# TYPE bmm_stratum_verify_share_seconds histogram"));
    EXPECT_TRUE(s.has("bmm_stratum_info{instance_id=\"9\",version=\""));
    EXPECT_TRUE(s.has(",coin=\"LTC\",algorithm=\"scrypt\","));
    const double start = s.at("bmm_stratum_start_time_seconds");
    EXPECT_GT(start, 1.7e9);
    EXPECT_LE(start, static_cast<double>(std::time(nullptr)) + 1);
    // The publisher connects on its own thread, a moment after start-up.
    EXPECT_EQ(wait_for([](const scrape& x) { return x.at("bmm_stratum_redis_up") == 1; }).at("bmm_stratum_redis_up"),
              1);
    EXPECT_EQ(s.at("bmm_stratum_worker_series_limit"), 50);
    EXPECT_EQ(s.at("bmm_stratum_connections_refused_total"), 0);
    EXPECT_EQ(s.at("bmm_stratum_bans_total"), 0);
    EXPECT_EQ(s.at("bmm_stratum_tls_failures_total"), 0);
    EXPECT_EQ(s.at("bmm_stratum_hashrate_window_seconds"), 60);
}

TEST_F(metrics_e2e, the_connection_gauge_follows_a_client) {
    const double total = get_metrics().at("bmm_stratum_connections_total", port_label());
    {
        test::stratum_client c(g_pool->port);
        std::string why;
        ASSERT_TRUE(c.login("gauge.w1", &why)) << why;
        const scrape s = get_metrics();
        EXPECT_EQ(s.at("bmm_stratum_connections", port_label()), 1);
        EXPECT_EQ(s.at("bmm_stratum_connections_total", port_label()), total + 1);
    }
    const scrape after = wait_for([](const scrape& s) { return s.at("bmm_stratum_connections", port_label()) == 0; });
    EXPECT_EQ(after.at("bmm_stratum_connections", port_label()), 0);
    EXPECT_EQ(after.at("bmm_stratum_connections_total", port_label()), total + 1);
}

TEST_F(metrics_e2e, counters_equal_what_bmm_miner_saw_and_the_node_accepted) {
    const scrape before = get_metrics();
    const std::string node = node_label();
    const long height_before = block_count();
    const miner_summary m = run_miner("metrics.rig1", g_pool->dir + "/miner.log");
    ASSERT_GE(m.accepted, 5);
    ASSERT_EQ(m.accepted + m.rejected, m.submitted) << "bmm-miner left answers outstanding";
    // The submit thread may still be talking to the node: wait until every
    // block found has its answer.
    const scrape s = wait_for([&](const scrape& x) {
        return x.at("bmm_stratum_blocks_submitted_total", node) -
                   before.at("bmm_stratum_blocks_submitted_total", node) ==
               x.at("bmm_stratum_blocks_found_total") - before.at("bmm_stratum_blocks_found_total");
    });
    const double accepted = shares(s, "accepted") - shares(before, "accepted");
    const double all = all_shares(s) - all_shares(before);
    EXPECT_EQ(accepted, m.accepted);
    EXPECT_EQ(all - accepted, m.rejected);
    EXPECT_EQ(all, m.submitted);
    // Every accepted share meets regtest's network target: a block each,
    // and stale ones too (blocks are submitted whatever accounting thinks).
    const double found = s.at("bmm_stratum_blocks_found_total") - before.at("bmm_stratum_blocks_found_total");
    EXPECT_GE(found, accepted);
    EXPECT_EQ(s.at("bmm_stratum_blocks_submitted_total", node) - before.at("bmm_stratum_blocks_submitted_total", node),
              found);
    const double node_accepted =
        s.at("bmm_stratum_blocks_accepted_total", node) - before.at("bmm_stratum_blocks_accepted_total", node);
    const double node_rejected =
        s.at("bmm_stratum_blocks_rejected_total", node) - before.at("bmm_stratum_blocks_rejected_total", node);
    EXPECT_EQ(node_accepted + node_rejected, found);
    EXPECT_EQ(node_accepted, static_cast<double>(block_count() - height_before))
        << "blocks the node took as its new tip should be exactly the chain's growth";
    // Work: scrypt's difficulty 1 is 2^32 / 65535 expected hashes (target.hpp).
    const double diff = s.at("bmm_stratum_accepted_difficulty_total", port_label()) -
                        before.at("bmm_stratum_accepted_difficulty_total", port_label());
    const double work = s.at("bmm_stratum_accepted_work_hashes_total", port_label()) -
                        before.at("bmm_stratum_accepted_work_hashes_total", port_label());
    EXPECT_GE(diff, 0.001 * accepted * 0.999);
    EXPECT_NEAR(work / diff, 4294967296.0 / 65535.0, 0.01);
    // Hashrates: the worker and the port carry the work of the window.
    const double worker_rate =
        s.at("bmm_stratum_worker_hashrate_hashes_per_second", "account=\"metrics\",worker=\"rig1\"");
    EXPECT_GT(worker_rate, 0);
    EXPECT_GE(s.at("bmm_stratum_port_hashrate_hashes_per_second", port_label()), worker_rate * 0.999);
    EXPECT_GE(s.at("bmm_stratum_workers_active"), 1);
    // Verify time: every hashed share is in the histograms.
    EXPECT_GE(s.at("bmm_stratum_verify_share_seconds_count") - before.at("bmm_stratum_verify_share_seconds_count"),
              accepted);
    EXPECT_EQ(s.at("bmm_stratum_verify_share_seconds_bucket", "le=\"+Inf\""),
              s.at("bmm_stratum_verify_share_seconds_count"));
    EXPECT_GT(s.at("bmm_stratum_verify_batch_seconds_sum"), 0);
    // New tips mean new jobs: every loop wrote each one to its miners.
    if (node_accepted > 0) {
        EXPECT_GT(s.at("bmm_stratum_job_broadcast_seconds_count"),
                  before.at("bmm_stratum_job_broadcast_seconds_count"));
    }
    EXPECT_EQ(s.at("bmm_stratum_job_broadcast_seconds_bucket", "le=\"+Inf\""),
              s.at("bmm_stratum_job_broadcast_seconds_count"));
    EXPECT_GT(s.at("bmm_stratum_longpoll_answer_timestamp_seconds", node), 0);
    EXPECT_EQ(s.at("bmm_stratum_template_height", node), static_cast<double>(block_count() + 1));
}

TEST_F(metrics_e2e, each_rejection_moves_its_own_counter) {
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("rejects.w1", &why)) << why;
    const scrape before = get_metrics();
    // Judged before hashing: none of these can be a block.
    auto s = c.find_share(pow_algorithm::scrypt, c.difficulty());
    auto r = c.reply(c.submit(s, "someone.else"));
    EXPECT_EQ(r.code, 24) << r.raw;
    auto unknown = s;
    unknown.job_id = "ffffff";
    EXPECT_EQ(c.reply(c.submit(unknown)).code, 21);
    auto bad_time = s;
    bad_time.ntime = "00000001";
    EXPECT_EQ(c.reply(c.submit(bad_time)).code, 20);
    // Accepted (a block in regtest, which moves the tip), then the same again.
    const std::string prev = c.job()->prevhash;
    const auto first = c.reply(c.submit(s));
    ASSERT_TRUE(first.ok) << first.raw;
    EXPECT_EQ(c.reply(c.submit(s)).code, 22);
    // Low difficulty last, on the new tip's job (a share found low misses
    // the network target too, so it moves no tip).
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (c.job()->prevhash == prev && std::chrono::steady_clock::now() < end) c.drain(100);
    ASSERT_NE(c.job()->prevhash, prev) << "no job on the new tip";
    auto low = c.find_share(pow_algorithm::scrypt, c.difficulty(), /*want_low=*/true);
    EXPECT_EQ(c.reply(c.submit(low)).code, 23);
    const scrape after = get_metrics();
    auto moved = [&](const char* result) { return shares(after, result) - shares(before, result); };
    EXPECT_EQ(moved("unauthorized"), 1);
    EXPECT_EQ(moved("job_not_found"), 1);
    EXPECT_EQ(moved("low_difficulty"), 1);
    EXPECT_EQ(moved("invalid"), 1);
    EXPECT_EQ(moved("accepted"), 1);
    EXPECT_EQ(moved("duplicate"), 1);
    EXPECT_EQ(moved("stale"), 0);
    EXPECT_EQ(moved("not_recorded"), 0);
    EXPECT_EQ(all_shares(after) - all_shares(before), 6);
}

TEST_F(metrics_e2e, backlog_counts_the_spool_while_redis_is_away) {
    auto& st = stack_environment::get();
    // Settled: every block found has its answer recorded, and everything
    // journaled is in Redis.
    const std::string node = node_label();
    scrape s = wait_for([&](const scrape& x) {
        return x.at("bmm_stratum_blocks_submitted_total", node) == x.at("bmm_stratum_blocks_found_total") &&
               x.at("bmm_stratum_stream_backlog_records") == 0;
    });
    EXPECT_EQ(s.at("bmm_stratum_stream_backlog_bytes"), 0);
    EXPECT_EQ(s.at("bmm_stratum_stream_appended_total"), s.at("bmm_stratum_stream_published_total"));
    EXPECT_EQ(static_cast<double>(stream_length()), s.at("bmm_stratum_stream_appended_total"));
    const std::string spool_dir = "dir=\"" + g_pool->dir + "/spool\"";
    EXPECT_EQ(s.at("bmm_stratum_spool_bytes", spool_dir),
              static_cast<double>(std::filesystem::file_size(g_pool->dir + "/spool/journal.log")));
    EXPECT_GT(s.at("bmm_stratum_spool_free_bytes", spool_dir), 0);

    const std::string redis_cli = st.redis_cli();
    test::run_capture(redis_cli + " shutdown 2>&1");
    ASSERT_NE(test::run_capture(redis_cli + " ping 2>&1"), "PONG") << "Redis is still up";
    const double appended = s.at("bmm_stratum_stream_appended_total");
    const double published = s.at("bmm_stratum_stream_published_total");
    // Two verdicts while Redis is away: one accepted (a block in regtest, so
    // two block records follow: one before submitblock, one with the node's
    // answer) and its duplicate.
    // The publisher finds Redis gone when it tries to send them.
    {
        test::stratum_client c(g_pool->port);
        std::string why;
        ASSERT_TRUE(c.login("spool.w1", &why)) << why;
        auto good = c.find_share(pow_algorithm::scrypt, c.difficulty());
        EXPECT_TRUE(c.reply(c.submit(good)).ok);
        EXPECT_EQ(c.reply(c.submit(good)).code, 22);
    }
    s = wait_for([&](const scrape& x) {
        return x.at("bmm_stratum_stream_appended_total") - appended >= 4 && x.at("bmm_stratum_redis_up") == 0;
    });
    EXPECT_EQ(s.at("bmm_stratum_redis_up"), 0);
    const double spooled = s.at("bmm_stratum_stream_appended_total") - appended;
    EXPECT_EQ(spooled, 4) << "two verdicts and two block records (before submitblock and the answer)";
    EXPECT_EQ(s.at("bmm_stratum_stream_published_total"), published);
    EXPECT_EQ(s.at("bmm_stratum_stream_backlog_records"), spooled);
    EXPECT_GT(s.at("bmm_stratum_stream_backlog_bytes"), 0);
    EXPECT_EQ(s.at("bmm_stratum_spool_bytes", spool_dir),
              static_cast<double>(std::filesystem::file_size(g_pool->dir + "/spool/journal.log")));

    // Redis returns: the backlog drains, record for record.
    ASSERT_TRUE(st.up_again());
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
        s = get_metrics();
        if (s.at("bmm_stratum_stream_backlog_records") == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (std::chrono::steady_clock::now() < end);
    EXPECT_EQ(s.at("bmm_stratum_stream_backlog_records"), 0);
    EXPECT_EQ(s.at("bmm_stratum_stream_backlog_bytes"), 0);
    EXPECT_EQ(s.at("bmm_stratum_stream_published_total") - published, spooled) << "the stream ends with\n"
                                                                               << stream_tail(8);
    EXPECT_EQ(s.at("bmm_stratum_redis_up"), 1);
}

TEST_F(metrics_e2e, limits_show_refused_connections_and_unjudged_submits) {
    // Submits beyond [limits] max_pending_requests (64 here) in one loop
    // turn: 66 in one write, all from an unauthorised worker (judged without
    // hashing); the last two are answered at once, unjudged.
    {
        test::stratum_client c(g_pool->port);
        std::string why;
        ASSERT_TRUE(c.login("pending.w1", &why)) << why;
        const scrape before = get_metrics();
        std::string lines;
        for (int i = 0; i < 66; ++i) {
            if (i) lines += '\n';
            lines += "{\"id\":" + std::to_string(1000 + i) +
                     R"(,"method":"mining.submit","params":["nobody.x","1","00000000","00000000","00000000"]})";
        }
        c.send_line(lines);
        int answered = 0;
        for (int i = 0; i < 66; ++i) answered += c.reply(1000 + i).received ? 1 : 0;
        EXPECT_EQ(answered, 66);
        const scrape after = get_metrics();
        const double unjudged = shares(after, "too_many_pending") - shares(before, "too_many_pending");
        const double unauthorised = shares(after, "unauthorized") - shares(before, "unauthorized");
        EXPECT_EQ(unjudged + unauthorised, 66);
        EXPECT_EQ(unjudged, 2) << "the 66 lines did not arrive in one read";
    }
    // Connections per address: 16 allowed (all of ours come from 127.0.0.1).
    wait_for([](const scrape& x) { return x.at("bmm_stratum_connections", port_label()) == 0; });
    const double refused = get_metrics().at("bmm_stratum_connections_refused_total");
    std::vector<int> fds;
    auto open_one = [] {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(g_pool->port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        return fd;
    };
    for (int i = 0; i < 16; ++i) fds.push_back(open_one());
    scrape s = wait_for([](const scrape& x) { return x.at("bmm_stratum_connections", port_label()) == 16; });
    EXPECT_EQ(s.at("bmm_stratum_connections", port_label()), 16);
    const int extra = open_one();
    char b;
    EXPECT_EQ(::recv(extra, &b, 1, 0), 0) << "the 17th connection from one address was not closed";
    ::close(extra);
    s = get_metrics();
    EXPECT_EQ(s.at("bmm_stratum_connections_refused_total") - refused, 1);
    EXPECT_EQ(s.at("bmm_stratum_connections", port_label()), 16);
    for (int fd : fds) ::close(fd);
    s = wait_for([](const scrape& x) { return x.at("bmm_stratum_connections", port_label()) == 0; });
    EXPECT_EQ(s.at("bmm_stratum_connections", port_label()), 0);
}

TEST_F(metrics_e2e, garbage_requests_get_errors_and_the_endpoint_keeps_serving) {
    const double bad_before = get_metrics().at("bmm_stratum_metrics_responses_total", "code=\"400\"");
    EXPECT_EQ(http("{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n").rfind("HTTP/1.1 400 ", 0), 0u);
    EXPECT_EQ(http(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00", 8)).rfind("HTTP/1.1 400 ", 0), 0u);
    EXPECT_EQ(http("GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
    EXPECT_EQ(http("DELETE /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
    EXPECT_EQ(http("GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'x') + "\r\n\r\n").rfind("HTTP/1.1 431 ", 0),
              0u);
    const scrape s = get_metrics();
    EXPECT_EQ(s.at("bmm_stratum_metrics_responses_total", "code=\"400\"") - bad_before, 2);
    EXPECT_GE(s.at("bmm_stratum_metrics_responses_total", "code=\"404\""), 1);
    // The Stratum port is untouched by all this.
    test::stratum_client c(g_pool->port);
    std::string why;
    EXPECT_TRUE(c.login("after.garbage", &why)) << why;
}

// logrotate moves the log file away and sends SIGHUP: bmm-stratum goes on
// serving miners and writes its next lines to a new file at the old path
// (SIGHUP used to kill it: the default action).
TEST_F(metrics_e2e, sighup_reopens_the_log_file_and_miners_go_on) {
    pool_process pool;
    test::pool_options o;
    o.name = "pool-sighup";
    o.stream = "bmm:shares:sighup-e2e";
    o.instance_id = 11;
    o.threads = 1;
    o.ports = {test::free_port_near(24600)};
    const std::string log_file = test::stack_environment::get().dir() + "/pool-sighup-rotated.log";
    o.extra_args = {"--log-file", log_file};
    pool.start(o);
    std::filesystem::rename(log_file, log_file + ".1");
    pool.proc->signal(SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(pool.proc->running()) << pool.log_tail();
    test::stratum_client c(pool.port);
    std::string why;
    EXPECT_TRUE(c.login("after.sighup", &why)) << why;
    pool.stop();
    const std::string before = test::read_text(log_file + ".1");
    const std::string after = test::read_text(log_file);
    EXPECT_NE(before.find("listening"), std::string::npos) << before;
    EXPECT_NE(after.find("SIGHUP: log file reopened"), std::string::npos) << after;
    EXPECT_NE(after.find("SIGTERM"), std::string::npos) << after;
    EXPECT_EQ(before.find("SIGTERM"), std::string::npos) << before;
}

}  // namespace
}  // namespace bmm::stratum

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
