#pragma once
// The ledger in PostgreSQL (sql/0005_ledger.sql .. 0008_ledger_audit.sql):
// booking transfer lists idempotently, recording epochs and blocks with the
// transfers that go with them in one transaction, reading balances back, and
// the SQL audit. Amounts travel as decimal text into `numeric` columns, so
// nothing is rounded on the way.
//
// Every function takes an open connection (bmm/pg) that is not inside a
// transaction (each runs its own BEGIN ... COMMIT and rolls back on any
// error, so a failed call leaves the database as it was). Not thread-safe
// per connection, like libpq itself.

#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::accounting::ledger_store {

struct book_report {
    std::size_t booked = 0;   // transfers inserted now
    std::size_t already = 0;  // transfers found booked before, identical
};

// Books `ts` in one transaction: INSERT ... ON CONFLICT (id) DO NOTHING, and
// for an id that is already there, a check that the stored row is identical.
// Errors (booking none of the list) on an invalid transfer or an id booked
// with different content.
result<book_report> book_transfers(pg::connection& db, std::span<const transfer> ts);

// Creates epoch k's row unless it exists. Timestamps in any form PostgreSQL
// reads as timestamptz ("2026-11-24 00:00:00+00"). Errors when a row for k
// exists with other bounds.
result<bool> ensure_epoch(pg::connection& db, std::uint64_t k, std::string_view start_at, std::string_view end_at);

// Epoch k's close in one transaction: its transfers, its account_epochs rows,
// and epochs.closed_at / emission / emission_paid / emission_carried. The row
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

struct block_row {
    std::string hash;
    std::string coin;
    std::uint64_t height = 0;
    amount reward;
    std::string finder;
    std::string found_at;  // timestamptz text
    std::uint64_t found_epoch = 0;
    std::uint64_t epoch = 0;  // booked at this epoch's close
};
// Inserts the block (status immature) unless its hash is there; errors when
// it is there with other figures.
result<bool> record_block(pg::connection& db, const block_row& b);

// Books a block's release (status "mature", block_maturity_transfers) or
// reversal ("orphaned", block_orphan_transfers) and sets its status, in one
// transaction. Errors when the block is unknown or already in the other state.
result<book_report> book_block_status(pg::connection& db, std::string_view hash, std::string_view status,
                                      std::span<const transfer> ts);

// The transfers with this reference ("block:<hash>", "epoch:<k>"), in id order.
result<std::vector<transfer>> load_transfers(pg::connection& db, std::string_view reference);
// Every (account, currency) balance from the balances view.
result<std::map<std::pair<std::string, std::string>, amount>> load_balances(pg::connection& db);
// Positive available BMM of holder accounts (user:<n>:available, foundation:<x>):
// the dividend weights for an epoch's close. Read it in the same session just
// before close_epoch and book the result with book_epoch_close.
result<std::map<std::string, amount>> load_bmm_holdings(pg::connection& db);

// SELECT * FROM ledger_audit(): one readable line per broken invariant.
result<std::vector<std::string>> audit(pg::connection& db);

}  // namespace bmm::accounting::ledger_store
