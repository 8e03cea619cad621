#pragma once
// Notifications by webhook: each event is one JSON object POSTed to every
// configured URL, from a background thread, with a timeout per attempt and
// retries with exponential backoff. A notification that fails every attempt
// is logged (warn) and dropped: notifications never hold the pool up.
//
// The body: {"event":"block_found","time":1764680000,"source":"bmm-accountd",
// "data":{...}} (Content-Type: application/json). A receiver's 2xx is
// success; any other status, a refused connection or the timeout is retried.

#include "bmm/notify/settings.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bmm::notify {

// Counts since start (tests and logs).
struct webhook_stats {
    std::uint64_t queued = 0;
    std::uint64_t delivered = 0;  // (notification, URL) pairs answered 2xx
    std::uint64_t failed = 0;     // pairs dropped after every attempt
    std::uint64_t retries = 0;    // attempts after a first one
    std::uint64_t dropped = 0;    // not queued: the queue was full
};

class webhook {
public:
    // `source` names the sending program in every body ("bmm-accountd").
    webhook(webhook_settings s, std::string source);
    // Waits for the queue as flush(one attempt's timeout) would, then stops
    // (a retry still waiting is given up, logged).
    ~webhook();
    webhook(const webhook&) = delete;
    webhook& operator=(const webhook&) = delete;

    bool enabled() const noexcept { return !settings_.urls.empty(); }
    // Queues `event` with `data_json` (a JSON object's text, made with
    // bmm/json/writer.hpp) as its "data". Does nothing when disabled.
    void send(const std::string& event, const std::string& data_json);
    // Waits until every queued notification is delivered or given up, at
    // most `limit`; true when the queue is empty. For short-lived programs.
    bool flush(std::chrono::milliseconds limit);
    webhook_stats stats() const;

private:
    void run();
    bool post(const std::string& url, const std::string& body, std::string& why) const;

    webhook_settings settings_;
    std::string source_;
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::string> queue_;
    bool busy_ = false;
    bool stopping_ = false;
    webhook_stats stats_;
    std::thread thread_;
};

}  // namespace bmm::notify
