#pragma once
// The shares and their rollups (sql/0002..0004, 0013, 0014: shares, its daily
// partitions, share_minutes, ingest_errors, stream_state): what the ingest
// writes in each round's transaction, and what the epoch closer reads back.
//
// The ingest's writes run inside the caller's open transaction (one per
// round, ingest.hpp) and return PostgreSQL's message unchanged on an error;
// the caller rolls back. The closer's reads need no transaction of their own.
// Rows travel as COPY text the caller builds once per round (pg/text.hpp),
// so nothing is copied again on the way.

#include "bmm/accounting/amount.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace bmm::accounting::share_store {

// ---------------------------------------------------------------------------
// The ingest
// ---------------------------------------------------------------------------

// Prepares a new session for the ingest: the staging table of the rollups
// (a temp table emptied at each commit). Once per connection.
result<bool> prepare_ingest_session(pg::connection& db);

// One consumer's place in the stream (stream_state).
struct consumer {
    std::string stream, group, name;
};
struct stream_position {
    std::uint64_t ms = 0, seq = 0;
};
// The last stream id stored by this consumer; nullopt when it stored none.
result<std::optional<stream_position>> load_position(pg::connection& db, const consumer& c);
// Sets the consumer's last stored id to `last` and adds `entries` to its count.
result<bool> save_position(pg::connection& db, const consumer& c, stream_position last, std::uint64_t entries);
// The highest last id (ms part) any consumer of the group stored; 0 when none.
result<std::int64_t> group_stored_ms(pg::connection& db, std::string_view stream, std::string_view group);

// The daily partitions of shares, by UTC day since 1970.
result<bool> ensure_day(pg::connection& db, std::int64_t day);
// Drops the partitions of days before `day`; the names of those dropped.
result<std::vector<std::string>> drop_days_before(pg::connection& db, std::int64_t day);

// What [ingest] keep_days may not drop (issue 13, item 11): the oldest share
// before `cutoff_ms` that is still needed, and why; nullopt when none is.
// Needed are the shares of the first open epoch (`first_open`, starting at
// `open_start_ms`) and later ones, the shares stored late that count in an
// open epoch (shares.late_epoch), and the pplns window of every block not
// yet split (booked at the close of an open epoch, not parked, not resolved
// by the operator) of the coins in `pplns` (coin, N in ppm): when the
// accepted work from cutoff_ms up to its finding share does not cover
// N x network work, its window reaches before the cutoff and every day kept
// is needed.
struct needed_shares {
    std::int64_t from_ms = 0;
    std::string why;
};
result<std::optional<needed_shares>> shares_needed_before(
    pg::connection& db, std::int64_t cutoff_ms, std::uint64_t first_open, std::int64_t open_start_ms,
    const std::vector<std::pair<std::string, std::uint64_t>>& pplns);

// COPY of a round's shares (`rows`: COPY text in the columns of shares) under
// a savepoint. True when stored. False when a row's (uid, time) is stored
// already: then none of them is (back at the savepoint) and the caller leaves
// the repeats out (stored_uids) and copies the rest (copy_shares).
result<bool> copy_round(pg::connection& db, std::string_view rows);
// COPY of share rows without a savepoint (the round's rows less its repeats).
result<bool> copy_shares(pg::connection& db, std::string_view rows);
// Which of `uids` (a text[] literal) are stored with time in [from_ms, to_ms].
result<std::unordered_set<std::string>> stored_uids(pg::connection& db, const std::string& uids, std::int64_t from_ms,
                                                    std::int64_t to_ms);
// Counts the shares `uids` (a text[] literal) with time in [from_ms, before_ms)
// in epoch `epoch` (shares.late_epoch: they arrived after their epoch closed);
// the number of shares marked.
result<std::uint64_t> mark_late(pg::connection& db, std::uint64_t epoch, std::int64_t from_ms, std::int64_t before_ms,
                                const std::string& uids);

