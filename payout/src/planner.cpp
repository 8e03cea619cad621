// Planning a batch (planner.hpp): holders over the threshold, their wallets,
// the split, the address checks; then one create_batch.
#include "bmm/payout/planner.hpp"

#include "payout_sql.hpp"

#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/crypto/keccak.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/pg/text.hpp"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <set>

namespace bmm::payout {
namespace {

using accounting::to_decimal;

struct holder {
    std::string name;
    amount balance;
    std::vector<std::pair<std::string, std::int64_t>> wallets;  // (address, share_ppm), by address
};

// Holders (rows of accounts) whose available balance in the currency reaches `min`, by name.
result<std::vector<holder>> holders_over(pg::connection& db, std::string_view currency, const amount& min) {
    auto r = sql::run(db, "reading the holders' balances",
                      "SELECT a.name, b.balance::text FROM accounts a JOIN balances b "
                      "ON b.account = CASE WHEN a.name LIKE 'foundation:%' THEN a.name "
                      "ELSE 'user:' || a.name || ':available' END "
                      "WHERE b.currency = $1 AND b.balance >= $2 AND b.balance > 0 ORDER BY a.name",
                      {std::string(currency), to_decimal(min)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<holder> out;
    out.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) {
        auto v = sql::read_amount(*r, i, 1, "balances.balance");
        if (!v) {
            return error{v.error_message()};
        }
        out.push_back(holder{r->text(i, 0), std::move(*v), {}});
    }
    return out;
}

// Fills each holder's wallets of the currency (one query for all).
result<bool> read_wallets(pg::connection& db, std::string_view currency, std::vector<holder>& holders) {
    std::map<std::string, holder*> by_name;
    for (auto& h : holders) {
        by_name.emplace(h.name, &h);
    }
    pg::text_array names;
    for (const auto& h : holders) {
        names.add(h.name);
    }
    auto r = sql::run(db, "reading the holders' wallets",
                      "SELECT account, address, share_ppm FROM wallets WHERE currency = $1 "
                      "AND account = ANY($2::text[]) ORDER BY account, address",
                      {std::string(currency), names.str()});
    if (!r) {
        return error{r.error_message()};
    }
    for (int i = 0; i < r->rows(); ++i) {
        auto it = by_name.find(r->text(i, 0));
        if (it != by_name.end()) {
            it->second->wallets.emplace_back(r->text(i, 1), r->integer(i, 2));
        }
    }
    return true;
}

// The holder's balance over its wallets by share_ppm (largest remainder,
// ties to the address that sorts first): (address, part), by address.
result<std::vector<std::pair<std::string, amount>>> split_over_wallets(const holder& h) {
    std::map<std::string, amount> weights;
    for (const auto& [address, ppm] : h.wallets) {
        weights.emplace(address, amount(ppm));
    }
    auto parts = accounting::split_largest_remainder(h.balance, weights);
    if (!parts) {
        return error{h.name + ": " + parts.error_message()};
    }
    std::vector<std::pair<std::string, amount>> out;
    for (const auto& [address, part] : *parts) {
        out.emplace_back(address, part);
    }
    return out;
}

address_check eth_check(const std::string& address) {
    auto a = crypto::check_eth_address(address);
    if (!a) {
        return address_check{false, address, a.error_message(), 0};
    }
    return address_check{true, *a, {}, 0};
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// One validateaddress answer (`p` is reused: one parser for thousands of answers).
address_check coin_check(simdjson::dom::parser& p, const std::string& address, const result<std::string>& answer) {
    address_check c{false, address, {}, 0};
    if (!answer) {
        c.reason = "the node's validateaddress failed: " + answer.error_message();
        return c;
    }
    simdjson::dom::element doc;
    bool valid = false;
    if (p.parse(*answer).get(doc) || doc["isvalid"].get(valid)) {
        c.reason = "the node's validateaddress gave an unexpected answer: " + *answer;
        return c;
    }
    if (!valid) {
        c.reason = "not a valid address (the node's validateaddress refuses it)";
        return c;
    }
    std::string_view canon, script;
    if (doc["address"].get(canon) == simdjson::SUCCESS) {
        c.address = std::string(canon);
    }
    bool mweb = false;
    if (doc["ismweb"].get(mweb) != simdjson::SUCCESS) {
        mweb = false;
    }
    if (mweb || starts_with(c.address, "ltcmweb1") || starts_with(c.address, "tmweb1")) {
        c.reason = std::string(k_mweb_refusal);
        return c;
    }
    bool witness = false;
    if (doc["scriptPubKey"].get(script) || script.empty() || script.size() % 2 != 0) {
        c.reason = "the node gives no scriptPubKey for it";
        return c;
    }
    if (doc["iswitness"].get(witness) != simdjson::SUCCESS) {
        witness = false;
    }
    c.valid = true;
    c.dust = dust_threshold(script.size() / 2, witness);
    return c;
}

}  // namespace

std::int64_t dust_threshold(std::size_t script_pubkey_bytes, bool is_witness) {
    // CTxOut: 8-byte value, the script's CompactSize length (1 byte below 253), the script.
    const auto script = static_cast<std::int64_t>(script_pubkey_bytes);
    const std::int64_t output = 8 + (script < 253 ? 1 : 3) + script;
    // Spending it: outpoint 36 + sequence 4 + scriptSig length 1, plus the
    // signature data: 107 bytes of scriptSig, or 107 witness bytes at a quarter.
    const std::int64_t spend = is_witness ? 32 + 4 + 1 + 107 / 4 + 4 : 32 + 4 + 1 + 107 + 4;
    return k_dust_relay_fee_per_byte * (output + spend);
}

address_checker::address_checker(std::string currency, accounting::node_settings node)
    : currency_(std::move(currency)), node_(std::move(node)) {}

result<std::vector<address_check>> address_checker::check(const std::vector<std::string>& addresses) {
    std::vector<address_check> out;
    out.reserve(addresses.size());
    if (currency_ == accounting::bmm_currency) {
        for (const auto& a : addresses) {
            out.push_back(eth_check(a));
        }
        return out;
    }
    if (node_.url.empty()) {
        return error{"no node configured for " + currency_ + " to check its addresses"};
    }
    node::rpc_client rpc({node_.url, node_.user, node_.password, ""});
    std::vector<std::string> params;
    params.reserve(addresses.size());
    for (const auto& a : addresses) {
        params.push_back("[\"" + node::json_escape(a) + "\"]");
    }
    auto answers = rpc.call_batch("validateaddress", params);
    if (!answers) {
        return error{"cannot check the " + currency_ + " addresses with the node: " + answers.error_message()};
    }
    simdjson::dom::parser parser;
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        out.push_back(coin_check(parser, addresses[i], (*answers)[i]));
    }
    return out;
}

result<accounting::node_settings> node_for(const accounting::accountd_config& cfg, std::string_view currency) {
    const std::string cur(currency);
    if (cur == accounting::bmm_currency) {
        return accounting::node_settings{};
    }
    if (auto it = cfg.coins.find(cur); it != cfg.coins.end() && !it->second.node.url.empty()) {
        return it->second.node;
    }
    if (cfg.node.currency == cur && !cfg.node.url.empty()) {
        return cfg.node;
    }
    bool good = cur.size() >= 2 && cur.size() <= 10;
    for (char c : cur) {
        good = good && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
    }
    if (!good) {
        return error{"--coin " + cur + ": a currency is 2 to 10 capital letters or digits, e.g. LTC or BMM"};
    }
    return error{"--coin " + cur + ": no node is configured for " + cur + " in " + cfg.file + " ([coins." + cur +
                 "] node_url, or [node] url with currency = \"" + cur +
                 "\"); bmm-payout needs the node to check and pay " + cur + " addresses"};
}

result<plan_outcome> plan_batch(pg::connection& db, const accounting::accountd_config& cfg, address_checker& checker,
                                const plan_request& req) {
    plan_outcome out;
    out.threshold = req.min ? *req.min : accounting::payout_min_amount(cfg.payout, req.currency);
    if (out.threshold < 0) {
        return error{"--min must not be negative"};
    }
    auto holders = holders_over(db, req.currency, out.threshold);
    if (!holders) {
        return error{holders.error_message()};
    }
    if (auto ok = read_wallets(db, req.currency, *holders); !ok) {
        return error{ok.error_message()};
    }
    auto busy_list = accounts_with_open_lines(db, req.currency);
    if (!busy_list) {
        return error{busy_list.error_message()};
    }
    const std::set<std::string> busy(busy_list->begin(), busy_list->end());

    // The parts to pay, before the address checks.
    struct part {
        std::string account, address;
        amount value;
    };
    std::vector<part> parts;
    std::set<std::string> distinct;
    for (const auto& h : *holders) {
        if (busy.count(h.name) != 0) {
            out.skipped.push_back(
                {h.name,
                 {},
                 h.balance,
                 "has an open line in an open " + req.currency + " batch (no line in two open batches)"});
            continue;
        }
        if (h.wallets.empty()) {
            out.skipped.push_back({h.name, {}, h.balance, "no " + req.currency + " wallet bound"});
            continue;
        }
        auto split = split_over_wallets(h);
        if (!split) {
            return error{split.error_message()};
        }
        for (auto& [address, value] : *split) {
            distinct.insert(address);
            parts.push_back(part{h.name, std::move(address), std::move(value)});
        }
    }
    const std::vector<std::string> addresses(distinct.begin(), distinct.end());
    auto checks = checker.check(addresses);
    if (!checks) {
        return error{checks.error_message()};
    }
    std::map<std::string, const address_check*> check_of;
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        check_of.emplace(addresses[i], &(*checks)[i]);
    }

    new_batch nb;
    nb.currency = req.currency;
    nb.min_amount = out.threshold;
    for (auto& p : parts) {
        const address_check& c = *check_of.at(p.address);
        std::string reason;
        if (!c.valid) {
            reason = c.reason;
        } else if (p.value <= 0) {
            reason = "its wallet's share of the balance is 0";
        } else if (p.value < c.dust) {
            reason = to_decimal(p.value) + " is below the dust threshold " + std::to_string(c.dust) +
                     " of this address type";
        } else if (p.value < out.threshold) {
            reason = to_decimal(p.value) + " (its wallet's share) is below the threshold " + to_decimal(out.threshold);
        }
        if (!reason.empty()) {
            out.skipped.push_back({p.account, p.address, p.value, reason});
            continue;
        }
        nb.lines.push_back(planned_line{p.account, c.address, std::move(p.value)});
    }
    if (nb.lines.empty()) {
        return out;
    }
    auto b = create_batch(db, nb);
    if (!b) {
        return error{b.error_message()};
    }
    out.planned = std::move(*b);
    return out;
}

}  // namespace bmm::payout
