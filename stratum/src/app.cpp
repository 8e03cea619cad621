// bmm-stratum's process wiring (see app.hpp): the order in which the parts
// start and stop, the open-file limit and the signals.

#include "bmm/stratum/app.hpp"
#include "bmm/stratum/mining_gate.hpp"

#include "bmm/crypto/scrypt.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/git_commit.hpp"
#include "bmm/log.hpp"
#include "bmm/stratum/config.hpp"
#include "bmm/stratum/job_manager.hpp"
#include "bmm/stratum/metrics.hpp"
#include "bmm/stratum/server.hpp"
#include "bmm/stratum/share_sink.hpp"
#include "bmm/verifier/share_verifier.hpp"
#include "bmm/version.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

namespace bmm::stratum {
namespace {

double unix_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread (and so in every
// thread started after it) and returns them for sigwait; a miner that goes
// away mid-write must not kill the process, so SIGPIPE is ignored.
sigset_t block_process_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    return signals;
}

// Every miner is one file descriptor: raise the soft limit to the hard
// one, and say when it, not [limits] max_connections, is the real cap.
void raise_open_file_limit(const server_config& cfg) {
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    const auto soft_before = static_cast<unsigned long long>(nofile.rlim_cur);
    if (nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
            getrlimit(RLIMIT_NOFILE, &nofile);
        }
    }
    const auto open_files = static_cast<unsigned long long>(nofile.rlim_cur);
    const unsigned long long fd_room = open_files > 64 ? open_files - 64 : 0;  // Redis, node, logs, loops
    log::info("stratum",
              "open file limit {} (soft was {}, hard {}): room for about {} miners; "
              "[limits] max_connections {}",
              open_files, soft_before, static_cast<unsigned long long>(nofile.rlim_max), fd_room,
              cfg.limits.max_connections);
    if (fd_room < cfg.limits.max_connections) {
        log::warn("stratum",
                  "the open file limit caps connections at about {}, below [limits] max_connections {}: "
                  "raise it (systemd LimitNOFILE=, ulimit -n, /etc/security/limits.conf) or lower max_connections",
                  fd_room, cfg.limits.max_connections);
    }
}

// The constant part of the metrics page: who this process is and which
// kernels it hashes with.
metrics::process_info describe_process(const server_config& cfg) {
    metrics::process_info info;
    info.instance_id = cfg.instance_id;
    info.version = k_version;
    info.commit = k_git_commit;
    info.coin = cfg.coin;
    info.algorithm = std::string(to_string(cfg.algorithm));
    info.node = node_label(cfg.node_url);
    info.sha256_kernel = crypto::sha256_default_selection().describe();
    info.scrypt_kernel = crypto::scrypt_default_selection().describe();
    info.verifier_kernels = verifier::batch_verifier().describe_kernels();
    info.start_time_unix = unix_seconds();
    info.spool_dir = cfg.spool_dir;
    return info;
}

// The metrics endpoint reads the server, the sink and the job manager: the
// caller starts it after them and stops it before them. The page reads the
// endpoint's own counters through `self`, which the caller sets to the
// returned endpoint and keeps until the endpoint's thread is joined.
std::unique_ptr<metrics::http_endpoint> make_metrics_endpoint(const server_config& cfg, server& srv, share_sink& sink,
                                                              job_manager& jobs,
                                                              std::unique_ptr<metrics::http_endpoint>& self) {
    auto page = [&srv, &sink, &jobs, &self, info = describe_process(cfg)] {
        struct statvfs fs {};
        const double free_bytes = ::statvfs(info.spool_dir.c_str(), &fs) == 0
                                      ? static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize)
                                      : -1.0;
        return metrics::render(srv.metrics_snapshot(), sink.stats(), jobs.stats(), info, self->stats(), unix_seconds(),
                               free_bytes);
    };
    return std::make_unique<metrics::http_endpoint>(metrics::http_options{cfg.metrics_host, cfg.metrics_port},
                                                    std::move(page));
}

