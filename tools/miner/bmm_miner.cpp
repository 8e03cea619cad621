// bmm-miner: a small CPU Stratum v1 miner for tests and demos.
//
// Connects, optionally negotiates BIP310 version rolling, subscribes,
// authorises, mines sha256d or scrypt shares at the difficulty the pool sets
// (hashing with the pool's own batch verifier), submits them, and reports
// accepted and rejected counts (by reason) as one summary line and as JSON.
// Every loop is bounded: it stops after --shares accepted shares, --submits
// submissions, --seconds, or SIGTERM/SIGINT, whichever comes first. Several --url are failover
// pools: on a closed connection, a connect or an answer that does not come
// within --timeout, or client.reconnect, it moves on to the next URL (in a
// ring). --accepted-log writes each accepted share's proof-of-work hash (as
// the pool stores it) so that a test can find every one. The protocol is
// bmm_stratum_client's (tools/stratum_client), shared with bmm-bench and the
// tests.

#include "bmm/cli.hpp"
#include "bmm/hex.hpp"
#include "bmm/stratum_client/connection.hpp"
#include "bmm/stratum_client/protocol.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace bmm;
namespace sc = bmm::stratum_client;
using clock_type = std::chrono::steady_clock;

const char* k_footer = R"(
A CPU miner for tests and demos. It mines at the difficulty the pool sets and
stops by itself. Without --ca a TLS connection is encrypted but the pool is NOT
authenticated (fine on loopback and in tests).

With several --url it fails over: a closed connection, no connect or no answer
to a submit within --timeout, or client.reconnect moves it to the next URL.

Prints "accepted N, rejected M" and a JSON summary on stdout (with connects,
failovers, the longest time between two answers and the longest time from
giving up a connection to the next accepted share); exit code 0 when at least
one share was accepted, 1 otherwise, 2 on bad arguments or no pool.
)";

struct options {
    std::vector<sc::pool_url> urls;  // tried in order, in a ring
    std::string ca;                  // PEM file to verify the pool's certificate; empty: no verification
    std::string user;
    std::string pass = "x";
    pow_algorithm algo = pow_algorithm::scrypt;
    bool version_rolling = false;
    double suggest = 0;
    unsigned shares = 10, submits = 1000, batch = 16;
    double seconds = 60;
    double timeout = 0;        // connect, first job, a submit's answer; 0: 10 s with several URLs, none with one
    std::string accepted_log;  // one line per accepted share
    bool quiet = false;
};

// CLI11 validators that name what a value must be.
std::string check_url(const std::string& u) {
    auto p = sc::parse_pool_url(u);
    return p ? std::string() : p.error_message();
}
std::string check_algo(const std::string& a) {
    auto p = parse_pow_algorithm(a);
    return p ? std::string() : p.error_message();
}

// The command line; nothing to go on, or the exit code.
std::optional<int> parse_args(int argc, char** argv, options& o) {
    CLI::App app{"bmm-miner: a CPU Stratum v1 miner for tests and demos", "bmm-miner"};
    cli::setup(app, "bmm-miner");
    app.footer(k_footer);
    std::vector<std::string> urls;
    std::string algo = "scrypt";
    app.add_option("--url", urls,
                   "stratum+tcp://127.0.0.1:3333, or stratum+ssl:// (also stratum+tls://) for a TLS port; give it "
                   "several times for failover pools, tried in order")
        ->check(check_url);
    app.add_option("--ca", o.ca,
                   "verify the pool's TLS certificate against the PEM CA (or self-signed certificate) in FILE, and "
                   "the host name or IP address in --url against the certificate");
    app.add_option("--user", o.user, "account.worker")->required();
    app.add_option("--pass", o.pass, "password (default x; \"d=0.5\" asks for a difficulty)");
    app.add_option("--algo", algo, "scrypt (default) or sha256d")->check(check_algo);
    app.add_flag("--version-rolling", o.version_rolling, "negotiate BIP310 version rolling and roll version bits");
    app.add_option("--suggest-difficulty", o.suggest, "send mining.suggest_difficulty D after subscribing");
    app.add_option("--shares", o.shares, "stop after N accepted shares (default 10)");
    app.add_option("--submits", o.submits, "stop after N submissions (default 1000)");
    app.add_option("--seconds", o.seconds, "stop after S seconds (default 60)");
    app.add_option("--batch", o.batch, "shares hashed per batch (default 16)");
    app.add_option("--timeout", o.timeout,
                   "seconds to wait for a connect, the first job, or the answer to a submit before moving on to the "
                   "next --url (default 10 with several --url; with one, no limit and the run ends when the connection "
                   "does)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--accepted-log", o.accepted_log,
                   "append one line per accepted share to FILE: unix ms, pool host:port, its proof-of-work hash "
                   "(hex, as the pool stores it), job id");
    app.add_flag("--quiet", o.quiet, "no progress lines");
    if (auto rc = cli::parse(app, argc, argv)) {
        return rc;
    }
    for (const auto& u : urls) {
        o.urls.push_back(*sc::parse_pool_url(u));
    }
    if (o.urls.empty()) {
        o.urls.push_back({"127.0.0.1", "3333", false});
    }
    o.algo = *parse_pow_algorithm(algo);
    o.batch = std::max(1u, o.batch);
    if (o.timeout == 0 && o.urls.size() > 1) {
        o.timeout = 10;
    }
    for (const auto& u : o.urls) {
        if (!o.ca.empty() && !u.tls) {
            std::fprintf(stderr,
                         "bmm-miner: --ca needs every --url to be stratum+ssl:// or stratum+tls:// (%s:%s is not)\n",
                         u.host.c_str(), u.port.c_str());
            return 2;
        }
    }
    return std::nullopt;
}

