// bmm-stratum's metrics (see metrics.hpp). This file is organised as
//   1. counters, histograms and work windows
//   2. what a loop counts
//   3. the text exposition format
//   4. the /metrics page
//   5. the HTTP endpoint

#include "bmm/stratum/metrics.hpp"
#include "metrics_detail.hpp"

#include "bmm/log.hpp"
#include "bmm/stratum/job_manager.hpp"
#include "bmm/stratum/share_sink.hpp"
#include "bmm/target.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

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

void histogram_data::merge(const histogram_data& o) {
    if (bounds.empty() && counts.empty()) {
        *this = o;
        return;
    }
    for (std::size_t i = 0; i < counts.size() && i < o.counts.size(); ++i) counts[i] += o.counts[i];
    sum += o.sum;
    count += o.count;
}

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
        case share_result::accepted: return "accepted";
        case share_result::stale: return "stale";
        case share_result::job_not_found: return "job_not_found";
        case share_result::duplicate: return "duplicate";
        case share_result::low_difficulty: return "low_difficulty";
        case share_result::unauthorized: return "unauthorized";
        case share_result::not_subscribed: return "not_subscribed";
        case share_result::invalid: return "invalid";
        case share_result::not_recorded: return "not_recorded";
        case share_result::too_many_pending: return "too_many_pending";
    }
    return "invalid";
}

share_result classify(int code, bool early) noexcept {
    switch (code) {
        case 0: return share_result::accepted;
        case 21: return early ? share_result::job_not_found : share_result::stale;
        case 22: return share_result::duplicate;
        case 23: return share_result::low_difficulty;
        case 24: return share_result::unauthorized;
        case 25: return share_result::not_subscribed;
        default: return share_result::invalid;
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

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) return std::to_string(static_cast<std::int64_t>(v));
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);  // like %g: 0.0001, 1e-05
    return std::string(buf, r.ptr);
}

void text_writer::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void text_writer::series(std::string_view name, const labels& l, const std::pair<std::string, std::string>* extra) {
    out_ += name;
    bool first = true;
    auto put = [&](const std::string& k, const std::string& v) {
        out_ += first ? '{' : ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
    };
    for (const auto& [k, v] : constant_) put(k, v);
    for (const auto& [k, v] : l) put(k, v);
    if (extra) put(extra->first, extra->second);
    if (!first) out_ += '}';
    out_ += ' ';
}

void text_writer::sample(std::string_view name, const labels& l, double v) {
    series(name, l, nullptr);
    out_ += format_value(v);
    out_ += '\n';
}

void text_writer::sample(std::string_view name, const labels& l, std::uint64_t v) {
    series(name, l, nullptr);
    out_ += std::to_string(v);
    out_ += '\n';
}

void text_writer::histogram(std::string_view name, const labels& l, const histogram_data& h) {
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        const std::pair<std::string, std::string> le{"le", format_value(h.bounds[i])};
        series(bucket, l, &le);
        out_ += std::to_string(cumulative);
        out_ += '\n';
    }
    const std::pair<std::string, std::string> inf{"le", "+Inf"};
    series(bucket, l, &inf);
    out_ += std::to_string(h.count);
    out_ += '\n';
    sample(std::string(name) + "_sum", l, h.sum);
    sample(std::string(name) + "_count", l, h.count);
}

// ---------------------------------------------------------------------------
// 4. The /metrics page
// ---------------------------------------------------------------------------

