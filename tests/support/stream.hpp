#pragma once
// Test support: the records of a Redis stream on the test stack (stack.hpp),
// as bmm-stratum's share sink wrote them.

#include "stack.hpp"

#include <hiredis/hiredis.h>

#include <map>
#include <string>
#include <vector>

namespace bmm::test {

using stream_record = std::map<std::string, std::string>;

// Every record of `stream` (field -> value), oldest first; empty when Redis
// cannot be reached.
inline std::vector<stream_record> read_stream(const std::string& stream) {
    std::vector<stream_record> out;
    redisContext* c = bmm::test::stack_redis();
    if (!c || c->err) {
        if (c) redisFree(c);
        return out;
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, "XRANGE %s - +", stream.c_str()));
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i < r->elements; ++i) {
            const redisReply* fields = r->element[i]->element[1];
            stream_record m;
            for (std::size_t k = 0; k + 1 < fields->elements; k += 2)
                m[fields->element[k]->str] = fields->element[k + 1]->str;
            out.push_back(std::move(m));
        }
    }
    if (r) freeReplyObject(r);
    redisFree(c);
    return out;
}

}  // namespace bmm::test
