#pragma once
// The double-entry ledger: transfers, account naming, and an in-memory model
// of the ledger with the invariants of ACCOUNTING.md. The PostgreSQL ledger
// (sql/0005_ledger.sql) holds the same rows; this model is what the rules are
// tested against and what the SQL audit is compared with.
//
// Ledger account naming (balances are kept per (account, currency), so one
// account name can hold several currencies):
//   user:<name>:available       a miner's spendable balance (coins and BMM)
//   user:<name>:immature        a miner's block rewards waiting for maturity
//   foundation:airdrop          the BMM foundation allocations (premine);
//   foundation:developers       they hold BMM like users and receive
//   foundation:ecosystem        dividends like users
//   <holder>:immature           for any non-user holder or pool account X,
//                               X:immature holds X's block parts until maturity
//                               (e.g. foundation:ecosystem:immature, pool:fees:LTC:immature)
//   system:coinbase:<COIN>      source of every block reward of that coin
//   system:genesis:BMM          source of the premine
//   system:emission:BMM         source of the per-epoch mining emission
//   pool:fees:<COIN>            the pool's fees
//   pool:pps:<COIN>             the PPS reserve: receives the miners' part of pps
//                               blocks, pays every pps share's expected value
//                               (may go below zero: the pool carries the variance)
//   pool:undistributed:<COIN>   a block part nobody could receive (no PP in the
//                               found epoch, no BMM holder): kept for the operator
//   payout:in-flight            balances being paid (the payout tool's; per currency)
//   system:paid-out:<CUR>       where paid balances go: they left the pool
//   system:network-fees:<COIN>  network fees of payouts (the payout tool's)
// User names never contain ':' (bmm-stratum accepts [A-Za-z0-9_-] account names).
//
// A transfer moves `amount` (> 0) from `debit` to `credit`: the debit account's
// balance goes down and the credit account's goes up, so every currency's
// balances sum to zero. Transfers are never edited or deleted; a correction is
// a new transfer with its own id.

