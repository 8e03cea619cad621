// The Stratum server: loops, sessions, the share batch. See server.hpp for the
// design; this file is organised as
//   1. usernames and passwords
//   2. the per-loop context and sessions
//   3. writing, closing
//   3b. limits, bans and TLS
//   4. methods (subscribe, authorize, configure, suggest_difficulty, submit)
//   5. the share batch
//   6. jobs and periodic duties
//   7. start and stop

#include "bmm/stratum/server.hpp"

#include "bmm/hex.hpp"
#include "bmm/log.hpp"
#include "bmm/stratum/limits.hpp"
#include "bmm/stratum/metrics.hpp"
#include "bmm/stratum/protocol.hpp"
#include "bmm/stratum/tls.hpp"
#include "bmm/stratum/vardiff.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace bmm::stratum {

// ---------------------------------------------------------------------------
// 1. Usernames and passwords
// ---------------------------------------------------------------------------

// parse_worker_name and password_difficulty (declared in server.hpp) live in
// server_names.cpp: they are pure, and the fuzzers (tests/fuzz) link them
// without the server.

// ---------------------------------------------------------------------------
// 2. The per-loop context and sessions
// ---------------------------------------------------------------------------

namespace {

using clock_type = std::chrono::steady_clock;
double now_seconds() { return std::chrono::duration<double>(clock_type::now().time_since_epoch()).count(); }
std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr unsigned k_max_bad_lines = 20;         // malformed lines before the connection is closed
constexpr std::size_t k_jobs_kept = 16;          // recent jobs a share may still refer to
constexpr std::uint32_t k_ntime_future = 7200;   // seconds past now an ntime may be

std::atomic<std::uint32_t> g_extranonce_counter{0};
log::rate_limiter g_reject_log(20, std::chrono::seconds(10));
log::rate_limiter g_refuse_log(5, std::chrono::seconds(60));

}  // namespace

struct session;

struct pending_share {
    session* s = nullptr;
    std::string id_json;
    std::string worker;                  // full username as submitted
    worker_name name;                    // its account and worker ({"", worker} when malformed)
    std::string job_id, en2, ntime, nonce, version_bits;
    std::shared_ptr<const job> j;
    double difficulty = 0;
    uint256 target;
    // Set when the share is judged without hashing (unknown job, duplicate, ...).
    int early_code = 0;
    std::string early_message;
};

struct session {
    uv_tcp_t tcp;  // first member: the handle's address is the session's
    server::loop_ctx* loop = nullptr;
    const port_config* port = nullptr;
    std::uint64_t id = 0;
    std::string ip;
    std::string inbuf;
    bool subscribed = false;
    bool closed = false;     // uv_close called
    bool released = false;   // close callback ran; delete when no share is pending
    unsigned pending = 0;    // shares of this session in the current batch
    std::array<unsigned char, 4> en1{};
    std::string en1_hex;
    std::unordered_map<std::string, worker_name> workers;  // authorised usernames, parsed
    std::string account;                      // the first authorised account
    std::uint32_t version_mask = 0;           // negotiated with mining.configure
    double suggested = 0;                     // suggest_difficulty / d=
    vardiff_state vd;
    double prev_difficulty = 0;
    std::uint64_t diff_changed_after = 0;     // jobs up to this seq were sent before the last change
    std::uint64_t last_job_sent = 0;
    double last_line = 0;
    double connected_at = 0;
    unsigned bad_lines = 0;
    std::uint64_t accepted = 0, rejected = 0;

    // Limits and TLS (section 3b).
    std::unique_ptr<tls::connection> tls;  // null on plain TCP ports
    bool admitted = false;                 // counted in the admission table until closed
    const char* doom = nullptr;            // why the next tick closes it (set where closing is unsafe)
};

struct dup_key_hash {
    std::size_t operator()(const std::string& s) const noexcept { return std::hash<std::string>()(s); }
};

struct server::loop_ctx {
    server* srv = nullptr;
    unsigned index = 0;
    uv_loop_t loop{};
    std::vector<std::unique_ptr<uv_tcp_t>> listeners;
    std::vector<const port_config*> listener_ports;
    uv_async_t wake{};
    uv_check_t batch_check{};
    uv_timer_t tick{};
    std::thread thread;

    // Mailbox from other threads.
    std::mutex mu;
    std::vector<std::shared_ptr<const job>> incoming;
    bool stop_requested = false;
    bool stopping = false;

    // Loop-private state.
    std::unordered_map<std::string, std::shared_ptr<const job>> jobs;
    std::deque<std::string> job_order;
    std::unordered_map<std::string, std::unordered_set<std::string, dup_key_hash>> seen;
    std::shared_ptr<const job> current;
    std::unordered_set<session*> sessions;
    std::vector<pending_share> batch;
    std::unique_ptr<verifier::batch_verifier> verifier;
    simdjson::dom::parser parser;
    std::array<char, 64 * 1024> read_buffer{};
    std::uint64_t next_session = 1;

