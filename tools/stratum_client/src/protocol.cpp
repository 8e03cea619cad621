// The miner's side of Stratum v1 (see protocol.hpp): requests, parsing,
// job state and the share search.

#include "bmm/stratum_client/protocol.hpp"

#include "bmm/hex.hpp"
#include "bmm/node/rpc.hpp"

#include <cstdlib>

namespace bmm::stratum_client {

namespace {

// A JSON string literal for `s` (the node client's escaping), so that a user
// name cannot break the request.
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    out += node::json_escape(s);
    out += '"';
}

std::optional<std::uint32_t> parse_mask(std::string_view hex) {
    if (hex.empty() || hex.size() > 8 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(std::strtoul(std::string(hex).c_str(), nullptr, 16));
}

}  // namespace

result<pool_url> parse_pool_url(std::string_view url) {
    pool_url u;
    for (const std::string_view scheme : {"stratum+tcp://", "stratum+ssl://", "stratum+tls://", "tcp://"}) {
        if (url.starts_with(scheme)) {
            u.tls = scheme == "stratum+ssl://" || scheme == "stratum+tls://";
            url.remove_prefix(scheme.size());
            break;
        }
    }
    if (url.find("://") != std::string_view::npos) {
        return error{"the scheme is stratum+tcp://, stratum+ssl:// or stratum+tls://"};
    }
    const auto colon = url.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == url.size()) {
        return error{"needs HOST:PORT, e.g. stratum+tcp://127.0.0.1:3333"};
    }
    u.host = std::string(url.substr(0, colon));
    u.port = std::string(url.substr(colon + 1));
    if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') {
        u.host = u.host.substr(1, u.host.size() - 2);
    }
    return u;
}

std::string request_line(std::int64_t id, std::string_view method, std::string_view params_json) {
    std::string line = "{\"id\":";
    line += std::to_string(id);
    line += ",\"method\":";
    append_json_string(line, method);
    line += ",\"params\":";
    line += params_json;
    line += '}';
    return line;
}

std::string configure_request(std::int64_t id) {
    return request_line(
        id, "mining.configure",
        R"([["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":2}])");
}

std::string subscribe_request(std::int64_t id, std::string_view user_agent) {
    std::string params = "[";
    append_json_string(params, user_agent);
    params += ']';
    return request_line(id, "mining.subscribe", params);
}

std::string suggest_difficulty_request(std::int64_t id, double difficulty) {
    std::string params = "[";
    params += std::to_string(difficulty);
    params += ']';
    return request_line(id, "mining.suggest_difficulty", params);
}

std::string authorize_request(std::int64_t id, std::string_view user, std::string_view password) {
    std::string params = "[";
    append_json_string(params, user);
    params += ',';
    append_json_string(params, password);
    params += ']';
    return request_line(id, "mining.authorize", params);
}

std::string submit_request(std::int64_t id, std::string_view user, const share_fields& s) {
    std::string params = "[";
    append_json_string(params, user);
    for (const std::string* f : {&s.job_id, &s.extranonce2, &s.ntime, &s.nonce, &s.version_bits}) {
        if (f == &s.version_bits && f->empty()) {
            break;
        }
        params += ',';
        append_json_string(params, *f);
    }
    params += ']';
    return request_line(id, "mining.submit", params);
}

message message_parser::parse(std::string_view line) {
    message m;
    simdjson::dom::element doc;
    if (line.empty() || parser_.parse(line.data(), line.size()).get(doc) || !doc.is_object()) {
        return m;
    }
    if (doc["method"].get(m.method) == simdjson::SUCCESS) {
        m.has_params = doc["params"].get(m.params) == simdjson::SUCCESS;
        if (m.method == "mining.notify") {
            m.kind = message_kind::notify;
        } else if (m.method == "mining.set_difficulty") {
            m.kind = message_kind::set_difficulty;
        } else if (m.method == "mining.set_version_mask") {
            m.kind = message_kind::set_version_mask;
        } else if (m.method == "client.reconnect") {
            m.kind = message_kind::reconnect;
        } else {
            m.kind = message_kind::other;
        }
        return m;
    }
    m.kind = message_kind::reply;
    std::int64_t id = 0;
    if (doc["id"].get(id) == simdjson::SUCCESS) {
        m.id = id;
    }
    m.has_result = doc["result"].get(m.result) == simdjson::SUCCESS;
    simdjson::dom::element err;
    if (doc["error"].get(err) == simdjson::SUCCESS) {
        if (err.is_null()) {
            m.ok = true;
        } else {
            std::int64_t code = 0;
            if (err.at(0).get(code) == simdjson::SUCCESS) {
                m.error_code = static_cast<int>(code);
            }
            if (err.at(1).get(m.error_text) != simdjson::SUCCESS) {
                m.error_text = {};
            }
        }
    }
    return m;
}

std::optional<notify_view> notify_of(const message& m) {
    if (m.kind != message_kind::notify || !m.has_params) {
        return std::nullopt;
    }
    notify_view n;
    simdjson::dom::array branch;
    const auto& p = m.params;
    if (p.at(0).get(n.id) || p.at(1).get(n.prevhash) || p.at(2).get(n.coinb1) || p.at(3).get(n.coinb2) ||
        p.at(4).get(branch) || p.at(5).get(n.version) || p.at(6).get(n.nbits) || p.at(7).get(n.ntime) ||
        p.at(8).get(n.clean)) {
        return std::nullopt;
    }
    for (auto b : branch) {
        std::string_view h;
        if (b.get(h)) {
            return std::nullopt;
        }
        n.branch.push_back(h);
    }
    return n;
}

