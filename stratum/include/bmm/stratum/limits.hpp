#pragma once
// Admission control for bmm-stratum: connections per source address and in
// total, and bans. One table for the whole process, behind one mutex, used
// only when a connection is accepted, closed or banned: never on the share
// path. Ban scores themselves are kept per loop (ban_score, no lock); only
// the ban they lead to is shared, so a ban applies on every loop.

#include "bmm/stratum/config.hpp"

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace bmm::stratum {

// A score that halves every `half_life` seconds (exponential decay, updated
// lazily when points are added).
struct ban_score {
    double value = 0;
    double at = 0;  // when value was last brought up to date
    // Decays to `now`, adds `points`, returns the new value.
    double add(double points, double now, double half_life);
    // The value at `now` without changing anything.
    double value_at(double now, double half_life) const;
};

// A token bucket: `rate` tokens a second up to `burst`, starting full.
struct token_bucket {
    double tokens = -1;  // < 0: not used yet (full)
    double at = 0;       // when tokens was last brought up to date
    // Refills to `now` and takes one token; false (nothing taken) when empty.
    bool take(double rate, double burst, double now);
};

class admission {
public:
    explicit admission(const limits_config& limits) : limits_(limits) {}

    enum class verdict { admitted, banned, per_ip_full, total_full };
    // Decides on a new connection from `ip` at time `now` (seconds, any
    // monotonic clock) and, when admitted, counts it until release().
    verdict admit(const std::string& ip, double now);
    // A counted connection from `ip` has closed.
    void release(const std::string& ip);
    // Bans `ip` for limits.ban_seconds from `now`. True when it was not
    // banned already (so that a ban is logged once).
    bool ban(const std::string& ip, double now);
    bool banned(const std::string& ip, double now) const;
    std::size_t connections() const;
    std::size_t connections_from(const std::string& ip) const;

private:
    const limits_config limits_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::size_t> per_ip_;
    std::size_t total_ = 0;
    std::unordered_map<std::string, double> bans_;  // ip -> banned until
};

const char* to_string(admission::verdict v) noexcept;

}  // namespace bmm::stratum
