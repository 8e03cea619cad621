// bmm-bench: a Stratum v1 load generator for benchmarking bmm-stratum.
//
// It opens many connections (ramped), subscribes and authorises each, then
// either holds them idle or submits shares at a given rate per connection:
// valid ones (mined with the project's own batch verifier at the difficulty
// the pool sets) or invalid ones (random nonces, which the pool must still
// hash in full). It reports connections held and failed, shares sent,
// accepted and rejected by reason, and the submit-to-answer latency, as JSON
// and as one summary line, with a progress line on stderr every second.
//
// Shape of the program:
//   - the parent parses options, refuses non-loopback targets unless
//     --allow-remote, raises RLIMIT_NOFILE, and runs P workers: itself when
//     P is 1, else P forked children, each with its own source addresses
//     (127.0.0.2, 127.0.0.3, ...) so that every one has its own ~28,000
//     ephemeral ports;
//   - a worker is one libuv loop that owns its connections; one 5 ms timer
//     ramps connections up and submits due shares (all shares due in one
//     turn are mined together, lane by lane, like the pool verifies them);
//   - children send a progress line every second and their figures at the
//     end through a pipe, as JSON; the parent merges them.
// Every loop is bounded: --duration (plus a drain of at most --drain seconds
// for answers in flight) and --max-shares.

#include "bench_report.hpp"
#include "bmm/cli.hpp"
#include "bmm/hex.hpp"
#include "bmm/stratum_client/protocol.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

using namespace bmm;
namespace sc = bmm::stratum_client;

const char* k_footer = R"(
A Stratum v1 load generator for benchmarking bmm-stratum (not a test). It opens
--connections connections at --ramp per second, subscribes and authorises each
(user bench.wN, N the connection number), and then holds them or submits
shares until --duration has passed or --max-shares were sent.

--mode valid: shares mined at the pool's difficulty; invalid: random nonces
(rejected, but fully hashed by the pool).

Prints the summary line and the JSON report on stdout. Exit code 0 when at
least one connection was held, 1 otherwise, 2 on bad arguments.
)";

enum class run_mode { idle, valid, invalid };

struct options {
    std::string url, host, port;
    std::uint64_t connections = 10;
    double ramp = 1000;
    run_mode mode = run_mode::idle;
    double rate = 1;
    unsigned window = 8;
    double duration = 10, drain = 3;
    std::uint64_t max_shares = 10'000'000;
    pow_algorithm algo = pow_algorithm::sha256d;
    double difficulty = 0;
    std::string user = "bench";
    bool version_rolling = false;
    bool tls = false, insecure = false;
    std::string ca_file;
    unsigned processes = 1;
    std::vector<std::string> sources;
    bool clean_report = false;
    std::string ready_file, json_file;
    bool allow_remote = false, quiet = false;
};

const char* mode_name(run_mode m) { return m == run_mode::idle ? "idle" : m == run_mode::valid ? "valid" : "invalid"; }

std::int64_t unix_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---------------------------------------------------------------------------
// 1. Options
// ---------------------------------------------------------------------------

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const std::size_t end = std::min(s.find(sep, pos), s.size());
        if (end > pos) out.push_back(s.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

// Is `host` (a name or an address) loopback? Every address it resolves to
// must be 127.0.0.0/8 or ::1.
bool is_loopback(const std::string& host, const std::string& port) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return false;
    bool all = res != nullptr;
    for (addrinfo* a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
            all = all && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else if (a->ai_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
            all = all && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        } else {
            all = false;
        }
    }
    freeaddrinfo(res);
    return all;
}

// CLI11 validators that say what a value must be.
std::string check_url(const std::string& u) {
    auto p = sc::parse_pool_url(u);
    return p ? std::string() : p.error_message();
}
std::string check_algo(const std::string& a) {
    auto p = parse_pow_algorithm(a);
    return p ? std::string() : p.error_message();
}
std::string check_user(const std::string& u) {
    return !u.empty() && u.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                             std::string::npos
               ? std::string()
               : std::string("may only hold letters, digits, '_' and '-'");
}
std::string check_sources(const std::string& list) {
    for (const auto& s : split(list, ',')) {
        in_addr a4{};
        in6_addr a6{};
        if (inet_pton(AF_INET, s.c_str(), &a4) != 1 && inet_pton(AF_INET6, s.c_str(), &a6) != 1)
            return "'" + s + "' is not an IP address";
    }
    return {};
}

