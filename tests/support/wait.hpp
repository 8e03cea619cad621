#pragma once
// Test support: bounded waits and the wall clock, for the tests that poll the
// real programs (their database rows, logs, processes) until something holds.

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

namespace bmm::test {

// Polls `done` every `poll` (200 ms) until it holds or `seconds` have passed;
// whether it held. A test that reports how long something took polls faster.
inline bool wait_until(const std::function<bool()>& done, int seconds,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(200)) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (done()) {
            return true;
        }
        std::this_thread::sleep_for(poll);
    }
    return done();
}

// The wall clock as Unix seconds and milliseconds (epochs, stream times).
inline std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
inline std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace bmm::test
