#pragma once
// The epoch closer: turns the shares and blocks PostgreSQL holds into each
// epoch's close (ACCOUNTING.md, "Work, DPP and PP"; epoch_close.hpp).
//
// Epoch k covers [genesis + k x length, genesis + (k + 1) x length) (seconds,
// [epochs] in the configuration). It closes once
//   1. its end has passed by [epochs] close_grace_ms, and
//   2. every share up to its end is stored: the caller's `stored_through(T)`
//      says that every stream entry appended before T (ms) is in PostgreSQL
//      (ledger_keeper.hpp stream_stored_through: all entries below T were
//      delivered to the group and none of them is pending). With
//      T = end + grace, a share found before the end and appended to Redis
//      within the grace is counted; the grace covers bmm-stratum's batching
//      and clock skew. A share that reaches Redis later (e.g. from the spool
//      file after a long Redis outage) is stored "late": it counts in the
//      first epoch still open when the ingest stores it (shares.late_epoch,
//      sql/0014). The closer holds the close lock (pg::k_epoch_close_lock,
//      exclusive) from reading an epoch's shares to committing its close, and
//      the ingest takes it shared in every transaction that stores shares, so
//      each share is counted exactly once.
// Closing reads, in one session:
//   - Σ work of accepted shares per account and coin with time in [start, end)
//     and stored in time, plus the late ones counted in k (SQL numeric sums,
//     coins without [coins.X] rules left out);
//   - the streaks after epoch k - 1 (account_epochs) and the emission it
//     carried (epochs);
//   - the pool blocks booked at epoch k (blocks.epoch = k, recorded from
//     blocks_found first: block_tracker.hpp), with the PP of their found epoch;
//   - the available BMM holdings just before the close (load_bmm_holdings);
// then close_epoch() and book_epoch_close() book the transfers, the
// account_epochs rows and closed_at in ONE transaction. Closing an epoch again
// books nothing (deterministic ids; load_epoch says it is closed and it is
// skipped). After downtime the due epochs close one by one, in order.

#include "bmm/accounting/config.hpp"
#include "bmm/accounting/epoch_close.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace bmm::accounting {

// Epoch bounds in ms since 1970.
std::int64_t epoch_start_ms(const epoch_settings& e, std::uint64_t k);
// The epoch holding time `ms`, or -1 before genesis.
std::int64_t epoch_of_ms(const epoch_settings& e, std::int64_t ms);

// The inputs of epoch k's close from the database (the epoch must exist).
result<epoch_close_input> gather_epoch_input(pg::connection& db, const accountd_config& cfg, std::uint64_t k);

struct close_report {
    std::uint64_t closed = 0;  // epochs closed by this call
    std::uint64_t next = 0;    // the first epoch still open
};

// Closes every due epoch in order (at most `max_epochs` per call), starting at
// the first one not closed. `record_blocks` is called before each close so that
// the epoch's blocks are in the blocks table (block_tracker.hpp).
result<close_report> close_due_epochs(pg::connection& db, const accountd_config& cfg, std::int64_t now_ms,
                                      const std::function<result<bool>(std::int64_t)>& stored_through,
                                      const std::function<result<bool>()>& record_blocks,
                                      std::uint64_t max_epochs = 1000);

}  // namespace bmm::accounting
