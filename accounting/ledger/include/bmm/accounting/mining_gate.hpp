#pragma once
// "Buy BMM first, then mine" (docs/accounting.md, min_bmm_to_mine), the
// bmm-accountd side: who may mine each coin, published to Redis for
// bmm-stratum to read without PostgreSQL on the share path
// (stratum/include/bmm/stratum/mining_gate.hpp reads it). Per [coins.X]:
//   bmm:mining-gate:X:min  X's min_bmm_to_mine in base units ("0": no gate)
//   bmm:mining-gate:X      the set of user accounts whose available BMM reaches it
// written in one MULTI/EXEC, so a reader sees the old list or the new one.
// The ledger keeper publishes after every epoch close and at least every
// minute (deposits and payouts change holdings too); `bmm deposit` publishes
// at once.

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <map>
#include <string>
#include <vector>

namespace bmm::accounting {

// The user accounts (names without "user:" and ":available") whose available
// BMM in `holdings` (ledger_store::load_bmm_holdings) is at least `min`, sorted.
std::vector<std::string> accounts_allowed_to_mine(const std::map<std::string, amount>& holdings, const amount& min);

// Reads the holdings and publishes every configured coin's gate. The count of
// coins published; an error names Redis or PostgreSQL and what failed.
result<std::size_t> publish_mining_gate(const accountd_config& cfg, pg::connection& db);

}  // namespace bmm::accounting
