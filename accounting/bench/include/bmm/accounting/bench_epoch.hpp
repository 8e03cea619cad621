#pragma once
#include "bmm/accounting/config.hpp"

#include <cstddef>
#include <string>

namespace bmm::accounting {
struct bench_epoch_options {
    std::size_t accounts = 100000;
    std::size_t shares_per_account = 5;
    std::size_t blocks = 4;
    bool keep = false;          // keep the bench schema afterwards
    std::string scheme = "pp";  // the payout scheme of both coins
};
// Times closing one epoch for o.accounts accounts in a database of its own
// and prints the split (see bench_epoch.cpp); returns the exit code.
int bench_epoch(const accountd_config& cfg, const bench_epoch_options& o);
}  // namespace bmm::accounting
