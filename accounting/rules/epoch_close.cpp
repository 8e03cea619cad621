#include "bmm/accounting/epoch_close.hpp"

#include <array>
#include <set>
#include <tuple>

namespace bmm::accounting {

namespace {

constexpr std::array<std::pair<payout_scheme, std::string_view>, 4> scheme_names{{
    {payout_scheme::pp, "pp"},
    {payout_scheme::pplns, "pplns"},
    {payout_scheme::pps, "pps"},
    {payout_scheme::solo, "solo"},
}};

std::string cat(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) s += p;
    return s;
}

bool valid_user(std::string_view u) { return !u.empty() && u.find(':') == std::string_view::npos; }

error bad(std::initializer_list<std::string_view> parts) {
    std::string m = "epoch close: ";
    m += cat(parts);
    return error{std::move(m)};
}

}  // namespace

std::string_view to_string(payout_scheme s) noexcept {
    for (const auto& [scheme, name] : scheme_names) {
        if (scheme == s) return name;
    }
    return "unknown";
}

std::optional<payout_scheme> parse_payout_scheme(std::string_view text) noexcept {
    for (const auto& [scheme, name] : scheme_names) {
        if (name == text) return scheme;
    }
    return std::nullopt;
}

result<bool> validate_config(const accounting_config& c) {
    if (c.halving_period == 0) return error{"halving_period must be at least 1 epoch"};
    if (c.persistence.min_epoch_dpp < 0) return error{"min_epoch_dpp must not be negative"};
    for (const auto& [coin, r] : c.coins) {
        if (coin.empty() || coin.find(':') != std::string::npos) {
            return error{cat({"coin name \"", coin, "\" must be non-empty without ':'"})};
        }
        if (std::uint64_t{r.fee_ppm} + r.holders_ppm > 1000000) {
            return error{cat({"coin ", coin, ": fee_ppm + holders_ppm exceed 1,000,000 (100 %)"})};
        }
        if (r.scheme == payout_scheme::pplns && r.pplns_n_ppm == 0) {
            return error{cat({"coin ", coin, ": pplns_n_ppm must be positive"})};
        }
    }
    return true;
}

result<std::map<std::string, amount>> pplns_weights(std::span<const pplns_share> shares, const amount& network_work,
                                                    std::uint64_t n_ppm) {
    if (network_work <= 0) return error{"pplns: network work must be positive"};
    amount left = network_work * n_ppm / 1000000;
    std::map<std::string, amount> weights;
    for (auto it = shares.rbegin(); it != shares.rend() && left > 0; ++it) {
        if (it->work < 0) return error{cat({"pplns: negative share work for ", it->user})};
        amount counted = it->work < left ? it->work : left;
        left -= counted;
        if (counted > 0) weights[it->user] += counted;
    }
    return weights;
}

result<amount> pps_credit(const amount& work, const amount& network_work, const amount& expected_reward,
                          const coin_rules& rules) {
    if (network_work <= 0) return error{"pps: network work must be positive"};
    if (work < 0 || expected_reward < 0) return error{"pps: negative work or expected reward"};
    auto parts = split_block_reward(expected_reward, rules.fee_ppm, rules.holders_ppm);
    if (!parts) return error{parts.error_message()};
    return amount(work * parts->miners / network_work);
}

