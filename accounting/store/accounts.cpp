#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/rules.hpp"

#include "bmm/crypto/address.hpp"
#include "bmm/crypto/eth_sign.hpp"
#include "bmm/crypto/keccak.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/pg/transaction.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <numeric>

namespace bmm::accounting {
namespace {

// `s` in double quotes (built with += : GCC 12 warns falsely on "a" + s).
std::string quoted(std::string_view s) {
    std::string q = "\"";
    q += s;
    q += '"';
    return q;
}

std::string upper(std::string_view s) {
    std::string u(s);
    for (char& c : u) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return u;
}

}  // namespace

result<bool> check_account_name(std::string_view name) {
    if (name.empty() || name.size() > 128) {
        return error{"an account name has 1 to 128 characters"};
    }
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
            return error{"account name \"" + std::string(name) +
                         "\": only letters, digits, '_' and '-' (it is the part of a Stratum username before the '.')"};
        }
    }
    return true;
}

result<bool> check_holder_name(std::string_view name) {
    constexpr std::string_view foundation = "foundation:";
    if (name.substr(0, foundation.size()) != foundation) {
        return check_account_name(name);
    }
    if (name.size() > 128 || !check_account_name(name.substr(foundation.size()))) {
        return error{"\"" + std::string(name) +
                     "\" is not a foundation account: foundation:<name>, the name of letters, digits, '_' and '-' "
                     "(foundation:airdrop, foundation:developers, foundation:ecosystem)"};
    }
    return true;
}

bool is_user_ledger_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 && name.find(':') == std::string_view::npos;
}

namespace {

constexpr std::string_view k_mweb_refusal =
    "Litecoin Core 0.21.2 writes MWEB addresses into raw/PSBT transactions as an empty-script output and allows one "
    "MWEB recipient per wallet transaction";

bool has_mweb_prefix(std::string_view address) {
    return address.substr(0, 8) == "ltcmweb1" || address.substr(0, 6) == "tmweb1";
}

error mweb_refused(std::string_view address) {
    return error{quoted(address) + " is an MWEB address, which payouts cannot pay: " + std::string(k_mweb_refusal) +
                 ". Bind a legacy, P2SH or bech32 (ltc1...) address instead"};
}

}  // namespace

address_validator::address_validator(node_settings node, std::vector<node_settings> coin_nodes)
    : node_currency_(upper(node.currency)) {
    if (!node.url.empty()) {
        nodes_.push_back(std::move(node));
    }
    for (auto& n : coin_nodes) {
        if (!n.url.empty()) {
            nodes_.push_back(std::move(n));
        }
    }
}

address_validator::address_validator(const accountd_config& c)
    : address_validator(c.node, [&c] {
          std::vector<node_settings> nodes;
          for (const auto& [coin, cs] : c.coins) {
              nodes.push_back(cs.node);
          }
          return nodes;
      }()) {}

const node_settings* address_validator::node_for(std::string_view currency) const {
    // A coin's own node before [node] (the first of nodes_ when it has a URL).
    const node_settings* found = nullptr;
    for (const auto& n : nodes_) {
        if (upper(n.currency) == upper(currency)) {
            found = &n;
        }
    }
    return found;
}

error address_validator::no_node(const std::string& currency, std::string_view what) const {
    return error{"cannot check a " + currency + " " + std::string(what) + ": no node for " + currency +
                 " is configured (give [coins." + currency + "] node_url, node_user and node_password; [node] is " +
                 (node_currency_.empty() ? std::string("not set") : "for " + node_currency_) + ")"};
}

