// bmm-bench's figures: the latency histogram's percentiles (within its 1 %
// buckets, never above the exact maximum), merging workers' figures, and the
// JSON that carries them between processes.

#include "../../tools/bmm-bench/bench_report.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <random>

namespace bmm::bench {
namespace {

// The exact q-quantile (nearest rank) of samples.
double exact_quantile(std::vector<std::uint64_t> v, double q) {
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::max<std::size_t>(rank, 1) - 1]);
}

TEST(latency_histogram, quantiles_are_within_one_bucket_of_the_exact_ones) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> d(7.0, 1.5);  // ~1 ms median, long tail
    std::vector<std::uint64_t> samples;
    latency_histogram h;
    for (int i = 0; i < 100000; ++i) {
        const auto us = static_cast<std::uint64_t>(d(rng));
        samples.push_back(us);
        h.add(us);
    }
    EXPECT_EQ(h.count(), samples.size());
    EXPECT_EQ(h.max_us(), *std::max_element(samples.begin(), samples.end()));
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        const double exact = exact_quantile(samples, q);
        const double got = h.quantile_us(q);
        EXPECT_GE(got, exact) << q;  // the bucket's upper edge
        EXPECT_LE(got, exact * 1.0101 + 1) << q;
    }
    EXPECT_LE(h.quantile_us(0.5), h.quantile_us(0.9));
    EXPECT_LE(h.quantile_us(0.9), h.quantile_us(0.99));
    EXPECT_LE(h.quantile_us(0.99), static_cast<double>(h.max_us()));
}

TEST(latency_histogram, small_values_are_exact_and_empty_is_zero) {
    latency_histogram h;
    EXPECT_EQ(h.quantile_us(0.99), 0);
    for (std::uint64_t us : {3u, 5u, 7u, 9u}) h.add(us);
    EXPECT_EQ(h.quantile_us(0.5), 5);
    EXPECT_EQ(h.quantile_us(1.0), 9);
}

TEST(run_stats, merged_json_round_trip_equals_the_sum_of_the_workers) {
    run_stats a, b;
    a.attempted = 10;
    a.held = 9;
    a.peak_held = 10;
    a.failed = 1;
    a.failures["connect: ECONNREFUSED"] = 1;
    a.sent = 100;
    a.accepted = 90;
    a.rejected = 8;
    a.reasons["21 stale share"] = 8;
    a.first_submit_unix_us = 2000;
    a.last_answer_unix_us = 5000;
    a.clean_arrivals["00ab"] = {1.5, 2.25};
    for (std::uint64_t us = 100; us < 1100; ++us) a.latency.add(us);
    b.attempted = 5;
    b.held = 5;
    b.peak_held = 5;
    b.sent = 50;
    b.accepted = 40;
    b.rejected = 10;
    b.reasons["21 stale share"] = 4;
    b.reasons["23 low difficulty share"] = 6;
    b.first_submit_unix_us = 1000;
    b.last_answer_unix_us = 4000;
    b.clean_arrivals["00ab"] = {3.125};
    b.latency.add(250000);

    run_stats via_json;
    ASSERT_TRUE(via_json.from_json(a.to_json()));
    run_stats b2;
    ASSERT_TRUE(b2.from_json(b.to_json()));
    via_json.merge(b2);
    run_stats direct = a;
    direct.merge(b);

    for (const run_stats* s : {&via_json, &direct}) {
        EXPECT_EQ(s->attempted, 15u);
        EXPECT_EQ(s->held, 14u);
        EXPECT_EQ(s->failed, 1u);
        EXPECT_EQ(s->sent, 150u);
        EXPECT_EQ(s->accepted, 130u);
        EXPECT_EQ(s->rejected, 18u);
        EXPECT_EQ(s->reasons.at("21 stale share"), 12u);
        EXPECT_EQ(s->reasons.at("23 low difficulty share"), 6u);
        EXPECT_EQ(s->failures.at("connect: ECONNREFUSED"), 1u);
        EXPECT_EQ(s->first_submit_unix_us, 1000);
        EXPECT_EQ(s->last_answer_unix_us, 5000);
        EXPECT_EQ(s->latency.count(), 1001u);
        EXPECT_EQ(s->latency.max_us(), 250000u);
        ASSERT_EQ(s->clean_arrivals.at("00ab").size(), 3u);
    }
    EXPECT_EQ(via_json.latency.quantile_us(0.5), direct.latency.quantile_us(0.5));

    // The report: answers per second over the submit window, and the clean
    // job's spread.
    simdjson::dom::parser p;
    simdjson::dom::element r;
    ASSERT_EQ(p.parse(report_json({"stratum+tcp://127.0.0.1:1", "valid", 2, 15, 1}, direct)).get(r), simdjson::SUCCESS);
    double aps = 0, spread = 0;
    ASSERT_EQ(r["shares"]["answers_per_second"].get(aps), simdjson::SUCCESS);
    EXPECT_DOUBLE_EQ(aps, 148.0 / 0.004);
    ASSERT_EQ(r["clean_jobs"].at(0)["spread_ms"].get(spread), simdjson::SUCCESS);
    EXPECT_DOUBLE_EQ(spread, 3.125 - 1.5);
    EXPECT_FALSE(run_stats{}.from_json("{\"held\":1}"));
}

}  // namespace
}  // namespace bmm::bench
