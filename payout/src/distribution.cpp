#include "bmm/payout/distribution.hpp"

#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"
#include "bmm/json/writer.hpp"

#include <span>

namespace bmm::payout {

std::string token_amount(const amount& base_units) {
    constexpr std::size_t k_decimals = 18;
    std::string digits = accounting::to_decimal(base_units < 0 ? amount(-base_units) : base_units);
    if (digits.size() <= k_decimals) {
        digits.insert(0, k_decimals + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - k_decimals, 1, '.');
    return base_units < 0 ? "-" + digits : digits;
}

std::string distribution_text(const batch& b, distribution_format format) {
    if (format == distribution_format::csv) {
        std::string out = "line,address,base_units,amount\n";
        for (const auto& l : b.lines) {
            out += std::to_string(l.line) + "," + l.address + "," + accounting::to_decimal(l.value) + "," +
                   token_amount(l.value) + "\n";
        }
        return out;
    }
    json::writer w;
    w.begin_object();
    w.key("batch").number(b.id);
    w.key("currency").str(b.currency);
    w.key("digest").str(b.digest);
    w.key("total").str(accounting::to_decimal(b.total));
    w.key("recipients").begin_array();
    for (const auto& l : b.lines) {
        w.begin_object();
        w.key("line").number(l.line);
        w.key("address").str(l.address);
        w.key("base_units").str(accounting::to_decimal(l.value));
        w.key("amount").str(token_amount(l.value));
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.take() + "\n";
}

std::string sha256_hex(std::string_view bytes) {
    return to_hex(crypto::sha256_once(
        std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size())));
}

}  // namespace bmm::payout