    std::atomic<std::uint64_t> connections{0}, accepted{0}, rejected{0}, blocks{0};

    // Limits, bans and TLS (section 3b).
    limits_config limits;
    admission* admit = nullptr;                              // shared by all loops, used at accept and close
    std::vector<tls::context> listener_tls;                  // per listener; null on plain TCP ports
    std::unordered_map<std::string, ban_score> ban_scores;   // per source address, this loop's only
    double next_score_prune = 0;
    std::atomic<std::uint64_t> refused{0}, bans{0}, closed_by_limits{0}, tls_failures{0};

    // Counters for the metrics endpoint (one writer: this loop); see metrics.hpp.
    std::unique_ptr<metrics::loop_metrics> metrics;
};

namespace {

using loop_ctx = server::loop_ctx;

std::uint64_t job_seq(const std::string& id) { return std::strtoull(id.c_str(), nullptr, 16); }

// The session's [[port]] as an index into the configuration's ports.
std::size_t port_index(const session* s) {
    return static_cast<std::size_t>(s->port - s->loop->srv->config().ports.data());
}

// ---------------------------------------------------------------------------
// 3. Writing, closing
// ---------------------------------------------------------------------------

struct write_req {
    uv_write_t req;
    std::string data;
    std::shared_ptr<const job> keep;  // when the bytes are a job's notify line (no copy)
};

void on_written(uv_write_t* r, int) { delete reinterpret_cast<write_req*>(r); }

// Writes bytes to the socket as they are: plaintext on TCP ports, records on TLS ports.
void write_raw(session* s, std::string bytes) {
    if (s->closed || bytes.empty()) return;
    auto* w = new write_req;
    w->data = std::move(bytes);
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&s->tcp), &buf, 1, on_written) != 0) delete w;
}

// Sends one message. A miner that leaves more than max_write_queue_bytes
// unread gets nothing more and is closed by the next tick (closing here could
// pull a session out of a loop over the sessions).
bool may_send(session* s) {
    if (s->closed || s->doom) return false;
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&s->tcp)) > s->loop->limits.max_write_queue_bytes) {
        s->doom = "the miner does not read: unsent data over [limits] max_write_queue_bytes";
        return false;
    }
    return true;
}

void send(session* s, std::string text) {
    if (text.empty() || !may_send(s)) return;
    if (!s->tls) {
        write_raw(s, std::move(text));
    } else if (s->tls->write(text)) {
        write_raw(s, s->tls->take_output());
    } else {
        s->doom = "TLS write failed";
    }
}

void on_closed(uv_handle_t* h) {
    auto* s = reinterpret_cast<session*>(h);
    s->released = true;
    if (s->pending == 0) delete s;
}

void close_session(session* s, const char* why) {
    if (s->closed) return;
    s->closed = true;
    s->loop->sessions.erase(s);
    if (s->admitted) s->loop->admit->release(s->ip);
    s->loop->metrics->port(port_index(s)).connections_closed.add();
    log::debug("stratum", "connection {} from {} closed: {}", s->id, s->ip, why);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp), on_closed);
}

// ---------------------------------------------------------------------------
// 3b. Limits, bans and TLS
//
// Admission (connections per address and in total, bans) is one table for
// the process, consulted at accept and close only. Ban scores are per loop:
// +1 for a malformed line, a malformed submit or a share the verifier refuses
// (never for stale or low-difficulty shares, which honest mining makes),
// halving every ban_half_life_seconds. An address whose score on one loop
// reaches ban_threshold is banned on all loops for ban_seconds, and its
// connections on that loop are closed; its connections on other loops stay
// until they misbehave themselves, or time out.
// ---------------------------------------------------------------------------

// Counts a new connection in the admission table, or refuses it (closes the
// handle, which frees the session). False when refused.
bool admit_connection(loop_ctx& L, session* s) {
    const auto v = L.admit->admit(s->ip, now_seconds());
    if (v == admission::verdict::admitted) {
        s->admitted = true;
        return true;
    }
    ++L.refused;
    unsigned long dropped = 0;
    if (v == admission::verdict::total_full && g_refuse_log.allow(&dropped))
        log::warn("stratum", "refusing new connections: [limits] max_connections ({}) reached{}",
                  L.limits.max_connections,
                  dropped ? fmt::format(" ({} more refusals not logged)", dropped) : std::string());
    else
        log::debug("stratum", "refused a connection from {} on port {}: {}", s->ip, s->port->port, to_string(v));
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp), [](uv_handle_t* h) { delete reinterpret_cast<session*>(h); });
    return false;
}

