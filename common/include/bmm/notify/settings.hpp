#pragma once
// What a webhook notifier is configured with, and the events it sends
// (bmm/notify/webhook.hpp). Kept apart so that configurations need no threads.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bmm::notify {

// The events (their "event" field).
inline constexpr const char* k_block_found = "block_found";
inline constexpr const char* k_block_orphaned = "block_orphaned";
inline constexpr const char* k_block_mature = "block_mature";
inline constexpr const char* k_worker_offline = "worker_offline";
inline constexpr const char* k_payout_sent = "payout_sent";
inline constexpr const char* k_payout_failed = "payout_failed";

// [notify] in bmm-accountd's file (bmm-payout reads it too).
struct webhook_settings {
    std::vector<std::string> urls;            // none: notifications are off
    std::chrono::milliseconds timeout{5000};  // per attempt (connect and answer)
    int attempts = 5;                         // in all, the first included
    std::chrono::milliseconds backoff{1000};  // before the second attempt; doubles after each
    std::chrono::milliseconds max_backoff{60000};
    std::size_t max_queue = 1000;              // notifications waiting; more are dropped (logged)
    std::int64_t worker_offline_minutes = 10;  // worker_offline: no share for this long
    std::int64_t worker_check_seconds = 60;    // how often bmm-accountd looks for them
};

}  // namespace bmm::notify
