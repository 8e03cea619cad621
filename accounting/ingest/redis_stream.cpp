#include "bmm/accounting/redis_stream.hpp"

#include "bmm/accounting/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>

namespace bmm::accounting {

bool stream_id::parse(std::string_view text, stream_id& out) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return false;
    const char* b = text.data();
    auto r1 = std::from_chars(b, b + dash, out.ms);
    auto r2 = std::from_chars(b + dash + 1, b + text.size(), out.seq);
    return r1.ec == std::errc() && r1.ptr == b + dash && r2.ec == std::errc() && r2.ptr == b + text.size() && dash > 0;
}

std::string stream_id::to_string() const {
    std::string s = std::to_string(ms);
    s += '-';
    s += std::to_string(seq);
    return s;
}

redis_stream::redis_stream(redis::settings conn, std::string stream, std::string group, std::string consumer)
    : conn_(std::move(conn)), stream_(std::move(stream)), group_(std::move(group)), consumer_(std::move(consumer)) {}

redis_stream::~redis_stream() { disconnect(); }

void redis_stream::disconnect() noexcept {
    if (c_) redisFree(c_);
    c_ = nullptr;
}

std::string redis_stream::describe() const {
    std::string s = redis::describe(conn_);
    s += " stream ";
    s += stream_;
    return s;
}

// Reply objects of XREADGROUP from a bump arena instead of two malloc calls
// per node: a round of 10,000 share entries is ~720,000 nodes, and building
// and freeing them with malloc was the largest client-side cost of a read
// (perf: malloc, free and consolidation ~35 % of the process). The nodes are
// plain redisReply structs, so the reply is walked as before; the arena is
// reset at the next read. Installed on the connection's reader only for the
// duration of one read, so that every other reply is hiredis' own.
struct reply_arena {
    std::vector<std::unique_ptr<char[]>> blocks;
    std::size_t block_size = 1 << 20, used = 0, cap = 0;
    std::size_t next = 0;  // index of the block to use when `blocks` has more (after a reset)

    void reset() {
        next = 0;
        used = cap = 0;
    }
    void* alloc(std::size_t n) {
        n = (n + 15) & ~std::size_t{15};
        if (used + n > cap) {
            const std::size_t size = std::max(block_size, n);
            if (next < blocks.size() && size == block_size) {
                ++next;
            } else {
                blocks.insert(blocks.begin() + static_cast<std::ptrdiff_t>(next), std::make_unique<char[]>(size));
                ++next;
            }
            used = 0;
            cap = size;
        }
        void* p = blocks[next - 1].get() + used;
        used += n;
        return p;
    }
};

