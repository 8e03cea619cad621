#pragma once
// worker_offline notifications: a worker (account.worker on a coin) that had
// accepted shares within [notify] worker_offline_minutes and then none for
// that long is reported once, by the ledger thread (share_minutes, every
// [notify] worker_check_seconds). The first look after start only learns who
// is online: a restart reports nobody.

#include "bmm/accounting/config.hpp"
#include "bmm/notify/webhook.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace bmm::accounting {

class worker_watch {
public:
    worker_watch(const accountd_config& cfg, notify::webhook& w) : cfg_(cfg), webhook_(w) {}
    // Looks when worker_check_seconds have passed since the last look;
    // returns how many went offline (and were sent).
    result<std::size_t> step(pg::connection& db, std::int64_t now_ms);

private:
    using key = std::tuple<std::string, std::string, std::string>;  // coin, account, worker
    const accountd_config& cfg_;
    notify::webhook& webhook_;
    std::map<key, std::int64_t> online_;  // -> the end of its last minute with an accepted share (Unix s)
    std::int64_t last_look_ms_ = -1;
};

}  // namespace bmm::accounting
