#include "bmm/payout/wallet_tx.hpp"

#include "bmm/hex.hpp"
#include "bmm/json/writer.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace bmm::payout {
namespace {

constexpr std::int64_t k_coin = 100000000;
// A standard transaction's limit (policy MAX_STANDARD_TX_WEIGHT).
constexpr std::int64_t k_standard_weight = 400000;
// Weight of one P2WPKH input (outpoint, empty scriptSig, sequence, witness).
constexpr std::int64_t k_input_weight = 272;
// The wallet keeps a signing unlock this long at most (walletpassphrase).
constexpr int k_unlock_seconds = 30;

std::string q(std::string_view s) { return json::quoted(s); }

// The text of a number or string token at `v` (ondemand), for exact decimals.
result<std::int64_t> coins_of(simdjson::ondemand::value v, std::string_view what) {
    std::string_view tok = v.raw_json_token();
    while (!tok.empty() && std::isspace(static_cast<unsigned char>(tok.back()))) {
        tok.remove_suffix(1);
    }
    if (!tok.empty() && tok.front() == '"') {
        tok = tok.substr(1, tok.size() >= 2 ? tok.size() - 2 : 0);
    }
    auto c = parse_coins(tok);
    if (!c) {
        return error{std::string(what) + ": " + c.error_message()};
    }
    return *c;
}

// Reads an optional field's value; a missing or mistyped one leaves `out` as is.
template <class R, class T>
void optional_field(R&& r, T& out) {
    if (std::forward<R>(r).get(out)) {
        return;
    }
}

std::string hex_of_text(std::string_view s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

}  // namespace

// ------------------------------------------------------------------ amounts --

result<std::int64_t> parse_coins(std::string_view d) {
    const std::string text(d);
    if (d.empty()) {
        return error{"an empty amount"};
    }
    std::int64_t whole = 0, frac = 0;
    std::size_t i = 0;
    int int_digits = 0;
    for (; i < d.size() && std::isdigit(static_cast<unsigned char>(d[i])); ++i) {
        if (++int_digits > 11) {
            return error{"amount " + text + " is too large"};
        }
        whole = whole * 10 + (d[i] - '0');
    }
    int frac_digits = 0;
    if (i < d.size() && d[i] == '.') {
        for (++i; i < d.size() && std::isdigit(static_cast<unsigned char>(d[i])); ++i) {
            if (++frac_digits > 8) {
                return error{"amount " + text + " has more than 8 decimals"};
            }
            frac = frac * 10 + (d[i] - '0');
        }
    }
    if (i != d.size() || (int_digits == 0 && frac_digits == 0)) {
        return error{"\"" + text + "\" is not a decimal amount of coins"};
    }
    for (int k = frac_digits; k < 8; ++k) {
        frac *= 10;
    }
    return whole * k_coin + frac;
}

std::string format_coins(std::int64_t litoshi) {
    const bool neg = litoshi < 0;
    const std::uint64_t v = neg ? static_cast<std::uint64_t>(-(litoshi + 1)) + 1 : static_cast<std::uint64_t>(litoshi);
    std::string frac = std::to_string(v % k_coin);
    frac.insert(0, 8 - frac.size(), '0');
    std::string out = neg ? "-" : "";
    out += std::to_string(v / k_coin);
    out += '.';
    out += frac;
    return out;
}

// ---------------------------------------------------------------- packing --

std::int64_t output_weight_estimate(std::string_view address) {
    std::int64_t script = 25;  // base58: P2PKH (25) or P2SH (23)
    const auto sep = address.rfind('1');
    const bool bech32 = sep != std::string_view::npos && sep > 0 && address.size() - sep - 1 >= 8 &&
                        std::all_of(address.begin(), address.end(),
                                    [](char c) { return !std::isupper(static_cast<unsigned char>(c)); }) &&
                        address.size() <= 90;
    if (bech32) {
        const auto data_chars = static_cast<std::int64_t>(address.size() - sep - 1) - 6;  // minus checksum
        const std::int64_t program = (data_chars - 1) * 5 / 8;                            // minus version
        script = std::max<std::int64_t>(2 + program, 4);
    }
    return (8 + 1 + script) * 4;
}

std::int64_t tx_overhead_weight(std::size_t marker_bytes) {
    const std::int64_t base = (4 + 4 + 3 + 3) * 4 + 2;  // version, locktime, counts; segwit marker and flag
    const auto marker = static_cast<std::int64_t>((8 + 1 + 2 + marker_bytes) * 4);
    const std::int64_t change = (8 + 1 + 34) * 4;  // the longest standard script (P2WSH, P2TR)
    return base + marker + change + k_input_allowance_weight;
}

std::vector<pay_line> merge_by_address(std::span<const pay_line> lines) {
    std::vector<pay_line> out;
    std::map<std::string, std::size_t, std::less<>> at;
    for (const auto& l : lines) {
        auto [it, fresh] = at.emplace(l.address, out.size());
        if (fresh) {
            out.push_back(l);
        } else {
            out[it->second].amount += l.amount;
        }
    }
    return out;
}

result<std::vector<packed_tx>> pack_lines(std::span<const pay_line> lines, std::int64_t max_tx_weight,
                                          std::size_t marker_bytes) {
    const std::int64_t overhead = tx_overhead_weight(marker_bytes);
    if (max_tx_weight <= overhead || max_tx_weight > k_standard_weight) {
        return error{"max_tx_weight " + std::to_string(max_tx_weight) + " must be above " + std::to_string(overhead) +
                     " (a transaction's overhead and input allowance) and at most " +
                     std::to_string(k_standard_weight) + " (the standard limit)"};
    }
    // Addresses in the order of their first line; each with its lines.
    std::vector<pay_line> sorted(lines.begin(), lines.end());
    std::sort(sorted.begin(), sorted.end(), [](const pay_line& a, const pay_line& b) { return a.line < b.line; });
    std::vector<std::pair<std::string, std::vector<int>>> groups;
    std::map<std::string, std::size_t, std::less<>> at;
    for (const auto& l : sorted) {
        auto [it, fresh] = at.emplace(l.address, groups.size());
        if (fresh) {
            groups.push_back({l.address, {}});
        }
        groups[it->second].second.push_back(l.line);
    }
    std::vector<packed_tx> out;
    for (const auto& [address, ls] : groups) {
        const std::int64_t w = output_weight_estimate(address);
        if (out.empty() || out.back().weight_estimate + w > max_tx_weight) {
            out.push_back({static_cast<int>(out.size()) + 1, {}, overhead});
        }
        auto& t = out.back();
        t.lines.insert(t.lines.end(), ls.begin(), ls.end());
        t.weight_estimate += w;
    }
    for (auto& t : out) {
        std::sort(t.lines.begin(), t.lines.end());
    }
    return out;
}

std::string marker_text(std::int64_t batch, int tx) {
    return "bmm:" + std::to_string(batch) + ":" + std::to_string(tx);
}

std::string marker_script_hex(std::string_view marker) {
    // OP_RETURN, then a direct push (markers are far below 76 bytes).
    std::string out = "6a";
    out += hex_of_text(std::string(1, static_cast<char>(marker.size())));
    out += hex_of_text(marker);
    return out;
}

std::string outpoints_json(std::span<const outpoint> inputs) {
    json::writer w;
    w.begin_array();
    for (const auto& o : inputs) {
        w.begin_object().key("txid").str(o.txid).key("vout").number(o.vout).end_object();
    }
    w.end_array();
    return w.take();
}

result<std::vector<outpoint>> parse_outpoints_json(std::string_view text) {
    simdjson::dom::parser p;
    simdjson::dom::array arr;
    if (p.parse(text).get_array().get(arr)) {
        return error{"stored inputs are not a JSON array: " + std::string(text.substr(0, 200))};
    }
    std::vector<outpoint> out;
    for (auto e : arr) {
        std::string_view txid;
        std::int64_t vout = 0;
        if (e["txid"].get(txid) || e["vout"].get(vout)) {
            return error{"a stored input lacks txid or vout: " + std::string(text.substr(0, 200))};
        }
        out.push_back({std::string(txid), static_cast<int>(vout)});
    }
    return out;
}

// ------------------------------------------------------------------ wallet --

node_wallet::node_wallet(node::rpc_endpoint endpoint, std::string chain)
    : rpc_(std::move(endpoint)), chain_(std::move(chain)) {}

node_wallet::node_wallet(node::rpc_endpoint wallet_endpoint, node::rpc_endpoint node_endpoint, std::string chain,
                         wallet_flavour flavour)
    : rpc_(std::move(wallet_endpoint)),
      node_rpc_(std::make_unique<node::rpc_client>(std::move(node_endpoint))),
      flavour_(flavour),
      chain_(std::move(chain)) {}

result<std::string> node_wallet::call(std::string_view method, std::string_view params, node::rpc_failure* f) {
    return rpc_.call(method, params, std::chrono::seconds(120), f);
}

result<std::string> node_wallet::node_call(std::string_view method, std::string_view params, node::rpc_failure* f) {
    return (node_rpc_ ? *node_rpc_ : rpc_).call(method, params, std::chrono::seconds(120), f);
}

result<std::vector<result<std::string>>> node_wallet::call_batch(std::string_view method,
                                                                 const std::vector<std::string>& params) {
    return (node_rpc_ ? *node_rpc_ : rpc_).call_batch(method, params, std::chrono::seconds(300));
}

result<bool> node_wallet::check_chain() {
    auto r = node_call("getblockchaininfo", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view chain;
    bool ibd = false;
    // bcoin's answer has no initialblockdownload.
    if (p.parse(*r).get(doc) || doc["chain"].get(chain) ||
        (doc["initialblockdownload"].get(ibd) && flavour_ != wallet_flavour::bcoin)) {
        return error{"getblockchaininfo gave an unexpected answer: " + r->substr(0, 200)};
    }
    if (!chain_.empty() && chain != chain_) {
        return error{"the node " + rpc_.endpoint().url + " is on chain \"" + std::string(chain) +
                     "\" but [payout] expects \"" + chain_ + "\": point [node] url at the right node"};
    }
    if (ibd) {
        return error{"the node " + rpc_.endpoint().url +
                     " is in initial block download: wait until it has caught up, then run again"};
    }
    return true;
}

result<bool> node_wallet::locked() {
    auto r = call("getwalletinfo", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(*r).get(doc)) {
        return error{"getwalletinfo gave an unexpected answer: " + r->substr(0, 200)};
    }
    std::int64_t until = 0;
    if (doc["unlocked_until"].get(until)) {
        return false;  // not encrypted
    }
    return until == 0;
}

result<std::vector<node_wallet::listed_coin>> node_wallet::wallet_coins(int minconf) {
    auto r = call("listunspent", "[" + std::to_string(minconf) + "]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::ondemand::parser p;
    simdjson::padded_string text(*r);
    simdjson::ondemand::document doc;
    simdjson::ondemand::array arr;
    if (p.iterate(text).get(doc) || doc.get_array().get(arr)) {
        return error{"listunspent gave an unexpected answer: " + r->substr(0, 200)};
    }
    std::vector<listed_coin> out;
    for (auto e : arr) {
        simdjson::ondemand::object o;
        if (e.get_object().get(o)) {
            return error{"listunspent: an entry is not an object"};
        }
        std::string_view txid;
        std::int64_t vout = -1, confirmations = 0;
        // bcoin's entries have no "safe" (its wallet lists only its own coins).
        bool spendable = false, safe = flavour_ == wallet_flavour::bcoin;
        std::optional<std::int64_t> amount;
        for (auto field : o) {
            std::string_view key;
            if (field.unescaped_key().get(key)) {
                return error{"listunspent: a bad key"};
            }
            if (key == "txid") {
                optional_field(field.value().get_string(), txid);
            } else if (key == "vout") {
                optional_field(field.value().get_int64(), vout);
            } else if (key == "spendable") {
                optional_field(field.value().get_bool(), spendable);
            } else if (key == "safe") {
                optional_field(field.value().get_bool(), safe);
            } else if (key == "confirmations") {
                optional_field(field.value().get_int64(), confirmations);
            } else if (key == "amount") {
                auto a = coins_of(field.value(), "listunspent amount");
                if (!a) {
                    return error{a.error_message()};
                }
                amount = *a;
            }
        }
        // MWEB coins have no vout: a PSBT cannot spend them.
        if (txid.size() != 64 || vout < 0 || !amount) {
            continue;
        }
        listed_coin l{{{std::string(txid), static_cast<int>(vout)}, *amount}, spendable && safe};
        if (flavour_ == wallet_flavour::bcoin) {
            auto immature = immature_coinbase(l.c.at, confirmations);
            if (!immature) {
                return error{immature.error_message()};
            }
            if (*immature) {
                continue;
            }
        }
        out.push_back(std::move(l));
    }
    return out;
}

// A coinbase output is spendable from 100 confirmations on (Core and bcoin).
result<bool> node_wallet::immature_coinbase(const outpoint& o, std::int64_t confirmations) {
    constexpr std::int64_t k_coinbase_maturity = 100;
    if (confirmations >= k_coinbase_maturity) {
        return false;
    }
    auto r = node_call("gettxout", "[" + q(o.txid) + "," + std::to_string(o.vout) + ",false]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    bool coinbase = false;
    if (p.parse(*r).get(doc)) {
        return error{"gettxout gave an unexpected answer: " + r->substr(0, 200)};
    }
    if (doc.is_null()) {
        return false;  // unconfirmed (minconf 0) or spent: not a mature coinbase question
    }
    optional_field(doc["coinbase"].get_bool(), coinbase);
    return coinbase;
}

result<std::vector<node_wallet::coin>> node_wallet::spendable_coins() {
    auto listed = wallet_coins(1);
    if (!listed) {
        return error{listed.error_message()};
    }
    std::vector<coin> out;
    for (const auto& l : *listed) {
        if (l.spendable) {
            out.push_back(l.c);
        }
    }
    std::sort(out.begin(), out.end(), [](const coin& a, const coin& b) {
        if (a.amount != b.amount) {
            return a.amount > b.amount;
        }
        if (a.at.txid != b.at.txid) {
            return a.at.txid < b.at.txid;
        }
        return a.at.vout < b.at.vout;
    });
    return out;
}

result<bool> node_wallet::lock(std::span<const outpoint> inputs) {
    if (inputs.empty()) {
        return true;
    }
    // One call per input: a batch lock fails as a whole when one is already
    // locked or spent, which is fine here.
    for (const auto& o : inputs) {
        node::rpc_failure f;
        auto r = call("lockunspent", "[false," + outpoints_json(std::span(&o, 1)) + "]", &f);
        if (!r && f.code == 0) {
            return error{r.error_message()};
        }
    }
    return true;
}

result<bool> node_wallet::unlock(std::span<const outpoint> inputs) {
    for (const auto& o : inputs) {
        node::rpc_failure f;
        auto r = call("lockunspent", "[true," + outpoints_json(std::span(&o, 1)) + "]", &f);
        if (!r && f.code == 0) {
            return error{r.error_message()};
        }
    }
    return true;
}

result<std::vector<outpoint>> node_wallet::locked_outpoints() {
    auto r = call("listlockunspent", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    return parse_outpoints_json(*r);
}

result<bool> node_wallet::unlock_for_signing() {
    if (passphrase_.empty()) {
        return false;
    }
    auto l = locked();
    if (!l) {
        return error{l.error_message()};
    }
    if (!*l) {
        return false;
    }
    auto u = call("walletpassphrase", "[" + q(passphrase_) + "," + std::to_string(k_unlock_seconds) + "]");
    if (!u) {
        return error{"cannot unlock wallet \"" + wallet_name() + "\" with the passphrase file: " + u.error_message()};
    }
    return true;
}

result<std::string> node_wallet::sign(std::string_view psbt) {
    auto unlocked = unlock_for_signing();
    if (!unlocked) {
        return error{unlocked.error_message()};
    }
    auto r = call("walletprocesspsbt", "[" + q(psbt) + ",true,\"ALL\",false]");
    if (*unlocked) {
        (void)call("walletlock", "[]");
    }
    if (!r) {
        if (r.error_message().find("-13") != std::string::npos) {
            return error{"wallet \"" + wallet_name() +
                         "\" is encrypted and locked: give its passphrase with --passphrase-file FILE"};
        }
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view signed_psbt;
    bool complete = false;
    if (p.parse(*r).get(doc) || doc["psbt"].get(signed_psbt) || doc["complete"].get(complete)) {
        return error{"walletprocesspsbt gave an unexpected answer: " + r->substr(0, 200)};
    }
    if (!complete) {
        return error{"wallet \"" + wallet_name() +
                     "\" could not sign every input (is it encrypted and locked? give --passphrase-file)"};
    }
    auto f = call("finalizepsbt", "[" + q(signed_psbt) + ",true]");
    if (!f) {
        return error{f.error_message()};
    }
    simdjson::dom::element fdoc;
    std::string_view hex;
    if (p.parse(*f).get(fdoc) || fdoc["complete"].get(complete) || !complete || fdoc["hex"].get(hex)) {
        return error{"finalizepsbt did not complete the transaction: " + f->substr(0, 200)};
    }
    return std::string(hex);
}

result<std::int64_t> node_wallet::prevout_value(const outpoint& o) {
    auto r = call("gettransaction", "[" + q(o.txid) + ",true]");
    if (!r) {
        return error{"input " + o.txid + ":" + std::to_string(o.vout) +
                     " is not a wallet transaction's output: " + r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view hex;
    if (p.parse(*r).get(doc) || doc["hex"].get(hex)) {
        return error{"gettransaction " + o.txid + " gave no hex"};
    }
    auto d = decode(hex);
    if (!d) {
        return error{d.error_message()};
    }
    if (o.vout < 0 || static_cast<std::size_t>(o.vout) >= d->outputs.size()) {
        return error{"transaction " + o.txid + " has no output " + std::to_string(o.vout)};
    }
    return d->outputs[static_cast<std::size_t>(o.vout)].amount;
}

}  // namespace bmm::payout

namespace bmm::payout {
namespace {}  // namespace

result<signed_tx> node_wallet::decode(std::string_view hex) {
    auto r = node_call("decoderawtransaction", "[" + q(hex) + "]");
    if (!r) {
        return error{r.error_message()};
    }
    const std::string bad = "decoderawtransaction gave an unexpected answer: " + r->substr(0, 200);
    simdjson::ondemand::parser p;
    simdjson::padded_string text(*r);
    simdjson::ondemand::document doc;
    simdjson::ondemand::object top;
    if (p.iterate(text).get(doc) || doc.get_object().get(top)) {
        return error{bad};
    }
    signed_tx t;
    t.hex = hex;
    for (auto field : top) {
        std::string_view key;
        if (field.unescaped_key().get(key)) {
            return error{bad};
        }
        if (key == "txid") {
            std::string_view v;
            if (field.value().get_string().get(v)) {
                return error{bad};
            }
            t.txid = v;
        } else if (key == "vsize") {
            if (field.value().get_int64().get(t.vsize)) {
                return error{bad};
            }
        } else if (key == "weight") {
            if (field.value().get_int64().get(t.weight)) {
                return error{bad};
            }
        } else if (key == "vin") {
            simdjson::ondemand::array arr;
            if (field.value().get_array().get(arr)) {
                return error{bad};
            }
            for (auto e : arr) {
                simdjson::ondemand::object o;
                if (e.get_object().get(o)) {
                    return error{bad};
                }
                outpoint at;
                at.vout = -1;
                for (auto f : o) {
                    std::string_view k;
                    if (f.unescaped_key().get(k)) {
                        return error{bad};
                    }
                    if (k == "txid") {
                        std::string_view v;
                        optional_field(f.value().get_string(), v);
                        at.txid = v;
                    } else if (k == "vout") {
                        std::int64_t n = -1;
                        optional_field(f.value().get_int64(), n);
                        at.vout = static_cast<int>(n);
                    }
                }
                if (!at.txid.empty()) {  // a coinbase input has none
                    t.inputs.push_back(at);
                }
            }
        } else if (key == "vout") {
            simdjson::ondemand::array arr;
            if (field.value().get_array().get(arr)) {
                return error{bad};
            }
            for (auto e : arr) {
                simdjson::ondemand::object o;
                if (e.get_object().get(o)) {
                    return error{bad};
                }
                tx_output out;
                for (auto f : o) {
                    std::string_view k;
                    if (f.unescaped_key().get(k)) {
                        return error{bad};
                    }
                    if (k == "value") {
                        auto v = coins_of(f.value(), "decoderawtransaction value");
                        if (!v) {
                            return error{v.error_message()};
                        }
                        out.amount = *v;
                    } else if (k == "scriptPubKey") {
                        simdjson::ondemand::object spk;
                        if (f.value().get_object().get(spk)) {
                            return error{bad};
                        }
                        for (auto sf : spk) {
                            std::string_view sk;
                            if (sf.unescaped_key().get(sk)) {
                                return error{bad};
                            }
                            if (sk == "hex") {
                                std::string_view v;
                                optional_field(sf.value().get_string(), v);
                                out.script_hex = v;
                            } else if (sk == "address") {
                                std::string_view v;
                                optional_field(sf.value().get_string(), v);
                                out.address = v;
                            } else if (sk == "addresses") {
                                simdjson::ondemand::array a;
                                if (!sf.value().get_array().get(a)) {
                                    for (auto ae : a) {
                                        std::string_view v;
                                        if (out.address.empty() && !ae.get_string().get(v)) {
                                            out.address = v;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                t.outputs.push_back(std::move(out));
            }
        }
    }
    if (t.txid.size() != 64 || t.vsize <= 0) {
        return error{bad};
    }
    if (t.weight == 0) {
        t.weight = t.vsize * 4;  // bcoin gives no weight; vsize is weight / 4 rounded up
    }
    return t;
}

result<bool> node_wallet::is_mine(std::string_view address) {
    if (flavour_ == wallet_flavour::bcoin) {
        // No getaddressinfo: getaccount names the account of a wallet
        // address and answers "" for any other.
        auto a = call("getaccount", "[" + q(address) + "]");
        if (!a) {
            return error{a.error_message()};
        }
        return *a != "\"\"" && *a != "null";
    }
    auto r = call("getaddressinfo", "[" + q(address) + "]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    bool mine = false;
    if (p.parse(*r).get(doc) || doc["ismine"].get(mine)) {
        return error{"getaddressinfo gave an unexpected answer: " + r->substr(0, 200)};
    }
    return mine;
}

result<signed_tx> node_wallet::describe(std::string_view hex) {
    auto t = decode(hex);
    if (!t) {
        return t;
    }
    std::int64_t in = 0, out = 0;
    for (const auto& o : t->inputs) {
        auto v = prevout_value(o);
        if (!v) {
            return error{v.error_message()};
        }
        in += *v;
    }
    for (const auto& o : t->outputs) {
        out += o.amount;
    }
    t->fee = in - out;
    return t;
}

// The outputs must be exactly: each asked address with its amount, the
// marker (value 0), and at most one more output, to an address of this
// wallet (the change). The inputs must be the wallet's.
result<bool> node_wallet::check_outputs(const signed_tx& t, const tx_request& req) {
    const std::string marker_hex = marker_script_hex(marker_text(req.batch, req.tx));
    std::map<std::string, std::int64_t, std::less<>> want;
    for (const auto& o : req.outputs) {
        want[o.address] += o.amount;
    }
    int markers = 0, changes = 0;
    for (const auto& o : t.outputs) {
        if (o.script_hex == marker_hex) {
            if (o.amount != 0) {
                return error{"transaction " + t.txid + ": the marker output carries " + format_coins(o.amount)};
            }
            ++markers;
            continue;
        }
        auto it = want.find(o.address);
        if (it != want.end() && it->second == o.amount) {
            want.erase(it);
            continue;
        }
        auto mine = o.address.empty() ? result<bool>(false) : is_mine(o.address);
        if (!mine) {
            return error{mine.error_message()};
        }
        if (!*mine) {
            return error{"transaction " + t.txid + " pays " + format_coins(o.amount) + " to " +
                         (o.address.empty() ? "script " + o.script_hex : o.address) +
                         ", which is neither a planned output nor this wallet's change: not kept"};
        }
        ++changes;
    }
    if (markers != 1) {
        return error{"transaction " + t.txid + " has " + std::to_string(markers) + " marker outputs, not 1"};
    }
    if (changes > 1) {
        return error{"transaction " + t.txid + " has " + std::to_string(changes) + " change outputs, at most 1"};
    }
    if (!want.empty()) {
        return error{"transaction " + t.txid + " does not pay " + format_coins(want.begin()->second) + " to " +
                     want.begin()->first + " as planned: not kept"};
    }
    if (t.weight > k_standard_weight) {
        return error{"transaction " + t.txid + " weighs " + std::to_string(t.weight) +
                     " WU, above the standard 400000: lower [payout] max_tx_weight or consolidate the wallet's coins"};
    }
    return true;
}

result<bool> node_wallet::check_fee(const signed_tx& t, const tx_request& req) {
    if (t.fee < 0) {
        return error{"transaction " + t.txid + " spends less than it pays"};
    }
    if (t.fee > req.max_fee_rate * t.vsize) {
        return error{"transaction " + t.txid + " pays a fee of " + format_coins(t.fee) + " for " +
                     std::to_string(t.vsize) + " vB, above [payout] max_fee_rate " + std::to_string(req.max_fee_rate) +
                     " sat/vB: not kept"};
    }
    if (t.fee > req.fee_budget) {
        return error{"transaction " + t.txid + " pays a fee of " + format_coins(t.fee) +
                     ", more than the pool's fee balance can cover (" + format_coins(req.fee_budget) +
                     " available in pool:fees): not kept"};
    }
    return true;
}

namespace {

// The change: the one output that is neither planned nor the marker.
std::int64_t change_of(const signed_tx& t, const tx_request& req) {
    const std::string marker_hex = marker_script_hex(marker_text(req.batch, req.tx));
    std::map<std::string, std::int64_t, std::less<>> want;
    for (const auto& o : req.outputs) {
        want[o.address] += o.amount;
    }
    std::int64_t change = 0;
    for (const auto& o : t.outputs) {
        auto it = want.find(o.address);
        if (o.script_hex == marker_hex) {
            continue;
        }
        if (it != want.end() && it->second == o.amount) {
            want.erase(it);
            continue;
        }
        change += o.amount;
    }
    return change;
}

// The weight of req's transaction before its inputs: overhead, marker, one
// change output and the planned outputs (upper bounds).
std::int64_t weight_without_inputs(const tx_request& req) {
    std::int64_t weight = tx_overhead_weight(marker_text(req.batch, req.tx).size()) - k_input_allowance_weight;
    for (const auto& o : req.outputs) {
        weight += output_weight_estimate(o.address);
    }
    return weight;
}

}  // namespace

result<signed_tx> node_wallet::build(const tx_request& req) {
    if (req.outputs.empty()) {
        return error{"transaction " + std::to_string(req.tx) + " of batch " + std::to_string(req.batch) +
                     " has no outputs"};
    }
    std::int64_t total = 0, weight = weight_without_inputs(req);
    for (const auto& o : req.outputs) {
        total += o.amount;
    }
    auto coins = spendable_coins();
    if (!coins) {
        return error{coins.error_message()};
    }
    // Largest coins first until they cover the outputs and the fee at the cap.
    std::vector<outpoint> chosen;
    std::int64_t have = 0, fee_cap = 0, all = 0;
    for (const auto& c : *coins) {
        all += c.amount;
    }
    for (const auto& c : *coins) {
        fee_cap = std::min(req.max_fee_rate * ((weight + 3) / 4), req.fee_budget);
        if (have >= total + fee_cap && !chosen.empty()) {
            break;
        }
        chosen.push_back(c.at);
        have += c.amount;
        weight += k_input_weight;
    }
    fee_cap = std::min(req.max_fee_rate * ((weight + 3) / 4), req.fee_budget);
    if (have < total + fee_cap) {
        return error{"wallet \"" + wallet_name() + "\" can spend " + format_coins(all) +
                     " (confirmed, unlocked), needs " + format_coins(total) + " + fee cap " + format_coins(fee_cap) +
                     " for transaction " + std::to_string(req.tx) + " of batch " + std::to_string(req.batch) +
                     ": fund the wallet or wait for confirmations"};
    }
    if (static_cast<std::int64_t>(chosen.size()) * k_input_weight > k_input_allowance_weight) {
        return error{"transaction " + std::to_string(req.tx) + " of batch " + std::to_string(req.batch) + " needs " +
                     std::to_string(chosen.size()) + " inputs, more than the input allowance of a transaction: " +
                     "consolidate the wallet's small coins (send them to one address of the wallet) and run again"};
    }
    return fund_sign_check(chosen, req);
}

result<signed_tx> node_wallet::fund_sign_check(const std::vector<outpoint>& chosen, const tx_request& req) {
    auto fail = [&](std::string message) -> result<signed_tx> {
        (void)unlock(chosen);
        return error{std::move(message)};
    };
    auto hex = flavour_ == wallet_flavour::bcoin ? build_raw(chosen, req) : build_psbt(chosen, req);
    if (!hex) {
        return fail(hex.error_message());
    }
    auto t = describe(*hex);
    if (!t) {
        return fail(t.error_message());
    }
    auto inputs = t->inputs;
    auto sorted_chosen = chosen;
    auto by = [](const outpoint& a, const outpoint& b) { return std::tie(a.txid, a.vout) < std::tie(b.txid, b.vout); };
    std::sort(inputs.begin(), inputs.end(), by);
    std::sort(sorted_chosen.begin(), sorted_chosen.end(), by);
    if (inputs != sorted_chosen) {
        return fail("transaction " + t->txid + " spends other inputs than the ones chosen: not kept");
    }
    if (auto c = check_outputs(*t, req); !c) {
        return fail(c.error_message());
    }
    if (auto c = check_fee(*t, req); !c) {
        return fail(c.error_message());
    }
    t->change = change_of(*t, req);
    return t;
}

result<std::string> node_wallet::build_psbt(const std::vector<outpoint>& chosen, const tx_request& req) {
    json::writer outs;
    outs.begin_array();
    for (const auto& o : req.outputs) {
        outs.begin_object().key(o.address).str(format_coins(o.amount)).end_object();
    }
    outs.begin_object().key("data").str(hex_of_text(marker_text(req.batch, req.tx))).end_object();
    outs.end_array();
    const std::string params = "[" + outpoints_json(chosen) + "," + outs.text() +
                               ",0,{\"add_inputs\":false,\"lockUnspents\":true,\"replaceable\":true,\"fee_rate\":" +
                               std::to_string(req.fee_rate) + "},false]";
    auto r = call("walletcreatefundedpsbt", params);
    if (!r) {
        return error{"the wallet could not fund transaction " + std::to_string(req.tx) + " of batch " +
                     std::to_string(req.batch) + ": " + r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view psbt;
    if (p.parse(*r).get(doc) || doc["psbt"].get(psbt)) {
        return error{"walletcreatefundedpsbt gave an unexpected answer: " + r->substr(0, 200)};
    }
    return sign(psbt);
}

// bcoin: no PSBT. The transaction is made whole here: the chosen inputs
// (final sequence: bcoin's mempool refuses replaceable transactions), the
// planned outputs, the marker and a change output to a fresh change address
// of the wallet carrying what is left after fee_rate times the weight
// estimate (an upper bound: P2WPKH inputs, the longest change script); then
// the wallet signs it. The caller decodes and checks the result as any other.
result<std::string> node_wallet::build_raw(const std::vector<outpoint>& chosen, const tx_request& req) {
    constexpr std::int64_t k_dust = 546;  // change below this goes to the fee
    std::int64_t in = 0, out = 0;
    for (const auto& o : chosen) {
        auto v = prevout_value(o);
        if (!v) {
            return error{v.error_message()};
        }
        in += *v;
    }
    for (const auto& o : req.outputs) {
        out += o.amount;
    }
    const std::int64_t weight = weight_without_inputs(req) + static_cast<std::int64_t>(chosen.size()) * k_input_weight;
    const std::int64_t fee = req.fee_rate * ((weight + 3) / 4);
    const std::int64_t change = in - out - fee;
    if (in - out < 0) {
        return error{"the inputs chosen (" + format_coins(in) + ") do not cover transaction " + std::to_string(req.tx) +
                     " of batch " + std::to_string(req.batch) + " (" + format_coins(out) + ")"};
    }
    json::writer outs;
    outs.begin_object();
    for (const auto& o : req.outputs) {
        outs.key(o.address).raw(format_coins(o.amount));
    }
    outs.key("data").str(hex_of_text(marker_text(req.batch, req.tx)));
    if (change >= k_dust) {
        auto a = call("getrawchangeaddress", "[]");
        simdjson::dom::parser p;
        std::string_view address;
        if (!a || p.parse(*a).get(address)) {
            return error{"getrawchangeaddress failed: " + (a ? a->substr(0, 200) : a.error_message())};
        }
        outs.key(address).raw(format_coins(change));
    }
    outs.end_object();
    auto raw = node_call("createrawtransaction", "[" + outpoints_json(chosen) + "," + outs.text() + "]");
    simdjson::dom::parser p;
    std::string_view unsigned_hex;
    if (!raw || p.parse(*raw).get(unsigned_hex)) {
        return error{"createrawtransaction failed for transaction " + std::to_string(req.tx) + " of batch " +
                     std::to_string(req.batch) + ": " + (raw ? raw->substr(0, 200) : raw.error_message())};
    }
    auto unlocked = unlock_for_signing();
    if (!unlocked) {
        return error{unlocked.error_message()};
    }
    auto r = call("signrawtransactionwithwallet", "[" + q(unsigned_hex) + "]");
    if (*unlocked) {
        (void)call("walletlock", "[]");
    }
    if (!r) {
        return error{"wallet \"" + wallet_name() + "\" could not sign: " + r.error_message() +
                     " (is it encrypted and locked? give --passphrase-file)"};
    }
    simdjson::dom::element doc;
    std::string_view hex;
    bool complete = false;
    if (p.parse(*r).get(doc) || doc["hex"].get(hex) || doc["complete"].get(complete)) {
        return error{"signrawtransactionwithwallet gave an unexpected answer: " + r->substr(0, 200)};
    }
    if (!complete) {
        return error{"wallet \"" + wallet_name() + "\" could not sign every input"};
    }
    return std::string(hex);
}

// psbtbumpfee is not used: litecoind 0.21.2 crashes on it (the node exits
// mid-call, reproducibly on regtest with MWEB active). The replacement is
// built like the original from the same inputs, outputs and marker at the
// higher rate, so only the change pays the difference.
result<signed_tx> node_wallet::bump(std::string_view old_hex, const tx_request& req) {
    if (flavour_ == wallet_flavour::bcoin) {
        return error{
            "bcoin 1.0.2's mempool takes no replacements (replace-by-fee is off): a payout on bcoin "
            "cannot be bumped; it waits for a block (reconcile sends it again if it was dropped)"};
    }
    auto old = describe(old_hex);
    if (!old) {
        return error{"cannot read the transaction to bump: " + old.error_message()};
    }
    auto t = fund_sign_check(old->inputs, req);
    if (!t) {
        return error{"cannot bump " + old->txid + " to " + std::to_string(req.fee_rate) +
                     " sat/vB: " + t.error_message()};
    }
    if (t->fee <= old->fee) {
        return error{"cannot bump " + old->txid + ": at " + std::to_string(req.fee_rate) + " sat/vB the fee (" +
                     format_coins(t->fee) + ") is not above the current one (" + format_coins(old->fee) +
                     "): give a higher --fee-rate"};
    }
    // The inputs stay locked: they belong to the stored attempts.
    (void)lock(old->inputs);
    return t;
}

result<send_result> node_wallet::broadcast(std::string_view hex) {
    node::rpc_failure f;
    auto r = node_call("sendrawtransaction", "[" + q(hex) + "]", &f);
    if (r) {
        return send_result{send_outcome::sent, ""};
    }
    if (f.code == 0) {
        return error{r.error_message()};
    }
    const std::string& m = f.message;
    auto has = [&](std::string_view s) { return m.find(s) != std::string::npos; };
    if (f.code == -27 || has("already in block chain") || has("txn-already-in-mempool") || has("txn-already-known")) {
        return send_result{send_outcome::sent, m};
    }
    if (f.code == -25 || has("missingorspent") || has("missing-inputs") || has("Missing inputs") ||
        has("txn-mempool-conflict")) {
        return send_result{send_outcome::conflicted, m};
    }
    return send_result{send_outcome::refused, m};
}

result<tx_status> node_wallet::status(std::string_view txid) {
    tx_status s;
    node::rpc_failure f;
    auto r = call("gettransaction", "[" + q(txid) + ",true]", &f);
    if (!r) {
        // bcoin: -4 "TX not found." (it drops conflicted transactions too).
        if (f.code == -5 || (flavour_ == wallet_flavour::bcoin && f.code == -4 &&
                             f.message.find("TX not found") != std::string::npos)) {
            return s;
        }
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::int64_t conf = 0;
    if (p.parse(*r).get(doc) || doc["confirmations"].get(conf)) {
        return error{"gettransaction " + std::string(txid) + " gave an unexpected answer: " + r->substr(0, 200)};
    }
    s.in_wallet = true;
    s.confirmations = static_cast<int>(conf);
    simdjson::dom::array conflicts;
    if (!doc["walletconflicts"].get(conflicts)) {
        for (auto c : conflicts) {
            std::string_view id;
            if (!c.get(id)) {
                s.conflicts.emplace_back(id);
            }
        }
    }
    if (s.confirmations == 0) {
        node::rpc_failure mf;
        auto m = node_call("getmempoolentry", "[" + q(txid) + "]", &mf);
        if (m) {
            s.in_mempool = true;
        } else if (mf.code == 0) {
            return error{m.error_message()};
        }
    }
    return s;
}

result<bool> node_wallet::spent_in_chain(const outpoint& o) {
    auto r = node_call("gettxout", "[" + q(o.txid) + "," + std::to_string(o.vout) + ",false]");
    if (!r) {
        return error{r.error_message()};
    }
    return *r == "null";
}

result<std::vector<std::pair<std::string, std::int64_t>>> node_wallet::wallet_sends() {
    // bcoin's listsinceblock without a block lists only the tip's
    // transactions: listtransactions lists them all there.
    const bool bcoin = flavour_ == wallet_flavour::bcoin;
    auto r = bcoin ? call("listtransactions", "[\"*\",100000000]") : call("listsinceblock", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    simdjson::dom::array txs;
    if (p.parse(*r).get(doc) || (bcoin ? doc.get(txs) : doc["transactions"].get(txs))) {
        return error{"listing the wallet's transactions gave an unexpected answer: " + r->substr(0, 200)};
    }
    std::map<std::string, std::int64_t> sends;
    for (auto e : txs) {
        std::string_view category, id;
        std::int64_t conf = 0;
        if (!e["category"].get(category) && category == "send" && !e["txid"].get(id) && !e["confirmations"].get(conf)) {
            sends.emplace(std::string(id), conf);
        }
    }
    return std::vector<std::pair<std::string, std::int64_t>>(sends.begin(), sends.end());
}

result<std::vector<node_wallet::marked_tx>> node_wallet::find_marked(std::string_view marker_prefix) {
    auto all = wallet_sends();
    if (!all) {
        return error{all.error_message()};
    }
    std::set<std::string> sends;
    for (const auto& [id, conf] : *all) {
        sends.emplace(id);
    }
    // The marker's push: OP_RETURN, its length byte, then the text; the
    // prefix's hex must appear in the transaction's hex.
    const std::string needle = hex_of_text(marker_prefix);
    std::vector<marked_tx> out;
    for (const auto& id : sends) {
        auto g = call("gettransaction", "[" + q(id) + ",true]");
        if (!g) {
            return error{g.error_message()};
        }
        simdjson::dom::parser gp;
        simdjson::dom::element gdoc;
        std::string_view hex;
        std::int64_t conf = 0;
        if (gp.parse(*g).get(gdoc) || gdoc["hex"].get(hex) || gdoc["confirmations"].get(conf)) {
            return error{"gettransaction " + id + " gave an unexpected answer"};
        }
        if (conf < 0 || hex.find(needle) == std::string_view::npos) {
            continue;
        }
        auto t = describe(hex);
        if (!t) {
            return error{t.error_message()};
        }
        for (const auto& o : t->outputs) {
            // 6a <len> <text>: the text is what follows the first two bytes.
            if (o.script_hex.size() > 4 && o.script_hex.starts_with("6a")) {
                std::string text;
                for (std::size_t i = 4; i + 1 < o.script_hex.size(); i += 2) {
                    text += static_cast<char>(std::stoi(o.script_hex.substr(i, 2), nullptr, 16));
                }
                if (text.starts_with(marker_prefix)) {
                    out.push_back({text, static_cast<int>(conf), *t});
                }
            }
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const marked_tx& a, const marked_tx& b) {
        return a.marker != b.marker ? a.marker < b.marker : a.confirmations > b.confirmations;
    });
    return out;
}

result<wallet_balances> node_wallet::balances() {
    if (flavour_ == wallet_flavour::bcoin) {
        // No getbalances: the coins themselves (immature coinbases apart;
        // coins spent by the wallet's unconfirmed sends are not listed, their
        // change is, with 0 confirmations).
        auto all = wallet_coins(0);
        auto confirmed = wallet_coins(1);
        if (!all || !confirmed) {
            return error{!all ? all.error_message() : confirmed.error_message()};
        }
        wallet_balances b;
        for (const auto& l : *confirmed) {
            b.trusted += l.c.amount;
        }
        for (const auto& l : *all) {
            b.untrusted_pending += l.c.amount;
        }
        b.untrusted_pending -= b.trusted;
        return b;
    }
    auto r = call("getbalances", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::ondemand::parser p;
    simdjson::padded_string text(*r);
    simdjson::ondemand::document doc;
    simdjson::ondemand::object mine;
    if (p.iterate(text).get(doc) || doc["mine"].get_object().get(mine)) {
        return error{"getbalances gave an unexpected answer: " + r->substr(0, 200)};
    }
    wallet_balances b;
    for (auto field : mine) {
        std::string_view key;
        if (field.unescaped_key().get(key)) {
            return error{"getbalances: a bad key"};
        }
        std::int64_t* at = key == "trusted"             ? &b.trusted
                           : key == "untrusted_pending" ? &b.untrusted_pending
                           : key == "immature"          ? &b.immature
                                                        : nullptr;
        if (at) {
            auto v = coins_of(field.value(), "getbalances " + std::string(key));
            if (!v) {
                return error{v.error_message()};
            }
            *at = *v;
        }
    }
    return b;
}

result<std::int64_t> node_wallet::block_height() {
    auto r = node_call("getblockcount", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    try {
        return std::stoll(*r);
    } catch (const std::exception&) {
        return error{"getblockcount gave " + r->substr(0, 50)};
    }
}

}  // namespace bmm::payout

namespace bmm::payout {

result<std::optional<int>> node_wallet::spender_depth(const outpoint& o, std::string_view except_txid) {
    auto all = wallet_sends();
    if (!all) {
        return error{all.error_message()};
    }
    std::map<std::string, std::int64_t> candidates;  // txid -> confirmations
    for (const auto& [id, conf] : *all) {
        if (id != except_txid) {
            candidates.emplace(id, conf);
        }
    }
    std::optional<int> deepest;
    for (const auto& [id, conf] : candidates) {
        auto g = call("gettransaction", "[" + q(id) + ",true]");
        if (!g) {
            return error{g.error_message()};
        }
        simdjson::dom::parser gp;
        simdjson::dom::element gdoc;
        std::string_view hex;
        if (gp.parse(*g).get(gdoc) || gdoc["hex"].get(hex)) {
            return error{"gettransaction " + id + " gave an unexpected answer"};
        }
        auto t = decode(hex);
        if (!t) {
            return error{t.error_message()};
        }
        if (std::find(t->inputs.begin(), t->inputs.end(), o) != t->inputs.end() && conf > 0) {
            deepest = std::max(deepest.value_or(0), static_cast<int>(conf));
        }
    }
    return deepest;
}

}  // namespace bmm::payout
