#pragma once
// The server's loops and sessions, shared by the files that make up
// bmm::stratum::server (private to bmm_stratum; server.hpp has the design):
//   server.cpp          jobs reaching the loops, periodic duties, start and stop
//   server_io.cpp       accept and I/O: listening, reading lines, writing,
//                       closing, limits, bans and TLS
//   server_methods.cpp  the Stratum methods (subscribe, authorize, configure,
//                       suggest_difficulty, submit) and difficulty announcements
//   server_batch.cpp    the share batch: hashing, blocks, verdicts, the journal
//   share_verdict.cpp   the verdict itself, pure (no sockets)
//
// Everything here runs on the loop's own thread, except the mailbox (`mu`)
// and the atomics that stats() reads.

#include "extranonce.hpp"

#include "bmm/log.hpp"
#include "bmm/stratum/limits.hpp"
#include "bmm/stratum/metrics.hpp"
#include "bmm/stratum/protocol.hpp"
#include "bmm/stratum/server.hpp"
#include "bmm/stratum/tls.hpp"
#include "bmm/stratum/vardiff.hpp"
#include "bmm/verifier/share_verifier.hpp"
#include "share_verdict.hpp"

#include <uv.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace bmm::stratum::detail {

using clock_type = std::chrono::steady_clock;
inline double now_seconds() { return std::chrono::duration<double>(clock_type::now().time_since_epoch()).count(); }
inline std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The low three bytes of extranonce1 (seeded at random by the server, shared
// by all loops, so two sessions never mine the same work): taken at
// subscribe, given back at close, never a value a live connection holds.
inline extranonce_allocator g_extranonce{24};
// Rejected shares and refused workers: logged, but not more than this.
inline log::rate_limiter g_reject_log(20, std::chrono::seconds(10));

struct session;
struct loop_ctx;

struct pending_share {
    session* s = nullptr;
    std::string id_json;
    std::string worker;  // full username as submitted
    worker_name name;    // its account and worker ({"", worker} when malformed)
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
    loop_ctx* loop = nullptr;
    const port_config* port = nullptr;
    std::uint64_t id = 0;
    std::string ip;
    std::string inbuf;
    bool subscribed = false;
    bool closed = false;    // uv_close called
    bool released = false;  // close callback ran; delete when no share is pending
    unsigned pending = 0;   // shares of this session in the current batch
    std::array<unsigned char, 4> en1{};
    std::string en1_hex;
    std::unordered_map<std::string, worker_name> workers;  // authorised usernames, parsed
    std::string account;                                   // the first authorised account
    std::uint32_t version_mask = 0;                        // negotiated with mining.configure
    double suggested = 0;                                  // suggest_difficulty / d=
    vardiff_state vd;
    double prev_difficulty = 0;
    std::uint64_t diff_changed_after = 0;  // jobs up to this seq were sent before the last change
    std::uint64_t last_job_sent = 0;
    double last_line = 0;
    double connected_at = 0;
    unsigned bad_lines = 0;
    std::uint64_t accepted = 0, rejected = 0;
    token_bucket submits;       // [limits] max_shares_per_second
    token_bucket free_rejects;  // [limits] free_rejects_per_minute

    // Limits and TLS (server_io.cpp).
    std::unique_ptr<tls::connection> tls;  // null on plain TCP ports
    bool admitted = false;                 // counted in the admission table until closed
    const char* doom = nullptr;            // why the next tick closes it (set where closing is unsafe)
};

struct loop_ctx {
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
    seen_shares seen;  // duplicate keys of the jobs in `jobs`
    std::shared_ptr<const job> current;
    std::uint64_t gate_generation = 0;  // the mining gate list last applied to the workers
    std::unordered_set<session*> sessions;
    std::vector<pending_share> batch;
    std::unique_ptr<verifier::batch_verifier> verifier;
    simdjson::dom::parser parser;
    std::array<char, 64 * 1024> read_buffer{};
    std::uint64_t next_session = 1;

    std::atomic<std::uint64_t> connections{0}, accepted{0}, rejected{0}, blocks{0};

    // Limits, bans and TLS (server_io.cpp).
    limits_config limits;
    admission* admit = nullptr;                             // shared by all loops, used at accept and close
    std::vector<tls::context> listener_tls;                 // per listener; null on plain TCP ports
    std::unordered_map<std::string, ban_score> ban_scores;  // per source address, this loop's only
    double next_score_prune = 0;
    std::atomic<std::uint64_t> refused{0}, bans{0}, closed_by_limits{0}, tls_failures{0};

    // Counters for the metrics endpoint (one writer: this loop); see metrics.hpp.
    std::unique_ptr<metrics::loop_metrics> metrics;
};

// The session's [[port]] as an index into the configuration's ports.
std::size_t port_index(const session* s);

// --- server_io.cpp: accept and I/O ------------------------------------------

// Binds one [[port]] on the loop and listens (SO_REUSEPORT). Errors name the
// address and what to check.
result<bool> bind_listener(loop_ctx& L, const port_config& p);
// Sends one message (encrypted on TLS ports). A miner that leaves more than
// [limits] max_write_queue_bytes unread gets nothing more and is doomed: the
// next tick closes it.
void send(session* s, std::string text);
// Sends a job's mining.notify line (no copy on plain TCP) and remembers it
// as the last job the session was sent.
void send_job(session* s, const std::shared_ptr<const job>& j, bool clean);
// Closes the connection; the session is freed once no share of it is pending.
void close_session(session* s, const char* why);
// One point on the ban score of the session's address; at the threshold the
// address is banned (logged once) and its connections on this loop closed.
// Never called while iterating L.sessions.
void penalise(session* s, const char* reason);
// A share rejected without a ban reason of its own: free up to [limits]
// free_rejects_per_minute on the connection, a ban point each past it. Stale
// shares (21) never count: the pool's new jobs make them.
void count_reject(session* s, int code);
// Why the tick should close `s` now, or null.
const char* limit_reached(const session& s, const limits_config& lim, double now);
// Forgets ban scores that have decayed to nothing (once a minute).
void prune_ban_scores(loop_ctx& L, double now);

// --- server_methods.cpp: the Stratum methods --------------------------------

// Answers one parsed request (mining.submit joins the loop's batch).
void handle_request(session* s, const request& r);
// The session's difficulty has changed from `old_difficulty` to
// s->vd.difficulty: announce it and re-send the current job so miners apply
// it; shares on jobs sent before the change count at the lower of the two.
void announce_difficulty(session* s, double old_difficulty);

// --- server_batch.cpp: the share batch --------------------------------------

// Verifies the loop's pending shares together, queues blocks, journals every
// verdict, then answers the miners (see server.hpp, "A loop turn").
void process_batch(loop_ctx& L);

}  // namespace bmm::stratum::detail
