// bmm-stratum: the Stratum v1 pool server. The work is in bmm_stratum; this
// file reads the command line, wires the parts together and handles signals:
//   SIGTERM, SIGINT  graceful stop (miners are told to reconnect, the journal
//                    is flushed to Redis for up to 5 s)
//   SIGUSR1          fetch a block template now (for -blocknotify hooks)

#include "bmm/cli.hpp"
#include "bmm/crypto/scrypt.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/log.hpp"
#include "bmm/stratum/config.hpp"
#include "bmm/stratum/job_manager.hpp"
#include "bmm/stratum/metrics.hpp"
#include "bmm/stratum/server.hpp"
#include "bmm/stratum/share_sink.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace {

const char* k_description = R"(bmm-stratum: the BMM pool Stratum v1 server. It builds jobs from the coin
node's getblocktemplate, validates every share, submits blocks, and publishes
every verdict and block to a Redis stream (spooling to a local journal while
Redis is away).
)";

const char* k_footer = R"(
With [metrics] port set, GET http://HOST:PORT/metrics serves Prometheus text
(connections, shares by verdict, hashrate, verify time, blocks, stream backlog).

Signals: SIGTERM/SIGINT stop gracefully; SIGUSR1 fetches a new template now
(use it from the node's -blocknotify: blocknotify=pkill -USR1 bmm-stratum).
Environment: BMM_SHA256_KERNEL, BMM_SCRYPT_KERNEL force a hash kernel family
(scalar, shani, avx2, avx512).
)";

