#pragma once
// The pieces of metrics.cpp that only it and its unit test use: the
// Prometheus text format's escaping and writer, and the hashrate arithmetic.
// Private to bmm_stratum (metrics.hpp holds what the server and main use);
// tests/stratum/metrics_test.cpp checks these directly.

#include "bmm/stratum/metrics.hpp"
#include "bmm/uint256.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::stratum::metrics {

// ---------------------------------------------------------------------------
// Hashrate
// ---------------------------------------------------------------------------

// Hashes per second from the work in a window: the window spans
// (k_buckets - 1) whole buckets plus the part of the current one, but no
// more than `uptime` (a fresh process has not been listening that long).
double hashrate(double work, double now, std::int64_t bucket, double bucket_seconds, double uptime) noexcept;

// Expected hashes for one share at `target`: 2^256 / (target + 1), the
// quantity bmm::work_from_target gives as a floored integer, here as a real
// number (about 2^32 × difficulty on sha256d, 2^16 × difficulty on scrypt).
// For rates and dashboards only, never for money.
double work_as_double(const uint256& target) noexcept;

// Steady-clock seconds, the time base of the windows.
double steady_seconds() noexcept;

// ---------------------------------------------------------------------------
// The text exposition format (Prometheus 0.0.4)
// ---------------------------------------------------------------------------

using labels = std::vector<std::pair<std::string, std::string>>;

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);
// Escapes HELP text: backslash and newline.
std::string escape_help(std::string_view v);
// A sample value: integers exactly, others in the shortest form that reads
// back the same; NaN, +Inf, -Inf as Prometheus spells them.
std::string format_value(double v);

// Writes families one after another: family() starts one (HELP and TYPE),
// then its samples follow. Every sample gets the writer's constant labels
// first. Label names are the caller's (fixed identifiers); values are escaped.
class text_writer {
public:
    explicit text_writer(labels constant = {}) : constant_(std::move(constant)) {}
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const labels& l, double v);
    void sample(std::string_view name, const labels& l, std::uint64_t v);
    // name_bucket (cumulative, le="+Inf" last), name_sum, name_count.
    void histogram(std::string_view name, const labels& l, const histogram_data& h);
    const std::string& text() const noexcept { return out_; }

private:
    void series(std::string_view name, const labels& l, const std::pair<std::string, std::string>* extra);
    labels constant_;
    std::string out_;
};

}  // namespace bmm::stratum::metrics