// One point on the ban score of the session's address; at the threshold the
// address is banned (logged once) and its connections on this loop closed.
// Never called while iterating L.sessions.
void penalise(session* s, const char* reason) {
    auto& L = *s->loop;
    const limits_config& lim = L.limits;
    if (lim.ban_threshold <= 0) return;
    const double now = now_seconds();
    if (L.ban_scores[s->ip].add(1, now, lim.ban_half_life_seconds) < lim.ban_threshold) return;
    L.ban_scores.erase(s->ip);
    if (L.admit->ban(s->ip, now)) {
        ++L.bans;
        log::warn("stratum", "banned {} for {} s: {} (ban score reached [limits] ban_threshold {})", s->ip,
                  lim.ban_seconds, reason, lim.ban_threshold);
    }
    std::vector<session*> same;
    for (session* o : L.sessions)
        if (o->ip == s->ip) same.push_back(o);
    if (!s->closed && std::find(same.begin(), same.end(), s) == same.end()) same.push_back(s);
    for (session* o : same) {
        ++L.closed_by_limits;
        close_session(o, "address banned");
    }
}

// Why the tick should close `s` now, or null.
const char* limit_reached(const session& s, const limits_config& lim, double now) {
    if (s.doom) return s.doom;
    if (s.tls && !s.tls->established() && now - s.connected_at > lim.tls_handshake_timeout_seconds)
        return "TLS handshake not finished within [limits] tls_handshake_timeout_seconds";
    if ((!s.subscribed || s.workers.empty()) && now - s.connected_at > lim.half_open_timeout_seconds)
        return "half-open: not subscribed and authorised within [limits] half_open_timeout_seconds";
    if (now - s.last_line > lim.idle_timeout_seconds) return "idle: no line within [limits] idle_timeout_seconds";
    return nullptr;
}

// Forgets ban scores that have decayed to nothing (once a minute).
void prune_ban_scores(loop_ctx& L, double now) {
    if (now < L.next_score_prune) return;
    L.next_score_prune = now + 60;
    for (auto it = L.ban_scores.begin(); it != L.ban_scores.end();)
        it = it->second.value_at(now, L.limits.ban_half_life_seconds) < 0.5 ? L.ban_scores.erase(it) : std::next(it);
}

// Ciphertext from the socket of a TLS session: the handshake advances, and
// plaintext joins the line buffer. False when the session was closed (a TLS
// failure, logged at debug level).
bool take_tls(session* s, const char* data, std::size_t n) {
    const bool ok = s->tls->feed(data, n, s->inbuf);
    write_raw(s, s->tls->take_output());  // handshake messages, alerts
    if (ok) return true;
    ++s->loop->tls_failures;
    const std::string why = "TLS: " + s->tls->error();
    close_session(s, why.c_str());
    return false;
}

double session_difficulty(const session* s) { return s->vd.difficulty; }

void send_difficulty(session* s) {
    std::string params = "[";
    params += format_difficulty(session_difficulty(s));
    params += ']';
    send(s, notification("mining.set_difficulty", params));
}

// A job's notify line: on plain TCP the write points into the job itself
// (kept alive by the request), so a new block costs one write call per miner
// and no copy; TLS sessions encrypt their own copy.
void send_job(session* s, const std::shared_ptr<const job>& j, bool clean) {
    const std::string& line = j->notify_line[clean ? 1 : 0];
    s->last_job_sent = job_seq(j->id);
    if (s->tls) {
        send(s, line);
        return;
    }
    if (!may_send(s)) return;
    auto* w = new write_req;
    w->keep = j;
    uv_buf_t buf = uv_buf_init(const_cast<char*>(line.data()), static_cast<unsigned>(line.size()));
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&s->tcp), &buf, 1, on_written) != 0) delete w;
}

// The session's difficulty has changed from `old_difficulty` to
// s->vd.difficulty: announce it and re-send the current job so miners apply
// it; shares on jobs sent before the change count at the lower of the two.
void announce_difficulty(session* s, double old_difficulty) {
    s->prev_difficulty = old_difficulty;
    s->diff_changed_after = s->last_job_sent;
    send_difficulty(s);
    if (s->loop->current) send_job(s, s->loop->current, false);
}

// ---------------------------------------------------------------------------
// 4. Methods
// ---------------------------------------------------------------------------

