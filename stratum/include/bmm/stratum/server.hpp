#pragma once
// The Stratum server: libuv loops that hold miners' connections.
//
// One loop per thread, each with its own listening socket on every port
// (SO_REUSEPORT: the kernel spreads connections over loops, and several
// bmm-stratum processes can share a port), its own sessions, its own copy of
// the job table and its own batch verifier; nothing on the share path is
// shared between threads. New jobs reach the loops through a mailbox and a
// uv_async wake-up.
//
// A loop turn: read callbacks parse lines and answer what needs no hashing at
// once; every mining.submit of the turn goes into the pending batch, which a
// check handle (after the poll phase) verifies in one call. For each share in
// order: a share that meets the network target is assembled into a block and
// queued for submitblock first; then its verdict is decided, all verdicts of
// the batch are appended to the journal (share_sink), and only then do the
// replies go out.

#include "bmm/stratum/config.hpp"
#include "bmm/stratum/job.hpp"
#include "bmm/stratum/job_manager.hpp"
#include "bmm/stratum/metrics.hpp"
#include "bmm/stratum/share_sink.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bmm::stratum {

struct server_stats {
    std::uint64_t connections = 0;
    std::uint64_t accepted = 0;
    std::uint64_t rejected = 0;
    std::uint64_t blocks = 0;
    // Limits (see [limits]): connections refused at accept (banned address,
    // per-address or total maximum), addresses banned, connections closed by
    // a limit (timeouts, unread output, long lines, bans), TLS failures.
    std::uint64_t refused = 0;
    std::uint64_t bans = 0;
    std::uint64_t closed_by_limits = 0;
    std::uint64_t tls_failures = 0;
};

class admission;
class mining_gate;  // mining_gate.hpp
namespace detail {
struct loop_ctx;  // one event loop and its sessions (stratum/src/server_loop.hpp)
}  // namespace detail

class server {
public:
    server(const server_config& cfg, job_manager& jobs, share_sink& sink);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds every port on every loop and starts the loop threads.
    result<bool> start();
    // Hands a new job to every loop (thread-safe).
    void publish_job(std::shared_ptr<const job> j);
    // Graceful stop: stop accepting, tell miners to reconnect, finish the
    // batch in progress, close connections, end the loops.
    void stop();

    server_stats stats() const;
    unsigned loops() const;
    // The loops' metrics, summed (any thread, between start() and stop()).
    metrics::server_snapshot metrics_snapshot() const;

    const server_config& config() const noexcept { return cfg_; }
    job_manager& job_manager_ref() noexcept { return jobs_; }
    share_sink& sink_ref() noexcept { return sink_; }
    // "Buy BMM first" (min_bmm_to_mine): authorize refuses accounts the gate
    // refuses, and a new job drops workers whose account fell below it. Set
    // before start(); null (the default) = no gate.
    void set_mining_gate(const mining_gate* g) noexcept { gate_ = g; }
    const mining_gate* mining_gate_ptr() const noexcept { return gate_; }

private:
    const server_config& cfg_;
    job_manager& jobs_;
    share_sink& sink_;
    const mining_gate* gate_ = nullptr;
    std::vector<std::unique_ptr<detail::loop_ctx>> loops_;
    std::unique_ptr<admission> admission_;  // connections per address, bans: shared by the loops
    server_stats final_;                    // totals of loops already stopped
    bool started_ = false;
};

// What the server knows of a username "account.worker".
struct worker_name {
    std::string account;
    std::string worker;
    // sha256 (hex) of the password's claim=<secret>, "" when none: it goes
    // with the worker's shares so that bmm-accountd can tie the account it
    // makes to the secret (wallet_binding.hpp); the secret stays here.
    std::string claim_digest;
};
// Splits and checks a Stratum username; errors say what is wrong.
result<worker_name> parse_worker_name(std::string_view username);
// The d=<difficulty> option of a Stratum password, if any ("x", "d=2048", "x,d=0.5").
bool password_difficulty(std::string_view password, double& out);
// The claim=<secret> option of a Stratum password ("x,claim=s3cret-of-my-farm"):
// the secret, nullopt when there is none, an error when it is too short
// (under 12 characters) or long (over 128) to be a secret.
result<std::optional<std::string>> password_claim(std::string_view password);

}  // namespace bmm::stratum
