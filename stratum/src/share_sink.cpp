#include "bmm/stratum/share_sink.hpp"

#include "bmm/log.hpp"
#include "bmm/node/rpc.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace bmm::stratum {
namespace {

constexpr std::size_t k_batch_records = 512;
constexpr std::size_t k_read_window = 4u << 20;  // journal bytes read per batch (grown for a longer line)

// journal.offset: the committed journal offset, then the last boot stamp used
// in uids (absent in files written before it existed).
constexpr off_t k_offset_at = 0;
constexpr off_t k_boot_at = 8;

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// Reads the pid a lock holder wrote into its lock file, and that process's
// name from /proc when it can be read, for the message that names it.
std::string lock_holder(int fd) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    if (pid <= 0) {
        return "a process that wrote no pid";
    }
    std::string name;
    if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "r")) {
        char comm[64] = {};
        if (std::fgets(comm, sizeof comm, f)) {
            name = comm;
        }
        std::fclose(f);
    }
    while (!name.empty() && name.back() == '\n') {
        name.pop_back();
    }
    return "pid " + std::to_string(pid) + (name.empty() ? "" : " (" + name + ")");
}

}  // namespace

std::string record_to_json_line(const record& r) { return ::bmm::record::fields_to_json_line(r); }

bool record_from_json_line(std::string_view line, record& out) {
    auto fields = ::bmm::record::fields_from_json_line(line);
    if (!fields) {
        return false;
    }
    out = std::move(*fields);
    return true;
}

share_sink::share_sink(sink_config c) : cfg_(std::move(c)) {}

share_sink::~share_sink() {
    stop(0);
    unlock();
    if (journal_fd_ >= 0) ::close(journal_fd_);
    if (offset_fd_ >= 0) ::close(offset_fd_);
}

