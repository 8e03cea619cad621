#pragma once
// The ingest: bmm-stratum's Redis stream into PostgreSQL, exactly once.
//
// Each round reads up to [ingest] batch_size entries with XREADGROUP (after a
// (re)start, first this consumer's pending entries, then new ones) and stores
// them in ONE transaction: the shares (COPY into a staging table, then one
// INSERT ... ON CONFLICT (uid, time) DO NOTHING), the per-minute rollups of
// what was really inserted, found blocks, unreadable records, auto-created
// accounts, and the last stream id of the round (stream_state). Only after
// COMMIT are the entries acknowledged (XACK). So:
//  - a crash before COMMIT stores nothing; the entries stay pending and are
//    read again after the restart;
//  - a crash between COMMIT and XACK leaves them pending too; their ids are at
//    or below stream_state's last id, so they are acknowledged and skipped;
//  - bmm-stratum delivering a record twice (same uid, another stream id) is
//    caught by the (uid, time) key of shares and of blocks_found.
// Redis or PostgreSQL going away ends the round with an error; run() then
// reconnects with a growing back-off (0.1 s to 5 s) and starts over from the
// pending entries.

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/accounting/pg.hpp"
#include "bmm/accounting/redis_stream.hpp"
#include "bmm/result.hpp"

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace bmm::accounting {

struct ingest_stats {
    std::uint64_t entries = 0;      // stream entries consumed (acknowledged)
    std::uint64_t shares = 0;       // share rows inserted
    std::uint64_t duplicates = 0;   // records skipped as already stored (by uid or by stream id)
    std::uint64_t blocks = 0;       // block rows inserted
    std::uint64_t bad = 0;          // records stored in ingest_errors
    std::uint64_t batches = 0;      // committed transactions
    std::uint64_t accounts = 0;     // accounts made from address usernames
};

class ingestor {
public:
    explicit ingestor(accountd_config cfg);

    // Reads and stores until *stop is set (SIGTERM); returns the exit code.
    int run(const std::atomic<bool>& stop);

    // One round: connects when needed, reads up to batch_size entries
    // (waiting up to block_ms for new ones), stores and acknowledges them.
    // Returns the number of stream entries handled (0: nothing new).
    result<std::size_t> step(int block_ms);

    // Drops the connections (after an error; the next step reconnects).
    void disconnect();

    const ingest_stats& stats() const noexcept { return stats_; }

private:
    struct batch;
    result<bool> connect();
    result<bool> ensure_partitions_ahead();
    void add_entry(batch& b, const stream_entry_view& e);
    result<bool> resolve_accounts(batch& b);
    result<bool> store(batch& b);
    const std::string& work_of(const std::string& target_hex);

    accountd_config cfg_;
    redis_stream redis_;
    pg_connection db_;
    address_validator validator_;
    stream_id last_;               // the last id stored (stream_state), valid when connected
    bool reading_pending_ = true;  // after a connect: pending entries first
    std::string pending_from_ = "0";
    std::set<std::int64_t> days_ready_;  // UTC days (since 1970) whose partition exists
    std::int64_t ahead_checked_day_ = -1;
    std::unordered_set<std::string> known_accounts_, not_addresses_;
    std::unordered_map<std::string, std::string> work_cache_;
    ingest_stats stats_;
};

}  // namespace bmm::accounting