void handle_subscribe(session* s, const request& r) {
    if (!s->subscribed) {
        const std::uint32_t n = g_extranonce_counter.fetch_add(1);
        s->en1 = {static_cast<unsigned char>(s->loop->srv->config().instance_id), static_cast<unsigned char>(n >> 16),
                  static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
        s->en1_hex = to_hex(s->en1);
        s->subscribed = true;
    }
    const std::string sub = "\"" + std::to_string(s->id) + "\"";
    send(s, reply_result(r.id_json, "[[[\"mining.set_difficulty\"," + sub + "],[\"mining.notify\"," + sub + "]],\"" +
                                        s->en1_hex + "\"," +
                                        std::to_string(s->loop->srv->config().extranonce2_size) + "]"));
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
        send(s, "{\"id\":" + r.id_json + ",\"result\":false,\"error\":[24," +
                    json_string("unauthorized worker: " + w.error_message()) + ",null]}\n");
        return;
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
        send(s, reply_error(r.id_json, stratum_error::other, "malformed parameters: expected [[extensions], {options}]"));
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

void reject_early(pending_share& p, stratum_error code, std::string message) {
    p.early_code = static_cast<int>(code);
    p.early_message = std::move(message);
}

// Normalises hex to lower case, for the duplicate key.
std::string lower(std::string_view v) {
    std::string s(v);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

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
    if (!s->subscribed) {
        reject_early(p, stratum_error::not_subscribed, "not subscribed");
    } else if (!shaped) {
        reject_early(p, stratum_error::other,
                     "malformed parameters: expected [worker, job_id, extranonce2, ntime, nonce, (version_bits)]");
        penalise(s, "malformed mining.submit");
    } else if (auto known = s->workers.find(p.worker); known == s->workers.end()) {
        reject_early(p, stratum_error::unauthorized, "unauthorized worker");
    } else {
        auto it = L.jobs.find(p.job_id);
        if (it == L.jobs.end()) {
            reject_early(p, stratum_error::stale_job, "job not found");
        } else {
            p.j = it->second;
            std::uint32_t nt = 0;
            if (parse_be32_hex(p.ntime, nt)) {
                const auto now = static_cast<std::uint32_t>(unix_ms() / 1000);
                if (nt < p.j->tmpl->mintime || nt > now + k_ntime_future)
                    reject_early(p, stratum_error::other, "ntime out of range");
            }
            std::uint32_t bits = 0;
            if (!p.early_code && !p.version_bits.empty() && parse_be32_hex(p.version_bits, bits)) {
                if (bits & ~s->version_mask) reject_early(p, stratum_error::other, "version bits outside the negotiated mask");
            }
            if (!p.early_code) {
                std::string key = s->en1_hex + ':' + p.en2 + ':' + p.ntime + ':' + p.nonce + ':' + p.version_bits;
                if (!L.seen[p.job_id].insert(std::move(key)).second)
                    reject_early(p, stratum_error::duplicate, "duplicate share");
            }
            const bool before_change = job_seq(p.job_id) <= s->diff_changed_after;
            p.difficulty = before_change ? std::min(s->prev_difficulty, s->vd.difficulty) : s->vd.difficulty;
            auto t = target_from_difficulty(p.difficulty, p.j->data.algorithm);
            p.target = t ? *t : uint256();
        }
    }
    // The account and worker for the records: parsed at authorize for
    // authorised workers, here (once) for the others.
    if (auto known = s->workers.find(p.worker); known != s->workers.end()) {
        p.name = known->second;
    } else if (auto w = parse_worker_name(p.worker)) {
        p.name = *w;
    } else {
        p.name = {"", p.worker};
    }
    ++s->pending;
    L.batch.push_back(std::move(p));
}

void handle_line(session* s, std::string_view line) {
    s->last_line = now_seconds();
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) return;
    std::string id = "null";
    auto r = parse_request(s->loop->parser, line, &id);
    if (!r) {
        send(s, reply_error(id, stratum_error::other, r.error_message()));
        if (++s->bad_lines > k_max_bad_lines) close_session(s, "too many malformed lines");
        else penalise(s, "malformed lines");
        return;
    }
    const std::string& m = r->method;
    if (m == "mining.submit" && s->pending < s->loop->limits.max_pending_requests) handle_submit(s, *r);
    // [limits] max_pending_requests: answered at once, neither judged nor recorded.
    else if (m == "mining.submit") {
        constexpr auto unjudged = static_cast<std::size_t>(metrics::share_result::too_many_pending);
        s->loop->metrics->port(port_index(s)).shares[unjudged].add();
        send(s, reply_error(r->id_json, stratum_error::other,
                            "too many requests awaiting an answer; wait for the answers before sending more"));
    }
    else if (m == "mining.subscribe") handle_subscribe(s, *r);
    else if (m == "mining.authorize") handle_authorize(s, *r);
    else if (m == "mining.configure") handle_configure(s, *r);
    else if (m == "mining.suggest_difficulty") handle_suggest_difficulty(s, *r);
    else if (m == "mining.extranonce.subscribe") send(s, reply_result(r->id_json, "true"));
    else send(s, reply_error(r->id_json, stratum_error::other, "unknown method " + m.substr(0, 64)));
}

// One read buffer per loop: on_read copies what arrived into the session's
// line buffer before the loop reads again.
void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto& L = *reinterpret_cast<session*>(h)->loop;
    buf->base = L.read_buffer.data();
    buf->len = L.read_buffer.size();
}

void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* s = reinterpret_cast<session*>(stream);
    if (n < 0) {
        close_session(s, n == UV_EOF ? "closed by the miner" : uv_strerror(static_cast<int>(n)));
        return;
    }
    if (!s->tls) s->inbuf.append(buf->base, static_cast<std::size_t>(n));
    else if (!take_tls(s, buf->base, static_cast<std::size_t>(n))) return;
    const std::size_t max_line = s->loop->limits.max_line_bytes;
    std::size_t start = 0;
    while (!s->closed) {
        const std::size_t nl = s->inbuf.find('\n', start);
        if (nl == std::string::npos) break;
        if (nl - start > max_line) break;
        handle_line(s, std::string_view(s->inbuf).substr(start, nl - start));
        start = nl + 1;
    }
    s->inbuf.erase(0, start);
    if (!s->closed && s->inbuf.size() > max_line) {
        ++s->loop->closed_by_limits;
        close_session(s, "line longer than [limits] max_line_bytes");
    }
}

