#pragma once
// The pool's blocks (sql/0007_blocks.sql) and the stream's blocks_found: a
// block recorded once, its release or reversal booked with its status in one
// transaction, and the reads the block tracker follows them by.

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::accounting::block_store {

using ledger_store::book_report;

struct block_row {
    std::string hash;
    std::string coin;
    std::uint64_t height = 0;
    amount reward;
    std::string finder;
    std::string found_at;  // timestamptz text
    std::uint64_t found_epoch = 0;
    std::uint64_t epoch = 0;       // booked at this epoch's close
    bool split_to_finder = false;  // resolved by the operator with a finder (read only)
};
// Inserts the block (status immature) unless its hash is there; errors when
// it is there with other figures.
result<bool> record_block(pg::connection& db, const block_row& b);

// Books an immature block's release (status "mature", block_maturity_transfers)
// or reversal ("orphaned", block_orphan_transfers) and sets its status, in one
// transaction: book_block_fate from "immature". Errors when the block is
// unknown or already in the other state.
result<book_report> book_block_status(pg::connection& db, std::string_view hash, std::string_view status,
                                      std::span<const transfer> ts);

// The blocks booked at epoch k (blocks.epoch = k), by hash.
result<std::vector<block_row>> blocks_of_epoch(pg::connection& db, std::uint64_t k);

// A block record of the stream, as the ingest stores it in blocks_found:
// every field as the text PostgreSQL reads for its column.
struct stream_block {
    std::string uid, stream_id, time, instance, coin, height, hash, account, worker, job, reward, accepted, answer;
};
// Inserts it unless its uid is there, inside the caller's transaction
// (errors: PostgreSQL's message unchanged); whether it was inserted.
result<bool> record_found(pg::connection& db, const stream_block& b);

// A pool block of blocks_found that is not in blocks yet.
struct found_block {
    std::string hash, coin;
    long long height = 0, reward = 0;
    std::string finder;
    std::int64_t ms = 0;  // found at (ms since 1970)
};
// The pool blocks of these coins (a text[] literal) not recorded yet, by hash.
result<std::vector<found_block>> new_pool_blocks(pg::connection& db, const std::string& coins);
// The pool blocks of these coins that no record says the node accepted and
// that are not in blocks (answered "duplicate", "inconclusive", an error or a
// time-out, or only recorded before submitblock: bmm-stratum stopped in
// between), by hash: the block tracker asks the chain about each. `answered`:
// a record after submitblock exists; `last_ms`: the newest record's time.
struct unconfirmed_block {
    found_block block;  // the first record's fields
    bool answered = false;
    std::int64_t last_ms = 0;
    std::string answer;      // the last record's answer
    bool restarted = false;  // the bmm-stratum that wrote the last record has started again since
};
result<std::vector<unconfirmed_block>> unconfirmed_pool_blocks(pg::connection& db, const std::string& coins);
// (hash, coin) of every immature block whose booking epoch has closed.
result<std::vector<std::pair<std::string, std::string>>> immature_of_closed_epochs(pg::connection& db);

// A block whose fate the tracker follows on the node (sql/0024): immature
// ones of closed epochs, and matured or orphaned ones not yet settled.
struct followed_block {
    std::string hash, coin, status;
    long long height = 0;
    int orphan_readings = 0;                  // confirmations == -1 readings so far
    std::int64_t orphan_reading_height = -1;  // node height at the last one (-1: none)
    std::int64_t unknown_since_ms = -1;       // first -5 answer of a run of them (-1: none)
};
// Of `coin`: the immature blocks of closed epochs, and the mature and orphaned
// ones (not resolved by the operator) at height >= settled_below.
result<std::vector<followed_block>> followed_blocks(pg::connection& db, std::string_view coin,
                                                    std::int64_t settled_below);
// Stores a block's readings (-1: none).
result<bool> set_block_readings(pg::connection& db, std::string_view hash, int orphan_readings,
                                std::int64_t orphan_reading_height, std::int64_t unknown_since_ms);
// Books transfers and moves the block's status from one of `from` to `to`,
// clearing its readings, in one transaction; nothing new when it is `to`
// already (the same transfer ids); errors for any other status.
result<book_report> book_block_fate(pg::connection& db, std::string_view hash, std::string_view to,
                                    std::initializer_list<std::string_view> from, std::span<const transfer> ts);
// Parks an immature block nothing is booked for (the close cannot split it);
// whether it was parked now.
result<bool> park_block(pg::connection& db, std::string_view hash, std::string_view reason);
struct parked_block {
    std::string hash, coin;
    long long height = 0;
    std::string finder, found_at, reason;
};
result<std::vector<parked_block>> parked_blocks(pg::connection& db);
// The operator's resolution of a parked block: finder empty = orphaned
// (nothing booked); else immature again, split to `finder` alone at the close
// of the first open epoch. Returns what was done, in words.
result<std::string> resolve_parked_block(pg::connection& db, std::string_view hash, std::string_view finder);

}  // namespace bmm::accounting::block_store
