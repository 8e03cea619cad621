#pragma once
// bmm-bench's counters and their report: what one worker process measured,
// how the parent merges the workers' figures (they travel through pipes as
// JSON), and the final JSON and one-line summary.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::bench {

// Submit-to-answer latencies in microseconds. Exact below 100 us, then
// buckets 1 % wide, so that workers' histograms add up and percentiles stay
// within 1 % of the true value (the maximum is kept exactly).
class latency_histogram {
public:
    void add(std::uint64_t us);
    void merge(const latency_histogram& o);
    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t max_us() const noexcept { return max_; }
    // The q-quantile (0 < q <= 1) as the upper edge of its bucket, never above
    // the maximum; 0 without samples.
    double quantile_us(double q) const;

    std::string to_json() const;  // {"max":..,"buckets":[[index,count],...]}
    bool from_json(std::string_view json);

private:
    static std::size_t bucket_of(std::uint64_t us);
    static double upper_edge(std::size_t bucket);
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0, max_ = 0;
};

// One run's figures (one worker, or all of them merged).
struct run_stats {
    // connections
    std::uint64_t attempted = 0;                    // connection attempts started
    std::uint64_t held = 0;                         // authorised and open when the run ended
    std::uint64_t peak_held = 0;                    // the most held at once
    std::uint64_t failed = 0;                       // attempts that never got authorised, or dropped later
    std::map<std::string, std::uint64_t> failures;  // reason -> count
    // shares
    std::uint64_t sent = 0, accepted = 0, rejected = 0;
    std::map<std::string, std::uint64_t> reasons;  // "23 low difficulty share" -> count
    latency_histogram latency;
    std::int64_t first_submit_unix_us = 0;  // 0 = none sent
    std::int64_t last_answer_unix_us = 0;
    // jobs
    std::uint64_t notifies = 0, clean_notifies = 0;
    // --clean-jobs-report: for every new prevhash, the unix time (ms, with
    // fractions) at which each connection received it as a clean job.
    std::map<std::string, std::vector<double>> clean_arrivals;
    double seconds = 0;

    void merge(const run_stats& o);
    std::string to_json() const;  // the transport form between processes
    bool from_json(std::string_view json);
};

struct report_context {
    std::string url, mode;
    unsigned processes = 1;
    std::uint64_t connections = 0;
    double rate = 0;
};

// The final report: JSON (one object) and a one-line summary.
std::string report_json(const report_context& ctx, const run_stats& s);
std::string report_summary(const report_context& ctx, const run_stats& s);

}  // namespace bmm::bench
