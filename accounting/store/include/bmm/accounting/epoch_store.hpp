#pragma once
// The epochs table and account_epochs (sql/0006_epochs.sql): an epoch's row,
// its close booked with its transfers in one transaction, and what later
// closes read back (streaks, PP, the emission carried). Every function takes
// an open connection (bmm/pg); those that write run their own transaction
// and leave the database as it was on an error.

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bmm::accounting::epoch_store {

using ledger_store::book_report;

// Creates epoch k's row unless it exists. Timestamps in any form PostgreSQL
// reads as timestamptz ("2026-11-24 00:00:00+00"). Errors when a row for k
// exists with other bounds.
result<bool> ensure_epoch(pg::connection& db, std::uint64_t k, std::string_view start_at, std::string_view end_at);

// Epoch k's close in one transaction: its transfers, its account_epochs rows,
// epochs.closed_at / emission / emission_paid / emission_carried, and the
// dividend weights out.bmm_holdings (epoch_bmm_holdings and epoch_bmm_totals,
// sql/0018; written only by the close itself, never by a replay). The row
// is locked first (SELECT ... FOR UPDATE), so two closers serialize. Closing
// a closed epoch again books nothing (same ids) and errors only when the
// stored figures differ. Errors when the epoch has no row (ensure_epoch).
result<book_report> book_epoch_close(pg::connection& db, const epoch_close_output& out);
// The same, timing its parts (seconds) for benchmarks: the transfers (COPY,
// checks, INSERT), the account_epochs rows, and the COMMIT.
struct book_timings {
    double transfers_s = 0, accounts_s = 0, commit_s = 0;
};
result<book_report> book_epoch_close(pg::connection& db, const epoch_close_output& out, book_timings* timings);

// Whether epoch k is closed, and what it carried into k + 1 (0 when open or absent).
struct epoch_state {
    bool exists = false;
    bool closed = false;
    amount emission_carried;
};
result<epoch_state> load_epoch(pg::connection& db, std::uint64_t k);

// What the closed epochs span, for the ingest, inside its open transaction:
// takes the epoch close lock shared (pg::k_epoch_close_lock, held to the
// transaction's end, so no close commits before the ingest does), then reads
// the span (epochs close in order from 0). Errors: PostgreSQL's message.
struct closed_span {
    std::uint64_t first_open = 0;  // the first epoch not closed
    std::int64_t start_ms = 0;     // epoch 0's start (0 when none is closed)
    std::int64_t end_ms = 0;       // the last closed epoch's end (0 when none is closed)
};
result<closed_span> lock_closed_span(pg::connection& db);

// The first epoch not closed (epochs close in order from 0).
result<std::uint64_t> first_open_epoch(pg::connection& db);
// The positive streaks after epoch k (account_epochs), by account.
result<std::map<std::string, std::uint32_t>> streaks(pg::connection& db, std::uint64_t k);
// The positive PP of epoch k (account_epochs), by account.
result<std::map<std::string, amount>> pp_of(pg::connection& db, std::uint64_t k);

}  // namespace bmm::accounting::epoch_store