namespace {

thread_local reply_arena* t_arena = nullptr;

redisReply* arena_node(const redisReadTask* task, int type) {
    auto* r = static_cast<redisReply*>(t_arena->alloc(sizeof(redisReply)));
    std::memset(r, 0, sizeof(redisReply));
    r->type = type;
    if (task->parent) {
        auto* parent = static_cast<redisReply*>(task->parent->obj);
        parent->element[task->idx] = r;
    }
    return r;
}

void* arena_string(const redisReadTask* task, char* str, std::size_t len) {
    redisReply* r = arena_node(task, task->type);
    auto* buf = static_cast<char*>(t_arena->alloc(len + 1));
    std::memcpy(buf, str, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

void* arena_array(const redisReadTask* task, int elements) {
    redisReply* r = arena_node(task, REDIS_REPLY_ARRAY);
    if (elements > 0) {
        r->element =
            static_cast<redisReply**>(t_arena->alloc(sizeof(redisReply*) * static_cast<std::size_t>(elements)));
        std::memset(r->element, 0, sizeof(redisReply*) * static_cast<std::size_t>(elements));
    }
    r->elements = static_cast<std::size_t>(elements > 0 ? elements : 0);
    return r;
}

void* arena_integer(const redisReadTask* task, long long value) {
    redisReply* r = arena_node(task, REDIS_REPLY_INTEGER);
    r->integer = value;
    return r;
}

void* arena_nil(const redisReadTask* task) { return arena_node(task, REDIS_REPLY_NIL); }

void arena_free(void*) {}  // freed with the arena

redisReplyObjectFunctions arena_functions{arena_string, arena_array, arena_integer, arena_nil, arena_free};

// Uses the arena for the replies read while it lives.
struct arena_scope {
    redisContext* c;
    redisReplyObjectFunctions* saved;
    arena_scope(redisContext* ctx, reply_arena& a) : c(ctx), saved(ctx->reader->fn) {
        a.reset();
        t_arena = &a;
        c->reader->fn = &arena_functions;
    }
    ~arena_scope() {
        // A reply cut short (timeout, connection lost) stays in the reader
        // and would be freed with hiredis' own free: drop it here (read()
        // disconnects after any failed read).
        c->reader->reply = nullptr;
        c->reader->fn = saved;
        t_arena = nullptr;
    }
    arena_scope(const arena_scope&) = delete;
    arena_scope& operator=(const arena_scope&) = delete;
};

struct reply_ptr {
    redisReply* r = nullptr;
    ~reply_ptr() {
        if (r) freeReplyObject(r);
    }
};

}  // namespace

result<bool> redis_stream::connect() {
    disconnect();
    // Socket timeout: above the longest BLOCK we ask for (set_io_timeout). Through Sentinel
    // the primary is looked up again at every connect: a failover is followed
    // by the reconnect that the lost connection (or a READONLY) leads to.
    auto conn = redis::connect(conn_, std::chrono::milliseconds(io_timeout_ms_));
    if (!conn) {
        return error{conn.error_message() + " (reading stream " + stream_ + ")"};
    }
    c_ = conn->ctx.release();
    const char* argv[] = {"XGROUP", "CREATE", stream_.c_str(), group_.c_str(), "0", "MKSTREAM"};
    const std::size_t argl[] = {6, 6, stream_.size(), group_.size(), 1, 8};
    reply_ptr rep{static_cast<redisReply*>(redisCommandArgv(c_, 6, argv, argl))};
    if (!rep.r) {
        std::string msg = c_->errstr;
        disconnect();
        return error{describe() + ": XGROUP CREATE failed: " + msg};
    }
    if (rep.r->type == REDIS_REPLY_ERROR && std::strncmp(rep.r->str, "BUSYGROUP", 9) != 0) {
        std::string msg(rep.r->str, rep.r->len);
        disconnect();
        return error{describe() + ": XGROUP CREATE failed: " + msg};
    }
    return true;
}

result<std::size_t> redis_stream::read(std::string_view from, int count, int block_ms,
                                       const std::function<void(const stream_entry_view&)>& each) {
    if (!c_) return error{describe() + ": not connected"};
    const std::string cnt = std::to_string(count), blk = std::to_string(block_ms), f(from);
    std::vector<const char*> argv = {"XREADGROUP", "GROUP", group_.c_str(), consumer_.c_str(), "COUNT", cnt.c_str()};
    std::vector<std::size_t> argl = {10, 5, group_.size(), consumer_.size(), 5, cnt.size()};
    if (block_ms > 0) {
        argv.insert(argv.end(), {"BLOCK", blk.c_str()});
        argl.insert(argl.end(), {5, blk.size()});
    }
    argv.insert(argv.end(), {"STREAMS", stream_.c_str(), f.c_str()});
    argl.insert(argl.end(), {7, stream_.size(), f.size()});
    if (!arena_) arena_ = std::make_shared<reply_arena>();
    std::optional<arena_scope> scope(std::in_place, c_, *arena_);
    struct {
        redisReply* r;
    } rep{static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), argl.data()))};
    scope.reset();  // the reply stays valid until the next read resets the arena
    if (!rep.r) {
        std::string msg = c_->errstr;
        disconnect();
        return error{describe() + ": XREADGROUP failed: " + msg};
    }
    if (rep.r->type == REDIS_REPLY_ERROR) {
        std::string msg(rep.r->str, rep.r->len);
        // The group vanished (stream deleted, Redis restarted without its data):
        // reconnecting creates it again.
        if (msg.rfind("NOGROUP", 0) == 0) disconnect();
        return error{describe() + ": XREADGROUP failed: " + msg};
    }
    if (rep.r->type == REDIS_REPLY_NIL) return std::size_t{0};  // BLOCK timed out
    // [[stream, [[id, [k, v, ...]], ...]]]
    if (rep.r->type != REDIS_REPLY_ARRAY || rep.r->elements < 1) return std::size_t{0};
    const redisReply* s = rep.r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 || s->element[1]->type != REDIS_REPLY_ARRAY)
        return error{describe() + ": XREADGROUP gave an unexpected reply"};
    if (auto w = wait_for_replicas("XREADGROUP", s->element[1]->elements); !w) {
        return error{w.error_message()};
    }
    return each_entry(s->element[1], "XREADGROUP", each);
}

