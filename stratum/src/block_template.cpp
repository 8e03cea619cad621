#include "bmm/stratum/block_template.hpp"

#include "bmm/hex.hpp"
#include "bmm/target.hpp"

#include <simdjson.h>

#include <algorithm>
#include <limits>

namespace bmm::stratum {
namespace {

// Display-order hex (as RPCs print hashes) into internal byte order.
bool parse_display_hash(std::string_view hex, hash256& out) {
    if (!from_hex_into(hex, out)) return false;
    std::reverse(out.begin(), out.end());
    return true;
}

}  // namespace

result<block_template> block_template::from_json(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(json.data(), json.size()).get(doc))
        return error{std::string("getblocktemplate reply is not JSON: ") + simdjson::error_message(err)};
    block_template t;
    auto field_error = [](const char* name, const char* what) {
        return error{std::string("getblocktemplate field '") + name + "' " + what};
    };

    // Every number is checked against the type it goes into: a value that
    // does not fit is an error, never silently wrapped (found by fuzzing).
    std::int64_t i64 = 0;
    std::string_view sv;
    if (doc["version"].get(i64) || i64 < std::numeric_limits<std::int32_t>::min() ||
        i64 > std::numeric_limits<std::int32_t>::max())
        return field_error("version", "is missing or not a 32-bit signed integer");
    t.version = static_cast<std::int32_t>(i64);
    if (doc["previousblockhash"].get(sv) || !parse_display_hash(sv, t.prevhash))
        return field_error("previousblockhash", "is missing or not 64 hex digits");
    if (doc["bits"].get(sv)) return field_error("bits", "is missing");
    {
        unsigned char b[4];
        if (!from_hex_into(sv, b)) return field_error("bits", "is not 8 hex digits");
        t.bits = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
        auto target = target_from_nbits(t.bits);
        if (!target) return field_error("bits", target.error_message().c_str());
        t.target = *target;
    }
    // Block heights are 32-bit signed in the node (and the lock time is height - 1).
    if (doc["height"].get(t.height) || t.height < 0 || t.height > std::numeric_limits<std::int32_t>::max())
        return field_error("height", "is missing, negative or above 2^31 - 1");
    if (doc["curtime"].get(i64) || i64 < 0 || i64 > std::numeric_limits<std::uint32_t>::max())
        return field_error("curtime", "is missing or not a 32-bit unsigned integer");
    t.curtime = static_cast<std::uint32_t>(i64);
    simdjson::dom::element mintime;
    if (doc["mintime"].get(mintime) == simdjson::SUCCESS) {  // optional (BIP23)
        if (mintime.get(i64) || i64 < 0 || i64 > std::numeric_limits<std::uint32_t>::max())
            return field_error("mintime", "is not a 32-bit unsigned integer");
        t.mintime = static_cast<std::uint32_t>(i64);
    }
    if (doc["coinbasevalue"].get(t.coinbase_value) || t.coinbase_value < 0)
        return field_error("coinbasevalue", "is missing or negative");

    simdjson::dom::array txs;
    if (doc["transactions"].get(txs)) return field_error("transactions", "is missing or not an array");
    std::size_t index = 0;
    for (simdjson::dom::element tx : txs) {
        template_tx out;
        std::string_view data, txid;
        if (tx["data"].get(data) || tx["txid"].get(txid))
            return field_error("transactions", ("entry " + std::to_string(index) + " lacks data or txid").c_str());
        auto bytes = from_hex(data);
        if (!bytes || !parse_display_hash(txid, out.txid))
            return field_error("transactions", ("entry " + std::to_string(index) + " has bad hex").c_str());
        out.data = std::move(*bytes);
        t.transactions.push_back(std::move(out));
        ++index;
    }
    if (doc["default_witness_commitment"].get(sv) == simdjson::SUCCESS) {
        auto c = from_hex(sv);
        if (!c) return field_error("default_witness_commitment", "is not hex");
        t.witness_commitment = std::move(*c);
    }
    if (doc["mweb"].get(sv) == simdjson::SUCCESS) {
        auto m = from_hex(sv);
        if (!m) return field_error("mweb", "is not hex");
        t.mweb = std::move(*m);
    }
    if (doc["longpollid"].get(sv) == simdjson::SUCCESS) t.longpollid = std::string(sv);
    simdjson::dom::array rules;
    if (doc["rules"].get(rules) == simdjson::SUCCESS)
        for (simdjson::dom::element r : rules)
            if (r.get(sv) == simdjson::SUCCESS) t.rules.emplace_back(sv);
    return t;
}

std::string block_template::prevhash_hex() const {
    hash256 display = prevhash;
    std::reverse(display.begin(), display.end());
    return to_hex(display);
}

}  // namespace bmm::stratum