// The command line; the options, or the exit code (0 after --help or
// --version, 2 after a bad command line).
std::variant<options, int> parse_args(int argc, char** argv) {
    options o;
    CLI::App app{"bmm-bench: a Stratum v1 load generator for benchmarking bmm-stratum", "bmm-bench"};
    cli::setup(app, "bmm-bench");
    app.footer(k_footer);
    std::string mode = "idle", algo = "sha256d", sources;
    unsigned source_count = 0;
    app.add_option("--url", o.url, "stratum+tcp://HOST:PORT, or stratum+ssl://HOST:PORT for TLS")
        ->required()
        ->check(check_url);
    app.add_option("--connections", o.connections, "connections to open (default 10)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
    app.add_option("--ramp", o.ramp, "new connections per second, all processes together (default 1000)")
        ->check(cli::number(0, false));
    app.add_option("--mode", mode, "idle | valid | invalid (default idle)")
        ->check(CLI::IsMember({"idle", "valid", "invalid"}));
    app.add_option("--rate", o.rate, "shares per second per connection; 0 = as fast as --window allows (default 1)")
        ->check(cli::number(0, true));
    app.add_option("--window", o.window, "unanswered submits allowed per connection (default 8)")
        ->check(CLI::Range(1u, 1024u));
    app.add_option("--duration", o.duration, "seconds to run, ramp included (default 10)")
        ->check(cli::number(0, false, 86400));
    app.add_option("--drain", o.drain, "seconds to wait for answers in flight at the end (default 3)")
        ->check(cli::number(0, true, 600));
    app.add_option("--max-shares", o.max_shares, "stop submitting after N shares in all (default 10000000)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000'000ULL}));
    app.add_option("--algo", algo, "the pool's algorithm: sha256d (default) or scrypt")->check(check_algo);
    app.add_option("--difficulty", o.difficulty, "ask for difficulty D (password \"d=D\"); the pool clamps it")
        ->check(cli::number(0, false));
    app.add_option("--user", o.user, "username prefix (default bench); users are PREFIX.wN")->check(check_user);
    app.add_flag("--version-rolling", o.version_rolling, "negotiate BIP310 version rolling and roll version bits");
    app.add_flag("--tls", o.tls, "TLS (also implied by stratum+ssl://)");
    app.add_flag("--insecure", o.insecure, "with TLS: skip certificate checks (self-signed pools)");
    app.add_option("--ca", o.ca_file, "with TLS: trust the PEM certificate(s) in FILE");
    app.add_option("--processes", o.processes,
                   "worker processes (default 1); each gets its own source addresses, and connections are spread "
                   "evenly")
        ->check(CLI::Range(1u, 64u));
    auto* sources_opt = app.add_option("--sources", sources,
                                       "A,B,...: source addresses to bind before connecting (spread over processes)")
                            ->check(check_sources);
    app.add_option("--source-count", source_count,
                   "K: the same as --sources 127.0.0.2,...,127.0.0.(K+1) (default with --processes P > 1: one per "
                   "process)")
        ->check(CLI::Range(1u, 250u))
        ->excludes(sources_opt);
    app.add_flag("--clean-jobs-report", o.clean_report,
                 "record when each connection receives each new prevhash as a clean mining.notify (unix ms) and "
                 "report first/p50/p99/last");
    app.add_option("--ready-file", o.ready_file, "write FILE once every connection is held or has failed");
    app.add_option("--json", o.json_file, "also write the JSON report to FILE");
    app.add_flag("--allow-remote", o.allow_remote, "allow a target that is not a loopback address");
    app.add_flag("--quiet", o.quiet, "no progress lines");
    if (auto rc = cli::parse(app, argc, argv)) return *rc;

    o.mode = mode == "valid" ? run_mode::valid : mode == "invalid" ? run_mode::invalid : run_mode::idle;
    o.algo = *parse_pow_algorithm(algo);
    const auto url = *sc::parse_pool_url(o.url);
    o.host = url.host;
    o.port = url.port;
    o.tls = o.tls || url.tls;
    auto refuse = [](const char* why) {
        std::fprintf(stderr, "bmm-bench: %s\nRun with --help for more information.\n", why);
        return 2;
    };
    if (o.connections < o.processes) return refuse("--connections must be at least --processes");
    if (o.max_shares < o.processes) return refuse("--max-shares must be at least --processes");
    o.sources = split(sources, ',');
    if (source_count)
        for (unsigned k = 0; k < source_count; ++k) o.sources.push_back("127.0.0." + std::to_string(2 + k));
    else if (o.sources.empty() && o.processes > 1)
        for (unsigned k = 0; k < o.processes; ++k) o.sources.push_back("127.0.0." + std::to_string(2 + k));
    return o;
}

// ---------------------------------------------------------------------------
// 2. A worker: one libuv loop and its connections
// ---------------------------------------------------------------------------

struct progress {
    std::uint64_t attempted = 0, held = 0, failed = 0, sent = 0, accepted = 0, rejected = 0;
    bool settled = false;  // every connection attempted, and each held or failed
};

class worker;

enum class conn_state { connecting, handshaking, starting, held, closed };

struct connection {
    uv_tcp_t tcp{};
    worker* w = nullptr;
    std::uint64_t number = 0;
    conn_state state = conn_state::connecting;
    bool counted_held = false;
    sc::line_buffer in;
    SSL* ssl = nullptr;
    BIO* rbio = nullptr;        // network -> OpenSSL
    BIO* wbio = nullptr;        // OpenSSL -> network
    sc::session_state session;  // extranonces, difficulty, version mask
    std::shared_ptr<const sc::job> job;
    std::string prevhash;
    double credit = 0;
    int next_id = 10;
    std::vector<std::pair<int, std::uint64_t>> inflight;  // submit id, uv_hrtime() at send
    std::string out;                                      // lines to write this turn
};

constexpr int k_configure_id = 1, k_subscribe_id = 2, k_authorize_id = 3;

class worker {
public:
    worker(const options& o, std::uint64_t connections, std::vector<std::string> sources, std::uint64_t first_number,
           std::uint64_t max_shares, std::function<void(const progress&)> on_progress)
        : o_(o),
          wanted_(connections),
          first_number_(first_number),
          max_shares_(max_shares),
          on_progress_(std::move(on_progress)) {
        for (const auto& s : sources) {
            sockaddr_storage ss{};
            if (inet_pton(AF_INET, s.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1)
                ss.ss_family = AF_INET;
            else if (inet_pton(AF_INET6, s.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1)
                ss.ss_family = AF_INET6;
            sources_.push_back(ss);
        }
        std::random_device rd;
        rng_.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ first_number);
    }

    // Runs to the end (bounded by --duration + --drain + 5 s); returns the figures.
    bench::run_stats run();

    // Called from the connection callbacks.
    void on_connected(connection* c, int status);
    void on_bytes(connection* c, const char* data, std::size_t n);
    void on_eof(connection* c, const std::string& why);

private:
    void tick();
    void open_one();
    bool feed(connection* c, std::string_view bytes);
    void handle_line(connection* c, std::string_view line);
    std::string worker_name(const connection* c) const { return o_.user + ".w" + std::to_string(c->number); }
    void send_line(connection* c, const std::string& line);
    void flush(connection* c);
    void write_raw(connection* c, const char* data, std::size_t n);
    void start_session(connection* c);
    void fail(connection* c, const std::string& reason);
    void close_conn(connection* c);
    void submit_due(double dt);
    void emit_progress();
    void finish();
    std::shared_ptr<const sc::job> decode_job(const sc::notify_view& n, std::size_t en2_size, std::uint32_t mask);

    const options& o_;
    std::uint64_t wanted_, first_number_, max_shares_;
    std::function<void(const progress&)> on_progress_;
    std::vector<sockaddr_storage> sources_;
    sockaddr_storage target_{};
    uv_loop_t loop_{};
    uv_timer_t tick_timer_{}, progress_timer_{}, hard_stop_{};
    uv_signal_t sigint_{}, sigterm_{};
    std::vector<std::unique_ptr<connection>> conns_;
    std::uint64_t started_ = 0, held_now_ = 0, pending_ = 0;
    double ramp_credit_ = 0;
    std::uint64_t last_tick_ns_ = 0, start_ns_ = 0;
    bool stopping_ = false, draining_ = false;
    std::uint64_t drain_until_ns_ = 0;
    bench::run_stats st_;
    sc::message_parser parser_;
    std::unordered_map<std::string, std::shared_ptr<const sc::job>> jobs_;
    std::unique_ptr<verifier::batch_verifier> verifier_;
    std::mt19937_64 rng_;
    SSL_CTX* ssl_ctx_ = nullptr;
    std::string last_clean_prev_;
};

// mining.notify's prevhash (word-swapped) as the node prints hashes, so that
// the report can be matched with the node's own log.
std::string display_hash(std::string_view stratum_prevhash) {
    verifier::hash256 h{};
    if (!from_hex_into(stratum_prevhash, h)) return std::string(stratum_prevhash);
    h = verifier::stratum_prevhash_swap(h);
    std::reverse(h.begin(), h.end());
    return to_hex(h);
}

worker* as_worker(uv_handle_t* h) { return static_cast<worker*>(h->data); }

void worker::fail(connection* c, const std::string& reason) {
    if (c->state == conn_state::closed) return;
    ++st_.failed;
    ++st_.failures[reason];
    close_conn(c);
}

void worker::close_conn(connection* c) {
    if (c->state == conn_state::closed) return;
    if (c->state != conn_state::held) --pending_;
    if (c->counted_held) --held_now_;
    c->state = conn_state::closed;
    uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&c->tcp);
    if (!uv_is_closing(h)) uv_close(h, nullptr);  // the connection object lives until the loop ends
}

void worker::open_one() {
    auto c = std::make_unique<connection>();
    c->w = this;
    c->number = first_number_ + started_;
    c->session.extranonce2_counter = rng_();
    ++started_;
    ++st_.attempted;
    ++pending_;
    connection* cp = c.get();
    conns_.push_back(std::move(c));
    cp->tcp.data = cp;

    // The socket is made here so that it can be bound to its source address
    // with IP_BIND_ADDRESS_NO_PORT: the port is then picked at connect time
    // per (source, destination), and ephemeral ports are not used up by bind.
    const int family = target_.ss_family;
    const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        const std::string why = std::string("socket: ") + std::strerror(errno);
        uv_tcp_init(&loop_, &cp->tcp);
        fail(cp, why);
        return;
    }
    if (!sources_.empty()) {
        const sockaddr_storage& src = sources_[started_ % sources_.size()];
        const int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        const socklen_t len = src.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), len) != 0) {
            const std::string why = std::string("bind to source: ") + std::strerror(errno);
            ::close(fd);
            uv_tcp_init(&loop_, &cp->tcp);
            fail(cp, why);
            return;
        }
    }
    uv_tcp_init(&loop_, &cp->tcp);
    uv_tcp_open(&cp->tcp, fd);
    uv_tcp_nodelay(&cp->tcp, 1);
    auto* req = new uv_connect_t;
    req->data = cp;
    const int rc =
        uv_tcp_connect(req, &cp->tcp, reinterpret_cast<const sockaddr*>(&target_), [](uv_connect_t* r, int status) {
            auto* conn = static_cast<connection*>(r->data);
            delete r;
            if (status == UV_ECANCELED) return;
            conn->w->on_connected(conn, status);
        });
    if (rc) {
        delete req;
        fail(cp, std::string("connect: ") + uv_err_name(rc));
    }
}

