// bmm-accountd's metrics for the alert rules (see ops_metrics.hpp).

#include "bmm/accounting/ops_metrics.hpp"

#include "bmm/log.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace bmm::accounting {

namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The last ledger_audit() result, shared by every scrape of the process.
struct audit_cache {
    std::mutex m;
    double at = 0;  // Unix seconds; 0: never ran
    std::uint64_t problems = 0;
};

audit_cache& cache() {
    static audit_cache c;
    return c;
}

}  // namespace

bool write_ops_metrics(prometheus::text_writer& w, pg::connection& db, const accountd_config& cfg) {
    const double now = now_seconds();
    double audit_at = 0;
    std::uint64_t problems = 0;
    {
        auto& c = cache();
        const std::lock_guard lock(c.m);
        if (c.at == 0 || now - c.at >= k_audit_interval_seconds) {
            auto r = db.exec("SELECT count(*) FROM ledger_audit()");
            if (!r) {
                log::warn("api", "/metrics: ledger_audit(): {}", r.error_message());
                return false;
            }
            c.problems = std::stoull(r->text(0, 0));
            c.at = now;
        }
        audit_at = c.at;
        problems = c.problems;
    }
    // Batches not finished: planned and approved wait for a person, broadcast
    // for confirmations (bmm-payout reconcile), exported for settle. The age
    // counts from the state's own time where the table keeps one.
    auto open = db.exec(
        "SELECT currency, state, count(*),"
        " extract(epoch FROM now() - min(CASE state WHEN 'planned' THEN planned_at WHEN 'exported' THEN exported_at"
        " ELSE coalesce(approved_at, planned_at) END))"
        " FROM payout_batches WHERE state IN ('planned', 'approved', 'broadcast', 'exported')"
        " GROUP BY currency, state ORDER BY currency, state");
    if (!open) {
        log::warn("api", "/metrics: payout_batches: {}", open.error_message());
        return false;
    }
    std::optional<double> due;
    if (cfg.epochs.enabled) {
        auto ep = db.exec("SELECT coalesce(max(k), -1) FROM epochs WHERE closed_at IS NOT NULL");
        if (!ep) {
            log::warn("api", "/metrics: epochs: {}", ep.error_message());
            return false;
        }
        const auto next = static_cast<std::int64_t>(std::stoll(ep->text(0, 0)) + 1);
        // Closable once its end plus the grace has passed (due_epochs.hpp).
        due = static_cast<double>(cfg.epochs.genesis + (next + 1) * cfg.epochs.length_seconds) +
              static_cast<double>(cfg.epochs.close_grace_ms) / 1000;
    }

    w.family("bmm_accountd_audit_problems", "gauge",
             "Lines ledger_audit() returned at its last run (0: the ledger's invariants hold).");
    w.sample("bmm_accountd_audit_problems", {}, problems);
    w.family("bmm_accountd_audit_last_run_timestamp_seconds", "gauge",
             "When this process last ran ledger_audit() (at most every 300 s, on a scrape).");
    w.sample("bmm_accountd_audit_last_run_timestamp_seconds", {}, audit_at);
    w.family("bmm_accountd_payout_batches_open", "gauge",
             "Payout batches not finished, by currency and state (planned, approved, broadcast, exported).");
    for (int i = 0; i < open->rows(); ++i) {
        w.sample("bmm_accountd_payout_batches_open", {{"currency", open->text(i, 0)}, {"state", open->text(i, 1)}},
                 std::stod(open->text(i, 2)));
    }
    w.family("bmm_accountd_payout_oldest_open_seconds", "gauge",
             "Age of the oldest unfinished payout batch by currency and state (since planned, approved or exported).");
    for (int i = 0; i < open->rows(); ++i) {
        w.sample("bmm_accountd_payout_oldest_open_seconds",
                 {{"currency", open->text(i, 0)}, {"state", open->text(i, 1)}}, std::stod(open->text(i, 3)));
    }
    if (due) {
        w.family("bmm_accountd_epoch_close_due_timestamp_seconds", "gauge",
                 "When the first epoch not yet closed may close: its end plus [epochs] close_grace (Unix seconds).");
        w.sample("bmm_accountd_epoch_close_due_timestamp_seconds", {}, *due);
    }
    return true;
}

}  // namespace bmm::accounting
