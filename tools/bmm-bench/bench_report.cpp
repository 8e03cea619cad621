#include "bench_report.hpp"

#include "bmm/json/writer.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bmm::bench {
namespace {

constexpr std::size_t k_exact = 100;     // microseconds counted exactly
constexpr double k_growth = 1.01;        // bucket width above that
constexpr std::size_t k_buckets = 2200;  // 100 us * 1.01^2100 is far past any run

using json::escape;

std::string counts_json(const std::map<std::string, std::uint64_t>& m) {
    std::string o = "{";
    for (const auto& [k, v] : m) {
        if (o.size() > 1) o += ',';
        o += '"';
        o += escape(k);
        o += "\":";
        o += std::to_string(v);
    }
    o += '}';
    return o;
}

std::string fixed(double v, int decimals) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

bool read_counts(simdjson::dom::element e, std::map<std::string, std::uint64_t>& out) {
    simdjson::dom::object o;
    if (e.get(o)) return false;
    for (auto [k, v] : o) {
        std::uint64_t n = 0;
        if (v.get(n)) return false;
        out[std::string(k)] += n;
    }
    return true;
}

double quantile_of_sorted(const std::vector<double>& v, double q) {
    if (v.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

// ---------------------------------------------------------------------------
// latency_histogram
// ---------------------------------------------------------------------------

std::size_t latency_histogram::bucket_of(std::uint64_t us) {
    if (us < k_exact) return static_cast<std::size_t>(us);
    const double b = std::log(static_cast<double>(us) / static_cast<double>(k_exact)) / std::log(k_growth);
    return std::min(k_buckets - 1, k_exact + static_cast<std::size_t>(b));
}

double latency_histogram::upper_edge(std::size_t bucket) {
    if (bucket < k_exact) return static_cast<double>(bucket);
    return static_cast<double>(k_exact) * std::pow(k_growth, static_cast<double>(bucket - k_exact + 1));
}

void latency_histogram::add(std::uint64_t us) {
    const std::size_t b = bucket_of(us);
    if (buckets_.size() <= b) buckets_.resize(b + 1);
    ++buckets_[b];
    ++count_;
    max_ = std::max(max_, us);
}

void latency_histogram::merge(const latency_histogram& o) {
    if (buckets_.size() < o.buckets_.size()) buckets_.resize(o.buckets_.size());
    for (std::size_t i = 0; i < o.buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
}

double latency_histogram::quantile_us(double q) const {
    if (!count_) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        seen += buckets_[i];
        if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(upper_edge(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
}

std::string latency_histogram::to_json() const {
    std::string o = "{\"max\":" + std::to_string(max_) + ",\"buckets\":[";
    bool first = true;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        if (!buckets_[i]) continue;
        if (!first) o += ',';
        first = false;
        o += '[';
        o += std::to_string(i);
        o += ',';
        o += std::to_string(buckets_[i]);
        o += ']';
    }
    o += "]}";
    return o;
}

bool latency_histogram::from_json(std::string_view json) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(json.data(), json.size()).get(doc)) return false;
    std::uint64_t mx = 0;
    simdjson::dom::array bs;
    if (doc["max"].get(mx) || doc["buckets"].get(bs)) return false;
    for (auto b : bs) {
        std::uint64_t i = 0, n = 0;
        if (b.at(0).get(i) || b.at(1).get(n) || i >= k_buckets) return false;
        if (buckets_.size() <= i) buckets_.resize(i + 1);
        buckets_[i] += n;
        count_ += n;
    }
    max_ = std::max(max_, mx);
    return true;
}

// ---------------------------------------------------------------------------
// run_stats
// ---------------------------------------------------------------------------

void run_stats::merge(const run_stats& o) {
    attempted += o.attempted;
    held += o.held;
    peak_held += o.peak_held;  // workers peak at about the same time (all ramped)
    failed += o.failed;
    for (const auto& [k, v] : o.failures) failures[k] += v;
    sent += o.sent;
    accepted += o.accepted;
    rejected += o.rejected;
    for (const auto& [k, v] : o.reasons) reasons[k] += v;
    latency.merge(o.latency);
    if (o.first_submit_unix_us && (!first_submit_unix_us || o.first_submit_unix_us < first_submit_unix_us))
        first_submit_unix_us = o.first_submit_unix_us;
    last_answer_unix_us = std::max(last_answer_unix_us, o.last_answer_unix_us);
    notifies += o.notifies;
    clean_notifies += o.clean_notifies;
    for (const auto& [k, v] : o.clean_arrivals) {
        auto& d = clean_arrivals[k];
        d.insert(d.end(), v.begin(), v.end());
    }
    seconds = std::max(seconds, o.seconds);
}

std::string run_stats::to_json() const {
    std::string o = "{\"attempted\":" + std::to_string(attempted) + ",\"held\":" + std::to_string(held) +
                    ",\"peak_held\":" + std::to_string(peak_held) + ",\"failed\":" + std::to_string(failed) +
                    ",\"failures\":" + counts_json(failures) + ",\"sent\":" + std::to_string(sent) +
                    ",\"accepted\":" + std::to_string(accepted) + ",\"rejected\":" + std::to_string(rejected) +
                    ",\"reasons\":" + counts_json(reasons) + ",\"latency\":" + latency.to_json() +
                    ",\"first_submit_unix_us\":" + std::to_string(first_submit_unix_us) +
                    ",\"last_answer_unix_us\":" + std::to_string(last_answer_unix_us) +
                    ",\"notifies\":" + std::to_string(notifies) +
                    ",\"clean_notifies\":" + std::to_string(clean_notifies) + ",\"seconds\":" + fixed(seconds, 3) +
                    ",\"clean_arrivals\":{";
    bool first = true;
    for (const auto& [k, v] : clean_arrivals) {
        if (!first) o += ',';
        first = false;
        o += '"';
        o += escape(k);
        o += "\":[";
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) o += ',';
            o += fixed(v[i], 3);
        }
        o += ']';
    }
    o += "}}";
    return o;
}

bool run_stats::from_json(std::string_view json) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(json.data(), json.size()).get(doc)) return false;
    auto u = [&](const char* key, std::uint64_t& out) { return doc[key].get(out) == simdjson::SUCCESS; };
    auto i = [&](const char* key, std::int64_t& out) { return doc[key].get(out) == simdjson::SUCCESS; };
    if (!u("attempted", attempted) || !u("held", held) || !u("peak_held", peak_held) || !u("failed", failed) ||
        !u("sent", sent) || !u("accepted", accepted) || !u("rejected", rejected) || !u("notifies", notifies) ||
        !u("clean_notifies", clean_notifies) || !i("first_submit_unix_us", first_submit_unix_us) ||
        !i("last_answer_unix_us", last_answer_unix_us) || doc["seconds"].get(seconds))
        return false;
    if (!read_counts(doc["failures"], failures) || !read_counts(doc["reasons"], reasons)) return false;
    simdjson::dom::element lat;
    if (doc["latency"].get(lat) || !latency.from_json(simdjson::minify(lat))) return false;
    simdjson::dom::object ca;
    if (doc["clean_arrivals"].get(ca)) return false;
    for (auto [k, v] : ca) {
        simdjson::dom::array a;
        if (v.get(a)) return false;
        auto& d = clean_arrivals[std::string(k)];
        for (auto t : a) {
            double x = 0;
            if (t.get(x)) return false;
            d.push_back(x);
        }
    }
    return true;
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

