// The Stratum server: the public bmm::stratum::server (server.hpp has the
// design), jobs reaching the loops, the loops' periodic duties, start and
// stop. The rest of it is in the files server_loop.hpp lists: accept and I/O
// (server_io.cpp), the Stratum methods (server_methods.cpp), the share batch
// (server_batch.cpp) and the share verdict (share_verdict.cpp).

#include "bmm/stratum/server.hpp"
#include "bmm/stratum/mining_gate.hpp"

#include "server_loop.hpp"

#include <algorithm>
#include <random>

namespace bmm::stratum {

namespace detail {

std::size_t port_index(const session* s) {
    return static_cast<std::size_t>(s->port - s->loop->srv->config().ports.data());
}

}  // namespace detail

using namespace detail;  // the loops' parts (server_loop.hpp)

namespace {

constexpr std::size_t k_jobs_kept = 16;  // recent jobs a share may still refer to

// ---------------------------------------------------------------------------
// Jobs and periodic duties
// ---------------------------------------------------------------------------

// min_bmm_to_mine: when the gate's list changed, workers whose account is no
// longer on it are told and dropped before the next job goes out, so their
// later shares are refused (not credited); shares accepted before stay.
void drop_gated_workers(loop_ctx& loop) {
    const auto* gate = loop.srv->mining_gate_ptr();
    if (!gate) {
        return;
    }
    const auto snap = gate->snapshot();
    if (snap->generation == loop.gate_generation) {
        return;
    }
    loop.gate_generation = snap->generation;
    const std::string& coin = loop.srv->config().coin;
    for (session* s : loop.sessions) {
        for (auto it = s->workers.begin(); it != s->workers.end();) {
            std::string why;
            if (gate_allows(*snap, it->second.account, coin, &why)) {
                ++it;
                continue;
            }
            log::info("gate", "{} ({}): {}", it->first, s->ip, why);
            send(s, "{\"id\":null,\"method\":\"client.show_message\",\"params\":[" +
                        json_string("worker " + it->first + " stops here: " + why) + "]}\n");
            it = s->workers.erase(it);
        }
    }
}

void take_job(loop_ctx& L, std::shared_ptr<const job> j) {
    if (L.jobs.count(j->id)) {
        return;  // the same job handed over twice
    }
    const bool clean = !L.current || j->tmpl->prevhash != L.current->tmpl->prevhash;
    L.jobs[j->id] = j;
    L.job_order.push_back(j->id);
    while (L.job_order.size() > k_jobs_kept) {
        L.jobs.erase(L.job_order.front());
        L.seen.forget(L.job_order.front());
        L.job_order.pop_front();
    }
    L.current = j;
    drop_gated_workers(L);
    const auto began = clock_type::now();
    std::size_t sent = 0;
    for (session* s : L.sessions) {
        if (!s->subscribed || s->workers.empty()) {
            continue;
        }
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
    for (auto& j : jobs) {
        take_job(L, std::move(j));
    }
    if (stop && !L.stopping) {
        begin_stop(L);
    }
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
        if (const char* why = limit_reached(*s, L.limits, now)) {
            to_close.emplace_back(s, why);
        } else if (!s->workers.empty()) {
            const double old = s->vd.difficulty;
            if (vardiff_on_tick(s->vd, *s->port, now)) {
                announce_difficulty(s, old);
            }
        }
    }
    for (auto& [s, why] : to_close) {
        ++L.closed_by_limits;
        close_session(s, why);
    }
    prune_ban_scores(L, now);
}

// ---------------------------------------------------------------------------
// Start and stop
// ---------------------------------------------------------------------------

void begin_stop(loop_ctx& L) {
    L.stopping = true;
    for (auto& l : L.listeners) {
        uv_close(reinterpret_cast<uv_handle_t*>(l.get()), nullptr);
    }
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

}  // namespace

server::server(const server_config& cfg, job_manager& jobs, share_sink& sink) : cfg_(cfg), jobs_(jobs), sink_(sink) {
    std::random_device rd;
    g_extranonce.seed(rd());
}

server::~server() { stop(); }

result<bool> server::start() {
    const unsigned n = cfg_.threads ? cfg_.threads : std::max(1u, std::thread::hardware_concurrency());
    if (!admission_) {
        admission_ = std::make_unique<admission>(cfg_.limits);
    }
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
                for (auto& l : L->listeners) {
                    uv_close(reinterpret_cast<uv_handle_t*>(l.get()), nullptr);
                }
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
        if (auto j = jobs_.current()) {
            take_job(*L, j);
        }
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
    if (!started_) {
        return;
    }
    started_ = false;
    for (auto& L : loops_) {
        {
            std::lock_guard lock(L->mu);
            L->stop_requested = true;
        }
        uv_async_send(&L->wake);
    }
    for (auto& loop : loops_) {
        if (loop->thread.joinable()) {
            loop->thread.join();
        }
    }
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
            for (std::size_t r = 0; r < metrics::k_share_results; ++r) {
                p.shares[r] += c.shares[r].get();
            }
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
    for (std::size_t i = 0; i < snap.ports.size(); ++i) {
        snap.ports[i].hashrate = port_rates[i];
    }
    metrics::top_workers(workers, cfg_.metrics_worker_series, snap);
    return snap;
}

}  // namespace bmm::stratum
