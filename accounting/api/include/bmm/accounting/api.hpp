#pragma once
// bmm-accountd's read API: JSON over HTTP for holders and dashboards, the
// holders' web page at "/" (accounting/web/index.html) and Prometheus
// metrics at /metrics, all routes on the common HTTP server
// (bmm/http/server.hpp, libmicrohttpd).
//
//   GET /api/v1/pool                          pool statistics
//   GET /api/v1/accounts/{name}               wallets, balances, hashrate per coin
//   GET /api/v1/accounts/{name}/workers       per worker: hashrate (10 min, 1 h), counts, last share
//   GET /api/v1/accounts/{name}/epochs        DPP, streak, e_bp, PP and BMM earned per epoch
//   GET /api/v1/accounts/{name}/ledger        transfers touching the account, newest first
//   GET /api/v1/accounts/{name}/statement     ?from&to[&currency][&format=json|csv|pdf]: the
//                                             account's statement (statement.hpp); {name} may
//                                             also be a foundation allocation (foundation:ecosystem)
//   GET /api/v1/accounts/{name}/hashrate      ?window=24h|30d: hashrate per coin and bucket
//   GET /api/v1/accounts/{name}/dividends     dividends credited per block and per epoch
//   GET /api/v1/accounts/{name}/payments      the account's payout lines with their txids
//   GET /api/v1/blocks                        blocks the pool found, newest first, with
//                                             confirmations and confirmations left
//   GET /api/v1/payments                      payout lines of every account, newest first
//   GET /api/v1/pool/facts                    fee, scheme, maturity, thresholds, Stratum URLs per
//                                             coin, network height and work, the current epoch
//   GET /api/v1/pool/hashrate                 ?window=24h|30d: the pool's hashrate per coin
//   GET /static/{app.js,app.css,chart.js}     the page's files (Chart.js: Debian's libjs-chart.js)
//   GET /api/v1/accounts/{name}/wallets/history   every change of the account's wallets, newest first
//   POST /api/v1/accounts/{name}/wallets/challenge ?action=bind|unbind&currency&address[&share_ppm]:
//                                             a nonce and the text to sign (wallet_binding.hpp)
//   POST /api/v1/accounts/{name}/wallets/change    ?nonce&signature[&claim][&authorizer_currency&
//                                             authorizer_address&authorizer_signature]: the change,
//                                             proved; 400 with the reason when refused, 429 with
//                                             Retry-After past [api] wallet_requests_per_minute_*
//   GET /api/v1/epochs                        epochs, newest first
//   GET /metrics                              ingest lag, rounds, rows, duplicates, epoch
//                                             close time, blocks by state, API requests
//
// Money is never a JSON number: amounts are decimal strings of base units,
// next to the currency's "decimals" (BMM 18, coins 8). Hashrates are JSON
// integers (hashes per second, truncated). Times are ISO 8601 UTC strings.
// Errors are {"error": "..."} with 400 (bad parameter), 404 (unknown path or
// account), 405 (a method other than GET/HEAD) or 503 (database unavailable
// or too slow). Queries are read-only (default_transaction_read_only) and
// bounded by [api] statement_timeout_ms; each response reads one snapshot.
// The two wallet POSTs are the only writes, each on a connection of its own.
//
// Threads: libmicrohttpd's internal pool of [api] threads; each request takes
// a PostgreSQL connection from a small pool (one per thread at most) and
// gives it back, or drops it after a failure.

#include "bmm/accounting/config.hpp"
#include "bmm/result.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace bmm::accounting {

// Decimal places of a currency's base unit: BMM 18 (ERC-20 wei), any coin 8 (satoshis).
int currency_decimals(std::string_view currency) noexcept;

// The holders' web page (accounting/web/index.html, embedded at build time).
std::string_view api_index_html() noexcept;
// The page's other files (accounting/web/app.js, app.css), by name; empty for any other name.
std::string_view api_web_asset(std::string_view name) noexcept;

struct process_counters;  // process_counters.hpp

class api_server {
public:
    // Serves [api] of `c`; /metrics also reads [redis] (the group's pending
    // entries) and, when given, `counters` (`run`'s ingest and ledger threads;
    // they outlive the server). Without them those families are left out.
    explicit api_server(const accountd_config& c, const process_counters* counters = nullptr);
    ~api_server();
    api_server(const api_server&) = delete;
    api_server& operator=(const api_server&) = delete;

    // Binds [api] host:port and starts the worker threads. Errors (the
    // address is in use, the host does not resolve) say which setting to change.
    result<bool> start();
    // Stops accepting, finishes nothing further, and joins the threads.
    void stop();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

// `bmm-accountd api`: serves until `stop` is set; returns the exit code.
int run_api(const accountd_config& c, const std::atomic<bool>& stop);

}  // namespace bmm::accounting
