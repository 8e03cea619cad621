#include "bmm/hex.hpp"

#include <array>

namespace bmm {
namespace {

constexpr std::array<signed char, 256> make_table() {
    std::array<signed char, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<signed char>(i);
    for (int i = 0; i < 6; ++i) {
        t['a' + i] = static_cast<signed char>(10 + i);
        t['A' + i] = static_cast<signed char>(10 + i);
    }
    return t;
}
constexpr auto k_digit = make_table();

}  // namespace

std::string to_hex(std::span<const unsigned char> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(bytes.size() * 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        s[2 * i] = digits[bytes[i] >> 4];
        s[2 * i + 1] = digits[bytes[i] & 15];
    }
    return s;
}

std::string be32_hex(std::uint32_t v) {
    const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                                static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
    return to_hex(b);
}

bool parse_be32_hex(std::string_view hex, std::uint32_t& out) noexcept {
    unsigned char b[4];
    if (!from_hex_into(hex, b)) return false;
    out = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    return true;
}

bool is_hex(std::string_view hex) noexcept {
    if (hex.size() % 2 != 0) return false;
    for (char c : hex)
        if (k_digit[static_cast<unsigned char>(c)] < 0) return false;
    return true;
}

bool from_hex_into(std::string_view hex, std::span<unsigned char> out) {
    if (hex.size() != out.size() * 2) return false;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = k_digit[static_cast<unsigned char>(hex[2 * i])];
        const int lo = k_digit[static_cast<unsigned char>(hex[2 * i + 1])];
        if ((hi | lo) < 0) return false;
        out[i] = static_cast<unsigned char>((hi << 4) | lo);
    }
    return true;
}

std::optional<std::vector<unsigned char>> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::vector<unsigned char> out(hex.size() / 2);
    if (!from_hex_into(hex, out)) return std::nullopt;
    return out;
}

}  // namespace bmm
