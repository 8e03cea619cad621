#pragma once
// bmm-accountd's configuration: one TOML file (deploy/config/bmm-accountd.toml).
// "${NAME}" reads the environment; errors name file, line, column and setting;
// unknown settings are refused.

#include "bmm/accounting/epoch_close.hpp"
#include "bmm/notify/settings.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/redis/connect.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::accounting {

// [redis]: where Redis is (host and port, or sentinels and master_name), its
// password_file and connect_timeout_ms (bmm::redis::settings, which every
// program that reads this file connects with), and the streams read.
struct redis_settings : redis::settings {
    std::string stream = "bmm:shares";  // bmm-stratum's [redis] stream (the first of `streams`)
    // Every stream this process reads (`streams = [...]`; `stream = "x"` is
    // shorthand for one), e.g. one per bmm-stratum instance,
    // "bmm:shares:{1}", "bmm:shares:{2}", ...: the braces are a Redis Cluster
    // hash tag, so each stream can live on its own shard. The consumer group
    // `group` is made on each. The epoch close waits until every one is
    // stored past the epoch's cutoff (ledger_keeper.hpp). Empty: {stream}.
    std::vector<std::string> streams;
    std::string group = "bmm-accountd";   // consumer group
    std::string consumer = "accountd-1";  // this consumer's name in the group (unique per process)
    // Before a round read from a stream is stored, WAIT until this many
    // replicas have everything the primary had when it answered (the
    // entries read included), at most wait_timeout_ms; when fewer did, the
    // round is not stored, the connection is dropped and the primary looked
    // up again (the entries stay pending and are read again). A primary cut
    // off from its replicas can thus not hand out entries that a failover
    // later loses: what the database stores is on a replica too. 0 = no
    // WAIT (one Redis, no replicas).
    redis::replica_wait wait;

    // The streams read: `streams`, or {stream} when it is empty.
    std::vector<std::string> all_streams() const {
        return streams.empty() ? std::vector<std::string>{stream} : streams;
    }
};

struct node_settings {
    std::string url;  // empty: no node (only ERC-20 addresses can be checked)
    std::string user;
    std::string password;
    std::string currency = "LTC";  // the currency whose addresses the node validates
};

struct ingest_settings {
    int batch_size = 10000;        // stream entries per transaction
    int block_ms = 1000;           // how long one XREADGROUP waits for new entries
    int partition_days_ahead = 2;  // daily shares partitions created ahead of today
    bool delete_acked = false;     // XDEL entries once acknowledged (keeps the stream short)
    bool auto_accounts = true;     // a username that is a payout address gets it bound as its wallet
    // Daily shares partitions older than this many days are dropped (0: keep
    // all), never one an open epoch, a late share counted in one or the pplns
    // window of a block not yet split still reads (the cutoff is held back and
    // the reason logged: ingest.cpp). Keep more than a record can wait in
    // bmm-stratum's journal: a repeat of a record whose day was dropped would
    // be stored (or counted) again.
    int keep_days = 0;
    // Entries pending on a consumer of the group (another one, gone for good,
    // or this one) for this long are taken over and stored (XAUTOCLAIM);
    // 0: never. Longer than a round can take to store.
    int claim_idle_ms = 300000;
    // Entries every consumer group has acknowledged are trimmed from the
    // stream (XTRIM MINID, every 10 s) once they are older than this many
    // seconds (kept a while for inspection and for readers outside the group);
    // -1: never trimmed.
    int stream_keep_seconds = 3600;
};

// [epochs]: the ledger side of the daemon (genesis premine, epoch closes,
// block tracking). Without an [epochs] section `run` only ingests.
struct epoch_settings {
    bool enabled = false;                                   // an [epochs] section is present
    std::int64_t length_seconds = 86400;                    // one UTC day
    std::int64_t genesis = 0;                               // start of epoch 0 (unix seconds); required
    std::uint64_t halving_period = default_halving_period;  // H, in epochs
    persistence_params persistence;                         // e_step_bp, e_max_bp, min_epoch_dpp
    // An epoch closes once now >= end + close_grace_ms and every stream entry
    // appended before end + close_grace_ms is stored (see due_epochs.hpp).
    std::int64_t close_grace_ms = 60000;
    int step_ms = 1000;  // how often the ledger thread looks for work
};

// [coins.<COIN>]: one coin the pool mines: its reward rules, maturity and node.
struct coin_settings {
    coin_rules rules;
    // The proof-of-work algorithm (sha256d, scrypt), shown by /api/v1/pool beside
    // resource_weight_ppm; default by coin: LTC and DOGE scrypt, BTC and BCH sha256d.
    std::string algorithm;
    int maturity = 100;  // confirmations before a block's rewards are available
    // A block's fate on the node (docs/accounting.md, "Orphans, returns, debts and parked blocks"):
    int orphan_readings = 2;                     // readings of confirmations == -1 before it is orphaned ...
    int orphan_reading_blocks = 1;               // ... each at least this many node heights after the one before
    std::int64_t unknown_orphan_seconds = 3600;  // unknown to the node (error -5) this long: orphaned
    int follow_past_maturity = 100;              // matured and orphaned blocks are still followed (late orphans,
                                                 // returns) until the tip is maturity + this many blocks past them
    // "Buy BMM first, then mine": available BMM (base units) an account needs
    // for bmm-stratum to authorise it on this coin; 0 = no gate.
    amount min_bmm_to_mine = 0;
    node_settings node;  // confirmations come from here; default: [node] when its currency is this coin
    // The address the pool's coinbases pay (bmm-stratum's [pool] address), held
    // by the node wallet [payout] wallet. With it, `audit` checks that wallet's
    // coinbases against the booked blocks and its balance against the ledger.
    std::string pool_address;
};

