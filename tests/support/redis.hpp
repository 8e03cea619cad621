#pragma once
// Test support: one connection to the test stack's Redis (stack.hpp, with its
// password) for the stream commands the tests use: XRANGE, XADD (pipelined,
// with Redis's ids or with ids of the records' own times), XLEN and a few
// one-off commands.

#include "stack.hpp"

#include <hiredis/hiredis.h>

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bmm::test {

// A stream entry: its id and its fields in the order Redis holds them.
struct stream_entry {
    std::string id;
    std::vector<std::pair<std::string, std::string>> fields;

    std::map<std::string, std::string> map() const { return {fields.begin(), fields.end()}; }
};

class redis_conn {
public:
    redisContext* c = nullptr;

    // Throws when the stack's Redis cannot be reached or refuses the password.
    redis_conn() {
        c = stack_redis();
        if (!c || c->err) {
            if (c) {
                redisFree(c);
            }
            throw std::runtime_error("cannot connect to the test Redis");
        }
    }
    ~redis_conn() { redisFree(c); }
    redis_conn(const redis_conn&) = delete;
    redis_conn& operator=(const redis_conn&) = delete;

    // XRANGE - +: every entry, oldest first.
    std::vector<stream_entry> entries(const std::string& stream) {
        std::vector<stream_entry> out;
        auto* r = static_cast<redisReply*>(redisCommand(c, "XRANGE %s - +", stream.c_str()));
        for (std::size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
            const redisReply* e = r->element[i];
            const redisReply* f = e->element[1];
            stream_entry out_e{std::string(e->element[0]->str, e->element[0]->len), {}};
            for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
                out_e.fields.emplace_back(std::string(f->element[k]->str, f->element[k]->len),
                                          std::string(f->element[k + 1]->str, f->element[k + 1]->len));
            }
            out.push_back(std::move(out_e));
        }
        if (r) {
            freeReplyObject(r);
        }
        return out;
    }
    // Every record of `stream` (field -> value), oldest first.
    std::vector<std::map<std::string, std::string>> records(const std::string& stream) {
        std::vector<std::map<std::string, std::string>> out;
        for (const auto& e : entries(stream)) {
            out.push_back(e.map());
        }
        return out;
    }

    // XADD of each record (pairs of field and value, in their order) with the
    // id Redis gives, pipelined 1,000 at a time; the last id. Throws when an
    // XADD fails.
    std::string xadd(const std::string& stream, const std::vector<std::map<std::string, std::string>>& rs) {
        return xadd_all(stream, rs);
    }
    std::string xadd(const std::string& stream,
                     const std::vector<std::vector<std::pair<std::string, std::string>>>& rs) {
        return xadd_all(stream, rs);
    }
    // XADD of each record with the id "<its time_ms>-<its index>", as if
    // bmm-stratum had written it live (a stream id's time is the share's
    // time); one at a time. Throws when an XADD fails.
    void xadd_at(const std::string& stream, const std::vector<std::map<std::string, std::string>>& rs) {
        xadd_at_all(stream, rs);
    }
    void xadd_at(const std::string& stream, const std::vector<std::vector<std::pair<std::string, std::string>>>& rs) {
        xadd_at_all(stream, rs);
    }
    // XLEN, or -1 without an integer answer.
    long long length(const std::string& stream) { return integer("XLEN %s", stream); }
    // A command of up to two string arguments (a hiredis format with %s);
    // its integer answer, or -1 without one.
    long long integer(const char* fmt, const std::string& a, const std::string& b = "") {
        auto* r = static_cast<redisReply*>(redisCommand(c, fmt, a.c_str(), b.c_str()));
        const long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        if (r) {
            freeReplyObject(r);
        }
        return v;
    }
    // A command given as its arguments; its status, string or error text
    // ("" when there is none).
    std::string run(const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<std::size_t> argl;
        for (const auto& a : args) {
            argv.push_back(a.c_str());
            argl.push_back(a.size());
        }
        auto* r =
            static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argl.data()));
        std::string out = r && r->str ? std::string(r->str, r->len) : "";
        if (r) {
            freeReplyObject(r);
        }
        return out;
    }

private:
    template <class Record>
    std::string xadd_all(const std::string& stream, const std::vector<Record>& rs) {
        std::string last;
        std::size_t queued = 0;
        for (std::size_t i = 0; i < rs.size(); ++i) {
            append_xadd(stream, "*", rs[i]);
            if (++queued == 1000 || i + 1 == rs.size()) {
                for (; queued; --queued) {
                    last = reply_id("XADD");
                }
            }
        }
        return last;
    }
    template <class Record>
    void xadd_at_all(const std::string& stream, const std::vector<Record>& rs) {
        for (std::size_t i = 0; i < rs.size(); ++i) {
            std::string time_ms;
            for (const auto& [k, v] : rs[i]) {
                if (k == "time_ms") {
                    time_ms = v;
                }
            }
            const std::string id = time_ms + "-" + std::to_string(i);
            append_xadd(stream, id, rs[i]);
            reply_id("XADD " + id);
        }
    }

    template <class Record>
    void append_xadd(const std::string& stream, const std::string& id, const Record& rec) {
        std::vector<const char*> argv = {"XADD", stream.c_str(), id.c_str()};
        std::vector<std::size_t> argl = {4, stream.size(), id.size()};
        for (const auto& [k, v] : rec) {
            argv.push_back(k.c_str());
            argl.push_back(k.size());
            argv.push_back(v.c_str());
            argl.push_back(v.size());
        }
        redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argl.data());
    }
    // The next pipelined reply, an id; throws `what` failed otherwise.
    std::string reply_id(const std::string& what) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK) {
            throw std::runtime_error(what + " failed");
        }
        auto* r = static_cast<redisReply*>(reply);
        const bool ok = r && r->type == REDIS_REPLY_STRING;
        std::string id = ok ? std::string(r->str, r->len) : std::string();
        if (r) {
            freeReplyObject(r);
        }
        if (!ok) {
            throw std::runtime_error(what + " failed");
        }
        return id;
    }
};

}  // namespace bmm::test