void on_connection(uv_stream_t* listener, int status) {
    auto* L = static_cast<loop_ctx*>(listener->data);
    if (status < 0 || L->stopping) return;
    auto* s = new session;
    s->loop = L;
    SSL_CTX* tls_ctx = nullptr;
    for (std::size_t i = 0; i < L->listeners.size(); ++i)
        if (reinterpret_cast<uv_stream_t*>(L->listeners[i].get()) == listener) {
            s->port = L->listener_ports[i];
            tls_ctx = L->listener_tls[i].get();
        }
    uv_tcp_init(&L->loop, &s->tcp);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&s->tcp)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp), [](uv_handle_t* h) { delete reinterpret_cast<session*>(h); });
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    sockaddr_storage peer{};
    int len = sizeof peer;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getpeername(&s->tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
        if (peer.ss_family == AF_INET) uv_ip4_name(reinterpret_cast<sockaddr_in*>(&peer), ip, sizeof ip);
        else uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&peer), ip, sizeof ip);
    }
    s->ip = ip;
    if (!admit_connection(*L, s)) return;
    if (tls_ctx) s->tls = std::make_unique<tls::connection>(tls_ctx);
    s->id = (static_cast<std::uint64_t>(L->index) << 48) | L->next_session++;
    s->connected_at = s->last_line = now_seconds();
    s->vd = vardiff_start(*s->port, s->port->start_difficulty, s->connected_at);
    s->prev_difficulty = s->vd.difficulty;
    L->sessions.insert(s);
    ++L->connections;
    L->metrics->port(port_index(s)).connections_opened.add();
    log::debug("stratum", "connection {} from {} on port {}", s->id, s->ip, s->port->port);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&s->tcp), on_alloc, on_read);
}

// ---------------------------------------------------------------------------
// 5. The share batch
// ---------------------------------------------------------------------------

// The stream record of a verdict (bmm/record/stream_record.hpp), typed until
// the journal writes it. block_hash: the block's hash (display order) when the
// share meets the network target, else empty.
::bmm::record::share_record share_record(const server_config& cfg, const pending_share& p,
                                         const verifier::verdict* v, bool accepted, int code,
                                         const std::string& reason, const std::string& block_hash) {
    ::bmm::record::share_record r;
    r.instance = cfg.instance_id;
    r.coin = cfg.coin;
    r.algorithm = std::string(to_string(cfg.algorithm));
    r.account = p.name.account;
    r.worker = p.name.worker;
    r.ip = p.s->ip;
    r.job = p.job_id;
    r.difficulty = p.difficulty;
    r.accepted = accepted;
    r.code = code;
    r.reason = reason;
    r.time_ms = unix_ms();
    if (p.j) {
        r.height = p.j->tmpl->height;
        r.target = p.target;
        // What the accounting daemon needs for pplns and pps: the job's
        // network target and its expected block reward (coinbase value).
        r.network_target = p.j->tmpl->target;
        r.reward = p.j->tmpl->coinbase_value;
    }
    if (v && v->ok()) {
        auto h = v->pow_hash;
        std::reverse(h.begin(), h.end());
        r.hash = to_hex(h);
    }
    // pplns finds the block's own share by it (the window ends there).
    if (!block_hash.empty()) {
        r.block_hash = block_hash;
    }
    return r;
}