// The read API (api.hpp). `bmm-accountd api` always serves it; `bmm-accountd
// run` serves it too when the file has an [api] section with enabled = true
// (the default inside the section), so that several ingest processes on one
// host need not share a port.
struct api_settings {
    bool present = false;  // the file has an [api] section
    bool enabled = true;
    std::string host = "127.0.0.1";  // loopback by default: put a reverse proxy in front
    int port = 8390;
    int threads = 4;                       // HTTP worker threads, each with its own PostgreSQL connection
    int statement_timeout_ms = 5000;       // per SQL statement; a slower query answers 503
    int max_connections = 256;             // concurrent HTTP connections
    int max_connections_per_address = 32;  // of them from one client address (more: 429); behind a
                                           // reverse proxy, raise it to max_connections
    int connection_timeout_s = 15;         // an idle or slow client is dropped after this long
    bool cors = false;                     // send Access-Control-Allow-Origin: * (dashboards on other origins)
    // Self-service wallets (wallet_binding.hpp): the pool's name in the text
    // a miner signs, how long a challenge is valid, and the POST requests
    // (challenge, change) one client address and one account may make a minute.
    std::string pool_name = "BMM pool";
    int wallet_challenge_ttl_s = 600;
    int wallet_requests_per_minute_per_address = 20;
    int wallet_requests_per_minute_per_account = 10;
    // [api.read_postgres]: the read API's queries go there (PgBouncer in
    // transaction pooling in front of the replicas: no session state, no
    // named prepared statements); writes (wallet POSTs) still go to
    // [postgres]. Absent: the API reads from [postgres].
    std::optional<pg::settings> read_postgres;
};

// [payout.coins.<COIN>]: which node software holds a coin's payout wallet.
struct payout_coin_settings {
    std::string node = "core";  // "core" (Bitcoin/Litecoin Core: PSBTs) or "bcoin" (raw transactions)
    // bcoin: its wallet's JSON-RPC server (it is not the node's); the user
    // and password are the coin's node_user and node_password.
    std::string wallet_url;
};

// [payout]: bmm-payout's settings (it reads the same file as bmm-accountd:
// [postgres], [node], [coins.*] and this section).
struct payout_settings {
    std::string wallet;  // the node wallet that pays coin payouts ("" = the node's default wallet)
    // Per currency, the smallest balance (base units) a plan pays; currencies
    // not listed use default_min_amount.
    std::map<std::string, amount> min_amount;
    int confirmations = 6;                // a payout transaction is final (booked) at this depth
    std::int64_t fee_rate = 10;           // sat/vB (litoshi per virtual byte) a payout transaction pays
    std::int64_t max_fee_rate = 100;      // sat/vB: no fee bump goes above this
    std::int64_t max_tx_weight = 360000;  // weight units per payout transaction (standard: at most 400,000)
    std::map<std::string, payout_coin_settings> coins;  // coins not listed: "core"
};
// The threshold of `currency`: [payout.min_amount] <CUR>, else 1,000,000 base
// units (0.01 of an 8-decimal coin) for coins and 10^18 (1 BMM) for BMM.
amount payout_min_amount(const payout_settings& p, std::string_view currency);

// [web]: what the page at "/" tells miners beyond the database: how to
// connect (Stratum URLs per coin) and when payouts run. Display only.
struct web_stratum {
    std::string algorithm;          // "scrypt", "sha256d", ... (shown with the miner example)
    std::vector<std::string> urls;  // "stratum+tcp://pool.example.com:3333", ...
};
struct web_settings {
    std::string payout_schedule;                 // e.g. "every hour (bmm-payout.timer)"; "" = not shown
    int offline_after_minutes = 10;              // a worker without shares this long is offline
    std::map<std::string, web_stratum> stratum;  // [web.stratum.<COIN>]
};

struct accountd_config {
    std::string file;
    pg::settings postgres;
    std::string migrations_dir;  // the sql/ folder; default: the one of the source tree built from
    redis_settings redis;
    node_settings node;
    ingest_settings ingest;
    epoch_settings epochs;
    std::map<std::string, coin_settings> coins;  // "LTC" -> ...
    api_settings api;
    payout_settings payout;
    notify::webhook_settings notify;  // [notify]: webhooks on blocks, workers and payouts
    web_settings web;
    std::string log_level = "info";
};

// The rules of the configured coins and epochs, for close_epoch.
accounting_config rules_of(const accountd_config& c);
// The configured coins (only those paid by `scheme`, when given) as a
// PostgreSQL text[] literal, e.g. {BTC,LTC}, for `coin = ANY($n::text[])`.
std::string coins_array_literal(const accountd_config& c, std::optional<payout_scheme> scheme = std::nullopt);

result<accountd_config> parse_accountd_config(std::string_view text, const std::string& name);
result<accountd_config> load_accountd_config(const std::string& path);

}  // namespace bmm::accounting