void worker::on_connected(connection* c, int status) {
    if (c->state == conn_state::closed) return;
    if (status) {
        fail(c, std::string("connect: ") + uv_err_name(status));
        return;
    }
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
            static char shared[65536];  // one loop per process: one buffer, copied out at once
            buf->base = shared;
            buf->len = sizeof shared;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
            auto* conn = static_cast<connection*>(s->data);
            if (n > 0) conn->w->on_bytes(conn, buf->base, static_cast<std::size_t>(n));
            else if (n < 0)
                conn->w->on_eof(conn, n == UV_EOF ? "closed by the pool"
                                                  : std::string("read: ") + uv_err_name(static_cast<int>(n)));
        });
    if (o_.tls) {
        c->ssl = SSL_new(ssl_ctx_);
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_connect_state(c->ssl);
        SSL_set_tlsext_host_name(c->ssl, o_.host.c_str());
        if (!o_.insecure) {
            in6_addr ip{};
            if (inet_pton(AF_INET, o_.host.c_str(), &ip) == 1 || inet_pton(AF_INET6, o_.host.c_str(), &ip) == 1)
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o_.host.c_str());
            else SSL_set1_host(c->ssl, o_.host.c_str());
        }
        c->state = conn_state::handshaking;
        SSL_do_handshake(c->ssl);
        flush(c);
        return;
    }
    start_session(c);
}