void process_batch(loop_ctx& L) {
    if (L.batch.empty()) return;
    const server_config& cfg = L.srv->config();
    std::vector<verifier::share> shares;
    std::vector<std::size_t> hashed;  // batch index of each share handed to the verifier
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        const pending_share& p = L.batch[i];
        if (p.early_code) continue;
        shares.push_back({&p.j->data, p.s->en1, p.en2, p.ntime, p.nonce, p.version_bits, p.target});
        hashed.push_back(i);
    }
    std::vector<verifier::verdict> verdicts(shares.size());
    if (!shares.empty()) {
        const auto t0 = clock_type::now();
        L.verifier->verify(shares, verdicts);
        const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        L.metrics->verify_batch_seconds.observe(seconds);
        L.metrics->verify_share_seconds.observe(seconds / static_cast<double>(shares.size()), shares.size());
        L.metrics->batch_shares.observe(static_cast<double>(shares.size()));
    }

    std::vector<::bmm::record::share_record> records;
    std::vector<std::string> replies(L.batch.size());
    std::vector<bool> accepted_flags(L.batch.size());
    std::vector<metrics::share_result> results(L.batch.size());
    records.reserve(L.batch.size());
    std::size_t h = 0;
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        pending_share& p = L.batch[i];
        const verifier::verdict* v = nullptr;
        if (!p.early_code) v = &verdicts[h++];
        std::string block_hash;
        // A block first, whatever else is wrong with the share for accounting.
        if (v && v->ok() && v->meets_network_target) {
            found_block b;
            auto hash = v->block_hash;
            std::reverse(hash.begin(), hash.end());
            b.hash_hex = to_hex(hash);
            block_hash = b.hash_hex;
            b.height = p.j->tmpl->height;
            b.account = p.name.account;
            b.worker = p.name.worker;
            b.job_id = p.job_id;
            b.reward = p.j->tmpl->coinbase_value;
            unsigned char en2[verifier::k_max_extranonce2_size];
            from_hex_into(p.en2, {en2, p.j->data.extranonce2_size});
            b.bytes = assemble_block(*p.j, *v, p.s->en1, {en2, p.j->data.extranonce2_size});
            log::info("block", "share from {} meets the network target: block {} at height {}, submitting", p.worker,
                      b.hash_hex, b.height);
            L.srv->job_manager_ref().submit(std::move(b));
            ++L.blocks;
            L.metrics->blocks_found.add();
        }
        int code = p.early_code;
        std::string reason = p.early_message;
        if (!code && v) {
            if (!v->ok()) {
                code = static_cast<int>(stratum_error::other);
                reason = std::string(verifier::describe(v->status));
                penalise(p.s, "invalid shares");
            } else if (!L.current || p.j->tmpl->prevhash != L.current->tmpl->prevhash) {
                code = static_cast<int>(stratum_error::stale_job);
                reason = "stale share";
            } else if (!v->meets_target) {
                code = static_cast<int>(stratum_error::low_difficulty);
                reason = "low difficulty share";
            }
        }
        const bool accepted = code == 0;
        accepted_flags[i] = accepted;
        results[i] = metrics::classify(code, p.early_code != 0);
        records.push_back(share_record(cfg, p, v, accepted, code, reason, block_hash));
        if (accepted) {
            replies[i] = reply_result(p.id_json, "true");
            ++p.s->accepted;
            ++L.accepted;
        } else {
            replies[i] = reply_error(p.id_json, static_cast<stratum_error>(code), reason);
            ++p.s->rejected;
            ++L.rejected;
            unsigned long dropped = 0;
            if (g_reject_log.allow(&dropped))
                log::info("stratum", "rejected share from {} ({}): {}{}", p.worker, p.s->ip, reason,
                          dropped ? fmt::format(" ({} more rejections not logged)", dropped) : std::string());
        }
    }
    // Journal first: a verdict the miner hears is a verdict that is kept.
    const bool recorded = L.srv->sink_ref().append(records);
    if (!recorded) {
        for (std::size_t i = 0; i < L.batch.size(); ++i)
            replies[i] = reply_error(L.batch[i].id_json, stratum_error::other, "pool cannot record shares right now");
    }
    const double now = now_seconds();
    // Metrics: the verdicts as the miners hear them; accepted work per worker
    // and port goes to the hashrate windows in one hand-over for the batch.
    std::vector<metrics::work_item> work;
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        const pending_share& p = L.batch[i];
        const std::size_t port = port_index(p.s);
        auto& counters = L.metrics->port(port);
        const auto r = recorded ? results[i] : metrics::share_result::not_recorded;
        counters.shares[static_cast<std::size_t>(r)].add();
        if (r != metrics::share_result::accepted) continue;
        const double w = L.metrics->work_of(p.target);
        counters.difficulty_accepted.add(p.difficulty);
        counters.work_accepted.add(w);
        work.push_back({p.name.account, p.name.worker, port, w});
    }
    L.metrics->add_work(work, now);
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        pending_share& p = L.batch[i];
        session* s = p.s;
        if (!s->closed) {
            send(s, std::move(replies[i]));
            const double old = s->vd.difficulty;
            if (accepted_flags[i] && vardiff_on_share(s->vd, *s->port, now)) announce_difficulty(s, old);
        }
        if (--s->pending == 0 && s->released) delete s;
    }
    L.batch.clear();
}

// ---------------------------------------------------------------------------
// 6. Jobs and periodic duties
// ---------------------------------------------------------------------------

void take_job(loop_ctx& L, std::shared_ptr<const job> j) {
    if (L.jobs.count(j->id)) return;  // the same job handed over twice
    const bool clean = !L.current || j->tmpl->prevhash != L.current->tmpl->prevhash;
    L.jobs[j->id] = j;
    L.job_order.push_back(j->id);
    while (L.job_order.size() > k_jobs_kept) {
        L.jobs.erase(L.job_order.front());
        L.seen.erase(L.job_order.front());
        L.job_order.pop_front();
    }
    L.current = j;
    const auto began = clock_type::now();
    std::size_t sent = 0;
    for (session* s : L.sessions) {
        if (!s->subscribed || s->workers.empty()) continue;
        send_job(s, j, clean);
        ++sent;
    }
    const double took = std::chrono::duration<double>(clock_type::now() - began).count();
    L.metrics->job_broadcast_seconds.observe(took);
    log::debug("stratum", "loop {}: job {}{} written to {} miners in {:.1f} ms", L.index, j->id,
               clean ? " (clean)" : "", sent, took * 1000);
}

