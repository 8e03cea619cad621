#pragma once
// Logging: one line per event on stderr, "2026-11-24T16:55:32.123Z info  stratum: text",
// or to a file that SIGHUP reopens (for logrotate). Thread-safe (each line is one write). A rate limiter keeps floods
// (rejected shares, malformed lines) from drowning the log while still counting them.

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

namespace bmm::log {

enum class level : int { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(level l) noexcept;
bool parse_level(std::string_view name, level& out) noexcept;
bool enabled(level l) noexcept;
void write(level l, std::string_view component, std::string_view text) noexcept;

// Sends the log to `path` (appended to, created with mode 0640) instead of
// stderr. False, with *why set, when the file cannot be opened; the log then
// stays where it was.
bool to_file(const std::string& path, std::string* why);
// Opens the log file's path again and puts the new file in the old one's place
// (logrotate has moved the old one away): lines written from then on go to the
// new file, none is lost or split. Nothing when logging to stderr or when the
// path cannot be opened (the old file goes on). Async-signal-safe (open, dup2,
// close only), so a SIGHUP handler may call it.
void reopen() noexcept;

template <class... Args>
void debug(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    if (enabled(level::debug)) {
        write(level::debug, c, fmt::format(f, std::forward<Args>(a)...));
    }
}
template <class... Args>
void info(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    if (enabled(level::info)) {
        write(level::info, c, fmt::format(f, std::forward<Args>(a)...));
    }
}
template <class... Args>
void warn(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    if (enabled(level::warn)) {
        write(level::warn, c, fmt::format(f, std::forward<Args>(a)...));
    }
}
template <class... Args>
void error(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    if (enabled(level::error)) {
        write(level::error, c, fmt::format(f, std::forward<Args>(a)...));
    }
}

// Allows `burst` events per `period`; the first event after a suppressed run
// reports how many were suppressed. Thread-safe.
class rate_limiter {
public:
    rate_limiter(unsigned burst, std::chrono::milliseconds period) noexcept : burst_(burst), period_(period) {}
    // True when this event may be logged; *suppressed receives the count of
    // events dropped since the last one that was allowed.
    bool allow(unsigned long* suppressed) noexcept;

private:
    const unsigned burst_;
    const std::chrono::milliseconds period_;
    std::atomic<long long> window_start_{0};
    std::atomic<unsigned> in_window_{0};
    std::atomic<unsigned long> dropped_{0};
};

}  // namespace bmm::log
