#pragma once
// Properties of a decoded block template, shared by fuzz_block_template and
// fuzz_rpc_reply: every field holds exactly what the JSON said (nothing
// truncated or wrapped on the way), and the pool's coinbase built from it is
// well formed.

#include "fuzz_check.hpp"

#include "bmm/hex.hpp"
#include "bmm/stratum/block_template.hpp"
#include "bmm/stratum/coinbase.hpp"
#include "bmm/target.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace bmm::fuzz {

// Reads a JSON integer, whichever of int64 or uint64 it fits.
inline bool json_int(simdjson::dom::element doc, const char* key, std::int64_t& out) {
    return doc[key].get(out) == simdjson::SUCCESS;
}

inline void check_template(std::string_view json) {
    using namespace bmm::stratum;
    auto t = block_template::from_json(json);
    if (!t) {
        check(is_one_clean_line(t.error_message()), "a template error is a clean line", t.error_message());
        return;
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    check(p.parse(json.data(), json.size()).get(doc) == simdjson::SUCCESS, "a decoded template is JSON");

    std::int64_t v = 0;
    check(json_int(doc, "version", v) && v == t->version, "version is the template's, unwrapped", json);
    check(json_int(doc, "height", v) && v == t->height, "height is the template's", json);
    check(json_int(doc, "curtime", v) && v == static_cast<std::int64_t>(t->curtime),
          "curtime is the template's, unwrapped", json);
    if (json_int(doc, "mintime", v))
        check(v == static_cast<std::int64_t>(t->mintime), "mintime is the template's, unwrapped", json);
    check(json_int(doc, "coinbasevalue", v) && v == t->coinbase_value, "coinbasevalue is the template's", json);
    std::string_view s;
    check(doc["previousblockhash"].get(s) == simdjson::SUCCESS && t->prevhash_hex() == lower(s),
          "previousblockhash round-trips", json);
    check(doc["bits"].get(s) == simdjson::SUCCESS && be32_hex(t->bits) == lower(s), "bits round-trip", json);
    auto target = target_from_nbits(t->bits);
    check(target && *target == t->target, "the target is the one bits encode", json);
    simdjson::dom::array txs;
    check(doc["transactions"].get(txs) == simdjson::SUCCESS && txs.size() == t->transactions.size(),
          "every transaction is kept", json);
    std::size_t i = 0;
    for (simdjson::dom::element tx : txs) {
        check(tx["data"].get(s) == simdjson::SUCCESS && to_hex(t->transactions[i].data) == lower(s),
              "transaction data round-trips", json);
        ++i;
    }

    // The pool's coinbase as bmm-stratum builds it (4 + 4 bytes of extranonce).
    coinbase_params cp;
    cp.payout_script = {0x00, 0x14};
    cp.payout_script.resize(22, 0xab);
    cp.pool_tag = "/BMM pool/";
    auto cb = build_coinbase(*t, cp);
    if (!cb) {
        check(is_one_clean_line(cb.error_message()), "a coinbase error is a clean line", cb.error_message());
        return;
    }
    std::vector<unsigned char> tx = cb->coinb1;
    tx.insert(tx.end(), cp.extranonce1_size + cp.extranonce2_size, 0x5a);
    tx.insert(tx.end(), cb->coinb2.begin(), cb->coinb2.end());
    // version(4) in(1) prevout(36) scriptSig length(1) scriptSig.
    check(tx.size() > 42, "a coinbase has an input");
    const std::size_t script_sig = tx[41];
    check(script_sig >= 2 && script_sig <= k_max_script_sig, "the scriptSig is 2..100 bytes");
    const std::uint32_t lock =
        static_cast<std::uint32_t>(tx[tx.size() - 4]) | static_cast<std::uint32_t>(tx[tx.size() - 3]) << 8 |
        static_cast<std::uint32_t>(tx[tx.size() - 2]) << 16 | static_cast<std::uint32_t>(tx[tx.size() - 1]) << 24;
    check(static_cast<std::int64_t>(lock) == (t->height > 0 ? t->height - 1 : 0), "lock time is height - 1", json);
    check(cb->has_witness == !t->witness_commitment.empty(), "a witness commitment gives the coinbase a witness");
    const auto witness = with_coinbase_witness(tx);
    check(witness.size() == tx.size() + 36, "the coinbase witness adds 36 bytes");
}

}  // namespace bmm::fuzz
