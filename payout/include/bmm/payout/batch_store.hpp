#pragma once
// The payout batch store: every change bmm-payout makes to the payout tables
// (sql/0015_payouts.sql) and the ledger transfers that go with it, each in one
// BEGIN ... COMMIT, so that the tables and the ledger never disagree.
//
// Contract of every function here:
// - It takes an open connection that is not inside a transaction, runs its
//   own transaction and commits it; on any error it rolls back and the
//   database is as it was ("nothing changed").
// - State changes are conditional updates (UPDATE ... WHERE state = <expected>):
//   a batch, transaction or attempt in another state is refused with a message
//   naming both, e.g. "batch 7 is broadcast; approve needs planned".
// - Callers hold the currency's payout lock (pg::payout_lock) around a whole
//   command; the conditional updates also make a racing second writer fail
//   rather than double-book.
//
// Ledger transfers (ledger_model.hpp), reference "payout:<batch>":
//   payout:<batch>:reserve:<line>  <holder available> -> payout:in-flight      (create_batch)
//   payout:<batch>:sent:<line>     payout:in-flight -> system:paid-out:<CUR>   (confirm_tx, settle)
//   payout:<batch>:return:<line>   payout:in-flight -> <holder available>      (fail_tx, cancel_batch)
//   payout:<batch>:fee:<tx>        pool:fees:<COIN> -> system:network-fees:<COIN>  (confirm_tx, fee > 0)
// The holder's available account comes from holder_ledger_accounts(account):
// "alice" -> user:alice:available, "foundation:ecosystem" -> foundation:ecosystem.
//
// States (the CHECKs of 0015):
//   batch   planned -> approved -> broadcast -> confirmed | failed  (coins)
//           planned -> approved -> exported -> settled              (BMM)
//           planned | approved -> failed                            (cancel_batch, nothing sent)
//   tx      building -> stored -> broadcast -> confirmed | failed
//   attempt stored -> broadcast -> replaced (a fee bump took over) | confirmed | conflicted
//   line    open -> sent | returned
// A coin batch finishes when none of its transactions is open (building,
// stored, broadcast): confirmed when all of them confirmed, failed when at
// least one failed (that transaction's lines are returned to their holders'
// available balances, the confirmed ones stay sent; each line's state says
// which). finished_at is set then.

#include "bmm/accounting/amount.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::payout {

using accounting::amount;

// One line of a batch: what one address gets from one account.
struct batch_line {
    int line = 0;         // 1.. in batch order
    std::string account;  // the holder name: "alice", "foundation:ecosystem"
    std::string address;
    amount value;
    std::optional<int> tx;       // the batch transaction paying it (coins, once assigned)
    std::string state = "open";  // open | sent | returned
};

struct batch_tx {
    int tx = 0;         // 1..
    std::string state;  // building | stored | broadcast | confirmed | failed
    std::optional<int> confirmed_attempt;
};

struct batch_attempt {
    int tx = 0, attempt = 0;   // attempt 1 the first, 2.. fee bumps
    std::string txid;          // 64 lower-case hex
    std::string hex;           // the signed transaction
    std::string inputs_json;   // [{"txid": "...", "vout": n}, ...]
    std::string outputs_json;  // {"<address>": "<base units>", ...}, change included
    amount fee;
    int vsize = 0;
    std::string state;  // stored | broadcast | replaced | confirmed | conflicted
    std::string stored_at;
};

struct batch {
    std::int64_t id = 0;
    std::string currency;
    std::string state;
    amount min_amount;
    std::string digest;  // batch_digest of the lines
    amount total;        // sum of the lines
    std::string planned_at;
    std::optional<std::string> approved_by, approved_at, finished_at;
    std::optional<std::string> export_sha256, exported_at, settle_txid, settled_by;
    std::vector<batch_line> lines;        // in line order
    std::vector<batch_tx> txs;            // in tx order
    std::vector<batch_attempt> attempts;  // in (tx, attempt) order
};

// What create_batch stores: the lines in their final order (they are numbered
// 1.. in this order).
struct planned_line {
    std::string account, address;
    amount value;  // > 0
};
struct new_batch {
    std::string currency;  // "LTC", "BMM"
    amount min_amount;     // the threshold the plan used (recorded)
    std::vector<planned_line> lines;
};

// The canonical line list, exactly:
//   "batch:<id>\ncurrency:<CUR>\n" then, per line in line order,
//   "<line>,<account>,<address>,<amount>\n"
// with <amount> in decimal base units. Account names and addresses hold no
// ',' or '\n' (account names: [A-Za-z0-9_:-]; addresses: base58, bech32, hex).
std::string canonical_lines(std::int64_t id, std::string_view currency, const std::vector<batch_line>& lines);
// The batch digest: SHA-256 of canonical_lines, 64 lower-case hex digits.
std::string batch_digest(std::int64_t id, std::string_view currency, const std::vector<batch_line>& lines);