void worker::start_session(connection* c) {
    c->state = conn_state::starting;
    if (o_.version_rolling) send_line(c, sc::configure_request(k_configure_id));
    send_line(c, sc::subscribe_request(k_subscribe_id, "bmm-bench/1.0"));
    std::string pass = "x";
    if (o_.difficulty > 0) {
        char b[64];
        std::snprintf(b, sizeof b, "d=%.12g", o_.difficulty);
        pass = b;
    }
    send_line(c, sc::authorize_request(k_authorize_id, worker_name(c), pass));
    flush(c);
}

void worker::on_eof(connection* c, const std::string& why) {
    if (c->state == conn_state::closed) return;
    if (stopping_ && draining_) {
        close_conn(c);
        return;
    }
    fail(c, why);
}

void worker::on_bytes(connection* c, const char* data, std::size_t n) {
    if (c->state == conn_state::closed) return;
    if (c->ssl) {
        BIO_write(c->rbio, data, static_cast<int>(n));
        if (c->state == conn_state::handshaking) {
            const int r = SSL_do_handshake(c->ssl);
            if (r != 1) {
                const int e = SSL_get_error(c->ssl, r);
                flush(c);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    char buf[256];
                    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
                    fail(c, std::string("TLS handshake: ") + buf);
                }
                return;
            }
            start_session(c);
        }
        char plain[16384];
        int k;
        while ((k = SSL_read(c->ssl, plain, sizeof plain)) > 0)
            if (!feed(c, std::string_view(plain, static_cast<std::size_t>(k)))) return;
    } else if (!feed(c, std::string_view(data, n))) {
        return;
    }
    if (c->in.partial_bytes() > 1 << 20) fail(c, "line longer than 1 MiB from the pool");
    flush(c);
}

// The pool's lines in `bytes` handled; false when the connection closed under them.
bool worker::feed(connection* c, std::string_view bytes) {
    return c->in.feed(bytes, [&](std::string_view line) {
        handle_line(c, line);
        return c->state != conn_state::closed;
    });
}

// The job a notify describes, decoded once per (job, mask, extranonce2 size)
// for all the worker's connections.
std::shared_ptr<const sc::job> worker::decode_job(const sc::notify_view& n, std::size_t en2_size, std::uint32_t mask) {
    std::string key(n.id);
    key += '/';
    key += std::to_string(mask);
    key += '/';
    key += std::to_string(en2_size);
    if (auto it = jobs_.find(key); it != jobs_.end()) return it->second;
    auto d = sc::decode_job(o_.algo, n, en2_size, mask);
    if (!d) {
        ++st_.failures[d.error_message()];
        return nullptr;
    }
    if (jobs_.size() > 256) jobs_.clear();
    auto j = std::make_shared<const sc::job>(std::move(*d));
    jobs_[key] = j;
    return j;
}