result<epoch_close_output> close_epoch(const epoch_close_input& in) {
    const accounting_config& cfg = in.config;
    if (auto ok = validate_config(cfg); !ok) return error{"epoch close: " + ok.error_message()};
    const std::string k_text = std::to_string(in.k);
    const std::string epoch_ref = cat({"epoch:", k_text});

    // ---- validate the input before computing anything ----
    std::map<std::string, std::uint64_t> weights_ppm;
    for (const auto& [coin, r] : cfg.coins) weights_ppm.emplace(coin, r.resource_weight_ppm);
    for (const auto& [user, by_coin] : in.work) {
        if (!valid_user(user)) return bad({"user name \"", user, "\" must be non-empty without ':'"});
        for (const auto& [coin, w] : by_coin) {
            if (!cfg.coins.contains(coin)) return bad({"work on coin ", coin, " which has no rules"});
            if (w < 0) return bad({"negative work for ", user, " on ", coin});
        }
    }
    for (const auto& [user, s] : in.previous_streaks) {
        if (!valid_user(user)) return bad({"user name \"", user, "\" must be non-empty without ':'"});
    }
    for (const auto& [holder, v] : in.bmm_holdings) {
        if (!is_bmm_holder_account(holder)) {
            return bad({"\"", holder, "\" is not a BMM holder account (user:<name>:available or foundation:<x>)"});
        }
        if (v < 0) return bad({"negative BMM holding for ", holder});
    }
    std::set<std::string> hashes;
    for (const auto& b : in.blocks) {
        if (b.hash.empty() || b.hash.find(':') != std::string::npos) return bad({"block without a valid hash"});
        if (!hashes.insert(b.hash).second) return bad({"block ", b.hash, " is listed twice"});
        if (!cfg.coins.contains(b.coin)) return bad({"block ", b.hash, " is on coin ", b.coin, " which has no rules"});
        if (b.reward < 0) return bad({"block ", b.hash, " has a negative reward"});
        if (!valid_user(b.finder)) return bad({"block ", b.hash, " has no valid finder"});
        if (b.found_epoch > in.k) return bad({"block ", b.hash, " was found after the epoch being closed"});
        for (const auto& [u, v] : b.found_epoch_pp) {
            if (!valid_user(u) || v < 0) return bad({"block ", b.hash, ": bad found_epoch_pp entry for ", u});
        }
    }
    for (const auto& p : in.pps) {
        if (!valid_user(p.user)) return bad({"pps work with user name \"", p.user, "\""});
        auto it = cfg.coins.find(p.coin);
        if (it == cfg.coins.end()) return bad({"pps work on coin ", p.coin, " which has no rules"});
        if (it->second.scheme != payout_scheme::pps)
            return bad({"pps work on coin ", p.coin, " whose scheme is not pps"});
        if (p.work < 0 || p.expected_reward < 0 || p.network_work <= 0) {
            return bad({"pps work of ", p.user, " on ", p.coin, ": negative work or reward, or network work <= 0"});
        }
    }
    if (in.carried_emission < 0 || in.carried_emission > cumulative_emission(in.k, cfg.halving_period)) {
        return bad({"carried emission ", to_decimal(in.carried_emission),
                    " is outside [0, emission scheduled before epoch ", k_text, "]"});
    }

    epoch_close_output out;
    out.k = in.k;
    for (const auto& [holder, v] : in.bmm_holdings) {
        if (v > 0) {
            out.bmm_holdings.emplace(holder, v);  // a zero weight receives nothing in the split
        }
    }

    // ---- DPP, streak, e, PP ----
    for (const auto& [user, by_coin] : in.work) {
        auto d = dpp(by_coin, weights_ppm);
        if (!d) return bad({d.error_message()});
        auto prev = in.previous_streaks.find(user);
        account_epoch a;
        a.dpp = std::move(*d);
        a.streak = next_streak(prev == in.previous_streaks.end() ? 0 : prev->second, a.dpp, cfg.persistence);
        a.e_bp = e_bp(a.streak, cfg.persistence);
        a.pp = pp(a.dpp, a.e_bp);
        out.accounts.emplace(user, std::move(a));
    }
    for (const auto& [user, s] : in.previous_streaks) {
        if (s > 0 && !out.accounts.contains(user)) out.accounts.emplace(user, account_epoch{});
    }
    std::map<std::string, amount> pp_weights;
    for (const auto& [user, a] : out.accounts) {
        if (a.pp > 0) pp_weights.emplace(user, a.pp);
    }

    auto add = [&](std::string id, std::string debit, std::string credit, const std::string& currency,
                   const amount& value, transfer_kind kind, const std::string& reference) {
        if (value <= 0) return;
        out.transfers.push_back(
            transfer{std::move(id), std::move(debit), std::move(credit), currency, value, kind, reference});
    };

    // ---- 1. fees and dividends of the epoch's blocks ----
    // Split by holder name (user:<name>:available as <name>, foundation:<x> as
    // itself), so that equal remainders go to the name that sorts first, as
    // in the emission and miners' splits. The two kinds of name never collide:
    // a user name has no ':' and a foundation name always has one.
    std::map<std::string, amount> holdings_by_name;
    std::map<std::string, std::string> holder_of_name;
    for (const auto& [holder, v] : in.bmm_holdings) {
        std::string name = bmm_holder_name(holder);
        holder_of_name.emplace(name, holder);
        holdings_by_name.emplace(std::move(name), v);
    }
    std::vector<block_parts> parts;
    for (const auto& b : in.blocks) {
        const coin_rules& r = cfg.coins.at(b.coin);
        auto p = split_block_reward(b.reward, r.fee_ppm, r.holders_ppm);
        if (!p) return bad({"block ", b.hash, ": ", p.error_message()});
        parts.push_back(*p);
        const std::string ref = cat({"block:", b.hash});
        const std::string source = coinbase_account(b.coin);
        add(cat({ref, ":fee"}), source, immature_of(fees_account(b.coin)), b.coin, p->fee, transfer_kind::block_fee,
            ref);
        auto split = split_largest_remainder(p->dividend, holdings_by_name);
        if (!split) return bad({"block ", b.hash, ": ", split.error_message()});
        if (split->empty()) {
            add(cat({ref, ":undistributed:dividend"}), source, immature_of(undistributed_account(b.coin)), b.coin,
                p->dividend, transfer_kind::block_undistributed, ref);
        }
        for (const auto& [name, v] : *split) {
            const std::string& holder = holder_of_name.at(name);
            add(cat({ref, ":dividend:", holder}), source, immature_of(holder), b.coin, v, transfer_kind::block_dividend,
                ref);
        }
    }

    // ---- 2. emission by PP ----
    out.emission = epoch_emission(in.k, cfg.halving_period);
    const amount due = out.emission + in.carried_emission;
    auto emission_split = split_largest_remainder(due, pp_weights);
    if (!emission_split) return bad({emission_split.error_message()});
    if (emission_split->empty()) {
        out.emission_paid = 0;
        out.carried_emission = due;
    } else {
        out.emission_paid = due;
        out.carried_emission = 0;
        for (const auto& [user, v] : *emission_split) {
            add(cat({epoch_ref, ":emission:", user}), std::string(emission_account), user_available(user),
                std::string(bmm_currency), v, transfer_kind::emission, epoch_ref);
        }
    }

    // ---- 3. miners' parts ----
    for (std::size_t i = 0; i < in.blocks.size(); ++i) {
        const block_input& b = in.blocks[i];
        const coin_rules& r = cfg.coins.at(b.coin);
        const std::string ref = cat({"block:", b.hash});
        const std::string source = coinbase_account(b.coin);
        const amount& miners = parts[i].miners;
        std::map<std::string, amount> w;
        switch (r.scheme) {
            case payout_scheme::pp:
                w = b.found_epoch == in.k ? pp_weights : b.found_epoch_pp;
                break;
            case payout_scheme::pplns: {
                auto pw = pplns_weights(b.pplns_shares, b.network_work, r.pplns_n_ppm);
                if (!pw) return bad({"block ", b.hash, ": ", pw.error_message()});
                for (const auto& [u, v] : *pw) {
                    if (!valid_user(u)) return bad({"block ", b.hash, ": pplns share of bad user \"", u, "\""});
                }
                w = std::move(*pw);
                break;
            }
            case payout_scheme::pps:
                add(cat({ref, ":pps"}), source, immature_of(pps_account(b.coin)), b.coin, miners,
                    transfer_kind::block_miner, ref);
                continue;
            case payout_scheme::solo:
                w = {{b.finder, amount(1)}};
                break;
        }
        auto split = split_largest_remainder(miners, w);
        if (!split) return bad({"block ", b.hash, ": ", split.error_message()});
        if (split->empty()) {
            add(cat({ref, ":undistributed:miners"}), source, immature_of(undistributed_account(b.coin)), b.coin, miners,
                transfer_kind::block_undistributed, ref);
        }
        for (const auto& [user, v] : *split) {
            add(cat({ref, ":miner:", user}), source, user_immature(user), b.coin, v, transfer_kind::block_miner, ref);
        }
    }

    // ---- PPS credits: grouped by (user, coin, network_work, expected_reward) ----
    std::map<std::tuple<std::string, std::string, amount, amount>, amount> groups;
    for (const auto& p : in.pps) groups[{p.user, p.coin, p.network_work, p.expected_reward}] += p.work;
    std::map<std::pair<std::string, std::string>, amount> credits;  // (coin, user) -> credit
    for (const auto& [key, w] : groups) {
        const auto& [user, coin, network_work, expected] = key;
        auto c = pps_credit(w, network_work, expected, cfg.coins.at(coin));
        if (!c) return bad({c.error_message()});
        credits[{coin, user}] += *c;
    }
    for (const auto& [key, v] : credits) {
        const auto& [coin, user] = key;
        add(cat({epoch_ref, ":pps:", coin, ":", user}), pps_account(coin), user_available(user), coin, v,
            transfer_kind::pps_credit, epoch_ref);
    }
    return out;
}