result<bool> share_sink::start() {
    std::error_code ec;
    std::filesystem::create_directories(cfg_.spool_dir, ec);
    if (ec) return error{"spool_dir " + cfg_.spool_dir + ": " + ec.message()};
    if (auto locked = lock(); !locked) return locked;
    const std::string journal = cfg_.spool_dir + "/journal.log", offset = cfg_.spool_dir + "/journal.offset";
    journal_fd_ = ::open(journal.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (journal_fd_ < 0) return error{journal + ": " + std::strerror(errno) + " (check [redis] spool_dir)"};
    offset_fd_ = ::open(offset.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (offset_fd_ < 0) return error{offset + ": " + std::strerror(errno)};
    std::uint64_t committed = 0, last_boot = 0;
    if (::pread(offset_fd_, &committed, sizeof committed, k_offset_at) != static_cast<ssize_t>(sizeof committed))
        committed = 0;
    if (::pread(offset_fd_, &last_boot, sizeof last_boot, k_boot_at) != static_cast<ssize_t>(sizeof last_boot))
        last_boot = 0;
    struct stat st {};
    if (::fstat(journal_fd_, &st) != 0) return error{journal + ": " + std::strerror(errno)};
    auto size = static_cast<std::uint64_t>(st.st_size);
    // A crash in the middle of a write leaves a torn last line; end it, so that
    // it is skipped as malformed instead of swallowing the next record (and
    // instead of the publisher waiting forever for its newline).
    char last = '\n';
    if (size > 0 && ::pread(journal_fd_, &last, 1, static_cast<off_t>(size - 1)) == 1 && last != '\n') {
        log::warn("sink", "journal {} ends in the middle of a line (a crash while writing?); it will be skipped",
                  journal);
        if (!write_all(journal_fd_, "\n", 1)) return error{journal + ": " + std::strerror(errno)};
        ++size;
    }
    if (committed > size) committed = size;
    committed_ = committed;
    written_ = size;
    start_size_ = size;
    // The boot stamp makes uids unique across restarts: it never repeats, even
    // when the sink restarts within the same millisecond or the clock steps back.
    const auto now_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const std::uint64_t boot = std::max(now_ms, last_boot + 1);
    if (::pwrite(offset_fd_, &boot, sizeof boot, k_boot_at) != static_cast<ssize_t>(sizeof boot))
        return error{offset + ": " + std::strerror(errno)};
    boot_ = std::to_string(boot);
    if (size > committed)
        log::info("sink", "journal {} holds {} bytes not yet in Redis: replaying them", journal, size - committed);
    thread_ = std::thread([this] { run(); });
    if (cfg_.sync == journal_sync::interval) {
        syncer_ = std::thread([this] { run_syncer(); });
    }
    return true;
}

// instance:boot:sequence, unique across restarts (see start()). Called with
// mu_ held: sequence numbers are given in journal order, and one given to a
// batch the journal refused is given again (see append_numbered), so that each
// run's records are 0, 1, 2, ... without a hole (the audit finds lost records
// by their holes: sql/0022_audit_records.sql).
std::string share_sink::next_uid() {
    return std::to_string(cfg_.instance_id) + ":" + boot_ + ":" + std::to_string(seq_++);
}

// `lines` are journal lines written with an empty uid ("uid":""): each gets its
// uid here, under mu_, and the sequence moves on only if the journal took them.
// Returns the first line's sequence number, nothing when the journal refused them.
std::optional<std::uint64_t> share_sink::append_numbered(const std::vector<std::string>& lines) {
    static constexpr std::string_view k_empty_uid = "\"uid\":\"\"";
    bool ok = false;
    std::uint64_t first = 0, end = 0;
    {
        std::lock_guard lock(mu_);
        first = seq_.load();
        std::string buf;
        for (const auto& line : lines) {
            const std::size_t at = line.rfind(k_empty_uid) + k_empty_uid.size() - 1;
            buf.append(line, 0, at).append(next_uid()).append(line, at, std::string::npos);
        }
        ok = write_locked(buf, lines.size());
        if (!ok) {
            seq_ = first;
        }
        end = written_.load();
    }
    if (!ok) {
        return std::nullopt;
    }
    appended_ += lines.size();
    cv_.notify_one();
    // [redis] journal_sync = batch: durable before the caller answers (written either way: the numbers stay used).
    if (cfg_.sync == journal_sync::batch && !sync_to(end)) {
        return std::nullopt;
    }
    return first;
}

bool share_sink::append(std::span<const ::bmm::record::share_record> shares) {
    if (shares.empty()) {
        return true;
    }
    std::vector<std::string> lines;
    lines.reserve(shares.size());
    for (const auto& r : shares) {
        lines.push_back(::bmm::record::to_json_line(r, ""));
    }
    return append_numbered(lines).has_value();
}

bool share_sink::append(const ::bmm::record::block_record& block) {
    return append_numbered({::bmm::record::to_json_line(block, "")}).has_value();
}

bool share_sink::append_block(const ::bmm::record::block_record& block) {
    std::lock_guard lock(blocks_mu_);
    std::string uid;
    {
        // Its sequence number is kept with the line until the journal takes it.
        std::lock_guard numbering(mu_);
        uid = next_uid();
    }
    unwritten_blocks_.push_back(::bmm::record::to_json_line(block, uid));
    return write_unwritten_blocks();
}

std::size_t share_sink::unwritten_blocks() const {
    std::lock_guard lock(blocks_mu_);
    return unwritten_blocks_.size();
}

// In order, each appended and flushed (fdatasync) before the next: a line
// written whose flush failed is written again (the same uid: the consumer
// keeps one).
bool share_sink::write_unwritten_blocks() {
    while (!unwritten_blocks_.empty()) {
        const std::string& line = unwritten_blocks_.front();
        const bool written = write_batch(line, 1);
        if (!written || ::fdatasync(journal_fd_) != 0) {
            const int err = errno;
            log::error("sink",
                       "BLOCK RECORD NOT WRITTEN to the journal in {} ({}); {} block record(s) kept in memory and "
                       "retried every second until the disk takes them: free space there. The record: {}",
                       cfg_.spool_dir, written ? std::strerror(err) : "append failed", unwritten_blocks_.size(),
                       std::string_view(line).substr(0, line.size() - 1));
            return false;
        }
        unwritten_blocks_.pop_front();
    }
    return true;
}

void share_sink::retry_unwritten_blocks() {
    std::lock_guard lock(blocks_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (unwritten_blocks_.empty() || now - retried_ < std::chrono::seconds(1)) {
        return;
    }
    retried_ = now;
    const std::size_t waiting = unwritten_blocks_.size();
    if (write_unwritten_blocks()) {
        log::info("sink", "{} block record(s) kept in memory are in the journal now", waiting);
    }
}

bool share_sink::append(std::vector<record>& records) {
    if (records.empty()) return true;
    std::vector<std::string> lines;
    lines.reserve(records.size());
    for (auto& r : records) {
        r.emplace_back("uid", "");
        lines.push_back(record_to_json_line(r));
    }
    const auto first = append_numbered(lines);
    for (std::size_t i = 0; first && i < records.size(); ++i) {
        records[i].back().second = std::to_string(cfg_.instance_id) + ":" + boot_ + ":" + std::to_string(*first + i);
    }
    return first.has_value();
}

// Appends whole lines in one write(); a batch goes in whole or not at all.
bool share_sink::write_batch(const std::string& buf, std::size_t records) {
    std::uint64_t end = 0;
    {
        std::lock_guard lock(mu_);
        if (!write_locked(buf, records)) {
            return false;
        }
        end = written_.load();
    }
    appended_ += records;
    cv_.notify_one();
    return cfg_.sync != journal_sync::batch || sync_to(end);
}

// Group commit: an fdatasync covers every write before it, so a caller whose
// records an earlier flush already covered returns at once, and callers that
// wait while one flush runs are all covered by the next.
bool share_sink::sync_to(std::uint64_t end) {
    std::lock_guard lock(sync_mu_);
    if (synced_.load() >= end) {
        return true;
    }
    const std::uint64_t target = written_.load();
    if (::fdatasync(journal_fd_) != 0) {
        log::error("sink", "cannot flush the journal in {} to the disk: {}; verdicts cannot be kept (check the disk)",
                   cfg_.spool_dir, std::strerror(errno));
        return false;
    }
    synced_ = target;
    ++syncs_;
    return true;
}

// write_batch with mu_ held.
bool share_sink::write_locked(const std::string& buf, std::size_t records) {
    if (!write_all(journal_fd_, buf.data(), buf.size())) {
        const int err = errno;
        log::error("sink", "cannot append to the journal in {}: {}; verdicts cannot be kept", cfg_.spool_dir,
                   std::strerror(err));
        // Part of the batch may have gone in: cut it off, so that no record
        // of a refused batch is published and no torn line swallows the
        // next one. Failing that, end the torn line so it is skipped.
        if (::ftruncate(journal_fd_, static_cast<off_t>(written_.load())) != 0) {
            struct stat st {};
            if (::fstat(journal_fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > written_.load() &&
                write_all(journal_fd_, "\n", 1)) {
                written_ = static_cast<std::uint64_t>(st.st_size) + 1;
            }
        }
        return false;
    }
    written_ += buf.size();
    backlog_records_ += records;
    return true;
}

void share_sink::run_syncer() {
    const auto every = std::chrono::milliseconds(cfg_.sync_interval_ms);
    while (!stopping_.load()) {
        {
            std::unique_lock lock(mu_);
            sync_cv_.wait_for(lock, every, [this] { return stopping_.load(); });
        }
        if (written_.load() > synced_.load()) {
            sync_to(written_.load());
        }
    }
}

void share_sink::commit(std::uint64_t offset) {
    committed_ = offset;
    if (::pwrite(offset_fd_, &offset, sizeof offset, k_offset_at) != static_cast<ssize_t>(sizeof offset))
        log::warn("sink", "cannot record the journal offset: {}", std::strerror(errno));
}

// Sends the records from `offset` on and advances it past what Redis
// acknowledged (malformed lines count as done). Each batch is one MULTI/EXEC
// transaction: Redis takes all of it or none (a refusal such as OOM aborts the
// whole batch), so a retry neither repeats records nor reorders the stream.
share_sink::publish_status share_sink::publish_from(std::uint64_t& offset) {
    redisContext* c = static_cast<redisContext*>(redis_);
    const std::uint64_t end = written_.load();
    if (offset >= end) return publish_status::ok;
    // Whole lines only (append() writes whole batches, so there is always one
    // unless a single line is longer than the window: then read more).
    std::string chunk;
    for (std::size_t window = k_read_window;; window *= 2) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(end - offset, window));
        chunk.resize(want);
        const ssize_t got = ::pread(journal_fd_, chunk.data(), want, static_cast<off_t>(offset));
        if (got <= 0) return publish_status::ok;
        chunk.resize(static_cast<std::size_t>(got));
        if (chunk.find('\n') != std::string::npos || chunk.size() < want || want == end - offset) break;
    }

    struct line {
        std::uint64_t next;  // journal offset after the line
        bool sent;           // false: malformed, skipped
    };
    std::vector<line> lines;
    std::size_t pos = 0, sent = 0;
    record r;
    std::vector<const char*> argv;
    std::vector<std::size_t> argl;
    while (pos < chunk.size() && lines.size() < k_batch_records) {
        const std::size_t nl = chunk.find('\n', pos);
        if (nl == std::string::npos) break;
        const std::string_view text(chunk.data() + pos, nl - pos);
        if (record_from_json_line(text, r)) {
            if (sent++ == 0) redisAppendCommand(c, "MULTI");
            argv.assign({"XADD", cfg_.stream.c_str(), "*"});
            argl.assign({4, cfg_.stream.size(), 1});
            for (auto& [k, v] : r) {
                argv.push_back(k.data());
                argl.push_back(k.size());
                argv.push_back(v.data());
                argl.push_back(v.size());
            }
            // hiredis copies the arguments into its output buffer here.
            redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argl.data());
            lines.push_back({offset + nl + 1, true});
        } else {
            log::warn("sink", "skipping a malformed journal line at offset {}", offset + pos);
            lines.push_back({offset + nl + 1, false});
        }
        pos = nl + 1;
    }
    if (lines.empty()) return publish_status::ok;
    if (sent == 0) {  // nothing but malformed lines
        offset = lines.back().next;
        commit(offset);
        backlog_records_ -= std::min<std::uint64_t>(backlog_records_.load(), lines.size());
        return publish_status::ok;
    }
    redisAppendCommand(c, "EXEC");

    // Replies: +OK for MULTI, +QUEUED per XADD, then EXEC's array (or an error
    // when the transaction was refused). All are read, to stay in step.
    std::string refusal;
    redisReply* exec = nullptr;
    for (std::size_t i = 0; i < sent + 2; ++i) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK) return publish_status::lost;
        auto* rep = static_cast<redisReply*>(reply);
        if (rep && rep->type == REDIS_REPLY_ERROR && refusal.empty()) refusal.assign(rep->str, rep->len);
        if (i == sent + 1) {
            exec = rep;
        } else {
            freeReplyObject(reply);
        }
    }
    // What EXEC ran; a command failing inside it (which XADD with an id of
    // "*" does not do short of a wrong key type) ends the acknowledged prefix.
    std::size_t acked = 0;
    if (exec && exec->type == REDIS_REPLY_ARRAY && exec->elements == sent) {
        while (acked < sent && exec->element[acked]->type != REDIS_REPLY_ERROR) ++acked;
        if (acked < sent && refusal.empty()) refusal.assign(exec->element[acked]->str, exec->element[acked]->len);
    } else if (refusal.empty()) {
        refusal = "EXEC did not run the batch";
    }
    if (exec) freeReplyObject(exec);
    // [redis] wait_replicas: the batch must be on that many replicas before
    // the journal lets go of it, so that a promoted replica has every record
    // the journal no longer holds. Fewer: the offset stays and the batch goes
    // again on a fresh connection (the primary found anew), harmless by uid.
    if (acked > 0 && cfg_.wait.replicas > 0) {
        const redis::wait_answer w = redis::wait_for_replicas(c, cfg_.wait);
        if (w.lost) {
            return publish_status::lost;
        }
        if (!w.enough) {
            ++wait_shortfalls_;
            log::warn("sink",
                      "only {} of the {} replica(s) [redis] wait_replicas asks for acknowledged a batch of {} records "
                      "within {} ms; keeping them in the journal and sending them again (check the replicas: "
                      "INFO replication)",
                      w.acknowledged, cfg_.wait.replicas, acked, cfg_.wait.timeout_ms);
            return publish_status::unreplicated;
        }
    }
    std::uint64_t new_offset = offset;
    std::uint64_t consumed = 0;
    for (std::size_t i = 0, n = 0; i < lines.size(); ++i) {
        if (lines[i].sent && n++ >= acked) break;
        new_offset = lines[i].next;
        ++consumed;
    }
    backlog_records_ -= std::min<std::uint64_t>(backlog_records_.load(), consumed);
    published_ += acked;
    if (new_offset > offset) {
        offset = new_offset;
        commit(offset);
    }
    if (!refusal.empty()) {
        if (redis::is_failover_error(refusal)) {
            log::warn("sink", "Redis at {} is not the writable primary now ({}); finding the primary again",
                      redis_address_, refusal);
            return publish_status::failover;
        }
        log::error("sink", "Redis refused XADD to {}: {}", cfg_.stream, refusal);
        return publish_status::refused;
    }
    return publish_status::ok;
}

