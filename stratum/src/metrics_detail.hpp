#pragma once
// The pieces of metrics.cpp that only it and its unit test use: the
// names of the Prometheus text writer it uses, and the hashrate arithmetic.
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

// The writer lives in bmm/http/prometheus.hpp (bmm-accountd's /metrics uses it too).
using prometheus::escape_help;
using prometheus::escape_label_value;
using prometheus::format_value;
using prometheus::labels;
using prometheus::text_writer;

}  // namespace bmm::stratum::metrics