result<std::string> address_validator::check(std::string_view currency, std::string_view address) {
    const std::string cur = upper(currency);
    if (cur == "BMM") {
        return crypto::check_eth_address(address);
    }
    const node_settings* node = node_for(cur);
    if (!node) {
        return no_node(cur, "address");
    }
    if (address.empty() || address.size() > 128) {
        return error{quoted(address) + " is not a " + cur + " address"};
    }
    node::rpc_client rpc({node->url, node->user, node->password, ""});
    std::string params = "[\"";
    params += node::json_escape(address);
    params += "\"]";
    auto r = rpc.call("validateaddress", params, std::chrono::seconds(10));
    if (!r) {
        return error{"cannot check the address with the node: " + r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    bool valid = false;
    if (p.parse(*r).get(doc) || doc["isvalid"].get(valid)) {
        return error{"the node's validateaddress gave an unexpected answer: " + *r};
    }
    if (!valid) {
        return error{quoted(address) + " is not a valid " + cur +
                     " address (the node's validateaddress refuses it; check for a typo and the network)"};
    }
    // Litecoin Core 0.21.2 says ismweb; an older node may not: the prefix too.
    bool mweb = false;
    if ((!doc["ismweb"].get(mweb) && mweb) || has_mweb_prefix(address)) {
        return mweb_refused(address);
    }
    std::string_view canon;
    if (doc["address"].get(canon)) {
        canon = address;
    }
    return std::string(canon);
}

result<std::optional<std::pair<std::string, std::string>>> address_validator::classify(std::string_view name) {
    using out_t = std::optional<std::pair<std::string, std::string>>;
    if (name.size() == 42 && name.substr(0, 2) == "0x") {
        auto a = crypto::check_eth_address(name);
        if (a) {
            return out_t{{"BMM", *a}};
        }
        return out_t{};
    }
    // Coin addresses are 26 to 90 characters; shorter names are not asked about.
    if (name.size() < 26) {
        return out_t{};
    }
    // Each coin with a node in turn, [node]'s coin first (a legacy testnet
    // address parses for Bitcoin and Litecoin alike: the pool's main coin
    // takes it, as before there were several); each coin once.
    std::vector<std::string> coins{node_currency_};
    for (const auto& node : nodes_) {
        if (std::find(coins.begin(), coins.end(), upper(node.currency)) == coins.end()) {
            coins.push_back(upper(node.currency));
        }
    }
    for (const auto& cur : coins) {
        const node_settings* node = node_for(cur);
        if (!node) {
            continue;
        }
        auto c = classify_on(*node, name);
        if (!c || c->has_value()) {
            return c;
        }
    }
    return out_t{};
}

result<std::optional<std::pair<std::string, std::string>>> address_validator::classify_on(const node_settings& node,
                                                                                          std::string_view name) {
    using out_t = std::optional<std::pair<std::string, std::string>>;
    // Only names that are addresses by their own syntax and checksum cost a
    // node round trip (random names used to stall the ingest). MWEB addresses
    // cannot be paid by the payout tool, so they are plain names here.
    if (!crypto::address_networks_of(node.currency).empty()) {
        auto local = crypto::decode_address_of(name, node.currency);
        if (!local || local->kind == crypto::address_kind::mweb) {
            return out_t{};
        }
    }
    node::rpc_client rpc({node.url, node.user, node.password, ""});
    std::string params = "[\"";
    params += node::json_escape(name);
    params += "\"]";
    auto r = rpc.call("validateaddress", params, std::chrono::seconds(10));
    if (!r) {
        return error{"cannot ask the node whether \"" + std::string(name) + "\" is an address: " + r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    bool valid = false;
    if (p.parse(*r).get(doc) || doc["isvalid"].get(valid)) {
        return error{"validateaddress gave an unexpected answer: " + *r};
    }
    bool mweb = false;
    if (!valid || has_mweb_prefix(name) || (!doc["ismweb"].get(mweb) && mweb)) {
        return out_t{};  // an MWEB address cannot be paid (see check): a plain account, no wallet bound
    }
    std::string_view canon;
    if (doc["address"].get(canon)) {
        canon = name;
    }
    return out_t{{upper(node.currency), std::string(canon)}};
}

result<bool> address_validator::verify_message(std::string_view currency, std::string_view address,
                                               std::string_view message, std::string_view signature) {
    const std::string cur = upper(currency);
    if (signature.empty() || signature.size() > 200) {
        return error{"no signature given (or longer than 200 characters): sign the challenge's message with the " +
                     cur + " wallet of " + std::string(address)};
    }
    if (cur == "BMM") {
        auto want = crypto::check_eth_address(address);
        if (!want) {
            return error{want.error_message()};
        }
        auto got = crypto::recover_personal_sign(message, signature);
        if (!got) {
            return error{"the BMM signature: " + got.error_message()};
        }
        return upper(*got) == upper(*want);
    }
    const node_settings* node = node_for(cur);
    if (!node) {
        return no_node(cur, "signature");
    }
    node::rpc_client rpc({node->url, node->user, node->password, ""});
    std::string params = "[\"";
    params += node::json_escape(address);
    params += "\",\"";
    params += node::json_escape(signature);
    params += "\",\"";
    params += node::json_escape(message);
    params += "\"]";
    auto r = rpc.call("verifymessage", params, std::chrono::seconds(10));
    if (!r) {
        // The node's own words (bad Base64, an address that "does not refer to key": a segwit one).
        return error{"the node's verifymessage refused the " + cur + " signature: " + r.error_message() +
                     " (sign with a legacy address's key: signmessage in the wallet)"};
    }
    return *r == "true";
}

// The one largest-remainder split of the ledger (rules.hpp), keyed by the
// index as fixed-width digits, so that its tie rule (the name that sorts
// first bytewise) is "the lower index" here; zero weights get 0.
std::vector<std::int64_t> split_largest_remainder(std::int64_t total, const std::vector<std::int64_t>& weights) {
    std::vector<std::int64_t> out(weights.size(), 0);
    std::map<std::string, amount> keyed;
    std::vector<std::string> keys(weights.size());
    for (std::size_t i = 0; i < weights.size(); ++i) {
        char key[24];
        std::snprintf(key, sizeof key, "%020zu", i);
        keys[i] = key;
        if (weights[i] > 0) {
            keyed.emplace(keys[i], amount(weights[i]));
        }
    }
    auto parts = accounting::split_largest_remainder(amount(total), keyed);
    if (!parts) {
        return out;  // a negative total: nothing to give (callers pass 0..1,000,000)
    }
    for (std::size_t i = 0; i < weights.size(); ++i) {
        auto it = parts->find(keys[i]);
        if (it != parts->end()) {
            out[i] = static_cast<std::int64_t>(it->second);
        }
    }
    return out;
}

result<bool> create_account(pg::connection& db, std::string_view name, std::string_view kind) {
    if (auto ok = check_account_name(name); !ok) {
        return ok;
    }
    auto r = db.exec("INSERT INTO accounts (name, kind) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                     {std::string(name), std::string(kind)});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->affected() == 0) {
        return error{"account \"" + std::string(name) + "\" already exists"};
    }
    return true;
}

namespace {

result<std::vector<wallet>> wallets_of(pg::connection& db, std::string_view account, std::string_view currency) {
    auto r = db.exec(
        "SELECT address, share_ppm FROM wallets WHERE account = $1 AND currency = $2 ORDER BY address FOR UPDATE",
        {std::string(account), std::string(currency)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<wallet> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back({std::string(account), std::string(currency), r->text(i, 0), r->integer(i, 1)});
    }
    return out;
}

result<bool> set_shares(pg::connection& db, const std::vector<wallet>& ws, const std::vector<std::int64_t>& shares) {
    for (std::size_t i = 0; i < ws.size(); ++i) {
        auto r = db.exec("UPDATE wallets SET share_ppm = $4 WHERE account = $1 AND currency = $2 AND address = $3",
                         {ws[i].account, ws[i].currency, ws[i].address, std::to_string(shares[i])});
        if (!r) {
            return error{r.error_message()};
        }
    }
    return true;
}

}  // namespace

result<std::string> check_currency(std::string_view currency_in) {
    const std::string currency = upper(currency_in);
    if (currency.size() < 2 || currency.size() > 10 || !std::all_of(currency.begin(), currency.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c));
        })) {
        return error{"currency \"" + std::string(currency_in) + "\": 2 to 10 letters or digits, e.g. LTC, BTC, BMM"};
    }
    return currency;
}

result<wallet> bind_wallet_in_transaction(pg::connection& db, std::string_view account, const std::string& currency,
                                          const std::string& canon, std::optional<std::int64_t> share_ppm) {
    auto acc = db.exec("SELECT 1 FROM accounts WHERE name = $1", {std::string(account)});
    if (!acc) {
        return error{acc.error_message()};
    }
    if (acc->rows() == 0 && account.find(':') != std::string_view::npos) {
        return error{"no account \"" + std::string(account) +
                     "\": the foundation accounts are foundation:airdrop, foundation:developers and "
                     "foundation:ecosystem (see: bmm-accountd account list)"};
    }
    if (acc->rows() == 0) {
        return error{"no account \"" + std::string(account) + "\" (create it with: bmm-accountd account create " +
                     std::string(account) + ")"};
    }
    auto ws = wallets_of(db, account, currency);
    if (!ws) {
        return error{ws.error_message()};
    }
    for (const auto& w : *ws) {
        if (w.address == canon) {
            return error{canon + " is already bound to " + std::string(account) + " for " + currency};
        }
    }
    const std::int64_t share = share_ppm.value_or(ws->empty() ? k_ppm_total : 0);
    if (!ws->empty() && !share_ppm) {
        return error{std::string(account) + " already has " + std::to_string(ws->size()) + " " + currency +
                     " wallet(s): give the new one's share with --share PPM (the others are scaled down to the rest)"};
    }
    if (ws->empty() && share != k_ppm_total) {
        return error{"the first " + currency + " wallet of an account gets all of it: --share 1000000 or none"};
    }
    if (!ws->empty()) {
        std::vector<std::int64_t> weights;
        for (const auto& w : *ws) {
            weights.push_back(w.share_ppm);
        }
        auto scaled = split_largest_remainder(k_ppm_total - share, weights);
        for (std::size_t i = 0; i < scaled.size(); ++i) {
            if (scaled[i] <= 0) {
                return error{"with " + std::to_string(share) + " ppm for the new wallet, " + (*ws)[i].address +
                             " would get nothing; unbind it first or give the new wallet less"};
            }
        }
        if (auto s = set_shares(db, *ws, scaled); !s) {
            return error{s.error_message()};
        }
    }
    auto ins = db.exec("INSERT INTO wallets (account, currency, address, share_ppm) VALUES ($1, $2, $3, $4)",
                       {std::string(account), currency, canon, std::to_string(share)});
    if (!ins) {
        return error{ins.error_message()};
    }
    return wallet{std::string(account), currency, canon, share};
}

result<bool> unbind_wallet_in_transaction(pg::connection& db, std::string_view account, const std::string& currency,
                                          std::string_view address) {
    auto ws = wallets_of(db, account, currency);
    if (!ws) {
        return error{ws.error_message()};
    }
    std::vector<wallet> rest;
    bool found = false;
    for (const auto& w : *ws) {
        if (w.address == address) {
            found = true;
        } else {
            rest.push_back(w);
        }
    }
    if (!found) {
        return error{std::string(address) + " is not bound to account \"" + std::string(account) + "\" for " +
                     currency + " (see: bmm-accountd account list " + std::string(account) + ")"};
    }
    auto del = db.exec("DELETE FROM wallets WHERE account = $1 AND currency = $2 AND address = $3",
                       {std::string(account), currency, std::string(address)});
    if (!del) {
        return error{del.error_message()};
    }
    if (!rest.empty()) {
        std::vector<std::int64_t> weights;
        for (const auto& w : rest) {
            weights.push_back(w.share_ppm);
        }
        if (auto s = set_shares(db, rest, split_largest_remainder(k_ppm_total, weights)); !s) {
            return s;
        }
    }
    return true;
}

result<std::int64_t> record_wallet_history(pg::connection& db, const wallet_history_entry& h) {
    auto r = db.exec(
        "INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof, nonce, signature, "
        "authorizer, authorizer_signature, client) VALUES ($1, $2, $3, $4, $5::integer, $6, $7, $8, $9, $10, $11) "
        "RETURNING id",
        {h.account, h.action, h.currency, h.address,
         h.share_ppm ? std::optional<std::string>(std::to_string(*h.share_ppm)) : std::nullopt, h.proof, h.nonce,
         h.signature, h.authorizer, h.authorizer_signature, h.client});
    if (!r) {
        return error{r.error_message()};
    }
    return r->integer(0, 0);
}

namespace {

// The history row of a change made with `bmm-accountd account bind/unbind`.
wallet_history_entry admin_entry(std::string account, std::string action, std::string currency, std::string address,
                                 std::optional<std::int64_t> share_ppm) {
    wallet_history_entry h;
    h.account = std::move(account);
    h.action = std::move(action);
    h.currency = std::move(currency);
    h.address = std::move(address);
    h.share_ppm = share_ppm;
    h.proof = "admin";
    return h;
}

}  // namespace

result<wallet> bind_wallet(pg::connection& db, address_validator& v, std::string_view account,
                           std::string_view currency_in, std::string_view address,
                           std::optional<std::int64_t> share_ppm) {
    auto currency = check_currency(currency_in);
    if (!currency) {
        return error{currency.error_message()};
    }
    if (auto ok = check_holder_name(account); !ok) {
        return error{ok.error_message()};
    }
    if (share_ppm && (*share_ppm <= 0 || *share_ppm > k_ppm_total)) {
        return error{"the share must be from 1 to 1000000 ppm (1000000 = 100 %)"};
    }
    auto canon = v.check(*currency, address);
    if (!canon) {
        return error{canon.error_message()};
    }
    return pg::in_transaction(db, [&]() -> result<wallet> {
        auto w = bind_wallet_in_transaction(db, account, *currency, *canon, share_ppm);
        if (!w) {
            return w;
        }
        auto h = record_wallet_history(db, admin_entry(w->account, "bind", w->currency, w->address, w->share_ppm));
        if (!h) {
            return error{h.error_message()};
        }
        return w;
    });
}

result<bool> unbind_wallet(pg::connection& db, std::string_view account, std::string_view currency_in,
                           std::string_view address) {
    const std::string currency = upper(currency_in);
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto u = unbind_wallet_in_transaction(db, account, currency, address);
        if (!u) {
            return u;
        }
        auto h = record_wallet_history(
            db, admin_entry(std::string(account), "unbind", currency, std::string(address), std::nullopt));
        if (!h) {
            return error{h.error_message()};
        }
        return true;
    });
}

