#pragma once
// Test support: a blocking Stratum v1 client that speaks raw lines, keeps
// every message it receives, and can find shares at the pool's difficulty
// with the verifier, so tests can drive each path of the server exactly.
// The protocol and the connection are bmm_stratum_client's
// (tools/stratum_client), the same code bmm-miner and bmm-bench run.

#include "bmm/hex.hpp"
#include "bmm/stratum_client/connection.hpp"
#include "bmm/stratum_client/protocol.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <simdjson.h>

#include <chrono>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bmm::test {

struct stratum_reply {
    bool received = false;
    bool ok = false;      // "error": null
    std::string result;   // result as JSON text
    int code = 0;         // error code when not ok
    std::string message;  // error message when not ok
    std::string raw;
};

using stratum_job = bmm::stratum_client::notify_job;

class stratum_client {
public:
    // `source`: the local address to connect from (any 127.x.y.z works on
    // loopback), so that tests can play several miners' addresses.
    // `receive_buffer`: SO_RCVBUF in bytes (0: the system's), small to play a
    // miner that does not read.
    explicit stratum_client(int port, const char* host = "127.0.0.1", const char* source = nullptr,
                            int receive_buffer = 0)
        : conn_(open(port, host, source, receive_buffer)) {}
    stratum_client(const stratum_client&) = delete;
    stratum_client& operator=(const stratum_client&) = delete;

    // Waits up to timeout_ms for the pool to close the connection (end of
    // stream or reset), keeping what arrives before; true when it closed.
    bool wait_closed(int timeout_ms) {
        const auto end = deadline(timeout_ms);
        while (true) {
            const auto left = ms_left(end);
            if (left <= 0) return false;
            if (conn_.read_lines(left, [&](std::string_view l) {
                    lines_.emplace_back(l);
                    return true;
                }) == read_status::closed)
                return true;
        }
    }
    // Sends raw bytes; false when the pool has closed the connection (or the
    // socket buffer is full with dont_wait).
    bool send_raw(const std::string& bytes, bool dont_wait = false) { return conn_.send(bytes, dont_wait); }

    void send_line(const std::string& line) {
        if (!conn_.send_line(line)) throw std::runtime_error("send failed");
    }

    // Sends a request and returns its id.
    int request(const std::string& method, const std::string& params_json) {
        const int id = next_id_++;
        send_line(bmm::stratum_client::request_line(id, method, params_json));
        return id;
    }

    // Waits for the reply to `id`.
    stratum_reply reply(int id, int timeout_ms = 5000) {
        return wait_reply("\"id\":" + std::to_string(id) + ",", timeout_ms);
    }
    // Waits for a reply whose raw text starts with {"id":<id_json>,
    stratum_reply wait_reply(const std::string& id_prefix, int timeout_ms = 5000) {
        const auto end = deadline(timeout_ms);
        while (true) {
            for (auto it = lines_.begin(); it != lines_.end(); ++it) {
                if (it->rfind("{" + id_prefix, 0) != 0) continue;
                stratum_reply r = parse_reply(*it);
                lines_.erase(it);
                return r;
            }
            if (!pump(end)) return {};
        }
    }

