// bmm-stratum's metrics: the Prometheus text format (escaping, histograms,
// families), the sliding-window hashrate, the per-loop counters merged at
// scrape time, the whole page, and the HTTP endpoint on a loopback socket
// with well-behaved, garbage, oversized, slow and too many clients.

#include "bmm/stratum/metrics.hpp"
#include "metrics_detail.hpp"

#include "../support/raw_http.hpp"
#include "bmm/stratum/job_manager.hpp"
#include "bmm/stratum/share_sink.hpp"
#include "bmm/target.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace bmm::stratum::metrics {
namespace {

// ---------------------------------------------------------------------------
// The text format
// ---------------------------------------------------------------------------

TEST(metrics_text, label_values_and_help_are_escaped) {
    EXPECT_EQ(escape_label_value("plain"), "plain");
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    EXPECT_EQ(escape_label_value(""), "");
    // HELP escapes backslash and newline but leaves quotes alone.
    EXPECT_EQ(escape_help("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(metrics_text, values_are_exact_integers_or_shortest_round_trip) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(3), "3");
    EXPECT_EQ(format_value(-7), "-7");
    EXPECT_EQ(format_value(0.25), "0.25");
    EXPECT_EQ(format_value(1e-6), "1e-06");
    EXPECT_EQ(format_value(4294967296.0), "4294967296");
    EXPECT_EQ(format_value(1e20), "1e+20");
    EXPECT_EQ(format_value(std::nan("")), "NaN");
    EXPECT_EQ(format_value(HUGE_VAL), "+Inf");
    EXPECT_EQ(format_value(-HUGE_VAL), "-Inf");
    const double third = 1.0 / 3;
    EXPECT_EQ(std::stod(format_value(third)), third);
}

TEST(metrics_text, samples_carry_the_constant_labels_first) {
    text_writer w(labels{{"instance_id", "7"}});
    w.family("bmm_x_total", "counter", "Things.\nSecond line \\ here.");
    w.sample("bmm_x_total", {{"port", "3333"}, {"worker", "a\"b"}}, std::uint64_t{18446744073709551615u});
    w.sample("bmm_x_total", {}, 0.5);
    EXPECT_EQ(w.text(),
              "# HELP bmm_x_total Things.\\nSecond line \\\\ here.\n"
              "# TYPE bmm_x_total counter\n"
              "bmm_x_total{instance_id=\"7\",port=\"3333\",worker=\"a\\\"b\"} 18446744073709551615\n"
              "bmm_x_total{instance_id=\"7\"} 0.5\n");
    text_writer bare;
    bare.sample("bmm_y", {}, 1.0);
    EXPECT_EQ(bare.text(), "bmm_y 1\n");
}

TEST(metrics_text, histogram_buckets_are_cumulative_with_inf_sum_and_count) {
    histogram h({0.1, 1, 10});
    h.observe(0.05);    // <= 0.1
    h.observe(0.1);     // <= 0.1 (bounds are inclusive)
    h.observe(0.5, 3);  // three observations of 0.5
    h.observe(20);      // above every bound
    const histogram_data d = h.snapshot();
    ASSERT_EQ(d.counts, (std::vector<std::uint64_t>{2, 3, 0, 1}));
    EXPECT_EQ(d.count, 6u);
    EXPECT_DOUBLE_EQ(d.sum, 0.05 + 0.1 + 1.5 + 20);
    text_writer w;
    w.family("t_seconds", "histogram", "Time.");
    w.histogram("t_seconds", {{"port", "1"}}, d);
    std::ostringstream want;
    want << "# HELP t_seconds Time.\n# TYPE t_seconds histogram\n"
         << "t_seconds_bucket{port=\"1\",le=\"0.1\"} 2\n"
         << "t_seconds_bucket{port=\"1\",le=\"1\"} 5\n"
         << "t_seconds_bucket{port=\"1\",le=\"10\"} 5\n"
         << "t_seconds_bucket{port=\"1\",le=\"+Inf\"} 6\n"
         << "t_seconds_sum{port=\"1\"} " << format_value(d.sum) << "\n"
         << "t_seconds_count{port=\"1\"} 6\n";
    EXPECT_EQ(w.text(), want.str());
}

TEST(metrics_text, histograms_merge_across_loops) {
    histogram a({1, 2}), b({1, 2});
    a.observe(0.5);
    b.observe(1.5);
    b.observe(3);
    histogram_data m;
    m.merge(a.snapshot());
    m.merge(b.snapshot());
    EXPECT_EQ(m.counts, (std::vector<std::uint64_t>{1, 1, 1}));
    EXPECT_EQ(m.count, 3u);
    EXPECT_DOUBLE_EQ(m.sum, 5);
    EXPECT_EQ(m.bounds, (std::vector<double>{1, 2}));
}

// ---------------------------------------------------------------------------
// Work and hashrate
// ---------------------------------------------------------------------------

TEST(metrics_hashrate, work_of_difficulty_one_matches_each_algorithm) {
    // sha256d: 2^256 / (0xffff * 2^208 + 1) = 2^48 / 0xffff, about 2^32.
    const double sha = work_as_double(*target_from_difficulty(1, pow_algorithm::sha256d));
    EXPECT_NEAR(sha, 281474976710656.0 / 65535.0, 1);
    // scrypt's difficulty 1 is 65536 times easier: about 2^16.
    const double scrypt = work_as_double(*target_from_difficulty(1, pow_algorithm::scrypt));
    EXPECT_NEAR(scrypt, 4294967296.0 / 65535.0, 0.01);
    EXPECT_NEAR(sha / scrypt, 65536.0, 0.01);
    // Difficulty scales work linearly.
    EXPECT_NEAR(work_as_double(*target_from_difficulty(1024, pow_algorithm::scrypt)) / scrypt, 1024.0, 1e-6);
    // target.hpp's integer is the floor of the same quotient.
    const uint256 t = *target_from_difficulty(0.001, pow_algorithm::scrypt);
    EXPECT_EQ(static_cast<std::uint64_t>(work_as_double(t)), work_from_target(t).low64());
    EXPECT_NEAR(work_as_double(t), 0.001 * 4294967296.0 / 65535.0, 1e-9);
    EXPECT_EQ(static_cast<std::uint64_t>(work_as_double(t)), 65u);
    // The extremes: the easiest target is one hash, the hardest 2^256.
    EXPECT_DOUBLE_EQ(work_as_double(uint256::max()), 1.0);
    EXPECT_DOUBLE_EQ(work_as_double(uint256(0)), std::ldexp(1.0, 256));
}

TEST(metrics_hashrate, window_keeps_the_last_ten_buckets) {
    work_window w;
    EXPECT_EQ(w.sum(100), 0);
    w.add(5, 100);
    w.add(1, 100);
    w.add(2, 103);
    EXPECT_EQ(w.sum(103), 8);
    EXPECT_EQ(w.sum(109), 8);  // bucket 100 is the oldest still inside (100..109)
    EXPECT_EQ(w.sum(110), 2);  // bucket 100 has left
    EXPECT_EQ(w.sum(113), 0);
    EXPECT_TRUE(w.empty_at(113));
    w.add(4, 111);  // moving on zeroes the buckets that were skipped
    EXPECT_EQ(w.sum(111), 6);
    w.add(1, 200);  // a long gap clears everything
    EXPECT_EQ(w.sum(200), 1);
}

TEST(metrics_hashrate, rate_divides_by_the_window_or_the_uptime) {
    // Buckets of 30 s: the window spans 9 whole buckets plus 12 s of the current one.
    EXPECT_DOUBLE_EQ(hashrate(282000, 3012, 100, 30, 1e9), 282000.0 / (9 * 30 + 12));
    // A process up for only 60 s has only 60 s of work to show.
    EXPECT_DOUBLE_EQ(hashrate(600, 3012, 100, 30, 60), 10);
    EXPECT_EQ(hashrate(600, 3000, 100, 30, 0), 0);
}

TEST(metrics_hashrate, loops_merge_per_worker_and_per_port) {
    loop_metrics a(2, 300), b(2, 300);
    // Past the first window, so that both loops' uptime exceeds it and the
    // rates divide by the same span.
    const double now = steady_seconds() + 400;
    const std::vector<work_item> wa = {{"alice", "rig1", 0, 1000}, {"alice", "rig1", 0, 1000}, {"bob", "x", 1, 500}};
    const std::vector<work_item> wb = {{"alice", "rig1", 1, 3000}};
    a.add_work(wa, now);
    b.add_work(wb, now);
    std::unordered_map<std::string, double> workers;
    std::vector<double> ports;
    a.add_hashrates(now, workers, ports);
    b.add_hashrates(now, workers, ports);
    ASSERT_EQ(ports.size(), 2u);
    ASSERT_EQ(workers.size(), 2u);
    // Same span for every series in one scrape, so the ratios are the work's.
    EXPECT_GT(workers["alice.rig1"], 0);
    EXPECT_DOUBLE_EQ(workers["alice.rig1"] / workers["bob.x"], 5000.0 / 500);
    EXPECT_DOUBLE_EQ(ports[0] / ports[1], 2000.0 / 3500);
    EXPECT_DOUBLE_EQ(a.window_seconds(), 300);
    // Ten minutes on, everything has left the window.
    std::unordered_map<std::string, double> later;
    std::vector<double> later_ports;
    a.add_hashrates(now + 600, later, later_ports);
    EXPECT_TRUE(later.empty());
    EXPECT_EQ(later_ports[0], 0);
}

TEST(metrics_hashrate, work_cache_follows_the_target) {
    loop_metrics m(1, 300);
    const uint256 t1 = *target_from_difficulty(1, pow_algorithm::scrypt);
    const uint256 t2 = *target_from_difficulty(2, pow_algorithm::scrypt);
    EXPECT_DOUBLE_EQ(m.work_of(t1), work_as_double(t1));
    EXPECT_DOUBLE_EQ(m.work_of(t2), work_as_double(t2));
    EXPECT_DOUBLE_EQ(m.work_of(t1), work_as_double(t1));
}

TEST(metrics_hashrate, top_workers_caps_the_series_busiest_first) {
    std::unordered_map<std::string, double> rates = {{"a.1", 10}, {"b.2", 30}, {"c.3", 20},
                                                     {"d.4", 20}, {"e", 5},    {"idle.w", 0}};
    server_snapshot s;
    top_workers(rates, 3, s);
    EXPECT_EQ(s.workers_active, 5u);
    ASSERT_EQ(s.workers.size(), 3u);
    EXPECT_EQ(s.workers[0].account, "b");
    EXPECT_EQ(s.workers[0].worker, "2");
    EXPECT_EQ(s.workers[1].account, "c");  // ties by name
    EXPECT_EQ(s.workers[2].account, "d");
    top_workers(rates, 0, s);
    EXPECT_TRUE(s.workers.empty());
    EXPECT_EQ(s.workers_active, 5u);
    top_workers(rates, 100, s);
    ASSERT_EQ(s.workers.size(), 5u);
    EXPECT_EQ(s.workers[4].account, "e");
    EXPECT_EQ(s.workers[4].worker, "");
}

TEST(metrics_results, stratum_codes_map_to_results) {
    EXPECT_EQ(classify(0, false), share_result::accepted);
    EXPECT_EQ(classify(21, false), share_result::stale);
    EXPECT_EQ(classify(21, true), share_result::job_not_found);
    EXPECT_EQ(classify(22, true), share_result::duplicate);
    EXPECT_EQ(classify(23, false), share_result::low_difficulty);
    EXPECT_EQ(classify(24, true), share_result::unauthorized);
    EXPECT_EQ(classify(25, true), share_result::not_subscribed);
    EXPECT_EQ(classify(20, true), share_result::invalid);
    EXPECT_EQ(classify(20, false), share_result::invalid);
    std::set<std::string_view> names;
    for (std::size_t r = 0; r < k_share_results; ++r) names.insert(to_string(static_cast<share_result>(r)));
    EXPECT_EQ(names.size(), k_share_results);
}

// ---------------------------------------------------------------------------
// The whole page
// ---------------------------------------------------------------------------

// Checks the page against the 0.0.4 grammar: HELP then TYPE then samples of
// that family only, no family twice, label syntax, numeric values. Returns
// the samples as "name{labels}" -> value text.
std::map<std::string, std::string> parse_page(const std::string& page) {
    std::map<std::string, std::string> samples;
    const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
    const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
    const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (\S+))");
    std::set<std::string> seen;
    std::string family, family_type, helped;
    std::istringstream in(page);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, help)) {
            EXPECT_TRUE(seen.insert(m[1]).second) << "family twice: " << line;
            helped = m[1];
        } else if (std::regex_match(line, m, type)) {
            EXPECT_EQ(m[1], helped) << "TYPE without its HELP: " << line;
            family = m[1];
            family_type = m[2];
        } else if (std::regex_match(line, m, sample)) {
            const std::string name = m[1];
            const bool ours = name == family ||
                              (family_type == "histogram" &&
                               (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
            EXPECT_TRUE(ours) << "sample outside its family " << family << ": " << line;
            const std::string v = m[3];
            if (v != "NaN" && v != "+Inf" && v != "-Inf") {
                std::size_t used = 0;
                (void)std::stod(v, &used);
                EXPECT_EQ(used, v.size()) << line;
            }
            EXPECT_TRUE(samples.emplace(name + m[2].str(), v).second) << "sample twice: " << line;
        } else {
            ADD_FAILURE() << "not a line of the text format: '" << line << "'";
        }
    }
    return samples;
}

TEST(metrics_page, every_line_follows_the_format_and_the_numbers_are_the_inputs) {
    server_snapshot s;
    s.loops = 2;
    s.window_seconds = 300;
    s.worker_series_limit = 10;
    port_snapshot p;
    p.host = "127.0.0.1";
    p.port = 3333;
    p.connections_current = 3;
    p.connections_total = 9;
    p.shares[static_cast<std::size_t>(share_result::accepted)] = 40;
    p.shares[static_cast<std::size_t>(share_result::duplicate)] = 2;
    p.difficulty_accepted = 0.04;
    p.work_accepted = 2621.4;
    p.hashrate = 12.5;
    s.ports = {p, p};
    s.ports[1].host = "::1";  // the same port number on another address: labelled host:port
    s.workers = {{"alice", "rig \"1\"", 12.5}};
    s.workers_active = 1;
    s.blocks_found = 4;
    s.connections_refused = 6;
    s.bans = 1;
    s.closed_by_limits = 2;
    s.tls_failures = 3;
    histogram h(verify_seconds_bounds());
    h.observe(2e-4, 8);
    s.verify_share_seconds = h.snapshot();
    s.verify_batch_seconds = histogram(verify_seconds_bounds()).snapshot();
    s.batch_shares = histogram(batch_shares_bounds()).snapshot();
    s.job_broadcast_seconds = histogram(verify_seconds_bounds()).snapshot();
    sink_stats sink;
    sink.published = 30;
    sink.appended = 42;
    sink.backlog_records = 12;
    sink.backlog_bytes = 4800;
    sink.journal_bytes = 16000;
    sink.redis_up = true;
    job_manager_stats jobs;
    jobs.height = 432;
    jobs.template_unix_ms = 1'700'000'000'000;
    jobs.longpoll_answer_unix_ms = 1'700'000'000'500;
    jobs.templates_poll = 5;
    jobs.blocks_submitted = 4;
    jobs.blocks_accepted = 3;
    jobs.blocks_rejected = 1;
    process_info info;
    info.instance_id = 7;
    info.version = "0.1.0";
    info.commit = "0123456789ab";
    info.coin = "LTC";
    info.algorithm = "scrypt";
    info.node = "127.0.0.1:19443";
    info.spool_dir = "/var/spool/bmm";
    http_stats http;
    http.responses[0] = 5;
    const std::string page = render(s, sink, jobs, info, http, 1'700'000'002.0, 1e9);
    const auto m = parse_page(page);
    const std::string i = "instance_id=\"7\"";
    auto at = [&](const std::string& key) {
        auto it = m.find(key);
        EXPECT_NE(it, m.end()) << key << " missing from\n" << page;
        return it == m.end() ? std::string("?") : it->second;
    };
    EXPECT_EQ(at("bmm_stratum_connections{" + i + ",port=\"127.0.0.1:3333\"}"), "3");
    EXPECT_EQ(at("bmm_stratum_connections_total{" + i + ",port=\"::1:3333\"}"), "9");
    EXPECT_EQ(at("bmm_stratum_shares_total{" + i + ",port=\"127.0.0.1:3333\",result=\"accepted\"}"), "40");
    EXPECT_EQ(at("bmm_stratum_shares_total{" + i + ",port=\"127.0.0.1:3333\",result=\"duplicate\"}"), "2");
    EXPECT_EQ(at("bmm_stratum_shares_total{" + i + ",port=\"127.0.0.1:3333\",result=\"not_recorded\"}"), "0");
    EXPECT_EQ(at("bmm_stratum_accepted_difficulty_total{" + i + ",port=\"127.0.0.1:3333\"}"), "0.04");
    EXPECT_EQ(at("bmm_stratum_port_hashrate_hashes_per_second{" + i + ",port=\"127.0.0.1:3333\"}"), "12.5");
    EXPECT_EQ(at("bmm_stratum_worker_hashrate_hashes_per_second{" + i + ",account=\"alice\",worker=\"rig \\\"1\\\"\"}"),
              "12.5");
    EXPECT_EQ(at("bmm_stratum_workers_active{" + i + "}"), "1");
    EXPECT_EQ(at("bmm_stratum_blocks_found_total{" + i + "}"), "4");
    EXPECT_EQ(at("bmm_stratum_connections_refused_total{" + i + "}"), "6");
    EXPECT_EQ(at("bmm_stratum_bans_total{" + i + "}"), "1");
    EXPECT_EQ(at("bmm_stratum_connections_closed_by_limits_total{" + i + "}"), "2");
    EXPECT_EQ(at("bmm_stratum_tls_failures_total{" + i + "}"), "3");
    EXPECT_EQ(at("bmm_stratum_shares_total{" + i + ",port=\"127.0.0.1:3333\",result=\"too_many_pending\"}"), "0");
    EXPECT_EQ(at("bmm_stratum_blocks_accepted_total{" + i + ",node=\"127.0.0.1:19443\"}"), "3");
    EXPECT_EQ(at("bmm_stratum_blocks_rejected_total{" + i + ",node=\"127.0.0.1:19443\"}"), "1");
    EXPECT_EQ(at("bmm_stratum_template_height{" + i + ",node=\"127.0.0.1:19443\"}"), "432");
    EXPECT_EQ(at("bmm_stratum_template_age_seconds{" + i + ",node=\"127.0.0.1:19443\"}"), "2");
    // Seconds with the milliseconds kept (the writer's shortest exact form).
    EXPECT_EQ(std::stod(at("bmm_stratum_longpoll_answer_timestamp_seconds{" + i + ",node=\"127.0.0.1:19443\"}")),
              1700000000.5);
    EXPECT_EQ(at("bmm_stratum_stream_backlog_records{" + i + "}"), "12");
    EXPECT_EQ(at("bmm_stratum_stream_backlog_bytes{" + i + "}"), "4800");
    EXPECT_EQ(at("bmm_stratum_spool_bytes{" + i + ",dir=\"/var/spool/bmm\"}"), "16000");
    EXPECT_EQ(at("bmm_stratum_spool_free_bytes{" + i + ",dir=\"/var/spool/bmm\"}"), "1000000000");
    EXPECT_EQ(at("bmm_stratum_redis_up{" + i + "}"), "1");
    EXPECT_EQ(at("bmm_stratum_verify_share_seconds_bucket{" + i + ",le=\"0.0001\"}"), "0");
    EXPECT_EQ(at("bmm_stratum_verify_share_seconds_bucket{" + i + ",le=\"0.00025\"}"), "8");
    EXPECT_EQ(at("bmm_stratum_verify_share_seconds_bucket{" + i + ",le=\"+Inf\"}"), "8");
    EXPECT_EQ(at("bmm_stratum_verify_share_seconds_count{" + i + "}"), "8");
    EXPECT_EQ(at("bmm_stratum_metrics_responses_total{" + i + ",code=\"200\"}"), "5");
    EXPECT_EQ(at("bmm_stratum_info{" + i +
                 ",version=\"0.1.0\",commit=\"0123456789ab\",coin=\"LTC\",algorithm=\"scrypt\",sha256_kernel=\"\","
                 "scrypt_kernel=\"\",verifier=\"\"}"),
              "1");
    // Prometheus conventions: times in _timestamp_seconds, a unit on hashrates.
    EXPECT_EQ(at("bmm_stratum_template_published_timestamp_seconds{" + i + ",node=\"127.0.0.1:19443\"}"), "1700000000");
    for (const auto& [k, v] : m) {
        EXPECT_EQ(k.find("_unix_ms"), std::string::npos) << k;
        if (k.find("hashrate") != std::string::npos && k.find("window") == std::string::npos &&
            k.find("series_limit") == std::string::npos) {
            EXPECT_NE(k.find("_hashes_per_second{"), std::string::npos) << k;
        }
    }
    // process_*: this test process's own figures, from /proc.
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    EXPECT_EQ(std::stod(at("process_max_fds{" + i + "}")), static_cast<double>(rl.rlim_cur));
    EXPECT_GE(std::stod(at("process_open_fds{" + i + "}")), 3);  // stdin, stdout, stderr at least
    EXPECT_LT(std::stod(at("process_open_fds{" + i + "}")), static_cast<double>(rl.rlim_cur));
    EXPECT_GT(std::stod(at("process_resident_memory_bytes{" + i + "}")), 1e5);
    EXPECT_GT(std::stod(at("process_virtual_memory_bytes{" + i + "}")),
              std::stod(at("process_resident_memory_bytes{" + i + "}")));
    EXPECT_GE(std::stod(at("process_cpu_seconds_total{" + i + "}")), 0);
    const double started = std::stod(at("process_start_time_seconds{" + i + "}"));
    const double now = static_cast<double>(::time(nullptr));
    EXPECT_LE(started, now + 1);
    EXPECT_GT(started, now - 3600);  // this test process started within the hour
    // One more open descriptor shows on the next page.
    const double fds_before = std::stod(at("process_open_fds{" + i + "}"));
    const int extra = ::dup(1);
    ASSERT_GE(extra, 0);
    const auto m3 = parse_page(render(s, sink, jobs, info, http, 1'700'000'002.0, 1e9));
    EXPECT_EQ(std::stod(m3.at("process_open_fds{" + i + "}")), fds_before + 1);
    ::close(extra);
    // Without statvfs the free-space family is left out rather than made up.
    const auto m2 = parse_page(render(s, sink, jobs, info, http, 1'700'000'002.0, -1));
    for (const auto& [k, v] : m2) EXPECT_EQ(k.find("spool_free"), std::string::npos) << k;
}

// ---------------------------------------------------------------------------
// The HTTP endpoint, on a loopback socket
// ---------------------------------------------------------------------------

using test::connect_to;
using test::http_exchange;
using test::read_all;
using test::send_all;

int status_of(const std::string& response) {
    if (response.rfind("HTTP/1.1 ", 0) != 0) return -1;
    return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
    const auto at = response.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : response.substr(at + 4);
}

class metrics_http : public ::testing::Test {
protected:
    void SetUp() override {
        http_options o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.max_request_bytes = 1024;
        o.request_timeout = std::chrono::milliseconds(500);
        o.max_clients = 4;
        ep_ = std::make_unique<http_endpoint>(o, [this] {
            ++pages_;
            return std::string("# HELP t Test.\n# TYPE t counter\nt ") + std::to_string(pages_.load()) + "\n";
        });
        auto r = ep_->start();
        ASSERT_TRUE(r) << r.error_message();
        port_ = ep_->port();
        ASSERT_NE(port_, 0);
    }
    std::uint64_t responses(int code) const {
        const auto s = ep_->stats();
        for (std::size_t i = 0; i < http_stats::k_http_codes.size(); ++i)
            if (http_stats::k_http_codes[i] == code) return s.responses[i];
        return 0;
    }
    std::unique_ptr<http_endpoint> ep_;
    std::uint16_t port_ = 0;
    std::atomic<int> pages_{0};
};

TEST_F(metrics_http, get_metrics_serves_the_page) {
    const std::string r = http_exchange(port_, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
    EXPECT_EQ(body_of(r), "# HELP t Test.\n# TYPE t counter\nt 1\n");
    EXPECT_NE(r.find("Content-Length: " + std::to_string(body_of(r).size()) + "\r\n"), std::string::npos) << r;
    // A query string is fine; bare \n line ends too; HEAD has no body.
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics?x=1 HTTP/1.0\n\n")), 200);
    const std::string head = http_exchange(port_, "HEAD /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(status_of(head), 200);
    EXPECT_EQ(body_of(head), "");
    EXPECT_EQ(responses(200), 3u);
}

TEST_F(metrics_http, bytes_after_the_request_are_dropped_and_the_answer_still_comes) {
    const std::string r = http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n" + std::string(200000, 'z'));
    EXPECT_EQ(status_of(r), 200) << r.substr(0, 200);
    EXPECT_EQ(body_of(r), "# HELP t Test.\n# TYPE t counter\nt 1\n");
}

TEST_F(metrics_http, a_client_that_half_closes_still_gets_the_answer) {
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n", true)), 200);
}

TEST_F(metrics_http, other_paths_methods_and_garbage_get_errors) {
    EXPECT_EQ(status_of(http_exchange(port_, "GET / HTTP/1.1\r\n\r\n")), 404);
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metricsx HTTP/1.1\r\n\r\n")), 404);
    const std::string post = http_exchange(port_, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(status_of(post), 405) << post;
    EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
    // Garbage: a TLS hello, a Stratum line, HTTP/0.9, a bad version, control bytes.
    EXPECT_EQ(status_of(http_exchange(port_, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12))), 400);
    EXPECT_EQ(status_of(http_exchange(port_, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11))), 400);
    EXPECT_EQ(status_of(http_exchange(port_, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n")), 400);
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics\r\n\r\n")), 400);
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics HTTP/2.0\r\n\r\n")), 400);
    EXPECT_EQ(status_of(http_exchange(port_, "GET /met\x01rics HTTP/1.1\r\n\r\n")), 400);
    EXPECT_EQ(status_of(http_exchange(port_, "get /metrics HTTP/1.1\r\n\r\n")), 400);
    // Oversized: a request line without an end, and headers without an end.
    EXPECT_EQ(status_of(http_exchange(port_, "GET /" + std::string(3000, 'a'))), 431);
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics HTTP/1.1\r\nX: " + std::string(3000, 'b') + "\r\n")), 431);
    // None of it reached the page, and the endpoint still serves.
    EXPECT_EQ(pages_.load(), 0);
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n")), 200);
    EXPECT_EQ(responses(400), 7u);
    EXPECT_EQ(responses(404), 2u);
    EXPECT_EQ(responses(405), 1u);
    EXPECT_EQ(responses(431), 2u);
}

TEST_F(metrics_http, a_slow_client_times_out_without_holding_up_others) {
    const int slow = connect_to(port_);
    ASSERT_GE(slow, 0);
    send_all(slow, "GET /met");
    // Others are served while it dawdles.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n")), 200);
    // It gets 408 once its time (500 ms here) is up, and the connection ends.
    const std::string r = read_all(slow);
    ::close(slow);
    EXPECT_EQ(status_of(r), 408) << r;
    EXPECT_EQ(responses(408), 1u);
    // A client that connects and closes at once leaves nothing behind.
    for (int i = 0; i < 5; ++i) ::close(connect_to(port_));
    EXPECT_EQ(status_of(http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n")), 200);
}

TEST_F(metrics_http, clients_beyond_the_limit_get_503_at_once) {
    std::vector<int> idle;
    for (int i = 0; i < 4; ++i) {
        idle.push_back(connect_to(port_));
        send_all(idle.back(), "G");  // accepted and waiting for the rest
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the endpoint accept them
    const std::string busy = http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n");
    EXPECT_EQ(status_of(busy), 503) << busy;
    for (int fd : idle) ::close(fd);
    // Once they are gone (closed by the peer, seen on the next poll), it serves again.
    int status = 0;
    for (int tries = 0; tries < 50 && status != 200; ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        status = status_of(http_exchange(port_, "GET /metrics HTTP/1.1\r\n\r\n"));
    }
    EXPECT_EQ(status, 200);
}

TEST(metrics_http_start, a_taken_port_is_a_clear_error) {
    http_endpoint a({"127.0.0.1", 0}, [] { return std::string(); });
    ASSERT_TRUE(a.start());
    http_endpoint b({"127.0.0.1", a.port()}, [] { return std::string(); });
    auto r = b.start();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("cannot listen on 127.0.0.1:" + std::to_string(a.port())), std::string::npos)
        << r.error_message();
    http_endpoint c({"not-an-ip", 0}, [] { return std::string(); });
    EXPECT_FALSE(c.start());
}

}  // namespace
}  // namespace bmm::stratum::metrics