void worker::handle_line(connection* c, std::string_view line) {
    const std::uint64_t now_ns = uv_hrtime();
    const sc::message m = parser_.parse(line);
    if (c->session.on_setting(m)) return;
    if (m.kind == sc::message_kind::notify) {
        auto n = sc::notify_of(m);
        if (!n) return;
        ++st_.notifies;
        if (n->clean) ++st_.clean_notifies;
        if (o_.clean_report && n->clean && !c->prevhash.empty() && n->prevhash != c->prevhash)
            st_.clean_arrivals[display_hash(n->prevhash)].push_back(static_cast<double>(unix_us()) / 1000.0);
        if (n->prevhash != c->prevhash) c->prevhash = std::string(n->prevhash);
        if (o_.mode != run_mode::idle) {
            if (auto j = decode_job(*n, c->session.extranonce2_size, c->session.version_mask)) {
                c->job = std::move(j);
                c->session.on_new_job();
            }
        }
        return;
    }
    if (m.kind != sc::message_kind::reply || !m.id) return;
    const std::int64_t id = *m.id;
    if (id == k_subscribe_id) {
        if (!c->session.on_subscribed(m)) fail(c, "subscribe refused");
    } else if (id == k_authorize_id) {
        if (!sc::authorized(m)) {
            fail(c, "authorize refused");
            return;
        }
        c->state = conn_state::held;
        c->counted_held = true;
        --pending_;
        ++held_now_;
        st_.peak_held = std::max(st_.peak_held, held_now_);
    } else if (id == k_configure_id) {
        c->session.on_configured(m);
    } else {
        auto it = std::find_if(c->inflight.begin(), c->inflight.end(),
                               [id](const auto& p) { return p.first == static_cast<int>(id); });
        if (it == c->inflight.end()) return;
        st_.latency.add((now_ns - it->second) / 1000);
        c->inflight.erase(it);
        st_.last_answer_unix_us = unix_us();
        if (m.ok) {
            ++st_.accepted;
        } else {
            ++st_.rejected;
            std::string key = std::to_string(m.error_code);
            key += ' ';
            key += m.reason();
            ++st_.reasons[key];
        }
    }
}

void worker::send_line(connection* c, const std::string& line) {
    c->out += line;
    c->out += '\n';
}

// Writes the connection's pending lines (through TLS when on).
void worker::flush(connection* c) {
    if (c->state == conn_state::closed) return;
    if (c->ssl) {
        if (!c->out.empty() && SSL_is_init_finished(c->ssl)) {
            SSL_write(c->ssl, c->out.data(), static_cast<int>(c->out.size()));
            c->out.clear();
        }
        char buf[16384];
        int k;
        while ((k = BIO_read(c->wbio, buf, sizeof buf)) > 0) write_raw(c, buf, static_cast<std::size_t>(k));
        return;
    }
    if (c->out.empty()) return;
    write_raw(c, c->out.data(), c->out.size());
    c->out.clear();
}

void worker::write_raw(connection* c, const char* data, std::size_t n) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(n));
    const int done = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1);
    if (done == static_cast<int>(n)) return;
    const std::size_t off = done > 0 ? static_cast<std::size_t>(done) : 0;
    if (done < 0 && done != UV_EAGAIN) {
        fail(c, std::string("write: ") + uv_err_name(done));
        return;
    }
    struct write_req {
        uv_write_t req;
        std::string data;
    };
    auto* r = new write_req;
    r->data.assign(data + off, n - off);
    b = uv_buf_init(r->data.data(), static_cast<unsigned>(r->data.size()));
    const int rc = uv_write(&r->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
                            [](uv_write_t* w, int) { delete reinterpret_cast<write_req*>(w); });
    if (rc) {
        delete r;
        fail(c, std::string("write: ") + uv_err_name(rc));
    }
}

// Sends the shares due in this turn. Valid shares are mined here: every due
// share gets a few consecutive nonces, all of them hashed in one batch; those
// without a hit below their target get more nonces in the next round. The
// rounds stop after 20 ms; shares still unmined stay due for the next tick.
void worker::submit_due(double dt) {
    struct due {
        connection* c;
        std::string en2, vbits;
        uint256 target;
        std::uint32_t nonce;
    };
    std::vector<due> items;
    for (auto& cp : conns_) {
        connection* c = cp.get();
        if (c->state != conn_state::held || !c->job) continue;
        if (o_.rate > 0) c->credit = std::min(c->credit + o_.rate * dt, static_cast<double>(o_.window));
        std::size_t room = o_.window > c->inflight.size() ? o_.window - c->inflight.size() : 0;
        std::size_t n = o_.rate > 0 ? std::min<std::size_t>(room, static_cast<std::size_t>(c->credit)) : room;
        for (std::size_t k = 0; k < n && st_.sent + items.size() < max_shares_; ++k) {
            due d{c, {}, {}, {}, 0};
            sc::session_state& s = c->session;
            const std::size_t en2_size = c->job->data.extranonce2_size;
            if (o_.mode == run_mode::invalid) {
                d.en2 = sc::extranonce2_hex(rng_(), en2_size);
                d.nonce = static_cast<std::uint32_t>(rng_());
            } else {
                ++s.extranonce2_counter;  // a fresh extranonce2 per share: never a duplicate
                d.en2 = sc::extranonce2_hex(s.extranonce2_counter, en2_size);
                d.nonce = 0;
            }
            const std::uint32_t mask = c->job->data.version_mask;
            if (o_.version_rolling && mask)
                d.vbits = be32_hex(static_cast<std::uint32_t>(
                                       o_.mode == run_mode::invalid ? rng_() : s.extranonce2_counter * 0x2000u) &
                                   mask);
            auto t = target_from_difficulty(s.difficulty, o_.algo);
            d.target = t ? *t : uint256::max();
            items.push_back(std::move(d));
        }
    }
    if (items.empty()) return;

    std::vector<bool> ready(items.size(), o_.mode == run_mode::invalid);
    if (o_.mode == run_mode::valid) {
        // Expected hashes per share at this difficulty, to size the rounds.
        const double d0 = items.front().c->session.difficulty;
        const double per_share = d0 * (o_.algo == pow_algorithm::sha256d ? 4294967296.0 : 65536.0);
        const unsigned lanes = static_cast<unsigned>(std::clamp(std::ceil(per_share), 1.0, 16.0));
        const std::uint64_t t_end = uv_hrtime() + 20'000'000;
        std::vector<std::string> nonces;
        std::vector<verifier::share> shares;
        std::vector<std::size_t> owner;
        std::vector<verifier::verdict> out;
        std::size_t left = items.size();
        for (unsigned round = 0; left && round < 100000 && uv_hrtime() < t_end; ++round) {
            nonces.clear();
            shares.clear();
            owner.clear();
            nonces.reserve(left * lanes);
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (ready[i]) continue;
                for (unsigned l = 0; l < lanes; ++l) {
                    nonces.push_back(be32_hex(items[i].nonce + l));
                    owner.push_back(i);
                }
            }
            for (std::size_t k = 0; k < owner.size(); ++k) {
                const due& d = items[owner[k]];
                shares.push_back(
                    {&d.c->job->data, d.c->session.extranonce1, d.en2, d.c->job->ntime, nonces[k], d.vbits, d.target});
            }
            out.resize(shares.size());
            verifier_->verify(shares, out);
            for (std::size_t k = 0; k < owner.size(); ++k) {
                due& d = items[owner[k]];
                if (ready[owner[k]]) continue;
                if (out[k].ok() && out[k].meets_target) {
                    d.nonce = out[k].nonce;
                    ready[owner[k]] = true;
                    --left;
                }
            }
            for (std::size_t i = 0; i < items.size(); ++i)
                if (!ready[i]) items[i].nonce += lanes;
        }
    }
    // Items come grouped by connection: each connection's lines go out in one
    // write, and their latency clock starts just before that write.
    connection* open_conn = nullptr;
    std::uint64_t now_ns = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!ready[i]) continue;
        due& d = items[i];
        connection* c = d.c;
        if (c->state != conn_state::held) continue;
        if (c != open_conn) {
            if (open_conn) flush(open_conn);
            open_conn = c;
            now_ns = uv_hrtime();
        }
        const int id = c->next_id++;
        send_line(c, sc::submit_request(id, worker_name(c),
                                        {c->job->id, d.en2, c->job->ntime, be32_hex(d.nonce), std::move(d.vbits)}));
        c->inflight.emplace_back(id, now_ns);
        if (o_.rate > 0) c->credit -= 1;
        if (!st_.first_submit_unix_us) st_.first_submit_unix_us = unix_us();
        ++st_.sent;
    }
    if (open_conn) flush(open_conn);
}

