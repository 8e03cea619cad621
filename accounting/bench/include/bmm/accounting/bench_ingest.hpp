#pragma once
#include "bmm/accounting/config.hpp"

#include <cstddef>
#include <string>

namespace bmm::accounting {
struct bench_ingest_options {
    std::size_t records = 200000;
    // Distinct account.worker names (8 workers per account). 0: the classic
    // shape, 200 accounts x 8 workers, every share at the same instant; N:
    // N workers each submitting a share every 10 s, so that the rollups see
    // the rows a pool of N connected miners makes (docs/sizing.md).
    std::size_t workers = 0;
    // When set, the figures are also written there as one JSON object.
    std::string json_file;
};
// Measures the ingest rate for the records and prints it with its baselines
// and what each share costs Redis and PostgreSQL (see bench_ingest.cpp);
// returns the exit code.
int bench_ingest(const accountd_config& cfg, const bench_ingest_options& o);
}  // namespace bmm::accounting
