#pragma once
// Test support: miners that keep mining through faults. Each is a thread
// with its own Stratum connection (stratum_client.hpp): it finds real shares
// at the pool's difficulty (scrypt), submits one every `interval_ms`, and
// remembers the proof-of-work hash of every share the pool answered
// accepted ("told accepted"), so a test can look each one up in PostgreSQL.
// When the pool goes away (killed, restarting) the miner connects again,
// every 200 ms, until it is stopped. A submit with no answer within 5 s is
// counted unanswered (the pool may or may not have recorded it) and the
// miner reconnects.

#include "stratum_client.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bmm::test {

struct mined_share {
    std::string pow, block;  // display-order hex (shares.hash, shares.block_hash)
    bool block_candidate = false;
    std::chrono::steady_clock::time_point told;
};

class share_miners {
public:
    // `port` is read at every connection (a restarted pool may move).
    share_miners(const std::atomic<int>& port, std::string user_prefix, int miners, int interval_ms)
        : port_(port), prefix_(std::move(user_prefix)), miners_(miners), interval_ms_(interval_ms) {}
    ~share_miners() { stop(); }
    share_miners(const share_miners&) = delete;
    share_miners& operator=(const share_miners&) = delete;

    void start() {
        stop_ = false;
        for (int i = 0; i < miners_; ++i) {
            threads_.emplace_back([this, i] { run(prefix_ + ".rig" + std::to_string(i)); });
        }
    }
    void stop() {
        stop_ = true;
        for (auto& t : threads_) {
            t.join();
        }
        threads_.clear();
    }

    std::vector<mined_share> accepted() const {
        std::lock_guard<std::mutex> l(m_);
        return accepted_;
    }
    std::size_t accepted_count() const {
        std::lock_guard<std::mutex> l(m_);
        return accepted_.size();
    }
    // Accepted after `t`.
    std::size_t accepted_since(std::chrono::steady_clock::time_point t) const {
        std::lock_guard<std::mutex> l(m_);
        std::size_t n = 0;
        for (const auto& s : accepted_) {
            n += s.told > t ? 1 : 0;
        }
        return n;
    }
    // The first share told accepted after `t`, if any.
    std::optional<std::chrono::steady_clock::time_point> first_accepted_after(
        std::chrono::steady_clock::time_point t) const {
        std::lock_guard<std::mutex> l(m_);
        for (const auto& s : accepted_) {
            if (s.told > t) {
                return s.told;
            }
        }
        return std::nullopt;
    }
    // Rejections by Stratum error code, submits with no answer, connections made.
    std::map<int, int> rejected() const {
        std::lock_guard<std::mutex> l(m_);
        return rejected_;
    }
    int unanswered() const { return unanswered_; }
    int connections() const { return connections_; }

private:
    void run(const std::string& user) {
        while (!stop_) {
            try {
                stratum_client c(port_.load());
                std::string why;
                if (!c.login(user, &why)) {
                    pause(200);
                    continue;
                }
                ++connections_;
                while (!stop_) {
                    c.drain(5);
                    const auto f = c.find_share(pow_algorithm::scrypt, c.difficulty());
                    const auto h = c.hashes_of(f, pow_algorithm::scrypt);
                    const auto r = c.reply(c.submit(f), 5000);
                    if (!r.received) {
                        ++unanswered_;
                        break;
                    }
                    {
                        std::lock_guard<std::mutex> l(m_);
                        if (r.ok && r.result == "true") {
                            accepted_.push_back(
                                {h.pow, h.block, h.meets_network_target, std::chrono::steady_clock::now()});
                        } else {
                            ++rejected_[r.code];
                        }
                    }
                    pause(interval_ms_);
                }
            } catch (const std::exception&) {
                // Not connected, or the connection broke while sending: connect again.
            }
            pause(200);
        }
    }
    void pause(int ms) {
        for (int waited = 0; waited < ms && !stop_; waited += 20) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    const std::atomic<int>& port_;
    std::string prefix_;
    int miners_, interval_ms_;
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
    mutable std::mutex m_;
    std::vector<mined_share> accepted_;
    std::map<int, int> rejected_;
    std::atomic<int> unanswered_{0}, connections_{0};
};

}  // namespace bmm::test
