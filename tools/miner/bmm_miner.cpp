// bmm-miner: a small CPU Stratum v1 miner for tests and demos.
//
// Connects, optionally negotiates BIP310 version rolling, subscribes,
// authorises, mines sha256d or scrypt shares at the difficulty the pool sets
// (hashing with the pool's own batch verifier), submits them, and reports
// accepted and rejected counts (by reason) as one summary line and as JSON.
// Every loop is bounded: it stops after --shares accepted shares, --submits
// submissions, or --seconds, whichever comes first. The protocol is
// bmm_stratum_client's (tools/stratum_client), shared with bmm-bench and the
// tests.

#include "bmm/cli.hpp"
#include "bmm/hex.hpp"
#include "bmm/stratum_client/connection.hpp"
#include "bmm/stratum_client/protocol.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace bmm;
namespace sc = bmm::stratum_client;
using clock_type = std::chrono::steady_clock;

const char* k_footer = R"(
A CPU miner for tests and demos. It mines at the difficulty the pool sets and
stops by itself. Without --ca a TLS connection is encrypted but the pool is NOT
authenticated (fine on loopback and in tests).

Prints "accepted N, rejected M" and a JSON summary on stdout; exit code 0 when
at least one share was accepted, 1 otherwise, 2 on bad arguments or no pool.
)";

struct options {
    sc::pool_url url{"127.0.0.1", "3333", false};
    std::string ca;  // PEM file to verify the pool's certificate; empty: no verification
    std::string user;
    std::string pass = "x";
    pow_algorithm algo = pow_algorithm::scrypt;
    bool version_rolling = false;
    double suggest = 0;
    unsigned shares = 10, submits = 1000, batch = 16;
    double seconds = 60;
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
    std::string url, algo = "scrypt";
    app.add_option("--url", url, "stratum+tcp://127.0.0.1:3333, or stratum+ssl:// (also stratum+tls://) for a TLS port")
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
    app.add_flag("--quiet", o.quiet, "no progress lines");
    if (auto rc = cli::parse(app, argc, argv)) {
        return rc;
    }
    if (!url.empty()) {
        o.url = *sc::parse_pool_url(url);
    }
    o.algo = *parse_pow_algorithm(algo);
    o.batch = std::max(1u, o.batch);
    if (!o.ca.empty() && !o.url.tls) {
        std::fprintf(stderr, "bmm-miner: --ca needs a stratum+ssl:// or stratum+tls:// --url\n");
        return 2;
    }
    return std::nullopt;
}

// What the pool answered, counted.
struct tally {
    unsigned accepted = 0, rejected = 0, sent = 0, jobs = 0, clean_jobs = 0;
    std::map<std::string, unsigned> reasons;
    std::set<std::int64_t> pending;  // submit ids not answered yet

    // A reply to a submit; false when `m` answers something else.
    bool on_reply(const sc::message& m) {
        if (!m.id || !pending.erase(*m.id)) {
            return false;
        }
        if (m.ok) {
            ++accepted;
        } else {
            ++rejected;
            ++reasons[std::string(m.reason())];
        }
        return true;
    }
};

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (auto rc = parse_args(argc, argv, o)) {
        return *rc;
    }
    auto opened = sc::blocking_connection::open(o.url.host, o.url.port, {{}, 0, o.url.tls, o.ca});
    if (!opened) {
        std::fprintf(stderr, "bmm-miner: %s\n", opened.error_message().c_str());
        return 2;
    }
    sc::blocking_connection& c = *opened;
    if (o.url.tls && o.ca.empty() && !o.quiet) {
        std::fprintf(stderr, "bmm-miner: TLS without --ca: encrypted, but the pool's certificate is not checked\n");
    }
    std::int64_t next_id = 1;
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
    s.extranonce2_counter = std::random_device{}();
    std::optional<sc::job> job;
    tally t;
    bool authorised = false, subscribed = false;
    std::string failure;

    sc::message_parser parser;
    verifier::batch_verifier v;
    const auto t0 = clock_type::now();
    auto elapsed = [&] { return std::chrono::duration<double>(clock_type::now() - t0).count(); };

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
            failure = "the pool asked to reconnect";
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
                t.on_reply(m);
            }
        }
        return true;
    };

    while (elapsed() < o.seconds && t.accepted < o.shares && (t.sent < o.submits || !t.pending.empty())) {
        const bool mining = job && authorised && t.sent < o.submits;
        if (c.read_lines(mining ? 0 : 100, on_line) == sc::read_status::closed) {
            failure = "the pool closed the connection";
            break;
        }
        if (!failure.empty()) {
            break;
        }
        if (!(job && authorised && subscribed && t.sent < o.submits)) {
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
        for (const std::uint32_t nonce : sc::scan_nonces(v, w, s.nonce, o.batch)) {
            if (t.sent >= o.submits) {
                break;
            }
            const std::int64_t id = next_id++;
            if (!c.send_line(sc::submit_request(id, o.user, {job->id, en2, job->ntime, be32_hex(nonce), vbits}))) {
                failure = "the pool closed the connection";
                break;
            }
            t.pending.insert(id);
            ++t.sent;
        }
        s.advance_nonce(o.batch);
        if (!o.quiet && t.sent && t.sent % 50 == 0) {
            std::fprintf(stderr, "bmm-miner: %u submitted, %u accepted, %u rejected\n", t.sent, t.accepted, t.rejected);
        }
    }
    // Collect the answers still outstanding (bounded).
    const auto drain_until = clock_type::now() + std::chrono::seconds(3);
    while (!t.pending.empty() && clock_type::now() < drain_until) {
        const auto st = c.read_lines(100, [&](std::string_view line) {
            t.on_reply(parser.parse(line));
            return true;
        });
        if (st == sc::read_status::closed) {
            break;
        }
    }
    std::printf("accepted %u, rejected %u, submitted %u, jobs %u (clean %u), %.1f s%s%s\n", t.accepted, t.rejected,
                t.sent, t.jobs, t.clean_jobs, elapsed(), failure.empty() ? "" : "; ", failure.c_str());
    std::string reasons_json = "{";
    for (const auto& [r, n] : t.reasons) {
        reasons_json += (reasons_json.size() > 1 ? "," : "") + std::string("\"") + r + "\":" + std::to_string(n);
    }
    reasons_json += "}";
    std::printf(
        "{\"accepted\":%u,\"rejected\":%u,\"submitted\":%u,\"jobs\":%u,\"clean_jobs\":%u,\"seconds\":%.3f,"
        "\"tls\":%s,\"reasons\":%s}\n",
        t.accepted, t.rejected, t.sent, t.jobs, t.clean_jobs, elapsed(), o.url.tls ? "true" : "false",
        reasons_json.c_str());
    return t.accepted > 0 ? 0 : 1;
}
