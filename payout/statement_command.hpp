#pragma once
// `bmm-payout statement ACCOUNT --from T --to T [--currency C] --format csv|json|pdf [-o FILE]`:
// an account's statement (bmm/accounting/statement.hpp), the same bytes the
// read API serves at /api/v1/accounts/{name}/statement.

#include "bmm/accounting/config.hpp"

#include <optional>
#include <string>

namespace bmm::payout {

struct statement_command {
    std::string account;   // alice, foundation:ecosystem
    std::string from, to;  // ISO 8601 UTC or unix seconds
    std::optional<std::string> currency;
    std::string format;  // csv | json | pdf
    std::string out;     // file; empty: standard output
};
// Prints one line "bmm-payout: ..." to stderr and returns 1 on bad input
// (from >= to, unknown account or currency, a time it cannot read) or a
// failure; 0 when the statement is written.
int run_statement(const accounting::accountd_config& cfg, const statement_command& c);

}  // namespace bmm::payout