std::string render(const server_snapshot& s, const sink_stats& sink, const job_manager_stats& jobs,
                   const process_info& info, const http_stats& http, double now_unix, double spool_free_bytes) {
    text_writer w(labels{{"instance_id", std::to_string(info.instance_id)}});
    const std::uint64_t one = 1;

    w.family("bmm_stratum_info", "gauge", "bmm-stratum's version, coin, algorithm and hash kernels (always 1).");
    w.sample("bmm_stratum_info",
             {{"version", info.version},
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
             "journal could not be written), too_many_pending (20: [limits] max_pending_requests, not judged).");
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
    w.family("bmm_stratum_port_hashrate", "gauge",
             "Estimated hashes per second on a port: accepted work over the window.");
    for (std::size_t i = 0; i < s.ports.size(); ++i)
        w.sample("bmm_stratum_port_hashrate", port_labels[i], s.ports[i].hashrate);
    w.family("bmm_stratum_worker_hashrate", "gauge",
             "Estimated hashes per second of a worker (account.worker, all its connections): accepted work over the "
             "window. Only the busiest workers, up to bmm_stratum_worker_series_limit.");
    for (const auto& wk : s.workers)
        w.sample("bmm_stratum_worker_hashrate", {{"account", wk.account}, {"worker", wk.worker}}, wk.hashrate);
    w.family("bmm_stratum_workers_active", "gauge", "Workers with accepted shares in the window.");
    w.sample("bmm_stratum_workers_active", {}, static_cast<std::uint64_t>(s.workers_active));
    w.family("bmm_stratum_worker_series_limit", "gauge", "At most this many bmm_stratum_worker_hashrate series.");
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
    w.family("bmm_stratum_template_published_unix_ms", "gauge", "When the current template was published (Unix ms).");
    w.sample("bmm_stratum_template_published_unix_ms", node, static_cast<double>(jobs.template_unix_ms));
    w.family("bmm_stratum_longpoll_answer_unix_ms", "gauge",
             "When getblocktemplate's long poll last answered (Unix ms; 0: never).");
    w.sample("bmm_stratum_longpoll_answer_unix_ms", node, static_cast<double>(jobs.longpoll_answer_unix_ms));
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
    w.family("bmm_stratum_spool_bytes", "gauge", "Size of journal.log in the spool directory.");
    w.sample("bmm_stratum_spool_bytes", {{"dir", info.spool_dir}}, sink.journal_bytes);
    if (spool_free_bytes >= 0) {
        w.family("bmm_stratum_spool_free_bytes", "gauge", "Free bytes on the spool directory's file system.");
        w.sample("bmm_stratum_spool_free_bytes", {{"dir", info.spool_dir}}, spool_free_bytes);
    }

    w.family("bmm_stratum_metrics_responses_total", "counter", "Responses of this endpoint by HTTP status.");
    for (std::size_t i = 0; i < http_stats::k_http_codes.size(); ++i)
        w.sample("bmm_stratum_metrics_responses_total", {{"code", std::to_string(http_stats::k_http_codes[i])}},
                 http.responses[i]);
    return w.text();
}

// ---------------------------------------------------------------------------
// 5. The HTTP endpoint
// ---------------------------------------------------------------------------

struct http_endpoint::client {
    int fd = -1;
    std::string in, out;
    std::size_t sent = 0;
    bool responding = false;  // out holds the whole response
    bool draining = false;    // response sent: reading until the peer closes, then close
    bool close_now = false;
    std::chrono::steady_clock::time_point deadline;
    ~client() {
        if (fd >= 0) ::close(fd);
    }
};

namespace {

const char* status_text(int code) {
    switch (code) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

// The request line "METHOD /target HTTP/1.x": false when it is not one.
bool parse_request_line(std::string_view line, std::string_view& method, std::string_view& target) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return false;
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return false;
    method = line.substr(0, sp1);
    target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (method.empty() || method.size() > 16) return false;
    for (char c : method)
        if (c < 'A' || c > 'Z') return false;
    if (target.empty() || target.front() != '/' || target.size() > 2048) return false;
    for (char c : target)
        if (c < 0x21 || c > 0x7e) return false;
    return version == "HTTP/1.0" || version == "HTTP/1.1";
}

}  // namespace

http_endpoint::http_endpoint(http_options o, std::function<std::string()> body)
    : opt_(std::move(o)), body_(std::move(body)) {}

http_endpoint::~http_endpoint() {
    stop();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

result<bool> http_endpoint::start() {
    const std::string where = (opt_.host.find(':') != std::string::npos ? "[" + opt_.host + "]" : opt_.host) + ":" +
                              std::to_string(opt_.port);
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = AF_INET;
    if (::inet_pton(AF_INET, opt_.host.c_str(), &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr) == 1) {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(opt_.port);
        len = sizeof(sockaddr_in);
    } else if (::inet_pton(AF_INET6, opt_.host.c_str(), &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr) == 1) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(opt_.port);
        len = sizeof(sockaddr_in6);
        family = AF_INET6;
    } else {
        return error{"[metrics] host " + opt_.host + " is not an IP address"};
    }
    listen_fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return error{std::string("metrics endpoint: socket: ") + std::strerror(errno)};
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listen_fd_, 64) != 0)
        return error{"metrics endpoint cannot listen on " + where + ": " + std::strerror(errno) +
                     " (is another program on that port? change [metrics] port)"};
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
    bound_port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return error{std::string("metrics endpoint: eventfd: ") + std::strerror(errno)};
    thread_ = std::thread([this] { run(); });
    return true;
}