// Counts a round's rejected records of one bmm-stratum instance's journal run
// (uid <instance>:<boot>:<seq>) that are stored as counts only, not rows
// (sql/0026, bmm_count_records()): `seqs`, `times` (timestamptz) and
// `stream_ms` are parallel array literals. Returns the sequence numbers not
// counted before; the others are repeats and must not be counted again.
// Takes a lock per (instance, boot) until the transaction ends: call in
// (instance, boot) order, before the round writes anything else.
result<std::unordered_set<std::int64_t>> count_records(pg::connection& db, std::int64_t instance, std::int64_t boot,
                                                       const std::string& seqs, const std::string& times,
                                                       const std::string& stream_ms);

// One share_minutes row's increments. Work is summed as low 256 bits plus a
// count of 2^256 carries, so that a sum never overflows on the way.
struct minute_sum {
    std::int64_t accepted = 0, rejected = 0, blocks = 0;
    // Rejections by code: [0] other, [1..5] codes 21..25 (stale, duplicate,
    // low difficulty, unauthorized, not subscribed).
    std::int64_t by_code[6] = {0, 0, 0, 0, 0, 0};
    uint256 work_low;
    std::uint64_t work_carry = 0;
    void add_work(const uint256& w) {
        work_low += w;
        if (work_low < w) {
            ++work_carry;
        }
    }
};
// By (coin \t account \t worker, each COPY-escaped; the minute in ms).
using minute_sums = std::map<std::pair<std::string, std::int64_t>, minute_sum>;
// Adds the sums to share_minutes, upserted in key order (so that two
// consumers lock the rows in one order and never deadlock).
result<bool> add_minutes(pg::connection& db, const minute_sums& sums);

// A stream record the ingest cannot read, kept with the reason (ingest_errors).
struct ingest_error {
    std::string stream, stream_id, fields_json, error;
};
result<bool> record_ingest_error(pg::connection& db, const ingest_error& e);

// ---------------------------------------------------------------------------
// The epoch closer
// ---------------------------------------------------------------------------

// Shares that count in epoch k: stored in time in [from_ms, to_ms) and not
// late, or late and counted in k (sql/0014); accepted, of `coins` (a text[]
// literal), of a user account (not empty, no ':').
struct epoch_shares {
    std::uint64_t k = 0;
    std::int64_t from_ms = 0, to_ms = 0;
    std::string coins;
};
// Σ work of those shares per account and coin (positive sums), summed
// exactly by PostgreSQL. Errors name epoch k and the step.
result<std::map<std::string, std::map<std::string, amount>>> work_by_account(pg::connection& db, const epoch_shares& s);
// Σ work per (account, coin, network work, reward) for pps; network work or
// reward is nullopt for shares without them (version 1 stream records).
struct pps_group {
    std::string account, coin;
    std::optional<amount> network_work, reward;
    amount work;
};
result<std::vector<pps_group>> pps_groups(pg::connection& db, const epoch_shares& s);

// The share that found a block (shares.block_hash, sql/0013): the first by
// (time, uid); nullopt when none is stored.
struct finding_share {
    std::int64_t ms = 0;
    std::string uid;
    // Its network work as numeric text; nullopt for a version 1 record without network_target.
    std::optional<std::string> network_work;
};
result<std::optional<finding_share>> find_block_share(pg::connection& db, std::string_view hash, std::string_view coin);
// The start (ms) of the oldest day whose shares are kept (today when none is).
result<std::int64_t> oldest_kept_day_ms(pg::connection& db);
// The coin's accepted user shares in [lo_ms, end_ms), newest first; with
// `through_uid`, [lo_ms, end_ms] up to and including that share by (time, uid).
// `row(account, work)` is called per share (the views live for the call) and
// returns false to stop early (the caller keeps its own error, if any).
result<bool> window_slice(pg::connection& db, std::string_view coin, std::int64_t lo_ms, std::int64_t end_ms,
                          std::optional<std::string_view> through_uid,
                          const std::function<bool(std::string_view account, std::string_view work)>& row);

}  // namespace bmm::accounting::share_store
