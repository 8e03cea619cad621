// The server's accept and I/O (see server_loop.hpp for the other parts):
//   1. writing, closing
//   2. limits, bans and TLS
//   3. reading lines
//   4. accepting and listening

#include "server_loop.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

namespace bmm::stratum::detail {

namespace {

constexpr unsigned k_max_bad_lines = 20;  // malformed lines before the connection is closed

log::rate_limiter g_refuse_log(5, std::chrono::seconds(60));

}  // namespace

// ---------------------------------------------------------------------------
// 1. Writing, closing
// ---------------------------------------------------------------------------

namespace {

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
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&s->tcp)) >
        s->loop->limits.max_write_queue_bytes) {
        s->doom = "the miner does not read: unsent data over [limits] max_write_queue_bytes";
        return false;
    }
    return true;
}

}  // namespace

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

namespace {

void on_closed(uv_handle_t* h) {
    auto* s = reinterpret_cast<session*>(h);
    s->released = true;
    if (s->pending == 0) delete s;
}

}  // namespace

void close_session(session* s, const char* why) {
    if (s->closed) return;
    s->closed = true;
    s->loop->sessions.erase(s);
    if (s->subscribed) {
        g_extranonce.give_back((std::uint32_t{s->en1[1]} << 16) | (std::uint32_t{s->en1[2]} << 8) | s->en1[3]);
    }
    if (s->admitted) s->loop->admit->release(s->ip);
    s->loop->metrics->port(port_index(s)).connections_closed.add();
    log::debug("stratum", "connection {} from {} closed: {}", s->id, s->ip, why);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp), on_closed);
}

// ---------------------------------------------------------------------------
// 2. Limits, bans and TLS
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

namespace {

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
    else log::debug("stratum", "refused a connection from {} on port {}: {}", s->ip, s->port->port, to_string(v));
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp), [](uv_handle_t* h) { delete reinterpret_cast<session*>(h); });
    return false;
}

}  // namespace

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

void count_reject(session* s, int code) {
    if (code == 0 || code == static_cast<int>(stratum_error::stale_job)) {
        return;
    }
    const double per_minute = s->loop->limits.free_rejects_per_minute;
    if (per_minute > 0 && s->free_rejects.take(per_minute / 60, per_minute, now_seconds())) {
        return;
    }
    penalise(s, "rejected shares past [limits] free_rejects_per_minute");
}

const char* limit_reached(const session& s, const limits_config& lim, double now) {
    if (s.doom) return s.doom;
    if (s.tls && !s.tls->established() && now - s.connected_at > lim.tls_handshake_timeout_seconds)
        return "TLS handshake not finished within [limits] tls_handshake_timeout_seconds";
    if ((!s.subscribed || s.workers.empty()) && now - s.connected_at > lim.half_open_timeout_seconds)
        return "half-open: not subscribed and authorised within [limits] half_open_timeout_seconds";
    if (now - s.last_line > lim.idle_timeout_seconds) return "idle: no line within [limits] idle_timeout_seconds";
    return nullptr;
}

void prune_ban_scores(loop_ctx& L, double now) {
    if (now < L.next_score_prune) return;
    L.next_score_prune = now + 60;
    for (auto it = L.ban_scores.begin(); it != L.ban_scores.end();)
        it = it->second.value_at(now, L.limits.ban_half_life_seconds) < 0.5 ? L.ban_scores.erase(it) : std::next(it);
}

namespace {

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

}  // namespace

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

// ---------------------------------------------------------------------------
// 3. Reading lines
// ---------------------------------------------------------------------------

namespace {

// One line from the miner: parsed and answered (handle_request); malformed
// lines get error 20 and a ban point, and too many of them close the connection.
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
    handle_request(s, *r);
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

// ---------------------------------------------------------------------------
// 4. Accepting and listening
// ---------------------------------------------------------------------------

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

}  // namespace

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
        uv_close(reinterpret_cast<uv_handle_t*>(tcp.release()),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        return error{"cannot listen on " + p.host + ":" + std::to_string(p.port) + ": " + uv_strerror(rc) +
                     " (is another program on that port?)"};
    }
    tcp->data = &L;
    L.listeners.push_back(std::move(tcp));
    L.listener_ports.push_back(&p);
    L.listener_tls.push_back(std::move(tls_ctx));
    return true;
}

}  // namespace bmm::stratum::detail