void http_endpoint::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
}

http_stats http_endpoint::stats() const noexcept {
    http_stats s;
    for (std::size_t i = 0; i < s.responses.size(); ++i) s.responses[i] = responses_[i].load(std::memory_order_relaxed);
    return s;
}

void http_endpoint::respond(client& c, int code, std::string_view content_type, std::string body, bool head,
                            std::string_view extra_headers) {
    for (std::size_t i = 0; i < http_stats::k_http_codes.size(); ++i)
        if (http_stats::k_http_codes[i] == code) responses_[i].fetch_add(1, std::memory_order_relaxed);
    std::string r = "HTTP/1.1 ";
    r += std::to_string(code);
    r += ' ';
    r += status_text(code);
    r += "\r\nContent-Type: ";
    r += content_type;
    r += "\r\nContent-Length: ";
    r += std::to_string(body.size());
    r += "\r\nConnection: close\r\n";
    r += extra_headers;
    r += "\r\n";
    if (!head) r += body;
    c.out = std::move(r);
    c.sent = 0;
    c.responding = true;
}

// Sends what the socket takes; true when the response is out.
bool http_endpoint::flush(client& c) {
    while (c.sent < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
            c.sent = c.out.size();  // the peer is gone: nothing more to do
            return true;
        }
        c.sent += static_cast<std::size_t>(n);
    }
    return true;
}

// Reads what arrived; answers as soon as the request is judged.
void http_endpoint::on_input(client& c) {
    char buf[4096];
    bool eof = false;
    // At most 16 reads a wake-up: a client that streams bytes cannot keep
    // the thread from the others (what it sends past the request is dropped).
    for (int reads = 0; reads < 16; ++reads) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n == 0) {
            eof = true;
            break;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) c.close_now = true;
            break;
        }
        if (c.responding) continue;  // whatever follows the request is read and dropped
        c.in.append(buf, static_cast<std::size_t>(n));
        if (c.in.size() > opt_.max_request_bytes) break;
    }
    if (!c.responding && !c.close_now) judge(c);
    // A peer that closed before its request was whole gets nothing; one that
    // only closed its sending side still gets the response.
    if (eof && (!c.responding || c.draining)) c.close_now = true;
}

void http_endpoint::judge(client& c) {
    constexpr std::string_view text = "text/plain; charset=utf-8";
    const auto nl = c.in.find('\n');
    // Bytes no request line can hold (a TLS hello, binary noise) are refused
    // at once rather than after the time limit.
    const std::string_view first = std::string_view(c.in).substr(0, std::min(nl, c.in.size()));
    const bool printable =
        std::all_of(first.begin(), first.end(), [](char ch) { return (ch >= 0x20 && ch <= 0x7e) || ch == '\r'; });
    if (!printable || (!first.empty() && (first[0] < 'A' || first[0] > 'Z'))) {
        respond(c, 400, text, "not an HTTP request; try: GET /metrics HTTP/1.1\n", false);
        return;
    }
    if (nl == std::string::npos) {
        if (c.in.size() > opt_.max_request_bytes)
            respond(c, 431, text, "request line longer than " + std::to_string(opt_.max_request_bytes) + " bytes\n",
                    false);
        return;
    }
    std::string_view method, target;
    if (!parse_request_line(std::string_view(c.in).substr(0, nl), method, target)) {
        respond(c, 400, text, "not an HTTP request; try: GET /metrics HTTP/1.1\n", false);
        return;
    }
    const bool head = method == "HEAD";
    if (method != "GET" && !head) {
        respond(c, 405, text, "only GET and HEAD are served\n", false, "Allow: GET, HEAD\r\n");
        return;
    }
    const bool complete = c.in.find("\r\n\r\n") != std::string::npos || c.in.find("\n\n") != std::string::npos;
    if (!complete) {
        if (c.in.size() > opt_.max_request_bytes)
            respond(c, 431, text, "request headers longer than " + std::to_string(opt_.max_request_bytes) + " bytes\n",
                    head);
        return;
    }
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
        respond(c, 404, text, "not found; the metrics are at /metrics\n", head);
        return;
    }
    try {
        respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body_(), head);
    } catch (const std::exception& e) {
        log::error("metrics", "cannot render the metrics page: {}", e.what());
        respond(c, 500, text, "the metrics could not be collected; see the bmm-stratum log\n", head);
    }
}

