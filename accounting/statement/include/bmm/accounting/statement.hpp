#pragma once
// Account statements from the ledger: what a holder was credited and debited
// over a period, per currency and per balance (available, immature), with an
// opening row, one row per transfer and a closing row. bmm-accountd's read API
// serves them and `bmm-payout statement` prints them; both call build() and a
// renderer, so the bytes are the same from either.
//
// The contract:
//   - The period is [from, to) on the transfers' booking time (created_at),
//     in microseconds since 1970 UTC.
//   - opening = the balance from every transfer before `from`, closing = the
//     balance from every transfer before `to`, each read by its own query;
//     the rows are the transfers in [from, to) in booking order (created_at,
//     then id bytewise), each with its signed amount and the running balance.
//     A statement whose opening + rows differs from its closing is refused.
//   - Amounts are exact integers of base units (10^-8 for coins, 10^-18 for
//     BMM), written as decimal text; nothing is ever floating point.
//   - A dividend row (block_dividend) carries the holder's BMM at the close of
//     the epoch the block was booked in and the total of all holders
//     (sql/0018), so the holder can recompute it: amount = floor(D x w / W),
//     or one unit more (largest remainder), D the block's dividend. Epochs
//     closed before weights were recorded say so instead.
//   - render_csv and render_json give the same bytes for the same statement
//     (no generation time in them); render_pdf too, with libharu.

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::accounting::statement {

// A time as "2026-12-01T00:00:00Z" (with ".ffffff" before the Z when it has
// microseconds) or as unix seconds ("1796083200"), to microseconds since
// 1970. Errors name the text and the two forms.
result<std::int64_t> parse_time(std::string_view text);
// The ISO 8601 form parse_time reads back.
std::string time_text(std::int64_t us);

// An amount of base units as a decimal of the currency ("-0.00012345" for
// -12345 with 8 decimals), exact.
std::string decimal_text(const amount& base_units, int decimals);
// Decimal places of a currency's base unit: BMM 18, coins 8.
int decimals_of(std::string_view currency) noexcept;

struct request {
    std::string account;                  // "alice" or "foundation:ecosystem" (holder_ledger_accounts)
    std::optional<std::string> currency;  // one currency, or every one the account has held
    std::int64_t from_us = 0, to_us = 0;  // [from, to)
    std::string pool = "BMM pool";        // the PDF's header
};

// What a request is refused for, before anything is built.
enum class refusal {
    none,
    bad_input,        // from >= to, a currency that is not a currency code, a bad account name
    unknown_account,  // no such user account or foundation allocation
    unknown_currency  // a currency the ledger has never moved
};
struct check_result {
    refusal why = refusal::none;
    std::string message;  // one line: what is wrong and what to do
    holder_accounts accounts;
};
// Checks a request against the database (the account exists, the currency
// is known). Errors only when the database fails.
result<check_result> check_request(pg::connection& db, const request& r);

struct dividend_weight {
    std::uint64_t epoch = 0;  // the epoch whose close split the block's dividend
    bool recorded = false;    // false: the epoch closed before weights were kept (sql/0018)
    amount weight;            // the holder's available BMM then (base units)
    amount total_weight;      // all holders' BMM then
    amount block_dividend;    // D: the block's whole dividend, in the row's currency
};

struct row {
    std::string time;  // booking time, "2026-12-01T00:00:00.123456Z"
    std::string transfer_id;
    std::string kind;       // transfer_kind's name
    std::string reference;  // as stored: "block:<hash>", "epoch:<k>", "payout:<batch>", "genesis"
    // What the reference points at, where there is something to say:
    std::optional<std::string> block_hash;
    std::optional<std::int64_t> block_height;
    std::optional<std::uint64_t> epoch;  // epoch:<k>, or the epoch that booked the block
    std::optional<std::string> payout_batch, payout_line, payout_address, payout_txid;
    amount amount_signed;  // + credited to this balance, - debited from it
    amount balance;        // after this row
    std::optional<dividend_weight> dividend;
};

struct section {
    std::string currency;
    int decimals = 8;
    std::string balance;                       // "available" or "immature"
    std::string ledger_account;                // user:alice:available, foundation:ecosystem:immature, ...
    amount opening, credits, debits, closing;  // debits <= 0: opening + credits + debits = closing
    std::vector<row> rows;
};

struct statement {
    std::string pool;
    std::string account;
    std::optional<std::string> currency;  // as requested (none: all)
    std::int64_t from_us = 0, to_us = 0;
    // Per currency (bytewise order), available then immature.
    std::vector<section> sections;
};

// The statement of a request: check_request's refusals and database failures
// as errors; refused when a section's opening + rows differs from its closing.
// Reads in one read-only snapshot (its own transaction when `db` is in none).
result<statement> build(pg::connection& db, const request& r);

// Each section's opening + rows = closing and the running balances and totals
// agree with the rows; the error names the first section that does not.
result<bool> verify(const statement& s);

std::string render_csv(const statement& s);
std::string render_json(const statement& s);
// A PDF (libharu): header (pool, account, currency, period), the table,
// totals (opening, credits, debits, closing) per section, "page N of M".
result<std::string> render_pdf(const statement& s);

// The formats, by name: "csv", "json", "pdf".
enum class format { csv, json, pdf };
std::optional<format> parse_format(std::string_view name) noexcept;
std::string_view content_type(format f) noexcept;
// The statement in the format (render_csv, render_json or render_pdf).
result<std::string> render(const statement& s, format f);

}  // namespace bmm::accounting::statement
