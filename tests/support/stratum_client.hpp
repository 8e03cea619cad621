#pragma once
// Test support: a blocking Stratum v1 client that speaks raw lines, keeps
// every message it receives, and can find shares at the pool's difficulty
// with the verifier, so tests can drive each path of the server exactly.

#include "bmm/hex.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bmm::test {

struct stratum_reply {
    bool received = false;
    bool ok = false;           // "error": null
    std::string result;        // result as JSON text
    int code = 0;              // error code when not ok
    std::string message;       // error message when not ok
    std::string raw;
};

struct stratum_job {
    std::string id, prevhash, coinb1, coinb2, version, nbits, ntime;
    std::vector<std::string> branch;
    bool clean = false;
};

class stratum_client {
public:
    // `source`: the local address to connect from (any 127.x.y.z works on
    // loopback), so that tests can play several miners' addresses.
    // `receive_buffer`: SO_RCVBUF in bytes (0: the system's), small to play a
    // miner that does not read.
    explicit stratum_client(int port, const char* host = "127.0.0.1", const char* source = nullptr,
                            int receive_buffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        if (source) {
            sockaddr_in l{};
            l.sin_family = AF_INET;
            ::inet_pton(AF_INET, source, &l.sin_addr);
            if (::bind(fd_, reinterpret_cast<sockaddr*>(&l), sizeof l) != 0)
                throw std::runtime_error(std::string("cannot bind the client to ") + source);
        }
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        ::inet_pton(AF_INET, host, &a.sin_addr);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("cannot connect to the pool on port " + std::to_string(port));
    }
    ~stratum_client() { ::close(fd_); }
    stratum_client(const stratum_client&) = delete;
    stratum_client& operator=(const stratum_client&) = delete;

