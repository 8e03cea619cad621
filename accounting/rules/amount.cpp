#include "bmm/accounting/amount.hpp"

#include <vector>

namespace bmm::accounting {

amount to_amount(const uint256& v) {
    const auto bytes = v.to_le_bytes();
    amount a;
    boost::multiprecision::import_bits(a, bytes.begin(), bytes.end(), 8, false);
    return a;
}

std::string to_decimal(const amount& a) {
    // 19 decimal digits at a time (Boost's own str() trips a GCC 12 -Wrestrict
    // false positive inside libstdc++).
    if (a == 0) return "0";
    const amount chunk = amount(10000000000000000000ULL);
    amount rest = a < 0 ? amount(-a) : a;
    std::vector<std::uint64_t> groups;  // least significant first
    while (rest > 0) {
        amount q, r;
        boost::multiprecision::divide_qr(rest, chunk, q, r);
        groups.push_back(static_cast<std::uint64_t>(r));
        rest = std::move(q);
    }
    std::string s;
    if (a < 0) s += '-';
    s += std::to_string(groups.back());
    for (auto it = groups.rbegin() + 1; it != groups.rend(); ++it) {
        std::string digits = std::to_string(*it);
        s.append(19 - digits.size(), '0');
        s += digits;
    }
    return s;
}

result<amount> parse_amount(std::string_view text) {
    std::string_view digits = text;
    if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
    if (digits.empty()) {
        std::string m = "not an integer amount: \"";
        m += text;
        m += "\" (expected decimal digits, optionally after '-')";
        return error{std::move(m)};
    }
    for (char c : digits) {
        if (c < '0' || c > '9') {
            std::string m = "not an integer amount: \"";
            m += text;
            m += "\" (expected decimal digits only, no spaces, fractions or exponents)";
            return error{std::move(m)};
        }
    }
    return amount(std::string(text));
}

}  // namespace bmm::accounting
