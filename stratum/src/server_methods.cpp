// The Stratum methods (see server_loop.hpp for the other parts): subscribe,
// authorize, configure, suggest_difficulty and submit, the dispatch among
// them, and difficulty announcements. Everything but mining.submit is
// answered at once; a submit is judged as far as it can be without hashing
// (share_verdict.hpp) and joins the loop's batch (server_batch.cpp).

#include "bmm/stratum/mining_gate.hpp"
#include "server_loop.hpp"

#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace bmm::stratum::detail {

namespace {

double session_difficulty(const session* s) { return s->vd.difficulty; }

void send_difficulty(session* s) {
    std::string params = "[";
    params += format_difficulty(session_difficulty(s));
    params += ']';
    send(s, notification("mining.set_difficulty", params));
}

}  // namespace

void announce_difficulty(session* s, double old_difficulty) {
    s->prev_difficulty = old_difficulty;
    s->diff_changed_after = s->last_job_sent;
    send_difficulty(s);
    if (s->loop->current) send_job(s, s->loop->current, false);
}

namespace {

void handle_subscribe(session* s, const request& r) {
    if (!s->subscribed) {
        const auto taken = g_extranonce.take();
        if (!taken) {
            send(s, reply_error(r.id_json, stratum_error::other,
                                "no extranonce1 free: every value is held by a live connection; try again later"));
            return;
        }
        const std::uint32_t n = *taken;
        s->en1 = {static_cast<unsigned char>(s->loop->srv->config().instance_id), static_cast<unsigned char>(n >> 16),
                  static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
        s->en1_hex = to_hex(s->en1);
        s->subscribed = true;
    }
    // (fmt rather than "\"" + ...: GCC 12 warns falsely on that, -Wrestrict, GCC bug 105329.)
    const std::string sub = fmt::format("\"{}\"", s->id);
    send(s, reply_result(r.id_json, "[[[\"mining.set_difficulty\"," + sub + "],[\"mining.notify\"," + sub + "]],\"" +
                                        s->en1_hex + "\"," + std::to_string(s->loop->srv->config().extranonce2_size) +
                                        "]"));
}

// A refused mining.authorize: result false and error 24 with `why`.
void refuse_worker(session* s, const request& r, const std::string& why) {
    send(s, "{\"id\":" + r.id_json + ",\"result\":false,\"error\":[24," + json_string("unauthorized worker: " + why) +
                ",null]}\n");
}

void handle_authorize(session* s, const request& r) {
    std::string_view user, pass;
    if (!param_string(r, 0, user)) {
        send(s, reply_error(r.id_json, stratum_error::other, "malformed parameters: expected [username, password]"));
        return;
    }
    (void)param_string(r, 1, pass);
    auto w = parse_worker_name(user);
    if (!w) {
        unsigned long dropped = 0;
        if (g_reject_log.allow(&dropped))
            log::info("stratum", "refused worker '{}' from {}: {}", user.substr(0, 64), s->ip, w.error_message());
        refuse_worker(s, r, w.error_message());
        return;
    }
    // claim=<secret>: only its sha256 goes further (into the share records).
    auto claim = password_claim(pass);
    if (!claim) {
        refuse_worker(s, r, claim.error_message());
        return;
    }
    if (*claim) {
        const auto& secret = **claim;
        w->claim_digest = to_hex(crypto::sha256_once(
            std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(secret.data()), secret.size())));
    }
    // [limits] max_workers_per_connection: a worker past it is refused, adds
    // a ban point and is not kept (each kept worker holds memory until the
    // connection closes). Authorising a kept worker again adds nothing.
    const std::size_t cap = s->loop->limits.max_workers_per_connection;
    if (s->workers.size() >= cap && !s->workers.contains(std::string(user))) {
        refuse_worker(s, r,
                      "this connection already has " + std::to_string(cap) +
                          " workers ([limits] max_workers_per_connection); authorise more on another connection");
        penalise(s, "workers past [limits] max_workers_per_connection");
        return;
    }
    if (const auto* gate = s->loop->srv->mining_gate_ptr()) {
        std::string why;
        if (!gate_allows(*gate->snapshot(), w->account, s->loop->srv->config().coin, &why)) {
            refuse_worker(s, r, why);
            return;
        }
    }
    const bool first = s->workers.empty();
    s->workers.emplace(std::string(user), *w);
    if (first) s->account = w->account;
    double d = 0;
    if (password_difficulty(pass, d)) s->suggested = d;
    send(s, reply_result(r.id_json, "true"));
    if (first) {
        log::info("stratum", "{} authorised {}.{} on port {} (connection {})", s->ip, w->account, w->worker,
                  s->port->port, s->id);
        const double start = s->suggested > 0 ? s->suggested : s->port->start_difficulty;
        s->vd = vardiff_start(*s->port, start, now_seconds());
        s->prev_difficulty = s->vd.difficulty;
        if (s->subscribed) {
            send_difficulty(s);
            if (s->loop->current) send_job(s, s->loop->current, true);
        }
    }
}

void handle_configure(session* s, const request& r) {
    // BIP310: params [[extensions...], {options}].
    simdjson::dom::array exts;
    simdjson::dom::object opts;
    if (!r.has_params || r.params.at(0).get(exts) || r.params.at(1).get(opts)) {
        send(s,
             reply_error(r.id_json, stratum_error::other, "malformed parameters: expected [[extensions], {options}]"));
        return;
    }
    std::string result = "{";
    auto add = [&result](const std::string& kv) {
        if (result.size() > 1) result += ',';
        result += kv;
    };
    for (simdjson::dom::element e : exts) {
        std::string_view name;
        if (e.get(name)) continue;
        if (name == "version-rolling") {
            // BIP310: the mask is hex, up to 8 digits; anything else (signs,
            // spaces, "0x", more than 32 bits) refuses version rolling.
            std::string_view mask_hex;
            std::uint32_t miner_mask = 0xffffffffu;
            bool mask_ok = true;
            if (opts["version-rolling.mask"].get(mask_hex) == simdjson::SUCCESS) {
                mask_ok = !mask_hex.empty() && mask_hex.size() <= 8 &&
                          parse_be32_hex(std::string(8 - mask_hex.size(), '0').append(mask_hex), miner_mask);
            }
            if (!mask_ok) {
                s->version_mask = 0;
                add("\"version-rolling\":false");
                continue;
            }
            s->version_mask = s->loop->srv->config().version_mask & miner_mask;
            add("\"version-rolling\":true,\"version-rolling.mask\":\"" + be32_hex(s->version_mask) + "\"");
        } else if (name == "minimum-difficulty") {
            double v = 0;
            std::int64_t iv = 0;
            if (opts["minimum-difficulty.value"].get(v) == simdjson::SUCCESS) s->suggested = std::max(s->suggested, v);
            else if (opts["minimum-difficulty.value"].get(iv) == simdjson::SUCCESS)
                s->suggested = std::max(s->suggested, static_cast<double>(iv));
            add("\"minimum-difficulty\":true");
        } else if (name == "subscribe-extranonce") {
            add("\"subscribe-extranonce\":true");
        } else {
            add(json_string(name) + ":false");
        }
    }
    result += "}";
    send(s, reply_result(r.id_json, result));
}

void handle_suggest_difficulty(session* s, const request& r) {
    double d = 0;
    if (!param_number(r, 0, d) || !(d > 0) || !std::isfinite(d)) {
        send(s, reply_error(r.id_json, stratum_error::other, "malformed parameters: expected [difficulty]"));
        return;
    }
    s->suggested = d;
    send(s, reply_result(r.id_json, "true"));
    if (!s->workers.empty()) {
        const double old = s->vd.difficulty;
        s->vd = vardiff_start(*s->port, d, now_seconds());
        if (s->vd.difficulty != old) announce_difficulty(s, old);
    }
}

// Normalises hex to lower case: the records keep one spelling (the duplicate
// key reads values and needs none).
std::string lower(std::string_view v) {
    std::string s(v);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Judges what needs no hashing (judge_submit: its order of checks is the
// order of the errors) and puts the share into the loop's batch; the batch
// hashes it, or only records and answers an early verdict.
void handle_submit(session* s, const request& r) {
    pending_share p;
    p.s = s;
    p.id_json = r.id_json;
    std::string_view worker, job_id, en2, ntime, nonce, vbits;
    const bool shaped = param_string(r, 0, worker) && param_string(r, 1, job_id) && param_string(r, 2, en2) &&
                        param_string(r, 3, ntime) && param_string(r, 4, nonce);
    if (shaped) {
        p.worker = std::string(worker);
        p.job_id = std::string(job_id);
        p.en2 = lower(en2);
        p.ntime = lower(ntime);
        p.nonce = lower(nonce);
        if (param_string(r, 5, vbits)) p.version_bits = lower(vbits);
    }
    auto& L = *s->loop;
    const auto known = s->workers.find(p.worker);
    const auto held = L.jobs.find(p.job_id);
    submit_context c;
    c.subscribed = s->subscribed;
    c.well_formed = shaped;
    c.authorized = known != s->workers.end();
    c.j = held == L.jobs.end() ? nullptr : held->second.get();
    c.job_id = p.job_id;
    c.extranonce1_hex = s->en1_hex;
    c.fields = {p.en2, p.ntime, p.nonce, p.version_bits};
    c.version_mask = s->version_mask;
    c.now_unix = static_cast<std::uint32_t>(unix_ms() / 1000);
    c.difficulty = {s->vd.difficulty, s->prev_difficulty, s->diff_changed_after};
    submit_judgement judged = judge_submit(c, L.seen);
    p.early_code = judged.early.code;
    p.early_message = std::move(judged.early.reason);
    if (judged.early.ban_reason) penalise(s, judged.early.ban_reason);
    else {
        count_reject(s, judged.early.code);
    }
    if (judged.on_job) {
        p.j = held->second;
        p.difficulty = judged.difficulty;
        p.target = judged.target;
    }
    // The account and worker for the records: parsed at authorize for
    // authorised workers, here (once) for the others.
    if (known != s->workers.end()) {
        p.name = known->second;
    } else if (auto w = parse_worker_name(p.worker)) {
        p.name = *w;
    } else {
        p.name = {"", p.worker, ""};
    }
    ++s->pending;
    L.batch.push_back(std::move(p));
}

}  // namespace

// [limits] max_shares_per_second: the connection's submits on average, bursts
// up to five seconds' worth.
bool within_share_rate(session* s) {
    const double rate = s->loop->limits.max_shares_per_second;
    return rate <= 0 || s->submits.take(rate, std::max(1.0, rate * 5), now_seconds());
}

void handle_request(session* s, const request& r) {
    const std::string& m = r.method;
    const bool submit = m == "mining.submit";
    if (submit && s->pending >= s->loop->limits.max_pending_requests) {
        // [limits] max_pending_requests: answered at once, neither judged nor recorded.
        constexpr auto unjudged = static_cast<std::size_t>(metrics::share_result::too_many_pending);
        s->loop->metrics->port(port_index(s)).shares[unjudged].add();
        send(s, reply_error(r.id_json, stratum_error::other,
                            "too many requests awaiting an answer; wait for the answers before sending more"));
    } else if (submit && !within_share_rate(s)) {
        // Neither hashed nor recorded: a flood costs the pool one comparison.
        constexpr auto unjudged = static_cast<std::size_t>(metrics::share_result::too_fast);
        s->loop->metrics->port(port_index(s)).shares[unjudged].add();
        send(s, reply_error(r.id_json, stratum_error::other,
                            "too many shares: more than [limits] max_shares_per_second on this connection; ask for "
                            "a higher difficulty (password d=<difficulty>)"));
        penalise(s, "shares past [limits] max_shares_per_second");
    } else if (submit) {
        handle_submit(s, r);
    } else if (m == "mining.subscribe") {
        handle_subscribe(s, r);
    } else if (m == "mining.authorize") {
        handle_authorize(s, r);
    } else if (m == "mining.configure") {
        handle_configure(s, r);
    } else if (m == "mining.suggest_difficulty") {
        handle_suggest_difficulty(s, r);
    } else if (m == "mining.extranonce.subscribe") {
        send(s, reply_result(r.id_json, "true"));
    } else {
        send(s, reply_error(r.id_json, stratum_error::other, "unknown method " + m.substr(0, 64)));
    }
}

}  // namespace bmm::stratum::detail
