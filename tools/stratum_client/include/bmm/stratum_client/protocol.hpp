#pragma once
// The miner's side of Stratum v1 without I/O: the requests a miner sends,
// the pool's lines framed and parsed (replies by id, notifications), the
// session's job state (extranonce1 and 2, difficulty, version mask, the
// current job) and the share search. bmm-miner (blocking), bmm-bench (libuv,
// many connections) and the tests' client (tests/support/stratum_client.hpp)
// each keep their own I/O and share this, so that the three speak the same
// protocol.

#include "bmm/result.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::stratum_client {

// A pool's address: stratum+tcp://HOST:PORT (or tcp://, or no scheme), or
// stratum+ssl:// / stratum+tls:// for TLS; an IPv6 HOST may be in brackets.
struct pool_url {
    std::string host, port;
    bool tls = false;
};
result<pool_url> parse_pool_url(std::string_view url);

// ---------------------------------------------------------------------------
// Requests: one JSON line each, without the newline.
// ---------------------------------------------------------------------------

// {"id":ID,"method":"METHOD","params":PARAMS}; `params_json` is sent as given.
std::string request_line(std::int64_t id, std::string_view method, std::string_view params_json);
// mining.configure asking for BIP310 version rolling over every bit (the pool
// answers with the mask it allows) and at least 2 rollable bits.
std::string configure_request(std::int64_t id);
std::string subscribe_request(std::int64_t id, std::string_view user_agent);
std::string suggest_difficulty_request(std::int64_t id, double difficulty);
std::string authorize_request(std::int64_t id, std::string_view user, std::string_view password);

// mining.submit's fields after the worker name, as hex text.
struct share_fields {
    std::string job_id, extranonce2, ntime, nonce, version_bits;  // version_bits empty: not sent
};
std::string submit_request(std::int64_t id, std::string_view user, const share_fields& s);

// ---------------------------------------------------------------------------
// Framing: the pool's bytes into lines.
// ---------------------------------------------------------------------------

class line_buffer {
public:
    // Appends `bytes` and calls on_line(std::string_view) for every complete
    // line (without its '\n'), in order. on_line returns false to stop (the
    // connection was closed under it); feed then returns false and keeps
    // nothing of the rest.
    template <class F>
    bool feed(std::string_view bytes, F&& on_line) {
        in_.append(bytes);
        std::size_t start = 0;
        std::size_t nl = 0;
        while ((nl = in_.find('\n', start)) != std::string::npos) {
            if (!on_line(std::string_view(in_).substr(start, nl - start))) {
                in_.clear();
                return false;
            }
            start = nl + 1;
        }
        in_.erase(0, start);
        return true;
    }
    // Bytes of a line not complete yet (to bound what a pool may send).
    std::size_t partial_bytes() const { return in_.size(); }

private:
    std::string in_;
};

// ---------------------------------------------------------------------------
// Parsing the pool's lines.
// ---------------------------------------------------------------------------

enum class message_kind {
    invalid,           // not JSON, or neither a reply nor a notification
    reply,             // no "method": the answer to a request
    notify,            // mining.notify
    set_difficulty,    // mining.set_difficulty
    set_version_mask,  // mining.set_version_mask
    reconnect,         // client.reconnect
    other,             // another method
};

// One line parsed. Views and elements point into the parser that made it and
// stay valid until its next parse().
struct message {
    message_kind kind = message_kind::invalid;
    std::string_view method;      // notifications
    simdjson::dom::array params;  // notifications (valid when has_params)
    bool has_params = false;
    std::optional<std::int64_t> id;  // replies with an integer id
    bool ok = false;                 // replies: "error" is null
    int error_code = 0;              // replies that failed: error[0], 0 when absent
    std::string_view error_text;     // replies that failed: error[1], empty when absent
    simdjson::dom::element result;   // replies (valid when has_result)
    bool has_result = false;

    // A rejection's reason for counting: error[1], or "unknown".
    std::string_view reason() const { return error_text.empty() ? std::string_view("unknown") : error_text; }
};

