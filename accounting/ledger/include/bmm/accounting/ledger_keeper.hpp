#pragma once
// The ledger side of `bmm-accountd run`, on its own thread and its own
// PostgreSQL connection, next to the ingest (ingest.hpp). Each step, every
// [epochs] step_ms:
//   1. the genesis premine (genesis_transfers(), deterministic ids: booked
//      once, a no-op afterwards);
//   2. new pool blocks into the blocks table (block_tracker.hpp);
//   3. every due epoch closed, in order (due_epochs.hpp);
//   4. immature blocks of closed epochs followed on the node (maturity, orphans).
// One process runs the ledger per database: the thread holds a PostgreSQL
// advisory lock while it works, so a second bmm-accountd (another consumer of
// the same group) only ingests. A failure (PostgreSQL, Redis, the node) is
// logged, the connection dropped, and the step tried again after a back-off;
// every step is idempotent, so a crash at any point (kill -9) changes nothing
// in what is finally booked.

#include "bmm/accounting/config.hpp"
#include "bmm/accounting/world_audit.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace bmm::accounting {

struct process_counters;  // process_counters.hpp

class ledger_keeper {
public:
    // `counters` (optional, outlives the keeper): where epoch closes are counted for /metrics.
    explicit ledger_keeper(accountd_config cfg, process_counters* counters = nullptr)
        : cfg_(std::move(cfg)), counters_(counters) {}
    // Runs the steps until *stop is set. Does nothing without [epochs].
    void run(const std::atomic<bool>& stop);

private:
    accountd_config cfg_;
    process_counters* counters_;
};

// Whether every stream entry appended before `t_ms` is stored, in EVERY
// stream of [redis] streams: in each, the group's entries below t_ms have all
// been delivered (stream_state holds a stored id of that stream at or past
// t_ms, or, for an idle stream, the group has been handed the whole stream:
// last-delivered-id = last-generated-id) and none of them is pending
// (XPENDING), so each was acknowledged after the commit that stored it. Exact
// for several consumers in the group. An idle stream (its bmm-stratum quiet or
// stopped) holds nothing back: all of it is delivered. Call only once the
// clock is past t_ms. When false, `behind` (if given) names the first stream
// not stored through t_ms.
result<bool> stream_stored_through(const accountd_config& cfg, pg::connection& db, std::int64_t t_ms,
                                   std::string* behind = nullptr);

// `bmm-accountd audit`: ledger_audit() and the C++ invariants
// (ledger::check_invariants over every transfer, and the model's balances
// against the balances view), then the checks of the world outside the ledger
// (world_audit.hpp). Prints each problem; 0 when clean, 1 otherwise.
int run_audit(const accountd_config& cfg, const world_audit_options& world = {});

}  // namespace bmm::accounting