void begin_stop(loop_ctx& L);

void on_wake(uv_async_t* a) {
    auto& L = *static_cast<loop_ctx*>(a->data);
    std::vector<std::shared_ptr<const job>> jobs;
    bool stop = false;
    {
        std::lock_guard lock(L.mu);
        jobs.swap(L.incoming);
        stop = L.stop_requested;
    }
    for (auto& j : jobs) take_job(L, std::move(j));
    if (stop && !L.stopping) begin_stop(L);
}

void on_batch_check(uv_check_t* c) { process_batch(*static_cast<loop_ctx*>(c->data)); }

// Periodic duties, once a second: vardiff for quiet miners; closing
// connections that hit a limit (limit_reached: unread output, TLS handshake,
// half-open, idle); forgetting decayed ban scores.
void on_tick(uv_timer_t* t) {
    auto& L = *static_cast<loop_ctx*>(t->data);
    const double now = now_seconds();
    std::vector<std::pair<session*, const char*>> to_close;
    for (session* s : L.sessions) {
        if (const char* why = limit_reached(*s, L.limits, now)) to_close.emplace_back(s, why);
        else if (!s->workers.empty()) {
            const double old = s->vd.difficulty;
            if (vardiff_on_tick(s->vd, *s->port, now)) announce_difficulty(s, old);
        }
    }
    for (auto& [s, why] : to_close) {
        ++L.closed_by_limits;
        close_session(s, why);
    }
    prune_ban_scores(L, now);
}

// ---------------------------------------------------------------------------
// 7. Start and stop
// ---------------------------------------------------------------------------

void begin_stop(loop_ctx& L) {
    L.stopping = true;
    for (auto& l : L.listeners) uv_close(reinterpret_cast<uv_handle_t*>(l.get()), nullptr);
    process_batch(L);
    std::vector<session*> all(L.sessions.begin(), L.sessions.end());
    for (session* s : all) {
        send(s, notification("client.reconnect", "[]"));
        close_session(s, "pool shutting down");
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&L.wake), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&L.batch_check), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&L.tick), nullptr);
}

result<bool> bind_listener(loop_ctx& L, const port_config& p) {
    tls::context tls_ctx;
    if (p.tls) {
        auto c = tls::make_server_context(p.tls_cert, p.tls_key);
        if (!c) return error{"[[port]] " + p.host + ":" + std::to_string(p.port) + ": " + c.error_message()};
        tls_ctx = std::move(*c);
    }
    auto tcp = std::make_unique<uv_tcp_t>();
    sockaddr_storage addr{};
    const bool v6 = p.host.find(':') != std::string::npos;
    int rc = v6 ? uv_ip6_addr(p.host.c_str(), p.port, reinterpret_cast<sockaddr_in6*>(&addr))
                : uv_ip4_addr(p.host.c_str(), p.port, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc) return error{"[[port]] host " + p.host + " is not an IP address"};
    uv_tcp_init_ex(&L.loop, tcp.get(), v6 ? AF_INET6 : AF_INET);
    uv_os_fd_t fd;
    uv_fileno(reinterpret_cast<uv_handle_t*>(tcp.get()), &fd);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    rc = uv_tcp_bind(tcp.get(), reinterpret_cast<sockaddr*>(&addr), 0);
    if (!rc) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), 4096, on_connection);
    if (rc) {
        uv_close(reinterpret_cast<uv_handle_t*>(tcp.release()), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        return error{"cannot listen on " + p.host + ":" + std::to_string(p.port) + ": " + uv_strerror(rc) +
                     " (is another program on that port?)"};
    }
    tcp->data = &L;
    L.listeners.push_back(std::move(tcp));
    L.listener_ports.push_back(&p);
    L.listener_tls.push_back(std::move(tls_ctx));
    return true;
}

}  // namespace

server::server(const server_config& cfg, job_manager& jobs, share_sink& sink) : cfg_(cfg), jobs_(jobs), sink_(sink) {
    std::random_device rd;
    g_extranonce_counter = rd();
}

server::~server() { stop(); }

