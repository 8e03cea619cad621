#pragma once
// The share sink: every verdict and every block goes to a Redis stream, and
// nothing accepted is lost on the way.
//
// Records are first appended to a local journal file (one JSON object per
// line) before the miner hears the verdict; one write() per batch, so a crash
// of bmm-stratum after that point loses nothing (the kernel holds the data).
// A publisher thread reads the journal from its committed offset, sends the
// records to Redis with pipelined XADDs, and commits the new offset after
// Redis has answered. While Redis is unreachable the journal simply grows
// (the spool); when Redis returns, the backlog goes out in order. At start-up
// the publisher resumes from the committed offset, so a restart replays what
// was left.
//
// Delivery is at least once: a crash between XADD and the offset commit
// re-sends a few records on restart. Every record carries a unique `uid`
// (instance, boot time, sequence) by which the consumer drops repeats; the
// boot time is kept in journal.offset and always moves forward, so a quick
// restart (or a clock stepped back) cannot repeat a uid. The sequence numbers
// of one run are given in journal order without a hole (a batch the journal
// refuses gives its numbers back), so the audit finds a record lost anywhere
// after the journal by the hole it leaves (sql/0022_audit_records.sql).

#include "bmm/record/stream_record.hpp"
#include "bmm/redis/connect.hpp"
#include "bmm/result.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace bmm::stratum {

// A record as the journal and the publisher carry it: flat field/value pairs,
// as XADD takes them. What the pool writes is typed (bmm/record/stream_record.hpp)
// and becomes text only in its journal line.
using record = ::bmm::record::text_fields;

// When the journal reaches the disk ([redis] journal_sync; docs/operations.md,
// "Durability"). `batch`: every append is flushed (fdatasync) before it returns,
// so before the miner hears the verdict; appends from several loops share one
// flush (group commit). `interval`: a thread flushes every sync_interval_ms; a
// power cut loses at most that long of verdicts already answered. `none`: the
// kernel writes when it likes (a crash of the process loses nothing, a power
// cut up to the kernel's writeback delay, ~30 s by default).
enum class journal_sync { batch, interval, none };

struct sink_config {
    redis::settings redis;  // where Redis is, directly or through Sentinel; the password file
    std::string stream = "bmm:shares";
    std::string spool_dir;  // holds journal.log and journal.offset
    std::uint32_t instance_id = 0;
    // A fully published journal larger than this starts again from zero.
    std::uint64_t rewind_bytes = 64ull << 20;
    journal_sync sync = journal_sync::batch;
    unsigned sync_interval_ms = 50;  // journal_sync::interval only
    // After each batch, WAIT until this many replicas have it (at most
    // wait_timeout_ms) before the journal offset moves past it; when fewer
    // acknowledge, the offset stays, the shortfall is counted and logged, and
    // the batch is sent again on a fresh connection (a resend is harmless:
    // the consumer keeps one record per uid). 0: no WAIT.
    redis::replica_wait wait;
};

struct sink_stats {
    std::uint64_t published = 0;      // records Redis has acknowledged since start
    std::uint64_t backlog_bytes = 0;  // journal bytes not yet in Redis
    bool redis_up = false;
    std::uint64_t appended = 0;         // records appended since start
    std::uint64_t backlog_records = 0;  // journal records not yet in Redis (those left
                                        // from before a restart once the publisher has counted them)
    std::uint64_t journal_bytes = 0;    // size of journal.log: the spool on disk
    std::uint64_t syncs = 0;            // journal flushes (fdatasync) since start
    std::uint64_t synced_bytes = 0;     // the journal is on the disk up to here
    std::uint64_t wait_shortfalls = 0;  // batches fewer than wait_replicas replicas acknowledged (sent again)
    std::uint64_t redis_connects = 0;   // connections made to Redis (a failover or an outage adds one)
};

class share_sink {
public:
    explicit share_sink(sink_config c);
    ~share_sink();
    share_sink(const share_sink&) = delete;
    share_sink& operator=(const share_sink&) = delete;

    // Locks the spool folder (spool_dir/lock, flock: one process per folder;
    // the error names the folder and the holder's pid), opens (or creates)
    // the journal and starts the publisher. The lock is held until stop() or
    // destruction, and the kernel drops it when the process ends (kill -9 too).
    result<bool> start();