// "host:port" of the node's RPC URL, for the metrics' node label (never the
// credentials a URL might carry).
std::string node_label(const std::string& url) {
    std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
    return rest;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace bmm;
    std::string config_path;
    bool check_only = false;
    CLI::App app{k_description, "bmm-stratum"};
    cli::setup(app, "bmm-stratum");
    app.footer(k_footer);
    app.add_option("--config", config_path, "the TOML configuration (see deploy/config/bmm-stratum.toml)")
        ->required();
    app.add_flag("--check", check_only, "check the configuration and the node, then exit");
    if (auto rc = cli::parse(app, argc, argv)) {
        return *rc;
    }
    auto cfg = stratum::load_server_config(config_path);
    if (!cfg) {
        std::fprintf(stderr, "bmm-stratum: bad configuration: %s\n", cfg.error_message().c_str());
        return 2;
    }
    log::level lvl = log::level::info;
    log::parse_level(cfg->log_level, lvl);
    log::set_level(lvl);

    // Block the signals in every thread; the main thread waits for them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    // Every miner is one file descriptor: raise the soft limit to the hard
    // one, and say when it, not [limits] max_connections, is the real cap.
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    const auto soft_before = static_cast<unsigned long long>(nofile.rlim_cur);
    if (nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) getrlimit(RLIMIT_NOFILE, &nofile);
    }
    const auto open_files = static_cast<unsigned long long>(nofile.rlim_cur);
    const unsigned long long fd_room = open_files > 64 ? open_files - 64 : 0;  // Redis, node, logs, loops
    log::info("stratum", "open file limit {} (soft was {}, hard {}): room for about {} miners; "
              "[limits] max_connections {}",
              open_files, soft_before, static_cast<unsigned long long>(nofile.rlim_max), fd_room,
              cfg->limits.max_connections);
    if (fd_room < cfg->limits.max_connections)
        log::warn("stratum", "the open file limit caps connections at about {}, below [limits] max_connections {}: "
                  "raise it (systemd LimitNOFILE=, ulimit -n, /etc/security/limits.conf) or lower max_connections",
                  fd_room, cfg->limits.max_connections);
    log::info("stratum", "cpu [{}]; sha256 {}; scrypt {}", crypto::detect_cpu_features().describe(),
              crypto::sha256_default_selection().describe(), crypto::scrypt_default_selection().describe());

    stratum::share_sink sink({cfg->redis_host, cfg->redis_port, cfg->stream, cfg->spool_dir, cfg->instance_id});
    std::atomic<stratum::server*> srv{nullptr};
    stratum::job_manager jobs(
        *cfg,
        [&srv](std::shared_ptr<const stratum::job> j) {
            if (auto* s = srv.load()) s->publish_job(std::move(j));
        },
        [&sink, &cfg](const stratum::found_block& b, const std::string& answer, bool accepted) {
            sink.append(stratum::block_record(*cfg, b, answer, accepted));
        });
    auto started = jobs.start();
    if (!started) {
        log::error("stratum", "cannot start: {}", started.error_message());
        return 1;
    }
    if (check_only) {
        log::info("stratum", "configuration {} and the node are fine; height {}", config_path,
                  jobs.current()->tmpl->height);
        jobs.stop();
        return 0;
    }
    if (auto s = sink.start(); !s) {
        log::error("stratum", "cannot start the share journal: {}", s.error_message());
        return 1;
    }
    stratum::server server(*cfg, jobs, sink);
    if (auto s = server.start(); !s) {
        log::error("stratum", "cannot start: {}", s.error_message());
        jobs.stop();
        sink.stop(1000);
        return 1;
    }
    srv = &server;
    server.publish_job(jobs.current());  // a job that arrived while the loops started

    // The metrics endpoint reads the server, the sink and the job manager; it
    // starts after them and stops before them.
    std::unique_ptr<stratum::metrics::http_endpoint> metrics;
    if (cfg->metrics_port) {
        stratum::metrics::process_info info;
        info.instance_id = cfg->instance_id;
        info.version = k_version;
        info.coin = cfg->coin;
        info.algorithm = std::string(to_string(cfg->algorithm));
        info.node = node_label(cfg->node_url);
        info.sha256_kernel = crypto::sha256_default_selection().describe();
        info.scrypt_kernel = crypto::scrypt_default_selection().describe();
        info.verifier_kernels = verifier::batch_verifier().describe_kernels();
        const auto unix_seconds = [] {
            return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        };
        info.start_time_unix = unix_seconds();
        info.spool_dir = cfg->spool_dir;
        auto page = [&server, &sink, &jobs, &metrics, info, unix_seconds] {
            struct statvfs fs {};
            const double free_bytes = ::statvfs(info.spool_dir.c_str(), &fs) == 0
                                          ? static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize)
                                          : -1.0;
            return stratum::metrics::render(server.metrics_snapshot(), sink.stats(), jobs.stats(), info,
                                            metrics->stats(), unix_seconds(), free_bytes);
        };
        metrics = std::make_unique<stratum::metrics::http_endpoint>(
            stratum::metrics::http_options{cfg->metrics_host, cfg->metrics_port}, page);
        if (auto m = metrics->start(); !m) {
            log::error("stratum", "cannot start: {}", m.error_message());
            metrics.reset();
            srv = nullptr;
            server.stop();
            jobs.stop();
            sink.stop(1000);
            return 1;
        }
        log::info("metrics", "Prometheus metrics at http://{}:{}/metrics", cfg->metrics_host, cfg->metrics_port);
    }
    for (const auto& p : cfg->ports)
        log::info("stratum", "stratum+{}://{}:{} ready (start difficulty {}, {} to {})", p.tls ? "ssl" : "tcp",
                  p.host, p.port, p.start_difficulty, p.min_difficulty, p.max_difficulty);

    while (true) {
        int sig = 0;
        sigwait(&signals, &sig);
        if (sig == SIGUSR1) {
            log::info("stratum", "SIGUSR1: fetching a new block template");
            jobs.refresh();
            continue;
        }
        log::info("stratum", "{}: stopping (miners are told to reconnect)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    // Join the endpoint's thread before the pointer it reads through goes
    // (unique_ptr::reset clears the pointer before the destructor joins).
    if (metrics) metrics->stop();
    metrics.reset();
    srv = nullptr;
    server.stop();
    jobs.stop();
    sink.stop(5000);
    const auto st = server.stats();
    log::info("stratum", "stopped: {} connections, {} shares accepted, {} rejected, {} blocks; "
              "{} connections refused, {} addresses banned, {} closed by limits, {} TLS failures",
              st.connections, st.accepted, st.rejected, st.blocks, st.refused, st.bans, st.closed_by_limits,
              st.tls_failures);
    return 0;
}
