// bmm-miner: a small CPU Stratum v1 miner for tests and demos.
//
// Connects, optionally negotiates BIP310 version rolling, subscribes,
// authorises, mines sha256d or scrypt shares at the difficulty the pool sets
// (hashing with the pool's own batch verifier), submits them, and reports
// accepted and rejected counts (by reason) as one summary line and as JSON.
// Every loop is bounded: it stops after --shares accepted shares, --submits
// submissions, or --seconds, whichever comes first.

#include "bmm/hex.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace bmm;
using clock_type = std::chrono::steady_clock;

const char* k_usage = R"(usage: bmm-miner --url stratum+tcp://HOST:PORT --user ACCOUNT.WORKER [options]

A CPU miner for tests and demos. It mines at the difficulty the pool sets and
stops by itself.

  --url URL              stratum+tcp://127.0.0.1:3333, or stratum+ssl:// (also
                         stratum+tls://) for a TLS port
  --ca FILE              verify the pool's TLS certificate against the PEM CA
                         (or self-signed certificate) in FILE, and the host name
                         or IP address in --url against the certificate; without
                         --ca the connection is encrypted but the pool is NOT
                         authenticated (fine on loopback and in tests)
  --user NAME            account.worker
  --pass TEXT            password (default x; "d=0.5" asks for a difficulty)
  --algo ALGO            scrypt (default) or sha256d
  --version-rolling      negotiate BIP310 version rolling and roll version bits
  --suggest-difficulty D send mining.suggest_difficulty D after subscribing
  --shares N             stop after N accepted shares (default 10)
  --submits N            stop after N submissions (default 1000)
  --seconds S            stop after S seconds (default 60)
  --batch N              shares hashed per batch (default 16)
  --quiet                no progress lines
  -h, --help             this text

Prints "accepted N, rejected M" and a JSON summary on stdout; exit code 0 when
at least one share was accepted, 1 otherwise, 2 on bad arguments or no pool.
)";