std::string report_json(const report_context& ctx, const run_stats& s) {
    const double ms = 1e-3;
    const double window = s.first_submit_unix_us && s.last_answer_unix_us > s.first_submit_unix_us
                              ? static_cast<double>(s.last_answer_unix_us - s.first_submit_unix_us) / 1e6
                              : 0;
    const std::uint64_t answered = s.accepted + s.rejected;
    std::string o = "{\"url\":\"" + escape(ctx.url) + "\",\"mode\":\"" + ctx.mode +
                    "\",\"processes\":" + std::to_string(ctx.processes) +
                    ",\"connections_wanted\":" + std::to_string(ctx.connections) +
                    ",\"rate_per_connection\":" + fixed(ctx.rate, 3) + ",\"seconds\":" + fixed(s.seconds, 3);
    o += ",\"connections\":{\"attempted\":" + std::to_string(s.attempted) + ",\"held\":" + std::to_string(s.held) +
         ",\"peak_held\":" + std::to_string(s.peak_held) + ",\"failed\":" + std::to_string(s.failed) +
         ",\"failures\":" + counts_json(s.failures) + "}";
    o += ",\"shares\":{\"sent\":" + std::to_string(s.sent) + ",\"answered\":" + std::to_string(answered) +
         ",\"accepted\":" + std::to_string(s.accepted) + ",\"rejected\":" + std::to_string(s.rejected) +
         ",\"unanswered\":" + std::to_string(s.sent > answered ? s.sent - answered : 0) +
         ",\"reasons\":" + counts_json(s.reasons) + ",\"submit_window_seconds\":" + fixed(window, 3) +
         ",\"answers_per_second\":" + fixed(window > 0 ? static_cast<double>(answered) / window : 0, 1) + "}";
    o += ",\"latency_ms\":{\"count\":" + std::to_string(s.latency.count()) +
         ",\"p50\":" + fixed(s.latency.quantile_us(0.50) * ms, 3) +
         ",\"p90\":" + fixed(s.latency.quantile_us(0.90) * ms, 3) +
         ",\"p99\":" + fixed(s.latency.quantile_us(0.99) * ms, 3) +
         ",\"max\":" + fixed(static_cast<double>(s.latency.max_us()) * ms, 3) + "}";
    o += ",\"jobs\":{\"notifies\":" + std::to_string(s.notifies) + ",\"clean\":" + std::to_string(s.clean_notifies) +
         "}";
    o += ",\"clean_jobs\":[";
    bool first = true;
    for (const auto& [prev, times] : s.clean_arrivals) {
        auto t = times;
        std::sort(t.begin(), t.end());
        if (!first) o += ',';
        first = false;
        o += "{\"prevhash\":\"" + escape(prev) + "\",\"connections\":" + std::to_string(t.size()) +
             ",\"first_unix_ms\":" + fixed(t.front(), 3) + ",\"p50_unix_ms\":" + fixed(quantile_of_sorted(t, 0.5), 3) +
             ",\"p99_unix_ms\":" + fixed(quantile_of_sorted(t, 0.99), 3) + ",\"last_unix_ms\":" + fixed(t.back(), 3) +
             ",\"spread_ms\":" + fixed(t.back() - t.front(), 3) + "}";
    }
    o += "]}";
    return o;
}