result<bool> server::start() {
    const unsigned n = cfg_.threads ? cfg_.threads : std::max(1u, std::thread::hardware_concurrency());
    if (!admission_) admission_ = std::make_unique<admission>(cfg_.limits);
    for (unsigned i = 0; i < n; ++i) {
        auto L = std::make_unique<loop_ctx>();
        L->srv = this;
        L->index = i;
        L->limits = cfg_.limits;
        L->admit = admission_.get();
        L->metrics = std::make_unique<metrics::loop_metrics>(cfg_.ports.size(), cfg_.metrics_hashrate_window_seconds);
        uv_loop_init(&L->loop);
        for (const auto& p : cfg_.ports) {
            auto ok = bind_listener(*L, p);
            if (!ok) {
                uv_run(&L->loop, UV_RUN_NOWAIT);
                for (auto& l : L->listeners) uv_close(reinterpret_cast<uv_handle_t*>(l.get()), nullptr);
                uv_run(&L->loop, UV_RUN_DEFAULT);
                uv_loop_close(&L->loop);
                stop();
                return ok;
            }
        }
        uv_async_init(&L->loop, &L->wake, on_wake);
        L->wake.data = L.get();
        uv_check_init(&L->loop, &L->batch_check);
        L->batch_check.data = L.get();
        uv_check_start(&L->batch_check, on_batch_check);
        uv_timer_init(&L->loop, &L->tick);
        L->tick.data = L.get();
        uv_timer_start(&L->tick, on_tick, 1000, 1000);
        L->verifier = std::make_unique<verifier::batch_verifier>();
        if (auto j = jobs_.current()) take_job(*L, j);
        loops_.push_back(std::move(L));
    }
    for (auto& L : loops_) {
        loop_ctx* raw = L.get();
        raw->thread = std::thread([raw] {
            uv_run(&raw->loop, UV_RUN_DEFAULT);
            uv_loop_close(&raw->loop);
        });
    }
    started_ = true;
    log::info("stratum", "{} loop thread(s) listening on {} port(s); kernels: {}", n, cfg_.ports.size(),
              loops_.front()->verifier->describe_kernels());
    return true;
}

void server::publish_job(std::shared_ptr<const job> j) {
    for (auto& L : loops_) {
        {
            std::lock_guard lock(L->mu);
            L->incoming.push_back(j);
        }
        uv_async_send(&L->wake);
    }
}

void server::stop() {
    if (!started_) return;
    started_ = false;
    for (auto& L : loops_) {
        {
            std::lock_guard lock(L->mu);
            L->stop_requested = true;
        }
        uv_async_send(&L->wake);
    }
    for (auto& L : loops_)
        if (L->thread.joinable()) L->thread.join();
    final_ = stats();
    loops_.clear();
}

server_stats server::stats() const {
    server_stats s = final_;
    for (const auto& L : loops_) {
        s.connections += L->connections;
        s.accepted += L->accepted;
        s.rejected += L->rejected;
        s.blocks += L->blocks;
        s.refused += L->refused;
        s.bans += L->bans;
        s.closed_by_limits += L->closed_by_limits;
        s.tls_failures += L->tls_failures;
    }
    return s;
}

unsigned server::loops() const { return static_cast<unsigned>(loops_.size()); }

metrics::server_snapshot server::metrics_snapshot() const {
    metrics::server_snapshot snap;
    snap.loops = static_cast<unsigned>(loops_.size());
    snap.window_seconds = cfg_.metrics_hashrate_window_seconds;
    snap.worker_series_limit = cfg_.metrics_worker_series;
    snap.ports.resize(cfg_.ports.size());
    for (std::size_t i = 0; i < cfg_.ports.size(); ++i) {
        snap.ports[i].host = cfg_.ports[i].host;
        snap.ports[i].port = cfg_.ports[i].port;
    }
    const double now = now_seconds();
    std::unordered_map<std::string, double> workers;
    std::vector<double> port_rates(cfg_.ports.size());
    for (const auto& L : loops_) {
        const metrics::loop_metrics& m = *L->metrics;
        for (std::size_t i = 0; i < snap.ports.size(); ++i) {
            const metrics::port_counters& c = m.port(i);
            // Closed before opened: a connection closing meanwhile never counts below zero.
            const std::uint64_t closed = c.connections_closed.get();
            const std::uint64_t opened = c.connections_opened.get();
            auto& p = snap.ports[i];
            p.connections_total += opened;
            p.connections_current += opened - std::min(opened, closed);
            for (std::size_t r = 0; r < metrics::k_share_results; ++r) p.shares[r] += c.shares[r].get();
            p.difficulty_accepted += c.difficulty_accepted.get();
            p.work_accepted += c.work_accepted.get();
        }
        snap.blocks_found += m.blocks_found.get();
        snap.connections_refused += L->refused;
        snap.bans += L->bans;
        snap.closed_by_limits += L->closed_by_limits;
        snap.tls_failures += L->tls_failures;
        snap.verify_batch_seconds.merge(m.verify_batch_seconds.snapshot());
        snap.verify_share_seconds.merge(m.verify_share_seconds.snapshot());
        snap.batch_shares.merge(m.batch_shares.snapshot());
        snap.job_broadcast_seconds.merge(m.job_broadcast_seconds.snapshot());
        m.add_hashrates(now, workers, port_rates);
    }
    for (std::size_t i = 0; i < snap.ports.size(); ++i) snap.ports[i].hashrate = port_rates[i];
    metrics::top_workers(workers, cfg_.metrics_worker_series, snap);
    return snap;
}

}  // namespace bmm::stratum
