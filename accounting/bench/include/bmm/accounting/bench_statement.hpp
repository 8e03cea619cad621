#pragma once
#include "bmm/accounting/config.hpp"

#include <cstddef>
#include <string>

namespace bmm::accounting {
struct bench_statement_options {
    std::size_t hours = 8760;  // hourly epochs booked for the account (a year)
    int runs = 3;              // timed runs of each step; the fastest is reported
    bool keep = false;         // keep the bench schema afterwards
    std::string out_dir;       // write the statement's CSV, JSON and PDF here (none: not written)
};
// Times a statement of one account over o.hours hourly epochs, in a schema of
// its own (see bench_statement.cpp), and prints the figures; returns the exit code.
int bench_statement(const accountd_config& cfg, const bench_statement_options& o);
}  // namespace bmm::accounting
