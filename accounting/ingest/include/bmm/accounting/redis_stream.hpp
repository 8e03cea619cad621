#pragma once
// The consumer side of the Redis stream bmm-stratum writes: a consumer group,
// XREADGROUP, XACK. Blocking (hiredis' synchronous API) with a socket timeout,
// one connection, one thread.

#include "bmm/redis/connect.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct redisContext;

namespace bmm::accounting {

struct reply_arena;

// A stream id "ms-seq", ordered as Redis orders them.
struct stream_id {
    std::uint64_t ms = 0, seq = 0;
    friend auto operator<=>(const stream_id&, const stream_id&) = default;
    static bool parse(std::string_view text, stream_id& out);
    std::string to_string() const;
};

using field_list = std::vector<std::pair<std::string_view, std::string_view>>;

// One entry as read; views point into the reply and live until the callback returns.
// `deleted` marks a pending entry whose data was removed from the stream
// (XDEL/XTRIM) before it was acknowledged: it has no fields.
struct stream_entry_view {
    std::string_view id_text;
    stream_id id;
    const field_list& fields;
    bool deleted;
};

class redis_stream {
public:
    // `conn`: where Redis is (directly or through Sentinel) and its password
    // (bmm/redis/connect.hpp); each connect() finds the primary anew.
    redis_stream(redis::settings conn, std::string stream, std::string group, std::string consumer);
    ~redis_stream();
    redis_stream(const redis_stream&) = delete;
    redis_stream& operator=(const redis_stream&) = delete;

    // Connects (again) and creates the group at the stream's start when it
    // does not exist (and the stream with it).
    result<bool> connect();
    bool connected() const noexcept { return c_ != nullptr; }
    void disconnect() noexcept;

    // [redis] wait_replicas / wait_timeout_ms (config.hpp): read() and
    // claim() run WAIT <replicas> <timeout_ms> after a reply with entries and
    // fail (disconnected, `each` not called) when fewer replicas acknowledged.
    void set_wait(const redis::replica_wait& w) noexcept { wait_ = w; }
    // The socket's read/write timeout from the next connect() (default 70 s,
    // above any BLOCK): how long a primary that stopped answering (a host cut
    // off) holds a read up before the primary is looked up again.
    void set_io_timeout(int ms) noexcept { io_timeout_ms_ = ms; }

    // XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS s <from>: from ">" reads
    // new entries, from an id reads this consumer's pending entries after it.
    // Calls `each` per entry in order; returns the count.
    result<std::size_t> read(std::string_view from, int count, int block_ms,
                             const std::function<void(const stream_entry_view&)>& each);

    // XAUTOCLAIM s g c <min_idle_ms> <cursor> COUNT n: takes over entries
    // pending on any consumer of the group (this one included) for at least
    // min_idle_ms, e.g. those of a consumer that is gone for good, and calls
    // `each` per claimed entry. `cursor` starts at "0-0" and is advanced;
    // back at "0-0" the pending list has been scanned through. Entries
    // deleted from the stream while pending are dropped from it by Redis.
    result<std::size_t> claim(int min_idle_ms, std::string& cursor, int count,
                              const std::function<void(const stream_entry_view&)>& each);

    // XACK (and, with del, XDEL) of the ids, in one round trip.
    result<bool> ack(const std::vector<std::string>& ids, bool del);

    // Trims the stream (XTRIM MINID) below the oldest entry some consumer
    // group still needs: per group its oldest pending entry, or the entry after
    // its last delivered one when nothing is pending; and never an entry newer
    // than `keep_ms` before `now_ms` (by its id's time). Groups are read with
    // XINFO GROUPS, so a group added later (another reader) holds back the
    // trim from then on. Returns the entries removed.
    result<std::size_t> trim_acknowledged(std::uint64_t now_ms, std::uint64_t keep_ms);

    const std::string& stream() const noexcept { return stream_; }
    const std::string& group() const noexcept { return group_; }
    const std::string& consumer() const noexcept { return consumer_; }
    std::string describe() const;

private:
    result<std::size_t> each_entry(const void* entries, const char* command,
                                   const std::function<void(const stream_entry_view&)>& each);

    redis::settings conn_;
    std::string stream_, group_, consumer_;
    // WAIT after a reply with entries; an error (and disconnected) when
    // fewer than wait_replicas_ replicas acknowledged.
    result<bool> wait_for_replicas(const char* command, std::size_t entries);

    redisContext* c_ = nullptr;
    redis::replica_wait wait_;
    int io_timeout_ms_ = 70000;
    std::shared_ptr<reply_arena> arena_;  // the nodes of read()'s replies (redis_stream.cpp)
};

}  // namespace bmm::accounting