void worker::tick() {
    const std::uint64_t now = uv_hrtime();
    const double dt = static_cast<double>(now - last_tick_ns_) / 1e9;
    last_tick_ns_ = now;
    const double elapsed = static_cast<double>(now - start_ns_) / 1e9;

    if (!stopping_) {
        // Ramp: at most --ramp/P new connections a second, and at most 2048
        // handshakes in flight (so the pool's accept backlog never overflows).
        ramp_credit_ += o_.ramp / o_.processes * dt;
        while (started_ < wanted_ && ramp_credit_ >= 1 && pending_ < 2048) {
            open_one();
            ramp_credit_ -= 1;
        }
        if (started_ >= wanted_) ramp_credit_ = 0;
        if (o_.mode != run_mode::idle && st_.sent < max_shares_) submit_due(dt);
        if (elapsed >= o_.duration || (o_.mode != run_mode::idle && st_.sent >= max_shares_)) {
            stopping_ = true;
            draining_ = true;
            drain_until_ns_ = now + static_cast<std::uint64_t>(o_.drain * 1e9);
            st_.held = held_now_;  // held at the end of the run, before the drain
        }
    }
    if (draining_) {
        bool answered = true;
        for (auto& cp : conns_)
            if (cp->state == conn_state::held && !cp->inflight.empty()) {
                answered = false;
                break;
            }
        if (answered || now >= drain_until_ns_) finish();
    }
}

void worker::emit_progress() {
    progress p;
    p.attempted = started_;
    p.held = held_now_;
    p.failed = st_.failed;
    p.sent = st_.sent;
    p.accepted = st_.accepted;
    p.rejected = st_.rejected;
    p.settled = started_ >= wanted_ && pending_ == 0;
    on_progress_(p);
}

void worker::finish() {
    if (!draining_) return;
    draining_ = false;
    emit_progress();
    for (auto& cp : conns_) close_conn(cp.get());
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&progress_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&hard_stop_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
}