// What the pools answered, counted over every connection.
struct tally {
    unsigned accepted = 0, rejected = 0, sent = 0, jobs = 0, clean_jobs = 0;
    unsigned connects = 0, failovers = 0, unanswered = 0;
    unsigned progress_at = 0;  // `sent` when the last progress line was printed
    std::map<std::string, unsigned> reasons;
    std::optional<clock_type::time_point> last_answer;  // to any submit
    std::optional<clock_type::time_point> gave_up;      // a connection, with no share accepted since
    double max_answer_gap = 0;                          // seconds between two answers
    double max_resume = 0;                              // seconds from giving up to the next accepted share

    // An answer to a submit.
    void on_answer(bool ok, std::string_view reason) {
        const auto now = clock_type::now();
        if (last_answer) {
            max_answer_gap = std::max(max_answer_gap, std::chrono::duration<double>(now - *last_answer).count());
        }
        last_answer = now;
        if (ok) {
            ++accepted;
            if (gave_up) {
                max_resume = std::max(max_resume, std::chrono::duration<double>(now - *gave_up).count());
                gave_up.reset();
            }
        } else {
            ++rejected;
            ++reasons[std::string(reason)];
        }
    }
};

// A share found: its nonce and proof-of-work hash as the pool stores it
// (big-endian hex).
struct found_share {
    std::uint32_t nonce;
    std::string hash;
};

// scan_nonces, keeping the hash of each share found.
std::vector<found_share> scan(verifier::batch_verifier& v, const sc::share_work& w, std::uint32_t first,
                              unsigned count) {
    std::vector<std::string> nonces(count);
    std::vector<verifier::share> shares(count);
    for (unsigned i = 0; i < count; ++i) {
        nonces[i] = be32_hex(first + i);
        shares[i] = {&w.work->data, w.extranonce1,      w.extranonce2_hex, w.work->ntime,
                     nonces[i],     w.version_bits_hex, w.target};
    }
    std::vector<verifier::verdict> out(count);
    v.verify(shares, out);
    std::vector<found_share> found;
    for (unsigned i = 0; i < count; ++i) {
        if (out[i].ok() && out[i].meets_target) {
            auto h = out[i].pow_hash;
            std::reverse(h.begin(), h.end());
            found.push_back({first + i, to_hex(h)});
        }
    }
    return found;
}

// SIGTERM or SIGINT: stop mining, collect the outstanding answers, print the summary.
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct miner {
    explicit miner(const options& opts) : o(opts) {}
    const options& o;
    tally t;
    verifier::batch_verifier v;
    std::FILE* accepted_log = nullptr;
    std::int64_t next_id = 1;
    std::uint64_t extranonce2_start = std::random_device{}();
    clock_type::time_point t0 = clock_type::now();

    double elapsed() const { return std::chrono::duration<double>(clock_type::now() - t0).count(); }
    bool done() const { return g_stop || elapsed() >= o.seconds || t.accepted >= o.shares || t.sent >= o.submits; }

    // One connection to `url` until the run is done (returns "") or the
    // connection is given up (returns why).
    std::string session(sc::blocking_connection& c, const sc::pool_url& url);
};

