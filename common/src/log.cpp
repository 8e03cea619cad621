#include "bmm/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace bmm::log {
namespace {

std::atomic<int> g_level{static_cast<int>(level::info)};
// Where lines go: stderr, or the log file's descriptor (its number never
// changes once set: reopen() puts the new file under the same number).
std::atomic<int> g_fd{2};
// The log file's path for reopen(), written once before any signal can use it.
char g_path[4096] = {};

int open_log(const char* path) noexcept { return ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640); }

const char* name(level l) {
    switch (l) {
        case level::debug:
            return "debug";
        case level::info:
            return "info ";
        case level::warn:
            return "warn ";
        case level::error:
            return "error";
    }
    return "?    ";
}

}  // namespace

void set_level(level l) noexcept { g_level.store(static_cast<int>(l)); }

bool parse_level(std::string_view n, level& out) noexcept {
    if (n == "debug") {
        out = level::debug;
    } else if (n == "info") {
        out = level::info;
    } else if (n == "warn") {
        out = level::warn;
    } else if (n == "error") {
        out = level::error;
    } else {
        return false;
    }
    return true;
}

bool enabled(level l) noexcept { return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed); }

void write(level l, std::string_view component, std::string_view text) noexcept {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line = fmt::format("{}.{:03d}Z {} {}: {}\n", stamp, static_cast<int>(ms), name(l), component, text);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t n = ::write(g_fd.load(std::memory_order_relaxed), p, left);
        if (n <= 0) {
            break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

bool to_file(const std::string& path, std::string* why) {
    if (path.empty() || path.size() >= sizeof g_path) {
        if (why) {
            *why = "log file path must have 1 to " + std::to_string(sizeof g_path - 1) + " characters";
        }
        return false;
    }
    const int fd = open_log(path.c_str());
    if (fd < 0) {
        if (why) {
            *why = "cannot open log file " + path + ": " + std::strerror(errno) + " (check the folder and rights)";
        }
        return false;
    }
    std::memcpy(g_path, path.c_str(), path.size() + 1);
    const int old = g_fd.exchange(fd);
    if (old != 2) {
        ::close(old);
    }
    return true;
}

void reopen() noexcept {
    const int fd = g_fd.load();
    if (fd == 2 || g_path[0] == '\0') {
        return;
    }
    const int fresh = open_log(g_path);
    if (fresh < 0) {
        return;
    }
    ::dup3(fresh, fd, O_CLOEXEC);  // atomically: writers keep their descriptor number
    ::close(fresh);
}

bool rate_limiter::allow(unsigned long* suppressed) noexcept {
    const long long now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    long long start = window_start_.load();
    if (now - start >= period_.count() && window_start_.compare_exchange_strong(start, now)) {
        in_window_.store(0);
    }
    if (in_window_.fetch_add(1) < burst_) {
        if (suppressed) {
            *suppressed = dropped_.exchange(0);
        }
        return true;
    }
    dropped_.fetch_add(1);
    return false;
}

}  // namespace bmm::log
