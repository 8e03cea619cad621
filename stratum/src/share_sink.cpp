#include "bmm/stratum/share_sink.hpp"

#include "bmm/log.hpp"
#include "bmm/node/rpc.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace bmm::stratum {
namespace {

constexpr std::size_t k_batch_records = 512;
constexpr std::uint64_t k_truncate_at = 64ull << 20;  // rewind a fully published journal past 64 MiB

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

}  // namespace

std::string record_to_json_line(const record& r) {
    std::string s = "{";
    for (std::size_t i = 0; i < r.size(); ++i) {
        if (i) s += ',';
        s += '"';
        s += node::json_escape(r[i].first);
        s += "\":\"";
        s += node::json_escape(r[i].second);
        s += '"';
    }
    s += "}\n";
    return s;
}

bool record_from_json_line(std::string_view line, record& out) {
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (parser.parse(line.data(), line.size()).get(obj)) return false;
    out.clear();
    for (auto [k, v] : obj) {
        std::string_view sv;
        if (v.get(sv)) return false;
        out.emplace_back(std::string(k), std::string(sv));
    }
    return true;
}

share_sink::share_sink(sink_config c) : cfg_(std::move(c)) {}

share_sink::~share_sink() {
    stop(0);
    if (journal_fd_ >= 0) ::close(journal_fd_);
    if (offset_fd_ >= 0) ::close(offset_fd_);
}

result<bool> share_sink::start() {
    std::error_code ec;
    std::filesystem::create_directories(cfg_.spool_dir, ec);
    if (ec) return error{"spool_dir " + cfg_.spool_dir + ": " + ec.message()};
    const std::string journal = cfg_.spool_dir + "/journal.log", offset = cfg_.spool_dir + "/journal.offset";
    journal_fd_ = ::open(journal.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (journal_fd_ < 0) return error{journal + ": " + std::strerror(errno) + " (check [redis] spool_dir)"};
    offset_fd_ = ::open(offset.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (offset_fd_ < 0) return error{offset + ": " + std::strerror(errno)};
    std::uint64_t committed = 0;
    if (::pread(offset_fd_, &committed, sizeof committed, 0) != static_cast<ssize_t>(sizeof committed)) committed = 0;
    struct stat st {};
    ::fstat(journal_fd_, &st);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (committed > size) committed = size;
    committed_ = committed;
    written_ = size;
    boot_ = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    if (size > committed)
        log::info("sink", "journal {} holds {} bytes not yet in Redis: replaying them", journal, size - committed);
    thread_ = std::thread([this] { run(); });
    return true;
}

bool share_sink::append(std::vector<record>& records) {
    if (records.empty()) return true;
    std::string buf;
    for (auto& r : records) {
        r.emplace_back("uid", std::to_string(cfg_.instance_id) + ":" + boot_ + ":" + std::to_string(seq_++));
        buf += record_to_json_line(r);
    }
    {
        std::lock_guard lock(mu_);
        if (!write_all(journal_fd_, buf.data(), buf.size())) {
            log::error("sink", "cannot append to the journal in {}: {}; verdicts cannot be kept", cfg_.spool_dir,
                       std::strerror(errno));
            return false;
        }
        written_ += buf.size();
    }
    cv_.notify_one();
    return true;
}

void share_sink::commit(std::uint64_t offset) {
    committed_ = offset;
    if (::pwrite(offset_fd_, &offset, sizeof offset, 0) != static_cast<ssize_t>(sizeof offset))
        log::warn("sink", "cannot record the journal offset: {}", std::strerror(errno));
}

// Sends records from `offset` on; advances it past what Redis acknowledged.
// Returns false when Redis failed.
bool share_sink::publish_from(std::uint64_t& offset) {
    redisContext* c = static_cast<redisContext*>(redis_);
    const std::uint64_t end = written_.load();
    if (offset >= end) return true;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(end - offset, 4u << 20));
    std::string chunk(want, '\0');
    const ssize_t got = ::pread(journal_fd_, chunk.data(), want, static_cast<off_t>(offset));
    if (got <= 0) return true;
    chunk.resize(static_cast<std::size_t>(got));
    // Whole lines only; a line still being written is picked up next time.
    std::size_t pos = 0, sent = 0;
    std::vector<std::size_t> line_ends;
    record r;
    std::vector<const char*> argv;
    std::vector<std::size_t> argl;
    while (pos < chunk.size() && line_ends.size() < k_batch_records) {
        const std::size_t nl = chunk.find('\n', pos);
        if (nl == std::string::npos) break;
        const std::string_view line(chunk.data() + pos, nl - pos);
        if (record_from_json_line(line, r)) {
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
            ++sent;
        } else {
            log::warn("sink", "skipping a malformed journal line at offset {}", offset + pos);
        }
        line_ends.push_back(nl + 1);
        pos = nl + 1;
    }
    for (std::size_t i = 0; i < sent; ++i) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK) return false;
        const auto* rep = static_cast<redisReply*>(reply);
        const bool bad = rep && rep->type == REDIS_REPLY_ERROR;
        if (bad) log::error("sink", "Redis refused XADD to {}: {}", cfg_.stream, rep->str);
        freeReplyObject(reply);
        if (bad) return false;
    }
    if (!line_ends.empty()) {
        offset += line_ends.back();
        published_ += sent;
        commit(offset);
    }
    return true;
}