std::string miner::session(sc::blocking_connection& c, const sc::pool_url& url) {
    const std::int64_t configure_id = next_id++, subscribe_id = next_id++, authorize_id = next_id++;
    if (o.version_rolling) {
        c.send_line(sc::configure_request(configure_id));
    }
    c.send_line(sc::subscribe_request(subscribe_id, "bmm-miner/1.0"));
    if (o.suggest > 0) {
        c.send_line(sc::suggest_difficulty_request(next_id++, o.suggest));
    }
    c.send_line(sc::authorize_request(authorize_id, o.user, o.pass));

    sc::session_state s;
    s.extranonce2_counter = extranonce2_start++;
    std::optional<sc::job> job;
    bool authorised = false, subscribed = false;
    std::string failure;
    // Submits not answered yet: id -> (proof-of-work hash, when sent).
    std::map<std::int64_t, std::pair<std::string, clock_type::time_point>> pending;
    const auto started = clock_type::now();
    const auto timeout = std::chrono::duration<double>(o.timeout > 0 ? o.timeout : 1e9);
    std::optional<clock_type::time_point> done_at;
    const std::string where = url.host + ":" + url.port;
    sc::message_parser parser;

    auto on_reply = [&](const sc::message& m) {
        auto it = m.id ? pending.find(*m.id) : pending.end();
        if (it == pending.end()) {
            return;
        }
        t.on_answer(m.ok, m.ok ? std::string_view() : m.reason());
        if (m.ok && accepted_log) {
            std::fprintf(accepted_log, "%lld %s %s %s\n", static_cast<long long>(unix_ms()), where.c_str(),
                         it->second.first.c_str(), job ? job->id.c_str() : "-");
            std::fflush(accepted_log);
        }
        pending.erase(it);
    };
    // One line from the pool; false to stop reading (failure says why).
    auto on_line = [&](std::string_view line) {
        const sc::message m = parser.parse(line);
        if (s.on_setting(m)) {
            return true;
        }
        if (m.kind == sc::message_kind::notify) {
            auto n = sc::notify_of(m);
            if (!n) {
                return true;
            }
            auto d = sc::decode_job(o.algo, *n, s.extranonce2_size, s.version_mask);
            if (!d) {
                std::fprintf(stderr, "bmm-miner: %s\n", d.error_message().c_str());
                return true;
            }
            job = std::move(*d);
            ++t.jobs;
            if (n->clean) {
                ++t.clean_jobs;
            }
            s.on_new_job();
        } else if (m.kind == sc::message_kind::reconnect) {
            failure = "the pool asked to reconnect (client.reconnect)";
            return false;
        } else if (m.kind == sc::message_kind::reply && m.id) {
            if (*m.id == subscribe_id) {
                subscribed = s.on_subscribed(m);
                if (!subscribed) {
                    failure = "subscribe failed: " + std::string(line);
                    return false;
                }
            } else if (*m.id == authorize_id) {
                authorised = sc::authorized(m);
                if (!authorised) {
                    failure = "authorize refused: " + std::string(line);
                    return false;
                }
            } else if (*m.id == configure_id) {
                s.on_configured(m);
            } else {
                on_reply(m);
            }
        }
        return true;
    };

    while (!done() || !pending.empty()) {
        if (done() && !done_at) {
            done_at = clock_type::now();
        }
        if (done_at && clock_type::now() - *done_at > std::chrono::seconds(3)) {
            break;  // the answers still outstanding, collected for at most 3 s
        }
        const bool mining = !done() && job && authorised && subscribed;
        if (c.read_lines(mining ? 0 : 100, on_line) == sc::read_status::closed) {
            failure = "the pool closed the connection";
        }
        if (!failure.empty()) {
            break;
        }
        const auto now = clock_type::now();
        if (!pending.empty()) {
            auto oldest = std::min_element(pending.begin(), pending.end(), [](const auto& a, const auto& b) {
                              return a.second.second < b.second.second;
                          })->second.second;
            if (now - oldest > timeout) {
                failure = "no answer to a submit for " + std::to_string(o.timeout) + " s";
                break;
            }
        }
        if (!(job && authorised && subscribed) && now - started > timeout) {
            failure = "no job within " + std::to_string(o.timeout) + " s";
            break;
        }
        if (!mining) {
            continue;
        }

        // Mine one batch: consecutive nonces under one extranonce2 (and, with
        // version rolling, a rolled version per batch).
        const auto target = target_from_difficulty(s.difficulty, o.algo);
        if (!target) {
            continue;
        }
        const std::string en2 = s.extranonce2();
        const std::string vbits =
            o.version_rolling && s.version_mask
                ? be32_hex(static_cast<std::uint32_t>(s.extranonce2_counter * 0x2000u + s.nonce) & s.version_mask)
                : std::string();
        const sc::share_work w{&*job, s.extranonce1, en2, vbits, *target};
        for (const found_share& f : scan(v, w, s.nonce, o.batch)) {
            if (t.sent >= o.submits) {
                break;
            }
            const std::int64_t id = next_id++;
            if (!c.send_line(sc::submit_request(id, o.user, {job->id, en2, job->ntime, be32_hex(f.nonce), vbits}))) {
                failure = "the pool closed the connection";
                break;
            }
            pending[id] = {f.hash, clock_type::now()};
            ++t.sent;
        }
        if (!failure.empty()) {
            break;
        }
        s.advance_nonce(o.batch);
        // Once per 50 submits: a batch without a share (often, in sha256d)
        // leaves `sent` where it was and must not print the line again.
        if (!o.quiet && t.sent && t.sent % 50 == 0 && t.sent != t.progress_at) {
            t.progress_at = t.sent;
            std::fprintf(stderr, "bmm-miner: %u submitted, %u accepted, %u rejected\n", t.sent, t.accepted, t.rejected);
        }
    }
    t.unanswered += static_cast<unsigned>(pending.size());
    return failure;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (auto rc = parse_args(argc, argv, o)) {
        return *rc;
    }
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGINT, on_stop_signal);
    miner m(o);
    if (!o.accepted_log.empty()) {
        m.accepted_log = std::fopen(o.accepted_log.c_str(), "a");
        if (!m.accepted_log) {
            std::fprintf(stderr, "bmm-miner: cannot open --accepted-log %s for appending\n", o.accepted_log.c_str());
            return 2;
        }
    }
    tally& t = m.t;
    std::string failure;
    bool tls_warned = false;
    const int timeout_ms = static_cast<int>(o.timeout * 1000);
    // Each URL in turn; after a round in which none could be reached, a pause.
    std::size_t next_url = 0, unreachable_in_a_row = 0;
    while (!m.done()) {
        const sc::pool_url& url = o.urls[next_url % o.urls.size()];
        ++next_url;
        auto opened = sc::blocking_connection::open(url.host, url.port, {{}, 0, url.tls, o.ca, timeout_ms});
        if (!opened) {
            failure = opened.error_message();
            if (!o.quiet) {
                std::fprintf(stderr, "bmm-miner: %s\n", failure.c_str());
            }
            if (o.urls.size() == 1) {
                std::fprintf(stderr, "bmm-miner: %s\n", failure.c_str());
                return 2;
            }
            if (!t.gave_up) {
                t.gave_up = clock_type::now();
            }
            if (++unreachable_in_a_row % o.urls.size() == 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
            }
            continue;
        }
        unreachable_in_a_row = 0;
        if (t.connects > 0) {
            ++t.failovers;
        }
        ++t.connects;
        if (url.tls && o.ca.empty() && !o.quiet && !tls_warned) {
            std::fprintf(stderr, "bmm-miner: TLS without --ca: encrypted, but the pool's certificate is not checked\n");
            tls_warned = true;
        }
        failure = m.session(*opened, url);
        if (failure.empty() || o.urls.size() == 1) {
            break;  // one URL: no failover, the run ends with its connection
        }
        if (!o.quiet) {
            std::fprintf(stderr, "bmm-miner: %s:%s: %s; moving on to the next pool\n", url.host.c_str(),
                         url.port.c_str(), failure.c_str());
        }
        if (!m.done()) {
            t.gave_up = clock_type::now();
        }
    }
    if (m.accepted_log) {
        std::fclose(m.accepted_log);
    }
    const bool tls = o.urls.front().tls;
    std::printf("accepted %u, rejected %u, submitted %u, jobs %u (clean %u), %.1f s%s%s\n", t.accepted, t.rejected,
                t.sent, t.jobs, t.clean_jobs, m.elapsed(), failure.empty() ? "" : "; ", failure.c_str());
    std::string reasons_json = "{";
    for (const auto& [r, n] : t.reasons) {
        reasons_json += (reasons_json.size() > 1 ? "," : "") + std::string("\"") + r + "\":" + std::to_string(n);
    }
    reasons_json += "}";
    std::printf(
        "{\"accepted\":%u,\"rejected\":%u,\"submitted\":%u,\"jobs\":%u,\"clean_jobs\":%u,\"seconds\":%.3f,"
        "\"tls\":%s,\"reasons\":%s,\"connects\":%u,\"failovers\":%u,\"unanswered\":%u,"
        "\"max_answer_gap_seconds\":%.3f,\"max_resume_seconds\":%.3f}\n",
        t.accepted, t.rejected, t.sent, t.jobs, t.clean_jobs, m.elapsed(), tls ? "true" : "false", reasons_json.c_str(),
        t.connects, t.failovers, t.unanswered, t.max_answer_gap, t.max_resume);
    return t.accepted > 0 ? 0 : 1;
}
