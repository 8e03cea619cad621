#pragma once
// bmm-payout's subcommands, each returning the process's exit code (errors are
// printed to stderr as one line "bmm-payout: ..."). main.cpp only parses the
// command line and calls one of these. Every command that changes a batch
// holds the currency's payout lock (pg::payout_lock) for its whole run.

#include "bmm/accounting/config.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace bmm::payout {

// Prints "bmm-payout: <msg>" to stderr; returns 1.
int fail(const std::string& msg);

// `plan --coin CUR [--min AMOUNT]`.
struct plan_command {
    std::string coin;
    std::optional<std::string> min;  // base units, decimal
};
int run_plan(const accounting::accountd_config& cfg, const plan_command& c);

// `show BATCH [--json]`.
int run_show(const accounting::accountd_config& cfg, std::int64_t id, bool json);

// `approve BATCH --by NAME --digest HEX`.
int run_approve(const accounting::accountd_config& cfg, std::int64_t id, const std::string& by,
                const std::string& digest);

// `export BATCH --format csv|json [-o FILE]` (BMM batches).
struct export_command {
    std::int64_t id = 0;
    std::string format;  // csv | json
    std::string out;     // file; empty: stdout
};
int run_export(const accounting::accountd_config& cfg, const export_command& c);

// `settle BATCH --txid 0x... --by NAME` (BMM batches).
int run_settle(const accounting::accountd_config& cfg, std::int64_t id, const std::string& txid, const std::string& by);

}  // namespace bmm::payout