struct options {
    std::string host = "127.0.0.1";
    std::string port = "3333";
    bool tls = false;
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

struct miner_job {
    std::string id;
    std::string ntime;  // as the pool sent it: always inside the pool's window
    verifier::job_data data;
};

// One connection to the pool, plain TCP or TLS (OpenSSL on the socket,
// which is non-blocking once the handshake is done).
class connection {
public:
    bool open(const std::string& host, const std::string& port) {
        addrinfo hints{}, *res = nullptr;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return false;
        for (addrinfo* a = res; a; a = a->ai_next) {
            fd_ = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
            if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
            if (fd_ >= 0) ::close(fd_);
            fd_ = -1;
        }
        freeaddrinfo(res);
        return fd_ >= 0;
    }
    // The TLS handshake on the open socket. `ca` empty: no verification.
    bool start_tls(const std::string& host, const std::string& ca, std::string& why) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
        if (!ca.empty()) {
            if (SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr) != 1) return tls_fail(why, "cannot load --ca " + ca);
            SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        }
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        in6_addr a6{};
        in_addr a4{};
        const bool is_ip = inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
        if (!is_ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
        if (!ca.empty()) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
            if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
            else SSL_set1_host(ssl_, host.c_str());
        }
        if (SSL_connect(ssl_) != 1) {
            const long v = SSL_get_verify_result(ssl_);
            return tls_fail(why, v != X509_V_OK ? std::string("certificate check failed: ") +
                                                     X509_verify_cert_error_string(v)
                                               : std::string("TLS handshake failed"));
        }
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
        return true;
    }
    ~connection() {
        if (ssl_) SSL_free(ssl_);
        if (ctx_) SSL_CTX_free(ctx_);
        if (fd_ >= 0) ::close(fd_);
    }
    bool send(const std::string& line) {
        const std::string l = line + "\n";
        if (ssl_) return send_tls(l);
        std::size_t off = 0;
        while (off < l.size()) {
            const ssize_t n = ::send(fd_, l.data() + off, l.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    // Reads whatever is available within `timeout_ms`; returns complete lines.
    // False when the pool closed the connection.
    bool read_lines(int timeout_ms, std::vector<std::string>& lines) {
        pollfd p{fd_, POLLIN, 0};
        // OpenSSL may hold decrypted data the socket no longer shows.
        const bool buffered = ssl_ && SSL_pending(ssl_) > 0;
        if (buffered || ::poll(&p, 1, timeout_ms) > 0) {
            char buf[65536];
            if (ssl_) {
                const int n = SSL_read(ssl_, buf, sizeof buf);
                if (n > 0) {
                    in_.append(buf, static_cast<std::size_t>(n));
                } else {
                    const int e = SSL_get_error(ssl_, n);
                    // A record not complete yet, or only a session ticket: nothing to read now.
                    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
                }
            } else {
                const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
                if (n <= 0) return false;
                in_.append(buf, static_cast<std::size_t>(n));
            }
        }
        std::size_t start = 0, nl;
        while ((nl = in_.find('\n', start)) != std::string::npos) {
            lines.emplace_back(in_.substr(start, nl - start));
            start = nl + 1;
        }
        in_.erase(0, start);
        return true;
    }

private:
    bool send_tls(const std::string& l) {
        std::size_t off = 0;
        while (off < l.size()) {
            const int n = SSL_write(ssl_, l.data() + off, static_cast<int>(l.size() - off));
            if (n > 0) {
                off += static_cast<std::size_t>(n);
                continue;
            }
            const int e = SSL_get_error(ssl_, n);
            if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) return false;
            pollfd p{fd_, static_cast<short>(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
            if (::poll(&p, 1, 5000) <= 0) return false;
        }
        return true;
    }
    bool tls_fail(std::string& why, std::string text) {
        const unsigned long e = ERR_get_error();
        if (e) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            text += " (";
            text += buf;
            text += ")";
        }
        why = std::move(text);
        return false;
    }

    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    std::string in_;
};

bool parse_args(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&](const char* name) -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(std::string(name) + " needs a value");
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            std::fputs(k_usage, stdout);
            std::exit(0);
        } else if (a == "--url") {
            std::string u = next("--url");
            for (const char* scheme : {"stratum+tcp://", "stratum+ssl://", "stratum+tls://"}) {
                const std::string sch = scheme;
                if (u.rfind(sch, 0) != 0) continue;
                o.tls = sch != "stratum+tcp://";
                u = u.substr(sch.size());
            }
            if (u.find("://") != std::string::npos)
                throw std::runtime_error("--url must start with stratum+tcp://, stratum+ssl:// or stratum+tls://");
            const auto colon = u.rfind(':');
            if (colon == std::string::npos) throw std::runtime_error("--url needs host:port");
            o.host = u.substr(0, colon);
            o.port = u.substr(colon + 1);
        } else if (a == "--ca") {
            o.ca = next("--ca");
        } else if (a == "--user") {
            o.user = next("--user");
        } else if (a == "--pass") {
            o.pass = next("--pass");
        } else if (a == "--algo") {
            auto p = parse_pow_algorithm(next("--algo"));
            if (!p) throw std::runtime_error(p.error_message());
            o.algo = *p;
        } else if (a == "--version-rolling") {
            o.version_rolling = true;
        } else if (a == "--suggest-difficulty") {
            o.suggest = std::stod(next("--suggest-difficulty"));
        } else if (a == "--shares") {
            o.shares = static_cast<unsigned>(std::stoul(next("--shares")));
        } else if (a == "--submits") {
            o.submits = static_cast<unsigned>(std::stoul(next("--submits")));
        } else if (a == "--seconds") {
            o.seconds = std::stod(next("--seconds"));
        } else if (a == "--batch") {
            o.batch = std::max(1u, static_cast<unsigned>(std::stoul(next("--batch"))));
        } else if (a == "--quiet") {
            o.quiet = true;
        } else {
            throw std::runtime_error("unknown argument " + a);
        }
    }
    if (o.user.empty()) throw std::runtime_error("--user is required");
    if (!o.ca.empty() && !o.tls) throw std::runtime_error("--ca needs a stratum+ssl:// or stratum+tls:// --url");
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        parse_args(argc, argv, o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bmm-miner: %s\n\n%s", e.what(), k_usage);
        return 2;
    }
    connection c;
    if (!c.open(o.host, o.port)) {
        std::fprintf(stderr, "bmm-miner: cannot connect to %s:%s\n", o.host.c_str(), o.port.c_str());
        return 2;
    }
    if (o.tls) {
        std::string why;
        if (!c.start_tls(o.host, o.ca, why)) {
            std::fprintf(stderr, "bmm-miner: TLS to %s:%s failed: %s\n", o.host.c_str(), o.port.c_str(), why.c_str());
            return 2;
        }
        if (o.ca.empty() && !o.quiet)
            std::fprintf(stderr, "bmm-miner: TLS without --ca: encrypted, but the pool's certificate is not checked\n");
    }
    int next_id = 1;
    const int configure_id = next_id++, subscribe_id = next_id++, authorize_id = next_id++;
    if (o.version_rolling)
        c.send("{\"id\":" + std::to_string(configure_id) +
               ",\"method\":\"mining.configure\",\"params\":[[\"version-rolling\"],{\"version-rolling.mask\":"
               "\"ffffffff\",\"version-rolling.min-bit-count\":2}]}");
    c.send("{\"id\":" + std::to_string(subscribe_id) + ",\"method\":\"mining.subscribe\",\"params\":[\"bmm-miner/1.0\"]}");
    if (o.suggest > 0)
        c.send("{\"id\":" + std::to_string(next_id++) + ",\"method\":\"mining.suggest_difficulty\",\"params\":[" +
               std::to_string(o.suggest) + "]}");
    c.send("{\"id\":" + std::to_string(authorize_id) + ",\"method\":\"mining.authorize\",\"params\":[\"" + o.user +
           "\",\"" + o.pass + "\"]}");

    std::vector<unsigned char> en1;
    std::size_t en2_size = 4;
    std::uint32_t version_mask = 0;
    double difficulty = 1;
    std::optional<miner_job> job;
    std::uint64_t en2_counter = std::random_device{}();
    std::uint32_t nonce = 0;
    std::map<int, bool> submitted;  // id -> pending
    unsigned accepted = 0, rejected = 0, sent = 0, jobs_seen = 0, clean_jobs = 0;
    std::map<std::string, unsigned> reasons;
    bool authorised = false, subscribed = false;
    std::string failure;

    simdjson::dom::parser parser;
    verifier::batch_verifier v;
    const auto t0 = clock_type::now();
    auto elapsed = [&] { return std::chrono::duration<double>(clock_type::now() - t0).count(); };

    while (elapsed() < o.seconds && accepted < o.shares && (sent < o.submits || !submitted.empty())) {
        std::vector<std::string> lines;
        const bool mining = job && authorised && sent < o.submits;
        if (!c.read_lines(mining ? 0 : 100, lines)) {
            failure = "the pool closed the connection";
            break;
        }
        for (const auto& line : lines) {
            simdjson::dom::element doc;
            if (parser.parse(line).get(doc)) continue;
            std::string_view method;
            if (doc["method"].get(method) == simdjson::SUCCESS) {
                simdjson::dom::array params;
                if (doc["params"].get(params)) continue;
                if (method == "mining.set_difficulty") {
                    double d = 0;
                    std::int64_t di = 0;
                    if (params.at(0).get(d) == simdjson::SUCCESS) difficulty = d;
                    else if (params.at(0).get(di) == simdjson::SUCCESS) difficulty = static_cast<double>(di);
                } else if (method == "mining.set_version_mask") {
                    std::string_view m;
                    if (params.at(0).get(m) == simdjson::SUCCESS)
                        version_mask = static_cast<std::uint32_t>(std::strtoul(std::string(m).c_str(), nullptr, 16));
                } else if (method == "mining.notify") {
                    std::string_view id, prev, c1, c2, ver, bits, ntime;
                    simdjson::dom::array branch;
                    bool clean = false;
                    if (params.at(0).get(id) || params.at(1).get(prev) || params.at(2).get(c1) ||
                        params.at(3).get(c2) || params.at(4).get(branch) || params.at(5).get(ver) ||
                        params.at(6).get(bits) || params.at(7).get(ntime) || params.at(8).get(clean))
                        continue;
                    std::vector<std::string_view> br;
                    for (auto b : branch) br.emplace_back(std::string_view(b));
                    auto d = verifier::job_data::from_stratum(o.algo, prev, c1, c2, br, ver, bits, en2_size, version_mask);
                    if (!d) {
                        std::fprintf(stderr, "bmm-miner: bad job from the pool: %s\n", d.error_message().c_str());
                        continue;
                    }
                    job = miner_job{std::string(id), std::string(ntime), std::move(*d)};
                    ++jobs_seen;
                    if (clean) ++clean_jobs;
                    nonce = 0;
                    ++en2_counter;
                } else if (method == "client.reconnect") {
                    failure = "the pool asked to reconnect";
                }
                continue;
            }
            std::int64_t id = 0;
            if (doc["id"].get(id)) continue;
            simdjson::dom::element err;
            const bool ok = doc["error"].get(err) == simdjson::SUCCESS && err.is_null();
            if (id == subscribe_id) {
                simdjson::dom::array res;
                std::string_view e1;
                std::int64_t size = 4;
                if (!ok || doc["result"].get(res) || res.at(1).get(e1) || res.at(2).get(size)) {
                    failure = "subscribe failed: " + line;
                    break;
                }
                en1 = from_hex(e1).value_or(std::vector<unsigned char>{});
                en2_size = static_cast<std::size_t>(size);
                subscribed = true;
            } else if (id == authorize_id) {
                bool res = false;
                authorised = ok && doc["result"].get(res) == simdjson::SUCCESS && res;
                if (!authorised) {
                    failure = "authorize refused: " + line;
                    break;
                }
            } else if (id == configure_id) {
                std::string_view m;
                if (ok && doc["result"]["version-rolling.mask"].get(m) == simdjson::SUCCESS)
                    version_mask = static_cast<std::uint32_t>(std::strtoul(std::string(m).c_str(), nullptr, 16));
            } else if (submitted.erase(static_cast<int>(id))) {
                if (ok) {
                    ++accepted;
                } else {
                    ++rejected;
                    std::string_view msg = "unknown";
                    if (err.is_array() && err.at(1).get(msg)) msg = "unknown";
                    ++reasons[std::string(msg)];
                }
            }
        }
        if (!failure.empty()) break;
        if (!(job && authorised && subscribed && sent < o.submits)) continue;

        // Mine one batch: consecutive nonces under one extranonce2 (and, with
        // version rolling, a rolled version per batch).
        const auto target = target_from_difficulty(difficulty, o.algo);
        if (!target) continue;
        const std::string& ntime_hex = job->ntime;
        std::vector<unsigned char> en2(en2_size);
        for (std::size_t i = 0; i < en2_size; ++i) en2[i] = static_cast<unsigned char>(en2_counter >> (8 * i));
        const std::string en2_hex = to_hex(en2);
        const std::string vbits = o.version_rolling && version_mask
                                      ? be32_hex(static_cast<std::uint32_t>(en2_counter * 0x2000u + nonce) & version_mask)
                                      : std::string();
        std::vector<std::string> nonces(o.batch);
        std::vector<verifier::share> shares(o.batch);
        for (unsigned i = 0; i < o.batch; ++i) {
            nonces[i] = be32_hex(nonce + i);
            shares[i] = {&job->data, en1, en2_hex, ntime_hex, nonces[i], vbits, *target};
        }
        std::vector<verifier::verdict> out(o.batch);
        v.verify(shares, out);
        for (unsigned i = 0; i < o.batch && sent < o.submits; ++i) {
            if (!out[i].ok() || !out[i].meets_target) continue;
            const int id = next_id++;
            std::string line = "{\"id\":" + std::to_string(id) + ",\"method\":\"mining.submit\",\"params\":[\"" +
                               o.user + "\",\"" + job->id + "\",\"" + en2_hex + "\",\"" + ntime_hex + "\",\"" +
                               nonces[i] + "\"";
            if (!vbits.empty()) line += ",\"" + vbits + "\"";
            line += "]}";
            if (!c.send(line)) {
                failure = "the pool closed the connection";
                break;
            }
            submitted[id] = true;
            ++sent;
        }
        nonce += o.batch;
        if (nonce < o.batch) ++en2_counter;  // nonce space exhausted
        if (!o.quiet && sent && sent % 50 == 0)
            std::fprintf(stderr, "bmm-miner: %u submitted, %u accepted, %u rejected\n", sent, accepted, rejected);
    }
    // Collect the answers still outstanding (bounded).
    const auto drain_until = clock_type::now() + std::chrono::seconds(3);
    while (!submitted.empty() && clock_type::now() < drain_until) {
        std::vector<std::string> lines;
        if (!c.read_lines(100, lines)) break;
        for (const auto& line : lines) {
            simdjson::dom::element doc;
            std::int64_t id = 0;
            if (parser.parse(line).get(doc) || doc["id"].get(id) || !submitted.erase(static_cast<int>(id))) continue;
            simdjson::dom::element err;
            if (doc["error"].get(err) == simdjson::SUCCESS && err.is_null()) {
                ++accepted;
            } else {
                ++rejected;
                std::string_view msg = "unknown";
                if (err.is_array() && err.at(1).get(msg)) msg = "unknown";
                ++reasons[std::string(msg)];
            }
        }
    }
    std::printf("accepted %u, rejected %u, submitted %u, jobs %u (clean %u), %.1f s%s%s\n", accepted, rejected, sent,
                jobs_seen, clean_jobs, elapsed(), failure.empty() ? "" : "; ", failure.c_str());
    std::string reasons_json = "{";
    for (const auto& [r, n] : reasons)
        reasons_json += (reasons_json.size() > 1 ? "," : "") + std::string("\"") + r + "\":" + std::to_string(n);
    reasons_json += "}";
    std::printf("{\"accepted\":%u,\"rejected\":%u,\"submitted\":%u,\"jobs\":%u,\"clean_jobs\":%u,\"seconds\":%.3f,"
                "\"tls\":%s,\"reasons\":%s}\n",
                accepted, rejected, sent, jobs_seen, clean_jobs, elapsed(), o.tls ? "true" : "false",
                reasons_json.c_str());
    return accepted > 0 ? 0 : 1;
}
