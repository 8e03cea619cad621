// bmm-stratum's metrics (see metrics.hpp). This file is organised as
//   1. counters, histograms and work windows
//   2. what a loop counts
//   3. (the text exposition format: bmm/http/prometheus.hpp)
//   4. the /metrics page
//   5. the HTTP endpoint (the common server, bmm/http/server.hpp)

#include "bmm/stratum/metrics.hpp"
#include "metrics_detail.hpp"

#include "bmm/http/server.hpp"
#include "bmm/log.hpp"
#include "bmm/stratum/job_manager.hpp"
#include "bmm/stratum/share_sink.hpp"
#include "bmm/target.hpp"


#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>

namespace bmm::stratum::metrics {

// ---------------------------------------------------------------------------
// 1. Counters, histograms and work windows
// ---------------------------------------------------------------------------

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(std::make_unique<counter[]>(bounds_.size() + 1)) {}

void histogram::observe(double value, std::uint64_t n) noexcept {
    const auto at = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    counts_[at].add(n);
    sum_.add(value * static_cast<double>(n));
}

histogram_data histogram::snapshot() const {
    histogram_data d;
    d.bounds = bounds_;
    d.counts.resize(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        d.counts[i] = counts_[i].get();
        d.count += d.counts[i];  // from the buckets, so that le="+Inf" always equals _count
    }
    d.sum = sum_.get();
    return d;
}

std::vector<double> verify_seconds_bounds() {
    return {1e-6,   2.5e-6, 5e-6, 1e-5,  2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
            2.5e-3, 5e-3,   0.01, 0.025, 0.05,   0.1,  0.25, 0.5,    1};
}

std::vector<double> batch_shares_bounds() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

namespace {
std::size_t slot(std::int64_t bucket) {
    const std::int64_t k = work_window::k_buckets;
    return static_cast<std::size_t>(((bucket % k) + k) % k);
}
}  // namespace

void work_window::advance(std::int64_t bucket) noexcept {
    if (head_ < 0) {
        head_ = bucket;
        return;
    }
    if (bucket <= head_) return;
    if (bucket - head_ >= k_buckets) {
        b_.fill(0);
    } else {
        for (std::int64_t i = head_ + 1; i <= bucket; ++i) b_[slot(i)] = 0;
    }
    head_ = bucket;
}

void work_window::add(double work, std::int64_t bucket) noexcept {
    advance(bucket);
    // A bucket older than the head (never, with a steady clock) still counts
    // while it is inside the window.
    if (bucket > head_ - k_buckets) b_[slot(bucket)] += work;
}

double work_window::sum(std::int64_t bucket) const noexcept {
    if (head_ < 0 || bucket - head_ >= k_buckets) return 0;
    double total = 0;
    for (std::int64_t i = head_; i > head_ - k_buckets; --i)
        if (i > bucket - k_buckets && i <= bucket) total += b_[slot(i)];
    return total;
}

double hashrate(double work, double now, std::int64_t bucket, double bucket_seconds, double uptime) noexcept {
    const double covered =
        (work_window::k_buckets - 1) * bucket_seconds + (now - static_cast<double>(bucket) * bucket_seconds);
    const double span = std::min(covered, uptime);
    return span > 0 ? work / span : 0;
}

double work_as_double(const uint256& target) noexcept {
    // 2^256 / (T + 1) as a real number: work_from_target's integer floors it,
    // which at the tiny difficulties of test miners (65.5 hashes a share at
    // scrypt difficulty 0.001) would understate a hashrate by a percent.
    double t = 0;
    for (int i = 3; i >= 0; --i) t = t * 18446744073709551616.0 + static_cast<double>(target.limb(i));
    return std::ldexp(1.0, 256) / (t + 1.0);
}

double steady_seconds() noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------
// 2. What a loop counts
// ---------------------------------------------------------------------------

std::string_view to_string(share_result r) noexcept {
    switch (r) {
        case share_result::accepted:
            return "accepted";
        case share_result::stale:
            return "stale";
        case share_result::job_not_found:
            return "job_not_found";
        case share_result::duplicate:
            return "duplicate";
        case share_result::low_difficulty:
            return "low_difficulty";
        case share_result::unauthorized:
            return "unauthorized";
        case share_result::not_subscribed:
            return "not_subscribed";
        case share_result::invalid:
            return "invalid";
        case share_result::not_recorded:
            return "not_recorded";
        case share_result::too_many_pending:
            return "too_many_pending";
        case share_result::too_fast:
            return "too_fast";
    }
    return "invalid";
}

share_result classify(int code, bool early) noexcept {
    switch (code) {
        case 0:
            return share_result::accepted;
        case 21:
            return early ? share_result::job_not_found : share_result::stale;
        case 22:
            return share_result::duplicate;
        case 23:
            return share_result::low_difficulty;
        case 24:
            return share_result::unauthorized;
        case 25:
            return share_result::not_subscribed;
        default:
            return share_result::invalid;
    }
}

loop_metrics::loop_metrics(std::size_t ports, double window_seconds)
    : n_ports_(ports),
      ports_(std::make_unique<port_counters[]>(ports)),
      bucket_seconds_(window_seconds / work_window::k_buckets),
      started_(steady_seconds()),
      port_windows_(ports) {}

double loop_metrics::work_of(const uint256& target) noexcept {
    if (!cache_valid_ || target != cached_target_) {
        cached_target_ = target;
        cached_work_ = work_as_double(target);
        cache_valid_ = true;
    }
    return cached_work_;
}

std::int64_t loop_metrics::bucket_at(double now) const noexcept {
    return static_cast<std::int64_t>(std::floor(now / bucket_seconds_));
}

void loop_metrics::add_work(std::span<const work_item> items, double now) {
    if (items.empty()) return;
    const std::int64_t bucket = bucket_at(now);
    std::string key;
    std::lock_guard lock(mu_);
    for (const auto& it : items) {
        key.assign(it.account);
        key += '.';
        key += it.worker;
        workers_[key].add(it.work, bucket);
        if (it.port < port_windows_.size()) port_windows_[it.port].add(it.work, bucket);
    }
    // Workers gone quiet for a whole window leave the map (once a bucket).
    if (bucket != last_prune_) {
        last_prune_ = bucket;
        std::erase_if(workers_, [bucket](const auto& kv) { return kv.second.empty_at(bucket); });
    }
}

void loop_metrics::add_hashrates(double now, std::unordered_map<std::string, double>& workers,
                                 std::vector<double>& ports) const {
    const std::int64_t bucket = bucket_at(now);
    const double uptime = now - started_;
    if (ports.size() < n_ports_) ports.resize(n_ports_);
    std::lock_guard lock(mu_);
    for (const auto& [key, w] : workers_) {
        const double work = w.sum(bucket);
        if (work > 0) workers[key] += hashrate(work, now, bucket, bucket_seconds_, uptime);
    }
    for (std::size_t i = 0; i < port_windows_.size(); ++i)
        ports[i] += hashrate(port_windows_[i].sum(bucket), now, bucket, bucket_seconds_, uptime);
}

void top_workers(const std::unordered_map<std::string, double>& rates, std::size_t limit, server_snapshot& out) {
    std::vector<std::pair<std::string_view, double>> all;
    all.reserve(rates.size());
    for (const auto& [k, v] : rates)
        if (v > 0) all.emplace_back(k, v);
    out.workers_active = all.size();
    const std::size_t n = std::min(limit, all.size());
    std::partial_sort(
        all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
        [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    out.workers.clear();
    for (std::size_t i = 0; i < n; ++i) {
        const auto dot = all[i].first.find('.');
        out.workers.push_back(
            {std::string(all[i].first.substr(0, dot)),
             dot == std::string_view::npos ? std::string() : std::string(all[i].first.substr(dot + 1)), all[i].second});
    }
}

// ---------------------------------------------------------------------------
// 3. The text exposition format
// ---------------------------------------------------------------------------

// Moved to bmm/http/prometheus.hpp (shared with bmm-accountd's /metrics).

// ---------------------------------------------------------------------------
// 4. The /metrics page
// ---------------------------------------------------------------------------

std::string render(const server_snapshot& s, const sink_stats& sink, const job_manager_stats& jobs,
                   const process_info& info, const http_stats& http, double now_unix, double spool_free_bytes) {
    text_writer w(labels{{"instance_id", std::to_string(info.instance_id)}});
    const std::uint64_t one = 1;

    w.family("bmm_stratum_info", "gauge",
             "bmm-stratum's version, git commit, coin, algorithm and hash kernels (always 1).");
    w.sample("bmm_stratum_info",
             {{"version", info.version},
              {"commit", info.commit},
              {"coin", info.coin},
              {"algorithm", info.algorithm},
              {"sha256_kernel", info.sha256_kernel},
              {"scrypt_kernel", info.scrypt_kernel},
              {"verifier", info.verifier_kernels}},
             one);
    w.family("bmm_stratum_start_time_seconds", "gauge", "When the process started, in seconds since the Unix epoch.");
    w.sample("bmm_stratum_start_time_seconds", {}, info.start_time_unix);
    w.family("bmm_stratum_loops", "gauge", "Event loop threads serving miners.");
    w.sample("bmm_stratum_loops", {}, static_cast<std::uint64_t>(s.loops));

    // Ports: the port number as the label, host:port where two share a number.
    std::vector<labels> port_labels;
    for (const auto& p : s.ports) {
        const bool shared =
            std::count_if(s.ports.begin(), s.ports.end(), [&](const auto& q) { return q.port == p.port; }) > 1;
        std::string v = std::to_string(p.port);
        if (shared) v = p.host + ":" + v;
        port_labels.push_back({{"port", v}});
    }
    w.family("bmm_stratum_connections", "gauge", "Open miner connections.");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        w.sample("bmm_stratum_connections", port_labels[i], s.ports[i].connections_current);
    w.family("bmm_stratum_connections_total", "counter", "Miner connections accepted since start.");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        w.sample("bmm_stratum_connections_total", port_labels[i], s.ports[i].connections_total);
    w.family("bmm_stratum_shares_total", "counter",
             "Shares by the verdict the miner was told: accepted, stale and job_not_found (21), duplicate (22), "
             "low_difficulty (23), unauthorized (24), not_subscribed (25), invalid (20), not_recorded (20: the "
             "journal could not be written), too_many_pending (20: [limits] max_pending_requests, not judged), "
             "too_fast (20: [limits] "
             "max_shares_per_second, not judged).");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        for (std::size_t r = 0; r < k_share_results; ++r) {
            labels l = port_labels[i];
            l.emplace_back("result", std::string(to_string(static_cast<share_result>(r))));
            w.sample("bmm_stratum_shares_total", l, s.ports[i].shares[r]);
        }
    w.family("bmm_stratum_connections_refused_total", "counter",
             "Connections closed at accept: [limits] max_connections or max_connections_per_ip, or a banned address.");
    w.sample("bmm_stratum_connections_refused_total", {}, s.connections_refused);
    w.family("bmm_stratum_connections_closed_by_limits_total", "counter",
             "Connections closed by a [limits] rule: timeouts, unread output, long lines, bans.");
    w.sample("bmm_stratum_connections_closed_by_limits_total", {}, s.closed_by_limits);
    w.family("bmm_stratum_bans_total", "counter", "Addresses banned for reaching [limits] ban_threshold.");
    w.sample("bmm_stratum_bans_total", {}, s.bans);
    w.family("bmm_stratum_tls_failures_total", "counter", "TLS handshakes or sessions that failed.");
    w.sample("bmm_stratum_tls_failures_total", {}, s.tls_failures);
    w.family("bmm_stratum_accepted_difficulty_total", "counter", "Sum of the Stratum difficulty of accepted shares.");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        w.sample("bmm_stratum_accepted_difficulty_total", port_labels[i], s.ports[i].difficulty_accepted);
    w.family("bmm_stratum_accepted_work_hashes_total", "counter",
             "Expected hashes behind accepted shares (2^256 / (target + 1) each).");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        w.sample("bmm_stratum_accepted_work_hashes_total", port_labels[i], s.ports[i].work_accepted);
    w.family("bmm_stratum_hashrate_window_seconds", "gauge", "The window the hashrate estimates average over.");
    w.sample("bmm_stratum_hashrate_window_seconds", {}, s.window_seconds);
    w.family("bmm_stratum_port_hashrate_hashes_per_second", "gauge",
             "Estimated hashes per second on a port: accepted work over the window.");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        w.sample("bmm_stratum_port_hashrate_hashes_per_second", port_labels[i], s.ports[i].hashrate);
    w.family("bmm_stratum_worker_hashrate_hashes_per_second", "gauge",
             "Estimated hashes per second of a worker (account.worker, all its connections): accepted work over the "
             "window. Only the busiest workers, up to bmm_stratum_worker_series_limit.");
    for (const auto& wk : s.workers)
        w.sample("bmm_stratum_worker_hashrate_hashes_per_second", {{"account", wk.account}, {"worker", wk.worker}},
                 wk.hashrate);
    w.family("bmm_stratum_workers_active", "gauge", "Workers with accepted shares in the window.");
    w.sample("bmm_stratum_workers_active", {}, static_cast<std::uint64_t>(s.workers_active));
    w.family("bmm_stratum_worker_series_limit", "gauge",
             "At most this many bmm_stratum_worker_hashrate_hashes_per_second series.");
    w.sample("bmm_stratum_worker_series_limit", {}, static_cast<std::uint64_t>(s.worker_series_limit));

    w.family("bmm_stratum_verify_batch_seconds", "histogram", "Time to hash one batch of shares (one loop turn).");
    w.histogram("bmm_stratum_verify_batch_seconds", {}, s.verify_batch_seconds);
    w.family("bmm_stratum_verify_share_seconds", "histogram",
             "Time to hash one share: each batch's time divided by its shares.");
    w.histogram("bmm_stratum_verify_share_seconds", {}, s.verify_share_seconds);
    w.family("bmm_stratum_verify_batch_shares", "histogram", "Shares hashed together in one batch.");
    w.histogram("bmm_stratum_verify_batch_shares", {}, s.batch_shares);
    w.family("bmm_stratum_job_broadcast_seconds", "histogram",
             "Time for one loop to write a new job to all of its miners (one observation per job and loop).");
    w.histogram("bmm_stratum_job_broadcast_seconds", {}, s.job_broadcast_seconds);

    const labels node{{"node", info.node}};
    w.family("bmm_stratum_blocks_found_total", "counter",
             "Shares that met the network target (blocks queued for submitblock).");
    w.sample("bmm_stratum_blocks_found_total", {}, s.blocks_found);
    w.family("bmm_stratum_blocks_submitted_total", "counter", "submitblock calls answered or failed.");
    w.sample("bmm_stratum_blocks_submitted_total", node, jobs.blocks_submitted);
    w.family("bmm_stratum_blocks_accepted_total", "counter", "Blocks the node accepted (submitblock answered null).");
    w.sample("bmm_stratum_blocks_accepted_total", node, jobs.blocks_accepted);
    w.family("bmm_stratum_blocks_rejected_total", "counter", "Blocks the node refused, or submitblock failed.");
    w.sample("bmm_stratum_blocks_rejected_total", node, jobs.blocks_rejected);

    w.family("bmm_stratum_template_height", "gauge", "Height of the block the current job builds.");
    w.sample("bmm_stratum_template_height", node, static_cast<double>(jobs.height));
    w.family("bmm_stratum_template_age_seconds", "gauge",
             "Seconds since the current template was published to miners.");
    w.sample("bmm_stratum_template_age_seconds", node,
             jobs.template_unix_ms ? std::max(0.0, now_unix - static_cast<double>(jobs.template_unix_ms) / 1000) : 0.0);
    w.family("bmm_stratum_template_published_timestamp_seconds", "gauge",
             "When the current template was published (Unix seconds, millisecond precision).");
    w.sample("bmm_stratum_template_published_timestamp_seconds", node,
             static_cast<double>(jobs.template_unix_ms) / 1000);
    w.family("bmm_stratum_longpoll_answer_timestamp_seconds", "gauge",
             "When getblocktemplate's long poll last answered (Unix seconds, millisecond precision; 0: never).");
    w.sample("bmm_stratum_longpoll_answer_timestamp_seconds", node,
             static_cast<double>(jobs.longpoll_answer_unix_ms) / 1000);
    w.family("bmm_stratum_templates_total", "counter",
             "Templates published: source poll (start-up, long poll, plain polling) or refresh.");
    w.sample("bmm_stratum_templates_total", {{"node", info.node}, {"source", "poll"}}, jobs.templates_poll);
    w.sample("bmm_stratum_templates_total", {{"node", info.node}, {"source", "refresh"}}, jobs.templates_refresh);
    w.family("bmm_stratum_template_errors_total", "counter", "getblocktemplate calls that failed.");
    w.sample("bmm_stratum_template_errors_total", node, jobs.template_errors);

    w.family("bmm_stratum_stream_backlog_records", "gauge", "Journaled records not yet in the Redis stream.");
    w.sample("bmm_stratum_stream_backlog_records", {}, sink.backlog_records);
    w.family("bmm_stratum_stream_backlog_bytes", "gauge", "Journal bytes not yet in the Redis stream.");
    w.sample("bmm_stratum_stream_backlog_bytes", {}, sink.backlog_bytes);
    w.family("bmm_stratum_stream_appended_total", "counter", "Records appended to the journal since start.");
    w.sample("bmm_stratum_stream_appended_total", {}, sink.appended);
    w.family("bmm_stratum_stream_published_total", "counter", "Records Redis acknowledged since start.");
    w.sample("bmm_stratum_stream_published_total", {}, sink.published);
    w.family("bmm_stratum_redis_up", "gauge", "1 while the publisher holds a working Redis connection.");
    w.sample("bmm_stratum_redis_up", {}, static_cast<std::uint64_t>(sink.redis_up ? 1 : 0));
    w.family("bmm_stratum_redis_wait_shortfalls_total", "counter",
             "Batches fewer than [redis] wait_replicas replicas acknowledged within wait_timeout_ms (kept in the "
             "journal and sent again).");
    w.sample("bmm_stratum_redis_wait_shortfalls_total", {}, sink.wait_shortfalls);
    w.family("bmm_stratum_redis_connects_total", "counter",
             "Connections the publisher made to Redis (each failover or outage adds one).");
    w.sample("bmm_stratum_redis_connects_total", {}, sink.redis_connects);
    w.family("bmm_stratum_spool_bytes", "gauge", "Size of journal.log in the spool directory.");
    w.sample("bmm_stratum_spool_bytes", {{"dir", info.spool_dir}}, sink.journal_bytes);
    if (spool_free_bytes >= 0) {
        w.family("bmm_stratum_spool_free_bytes", "gauge", "Free bytes on the spool directory's file system.");
        w.sample("bmm_stratum_spool_free_bytes", {{"dir", info.spool_dir}}, spool_free_bytes);
    }

    prometheus::write_process_metrics(w);

    w.family("bmm_stratum_metrics_responses_total", "counter", "Responses of this endpoint by HTTP status.");
    for (std::size_t i = 0; i < http_stats::k_http_codes.size(); ++i)
        w.sample("bmm_stratum_metrics_responses_total", {{"code", std::to_string(http_stats::k_http_codes[i])}},
                 http.responses[i]);
    return w.text();
}

// ---------------------------------------------------------------------------
// 5. The HTTP endpoint
// ---------------------------------------------------------------------------

// The page is one route on the common HTTP server (bmm/http/server.hpp),
// which keeps the limits: http_options map onto server_options one to one.
http_endpoint::http_endpoint(http_options o, std::function<std::string()> body)
    : opt_(std::move(o)), body_(std::move(body)) {}

http_endpoint::~http_endpoint() { stop(); }

result<bool> http_endpoint::start() {
    http::server_options so;
    so.host = opt_.host;
    so.port = opt_.port;
    so.setting = "[metrics]";
    so.threads = 1;
    so.max_clients = opt_.max_clients;
    // Scrapers are few and come from a few addresses (one Prometheus): the total cap is the limit.
    so.max_clients_per_address = opt_.max_clients;
    so.max_header_bytes = opt_.max_request_bytes;
    so.request_timeout = opt_.request_timeout;
    http::router r;
    r.add("GET", "/metrics", [this](const http::request&) {
        http::response res;
        res.content_type = "text/plain; version=0.0.4; charset=utf-8";
        try {
            res.body = body_();
        } catch (const std::exception& e) {
            log::error("metrics", "cannot render the metrics page: {}", e.what());
            res.status = 500;
            res.content_type = "text/plain; charset=utf-8";
            res.body = "the metrics could not be collected; see the bmm-stratum log\n";
        }
        return res;
    });
    r.on_not_found([](const http::request&) {
        return http::response{404, "text/plain; charset=utf-8", "not found; the metrics are at /metrics\n", {}};
    });
    r.on_method_not_allowed([](const http::request&) {
        return http::response{405, "text/plain; charset=utf-8", "only GET and HEAD are served\n", {}};
    });
    server_ = std::make_unique<http::server>(std::move(so), std::move(r));
    auto started = server_->start();
    if (!started) {
        server_.reset();
        return error{"metrics endpoint " + started.error_message()};
    }
    return true;
}

void http_endpoint::stop() {
    if (server_) {
        server_->stop();
    }
}

std::uint16_t http_endpoint::port() const noexcept { return server_ ? server_->port() : 0; }

http_stats http_endpoint::stats() const noexcept {
    http_stats s;
    if (!server_) {
        return s;
    }
    for (std::size_t i = 0; i < s.responses.size(); ++i) {
        s.responses[i] = server_->responses(http_stats::k_http_codes[i]);
    }
    return s;
}

}  // namespace bmm::stratum::metrics