    // Appends records to the journal, in one write(), each with a uid of its
    // own. Returns false (and logs) only if the journal cannot be written,
    // which callers treat as fatal for accepting shares. Thread-safe.
    bool append(std::span<const ::bmm::record::share_record> shares);
    bool append(const ::bmm::record::block_record& block);
    // A block's record, durable on return: appended and flushed to the disk
    // (fdatasync) when it returns true. A record that cannot be written (a
    // full disk) is kept in memory, behind any earlier one still waiting, and
    // written again by the publisher thread about once a second, each failure
    // logged as an error, until it lands; the caller goes on either way (a
    // block is submitted all the same: the chain's reward is never lost for
    // want of its record). Thread-safe.
    bool append_block(const ::bmm::record::block_record& block);
    // Block records waiting in memory for the journal.
    std::size_t unwritten_blocks() const;
    // Any flat record, its "uid" field added to it: the journal and the
    // publisher carry fields without reading them (journals of older builds
    // included), and the transport is tested with records of every shape.
    bool append(std::vector<record>& records);

    // Waits up to `timeout_ms` for the backlog to reach Redis, then stops the
    // publisher and releases the spool folder. What is left stays in the
    // journal for the next start.
    void stop(unsigned timeout_ms);

    sink_stats stats() const;

private:
    // unreplicated: WAIT saw fewer than wait_replicas replicas; failover:
    // the server is no longer the writable primary (READONLY, ...).
    enum class publish_status { ok, refused, lost, unreplicated, failover };
    void run();
    publish_status publish_from(std::uint64_t& offset);
    void commit(std::uint64_t offset);
    void count_backlog_lines();
    std::string next_uid();
    result<bool> lock();
    void unlock();
    bool write_batch(const std::string& buf, std::size_t records);
    bool write_locked(const std::string& buf, std::size_t records);                       // mu_ held
    std::optional<std::uint64_t> append_numbered(const std::vector<std::string>& lines);  // lines with "uid":""
    bool sync_to(std::uint64_t end);  // flushes the journal at least up to `end` (group commit)
    void run_syncer();                // journal_sync::interval's thread
    bool write_unwritten_blocks();    // blocks_mu_ held; true when none is left waiting
    void retry_unwritten_blocks();    // the publisher thread, about once a second

    sink_config cfg_;
    int journal_fd_ = -1;
    int offset_fd_ = -1;
    int lock_fd_ = -1;  // flock on spool_dir/lock while started
    std::string boot_;
    std::atomic<std::uint64_t> seq_{0};
    std::atomic<std::uint64_t> written_{0};    // journal size
    std::atomic<std::uint64_t> committed_{0};  // published up to here
    std::atomic<std::uint64_t> published_{0};
    std::atomic<std::uint64_t> appended_{0};
    std::uint64_t start_size_ = 0;                   // journal size at start()
    std::atomic<std::uint64_t> backlog_records_{0};  // lines between committed_ and written_
    std::atomic<bool> redis_up_{false};
    std::atomic<bool> stopping_{false};
    std::chrono::steady_clock::time_point stop_deadline_{};  // guarded by mu_
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::thread thread_;
    std::thread syncer_;                    // journal_sync::interval only
    std::mutex sync_mu_;                    // one fdatasync at a time; never held while waiting for mu_
    std::condition_variable sync_cv_;       // wakes the syncer (with mu_) to stop
    std::atomic<std::uint64_t> synced_{0};  // the journal is on disk up to here
    std::atomic<std::uint64_t> syncs_{0};
    std::atomic<std::uint64_t> wait_shortfalls_{0};
    std::atomic<std::uint64_t> redis_connects_{0};
    void* redis_ = nullptr;
    std::string redis_address_;                      // the server redis_ is connected to (publisher thread only)
    mutable std::mutex blocks_mu_;                   // taken before mu_, never after
    std::deque<std::string> unwritten_blocks_;       // journal lines of block records, oldest first
    std::chrono::steady_clock::time_point retried_;  // the publisher's last retry of them
};

// Serialises a record as one JSON line (used by the journal; exposed for tests).
// JSON strings are Unicode, so bytes that are not valid UTF-8 become U+FFFD.
std::string record_to_json_line(const record& r);
// Parses a journal line back; false when it is not one.
bool record_from_json_line(std::string_view line, record& out);

}  // namespace bmm::stratum
