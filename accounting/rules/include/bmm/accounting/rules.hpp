#pragma once
// The money rules of docs/accounting.md as pure functions on exact
// integers: work, DPP, streak, e, PP, the largest-remainder split, the block
// reward split and the BMM token schedule. Nothing here reads a clock, a file
// or a database, so two runs on the same input agree to the base unit.

#include "bmm/accounting/amount.hpp"
#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace bmm::accounting {

// ---- work, DPP, streak, e, PP ----------------------------------------------

// Work of one accepted share at target T: floor(2^256 / (T + 1)), exactly as
// bmm::work_from_target computes it (a zero target saturates at 2^256 - 1).
amount share_work(const uint256& target);

// DPP of one account for one epoch: sum over coins of (the account's accepted
// work on that coin) x (the coin's resource_weight_ppm). `work_by_coin` maps
// coin -> summed work; `resource_weight_ppm` maps coin -> weight (1,000,000 = 1.0).
// Errors when a coin with work has no weight, or a work is negative.
result<amount> dpp(const std::map<std::string, amount>& work_by_coin,
                   const std::map<std::string, std::uint64_t>& resource_weight_ppm);

struct persistence_params {
    std::uint32_t e_step_bp = 100;   // +1 % per consecutive epoch
    std::uint32_t e_max_bp = 15000;  // at most 1.5
    amount min_epoch_dpp = 1;        // DPP an epoch needs to count (default: any accepted share)
};

// The streak after an epoch with this DPP: previous + 1 when DPP > 0 and
// DPP >= min_epoch_dpp, otherwise 0 (a missed epoch resets it).
std::uint32_t next_streak(std::uint32_t previous_streak, const amount& epoch_dpp, const persistence_params& p);

// e in basis points: 0 when streak is 0, else min(e_max_bp, 10000 + e_step_bp x (streak - 1)).
std::uint32_t e_bp(std::uint32_t streak, const persistence_params& p);

// PP = DPP x e_bp (kept in DPP-basis-point units: nothing is divided before a split).
amount pp(const amount& epoch_dpp, std::uint32_t e_basis_points);

// ---- splits ----------------------------------------------------------------

// Largest-remainder split of `total` (>= 0) over `weights` (each >= 0), keyed
// by account name. Each gets floor(total x W_i / sum W); the units left over go
// one each to the largest remainders (total x W_i) mod sum W, ties to the name
// that sorts first bytewise (unsigned char order, as std::string compares).
// The result holds every account with a positive weight (parts may be 0) and
// its parts add up to `total` exactly. When the weights sum to 0 (or the map is
// empty) the result is empty: nobody receives anything and the caller carries
// the amount forward. Errors for a negative total or weight.
result<std::map<std::string, amount>> split_largest_remainder(const amount& total,
                                                              const std::map<std::string, amount>& weights);

// A block reward R: fee = floor(R x fee_ppm / 10^6), dividend =
// floor(R x holders_ppm / 10^6), miners = R - fee - dividend.
struct block_parts {
    amount fee;
    amount dividend;
    amount miners;
};
// Errors for R < 0 or fee_ppm + holders_ppm > 1,000,000.
result<block_parts> split_block_reward(const amount& reward, std::uint32_t fee_ppm, std::uint32_t holders_ppm);

// ---- BMM token schedule ----------------------------------------------------

inline constexpr std::uint32_t bmm_decimals = 18;
amount bmm_base_units_per_token();  // 10^18
amount bmm_total_supply();          // 1,390,000,000 x 10^18
amount bmm_mining_supply();         // 1,251,000,000 x 10^18 (90 %)
amount bmm_premine_total();         // 139,000,000 x 10^18 (10 %)
// The genesis premine: foundation:airdrop 27.8M, foundation:developers 27.8M,
// foundation:ecosystem 83.4M (x 10^18), keyed by ledger account.
std::map<std::string, amount> bmm_premine();

inline constexpr std::uint64_t default_halving_period = 1461;

// E0 = floor(1,251,000,000 x 10^18 / (2H)). Requires H >= 1.
amount emission_e0(std::uint64_t halving_period);
// E(k) = floor(E0 / 2^floor(k / H)) for epoch k = 0, 1, 2, ... since genesis.
amount epoch_emission(std::uint64_t k, std::uint64_t halving_period);
// Sum of E(j) for j < k in closed form (per halving period p: H x floor(E0 / 2^p)).
// Always below bmm_mining_supply(): H x sum_p floor(E0 / 2^p) < 2H x E0 <= supply.
amount cumulative_emission(std::uint64_t k, std::uint64_t halving_period);

}  // namespace bmm::accounting
