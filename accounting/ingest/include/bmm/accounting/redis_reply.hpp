#pragma once
// hiredis replies and contexts as owned pointers, and reading the flat
// name/value arrays Redis answers XINFO with (and an entry's fields): one
// copy for the audit, the ledger keeper and the stream's trim.

#include "bmm/redis/connect.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::accounting {

// The owned pointers and the argv command are common/'s (bmm/redis/connect.hpp).
using redis_reply_ptr = redis::reply_ptr;
using redis_context_ptr = redis::context_ptr;

// One command from its arguments (binary-safe); null when the connection
// failed (the context's errstr says why).
inline redis_reply_ptr redis_command(redisContext* c, const std::vector<std::string>& args) {
    return redis::command(c, args);
}

// The value after `name` in a flat name/value array; null when `r` is not an
// array or has no such name.
inline const redisReply* redis_field(const redisReply* r, std::string_view name) {
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        return nullptr;
    }
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply* k = r->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            std::string_view(k->str, k->len) == name) {
            return r->element[i + 1];
        }
    }
    return nullptr;
}

// A string, status or integer reply as text; "" for anything else (or null).
inline std::string redis_text(const redisReply* r) {
    if (!r) {
        return "";
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        return std::to_string(r->integer);
    }
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? std::string(r->str, r->len) : "";
}

}  // namespace bmm::accounting