namespace {

struct block_booking {
    std::string coin;
    std::map<std::string, amount> immature;  // immature account -> credited amount
    bool matured = false;
    bool orphaned = false;
};

result<block_booking> read_block(std::string_view hash, std::span<const transfer> booked) {
    const std::string ref = cat({"block:", hash});
    block_booking b;
    for (const auto& t : booked) {
        if (t.reference != ref) continue;
        switch (t.kind) {
            case transfer_kind::block_fee:
            case transfer_kind::block_dividend:
            case transfer_kind::block_miner:
            case transfer_kind::block_undistributed:
                if (!b.coin.empty() && b.coin != t.currency) {
                    return error{cat({"block ", hash, " has transfers in two currencies; fix the ledger by hand"})};
                }
                b.coin = t.currency;
                b.immature[t.credit] += t.value;
                break;
            case transfer_kind::block_mature:
                b.matured = true;
                break;
            case transfer_kind::block_orphan:
                b.orphaned = true;
                break;
            default:
                break;
        }
    }
    if (b.immature.empty()) return error{cat({"nothing is booked for block ", hash, ": close its epoch first"})};
    return b;
}

}  // namespace

result<std::vector<transfer>> block_maturity_transfers(std::string_view hash, std::span<const transfer> booked) {
    auto b = read_block(hash, booked);
    if (!b) return error{b.error_message()};
    if (b->orphaned) return error{cat({"block ", hash, " was orphaned; it cannot mature"})};
    std::vector<transfer> out;
    const std::string ref = cat({"block:", hash});
    for (const auto& [imm, v] : b->immature) {
        auto avail = available_of_immature(imm);
        if (!avail) return error{cat({"block ", hash, " credited ", imm, ", which is not an immature account"})};
        out.push_back(
            transfer{cat({ref, ":mature:", *avail}), imm, *avail, b->coin, v, transfer_kind::block_mature, ref});
    }
    return out;
}

result<std::vector<transfer>> block_orphan_transfers(std::string_view hash, std::span<const transfer> booked) {
    auto b = read_block(hash, booked);
    if (!b) return error{b.error_message()};
    if (b->matured) {
        return error{
            cat({"block ", hash, " has matured already; reversing it needs an operator's correcting transfers"})};
    }
    std::vector<transfer> out;
    const std::string ref = cat({"block:", hash});
    for (const auto& [imm, v] : b->immature) {
        auto avail = available_of_immature(imm);
        if (!avail) return error{cat({"block ", hash, " credited ", imm, ", which is not an immature account"})};
        out.push_back(transfer{cat({ref, ":orphan:", *avail}), imm, coinbase_account(b->coin), b->coin, v,
                               transfer_kind::block_orphan, ref});
    }
    return out;
}

}  // namespace bmm::accounting
