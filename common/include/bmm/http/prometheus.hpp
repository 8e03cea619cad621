#pragma once
// The Prometheus text exposition format (0.0.4): one writer for every
// program's /metrics page (bmm-stratum's and bmm-accountd's).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::prometheus {

// A histogram's values at one moment: counts per bucket (not cumulative;
// counts[i] holds observations <= bounds[i] and > bounds[i-1], the last entry
// those above every bound), their sum and their number.
struct histogram_data {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;  // bounds.size() + 1
    double sum = 0;
    std::uint64_t count = 0;
    // Adds another histogram with the same bounds.
    void merge(const histogram_data& o);
};

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

// The process_* families every Prometheus client library exports, read from
// /proc/self (Linux): process_cpu_seconds_total, process_open_fds,
// process_max_fds (the soft RLIMIT_NOFILE: open files cap connections),
// process_resident_memory_bytes, process_virtual_memory_bytes and
// process_start_time_seconds. A value /proc does not give is left out.
void write_process_metrics(text_writer& w);

}  // namespace bmm::prometheus
