#pragma once
// The ingest: bmm-stratum's Redis stream into PostgreSQL, exactly once.
//
// Each round reads up to [ingest] batch_size entries with XREADGROUP (after a
// (re)start, first this consumer's pending entries, then new ones) and stores
// them in ONE transaction: the shares (repeats of a uid left out: those of the
// round itself, and those already in the table, found by one query; the rest
// by one COPY straight into the partitioned table), the per-minute rollups of
// exactly those rows (summed in C++, upserted from a staging table), found
// blocks, unreadable records, an account for every new share name, and the last stream id of
// the round (stream_state). Only after
// COMMIT are the entries acknowledged (XACK). So:
//  - a crash before COMMIT stores nothing; the entries stay pending and are
//    read again after the restart;
//  - a crash between COMMIT and XACK leaves them pending too; their ids are at
//    or below stream_state's last id, so they are acknowledged and skipped;
//  - bmm-stratum delivering a record twice (same uid, another stream id) is
//    left out by its uid (shares) or by the uid key (blocks_found); the
//    (uid, time) key of shares is the backstop.
// Records are read through bmm::record::decode (bmm/record/stream_record.hpp,
// the definition bmm-stratum writes with): every version up to the current
// one, records without a version as version 1; what it refuses (a newer
// version, a malformed field) is kept in ingest_errors with the reason.
// Redis or PostgreSQL going away ends the session with an error; run() then
// reconnects with a growing back-off (0.1 s to 5 s) and starts over from the
// pending entries. A reader thread reads the next rounds while the current
// one is stored (at most two ahead), on its own Redis connection.
//
// Several streams ([redis] streams, e.g. one per bmm-stratum instance,
// "bmm:shares:{1}", "bmm:shares:{2}", ...): each has its own reader thread,
// its own two Redis connections (reading; acknowledging and trimming), its
// own consumer group (made when missing), pending list and claims, and its
// own stream_state row. Each XREADGROUP names ONE stream (in Redis Cluster
// the keys of one command must share a hash slot). A round holds the entries
// of one stream; the storing thread takes the streams' rounds in turn
// (round robin over the streams that have one ready), so a busy stream
// cannot starve a quiet one: a round of a stream waits for at most one round
// of each other stream. A stream that cannot be read (its Redis shard away,
// its key refused) is retried by its reader alone, with a growing back-off,
// once what was read from it is stored: the other streams go on.

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/accounting/redis_stream.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bmm::accounting {

struct process_counters;  // process_counters.hpp

struct ingest_stats {
    std::uint64_t entries = 0;     // stream entries consumed (acknowledged)
    std::uint64_t shares = 0;      // share rows inserted
    std::uint64_t duplicates = 0;  // records skipped as already stored (by uid or by stream id)
    std::uint64_t blocks = 0;      // block rows inserted
    std::uint64_t bad = 0;         // records stored in ingest_errors
    std::uint64_t batches = 0;     // committed transactions
    std::uint64_t accounts = 0;    // accounts made from new share names (kind user or address)
};

class ingestor {
public:
    explicit ingestor(accountd_config cfg);

    // Reads and stores until *stop is set (SIGTERM); returns the exit code.
    // A failure (Redis, PostgreSQL) ends the session: the connections are
    // dropped and made again after a back-off, from the pending entries.
    int run(const std::atomic<bool>& stop);

    // Stream entries stored and acknowledged so far (any thread may ask).
    std::uint64_t entries_acked() const noexcept { return acked_.load(); }
    // Counters; read them from the thread that called run(), after it returned.
    const ingest_stats& stats() const noexcept { return stats_; }
    // Also publishes the counters to `c` after every commit (for /metrics);
    // `c` outlives the ingestor. Call before run().
    void publish_to(process_counters* c) noexcept { published_ = c; }

private:
    struct batch;
    struct session;
    struct text_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using work_cache = std::unordered_map<std::string, std::pair<uint256, std::string>, text_hash, std::equal_to<>>;
    // One stream read. Its reader thread: reader, work. The storing thread: acker, last.
    struct lane {
        lane(const accountd_config& cfg, const std::string& stream);
        redis_stream reader, acker;
        stream_id last;  // the last id stored (stream_state), valid when connected
        work_cache work;
    };
    result<bool> connect();
    void disconnect();
    result<bool> run_session(const std::atomic<bool>& stop, bool& failing);
    void read_rounds(session& s, std::size_t k);  // the reader thread of lanes_[k]
    result<bool> ensure_partitions_ahead();
    void add_entry(batch& b, const stream_entry_view& e, const stream_id& stored_upto);
    result<bool> resolve_accounts(batch& b);
    result<bool> store(batch& b);
    void trim_stream(lane& l);  // [ingest] stream_keep_seconds
    static const std::pair<uint256, std::string>& work_of(work_cache& cache, std::string_view target_hex);

    accountd_config cfg_;
    std::vector<std::unique_ptr<lane>> lanes_;  // one per stream, in [redis] streams order
    pg::connection db_;
    address_validator validator_;
    std::set<std::int64_t> days_ready_;  // UTC days (since 1970) whose partition exists
    std::int64_t ahead_checked_day_ = -1;
    // Why [ingest] keep_days is held back ("" when it is not), and when to
    // look again (every minute while it is held).
    std::string keep_held_;
    std::chrono::steady_clock::time_point keep_recheck_{};
    std::unordered_set<std::string> known_accounts_, not_addresses_;
    ingest_stats stats_;
    process_counters* published_ = nullptr;
    std::atomic<std::uint64_t> acked_{0};
};

}  // namespace bmm::accounting
