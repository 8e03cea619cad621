#include "bmm/accounting/rules.hpp"

#include "bmm/target.hpp"

#include <algorithm>
#include <vector>

namespace bmm::accounting {

amount share_work(const uint256& target) { return to_amount(work_from_target(target)); }

result<amount> dpp(const std::map<std::string, amount>& work_by_coin,
                   const std::map<std::string, std::uint64_t>& resource_weight_ppm) {
    amount total = 0;
    for (const auto& [coin, w] : work_by_coin) {
        if (w < 0) {
            std::string m = "negative work for coin ";
            m += coin;
            return error{std::move(m)};
        }
        auto it = resource_weight_ppm.find(coin);
        if (it == resource_weight_ppm.end()) {
            std::string m = "no resource_weight_ppm for coin ";
            m += coin;
            m += ": add it to the coin's configuration";
            return error{std::move(m)};
        }
        total += w * amount(it->second);
    }
    return total;
}

std::uint32_t next_streak(std::uint32_t previous_streak, const amount& epoch_dpp, const persistence_params& p) {
    if (epoch_dpp > 0 && epoch_dpp >= p.min_epoch_dpp) return previous_streak + 1;
    return 0;
}

std::uint32_t e_bp(std::uint32_t streak, const persistence_params& p) {
    if (streak == 0) return 0;
    // 10000 + step x (streak - 1), computed in 64 bits so that long streaks
    // cannot wrap before the cap applies.
    std::uint64_t e = 10000ULL + std::uint64_t{p.e_step_bp} * (std::uint64_t{streak} - 1);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(e, p.e_max_bp));
}

amount pp(const amount& epoch_dpp, std::uint32_t e_basis_points) { return epoch_dpp * amount(e_basis_points); }

result<std::map<std::string, amount>> split_largest_remainder(const amount& total,
                                                              const std::map<std::string, amount>& weights) {
    if (total < 0) return error{"split: negative amount " + to_decimal(total)};
    amount sum = 0;
    for (const auto& [name, w] : weights) {
        if (w < 0) {
            std::string m = "split: negative weight for ";
            m += name;
            return error{std::move(m)};
        }
        sum += w;
    }
    std::map<std::string, amount> out;
    if (sum == 0) return out;  // nobody to receive: the caller carries it forward

    struct rem {
        const std::string* name;
        amount remainder;
    };
    std::vector<rem> rems;
    amount given = 0;
    for (const auto& [name, w] : weights) {
        if (w == 0) continue;
        amount q, r;
        boost::multiprecision::divide_qr(amount(total * w), sum, q, r);
        given += q;
        out.emplace(name, q);
        rems.push_back({&name, std::move(r)});
    }
    // Leftover < number of receivers, since each remainder < sum.
    amount leftover = total - given;
    auto n = static_cast<std::size_t>(leftover);
    // Largest remainder first; ties to the name that sorts first bytewise.
    std::stable_sort(rems.begin(), rems.end(), [](const rem& a, const rem& b) {
        if (a.remainder != b.remainder) return a.remainder > b.remainder;
        return *a.name < *b.name;
    });
    for (std::size_t i = 0; i < n; ++i) out[*rems[i].name] += 1;
    return out;
}

result<block_parts> split_block_reward(const amount& reward, std::uint32_t fee_ppm, std::uint32_t holders_ppm) {
    if (reward < 0) return error{"block reward is negative: " + to_decimal(reward)};
    if (std::uint64_t{fee_ppm} + holders_ppm > 1000000) {
        return error{"fee_ppm + holders_ppm exceed 1,000,000 (100 %): lower one of them"};
    }
    block_parts p;
    p.fee = reward * fee_ppm / 1000000;
    p.dividend = reward * holders_ppm / 1000000;
    p.miners = reward - p.fee - p.dividend;
    return p;
}

amount bmm_base_units_per_token() { return boost::multiprecision::pow(amount(10), bmm_decimals); }
amount bmm_total_supply() { return amount(1390000000) * bmm_base_units_per_token(); }
amount bmm_mining_supply() { return amount(1251000000) * bmm_base_units_per_token(); }
amount bmm_premine_total() { return amount(139000000) * bmm_base_units_per_token(); }

std::map<std::string, amount> bmm_premine() {
    const amount unit = bmm_base_units_per_token();
    return {
        {"foundation:airdrop", amount(27800000) * unit},
        {"foundation:developers", amount(27800000) * unit},
        {"foundation:ecosystem", amount(83400000) * unit},
    };
}

amount emission_e0(std::uint64_t halving_period) {
    if (halving_period == 0) return 0;
    return bmm_mining_supply() / (amount(2) * amount(halving_period));
}

amount epoch_emission(std::uint64_t k, std::uint64_t halving_period) {
    if (halving_period == 0) return 0;
    const std::uint64_t halvings = k / halving_period;
    if (halvings >= 1024) return 0;  // E0 < 2^100: long since zero
    return emission_e0(halving_period) >> static_cast<unsigned>(halvings);
}

amount cumulative_emission(std::uint64_t k, std::uint64_t halving_period) {
    if (halving_period == 0) return 0;
    const amount e0 = emission_e0(halving_period);
    const std::uint64_t full = k / halving_period;
    amount total = 0;
    for (std::uint64_t p = 0; p < full && p < 1024; ++p) {
        total += amount(halving_period) * (e0 >> static_cast<unsigned>(p));
    }
    total += amount(k % halving_period) * epoch_emission(k, halving_period);
    return total;
}

}  // namespace bmm::accounting
