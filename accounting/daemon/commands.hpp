#pragma once
// bmm-accountd's subcommands, each returning the process's exit code (errors
// are printed to stderr as "bmm-accountd: ..."). main.cpp only parses the
// command line and calls one of these.

#include "bmm/accounting/bench_ingest.hpp"
#include "bmm/accounting/config.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace bmm::accounting {

// Prints "bmm-accountd: <msg>" to stderr; returns 1.
int fail(const std::string& msg);

// `migrate` (only_migrate) and `run`: apply pending migrations; then, for
// run, serve the API with [api], run the ledger thread (it does nothing
// without [epochs]) and ingest until *stop is set.
int migrate_and_run(const accountd_config& cfg, bool only_migrate, std::atomic<bool>& stop);
// `api`: the read API alone, once the schema is checked.
int serve_api(const accountd_config& cfg, std::atomic<bool>& stop);
// `bench-ingest`: migrations, then the ingest bench for n records.
int migrate_and_bench_ingest(const accountd_config& cfg, const bench_ingest_options& o);

// `account create|bind|unbind|list`.
struct account_command {
    enum class verb { create, bind, unbind, list } what = verb::list;
    std::string name, currency, address;
    std::optional<std::int64_t> share;  // bind: the new wallet's ppm
};
int run_account_command(const accountd_config& cfg, const account_command& c);

// `bmm deposit ACCOUNT AMOUNT --txid 0x.. --by NAME`: books BMM bought outside
// the pool (deposit_store.hpp), then publishes the mining gate.
struct deposit_command {
    std::string account, amount, txid, by;
};
int run_bmm_deposit(const accountd_config& cfg, const deposit_command& c);

// `voting-power [--epoch K] --format csv`: an epoch's voting-power snapshot
// (sql/0023; default the latest closed epoch) on stdout as CSV, one holder a
// line in bytewise name order, BMM as exact 18-decimal text and as base units.
struct voting_power_command {
    std::optional<std::uint64_t> epoch;
    std::string format = "csv";
};
int run_voting_power(const accountd_config& cfg, const voting_power_command& c);

// `block list`: the parked blocks (a close could not split them); `block
// resolve HASH --as orphan | --finder NAME`: the operator's verdict on one
// (block_store::resolve_parked_block).
struct block_command {
    bool list = false;
    std::string hash, as, finder;
};
int run_block_command(const accountd_config& cfg, const block_command& c);

}  // namespace bmm::accounting