    // Waits up to timeout_ms for the pool to close the connection (end of
    // stream or reset), keeping what arrives before; true when it closed.
    bool wait_closed(int timeout_ms) {
        const auto end = deadline(timeout_ms);
        while (true) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[65536];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return true;
            in_.append(buf, static_cast<std::size_t>(n));
            std::size_t start = 0, nl;
            while ((nl = in_.find('\n', start)) != std::string::npos) {
                lines_.push_back(in_.substr(start, nl - start));
                start = nl + 1;
            }
            in_.erase(0, start);
        }
    }
    // Sends raw bytes without waiting; false when the pool has closed the
    // connection (or the socket buffer is full with dont_wait).
    bool send_raw(const std::string& bytes, bool dont_wait = false) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | (dont_wait ? MSG_DONTWAIT : 0));
        return n == static_cast<ssize_t>(bytes.size());
    }

    void send_line(const std::string& line) {
        const std::string l = line + "\n";
        if (::send(fd_, l.data(), l.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(l.size()))
            throw std::runtime_error("send failed");
    }

    // Sends a request and returns its id.
    int request(const std::string& method, const std::string& params_json) {
        const int id = next_id_++;
        send_line("{\"id\":" + std::to_string(id) + ",\"method\":\"" + method + "\",\"params\":" + params_json + "}");
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
        if (version_rolling) {
            auto c = reply(request("mining.configure",
                                   R"([["version-rolling"],{"version-rolling.mask":"ffffffff"}])"));
            if (!c.ok) return fail(why, "configure: " + c.raw);
        }
        auto s = reply(request("mining.subscribe", R"(["bmm-test/1.0"])"));
        if (!s.ok) return fail(why, "subscribe: " + s.raw);
        simdjson::dom::parser p;
        simdjson::dom::array res;
        std::string_view e1;
        std::int64_t size = 0;
        if (p.parse(s.result).get(res) || res.at(1).get(e1) || res.at(2).get(size)) return fail(why, s.raw);
        extranonce1 = *from_hex(e1);
        extranonce2_size = static_cast<std::size_t>(size);
        auto a = reply(request("mining.authorize", "[\"" + user + "\",\"x\"]"));
        if (!a.ok || a.result != "true") return fail(why, "authorize: " + a.raw);
        user_ = user;
        if (!next_job(5000)) return fail(why, "no job after authorize");
        drain();
        return true;
    }

    // Finds a share for the current job: extranonce2 and nonce whose hash
    // meets (or, with want_low, misses) the target for `difficulty`.
    struct share_found {
        std::string job_id, en2, ntime, nonce, version_bits;
    };
    share_found find_share(pow_algorithm algo, double difficulty, bool want_low = false,
                           const std::string& version_bits = {}) {
        if (!job_) throw std::runtime_error("no job yet");
        std::vector<std::string_view> br(job_->branch.begin(), job_->branch.end());
        auto d = verifier::job_data::from_stratum(algo, job_->prevhash, job_->coinb1, job_->coinb2, br, job_->version,
                                                  job_->nbits, extranonce2_size, 0xffffffffu);
        if (!d) throw std::runtime_error(d.error_message());
        const uint256 target = *target_from_difficulty(difficulty, algo);
        std::vector<unsigned char> en2(extranonce2_size);
        for (std::size_t i = 0; i < en2.size(); ++i) en2[i] = static_cast<unsigned char>(en2_counter_ >> (8 * i));
        ++en2_counter_;
        const std::string en2_hex = to_hex(en2);
        for (std::uint32_t base = 0;; base += 16) {
            std::vector<std::string> nonces(16);
            std::vector<verifier::share> shares(16);
            for (std::uint32_t i = 0; i < 16; ++i) {
                char b[9];
                std::snprintf(b, sizeof b, "%08x", base + i);
                nonces[i] = b;
                shares[i] = {&*d, extranonce1, en2_hex, job_->ntime, nonces[i], version_bits, target};
            }
            std::vector<verifier::verdict> out(16);
            verifier_.verify(shares, out);
            for (std::uint32_t i = 0; i < 16; ++i)
                if (out[i].ok() && out[i].meets_target != want_low)
                    return {job_->id, en2_hex, job_->ntime, nonces[i], version_bits};
            if (base > 100000000) throw std::runtime_error("no share found");
        }
    }

    // Whether a found share meets the target of `difficulty` (hashing it again).
    bool find_share_meets(const share_found& f, pow_algorithm algo, double difficulty) {
        std::vector<std::string_view> br(job_->branch.begin(), job_->branch.end());
        auto d = verifier::job_data::from_stratum(algo, job_->prevhash, job_->coinb1, job_->coinb2, br, job_->version,
                                                  job_->nbits, extranonce2_size, 0xffffffffu);
        const verifier::share sh{&*d, extranonce1, f.en2, f.ntime, f.nonce, f.version_bits,
                                 *target_from_difficulty(difficulty, algo)};
        verifier::verdict v;
        verifier_.verify({&sh, 1}, {&v, 1});
        return v.ok() && v.meets_target;
    }

    // mining.submit for a found share; returns the request id.
    int submit(const share_found& s, const std::string& worker = {}) {
        std::string p = "[\"" + (worker.empty() ? user_ : worker) + "\",\"" + s.job_id + "\",\"" + s.en2 + "\",\"" +
                        s.ntime + "\",\"" + s.nonce + "\"";
        if (!s.version_bits.empty()) p += ",\"" + s.version_bits + "\"";
        return request("mining.submit", p + "]");
    }

    double difficulty() const { return difficulty_; }
    const std::optional<stratum_job>& job() const { return job_; }
    const std::deque<std::string>& pending_lines() const { return lines_; }

    std::vector<unsigned char> extranonce1;
    std::size_t extranonce2_size = 4;

private:
    static std::chrono::steady_clock::time_point deadline(int ms) {
        return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    }
    static bool fail(std::string* why, std::string text) {
        if (why) *why = std::move(text);
        return false;
    }

    // Reads available data until `end`; false on time-out or close.
    bool pump(std::chrono::steady_clock::time_point end) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return false;
        in_.append(buf, static_cast<std::size_t>(n));
        std::size_t start = 0, nl;
        while ((nl = in_.find('\n', start)) != std::string::npos) {
            std::string line = in_.substr(start, nl - start);
            if (line.find("\"mining.set_difficulty\"") != std::string::npos) note_difficulty(line);
            lines_.push_back(std::move(line));
            start = nl + 1;
        }
        in_.erase(0, start);
        return true;
    }

    void note_difficulty(const std::string& line) {
        simdjson::dom::parser p;
        simdjson::dom::element doc;
        double d = 0;
        if (!p.parse(line).get(doc) && !doc["params"].at(0).get(d)) difficulty_ = d;
    }

    static stratum_reply parse_reply(const std::string& line) {
        stratum_reply r;
        r.received = true;
        r.raw = line;
        simdjson::dom::parser p;
        simdjson::dom::element doc, err, res;
        if (p.parse(line).get(doc)) return r;
        if (doc["result"].get(res) == simdjson::SUCCESS) r.result = simdjson::to_string(res);
        if (doc["error"].get(err) == simdjson::SUCCESS) {
            if (err.is_null()) {
                r.ok = true;
            } else {
                std::int64_t c = 0;
                std::string_view m;
                if (!err.at(0).get(c)) r.code = static_cast<int>(c);
                if (!err.at(1).get(m)) r.message = std::string(m);
            }
        }
        return r;
    }

    static std::optional<stratum_job> parse_job(const std::string& line) {
        simdjson::dom::parser p;
        simdjson::dom::element doc;
        simdjson::dom::array a, br;
        if (p.parse(line).get(doc) || doc["params"].get(a)) return std::nullopt;
        stratum_job j;
        std::string_view v[8];
        const int idx[8] = {0, 1, 2, 3, 5, 6, 7, 0};
        for (int i = 0; i < 7; ++i)
            if (a.at(static_cast<std::size_t>(idx[i])).get(v[i])) return std::nullopt;
        if (a.at(4).get(br) || a.at(8).get(j.clean)) return std::nullopt;
        j.id = v[0];
        j.prevhash = v[1];
        j.coinb1 = v[2];
        j.coinb2 = v[3];
        j.version = v[4];
        j.nbits = v[5];
        j.ntime = v[6];
        for (auto b : br) j.branch.emplace_back(std::string_view(b));
        return j;
    }

    int fd_ = -1;
    int next_id_ = 1;
    std::string in_, user_;
    std::deque<std::string> lines_;
    std::optional<stratum_job> job_;
    double difficulty_ = 1;
    std::uint64_t en2_counter_ = 1;
    verifier::batch_verifier verifier_;
};

}  // namespace bmm::test