bench::run_stats worker::run() {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (!sources_.empty()) hints.ai_family = sources_.front().ss_family;
    if (getaddrinfo(o_.host.c_str(), o_.port.c_str(), &hints, &res) != 0 || !res) {
        ++st_.failures["cannot resolve " + o_.host];
        st_.failed = wanted_;
        return st_;
    }
    std::memcpy(&target_, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (o_.mode == run_mode::valid) verifier_ = std::make_unique<verifier::batch_verifier>();
    if (o_.tls) {
        ssl_ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION);
        if (o_.insecure) {
            SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_NONE, nullptr);
        } else {
            SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_PEER, nullptr);
            if (!o_.ca_file.empty()) SSL_CTX_load_verify_locations(ssl_ctx_, o_.ca_file.c_str(), nullptr);
            else SSL_CTX_set_default_verify_paths(ssl_ctx_);
        }
    }
    uv_loop_init(&loop_);
    start_ns_ = last_tick_ns_ = uv_hrtime();
    for (uv_timer_t* t : {&tick_timer_, &progress_timer_, &hard_stop_}) {
        uv_timer_init(&loop_, t);
        t->data = this;
    }
    uv_timer_start(
        &tick_timer_, [](uv_timer_t* t) { as_worker(reinterpret_cast<uv_handle_t*>(t))->tick(); }, 5, 5);
    uv_timer_start(
        &progress_timer_, [](uv_timer_t* t) { as_worker(reinterpret_cast<uv_handle_t*>(t))->emit_progress(); }, 1000,
        1000);
    // The hard bound: whatever happens, the loop ends 5 s after the drain.
    uv_timer_start(
        &hard_stop_,
        [](uv_timer_t* t) {
            auto* w = as_worker(reinterpret_cast<uv_handle_t*>(t));
            if (!w->stopping_) w->st_.held = w->held_now_;
            w->draining_ = true;
            w->stopping_ = true;
            w->finish();
        },
        static_cast<std::uint64_t>((o_.duration + o_.drain + 5) * 1000), 0);
    for (uv_signal_t* s : {&sigint_, &sigterm_}) {
        uv_signal_init(&loop_, s);
        s->data = this;
    }
    auto on_signal = [](uv_signal_t* s, int) {
        auto* w = as_worker(reinterpret_cast<uv_handle_t*>(s));
        if (w->stopping_) return;
        w->stopping_ = w->draining_ = true;
        w->st_.held = w->held_now_;
        w->drain_until_ns_ = uv_hrtime() + static_cast<std::uint64_t>(w->o_.drain * 1e9);
    };
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Connections closed above; run once more for their close callbacks.
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    for (auto& cp : conns_)
        if (cp->ssl) SSL_free(cp->ssl);
    if (ssl_ctx_) SSL_CTX_free(ssl_ctx_);
    st_.seconds = static_cast<double>(uv_hrtime() - start_ns_) / 1e9;
    return st_;
}

// ---------------------------------------------------------------------------
// 3. The parent: processes, progress, the report
// ---------------------------------------------------------------------------

struct aggregate {
    const options& o;
    std::vector<progress> per;
    bool ready_written = false;
    std::uint64_t t0_ms;
    std::uint64_t last_print_ms = 0;

    void update(std::size_t i, const progress& p) {
        per[i] = p;
        progress sum;
        bool settled = true;
        for (const auto& q : per) {
            sum.attempted += q.attempted;
            sum.held += q.held;
            sum.failed += q.failed;
            sum.sent += q.sent;
            sum.accepted += q.accepted;
            sum.rejected += q.rejected;
            settled = settled && q.settled;
        }
        const std::uint64_t now_ms = uv_hrtime() / 1000000;
        if (!o.quiet && now_ms >= last_print_ms + 900) {
            last_print_ms = now_ms;
            const double s = static_cast<double>(now_ms - t0_ms) / 1000.0;
            std::fprintf(stderr,
                         "bmm-bench %5.1f s: connections %llu/%llu held, %llu failed; shares %llu sent, %llu "
                         "accepted, %llu rejected\n",
                         s, static_cast<unsigned long long>(sum.held), static_cast<unsigned long long>(o.connections),
                         static_cast<unsigned long long>(sum.failed), static_cast<unsigned long long>(sum.sent),
                         static_cast<unsigned long long>(sum.accepted), static_cast<unsigned long long>(sum.rejected));
        }
        if (settled && !ready_written && !o.ready_file.empty()) {
            std::ofstream f(o.ready_file);
            f << sum.held << "\n";
            ready_written = true;
        }
    }
};

volatile sig_atomic_t g_parent_signal = 0;

void write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
    }
}

// Which source addresses process i binds: every P-th one from i, or, with
// fewer addresses than processes, one of them.
std::vector<std::string> sources_for(const options& o, unsigned i) {
    std::vector<std::string> out;
    if (o.sources.empty()) return out;
    if (o.sources.size() < o.processes) return {o.sources[i % o.sources.size()]};
    for (std::size_t k = i; k < o.sources.size(); k += o.processes) out.push_back(o.sources[k]);
    return out;
}