    // The next mining.notify (optionally only a clean one), or nothing.
    std::optional<stratum_job> next_job(int timeout_ms = 5000, bool clean_only = false) {
        const auto end = deadline(timeout_ms);
        while (true) {
            for (std::size_t i = 0; i < lines_.size();) {
                if (lines_[i].find("\"mining.notify\"") == std::string::npos) {
                    ++i;
                    continue;
                }
                auto j = parse_job(lines_[i]);
                lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(i));
                if (!j) continue;
                job_ = *j;
                if (!clean_only || j->clean) return j;
            }
            if (!pump(end)) return std::nullopt;
        }
    }

    // Drains what has arrived: the newest job and difficulty win.
    void drain(int timeout_ms = 50) {
        pump(deadline(timeout_ms));
        for (auto it = lines_.begin(); it != lines_.end();) {
            if (it->find("\"mining.notify\"") != std::string::npos) {
                if (auto j = parse_job(*it)) job_ = *j;
                it = lines_.erase(it);
            } else if (it->find("\"mining.set_difficulty\"") != std::string::npos) {
                note_difficulty(*it);
                it = lines_.erase(it);
            } else {
                ++it;
            }
        }
    }

    // subscribe + authorize; returns false with the reason in *why on failure.
    bool login(const std::string& user, std::string* why = nullptr, bool version_rolling = false) {
        namespace sc = bmm::stratum_client;
        if (version_rolling) {
            const int id = next_id_++;
            send_line(sc::configure_request(id));
            auto c = reply(id);
            if (!c.ok) return fail(why, "configure: " + c.raw);
        }
        const int sid = next_id_++;
        send_line(sc::subscribe_request(sid, "bmm-test/1.0"));
        auto s = reply(sid);
        if (!s.ok) return fail(why, "subscribe: " + s.raw);
        const auto sub = sc::subscription_of(parser_.parse(s.raw));
        if (!sub) return fail(why, s.raw);
        extranonce1 = sub->extranonce1;
        extranonce2_size = sub->extranonce2_size;
        const int aid = next_id_++;
        send_line(sc::authorize_request(aid, user, "x"));
        auto a = reply(aid);
        if (!a.ok || a.result != "true") return fail(why, "authorize: " + a.raw);
        user_ = user;
        if (!next_job(5000)) return fail(why, "no job after authorize");
        drain();
        return true;
    }

    // Finds a share for the current job: extranonce2 and nonce whose hash
    // meets (or, with want_low, misses) the target for `difficulty`. A share
    // found with want_low also misses the network target: regtest's target
    // (0x207fffff) lies above that of difficulty 2^-15, so a hash can miss a
    // share target and still be a block, which the pool would submit.
    struct share_found {
        std::string job_id, en2, ntime, nonce, version_bits;
    };
    share_found find_share(pow_algorithm algo, double difficulty, bool want_low = false,
                           const std::string& version_bits = {}) {
        namespace sc = bmm::stratum_client;
        if (!job_) throw std::runtime_error("no job yet");
        const sc::job j = decoded(algo);
        const std::string en2_hex = sc::extranonce2_hex(en2_counter_++, extranonce2_size);
        const sc::share_work w{&j, extranonce1, en2_hex, version_bits, *target_from_difficulty(difficulty, algo)};
        for (std::uint32_t base = 0;; base += 16) {
            const auto found = sc::scan_nonces(verifier_, w, base, 16, want_low);
            for (const auto nonce : found) {
                share_found f{job_->id, en2_hex, job_->ntime, be32_hex(nonce), version_bits};
                if (!want_low || !hashes_of(f, algo).meets_network_target) {
                    return f;
                }
            }
            if (base > 100000000) throw std::runtime_error("no share found");
        }
    }

    // Whether a found share meets the target of `difficulty` (hashing it again).
    bool find_share_meets(const share_found& f, pow_algorithm algo, double difficulty) {
        namespace sc = bmm::stratum_client;
        const sc::job j = decoded(algo);
        std::uint32_t nonce = 0;
        if (!parse_be32_hex(f.nonce, nonce)) return false;
        const sc::share_work w{&j, extranonce1, f.en2, f.version_bits, *target_from_difficulty(difficulty, algo)};
        return !sc::scan_nonces(verifier_, w, nonce, 1).empty();
    }

    // A found share's proof-of-work hash and block hash, hex in display order
    // (as bmm-stratum records them: shares.hash, shares.block_hash), hashing it again.
    struct share_hashes {
        std::string pow, block;
        bool meets_network_target = false;
    };
    share_hashes hashes_of(const share_found& f, pow_algorithm algo) {
        namespace sc = bmm::stratum_client;
        const sc::job j = decoded(algo);
        const verifier::share s{
            &j.data, extranonce1, f.en2, f.ntime, f.nonce, f.version_bits, *target_from_difficulty(1, algo)};
        verifier::verdict v;
        verifier_.verify(std::span<const verifier::share>(&s, 1), std::span<verifier::verdict>(&v, 1));
        if (!v.ok()) {
            throw std::runtime_error("the found share does not hash: " + std::string(verifier::describe(v.status)));
        }
        auto display = [](const verifier::hash256& h) {
            verifier::hash256 r;
            std::copy(h.rbegin(), h.rend(), r.begin());
            return to_hex(r);
        };
        return {display(v.pow_hash), display(v.block_hash), v.meets_network_target};
    }

    // mining.submit for a found share; returns the request id.
    int submit(const share_found& s, const std::string& worker = {}) {
        const int id = next_id_++;
        send_line(bmm::stratum_client::submit_request(id, worker.empty() ? user_ : worker,
                                                      {s.job_id, s.en2, s.ntime, s.nonce, s.version_bits}));
        return id;
    }

    double difficulty() const { return difficulty_; }
    const std::optional<stratum_job>& job() const { return job_; }
    const std::deque<std::string>& pending_lines() const { return lines_; }

    std::vector<unsigned char> extranonce1;
    std::size_t extranonce2_size = 4;

