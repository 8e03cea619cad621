#pragma once
// Closing an epoch, as a pure function: the epoch's accepted work, the
// previous streaks, the BMM holdings and the blocks booked in the epoch go in;
// the new streaks, DPP/e/PP per account and the ledger transfers come out.
// Transfer ids are deterministic, so closing the same epoch again (same input)
// yields the same transfers and booking them again books nothing.
//
// Order at the close (ACCOUNTING.md):
//   1. each block's fee, and its dividend split by the BMM holdings given
//      (available BMM before this close's emission);
//   2. the emission E(k) plus what earlier epochs carried, split by PP;
//   3. each block's miners' part by the coin's scheme; then the PPS credits.
// Block parts go to the receiver's immature account (ledger.hpp); they move to
// the available account when the block matures (block_maturity_transfers) or
// back to the coinbase source when it is orphaned (block_orphan_transfers).
// Emission and PPS credits are available at once.
//
// The payout schemes, exactly:
//   pp     weights = PP of the epoch the block was found in.
//   pplns  window = floor(n_ppm x network_work / 10^6), network_work =
//          work(network target of the block) = floor(2^256 / (T_net + 1)). Walk
//          the coin's accepted shares from the block-finding share (inclusive)
//          back in time; each share counts min(its work, what is left of the
//          window); the share that crosses the window's start counts only the
//          part inside. weights = counted work per user. Fewer shares than the
//          window: all of them count.
//   pps    the block's miners' part goes to pool:pps:<COIN>. Every accepted
//          share earns its expected value w x M / network_work, where M =
//          miners' part of the expected reward (the template's coinbase value
//          after fee and dividend, split_block_reward). Exact integer form: the
//          epoch's shares are grouped by (user, coin, network_work,
//          expected_reward); each group earns floor(sum w x M / network_work);
//          the fraction below one base unit of each group is never credited
//          (it stays in pool:pps:<COIN>, so nothing is created). A user's
//          groups of one coin are booked as one transfer from pool:pps:<COIN>.
//   solo   all of the miners' part to the finder.
// A part whose weights sum to zero (no PP, no holder) goes to
// pool:undistributed:<COIN> so that every block's reward is booked whole.

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::accounting {

enum class payout_scheme { pp, pplns, pps, solo };
std::string_view to_string(payout_scheme s) noexcept;
std::optional<payout_scheme> parse_payout_scheme(std::string_view text) noexcept;

struct coin_rules {
    std::uint32_t fee_ppm = 10000;       // 1 % pool fee
    std::uint32_t holders_ppm = 200000;  // 20 % to BMM holders
    payout_scheme scheme = payout_scheme::pp;
    std::uint64_t resource_weight_ppm = 1000000;
    std::uint64_t pplns_n_ppm = 2000000;  // N = 2 network difficulties of work
};

struct accounting_config {
    std::map<std::string, coin_rules> coins;  // "LTC", "BTC", ...
    persistence_params persistence;
    std::uint64_t halving_period = default_halving_period;
};
// Errors naming the first bad setting (fee_ppm + holders_ppm > 10^6, H = 0, ...).
result<bool> validate_config(const accounting_config& c);

struct pplns_share {
    std::string user;
    amount work;  // share_work(target) of one accepted share
};

// PPLNS weights (see above). `shares` are the coin's accepted shares oldest
// first, ending with the block-finding share.
result<std::map<std::string, amount>> pplns_weights(std::span<const pplns_share> shares, const amount& network_work,
                                                    std::uint64_t n_ppm);

struct pps_work {
    std::string user;
    std::string coin;
    amount work;             // sum of w of the shares in this record
    amount network_work;     // work(network target) when the shares were accepted
    amount expected_reward;  // the template's coinbase value then
};

// floor(work x miners_part(expected_reward) / network_work). Errors for
// network_work <= 0 or negative inputs.
result<amount> pps_credit(const amount& work, const amount& network_work, const amount& expected_reward,
                          const coin_rules& rules);

struct block_input {
    std::string hash;  // block hash (hex), unique
    std::string coin;
    std::uint64_t height = 0;
    amount reward;       // coinbase value R
    std::string finder;  // user whose share found it
    std::uint64_t found_epoch = 0;
    // pp: PP per user of found_epoch when it is not the epoch being closed
    // (for found_epoch == k the close uses the PP it computes).
    std::map<std::string, amount> found_epoch_pp;
    // pplns: the coin's accepted shares, oldest first, ending with the finding share.
    std::vector<pplns_share> pplns_shares;
    amount network_work;  // pplns: work(network target of the block)
    // Resolved by the operator with a finder (a parked block, sql/0024): the
    // miners' part goes to `finder` alone, whatever the coin's scheme.
    bool split_to_finder = false;
};

struct epoch_close_input {
    std::uint64_t k = 0;
    accounting_config config;
    std::map<std::string, std::map<std::string, amount>> work;  // user -> coin -> accepted work
    std::map<std::string, std::uint32_t> previous_streaks;      // user -> streak after epoch k-1
    // Holder account (is_bmm_holder_account) -> available BMM before this
    // close's transfers (ledger::bmm_holdings() taken before booking them).
    std::map<std::string, amount> bmm_holdings;
    std::vector<block_input> blocks;  // blocks booked in this epoch (not orphaned)
    std::vector<pps_work> pps;        // accepted work on pps coins in this epoch
    amount carried_emission;          // emission carried into epoch k (0 when none)
};

struct account_epoch {
    amount dpp;
    std::uint32_t streak = 0;
    std::uint32_t e_bp = 0;
    amount pp;
    friend bool operator==(const account_epoch&, const account_epoch&) = default;
};

struct epoch_close_output {
    std::uint64_t k = 0;
    // Every user with work this epoch or a positive previous streak.
    std::map<std::string, account_epoch> accounts;
    amount emission;                  // E(k)
    amount emission_paid;             // E(k) + carried in, or 0 when no PP
    amount carried_emission;          // carried into epoch k + 1
    std::vector<transfer> transfers;  // in booking order (steps 1, 2, 3)
    // The dividend weights of this close: the positive holdings of the input
    // (epoch_close_input::bmm_holdings), booked with the close as the epoch's
    // snapshot (sql/0018) so that statements can show each dividend's weight.
    std::map<std::string, amount> bmm_holdings;
};

// Errors (booking nothing) for invalid config or input: a user name that is
// empty or has ':', a coin without rules, a negative amount, a duplicate
// block hash, found_epoch > k, carried emission above what was scheduled
// before epoch k.
result<epoch_close_output> close_epoch(const epoch_close_input& in);

// The transfers that release a matured block: one per immature account the
// block credited, X:immature -> X, id block:<hash>:mature:<X>. `booked` are
// the ledger's transfers with reference "block:<hash>" (others are ignored).
// Errors when the block was orphaned or nothing was booked for it.
result<std::vector<transfer>> block_maturity_transfers(std::string_view hash, std::span<const transfer> booked);
// The reversal of an orphaned block: X:immature -> system:coinbase:<COIN> or,
// when the block had matured already (a late orphan), X -> system:coinbase:<COIN>
// (X's balance may go below zero: a debt later credits repay first), id
// block:<hash>:orphan:<X> for the first reversal and block:<hash>:orphan:<n>:<X>
// for the n-th (a block may return and be orphaned again). Asked again while
// the block is orphaned: the same transfers. Errors when nothing was booked.
result<std::vector<transfer>> block_orphan_transfers(std::string_view hash, std::span<const transfer> booked);
// The return of an orphaned block to the main chain: its latest reversal
// reversed (system:coinbase:<COIN> -> what it debited), ids
// block:<hash>:return:<n>:<X>; status "immature", or "mature" when it had
// matured. Asked again after the return: the same transfers. Errors when the
// block was never orphaned or nothing was booked for it.
struct block_return {
    std::vector<transfer> transfers;
    std::string status;
};
result<block_return> block_return_transfers(std::string_view hash, std::span<const transfer> booked);

}  // namespace bmm::accounting
