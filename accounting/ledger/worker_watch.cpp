// worker_offline notifications (see worker_watch.hpp).

#include "worker_watch.hpp"

#include "bmm/json/writer.hpp"
#include "bmm/log.hpp"

#include <set>

namespace bmm::accounting {

result<std::size_t> worker_watch::step(pg::connection& db, std::int64_t now_ms) {
    if (!webhook_.enabled()) {
        return std::size_t{0};
    }
    if (last_look_ms_ >= 0 && now_ms - last_look_ms_ < cfg_.notify.worker_check_seconds * 1000) {
        return std::size_t{0};
    }
    const bool first = last_look_ms_ < 0;
    last_look_ms_ = now_ms;
    const std::int64_t limit_s = cfg_.notify.worker_offline_minutes * 60;
    // The end of each worker's last minute with accepted shares, looking back
    // the limit and an hour more (older ones were reported, or never online).
    auto r = db.exec(
        "SELECT coin, account, worker, extract(epoch FROM max(minute))::bigint + 60 FROM share_minutes"
        " WHERE minute >= to_timestamp($1::bigint / 1000.0) - make_interval(secs => $2::bigint + 3600)"
        " AND accepted > 0 GROUP BY coin, account, worker",
        {std::to_string(now_ms), std::to_string(limit_s)});
    if (!r) {
        return error{"worker_offline: " + r.error_message()};
    }
    const std::int64_t now_s = now_ms / 1000;
    std::map<key, std::int64_t> seen;
    for (int i = 0; i < r->rows(); ++i) {
        seen[{r->text(i, 0), r->text(i, 1), r->text(i, 2)}] = std::stoll(r->text(i, 3));
    }
    std::size_t sent = 0;
    for (auto it = online_.begin(); it != online_.end();) {
        const auto s = seen.find(it->first);
        const std::int64_t last = s == seen.end() ? it->second : std::max(it->second, s->second);
        if (now_s - last >= limit_s) {
            const auto& [coin, account, worker] = it->first;
            json::writer w;
            w.begin_object();
            w.key("coin").str(coin);
            w.key("account").str(account);
            w.key("worker").str(worker);
            w.key("last_share_before").number(last);
            w.key("offline_minutes").number(cfg_.notify.worker_offline_minutes);
            w.end_object();
            webhook_.send(notify::k_worker_offline, w.take());
            log::info("notify", "worker {}.{} ({}) offline: no accepted share for {} min", account, worker, coin,
                      cfg_.notify.worker_offline_minutes);
            ++sent;
            it = online_.erase(it);
        } else {
            it->second = last;
            ++it;
        }
    }
    for (const auto& [k, last] : seen) {
        if (now_s - last < limit_s) {
            online_.emplace(k, last);  // (re)joined; a known one was updated above
        }
    }
    if (first) {
        log::info("notify", "watching {} online worker(s) for worker_offline ({} min without shares)", online_.size(),
                  cfg_.notify.worker_offline_minutes);
    }
    return sent;
}

}  // namespace bmm::accounting