result<std::vector<account_info>> list_accounts(pg::connection& db, std::optional<std::string> name) {
    auto r = name ? db.exec(
                        "SELECT name, kind, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM accounts "
                        "WHERE name = $1",
                        {*name})
                  : db.exec(
                        "SELECT name, kind, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM accounts "
                        "ORDER BY name");
    if (!r) {
        return error{r.error_message()};
    }
    if (name && r->rows() == 0) {
        return error{"no account \"" + *name + "\""};
    }
    std::vector<account_info> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back({r->text(i, 0), r->text(i, 1), r->text(i, 2), {}});
    }
    auto w =
        name ? db.exec(
                   "SELECT account, currency, address, share_ppm FROM wallets WHERE account = $1 "
                   "ORDER BY currency, address",
                   {*name})
             : db.exec("SELECT account, currency, address, share_ppm FROM wallets ORDER BY account, currency, address");
    if (!w) {
        return error{w.error_message()};
    }
    for (int i = 0; i < w->rows(); ++i) {
        const std::string acc = w->text(i, 0);
        for (auto& a : out) {
            if (a.name == acc) {
                a.wallets.push_back({acc, w->text(i, 1), w->text(i, 2), w->integer(i, 3)});
            }
        }
    }
    return out;
}

result<std::vector<std::string>> existing_accounts(pg::connection& db, const std::string& names) {
    auto r = db.exec("SELECT name FROM accounts WHERE name = ANY($1::text[])", {names});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(r->text(i, 0));
    }
    return out;
}