// Counts the records left in the journal by an earlier run (the lines from
// the committed offset to the size at start), for stats(). Runs on the
// publisher thread before it sends anything, so nothing is consumed meanwhile.
void share_sink::count_backlog_lines() {
    std::uint64_t pos = committed_.load();
    const std::uint64_t end = start_size_;
    std::uint64_t lines = 0;
    std::vector<char> buf(1u << 20);
    while (pos < end) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(end - pos, buf.size()));
        const ssize_t got = ::pread(journal_fd_, buf.data(), want, static_cast<off_t>(pos));
        if (got <= 0) break;
        lines += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + got, '\n'));
        pos += static_cast<std::uint64_t>(got);
    }
    backlog_records_ += lines;
}

void share_sink::run() {
    // Writing to a connection Redis has closed must fail with EPIPE, not kill
    // the process through SIGPIPE (hiredis writes with plain write()).
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

    count_backlog_lines();

    auto backoff = std::chrono::milliseconds(100);
    bool reported_down = false;
    bool refusing = false;  // Redis answers but refuses the batch: keep backing off across reconnects
    while (true) {
        retry_unwritten_blocks();
        if (!redis_) {
            // WAIT blocks up to wait_timeout_ms: the socket waits longer.
            const auto io = std::chrono::milliseconds(2000 + (cfg_.wait.replicas > 0 ? cfg_.wait.timeout_ms : 0));
            auto conn = redis::connect(cfg_.redis, io);
            if (conn) {
                redis_ = conn->ctx.release();
                redis_address_ = conn->address;
                ++redis_connects_;
                redis_up_ = true;
                if (!refusing) backoff = std::chrono::milliseconds(100);
                if (reported_down) {
                    log::info("sink", "Redis at {} is back ({}); sending the spooled backlog", redis_address_,
                              redis::describe(cfg_.redis));
                }
                reported_down = false;
            } else {
                if (!reported_down) {
                    log::warn("sink", "{}; spooling to {}/journal.log until it returns", conn.error_message(),
                              cfg_.spool_dir);
                }
                reported_down = true;
                redis_up_ = false;
            }
        }
        bool progressed = false, refused = false;
        if (redis_) {
            const std::uint64_t before = committed_.load();
            std::uint64_t offset = before;
            const publish_status st = publish_from(offset);
            progressed = offset > before;
            if (st == publish_status::lost || st == publish_status::failover) {
                if (!reported_down && st == publish_status::lost) {
                    log::warn("sink", "lost Redis at {} ({}); spooling to {}/journal.log", redis_address_,
                              static_cast<redisContext*>(redis_)->errstr, cfg_.spool_dir);
                }
                reported_down = true;
                redis_up_ = false;
            }
            // A WAIT shortfall backs off like a refusal: the replicas need time.
            refused = st == publish_status::refused || st == publish_status::unreplicated;
            refusing = refused || (refusing && !progressed);
            if (st != publish_status::ok) {
                // A fresh connection after a refusal too: no transaction state
                // can linger into the retry.
                redisFree(static_cast<redisContext*>(redis_));
                redis_ = nullptr;
            }
            if (progressed) backoff = std::chrono::milliseconds(100);
        }
        std::unique_lock lock(mu_);
        // A fully published, large journal starts again from zero (appends,
        // which take the same lock, go on at the new end).
        // Not while a flush runs (its target would outlive the rewind): the
        // next round does it.
        std::unique_lock sync_lock(sync_mu_, std::defer_lock);
        if (committed_ == written_ && written_ > cfg_.rewind_bytes && sync_lock.try_lock() &&
            ::ftruncate(journal_fd_, 0) == 0) {
            written_ = 0;
            synced_ = 0;
            commit(0);
        }
        if (sync_lock.owns_lock()) {
            sync_lock.unlock();
        }
        const bool caught_up = committed_.load() >= written_.load();
        const bool lost = !redis_ && !refused;
        if (stopping_ && (caught_up || lost || std::chrono::steady_clock::now() >= stop_deadline_)) break;
        if (!redis_ || refused || (!caught_up && !progressed)) {
            // Back off: Redis is away, refuses writes, or there was nothing
            // whole to send. New records do not cut this short; stop() does,
            // and a stopping sink waits no longer than its deadline.
            const bool was_stopping = stopping_.load();
            auto until = std::chrono::steady_clock::now() + backoff;
            if (was_stopping) until = std::min(until, stop_deadline_);
            cv_.wait_until(lock, until, [&] { return stopping_.load() && !was_stopping; });
            backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        } else if (caught_up) {
            cv_.wait_for(lock, std::chrono::milliseconds(200),
                         [this] { return stopping_.load() || written_.load() > committed_.load(); });
        }
    }
    if (redis_) redisFree(static_cast<redisContext*>(redis_));
    redis_ = nullptr;
    redis_up_ = false;
}

