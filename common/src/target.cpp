#include "bmm/target.hpp"

#include <cmath>
#include <string>

namespace bmm {

std::string_view to_string(pow_algorithm a) noexcept { return a == pow_algorithm::sha256d ? "sha256d" : "scrypt"; }

result<pow_algorithm> parse_pow_algorithm(std::string_view name) {
    if (name == "sha256d") return pow_algorithm::sha256d;
    if (name == "scrypt") return pow_algorithm::scrypt;
    return error{"unknown proof-of-work algorithm '" + std::string(name) + "' (expected sha256d or scrypt)"};
}

uint256 diff1_target(pow_algorithm a) noexcept {
    return uint256(0xFFFF) << (a == pow_algorithm::sha256d ? 208u : 224u);
}

result<uint256> target_from_difficulty(double difficulty, pow_algorithm a) {
    if (!std::isfinite(difficulty) || !(difficulty > 0))
        return error{"difficulty must be a finite number greater than zero, got " + std::to_string(difficulty)};
    // difficulty = m * 2^e exactly, with m a 53-bit integer.
    int e = 0;
    const double frac = std::frexp(difficulty, &e);  // difficulty = frac * 2^e, frac in [0.5, 1)
    const auto m = static_cast<std::uint64_t>(std::ldexp(frac, 53));
    e -= 53;
    // target = diff1 / (m * 2^e) = (diff1 * 2^-e) / m.
    const uint256 d1 = diff1_target(a);
    if (e >= 0) {
        // An integer divisor; past 256 bits it exceeds diff1 and the quotient is 0.
        if (64 - __builtin_clzll(m) + e > 256) return uint256(0);
        return d1 / (uint256(m) << static_cast<unsigned>(e));
    }
    // Shift diff1 left by -e; if that overflows 256 bits, the quotient may
    // still fit: compute with the headroom diff1 has (it uses 224 or 240 bits).
    const unsigned up = static_cast<unsigned>(-e);
    const unsigned headroom = 256 - d1.bits();
    if (up <= headroom) return (d1 << up) / uint256(m);
    // Quotient = (d1 << up) / m. d1 << up exceeds 256 bits: if m < 2^(up - headroom)
    // the result overflows; otherwise divide first by 2^(up-headroom) in m's place.
    const unsigned extra = up - headroom;
    if (extra >= 64 || (m >> extra) == 0) return uint256::max();
    // floor((d1 << headroom << extra) / m) = floor((d1 << headroom) / (m / 2^extra)) only when
    // m is divisible by 2^extra; in general use long division on 320 bits, done
    // here as two steps of 256-by-64 division.
    const uint256 n = d1 << headroom;  // fits in 256 bits
    uint256 q, r;
    uint256::divmod(n, uint256(m), q, r);
    // (n * 2^extra) / m = q * 2^extra + (r * 2^extra) / m, with r < m < 2^64 so r * 2^extra < 2^128.
    if (q.bits() + extra > 256) return uint256::max();
    return (q << extra) + (r << extra) / uint256(m);
}

double difficulty_from_target(const uint256& target, pow_algorithm a) noexcept {
    auto to_double = [](const uint256& v) {
        double d = 0;
        for (int i = 3; i >= 0; --i) d = d * 18446744073709551616.0 + static_cast<double>(v.limb(i));
        return d;
    };
    if (target.is_zero()) return INFINITY;
    return to_double(diff1_target(a)) / to_double(target);
}

result<uint256> target_from_nbits(std::uint32_t nbits) {
    bool negative = false, overflow = false;
    const uint256 t = uint256::from_compact(nbits, &negative, &overflow);
    if (negative) return error{"nbits encodes a negative target"};
    if (overflow) return error{"nbits encodes a target above 2^256"};
    if (t.is_zero()) return error{"nbits encodes a zero target"};
    return t;
}

uint256 work_from_target(const uint256& target) noexcept {
    // 2^256 / (T + 1) = ~T / (T + 1) + 1, computed without a 257-bit number.
    if (target == uint256::max()) return uint256(1);
    if (target.is_zero()) return uint256::max();  // 2^256 does not fit: saturate
    return (~target) / (target + uint256(1)) + uint256(1);
}

}  // namespace bmm
