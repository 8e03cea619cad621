#pragma once
// The coin side of a batch's life after approval: execute (build, store,
// broadcast), reconcile (follow, book, rebroadcast, fail), bump (replace at a
// higher fee) and the wallet check. Callers hold the currency's payout lock
// (pg::payout_lock) around each call.
//
// The rule that keeps a payment single: nothing is broadcast that is not
// stored first (batch_store store_attempt commits txid, hex, inputs, outputs,
// fee and vsize in one commit), a rerun broadcasts the same stored hex, and a
// transaction the wallet holds with the batch's marker (bmm:<batch>:<tx>) is
// adopted rather than built again. Lines go back to their holders only when
// a conflicting spend of an input is `confirmations` deep; a timeout or an
// RPC error is "unknown", never "failed".
//
// Fault points: with BMM_PAYOUT_FAULT=<name> in the environment the process
// kills itself (SIGKILL) at that step boundary, for the crash tests. Names:
// before_store, after_store, after_broadcast, after_mark_broadcast,
// before_confirm_book, after_confirm_book, before_fail_book, after_bump_store.

#include "bmm/accounting/config.hpp"
#include "bmm/payout/wallet_tx.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bmm::payout {

// SIGKILLs the process when BMM_PAYOUT_FAULT names `point` (see above).
void fault_point(std::string_view point);

// What a run found and did; `unknown` when some transaction's state could not
// be learned (the node did not answer): run again later.
struct run_summary {
    int txs = 0, broadcast = 0, confirmed = 0, failed = 0, waiting = 0, unknown = 0;
    bool batch_finished = false;
};

// execute: the batch must be approved (or broadcast, to resume). Packs it on
// the first run (max_tx_weight), then per open transaction: adopts a marked
// wallet transaction, else broadcasts its stored attempt again, else builds,
// checks, stores and broadcasts a new one.
result<run_summary> execute_batch(pg::connection& db, node_wallet& w, const accounting::payout_settings& ps,
                                  std::int64_t id);

// reconcile: follows every attempt of the batch's open transactions; books
// one at `confirmations` (confirm_tx), rebroadcasts a dropped one (not in the
// mempool, not mined, not conflicted), fails one whose input a confirmed
// conflicting spend took (fail_tx).
result<run_summary> reconcile_batch(pg::connection& db, node_wallet& w, const accounting::payout_settings& ps,
                                    std::int64_t id);

// The batches reconcile looks at when none is named: coin batches of
// `currency` that are approved or broadcast and have a stored transaction.
result<std::vector<std::int64_t>> batches_to_reconcile(pg::connection& db, std::string_view currency);

// bump: each broadcast, unconfirmed transaction of the batch gets a
// replacement at fee_rate sat/vB (same inputs and outputs, less change):
// stored as a new attempt, then broadcast; the old attempt is marked replaced.
result<run_summary> bump_batch(pg::connection& db, node_wallet& w, const accounting::payout_settings& ps,
                               std::int64_t id, std::int64_t fee_rate);

// wallet-check: the node wallet's trusted + untrusted pending balance against
// what the ledger owes in the coin: every user:, foundation: and pool:
// balance and payout:in-flight, less what broadcast payout transactions
// already took out of the wallet (their lines and fees, not yet booked).
struct wallet_gap {
    std::int64_t wallet = 0;         // trusted + untrusted_pending
    std::int64_t owed = 0;           // ledger balances (holders, pool, in-flight)
    std::int64_t sent_unbooked = 0;  // lines + fees of broadcast, unconfirmed payout transactions
    std::int64_t immature = 0;       // immature coinbases (not in `wallet`: not spendable yet; the audit counts them)
    std::int64_t gap() const { return wallet - (owed - sent_unbooked); }
};
result<wallet_gap> wallet_check(pg::connection& db, node_wallet& w, std::string_view currency);

// The chain a batch's addresses belong to, from a bech32 prefix (ltc, tltc,
// rltc; bc, tb, bcrt; rb, bcoin's regtest): "main", "test", "regtest"; empty when none says.
std::string chain_of_address(std::string_view address);

}  // namespace bmm::payout