// One process per spool folder: two would append to one journal and publish
// it twice. flock() on spool_dir/lock, held until stop() or destruction; the
// kernel drops it when the process ends in any way (kill -9 included), so a
// lock file left behind never blocks a restart. The holder's pid is in the
// file, for the message.
result<bool> share_sink::lock() {
    const std::string path = cfg_.spool_dir + "/lock";
    lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lock_fd_ < 0) return error{path + ": " + std::strerror(errno) + " (check [redis] spool_dir)"};
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        std::string why = err == EWOULDBLOCK ? "spool_dir " + cfg_.spool_dir + " is in use by " +
                                                   lock_holder(lock_fd_) + ", which holds " + path +
                                                   "; stop it, or give each instance its own [redis] spool_dir"
                                             : path + ": cannot lock: " + std::strerror(err);
        unlock();
        return error{std::move(why)};
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
        log::warn("sink", "{}: cannot write this process's pid ({}); the lock holds all the same", path,
                  std::strerror(errno));
    }
    return true;
}

void share_sink::unlock() {
    if (lock_fd_ >= 0) ::close(lock_fd_);  // closing drops the flock
    lock_fd_ = -1;
}

void share_sink::stop(unsigned timeout_ms) {
    if (!thread_.joinable()) {
        unlock();
        return;
    }
    {
        std::lock_guard lock(mu_);
        stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        stopping_ = true;
    }
    cv_.notify_one();
    sync_cv_.notify_all();
    thread_.join();
    if (syncer_.joinable()) {
        syncer_.join();
    }
    if (cfg_.sync != journal_sync::none) {
        sync_to(written_.load());
    }
    {
        std::lock_guard lock(blocks_mu_);
        if (!write_unwritten_blocks()) {
            for (const auto& line : unwritten_blocks_) {
                log::error("sink",
                           "stopping with a block record NOT in the journal: add this line to {}/journal.log by hand "
                           "before the next start: {}",
                           cfg_.spool_dir, std::string_view(line).substr(0, line.size() - 1));
            }
        }
    }
    if (committed_.load() < written_.load())
        log::warn("sink", "{} journal bytes are not in Redis yet; they will be sent at the next start",
                  written_.load() - committed_.load());
    unlock();
}

sink_stats share_sink::stats() const {
    const std::uint64_t written = written_.load();
    return {published_.load(),       written - std::min(written, committed_.load()),
            redis_up_.load(),        appended_.load(),
            backlog_records_.load(), written,
            syncs_.load(),           synced_.load(),
            wait_shortfalls_.load(), redis_connects_.load()};
}

}  // namespace bmm::stratum