#include "bmm/accounting/amount.hpp"
#include "bmm/result.hpp"

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::accounting {

enum class transfer_kind {
    premine,              // genesis:premine:<account>
    emission,             // epoch:<k>:emission:<user>
    block_fee,            // block:<hash>:fee
    block_dividend,       // block:<hash>:dividend:<holder account>
    block_miner,          // block:<hash>:miner:<user>
    block_undistributed,  // block:<hash>:undistributed:<part>   (part: dividend | miners)
    block_mature,         // block:<hash>:mature:<account>     immature -> available
    block_orphan,         // block:<hash>:orphan:<account>     immature -> coinbase (reversal)
    pps_credit,           // epoch:<k>:pps:<coin>:<user>
    // Payouts (bmm-payout), reference payout:<batch>, <line> the batch line number:
    payout_reserve,  // payout:<batch>:reserve:<line>  <holder available> -> payout:in-flight
    payout_sent,     // payout:<batch>:sent:<line>     payout:in-flight -> system:paid-out:<CUR>
    payout_return,   // payout:<batch>:return:<line>   payout:in-flight -> <holder available>
    payout_fee,      // payout:<batch>:fee:<tx>        pool:fees:<COIN> -> system:network-fees:<COIN>
    bmm_deposit,     // bmm-deposit:<txid>  system:paid-out:BMM -> <holder available> (tokens sent back in)
};
std::string_view to_string(transfer_kind k) noexcept;
std::optional<transfer_kind> parse_transfer_kind(std::string_view text) noexcept;

struct transfer {
    std::string id;        // deterministic: replaying an input books nothing twice
    std::string debit;     // account whose balance goes down
    std::string credit;    // account whose balance goes up
    std::string currency;  // "LTC", "BTC", "BMM"
    amount value;          // base units, > 0
    transfer_kind kind;
    std::string reference;  // "block:<hash>", "epoch:<k>" or "genesis"

    friend bool operator==(const transfer&, const transfer&) = default;
};

// Account names.
std::string user_available(std::string_view user);  // user:<name>:available
std::string user_immature(std::string_view user);   // user:<name>:immature
// Where a block part destined for `account` waits until the block matures:
// user:<n>:available -> user:<n>:immature, any other X -> X:immature.
std::string immature_of(std::string_view account);
inline constexpr std::string_view k_payout_in_flight_account = "payout:in-flight";
std::string paid_out_account(std::string_view coin);      // system:paid-out:<CUR>
std::string network_fees_account(std::string_view coin);  // system:network-fees:<COIN>

// The ledger accounts of a holder, by the name people use for it (the API,
// the page, statements and payouts): "alice" -> user:alice:available and
// user:alice:immature; "foundation:ecosystem" -> foundation:ecosystem and
// foundation:ecosystem:immature. Errors for any other name.
struct holder_accounts {
    std::string available, immature;
};
result<holder_accounts> holder_ledger_accounts(std::string_view name);

// The inverse of immature_of; nothing for a name that is not an immature account.
std::optional<std::string> available_of_immature(std::string_view immature_account);
std::string coinbase_account(std::string_view coin);       // system:coinbase:<COIN>
std::string fees_account(std::string_view coin);           // pool:fees:<COIN>
std::string pps_account(std::string_view coin);            // pool:pps:<COIN>
std::string undistributed_account(std::string_view coin);  // pool:undistributed:<COIN>
inline constexpr std::string_view genesis_account = "system:genesis:BMM";
inline constexpr std::string_view emission_account = "system:emission:BMM";
inline constexpr std::string_view bmm_currency = "BMM";

// Accounts that must never go below zero: user:*, foundation:*, pool:fees:*, payout:* and
// system:paid-out:* (deposits never bring back more than payouts sent out)
// (pool:pps:* may: the pool carries PPS variance; system:* are sources).
bool must_stay_non_negative(std::string_view account);
// Accounts whose positive available BMM balance earns dividends: user:<n>:available
// and the foundation:* allocations (not :immature, not system, pool or payout accounts).
bool is_bmm_holder_account(std::string_view account);
// A holder account's name, the key equal split remainders are ordered by:
// user:<n>:available -> <n>, foundation:<x> -> foundation:<x> (as is).
std::string bmm_holder_name(std::string_view holder_account);

// The genesis premine as transfers from system:genesis:BMM (ids genesis:premine:<account>).
std::vector<transfer> genesis_transfers();

// An in-memory ledger: the reference the rules are tested against.
class ledger {
public:
    // Books a transfer. Returns true when booked, false when a transfer with
    // the same id and the same content is already booked (a replay). Errors,
    // changing nothing, when the id is booked with different content, the
    // amount is not positive, debit equals credit, or a field is empty.
    result<bool> apply(const transfer& t);
    // Books a list in one step: either all new ones are booked or, if any is
    // invalid, none is. Returns how many were new.
    result<std::size_t> apply_all(std::span<const transfer> ts);

    amount balance(std::string_view account, std::string_view currency) const;
    // (account, currency) -> balance, zero balances included when ever touched.
    const std::map<std::pair<std::string, std::string>, amount>& balances() const noexcept { return balances_; }
    // Positive available BMM balances of holder accounts (is_bmm_holder_account):
    // the dividend weights at an epoch's close.
    std::map<std::string, amount> bmm_holdings() const;
    // BMM issued so far: what left system:genesis:BMM and system:emission:BMM.
    amount bmm_issued() const;
    // Every transfer booked, in booking order.
    const std::vector<transfer>& transfers() const noexcept { return log_; }
    const transfer* find(std::string_view id) const;

    // The invariants of ACCOUNTING.md, one readable line per problem (empty
    // when all hold): per currency balances sum to zero; no must_stay_non_negative
    // account below zero; BMM issued <= 1,390,000,000 x 10^18, premine <= 10 %,
    // emission <= 90 %.
    std::vector<std::string> check_invariants() const;

private:
    std::map<std::string, std::size_t, std::less<>> by_id_;
    std::vector<transfer> log_;
    std::map<std::pair<std::string, std::string>, amount> balances_;
};

// Checks one transfer's own fields (positive amount, distinct accounts, ids set).
result<bool> validate_transfer(const transfer& t);

}  // namespace bmm::accounting
