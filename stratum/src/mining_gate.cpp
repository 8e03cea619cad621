#include "bmm/stratum/mining_gate.hpp"

#include "bmm/log.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <functional>
#include <vector>

namespace bmm::stratum {
namespace {

struct reply_free {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_free>;

bool is_zero(std::string_view digits) {
    return std::all_of(digits.begin(), digits.end(), [](char c) { return c == '0'; });
}

// "1500000000000000000000" base units as "1500 BMM" (18 decimals, trailing zeros cut).
std::string bmm_text(const std::string& base_units) {
    std::string d = base_units;
    if (d.size() <= 18) {
        d.insert(0, 19 - d.size(), '0');
    }
    std::string whole = d.substr(0, d.size() - 18);
    std::string frac = d.substr(d.size() - 18);
    while (!frac.empty() && frac.back() == '0') {
        frac.pop_back();
    }
    return whole + (frac.empty() ? "" : "." + frac) + " BMM";
}

}  // namespace

mining_gate_snapshot make_gate_snapshot(const std::string* min_value, std::unordered_set<std::string> members) {
    mining_gate_snapshot s;
    s.loaded = true;
    if (min_value && !min_value->empty() &&
        std::all_of(min_value->begin(), min_value->end(), [](char c) { return c >= '0' && c <= '9'; })) {
        s.min_base_units = *min_value;
    }
    s.allowed = std::move(members);
    std::vector<std::string> sorted(s.allowed.begin(), s.allowed.end());
    std::sort(sorted.begin(), sorted.end());
    std::size_t h = std::hash<std::string>{}(s.min_base_units);
    for (const auto& a : sorted) {
        h = h * 1000003u ^ std::hash<std::string>{}(a);
    }
    s.generation = static_cast<std::uint64_t>(h) | 1u;
    return s;
}

bool gate_allows(const mining_gate_snapshot& snap, std::string_view account, std::string_view coin, std::string* why) {
    if (!snap.loaded || is_zero(snap.min_base_units) || snap.allowed.contains(std::string(account))) {
        return true;
    }
    if (why) {
        *why = "account " + std::string(account) + " does not hold the " + bmm_text(snap.min_base_units) +
               " needed to mine " + std::string(coin) +
               " here (min_bmm_to_mine): get BMM into the account (an admin books a token deposit with "
               "`bmm-accountd bmm deposit`), then authorise again";
    }
    return false;
}

mining_gate::mining_gate(mining_gate_settings s)
    : s_(std::move(s)), snap_(std::make_shared<const mining_gate_snapshot>()) {}

mining_gate::~mining_gate() { stop(); }

bool mining_gate::refresh_now() {
    auto conn = redis::connect(s_.redis, std::chrono::milliseconds(2000));
    if (!conn) {
        if (!warned_) {
            log::warn("gate", "cannot read the mining gate from {}; {}", conn.error_message(),
                      snapshot()->loaded ? "the last one read stays in force" : "no miner is refused until it can");
            warned_ = true;
        }
        return false;
    }
    redisContext* c = conn->ctx.get();
    const std::string key = "bmm:mining-gate:" + s_.coin;
    reply_ptr min(static_cast<redisReply*>(redisCommand(c, "GET %s", (key + ":min").c_str())));
    reply_ptr members(static_cast<redisReply*>(redisCommand(c, "SMEMBERS %s", key.c_str())));
    if (!min || !members || min->type == REDIS_REPLY_ERROR || members->type != REDIS_REPLY_ARRAY) {
        if (!warned_) {
            log::warn("gate", "the mining gate keys {} in Redis {} could not be read", key, conn->address);
            warned_ = true;
        }
        return false;
    }
    std::string min_text;
    const bool has_min = min->type == REDIS_REPLY_STRING;
    if (has_min) {
        min_text.assign(min->str, min->len);
    }
    std::unordered_set<std::string> allowed;
    for (std::size_t i = 0; i < members->elements; ++i) {
        const redisReply* e = members->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            allowed.emplace(e->str, e->len);
        }
    }
    auto next = std::make_shared<const mining_gate_snapshot>(
        make_gate_snapshot(has_min ? &min_text : nullptr, std::move(allowed)));
    const auto before = snapshot();
    if (!before->loaded || before->generation != next->generation) {
        log::info("gate", "mining gate for {}: {}", s_.coin,
                  is_zero(next->min_base_units) ? std::string("off (min_bmm_to_mine = 0)")
                                                : std::to_string(next->allowed.size()) + " account(s) hold at least " +
                                                      bmm_text(next->min_base_units));
    }
    std::atomic_store(&snap_, std::shared_ptr<const mining_gate_snapshot>(std::move(next)));
    warned_ = false;
    return true;
}

void mining_gate::start() {
    refresh_now();
    thread_ = std::thread([this] { run(); });
}

void mining_gate::run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        cv_.wait_for(lock, s_.refresh, [this] { return stopping_; });
        if (stopping_) {
            break;
        }
        lock.unlock();
        refresh_now();
        lock.lock();
    }
}

void mining_gate::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace bmm::stratum