// Stores a planned batch: the batch row, its lines (state open) and one
// payout_reserve transfer per line, in one commit; the digest is computed from
// the lines with the id the batch got. Refused when a line's account is not
// an account, an amount is not positive, the list is empty, a holder's
// available balance in the currency is below what its lines reserve, or an
// account already has an open line in an open batch of this currency.
// Set-based: a few statements whatever the number of lines.
result<batch> create_batch(pg::connection& db, const new_batch& b);

// The batch with its lines, transactions and attempts; an error naming the
// batch when there is none.
result<batch> load_batch(pg::connection& db, std::int64_t id);

// Accounts that have an open line in an open batch of `currency` (planned,
// approved, broadcast, exported): a plan skips them.
result<std::vector<std::string>> accounts_with_open_lines(pg::connection& db, std::string_view currency);

// planned -> approved, recording who and when. `digest` must equal the
// stored digest (the approver names what they read); a mismatch is refused.
result<bool> approve(pg::connection& db, std::int64_t id, std::string_view by, std::string_view digest);

// Cancels a batch nothing of which was sent: planned or approved, with no
// transaction attempt stored. Returns every line (payout_return), lines
// returned, batch failed (finished_at set).
result<bool> cancel_batch(pg::connection& db, std::int64_t id);

// Packs an approved coin batch into transactions: tx_lines[k] are the line
// numbers of transaction k + 1. Every line of the batch must appear exactly
// once. Creates the payout_txs rows (state building) and sets payout_lines.tx.
// When the batch already has transactions but none has an attempt stored, they
// are replaced by this packing; once an attempt is stored, refused.
result<bool> assign_lines(pg::connection& db, std::int64_t id, const std::vector<std::vector<int>>& tx_lines);

// A signed transaction to store before it is broadcast (nothing is broadcast
// that is not stored).
struct new_attempt {
    int tx = 0;
    std::string txid;          // 64 lower-case hex
    std::string hex;           // the signed raw transaction, lower-case hex
    std::string inputs_json;   // JSON array [{"txid": "...", "vout": n}, ...]
    std::string outputs_json;  // JSON object {"<address>": "<base units>", ...}
    amount fee;                // base units
    int vsize = 0;
};
// Stores the next attempt of transaction `a.tx` (numbered 1, 2, ...) and
// returns its number. The batch must be approved or broadcast, the
// transaction building, stored or broadcast; a transaction that was building
// becomes stored.
result<int> store_attempt(pg::connection& db, std::int64_t id, const new_attempt& a);

// The attempt was handed to the node: attempt stored -> broadcast (already
// broadcast: no change, true), its transaction stored -> broadcast, the batch
// approved -> broadcast.
result<bool> mark_broadcast(pg::connection& db, std::int64_t id, int tx, int attempt);

// A fee bump replaced the attempt: stored | broadcast -> replaced.
result<bool> mark_replaced(pg::connection& db, std::int64_t id, int tx, int attempt);

// The attempt is confirmed (the caller checked the depth): books one
// payout_sent per line of the transaction and one payout_fee of the attempt's
// fee (when > 0), in one commit; the attempt -> confirmed, the transaction's
// other live attempts -> conflicted, the transaction -> confirmed with
// confirmed_attempt, its lines -> sent; the batch finishes (see above) when
// no transaction is open. The transaction must be stored or broadcast.
result<bool> confirm_tx(pg::connection& db, std::int64_t id, int tx, int attempt);

// The transaction can never confirm (a conflicting spend of an input
// confirmed): books one payout_return per line of it, lines -> returned, its
// attempts that are stored or broadcast -> conflicted, the transaction ->
// failed; the batch finishes when no transaction is open. The transaction
// must be building, stored or broadcast.
result<bool> fail_tx(pg::connection& db, std::int64_t id, int tx);

// BMM: the export was written: approved -> exported with its SHA-256; an
// exported batch with the same SHA-256 stays as it is (true); another
// SHA-256 is refused (an export must give the same bytes every time).
result<bool> mark_exported(pg::connection& db, std::int64_t id, std::string_view sha256_hex);

// BMM: the ERC-20 distribution was sent: exported -> settled with the
// transaction id (0x + 64 hex, stored lower-case), who and when; books one
// payout_sent per line, lines -> sent.
result<bool> settle(pg::connection& db, std::int64_t id, std::string_view txid, std::string_view by);

}  // namespace bmm::payout
