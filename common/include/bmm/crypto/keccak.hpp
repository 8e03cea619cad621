#pragma once
// Keccak-256 as Ethereum uses it (the original Keccak padding 0x01, not
// SHA3-256's 0x06), and EIP-55 mixed-case address checksums built on it.
// OpenSSL 3.0 (Debian 12) has SHA3 but not this Keccak variant.

#include "bmm/result.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bmm::crypto {

std::array<unsigned char, 32> keccak256(std::span<const unsigned char> data) noexcept;
std::array<unsigned char, 32> keccak256(std::string_view text) noexcept;

// The EIP-55 spelling of a 20-byte address given as 40 hex digits (any case),
// with the 0x prefix. Errors when the input is not 40 hex digits.
result<std::string> eip55_checksum(std::string_view hex40);

// Checks an ERC-20 (Ethereum) address: 0x and 40 hex digits; all lower case or
// all upper case carries no checksum and is accepted, mixed case must match
// EIP-55 exactly. Returns the checksummed spelling.
result<std::string> check_eth_address(std::string_view address);

}  // namespace bmm::crypto