void share_sink::run() {
    auto backoff = std::chrono::milliseconds(100);
    bool reported_down = false;
    while (true) {
        if (!redis_) {
            timeval tv{2, 0};
            redisContext* c = redisConnectWithTimeout(cfg_.redis_host.c_str(), cfg_.redis_port, tv);
            if (c && !c->err) {
                redisSetTimeout(c, tv);
                redis_ = c;
                redis_up_ = true;
                backoff = std::chrono::milliseconds(100);
                if (reported_down)
                    log::info("sink", "Redis at {}:{} is back; sending the spooled backlog", cfg_.redis_host,
                              cfg_.redis_port);
                reported_down = false;
            } else {
                if (!reported_down)
                    log::warn("sink", "Redis at {}:{} is unreachable ({}); spooling to {}/journal.log until it returns",
                              cfg_.redis_host, cfg_.redis_port, c ? c->errstr : "out of memory", cfg_.spool_dir);
                reported_down = true;
                if (c) redisFree(c);
                redis_up_ = false;
            }
        }
        std::uint64_t offset = committed_.load();
        if (redis_ && !publish_from(offset)) {
            if (!reported_down)
                log::warn("sink", "lost Redis at {}:{} ({}); spooling to {}/journal.log", cfg_.redis_host,
                          cfg_.redis_port, static_cast<redisContext*>(redis_)->errstr, cfg_.spool_dir);
            reported_down = true;
            redisFree(static_cast<redisContext*>(redis_));
            redis_ = nullptr;
            redis_up_ = false;
        }
        std::unique_lock lock(mu_);
        // A fully published, large journal starts again from zero.
        if (committed_ == written_ && written_ > k_truncate_at && ::ftruncate(journal_fd_, 0) == 0) {
            written_ = 0;
            commit(0);
        }
        const bool caught_up = committed_.load() >= written_.load();
        if (stopping_ && (caught_up || !redis_ || std::chrono::steady_clock::now() >= stop_deadline_)) break;
        if (!redis_) {
            cv_.wait_for(lock, backoff, [this] { return stopping_.load(); });
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

void share_sink::stop(unsigned timeout_ms) {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mu_);
        stop_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
    if (committed_.load() < written_.load())
        log::warn("sink", "{} journal bytes are not in Redis yet; they will be sent at the next start",
                  written_.load() - committed_.load());
}

sink_stats share_sink::stats() const {
    return {published_.load(), written_.load() - std::min(written_.load(), committed_.load()), redis_up_.load()};
}

}  // namespace bmm::stratum
