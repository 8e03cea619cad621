#pragma once
// uint256: an unsigned 256-bit integer for targets, hashes read as numbers,
// and work. Exact arithmetic only; never converted through floating point
// except by the explicit, documented difficulty helpers in target.hpp.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bmm {

class uint256 {
public:
    constexpr uint256() noexcept = default;
    constexpr uint256(std::uint64_t v) noexcept : limb_{v, 0, 0, 0} {}  // NOLINT(google-explicit-constructor)

    static uint256 max() noexcept;

    // A hash's 32 bytes read as a little-endian number (Bitcoin's convention:
    // the hash meets target T when uint256::from_le_bytes(hash) <= T).
    static uint256 from_le_bytes(std::span<const unsigned char, 32> bytes) noexcept;
    std::array<unsigned char, 32> to_le_bytes() const noexcept;

    // Big-endian hex as RPCs and explorers print it, up to 64 digits, with or
    // without "0x". Nothing when the text is not hex or too long.
    static std::optional<uint256> from_hex(std::string_view hex);
    std::string to_hex() const;  // 64 digits, big-endian

    // Compact ("nbits") form. Bitcoin Core's arith_uint256::SetCompact: sets
    // *negative and *overflow as it does.
    static uint256 from_compact(std::uint32_t compact, bool* negative = nullptr, bool* overflow = nullptr) noexcept;
    std::uint32_t to_compact() const noexcept;

    std::uint64_t limb(int i) const noexcept { return limb_[i]; }
    std::uint64_t low64() const noexcept { return limb_[0]; }
    unsigned bits() const noexcept;  // position of the highest set bit plus one; 0 for zero
    bool is_zero() const noexcept { return (limb_[0] | limb_[1] | limb_[2] | limb_[3]) == 0; }

    friend bool operator==(const uint256&, const uint256&) noexcept = default;
    friend std::strong_ordering operator<=>(const uint256& a, const uint256& b) noexcept;

    uint256& operator+=(const uint256& o) noexcept;
    uint256& operator-=(const uint256& o) noexcept;
    uint256& operator*=(const uint256& o) noexcept;  // modulo 2^256
    uint256& operator/=(const uint256& o);           // throws std::domain_error on zero
    uint256& operator%=(const uint256& o);
    uint256& operator<<=(unsigned n) noexcept;
    uint256& operator>>=(unsigned n) noexcept;
    uint256 operator~() const noexcept;

    friend uint256 operator+(uint256 a, const uint256& b) noexcept { return a += b; }
    friend uint256 operator-(uint256 a, const uint256& b) noexcept { return a -= b; }
    friend uint256 operator*(uint256 a, const uint256& b) noexcept { return a *= b; }
    friend uint256 operator/(uint256 a, const uint256& b) { return a /= b; }
    friend uint256 operator%(uint256 a, const uint256& b) { return a %= b; }
    friend uint256 operator<<(uint256 a, unsigned n) noexcept { return a <<= n; }
    friend uint256 operator>>(uint256 a, unsigned n) noexcept { return a >>= n; }

    // Quotient and remainder in one pass.
    static void divmod(const uint256& num, const uint256& den, uint256& quot, uint256& rem);

    // The decimal digits, for logs and SQL numeric columns.
    std::string to_decimal() const;

private:
    std::array<std::uint64_t, 4> limb_{};  // little-endian limbs
};

}  // namespace bmm