result<std::uint64_t> create_user_accounts(pg::connection& db, const std::string& names) {
    auto r = db.exec(
        // In name order: two consumers making the same names wait on each
        // other in one order and never deadlock.
        "INSERT INTO accounts (name, kind) SELECT n, 'user' FROM unnest($1::text[]) AS n ORDER BY n COLLATE \"C\" "
        "ON CONFLICT (name) DO NOTHING",
        {names});
    if (!r) {
        return error{r.error_message()};
    }
    return static_cast<std::uint64_t>(r->affected());
}

result<bool> create_address_account(pg::connection& db, std::string_view name, std::string_view currency,
                                    std::string_view address) {
    // The wallet and its history row (proof: the name is the address) in one statement.
    auto r = db.exec(
        "WITH a AS (INSERT INTO accounts (name, kind) VALUES ($1, 'address') "
        "ON CONFLICT (name) DO NOTHING RETURNING name), "
        "w AS (INSERT INTO wallets (account, currency, address, share_ppm) SELECT name, $2, $3, 1000000 FROM a "
        "RETURNING account), "
        "h AS (INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof) "
        "SELECT account, 'bind', $2, $3, 1000000, 'address_account' FROM w) "
        "SELECT count(*) FROM w",
        {std::string(name), std::string(currency), std::string(address)});
    if (!r) {
        return error{r.error_message()};
    }
    return r->integer(0, 0) > 0;
}

}  // namespace bmm::accounting
