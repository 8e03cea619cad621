#pragma once
// bmm-stratum's configuration: one TOML file (see deploy/config/bmm-stratum.toml).
//
// Every value is checked when the file is loaded; an error names the file,
// the line and column, the setting, and what was expected. String values may
// refer to environment variables as ${NAME} (secrets such as the node's RPC
// password stay out of the file); a reference to an unset variable is an
// error.

#include "bmm/redis/connect.hpp"
#include "bmm/result.hpp"
#include "bmm/target.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bmm::stratum {

struct port_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3333;
    bool tls = false;
    std::string tls_cert;  // PEM certificate chain (tls = true); checked at load
    std::string tls_key;   // PEM private key matching tls_cert
    double start_difficulty = 1;
    double min_difficulty = 0.001;  // unset: default_min_difficulty(algorithm)
    double max_difficulty = 1e12;
    double target_share_seconds = 10;  // vardiff aims at one share per this many seconds
    double retarget_seconds = 30;      // how often vardiff may change a miner's difficulty
};

// What a share costs, in hashes of its algorithm: a miner's at difficulty
// `d` is d x 2^32 (sha256d) or d x 2^16 (scrypt) hashes on average; the
// pool's is one hash to check it plus parsing, answering, the journal, the
// stream and its database row, measured as about 4 scrypt hashes or 50
// sha256d hashes of one core (docs/operations.md, "Free shares").
double miner_hashes_per_share(pow_algorithm a, double difficulty) noexcept;
double pool_hashes_per_share(pow_algorithm a) noexcept;
// The lowest difficulty (a power of two) at which a share costs the miner at
// least k_share_cost_ratio times what it costs the pool; start-up warns of a
// port whose min_difficulty is below it. A port without min_difficulty gets
// the larger of it and 0.001 (scrypt 1/16, sha256d 0.001).
inline constexpr double k_share_cost_ratio = 1000;
double share_cost_floor(pow_algorithm a) noexcept;
double default_min_difficulty(pow_algorithm a) noexcept;

// [limits]: what one miner, one address, or the whole process may hold.
// Every limit is enforced at accept, in the once-a-second tick, or by a
// comparison on a path that already runs; none adds work to the share path.
struct limits_config {
    std::size_t max_connections = 100000;         // per process; the next is refused at accept
    std::size_t max_connections_per_ip = 1000;    // per source address (farms behind one NAT need many)
    std::size_t max_line_bytes = 16 * 1024;       // a longer line closes the connection
    std::size_t max_pending_requests = 1000;      // submits awaiting their verdict; more get error 20
    std::size_t max_workers_per_connection = 64;  // distinct authorised workers; more get error 24
    std::size_t max_write_queue_bytes = 1 << 20;  // unsent bytes to a miner that does not read
    double idle_timeout_seconds = 900;            // without a line
    double half_open_timeout_seconds = 30;        // to subscribe and authorise after connecting
    double tls_handshake_timeout_seconds = 10;    // to finish the TLS handshake
    // Ban score per source address: +1 for each malformed line or invalid
    // share (not stale or low difficulty), halving every ban_half_life_seconds;
    // reaching ban_threshold closes the connection and bans the address for
    // ban_seconds. ban_threshold = 0 turns bans off.
    double ban_threshold = 50;
    double ban_half_life_seconds = 60;
    double ban_seconds = 600;
    // Submits per connection: max_shares_per_second on average, bursts up to
    // five seconds' worth. Past it a submit is answered (error 20) without
    // being hashed or recorded, and adds a point to the ban score. Vardiff aims
    // at one share per target_share_seconds, far below; 0 turns it off.
    double max_shares_per_second = 200;
    // Rejected shares without a ban point of their own (low difficulty,
    // duplicate, unauthorised, ...) are honest mistakes up to this many per
    // minute per connection (bursts up to a minute's worth); each one past it
    // adds a point to the ban score. Stale shares never count. 0: every one does.
    double free_rejects_per_minute = 60;
};

struct server_config {
    std::string file;  // where it was loaded from, for messages

    // [pool]
    std::uint32_t instance_id = 0;  // 0..255: extranonce1's first byte
    pow_algorithm algorithm = pow_algorithm::scrypt;
    std::string coin = "LTC";
    std::string address;  // the pool's payout address
    std::string tag = "/BMM pool/";
    std::size_t extranonce2_size = 4;
    std::uint32_t version_mask = 0x1fffe000;
    unsigned threads = 0;  // loops; 0 = one per core

    // [node]
    std::string node_url;
    std::string node_user;
    std::string node_password;
    std::vector<std::string> rules = {"mweb", "segwit"};
    double template_refresh_seconds = 20;  // a fresh template (fees) at least this often
    double poll_seconds = 1;               // fallback polling when long polling is unavailable

    // [redis]: where Redis is (host and port, or sentinels and master_name),
    // password_file, connect_timeout_ms (bmm/redis/connect.hpp).
    redis::settings redis;
    // Before the publisher moves its journal offset past a batch, WAIT until
    // that many replicas have it (at most wait_timeout_ms); fewer: the batch
    // is sent again later (share_sink.hpp). 0: no WAIT.
    redis::replica_wait wait;
    std::string stream = "bmm:shares";
    std::string spool_dir;  // the journal of verdicts not yet in Redis
    // When the journal is flushed to the disk: "batch" (before each verdict is
    // answered, one flush per batch of verdicts), "interval" (every
    // journal_sync_interval_ms) or "none" (left to the kernel). share_sink.hpp.
    std::string journal_sync = "batch";
    unsigned journal_sync_interval_ms = 50;

    // [log]
    std::string log_level = "info";

    limits_config limits;

    // [metrics]: the Prometheus endpoint (GET /metrics); port 0 turns it off.
    std::string metrics_host = "127.0.0.1";
    std::uint16_t metrics_port = 0;
    std::size_t metrics_worker_series = 100;       // per-worker hashrate series: the busiest this many
    double metrics_hashrate_window_seconds = 300;  // hashrate estimates average over this long

    std::vector<port_config> ports;
};

// Loads and checks a configuration file.
result<server_config> load_server_config(const std::string& path);
// The same from text (tests), with `name` used in messages.
result<server_config> parse_server_config(std::string_view text, const std::string& name);

}  // namespace bmm::stratum
