#include "bmm/uint256.hpp"

#include <algorithm>
#include <stdexcept>

namespace bmm {

__extension__ using u128 = unsigned __int128;

uint256 uint256::max() noexcept {
    uint256 r;
    r.limb_ = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
    return r;
}

uint256 uint256::from_le_bytes(std::span<const unsigned char, 32> b) noexcept {
    uint256 r;
    for (int i = 0; i < 4; ++i) {
        std::uint64_t v = 0;
        for (int j = 7; j >= 0; --j) v = (v << 8) | b[8 * i + j];
        r.limb_[i] = v;
    }
    return r;
}

std::array<unsigned char, 32> uint256::to_le_bytes() const noexcept {
    std::array<unsigned char, 32> b{};
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 8; ++j) b[8 * i + j] = static_cast<unsigned char>(limb_[i] >> (8 * j));
    return b;
}

std::optional<uint256> uint256::from_hex(std::string_view hex) {
    if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
    if (hex.empty() || hex.size() > 64) return std::nullopt;
    uint256 r;
    for (char c : hex) {
        unsigned d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::nullopt;
        r <<= 4;
        r.limb_[0] |= d;
    }
    return r;
}

std::string uint256::to_hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(64, '0');
    for (int i = 0; i < 64; ++i) {
        const int nibble = 63 - i;
        s[i] = digits[(limb_[nibble / 16] >> (4 * (nibble % 16))) & 15];
    }
    return s;
}

uint256 uint256::from_compact(std::uint32_t compact, bool* negative, bool* overflow) noexcept {
    const unsigned size = compact >> 24;
    std::uint32_t word = compact & 0x007fffff;
    uint256 r;
    if (size <= 3) {
        word >>= 8 * (3 - size);
        r = uint256(word);
    } else {
        r = uint256(word);
        r <<= 8 * (size - 3);
    }
    if (negative) *negative = word != 0 && (compact & 0x00800000) != 0;
    if (overflow) *overflow = word != 0 && ((size > 34) || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    return r;
}

std::uint32_t uint256::to_compact() const noexcept {
    unsigned size = (bits() + 7) / 8;
    std::uint64_t compact;
    if (size <= 3) {
        compact = low64() << (8 * (3 - size));
    } else {
        compact = (*this >> (8 * (size - 3))).low64();
    }
    if (compact & 0x00800000) {
        compact >>= 8;
        ++size;
    }
    return static_cast<std::uint32_t>(compact | (static_cast<std::uint64_t>(size) << 24));
}

unsigned uint256::bits() const noexcept {
    for (int i = 3; i >= 0; --i)
        if (limb_[i]) return 64 * i + 64 - static_cast<unsigned>(__builtin_clzll(limb_[i]));
    return 0;
}

std::strong_ordering operator<=>(const uint256& a, const uint256& b) noexcept {
    for (int i = 3; i >= 0; --i)
        if (a.limb_[i] != b.limb_[i]) return a.limb_[i] <=> b.limb_[i];
    return std::strong_ordering::equal;
}

uint256& uint256::operator+=(const uint256& o) noexcept {
    u128 carry = 0;
    for (int i = 0; i < 4; ++i) {
        carry += static_cast<u128>(limb_[i]) + o.limb_[i];
        limb_[i] = static_cast<std::uint64_t>(carry);
        carry >>= 64;
    }
    return *this;
}

uint256& uint256::operator-=(const uint256& o) noexcept {
    std::uint64_t borrow = 0;
    for (int i = 0; i < 4; ++i) {
        const u128 d = static_cast<u128>(limb_[i]) - o.limb_[i] - borrow;
        limb_[i] = static_cast<std::uint64_t>(d);
        borrow = (d >> 64) ? 1 : 0;
    }
    return *this;
}

uint256& uint256::operator*=(const uint256& o) noexcept {
    std::array<std::uint64_t, 4> r{};
    for (int i = 0; i < 4; ++i) {
        u128 carry = 0;
        for (int j = 0; i + j < 4; ++j) {
            carry += static_cast<u128>(limb_[i]) * o.limb_[j] + r[i + j];
            r[i + j] = static_cast<std::uint64_t>(carry);
            carry >>= 64;
        }
    }
    limb_ = r;
    return *this;
}

uint256& uint256::operator<<=(unsigned n) noexcept {
    if (n >= 256) return *this = uint256();
    const unsigned w = n / 64, b = n % 64;
    std::array<std::uint64_t, 4> r{};
    for (int i = 3; i >= static_cast<int>(w); --i) {
        r[i] = limb_[i - w] << b;
        if (b && i - static_cast<int>(w) - 1 >= 0) r[i] |= limb_[i - w - 1] >> (64 - b);
    }
    limb_ = r;
    return *this;
}

uint256& uint256::operator>>=(unsigned n) noexcept {
    if (n >= 256) return *this = uint256();
    const unsigned w = n / 64, b = n % 64;
    std::array<std::uint64_t, 4> r{};
    for (unsigned i = 0; i + w < 4; ++i) {
        r[i] = limb_[i + w] >> b;
        if (b && i + w + 1 < 4) r[i] |= limb_[i + w + 1] << (64 - b);
    }
    limb_ = r;
    return *this;
}

uint256 uint256::operator~() const noexcept {
    uint256 r;
    for (int i = 0; i < 4; ++i) r.limb_[i] = ~limb_[i];
    return r;
}

void uint256::divmod(const uint256& num, const uint256& den, uint256& quot, uint256& rem) {
    if (den.is_zero()) throw std::domain_error("uint256 division by zero");
    if (den.bits() <= 64) {
        // Short division, limb by limb.
        const std::uint64_t d = den.limb_[0];
        uint256 q;
        u128 r = 0;
        for (int i = 3; i >= 0; --i) {
            r = (r << 64) | num.limb_[i];
            q.limb_[i] = static_cast<std::uint64_t>(r / d);
            r %= d;
        }
        quot = q;
        rem = uint256(static_cast<std::uint64_t>(r));
        return;
    }
    // Binary long division: den has more than 64 bits, so the quotient is
    // short and the loop runs at most 192 times.
    uint256 q, r = num, d = den;
    const int shift = static_cast<int>(num.bits()) - static_cast<int>(den.bits());
    if (shift < 0) {
        quot = uint256();
        rem = num;
        return;
    }
    d <<= static_cast<unsigned>(shift);
    for (int s = shift; s >= 0; --s) {
        if (r >= d) {
            r -= d;
            q.limb_[s / 64] |= 1ULL << (s % 64);
        }
        d >>= 1;
    }
    quot = q;
    rem = r;
}

uint256& uint256::operator/=(const uint256& o) {
    uint256 q, r;
    divmod(*this, o, q, r);
    return *this = q;
}

uint256& uint256::operator%=(const uint256& o) {
    uint256 q, r;
    divmod(*this, o, q, r);
    return *this = r;
}

std::string uint256::to_decimal() const {
    if (is_zero()) return "0";
    std::string s;
    uint256 v = *this, q, r;
    const uint256 ten19(10000000000000000000ULL);
    while (!v.is_zero()) {
        divmod(v, ten19, q, r);
        std::string chunk = std::to_string(r.low64());
        if (!q.is_zero()) chunk.insert(0, 19 - chunk.size(), '0');
        s.insert(0, chunk);
        v = q;
    }
    return s;
}

}  // namespace bmm