// Waits for SIGTERM or SIGINT; SIGUSR1 meanwhile fetches a new template and
// SIGHUP reopens the log file (logrotate's signal: it never stops the server).
void wait_for_stop(const sigset_t& signals, job_manager& jobs) {
    while (true) {
        int sig = 0;
        sigwait(&signals, &sig);
        if (sig == SIGUSR1) {
            log::info("stratum", "SIGUSR1: fetching a new block template");
            jobs.refresh();
            continue;
        }
        if (sig == SIGHUP) {
            log::reopen();
            log::info("stratum", "SIGHUP: log file reopened");
            continue;
        }
        log::info("stratum", "{}: stopping (miners are told to reconnect)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
}

}  // namespace

std::string node_label(const std::string& url) {
    std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    if (const auto at = rest.rfind('@'); at != std::string::npos) {
        rest = rest.substr(at + 1);
    }
    return rest;
}

int check_config(const std::string& path) {
    auto cfg = load_server_config(path);
    if (!cfg) {
        std::fprintf(stderr, "bmm-stratum: bad configuration: %s\n", cfg.error_message().c_str());
        return 2;
    }
    std::string ports;
    for (const auto& p : cfg->ports) {
        ports += (ports.empty() ? "" : ", ") + p.host + ":" + std::to_string(p.port) + (p.tls ? " (TLS)" : "");
    }
    std::printf(
        "%s: fine. %s (%s), instance %d; ports %s; %s%s, stream %s, wait_replicas %u; [limits] max_connections %zu "
        "(LimitNOFILE needs %zu); metrics %s\n",
        path.c_str(), cfg->coin.c_str(), std::string(to_string(cfg->algorithm)).c_str(),
        static_cast<int>(cfg->instance_id), ports.c_str(), redis::describe(cfg->redis).c_str(),
        cfg->redis.password_file.empty() ? " (no password)"
                                         : (" (password in " + cfg->redis.password_file + ")").c_str(),
        cfg->stream.c_str(), cfg->wait.replicas, cfg->limits.max_connections, cfg->limits.max_connections + 64,
        cfg->metrics_port ? (cfg->metrics_host + ":" + std::to_string(cfg->metrics_port)).c_str() : "off");
    return 0;
}

int run(const app_options& options) {
    auto cfg = load_server_config(options.config_path);
    if (!cfg) {
        std::fprintf(stderr, "bmm-stratum: bad configuration: %s\n", cfg.error_message().c_str());
        return 2;
    }
    log::level lvl = log::level::info;
    log::parse_level(cfg->log_level, lvl);
    log::set_level(lvl);
    if (std::string why; !options.log_file.empty() && !log::to_file(options.log_file, &why)) {
        std::fprintf(stderr, "bmm-stratum: %s\n", why.c_str());
        return 2;
    }

    const sigset_t signals = block_process_signals();
    raise_open_file_limit(*cfg);
    log::info("stratum", "cpu [{}]; sha256 {}; scrypt {}", crypto::detect_cpu_features().describe(),
              crypto::sha256_default_selection().describe(), crypto::scrypt_default_selection().describe());

    sink_config sink_cfg;
    sink_cfg.redis = cfg->redis;
    sink_cfg.stream = cfg->stream;
    sink_cfg.spool_dir = cfg->spool_dir;
    sink_cfg.instance_id = cfg->instance_id;
    sink_cfg.wait = cfg->wait;
    sink_cfg.sync = cfg->journal_sync == "interval" ? journal_sync::interval
                    : cfg->journal_sync == "none"   ? journal_sync::none
                                                    : journal_sync::batch;
    sink_cfg.sync_interval_ms = cfg->journal_sync_interval_ms;
    share_sink sink(std::move(sink_cfg));
    std::atomic<server*> srv{nullptr};
    job_manager jobs(
        *cfg,
        [&srv](std::shared_ptr<const job> j) {
            if (auto* s = srv.load()) {
                s->publish_job(std::move(j));
            }
        },
        [&sink, &cfg](const found_block& b, const std::string& answer, bool accepted) {
            sink.append_block(block_record(*cfg, b, answer, accepted));
        });
    auto started = jobs.start();
    if (!started) {
        log::error("stratum", "cannot start: {}", started.error_message());
        return 1;
    }
    if (options.check_only) {
        log::info("stratum", "configuration {} and the node are fine; height {}", options.config_path,
                  jobs.current()->tmpl->height);
        jobs.stop();
        return 0;
    }
    if (auto s = sink.start(); !s) {
        log::error("stratum", "cannot start the share journal: {}", s.error_message());
        return 1;
    }
    // min_bmm_to_mine, as bmm-accountd publishes it (off until it says otherwise).
    mining_gate gate({cfg->redis, cfg->coin, std::chrono::milliseconds(2000)});
    gate.start();
    server pool(*cfg, jobs, sink);
    pool.set_mining_gate(&gate);
    if (auto s = pool.start(); !s) {
        log::error("stratum", "cannot start: {}", s.error_message());
        jobs.stop();
        sink.stop(1000);
        return 1;
    }
    srv = &pool;
    pool.publish_job(jobs.current());  // a job that arrived while the loops started

    std::unique_ptr<metrics::http_endpoint> endpoint;
    if (cfg->metrics_port) {
        endpoint = make_metrics_endpoint(*cfg, pool, sink, jobs, endpoint);
        if (auto m = endpoint->start(); !m) {
            log::error("stratum", "cannot start: {}", m.error_message());
            endpoint.reset();
            srv = nullptr;
            pool.stop();
            jobs.stop();
            sink.stop(1000);
            return 1;
        }
        log::info("metrics", "Prometheus metrics at http://{}:{}/metrics", cfg->metrics_host, cfg->metrics_port);
    }
    for (const auto& p : cfg->ports) {
        log::info("stratum", "stratum+{}://{}:{} ready (start difficulty {}, {} to {})", p.tls ? "ssl" : "tcp", p.host,
                  p.port, p.start_difficulty, p.min_difficulty, p.max_difficulty);
        if (p.min_difficulty < share_cost_floor(cfg->algorithm)) {
            log::warn("stratum",
                      "port {}: min_difficulty {} lets a share cost a miner {:.0f} hashes, about {:.0f} times what "
                      "checking and keeping it costs the pool; on a public port raise it to at least {} (docs/"
                      "operations.md, \"Free shares\")",
                      p.port, p.min_difficulty, miner_hashes_per_share(cfg->algorithm, p.min_difficulty),
                      miner_hashes_per_share(cfg->algorithm, p.min_difficulty) / pool_hashes_per_share(cfg->algorithm),
                      share_cost_floor(cfg->algorithm));
        }
    }

    wait_for_stop(signals, jobs);
    // Join the endpoint's thread before the pointer it reads through goes
    // (unique_ptr::reset clears the pointer before the destructor joins).
    if (endpoint) {
        endpoint->stop();
    }
    endpoint.reset();
    srv = nullptr;
    pool.stop();
    jobs.stop();
    sink.stop(5000);
    const auto st = pool.stats();
    log::info("stratum",
              "stopped: {} connections, {} shares accepted, {} rejected, {} blocks; "
              "{} connections refused, {} addresses banned, {} closed by limits, {} TLS failures",
              st.connections, st.accepted, st.rejected, st.blocks, st.refused, st.bans, st.closed_by_limits,
              st.tls_failures);
    return 0;
}

}  // namespace bmm::stratum
