#pragma once
// Helpers execute.cpp and reconcile.cpp share (private to bmm_payout).

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/json/writer.hpp"
#include "bmm/payout/batch_store.hpp"
#include "bmm/payout/wallet_tx.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::payout::detail {

// One progress line on stdout, flushed (a killed run leaves what it did).
void say(const std::string& line);
result<std::int64_t> to_i64(const amount& a, std::string_view what);
// pool:fees:<CUR> less the fees of stored and broadcast attempts (not yet booked).
result<std::int64_t> fee_budget(pg::connection& db, std::string_view currency);
bool live(const batch_attempt& a);
std::vector<const batch_attempt*> attempts_of(const batch& b, int tx);
const batch_attempt* current_attempt(const batch& b, int tx);
// Locks the inputs of every live attempt of the currency again (locks do not
// survive a node restart), and unlocks every other locked coin of the wallet:
// a build that was never stored (a run killed between the wallet's
// walletcreatefundedpsbt and the store) left it locked, and no signed
// transaction of it exists anywhere. Callers hold the currency's payout lock;
// the wallet is bmm-payout's alone (an operator's own locks are released).
result<bool> sync_locks(pg::connection& db, node_wallet& w, std::string_view currency);
result<tx_request> request_for(pg::connection& db, const batch& b, int tx, const accounting::payout_settings& ps);
std::string outputs_json(const signed_tx& t);
result<int> store(pg::connection& db, std::int64_t id, int tx, const signed_tx& t);

}  // namespace bmm::payout::detail
