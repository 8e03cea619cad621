// Admission control and ban scores; see limits.hpp.

#include "bmm/stratum/limits.hpp"

#include <cmath>

namespace bmm::stratum {

double ban_score::value_at(double now, double half_life) const {
    if (value <= 0 || now <= at || half_life <= 0) return half_life <= 0 ? 0 : value;
    return value * std::exp2(-(now - at) / half_life);
}

double ban_score::add(double points, double now, double half_life) {
    value = value_at(now, half_life) + points;
    if (now > at) at = now;
    return value;
}

bool token_bucket::take(double rate, double burst, double now) {
    if (tokens < 0) {
        tokens = burst;
    } else if (now > at) {
        tokens = std::min(burst, tokens + (now - at) * rate);
    }
    if (now > at) {
        at = now;
    }
    if (tokens < 1) {
        return false;
    }
    tokens -= 1;
    return true;
}

admission::verdict admission::admit(const std::string& ip, double now) {
    std::lock_guard lock(mu_);
    if (auto b = bans_.find(ip); b != bans_.end()) {
        if (now < b->second) return verdict::banned;
        bans_.erase(b);
    }
    if (total_ >= limits_.max_connections) return verdict::total_full;
    std::size_t& n = per_ip_[ip];
    if (n >= limits_.max_connections_per_ip) return verdict::per_ip_full;
    ++n;
    ++total_;
    return verdict::admitted;
}

void admission::release(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto it = per_ip_.find(ip);
    if (it == per_ip_.end()) return;
    if (--it->second == 0) per_ip_.erase(it);
    if (total_) --total_;
}

bool admission::ban(const std::string& ip, double now) {
    std::lock_guard lock(mu_);
    // Keep the table small: expired bans go when it grows.
    if (bans_.size() >= 4096)
        for (auto it = bans_.begin(); it != bans_.end();) it = now >= it->second ? bans_.erase(it) : std::next(it);
    auto [it, fresh] = bans_.try_emplace(ip, now + limits_.ban_seconds);
    if (!fresh) {
        const bool expired = now >= it->second;
        it->second = now + limits_.ban_seconds;
        return expired;
    }
    return true;
}

bool admission::banned(const std::string& ip, double now) const {
    std::lock_guard lock(mu_);
    auto it = bans_.find(ip);
    return it != bans_.end() && now < it->second;
}

std::size_t admission::connections() const {
    std::lock_guard lock(mu_);
    return total_;
}

std::size_t admission::connections_from(const std::string& ip) const {
    std::lock_guard lock(mu_);
    auto it = per_ip_.find(ip);
    return it == per_ip_.end() ? 0 : it->second;
}

const char* to_string(admission::verdict v) noexcept {
    switch (v) {
        case admission::verdict::admitted:
            return "admitted";
        case admission::verdict::banned:
            return "address banned";
        case admission::verdict::per_ip_full:
            return "too many connections from this address";
        case admission::verdict::total_full:
            return "too many connections in total";
    }
    return "?";
}

}  // namespace bmm::stratum