bench::run_stats run_processes(const options& o) {
    aggregate agg{o, std::vector<progress>(o.processes), false, uv_hrtime() / 1000000};
    auto share_of = [&](std::uint64_t total, unsigned i) {
        return total / o.processes + (i < total % o.processes ? 1 : 0);
    };
    if (o.processes == 1) {
        worker w(o, o.connections, sources_for(o, 0), 0, o.max_shares, [&](const progress& p) { agg.update(0, p); });
        return w.run();
    }
    struct child {
        pid_t pid;
        int fd;
        std::string buf;
        bool done = false;
        bench::run_stats result;
        bool have_result = false;
    };
    std::vector<child> kids;
    std::uint64_t first = 0;
    // The parent passes SIGINT and SIGTERM on to its workers (which then
    // drain and report) instead of dying and losing their figures.
    struct sigaction sa {};
    sa.sa_handler = [](int sig) { g_parent_signal = sig; };
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::fflush(stdout);
    std::fflush(stderr);
    for (unsigned i = 0; i < o.processes; ++i) {
        int p[2];
        if (::pipe(p) != 0) throw std::runtime_error("pipe failed");
        const std::uint64_t n = share_of(o.connections, i);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            ::close(p[0]);
            for (const auto& k : kids) ::close(k.fd);
            const int out = p[1];
            worker w(o, n, sources_for(o, i), first, share_of(o.max_shares, i), [out](const progress& q) {
                write_all(out, "P " + std::to_string(q.attempted) + " " + std::to_string(q.held) + " " +
                                   std::to_string(q.failed) + " " + std::to_string(q.sent) + " " +
                                   std::to_string(q.accepted) + " " + std::to_string(q.rejected) + " " +
                                   (q.settled ? "1" : "0") + "\n");
            });
            const auto r = w.run();
            write_all(out, "R " + r.to_json() + "\n");
            ::close(out);
            ::_exit(0);
        }
        ::close(p[1]);
        kids.push_back({pid, p[0], {}, false, {}, false});
        first += n;
    }
    // Read the children's lines until every pipe is closed, bounded by the
    // run's own time limit plus a margin.
    const std::uint64_t deadline = uv_hrtime() + static_cast<std::uint64_t>((o.duration + o.drain + 30) * 1e9);
    while (uv_hrtime() < deadline) {
        std::vector<pollfd> fds;
        std::vector<std::size_t> which;
        for (std::size_t i = 0; i < kids.size(); ++i)
            if (!kids[i].done) {
                fds.push_back({kids[i].fd, POLLIN, 0});
                which.push_back(i);
            }
        if (fds.empty()) break;
        if (g_parent_signal) {
            for (const auto& ch : kids) ::kill(ch.pid, SIGTERM);
            g_parent_signal = 0;
        }
        if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            child& ch = kids[which[k]];
            char buf[65536];
            const ssize_t n = ::read(ch.fd, buf, sizeof buf);
            if (n <= 0) {
                ch.done = true;
                ::close(ch.fd);
                continue;
            }
            ch.buf.append(buf, static_cast<std::size_t>(n));
            std::size_t nl;
            while ((nl = ch.buf.find('\n')) != std::string::npos) {
                const std::string line = ch.buf.substr(0, nl);
                ch.buf.erase(0, nl + 1);
                if (line.rfind("P ", 0) == 0) {
                    progress q;
                    unsigned long long a, h, f, s, acc, rej;
                    int settled = 0;
                    if (std::sscanf(line.c_str() + 2, "%llu %llu %llu %llu %llu %llu %d", &a, &h, &f, &s, &acc, &rej,
                                    &settled) == 7) {
                        q = {a, h, f, s, acc, rej, settled != 0};
                        agg.update(which[k], q);
                    }
                } else if (line.rfind("R ", 0) == 0) {
                    ch.have_result = ch.result.from_json(std::string_view(line).substr(2));
                }
            }
        }
    }
    bench::run_stats all;
    for (auto& ch : kids) {
        if (!ch.done) {
            ::kill(ch.pid, SIGKILL);
            ::close(ch.fd);
        }
        int status = 0;
        ::waitpid(ch.pid, &status, 0);
        if (ch.have_result) all.merge(ch.result);
        else ++all.failures["a worker process sent no result (killed or crashed)"];
    }
    return all;
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse_args(argc, argv);
    if (const int* rc = std::get_if<int>(&parsed)) return *rc;
    const options& o = std::get<options>(parsed);
    if (!o.allow_remote && !is_loopback(o.host, o.port)) {
        std::fprintf(stderr,
                     "bmm-bench: refusing %s: it is not a loopback address. A load generator aimed at someone "
                     "else's pool is an attack; pass --allow-remote if the target is yours.\n",
                     o.host.c_str());
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    if (nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    const std::uint64_t per_process = (o.connections + o.processes - 1) / o.processes;
    if (nofile.rlim_cur != RLIM_INFINITY && per_process + 32 > nofile.rlim_cur)
        std::fprintf(stderr,
                     "bmm-bench: warning: %llu connections per process but the open-file limit is %llu; "
                     "raise --processes (the hard limit cannot be raised from here)\n",
                     static_cast<unsigned long long>(per_process), static_cast<unsigned long long>(nofile.rlim_cur));
    // One source address has ~28,000 ephemeral ports towards one pool port,
    // and connect()'s search for a free one slows down (inside the kernel,
    // stalling the loop) well before they run out.
    const std::uint64_t per_source =
        o.sources.empty() ? per_process : (o.connections + o.sources.size() - 1) / o.sources.size();
    if (per_source > 10000)
        std::fprintf(stderr,
                     "bmm-bench: warning: %llu connections per source address; above ~10,000 connect() slows down "
                     "and near ~28,000 the ephemeral ports run out: use --source-count or --sources\n",
                     static_cast<unsigned long long>(per_source));

    bench::run_stats s;
    try {
        s = run_processes(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bmm-bench: %s\n", e.what());
        return 2;
    }
    bench::report_context ctx{o.url, mode_name(o.mode), o.processes, o.connections, o.rate};
    const std::string json = bench::report_json(ctx, s);
    std::printf("%s\n%s\n", bench::report_summary(ctx, s).c_str(), json.c_str());
    if (!o.json_file.empty()) {
        std::ofstream f(o.json_file);
        f << json << "\n";
        if (!f) {
            std::fprintf(stderr, "bmm-bench: cannot write %s\n", o.json_file.c_str());
            return 2;
        }
    }
    return s.peak_held > 0 ? 0 : 1;
}