result<bool> redis_stream::wait_for_replicas(const char* command, std::size_t entries) {
    if (wait_.replicas <= 0 || entries == 0) {
        return true;
    }
    // WAIT counts the replicas that acknowledged this connection's replication
    // offset: the primary's offset after this connection's last command that
    // was replicated. A read that changes no group state (the pending entries
    // read again on a new connection, a claim of nothing new) replicates
    // nothing, and WAIT would count replicas that never had the entries; so a
    // small marker key (same hash tag as the stream, expiring) is written first:
    // the offset is then past every entry read. The reply of the read lives in
    // the arena, untouched by these (hiredis' own objects).
    redis::reply_ptr m = redis::command(c_, {"SET", stream_ + ":wait:" + group_ + ":" + consumer_, "1", "PX", "60000"});
    if (!m || m->type == REDIS_REPLY_ERROR) {
        std::string msg = m ? std::string(m->str, m->len) : std::string(c_->errstr);
        disconnect();
        return error{describe() + ": the marker write before WAIT after " + command + " failed: " + msg};
    }
    const redis::wait_answer w = redis::wait_for_replicas(c_, wait_);
    if (w.lost) {
        disconnect();
        return error{describe() + ": WAIT after " + command + " failed: " + w.acknowledged};
    }
    if (!w.enough) {
        disconnect();
        return error{describe() + ": " + std::to_string(entries) + " entries read with " + command +
                     " are not known to be on a replica (WAIT " + std::to_string(wait_.replicas) + " " +
                     std::to_string(wait_.timeout_ms) + " answered " + w.acknowledged +
                     ", [redis] wait_replicas): this primary may be cut off from its replicas and lose them in a "
                     "failover, so they are not stored now; they stay pending and are read again after looking "
                     "the primary up again"};
    }
    return true;
}

// Calls `each` for the entries of an XREADGROUP or XAUTOCLAIM reply:
// [[id, [k, v, ...]], ...], where a pending entry deleted from the stream
// comes as [id, nil] (or, from older servers, as a nil).
result<std::size_t> redis_stream::each_entry(const void* list, const char* command,
                                             const std::function<void(const stream_entry_view&)>& each) {
    const auto* entries = static_cast<const redisReply*>(list);
    field_list fields;
    std::size_t n = 0;
    for (std::size_t i = 0; i < entries->elements; ++i) {
        const redisReply* e = entries->element[i];
        if (e->type == REDIS_REPLY_NIL) continue;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING)
            return error{describe() + ": " + command + " gave an unexpected entry"};
        const std::string_view idt(e->element[0]->str, e->element[0]->len);
        stream_id id;
        if (!stream_id::parse(idt, id)) return error{describe() + ": bad stream id " + std::string(idt)};
        fields.clear();
        bool deleted = e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY;
        if (!deleted) {
            const redisReply* kv = e->element[1];
            for (std::size_t k = 0; k + 1 < kv->elements; k += 2)
                fields.emplace_back(std::string_view(kv->element[k]->str, kv->element[k]->len),
                                    std::string_view(kv->element[k + 1]->str, kv->element[k + 1]->len));
        }
        each(stream_entry_view{idt, id, fields, deleted});
        ++n;
    }
    return n;
}

result<std::size_t> redis_stream::claim(int min_idle_ms, std::string& cursor, int count,
                                        const std::function<void(const stream_entry_view&)>& each) {
    if (!c_) return error{describe() + ": not connected"};
    const std::string idle = std::to_string(min_idle_ms), cnt = std::to_string(count), from = cursor;
    const char* argv[] = {"XAUTOCLAIM", stream_.c_str(), group_.c_str(), consumer_.c_str(),
                          idle.c_str(), from.c_str(),    "COUNT",        cnt.c_str()};
    const std::size_t argl[] = {10, stream_.size(), group_.size(), consumer_.size(), idle.size(), from.size(),
                                5,  cnt.size()};
    if (!arena_) arena_ = std::make_shared<reply_arena>();
    std::optional<arena_scope> scope(std::in_place, c_, *arena_);
    auto* r = static_cast<redisReply*>(redisCommandArgv(c_, 8, argv, argl));
    scope.reset();  // the reply stays valid until the next read or claim resets the arena
    if (!r) {
        std::string msg = c_->errstr;
        disconnect();
        return error{describe() + ": XAUTOCLAIM failed: " + msg};
    }
    if (r->type == REDIS_REPLY_ERROR) {
        std::string msg(r->str, r->len);
        if (msg.rfind("NOGROUP", 0) == 0) disconnect();
        return error{describe() + ": XAUTOCLAIM failed: " + msg};
    }
    // [next-cursor, [[id, [k, v, ...]], ...], [deleted ids]]
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        return error{describe() + ": XAUTOCLAIM gave an unexpected reply"};
    cursor.assign(r->element[0]->str, r->element[0]->len);
    if (auto w = wait_for_replicas("XAUTOCLAIM", r->element[1]->elements); !w) {
        return error{w.error_message()};
    }
    return each_entry(r->element[1], "XAUTOCLAIM", each);
}

