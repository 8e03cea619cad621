#pragma once
// The ledger's transfers in PostgreSQL (sql/0005_ledger.sql, 0008_ledger_audit.sql):
// booking transfer lists idempotently, reading them and the balances back, and
// the SQL audit. Epochs (epoch_store.hpp) and blocks (block_store.hpp) book
// their transfers through insert_transfers in their own transactions. Amounts travel as decimal text into `numeric`
// columns, so nothing is rounded on the way.
//
// Every function takes an open connection (bmm/pg) that is not inside a
// transaction (each runs its own BEGIN ... COMMIT and rolls back on any
// error, so a failed call leaves the database as it was). Not thread-safe
// per connection, like libpq itself.

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
// The same inside the caller's open transaction (which rolls back on an error).
result<book_report> insert_transfers(pg::connection& db, std::span<const transfer> ts);

// The transfers with this reference ("block:<hash>", "epoch:<k>"), in id order.
result<std::vector<transfer>> load_transfers(pg::connection& db, std::string_view reference);
// Every transfer as stored, in booking order (created_at, id), its fields as
// text: for the audit, which reports a row it cannot read and goes on.
struct stored_transfer {
    std::string id, debit, credit, currency, amount, kind, reference;
};
result<std::vector<stored_transfer>> load_all_transfers(pg::connection& db);
// Every (account, currency) balance from the balances view.
result<std::map<std::pair<std::string, std::string>, amount>> load_balances(pg::connection& db);
// Positive available BMM of holder accounts (user:<n>:available, foundation:<x>):
// the dividend weights for an epoch's close. Read it in the same session just
// before close_epoch and book the result with book_epoch_close.
result<std::map<std::string, amount>> load_bmm_holdings(pg::connection& db);

// SELECT * FROM ledger_audit(): one readable line per broken invariant.
result<std::vector<std::string>> audit(pg::connection& db);

}  // namespace bmm::accounting::ledger_store
