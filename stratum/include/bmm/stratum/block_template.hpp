#pragma once
// A block template from the coin node's getblocktemplate, decoded.
//
// Fields follow BIP22/BIP23 and BIP145, plus Litecoin's MWEB extension: the
// template's last transaction is then the HogEx (never altered by the pool)
// and "mweb" carries the extension block, serialised after the transactions.

#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::stratum {

using hash256 = std::array<unsigned char, 32>;

struct template_tx {
    std::vector<unsigned char> data;  // serialised as the node gave it (with witness, if any)
    hash256 txid{};                   // internal byte order
};

struct block_template {
    std::int32_t version = 0;
    hash256 prevhash{};  // internal byte order
    std::uint32_t bits = 0;
    uint256 target;  // from bits
    std::int64_t height = 0;
    std::uint32_t curtime = 0;
    std::uint32_t mintime = 0;
    std::int64_t coinbase_value = 0;  // satoshis
    std::vector<template_tx> transactions;
    std::vector<unsigned char> witness_commitment;  // scriptPubKey; empty before segwit
    std::vector<unsigned char> mweb;                // Litecoin's extension block; empty when inactive
    std::string longpollid;
    std::vector<std::string> rules;

    // Decodes getblocktemplate's "result" object (JSON text). Errors name the
    // missing or malformed field.
    static result<block_template> from_json(std::string_view json);

    // The previous block hash in display (RPC) order.
    std::string prevhash_hex() const;
};

}  // namespace bmm::stratum
