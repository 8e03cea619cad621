#include "bmm/accounting/ledger_model.hpp"

#include "bmm/accounting/rules.hpp"

#include <array>

namespace bmm::accounting {

namespace {

constexpr std::array<std::pair<transfer_kind, std::string_view>, 14> k_kind_names{{
    {transfer_kind::premine, "premine"},
    {transfer_kind::emission, "emission"},
    {transfer_kind::block_fee, "block_fee"},
    {transfer_kind::block_dividend, "block_dividend"},
    {transfer_kind::block_miner, "block_miner"},
    {transfer_kind::block_undistributed, "block_undistributed"},
    {transfer_kind::block_mature, "block_mature"},
    {transfer_kind::block_orphan, "block_orphan"},
    {transfer_kind::pps_credit, "pps_credit"},
    {transfer_kind::payout_reserve, "payout_reserve"},
    {transfer_kind::payout_sent, "payout_sent"},
    {transfer_kind::payout_return, "payout_return"},
    {transfer_kind::payout_fee, "payout_fee"},
    {transfer_kind::bmm_deposit, "bmm_deposit"},
}};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string join(std::string_view a, std::string_view b, std::string_view c = {}) {
    std::string s;
    s.reserve(a.size() + b.size() + c.size());
    s += a;
    s += b;
    s += c;
    return s;
}

}  // namespace

std::string_view to_string(transfer_kind k) noexcept {
    for (const auto& [kind, name] : k_kind_names) {
        if (kind == k) {
            return name;
        }
    }
    return "unknown";
}

std::optional<transfer_kind> parse_transfer_kind(std::string_view text) noexcept {
    for (const auto& [kind, name] : k_kind_names) {
        if (name == text) {
            return kind;
        }
    }
    return std::nullopt;
}

std::string user_available(std::string_view user) { return join("user:", user, ":available"); }
std::string user_immature(std::string_view user) { return join("user:", user, ":immature"); }

std::string paid_out_account(std::string_view coin) { return join("system:paid-out:", coin); }
std::string network_fees_account(std::string_view coin) { return join("system:network-fees:", coin); }

result<holder_accounts> holder_ledger_accounts(std::string_view name) {
    if (starts_with(name, "foundation:")) {
        const std::string_view part = name.substr(11);
        if (part.empty() || part.find(':') != std::string_view::npos) {
            return error{"\"" + std::string(name) + "\" is not a foundation account (foundation:<name>, one ':')"};
        }
        return holder_accounts{std::string(name), join(name, ":immature")};
    }
    if (name.empty() || name.find(':') != std::string_view::npos) {
        return error{"\"" + std::string(name) +
                     "\" is not a holder account: an account name (alice) or a foundation allocation "
                     "(foundation:ecosystem)"};
    }
    return holder_accounts{user_available(name), user_immature(name)};
}

std::string immature_of(std::string_view account) {
    if (starts_with(account, "user:") && ends_with(account, ":available")) {
        std::string_view name = account.substr(5, account.size() - 5 - 10);
        return user_immature(name);
    }
    return join(account, ":immature");
}

std::optional<std::string> available_of_immature(std::string_view immature_account) {
    if (!ends_with(immature_account, ":immature")) {
        return std::nullopt;
    }
    std::string_view base = immature_account.substr(0, immature_account.size() - 9);
    if (base.empty()) {
        return std::nullopt;
    }
    if (starts_with(base, "user:") && base.find(':', 5) == std::string_view::npos) {
        return join(base, ":available");
    }
    return std::string(base);
}

std::string coinbase_account(std::string_view coin) { return join("system:coinbase:", coin); }
std::string fees_account(std::string_view coin) { return join("pool:fees:", coin); }
std::string pps_account(std::string_view coin) { return join("pool:pps:", coin); }
std::string undistributed_account(std::string_view coin) { return join("pool:undistributed:", coin); }

bool must_stay_non_negative(std::string_view account) {
    return starts_with(account, "user:") || starts_with(account, "foundation:") || starts_with(account, "pool:fees:") ||
           starts_with(account, "payout:") || starts_with(account, "system:paid-out:");
}

bool is_bmm_holder_account(std::string_view account) {
    if (starts_with(account, "user:")) {
        return ends_with(account, ":available") && account.size() > 5 + 10 &&
               account.substr(5, account.size() - 15).find(':') == std::string_view::npos;
    }
    if (starts_with(account, "foundation:")) {
        return account.size() > 11 && account.find(':', 11) == std::string_view::npos;
    }
    return false;
}

std::string bmm_holder_name(std::string_view holder_account) {
    if (starts_with(holder_account, "user:") && ends_with(holder_account, ":available")) {
        return std::string(holder_account.substr(5, holder_account.size() - 15));
    }
    return std::string(holder_account);
}

std::vector<transfer> genesis_transfers() {
    std::vector<transfer> out;
    for (const auto& [account, value] : bmm_premine()) {
        out.push_back(transfer{join("genesis:premine:", account), std::string(genesis_account), account,
                               std::string(bmm_currency), value, transfer_kind::premine, "genesis"});
    }
    return out;
}

result<bool> validate_transfer(const transfer& t) {
    std::string where = "transfer \"";
    where += t.id;
    where += "\": ";
    if (t.id.empty()) {
        return error{"transfer without an id"};
    }
    if (t.debit.empty() || t.credit.empty()) {
        return error{where + "debit and credit accounts must be set"};
    }
    if (t.debit == t.credit) {
        return error{where + "debit and credit are the same account " + t.debit};
    }
    if (t.currency.empty()) {
        return error{where + "no currency"};
    }
    if (t.value <= 0) {
        return error{where + "amount must be positive, got " + to_decimal(t.value)};
    }
    return true;
}

result<bool> ledger::apply(const transfer& t) {
    auto ok = validate_transfer(t);
    if (!ok) {
        return ok;
    }
    if (auto it = by_id_.find(t.id); it != by_id_.end()) {
        if (log_[it->second] == t) {
            return false;  // a replay: nothing new
        }
        std::string m = "transfer id ";
        m += t.id;
        m += " is already booked with different content; corrections need a new id";
        return error{std::move(m)};
    }
    by_id_.emplace(t.id, log_.size());
    log_.push_back(t);
    balances_[{t.debit, t.currency}] -= t.value;
    balances_[{t.credit, t.currency}] += t.value;
    return true;
}

result<std::size_t> ledger::apply_all(std::span<const transfer> ts) {
    // Validate everything first so that a bad list books nothing.
    std::map<std::string, const transfer*, std::less<>> seen;
    for (const auto& t : ts) {
        auto ok = validate_transfer(t);
        if (!ok) {
            return error{ok.error_message()};
        }
        const transfer* prior = find(t.id);
        if (!prior) {
            auto it = seen.find(t.id);
            prior = it == seen.end() ? nullptr : it->second;
        }
        if (prior && !(*prior == t)) {
            std::string m = "transfer id ";
            m += t.id;
            m += " appears with different content; nothing booked";
            return error{std::move(m)};
        }
        seen.emplace(t.id, &t);
    }
    std::size_t booked = 0;
    for (const auto& t : ts) {
        auto r = apply(t);
        if (r.ok() && r.value()) {
            ++booked;
        }
    }
    return booked;
}

amount ledger::balance(std::string_view account, std::string_view currency) const {
    auto it = balances_.find({std::string(account), std::string(currency)});
    return it == balances_.end() ? amount(0) : it->second;
}

std::map<std::string, amount> ledger::bmm_holdings() const {
    std::map<std::string, amount> out;
    for (const auto& [key, value] : balances_) {
        if (key.second == bmm_currency && value > 0 && is_bmm_holder_account(key.first)) {
            out.emplace(key.first, value);
        }
    }
    return out;
}

amount ledger::bmm_issued() const {
    return -(balance(genesis_account, bmm_currency) + balance(emission_account, bmm_currency));
}

const transfer* ledger::find(std::string_view id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &log_[it->second];
}

std::vector<std::string> ledger::check_invariants() const {
    std::vector<std::string> problems;
    std::map<std::string, amount> sums;
    for (const auto& [key, value] : balances_) {
        sums[key.second] += value;
        if (value < 0 && must_stay_non_negative(key.first)) {
            problems.push_back("account " + key.first + " holds " + to_decimal(value) + " " + key.second +
                               ", below zero");
        }
    }
    for (const auto& [currency, sum] : sums) {
        if (sum != 0) {
            problems.push_back("balances in " + currency + " sum to " + to_decimal(sum) +
                               ", not zero: a transfer was booked on one side only");
        }
    }
    const amount genesis = -balance(genesis_account, bmm_currency);
    const amount emitted = -balance(emission_account, bmm_currency);
    if (genesis < 0 || genesis > bmm_premine_total()) {
        problems.push_back("premine issued " + to_decimal(genesis) + " BMM base units, outside [0, " +
                           to_decimal(bmm_premine_total()) + "]");
    }
    if (emitted < 0 || emitted > bmm_mining_supply()) {
        problems.push_back("emission issued " + to_decimal(emitted) + " BMM base units, outside [0, " +
                           to_decimal(bmm_mining_supply()) + "]");
    }
    if (genesis + emitted > bmm_total_supply()) {
        problems.push_back("BMM issued " + to_decimal(genesis + emitted) + " base units, above the supply " +
                           to_decimal(bmm_total_supply()));
    }
    return problems;
}

}  // namespace bmm::accounting
