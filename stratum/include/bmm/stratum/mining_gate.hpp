#pragma once
// "Buy BMM first, then mine" (docs/accounting.md, min_bmm_to_mine): which
// accounts may mine this coin, as bmm-accountd publishes it to Redis, read here
// without PostgreSQL on the share path.
//
// bmm-accountd writes, for each coin, two keys (accounting/ledger/mining_gate.hpp):
//   bmm:mining-gate:<COIN>:min  the threshold in BMM base units ("0": no gate)
//   bmm:mining-gate:<COIN>      a set of the accounts whose available BMM reaches it
// A reader thread refreshes them every `refresh`; authorize and every new job
// ask check(), which reads a snapshot (one atomic load, one set lookup).
//
// When Redis cannot be read the last snapshot stays in force; before the first
// successful read the gate is open (mining is not refused for what the pool
// cannot check yet), and a warning says so.

#include "bmm/redis/connect.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>

namespace bmm::stratum {

struct mining_gate_settings {
    redis::settings redis;  // [redis]: the same server the shares go to
    std::string coin = "LTC";
    std::chrono::milliseconds refresh{2000};
};

// What bmm-accountd published, read once: the threshold and the accounts at or over it.
struct mining_gate_snapshot {
    std::string min_base_units = "0";  // decimal; "0" = no gate
    std::unordered_set<std::string> allowed;
    std::uint64_t generation = 0;  // changes whenever the content changes
    bool loaded = false;           // false: nothing read yet (the gate is open)
};

// Whether `account` may mine under `snap`; `why` says what the miner must do when not.
bool gate_allows(const mining_gate_snapshot& snap, std::string_view account, std::string_view coin, std::string* why);

// Parses the two keys' values as read from Redis into a snapshot (pure, for tests).
mining_gate_snapshot make_gate_snapshot(const std::string* min_value, std::unordered_set<std::string> members);

class mining_gate {
public:
    explicit mining_gate(mining_gate_settings s);
    ~mining_gate();
    mining_gate(const mining_gate&) = delete;
    mining_gate& operator=(const mining_gate&) = delete;

    // Starts the reader thread after one read attempt (so a pool that starts
    // with Redis up knows its gate before the first miner).
    void start();
    void stop();

    std::shared_ptr<const mining_gate_snapshot> snapshot() const { return std::atomic_load(&snap_); }
    // Reads Redis now (the reader thread's step; tests call it).
    bool refresh_now();

private:
    void run();
    mining_gate_settings s_;
    std::shared_ptr<const mining_gate_snapshot> snap_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool warned_ = false;
};

}  // namespace bmm::stratum