class message_parser {
public:
    message parse(std::string_view line);

private:
    simdjson::dom::parser parser_;
};

// mining.notify's parameters, as views into the parsed line.
struct notify_view {
    std::string_view id, prevhash, coinb1, coinb2, version, nbits, ntime;
    std::vector<std::string_view> branch;
    bool clean = false;
};
// Nothing when a parameter is missing or of the wrong type.
std::optional<notify_view> notify_of(const message& m);

// mining.notify's parameters kept as text (a test inspects and mines them later).
struct notify_job {
    std::string id, prevhash, coinb1, coinb2, version, nbits, ntime;
    std::vector<std::string> branch;
    bool clean = false;
};
notify_job to_owned(const notify_view& v);

// mining.set_difficulty's value (an integer or a real number).
std::optional<double> difficulty_of(const message& m);
// mining.set_version_mask's mask, or a mining.configure reply's
// "version-rolling.mask".
std::optional<std::uint32_t> version_mask_of(const message& m);

// A mining.authorize reply that accepted the worker ("result": true).
bool authorized(const message& reply);

// The mining.subscribe reply's extranonce1 and extranonce2 size (1 to 8 bytes).
struct subscription {
    std::vector<unsigned char> extranonce1;
    std::size_t extranonce2_size = 4;
};
std::optional<subscription> subscription_of(const message& reply);

// ---------------------------------------------------------------------------
// Jobs and shares.
// ---------------------------------------------------------------------------

// A job ready to mine: its id and ntime as the pool sent them (ntime is then
// always inside the pool's window) and the verifier's form of the rest.
struct job {
    std::string id, ntime;
    verifier::job_data data;
};
result<job> decode_job(pow_algorithm algo, const notify_view& n, std::size_t extranonce2_size,
                       std::uint32_t version_mask);
// The same from text kept earlier.
result<job> decode_job(pow_algorithm algo, const notify_job& n, std::size_t extranonce2_size,
                       std::uint32_t version_mask);

// Extranonce2 for a counter: its low `size` bytes, least significant first,
// as hex. A miner rolls the counter for every new search space.
std::string extranonce2_hex(std::uint64_t counter, std::size_t size);

// The fixed part of the shares a search hashes: everything but the nonce.
struct share_work {
    const job* work = nullptr;
    std::span<const unsigned char> extranonce1;
    std::string_view extranonce2_hex, version_bits_hex;
    uint256 target;
};
// Hashes `count` consecutive nonces from `first` in one batch; returns those
// whose hash meets the target (or, with want_low, misses it), in order.
std::vector<std::uint32_t> scan_nonces(verifier::batch_verifier& v, const share_work& w, std::uint32_t first,
                                       unsigned count, bool want_low = false);

// A miner session's state as the pool sets it. Replies and notifications go
// through the on_* calls; the owner keeps the I/O.
struct session_state {
    std::vector<unsigned char> extranonce1;
    std::size_t extranonce2_size = 4;
    double difficulty = 1;
    std::uint32_t version_mask = 0;
    std::uint64_t extranonce2_counter = 0;
    std::uint32_t nonce = 0;  // the next nonce to hash under the current extranonce2

    // The subscribe reply; false when it is an error or malformed.
    bool on_subscribed(const message& reply);
    // The configure reply: the mask the pool granted, if any.
    void on_configured(const message& reply);
    // set_difficulty and set_version_mask update the state; true when the
    // message was one of them.
    bool on_setting(const message& m);
    // A new job: a fresh search space (nonce 0 under the next extranonce2).
    void on_new_job();
    // The current extranonce2 as hex.
    std::string extranonce2() const { return extranonce2_hex(extranonce2_counter, extranonce2_size); }
    // After `count` nonces hashed: the next extranonce2 once the nonce space wraps.
    void advance_nonce(std::uint32_t count);
};

}  // namespace bmm::stratum_client
