#pragma once
// bmm-accountd's /metrics families for the alert rules (deploy/monitoring/):
// the ledger audit, payout batches that wait, and when the next epoch is due
// to close. Written after the page's snapshot, on the same connection.

#include "bmm/accounting/config.hpp"
#include "bmm/http/prometheus.hpp"
#include "bmm/pg/connection.hpp"

namespace bmm::accounting {

// How often a scrape may run ledger_audit() (it reads every transfer); the
// scrapes in between repeat the last result with its time.
inline constexpr double k_audit_interval_seconds = 300;

// Adds bmm_accountd_audit_problems, bmm_accountd_audit_last_run_timestamp_seconds,
// bmm_accountd_payout_batches_open{currency,state},
// bmm_accountd_payout_oldest_open_seconds{currency,state} and (with [epochs])
// bmm_accountd_epoch_close_due_timestamp_seconds. Returns false, having
// written nothing, when PostgreSQL did not answer (logged).
bool write_ops_metrics(prometheus::text_writer& w, pg::connection& db, const accountd_config& cfg);

}  // namespace bmm::accounting