private:
    using read_status = bmm::stratum_client::read_status;

    static bmm::stratum_client::blocking_connection open(int port, const char* host, const char* source,
                                                         int receive_buffer) {
        auto c = bmm::stratum_client::blocking_connection::open(host, std::to_string(port),
                                                                {source ? source : "", receive_buffer, false, {}});
        if (!c)
            throw std::runtime_error("cannot connect to the pool on port " + std::to_string(port) + ": " +
                                     c.error_message());
        return std::move(*c);
    }
    static std::chrono::steady_clock::time_point deadline(int ms) {
        return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    }
    static int ms_left(std::chrono::steady_clock::time_point end) {
        return static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
    }
    static bool fail(std::string* why, std::string text) {
        if (why) *why = std::move(text);
        return false;
    }
    // The current job in the verifier's form (any version bits allowed, so
    // that tests can send bits outside the pool's mask on purpose).
    bmm::stratum_client::job decoded(pow_algorithm algo) {
        auto d = bmm::stratum_client::decode_job(algo, *job_, extranonce2_size, 0xffffffffu);
        if (!d) throw std::runtime_error(d.error_message());
        return std::move(*d);
    }

    // Reads available data until `end`; false on time-out or close.
    bool pump(std::chrono::steady_clock::time_point end) {
        const int left = ms_left(end);
        if (left <= 0) return false;
        return conn_.read_lines(left, [&](std::string_view l) {
            std::string line(l);
            if (line.find("\"mining.set_difficulty\"") != std::string::npos) note_difficulty(line);
            lines_.push_back(std::move(line));
            return true;
        }) == read_status::data;
    }

    void note_difficulty(const std::string& line) {
        if (auto d = bmm::stratum_client::difficulty_of(parser_.parse(line))) difficulty_ = *d;
    }

    stratum_reply parse_reply(const std::string& line) {
        stratum_reply r;
        r.received = true;
        r.raw = line;
        const auto m = parser_.parse(line);
        if (m.kind != bmm::stratum_client::message_kind::reply) return r;
        if (m.has_result) r.result = simdjson::to_string(m.result);
        r.ok = m.ok;
        if (!m.ok) {
            r.code = m.error_code;
            r.message = std::string(m.error_text);
        }
        return r;
    }

    std::optional<stratum_job> parse_job(const std::string& line) {
        auto n = bmm::stratum_client::notify_of(parser_.parse(line));
        if (!n) return std::nullopt;
        return bmm::stratum_client::to_owned(*n);
    }

    bmm::stratum_client::blocking_connection conn_;
    bmm::stratum_client::message_parser parser_;
    int next_id_ = 1;
    std::string user_;
    std::deque<std::string> lines_;
    std::optional<stratum_job> job_;
    double difficulty_ = 1;
    std::uint64_t en2_counter_ = 1;
    verifier::batch_verifier verifier_;
};

}  // namespace bmm::test
