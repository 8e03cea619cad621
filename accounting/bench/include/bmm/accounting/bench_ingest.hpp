#pragma once
#include "bmm/accounting/config.hpp"

#include <cstddef>

namespace bmm::accounting {
// Measures the ingest rate for n share records and prints it with its
// baselines (see bench_ingest.cpp); returns the exit code.
int bench_ingest(const accountd_config& cfg, std::size_t n);
}  // namespace bmm::accounting