notify_job to_owned(const notify_view& v) {
    notify_job j{std::string(v.id),
                 std::string(v.prevhash),
                 std::string(v.coinb1),
                 std::string(v.coinb2),
                 std::string(v.version),
                 std::string(v.nbits),
                 std::string(v.ntime),
                 {},
                 v.clean};
    j.branch.assign(v.branch.begin(), v.branch.end());
    return j;
}

std::optional<double> difficulty_of(const message& m) {
    if (m.kind != message_kind::set_difficulty || !m.has_params) {
        return std::nullopt;
    }
    double d = 0;
    std::int64_t di = 0;
    if (m.params.at(0).get(d) == simdjson::SUCCESS) {
        return d;
    }
    if (m.params.at(0).get(di) == simdjson::SUCCESS) {
        return static_cast<double>(di);
    }
    return std::nullopt;
}

std::optional<std::uint32_t> version_mask_of(const message& m) {
    std::string_view hex;
    if (m.kind == message_kind::set_version_mask && m.has_params) {
        if (m.params.at(0).get(hex) == simdjson::SUCCESS) {
            return parse_mask(hex);
        }
    } else if (m.kind == message_kind::reply && m.ok && m.has_result) {
        if (m.result["version-rolling.mask"].get(hex) == simdjson::SUCCESS) {
            return parse_mask(hex);
        }
    }
    return std::nullopt;
}

bool authorized(const message& reply) {
    bool res = false;
    return reply.kind == message_kind::reply && reply.ok && reply.has_result &&
           reply.result.get(res) == simdjson::SUCCESS && res;
}

std::optional<subscription> subscription_of(const message& reply) {
    if (reply.kind != message_kind::reply || !reply.ok || !reply.has_result) {
        return std::nullopt;
    }
    simdjson::dom::array res;
    std::string_view en1;
    std::int64_t size = 0;
    if (reply.result.get(res) || res.at(1).get(en1) || res.at(2).get(size) || size < 1 || size > 8) {
        return std::nullopt;
    }
    auto bytes = from_hex(en1);
    if (!bytes) {
        return std::nullopt;
    }
    return subscription{std::move(*bytes), static_cast<std::size_t>(size)};
}

result<job> decode_job(pow_algorithm algo, const notify_view& n, std::size_t extranonce2_size,
                       std::uint32_t version_mask) {
    auto d = verifier::job_data::from_stratum(algo, n.prevhash, n.coinb1, n.coinb2, n.branch, n.version, n.nbits,
                                              extranonce2_size, version_mask);
    if (!d) {
        return error{"bad job from the pool: " + d.error_message()};
    }
    return job{std::string(n.id), std::string(n.ntime), std::move(*d)};
}

result<job> decode_job(pow_algorithm algo, const notify_job& n, std::size_t extranonce2_size,
                       std::uint32_t version_mask) {
    notify_view v{n.id, n.prevhash, n.coinb1, n.coinb2, n.version, n.nbits, n.ntime, {}, n.clean};
    v.branch.assign(n.branch.begin(), n.branch.end());
    return decode_job(algo, v, extranonce2_size, version_mask);
}

std::string extranonce2_hex(std::uint64_t counter, std::size_t size) {
    std::vector<unsigned char> en2(size);
    for (std::size_t i = 0; i < size; ++i) {
        en2[i] = static_cast<unsigned char>(i < 8 ? counter >> (8 * i) : 0);
    }
    return to_hex(en2);
}

std::vector<std::uint32_t> scan_nonces(verifier::batch_verifier& v, const share_work& w, std::uint32_t first,
                                       unsigned count, bool want_low) {
    std::vector<std::string> nonces(count);
    std::vector<verifier::share> shares(count);
    for (unsigned i = 0; i < count; ++i) {
        nonces[i] = be32_hex(first + i);
        shares[i] = {&w.work->data, w.extranonce1,      w.extranonce2_hex, w.work->ntime,
                     nonces[i],     w.version_bits_hex, w.target};
    }
    std::vector<verifier::verdict> out(count);
    v.verify(shares, out);
    std::vector<std::uint32_t> found;
    for (unsigned i = 0; i < count; ++i) {
        if (out[i].ok() && out[i].meets_target != want_low) {
            found.push_back(first + i);
        }
    }
    return found;
}

bool session_state::on_subscribed(const message& reply) {
    auto s = subscription_of(reply);
    if (!s) {
        return false;
    }
    extranonce1 = std::move(s->extranonce1);
    extranonce2_size = s->extranonce2_size;
    return true;
}

void session_state::on_configured(const message& reply) {
    if (auto mask = version_mask_of(reply)) {
        version_mask = *mask;
    }
}

bool session_state::on_setting(const message& m) {
    if (m.kind == message_kind::set_difficulty) {
        if (auto d = difficulty_of(m)) {
            difficulty = *d;
        }
        return true;
    }
    if (m.kind == message_kind::set_version_mask) {
        if (auto mask = version_mask_of(m)) {
            version_mask = *mask;
        }
        return true;
    }
    return false;
}

void session_state::on_new_job() {
    nonce = 0;
    ++extranonce2_counter;
}

void session_state::advance_nonce(std::uint32_t count) {
    nonce += count;
    if (nonce < count) {
        ++extranonce2_counter;  // the nonce space wrapped: a fresh one
    }
}

}  // namespace bmm::stratum_client
