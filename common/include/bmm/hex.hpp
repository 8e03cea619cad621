#pragma once
// Hexadecimal encoding and decoding of byte strings.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bmm {

// Lower-case hex of the bytes, in order.
std::string to_hex(std::span<const unsigned char> bytes);

// Decodes hex (either case, even length, no prefix or spaces). Returns nothing
// when the text is not exactly that.
std::optional<std::vector<unsigned char>> from_hex(std::string_view hex);

// Decodes exactly out.size() bytes into out. Returns false, leaving out in an
// unspecified state, when hex is not 2 * out.size() hex digits.
bool from_hex_into(std::string_view hex, std::span<unsigned char> out);

// A 32-bit number as 8 lower-case hex digits, most significant first: how
// Stratum writes version, nbits, ntime and nonce.
std::string be32_hex(std::uint32_t v);

// Parses exactly 8 hex digits as a big-endian 32-bit number.
bool parse_be32_hex(std::string_view hex, std::uint32_t& out) noexcept;

// True when every character is a hex digit and the length is even.
bool is_hex(std::string_view hex) noexcept;

}  // namespace bmm
