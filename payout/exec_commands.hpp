#pragma once
// bmm-payout's coin subcommands (execute, reconcile, bump, wallet-check),
// each returning the process's exit code: 0 done (or waiting normally), 1 an
// error (one line on stderr, nothing changed by the failing step), 3 some
// transaction's state is unknown (the node did not answer): run again.
// Each holds the currency's payout lock for its whole run.

#include "bmm/accounting/config.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace bmm::payout {

struct execute_command {
    std::int64_t id = 0;
    std::string passphrase_file;  // empty: the wallet must not be locked
};
int run_execute(const accounting::accountd_config& cfg, const execute_command& c);

// No batch: every coin batch with stored transactions, per configured coin.
int run_reconcile(const accounting::accountd_config& cfg, std::optional<std::int64_t> id);

struct bump_command {
    std::int64_t id = 0;
    std::int64_t fee_rate = 0;  // sat/vB
    std::string passphrase_file;
};
int run_bump(const accounting::accountd_config& cfg, const bump_command& c);

// Exit 1 when the wallet holds less than the ledger owes.
int run_wallet_check(const accounting::accountd_config& cfg, const std::string& coin);

}  // namespace bmm::payout