std::string report_summary(const report_context& ctx, const run_stats& s) {
    const std::uint64_t answered = s.accepted + s.rejected;
    const double window = s.first_submit_unix_us && s.last_answer_unix_us > s.first_submit_unix_us
                              ? static_cast<double>(s.last_answer_unix_us - s.first_submit_unix_us) / 1e6
                              : 0;
    std::string o = "bmm-bench " + ctx.mode + ": held " + std::to_string(s.held) + "/" +
                    std::to_string(ctx.connections) + " (peak " + std::to_string(s.peak_held) + ", failed " +
                    std::to_string(s.failed) + "), sent " + std::to_string(s.sent) + ", accepted " +
                    std::to_string(s.accepted) + ", rejected " + std::to_string(s.rejected) + ", " +
                    fixed(window > 0 ? static_cast<double>(answered) / window : 0, 0) + " answers/s, latency p50 " +
                    fixed(s.latency.quantile_us(0.5) / 1e3, 2) + " p90 " + fixed(s.latency.quantile_us(0.9) / 1e3, 2) +
                    " p99 " + fixed(s.latency.quantile_us(0.99) / 1e3, 2) + " max " +
                    fixed(static_cast<double>(s.latency.max_us()) / 1e3, 2) + " ms, " + fixed(s.seconds, 1) + " s";
    for (const auto& [prev, times] : s.clean_arrivals) {
        const auto [lo, hi] = std::minmax_element(times.begin(), times.end());
        o += "; clean job " + prev.substr(0, 16) + "… reached " + std::to_string(times.size()) + " in " +
             fixed(*hi - *lo, 1) + " ms";
    }
    return o;
}

}  // namespace bmm::bench
