#pragma once
// Ethereum message signatures (EIP-191 personal_sign) on secp256k1, through
// Debian's libsecp256k1 and its recovery module: the hash a wallet signs, the
// address a signature recovers to (EIP-55 spelling), and signing with a key
// (for tests and tools; the pool itself never holds an Ethereum key).

#include "bmm/result.hpp"

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace bmm::crypto {

// keccak256("\x19Ethereum Signed Message:\n" + decimal length + message): what
// personal_sign signs for the UTF-8 text `message`.
std::array<unsigned char, 32> eip191_hash(std::string_view message) noexcept;

// The EIP-55 address whose key made `signature` over `message` by
// personal_sign. `signature`: 65 bytes r || s || v as 130 hex digits with or
// without 0x, v 27/28 (or 0/1). Errors say what is malformed.
result<std::string> recover_personal_sign(std::string_view message, std::string_view signature);

// The EIP-55 address of a 32-byte private key; an error for an invalid key.
result<std::string> eth_address_of_key(std::span<const unsigned char, 32> key);

// personal_sign(message) with `key`: 0x + 130 hex digits, v 27/28 (RFC 6979
// nonces: the same key and message always give the same signature).
result<std::string> personal_sign(std::span<const unsigned char, 32> key, std::string_view message);

}  // namespace bmm::crypto