// Accepts what waits; false after an error other than "nothing waits" (out
// of file descriptors, say), when the caller pauses before trying again.
bool http_endpoint::accept_all(std::vector<std::unique_ptr<client>>& clients) {
    while (true) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            log::warn("metrics", "cannot accept a metrics connection: {}; pausing for 100 ms", std::strerror(errno));
            return false;
        }
        auto c = std::make_unique<client>();
        c->fd = fd;
        c->deadline = std::chrono::steady_clock::now() + opt_.request_timeout;
        if (clients.size() >= opt_.max_clients) {
            // Full: first let go of clients that have hung up unseen (a burst
            // of connect-and-close must not shut out a real scraper).
            std::erase_if(clients, [](const auto& k) {
                char b;
                return !k->responding && ::recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
            });
        }
        if (clients.size() >= opt_.max_clients) {
            // Busy: say so at once (one try, the socket buffer takes it) and close.
            respond(*c, 503, "text/plain; charset=utf-8", "too many metrics clients at once; try again\n", false);
            flush(*c);
            continue;
        }
        clients.push_back(std::move(c));
    }
}

void http_endpoint::run() {
    std::vector<std::unique_ptr<client>> clients;
    std::vector<pollfd> fds;
    std::chrono::steady_clock::time_point accept_paused_until{};
    while (!stopping_) {
        const auto now = std::chrono::steady_clock::now();
        // Deadlines: a request not in by then gets 408; a response not out, or
        // a peer that does not close after it, is cut off.
        for (auto& c : clients) {
            if (now < c->deadline) continue;
            if (!c->responding) {
                respond(*c, 408, "text/plain; charset=utf-8", "request not complete in time\n", false);
                flush(*c);
            }
            ::close(c->fd);
            c->fd = -1;
        }
        fds.clear();
        fds.push_back({wake_fd_, POLLIN, 0});
        fds.push_back({now < accept_paused_until ? -1 : listen_fd_, POLLIN, 0});
        auto next = std::min(now + std::chrono::seconds(1), std::max(now, accept_paused_until));
        if (now >= accept_paused_until) next = now + std::chrono::seconds(1);
        for (auto& c : clients) {
            const short ev = c->responding && !c->draining ? POLLOUT : POLLIN;
            fds.push_back({c->fd, ev, 0});
            next = std::min(next, c->deadline);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
        const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(wait, 0, 1000)));
        if (n < 0 && errno != EINTR) {
            log::error("metrics", "poll failed: {}; the metrics endpoint stops", std::strerror(errno));
            break;
        }
        if (n <= 0) continue;
        if (fds[0].revents) break;  // stop()
        for (std::size_t i = 0; i < clients.size(); ++i) {
            client& c = *clients[i];
            const short re = fds[i + 2].revents;
            if (!re) continue;
            if (re & POLLIN || (re & (POLLHUP | POLLERR) && (!c.responding || c.draining))) on_input(c);
            if (c.responding && !c.draining && (re & (POLLOUT | POLLHUP | POLLERR) || c.sent == 0)) {
                if (flush(c)) {
                    // Out: stop sending, read until the peer closes (so that
                    // unread request bytes do not turn the close into a reset
                    // that could destroy the response), bounded by the deadline.
                    ::shutdown(c.fd, SHUT_WR);
                    c.draining = true;
                    c.deadline = std::min(c.deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
                }
            }
            if (c.close_now) {
                ::close(c.fd);
                c.fd = -1;
            }
        }
        std::erase_if(clients, [](const auto& c) { return c->fd < 0; });
        if (fds[1].revents & POLLIN && !accept_all(clients))
            accept_paused_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    }
    clients.clear();
}

}  // namespace bmm::stratum::metrics
