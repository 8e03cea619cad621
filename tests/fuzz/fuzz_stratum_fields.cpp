// Fuzzes the small text fields a miner controls, byte by byte (without JSON
// around them): the username (parse_worker_name), the password's d=<diff>
// option (password_difficulty), and the hex helpers every submit goes
// through. Properties: a parsed username holds only allowed characters and
// splits back into what was sent; a password difficulty is the whole option
// and has a target; hex decoding and encoding agree with each other.

#include "fuzz_check.hpp"

#include "bmm/hex.hpp"
#include "bmm/stratum/server.hpp"
#include "bmm/target.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace bmm;
using namespace bmm::stratum;
using bmm::fuzz::check;

bool allowed(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }

void check_username(std::string_view u) {
    auto w = parse_worker_name(u);
    if (!w) {
        check(fuzz::is_one_clean_line(w.error_message()), "a username error is a clean line");
        return;
    }
    check(!u.empty() && u.size() <= 128, "a username is 1..128 characters", u);
    for (char c : u) check(allowed(c), "a username holds only letters, digits, '.', '_' and '-'", u);
    check(!w->account.empty() && w->account.find('.') == std::string::npos, "the account is before the first dot", u);
    check(!w->worker.empty(), "the worker is never empty", u);
    const auto dot = u.find('.');
    if (dot == std::string_view::npos || dot + 1 == u.size()) {
        check(w->worker == "default", "no worker after the dot means 'default'", u);
        check(w->account == u.substr(0, dot), "the account is the whole name before the dot", u);
    } else {
        check(w->account + "." + w->worker == u, "account.worker splits back into the username", u);
    }
}

void check_password(std::string_view p) {
    double d = 0;
    if (!password_difficulty(p, d)) return;
    check(std::isfinite(d) && d > 0, "a password difficulty is finite and positive", p);
    // Some comma-separated option must be d=<exactly that number>.
    bool found = false;
    std::size_t pos = 0;
    while (pos <= p.size() && !found) {
        const std::size_t end = std::min(p.find(',', pos), p.size());
        const std::string_view opt = p.substr(pos, end - pos);
        if (opt.size() > 2 && opt.substr(0, 2) == "d=") {
            double v = 0;
            const auto [e, ec] = std::from_chars(opt.data() + 2, opt.data() + opt.size(), v);
            found = ec == std::errc() && e == opt.data() + opt.size() && v == d;
        }
        pos = end + 1;
    }
    check(found, "a password difficulty is a whole d=<number> option", p);
    for (auto a : {pow_algorithm::scrypt, pow_algorithm::sha256d})
        check(static_cast<bool>(target_from_difficulty(d, a)), "a password difficulty has a target", p);
}

void check_hex(std::string_view text, std::span<const unsigned char> bytes) {
    auto decoded = from_hex(text);
    check(decoded.has_value() == is_hex(text), "from_hex and is_hex agree", text);
    if (decoded) check(to_hex(*decoded) == fuzz::lower(text), "hex decodes and encodes back", text);
    std::uint32_t v = 0;
    if (parse_be32_hex(text, v)) {
        check(text.size() == 8 && be32_hex(v) == fuzz::lower(text), "parse_be32_hex reads exactly 8 digits", text);
    } else {
        check(text.size() != 8 || !is_hex(text), "8 hex digits parse as a 32-bit number", text);
    }
    const std::string enc = to_hex(bytes);
    auto back = from_hex(enc);
    check(back && back->size() == bytes.size() && std::equal(back->begin(), back->end(), bytes.begin()),
          "bytes encode and decode back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_username(text);
    check_password(text);
    check_hex(text, {data, size});
    return 0;
}
