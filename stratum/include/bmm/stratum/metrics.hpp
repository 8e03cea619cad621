#pragma once
// bmm-stratum's metrics: what the loops count, the Prometheus text format,
// and a small HTTP endpoint that serves it (issue 5).
//
// Hot path. Each loop owns a loop_metrics. Its counters and histograms have
// one writer (the loop thread) and are read by the scrape with relaxed atomic
// loads: no lock and no read-modify-write on the share path. Hashrate needs
// accepted work per worker over a sliding window; that map is loop-local too,
// behind a mutex the loop takes at most once per share batch and the scrape
// takes once per loop while it copies the rates out.
//
// The endpoint (http_endpoint) is one route on the common HTTP server
// (bmm/http/server.hpp, libmicrohttpd) with one thread: it answers GET /metrics (and HEAD), 404 for other paths, and a
// clear error for anything else. Requests are bounded in size and time and the number of clients is capped, so a slow
// or hostile client cannot affect mining or block a scraper for long. Each response closes the connection.

#include "bmm/http/prometheus.hpp"
#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bmm::http {
class server;
}  // namespace bmm::http

namespace bmm::stratum {
struct sink_stats;
struct job_manager_stats;
}  // namespace bmm::stratum

namespace bmm::stratum::metrics {

// ---------------------------------------------------------------------------
// Counters and histograms written by one thread, read by any
// ---------------------------------------------------------------------------

// A monotonically growing count with exactly one writer thread. add() is a
// relaxed load and store (no locked instruction); readers see a value that is
// at most a moment old.
class counter {
public:
    void add(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

// The same for a sum of doubles (difficulty, seconds, hashes).
class sum_counter {
public:
    void add(double x) noexcept { v_.store(v_.load(std::memory_order_relaxed) + x, std::memory_order_relaxed); }
    double get() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

using prometheus::histogram_data;

// A histogram with fixed upper bounds (ascending) and one writer thread.
class histogram {
public:
    explicit histogram(std::vector<double> bounds);
    // Records `n` observations of `value` (n > 1: n shares that took `value`
    // seconds each on average).
    void observe(double value, std::uint64_t n = 1) noexcept;
    histogram_data snapshot() const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<counter[]> counts_;
    sum_counter sum_;
    counter count_;
};

// Bucket bounds: seconds spent verifying (a batch, or a share), and shares per batch.
std::vector<double> verify_seconds_bounds();
std::vector<double> batch_shares_bounds();

// ---------------------------------------------------------------------------
// Sliding-window work, for hashrate
// ---------------------------------------------------------------------------

// Work (expected hashes) in the last k_buckets time buckets. The caller
// names the bucket (floor(now / bucket_seconds)); buckets only move forward.
class work_window {
public:
    static constexpr int k_buckets = 10;
    void add(double work, std::int64_t bucket) noexcept;
    // Work in buckets (bucket - k_buckets, bucket].
    double sum(std::int64_t bucket) const noexcept;
    bool empty_at(std::int64_t bucket) const noexcept { return sum(bucket) == 0; }

private:
    void advance(std::int64_t bucket) noexcept;
    std::array<double, k_buckets> b_{};
    std::int64_t head_ = -1;  // the newest bucket written; -1: none
};

// ---------------------------------------------------------------------------
// What a loop counts
// ---------------------------------------------------------------------------

// The verdict a miner was told, as the `result` label. Codes on the wire:
// accepted none; stale and job_not_found 21; duplicate 22; low_difficulty 23;
// unauthorized 24; not_subscribed 25; invalid 20 (malformed parameters, ntime
// or version bits out of range, a share that cannot be hashed);
// not_recorded 20 (the journal could not be written, so the share was refused);
// too_many_pending 20 ([limits] max_pending_requests: answered unjudged).
enum class share_result : std::uint8_t {
    accepted,
    stale,
    job_not_found,
    duplicate,
    low_difficulty,
    unauthorized,
    not_subscribed,
    invalid,
    not_recorded,
    too_many_pending,
    too_fast,
};
inline constexpr std::size_t k_share_results = 11;
std::string_view to_string(share_result r) noexcept;
// The result for a Stratum error code (0: accepted). `early`: judged before
// hashing (code 21 is then "job not found", otherwise a stale share).
share_result classify(int code, bool early) noexcept;

struct port_counters {
    counter connections_opened, connections_closed;
    std::array<counter, k_share_results> shares;
    sum_counter difficulty_accepted;  // sum of the difficulty of accepted shares
    sum_counter work_accepted;        // their expected hashes
};

// One accepted share's work, handed over once per batch.
struct work_item {
    std::string_view account, worker;
    std::size_t port = 0;  // index into the configuration's ports
    double work = 0;
};

class loop_metrics {
public:
    loop_metrics(std::size_t ports, double window_seconds);

    // Loop thread only.
    port_counters& port(std::size_t i) noexcept { return ports_[i]; }
    counter blocks_found;
    histogram verify_batch_seconds{verify_seconds_bounds()};
    histogram verify_share_seconds{verify_seconds_bounds()};
    histogram batch_shares{batch_shares_bounds()};
    // Time to write a new job to every miner of the loop (one per job).
    histogram job_broadcast_seconds{verify_seconds_bounds()};
    // Expected hashes for one share at `target` (2^256 / (target + 1) as a double,
    // work_as_double in metrics_detail.hpp), with a one-entry cache (a session's
    // target rarely changes).
    double work_of(const uint256& target) noexcept;
    // Adds a batch's accepted work to the per-worker and per-port windows;
    // one lock for the batch. Drops workers idle for a whole window now and then.
    void add_work(std::span<const work_item> items, double now);

    // Any thread.
    const port_counters& port(std::size_t i) const noexcept { return ports_[i]; }
    std::size_t ports() const noexcept { return n_ports_; }
    // Adds this loop's hashrates (hashes/s) to `workers` ("account.worker")
    // and `ports` (by index; resized to ports() if smaller).
    void add_hashrates(double now, std::unordered_map<std::string, double>& workers, std::vector<double>& ports) const;
    double window_seconds() const noexcept { return bucket_seconds_ * work_window::k_buckets; }

private:
    std::int64_t bucket_at(double now) const noexcept;

    std::size_t n_ports_;
    std::unique_ptr<port_counters[]> ports_;
    uint256 cached_target_;
    double cached_work_ = 0;
    bool cache_valid_ = false;

    double bucket_seconds_;
    double started_;  // steady-clock seconds at construction
    mutable std::mutex mu_;
    std::unordered_map<std::string, work_window> workers_;  // guarded by mu_
    std::vector<work_window> port_windows_;                 // guarded by mu_
    std::int64_t last_prune_ = 0;                           // guarded by mu_
};

// ---------------------------------------------------------------------------
// A scrape's inputs
// ---------------------------------------------------------------------------

struct port_snapshot {
    std::string host;
    std::uint16_t port = 0;
    std::uint64_t connections_current = 0, connections_total = 0;
    std::array<std::uint64_t, k_share_results> shares{};
    double difficulty_accepted = 0, work_accepted = 0;
    double hashrate = 0;  // hashes/s over the window
};

struct worker_snapshot {
    std::string account, worker;
    double hashrate = 0;
};

struct server_snapshot {
    unsigned loops = 0;
    std::vector<port_snapshot> ports;
    std::vector<worker_snapshot> workers;  // the busiest, up to the configured limit, busiest first
    std::size_t workers_active = 0;        // workers with work in the window (all of them)
    std::size_t worker_series_limit = 0;
    double window_seconds = 0;
    std::uint64_t blocks_found = 0;
    // [limits]: connections refused at accept, bans, connections closed by a
    // limit, TLS failures.
    std::uint64_t connections_refused = 0, bans = 0, closed_by_limits = 0, tls_failures = 0;
    histogram_data verify_batch_seconds, verify_share_seconds, batch_shares, job_broadcast_seconds;
};

// Folds per-worker hashrates into `out`: the `limit` highest (ties by name),
// busiest first, and the number of workers with a nonzero rate.
void top_workers(const std::unordered_map<std::string, double>& rates, std::size_t limit, server_snapshot& out);

struct http_stats {
    // Responses by status code, in the order of k_http_codes.
    static constexpr std::array<int, 8> k_http_codes = {200, 400, 404, 405, 408, 431, 500, 503};
    std::array<std::uint64_t, 8> responses{};
};

struct process_info {
    std::uint32_t instance_id = 0;
    std::string version, coin, algorithm, node;  // node: host:port of [node] url
    std::string sha256_kernel, scrypt_kernel, verifier_kernels;
    double start_time_unix = 0;
    std::string spool_dir;
};

// ---------------------------------------------------------------------------
// The text exposition format (Prometheus 0.0.4)
// ---------------------------------------------------------------------------

// The writer and its escaping are private (stratum/src/metrics_detail.hpp).

// The whole /metrics page. `spool_free_bytes` < 0: unknown.
std::string render(const server_snapshot& s, const sink_stats& sink, const job_manager_stats& jobs,
                   const process_info& info, const http_stats& http, double now_unix, double spool_free_bytes);

// ---------------------------------------------------------------------------
// The HTTP endpoint
// ---------------------------------------------------------------------------

struct http_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;                           // 0: any free port (tests); see port()
    std::size_t max_request_bytes = 8192;             // request line and headers
    std::chrono::milliseconds request_timeout{5000};  // from accept to the last byte sent
    unsigned max_clients = 16;                        // more are answered 503 at once
};

class http_endpoint {
public:
    // `body` makes the /metrics page; it runs on the endpoint's thread.
    http_endpoint(http_options o, std::function<std::string()> body);
    ~http_endpoint();
    http_endpoint(const http_endpoint&) = delete;
    http_endpoint& operator=(const http_endpoint&) = delete;

    // Binds and listens, then starts the thread. Errors name the address.
    result<bool> start();
    void stop();
    std::uint16_t port() const noexcept;
    http_stats stats() const noexcept;

private:
    http_options opt_;
    std::function<std::string()> body_;
    std::unique_ptr<http::server> server_;
};

}  // namespace bmm::stratum::metrics