result<std::size_t> redis_stream::trim_acknowledged(std::uint64_t now_ms, std::uint64_t keep_ms) {
    if (!c_) {
        return error{describe() + ": not connected"};
    }
    std::string failure;
    // One command; null (and `failure` set) when it fails.
    auto command = [&](const std::vector<std::string>& args) -> redis_reply_ptr {
        redis_reply_ptr rep = redis_command(c_, args);
        if (!rep) {
            failure = describe() + ": " + args[0] + " failed: " + c_->errstr;
            disconnect();
        } else if (rep->type == REDIS_REPLY_ERROR) {
            failure = describe() + ": " + args[0] + " failed: " + std::string(rep->str, rep->len);
            rep.reset();
        }
        return rep;
    };
    // The newest entry that may go: older than keep_ms.
    stream_id keep_from{now_ms > keep_ms ? now_ms - keep_ms : 0, 0};
    stream_id min_id = keep_from;
    auto groups = command({"XINFO", "GROUPS", stream_});
    if (!groups) {
        return error{failure};
    }
    const redisReply* g = groups.get();
    if (g->type != REDIS_REPLY_ARRAY || g->elements == 0) {
        return std::size_t{0};  // no group: keep everything
    }
    for (std::size_t i = 0; i < g->elements; ++i) {
        const redisReply* info = g->element[i];
        const std::string name = redis_text(redis_field(info, "name"));
        const std::string last = redis_text(redis_field(info, "last-delivered-id"));
        const redisReply* pending_field = redis_field(info, "pending");
        const long long pending =
            pending_field && pending_field->type == REDIS_REPLY_INTEGER ? pending_field->integer : 0;
        stream_id needed;
        if (pending > 0) {
            // XPENDING's summary: [count, smallest id, greatest id, consumers].
            auto p = command({"XPENDING", stream_, name});
            if (!p) {
                return error{failure};
            }
            const redisReply* pr = p.get();
            if (pr->type != REDIS_REPLY_ARRAY || pr->elements < 2 || pr->element[1]->type != REDIS_REPLY_STRING ||
                !stream_id::parse(std::string_view(pr->element[1]->str, pr->element[1]->len), needed)) {
                return error{describe() + ": XPENDING of group " + name + " gave an unexpected reply"};
            }
        } else {
            if (!stream_id::parse(last, needed)) {
                return error{describe() + ": XINFO GROUPS gave group " + name + " no readable last-delivered-id"};
            }
            needed.seq += 1;  // everything up to the last delivered one is acknowledged
        }
        min_id = std::min(min_id, needed);
    }
    if (min_id == stream_id{}) {
        return std::size_t{0};
    }
    auto trimmed = command({"XTRIM", stream_, "MINID", min_id.to_string()});
    if (!trimmed) {
        return error{failure};
    }
    return static_cast<std::size_t>(trimmed->type == REDIS_REPLY_INTEGER ? trimmed->integer : 0);
}

result<bool> redis_stream::ack(const std::vector<std::string>& ids, bool del) {
    if (ids.empty()) return true;
    if (!c_) return error{describe() + ": not connected"};
    std::vector<const char*> argv = {"XACK", stream_.c_str(), group_.c_str()};
    std::vector<std::size_t> argl = {4, stream_.size(), group_.size()};
    for (const auto& id : ids) {
        argv.push_back(id.c_str());
        argl.push_back(id.size());
    }
    redisAppendCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), argl.data());
    if (del) {
        argv.erase(argv.begin(), argv.begin() + 3);
        argl.erase(argl.begin(), argl.begin() + 3);
        argv.insert(argv.begin(), {"XDEL", stream_.c_str()});
        argl.insert(argl.begin(), {4, stream_.size()});
        redisAppendCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), argl.data());
    }
    for (int i = 0; i < (del ? 2 : 1); ++i) {
        void* r = nullptr;
        if (redisGetReply(c_, &r) != REDIS_OK) {
            std::string msg = c_->errstr;
            disconnect();
            return error{describe() + ": XACK failed: " + msg};
        }
        reply_ptr rep{static_cast<redisReply*>(r)};
        if (rep.r->type == REDIS_REPLY_ERROR)
            return error{describe() + ": XACK failed: " + std::string(rep.r->str, rep.r->len)};
    }
    return true;
}

}  // namespace bmm::accounting
