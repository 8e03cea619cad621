#pragma once
// Coin addresses read locally, without a node: Base58Check (P2PKH, P2SH) and
// Bech32 / Bech32m segwit addresses (BIP 173, BIP 350), for Bitcoin and
// Litecoin on mainnet, testnet and regtest, and Litecoin's MWEB addresses
// (recognised and named, not decoded into a script: they have none).
//
// Why: a name that might be an address used to cost a node round trip each
// (validateaddress). Checking the syntax and checksum here first means random
// names never reach the node; the node still has the last word on the ones
// that pass (bmm-accountd asks it before binding anything).

#include "bmm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::crypto {

// One chain's address parameters.
struct address_network {
    std::string_view coin;  // "BTC", "LTC"
    std::string_view name;  // "main", "test", "regtest", "regtest-bcoin"
    std::vector<std::uint8_t> p2pkh_versions;
    std::vector<std::uint8_t> p2sh_versions;
    std::string_view bech32_hrp;  // "bc", "ltc", "rltc", ...
    std::string_view mweb_hrp;    // "ltcmweb", "tmweb"; empty for coins without MWEB
};

// The networks known here, in a fixed order (BTC main, test, regtest, bcoin's
// regtest; LTC main, test, regtest).
const std::vector<address_network>& known_address_networks();
// The networks of one coin ("LTC", "BTC"; case-insensitive); empty for another coin.
std::vector<const address_network*> address_networks_of(std::string_view coin);

enum class address_kind {
    p2pkh,
    p2sh,
    witness_v0_keyhash,
    witness_v0_scripthash,
    witness_v1_taproot,
    witness_unknown,
    mweb
};
std::string_view to_string(address_kind k) noexcept;

struct decoded_address {
    const address_network* network = nullptr;
    address_kind kind = address_kind::p2pkh;
    std::vector<std::uint8_t> script_pubkey;  // empty for mweb
};

// Decodes `text` as an address of `network`; the error says what is wrong
// (bad character, checksum, version, length, witness version, ...).
result<decoded_address> decode_address(std::string_view text, const address_network& network);
// Decodes `text` as an address of any of the networks of `coin`.
result<decoded_address> decode_address_of(std::string_view text, std::string_view coin);

// The Base58Check payload (version byte(s) + data), checksum verified.
result<std::vector<std::uint8_t>> base58check_decode(std::string_view text);
std::string base58check_encode(const std::vector<std::uint8_t>& payload);

enum class bech32_variant { bech32, bech32m };
struct bech32_data {
    std::string hrp;                 // lower case
    std::vector<std::uint8_t> data;  // 5-bit groups, checksum removed
    bech32_variant variant = bech32_variant::bech32;
};
// Decodes any Bech32/Bech32m string; max_length 90 for segwit (BIP 173), more for MWEB.
result<bech32_data> bech32_decode(std::string_view text, std::size_t max_length = 90);
std::string bech32_encode(std::string_view hrp, const std::vector<std::uint8_t>& data5, bech32_variant v);
// Regroups bits (8 -> 5 or 5 -> 8); nothing on invalid padding.
std::optional<std::vector<std::uint8_t>> convert_bits(const std::vector<std::uint8_t>& in, int from, int to, bool pad);

}  // namespace bmm::crypto
