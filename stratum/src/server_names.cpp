// What the server takes from mining.authorize: the "account.worker" username
// and the d=<difficulty> option of the password (declared in server.hpp).
// Pure functions in their own file, so that the fuzzers (tests/fuzz) link them
// without the server and libuv.

#include "bmm/stratum/server.hpp"

#include "bmm/stratum/protocol.hpp"

#include <algorithm>
#include <cctype>

namespace bmm::stratum {

result<worker_name> parse_worker_name(std::string_view username) {
    if (username.empty()) return error{"empty username (use account.worker)"};
    if (username.size() > 128) return error{"username longer than 128 characters"};
    for (char c : username)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
            return error{"username may only hold letters, digits, '.', '_' and '-'"};
    const auto dot = username.find('.');
    worker_name w;
    w.account = std::string(username.substr(0, dot));
    w.worker = dot == std::string_view::npos ? "default" : std::string(username.substr(dot + 1));
    if (w.account.empty()) return error{"empty account name before the '.'"};
    if (w.worker.empty()) w.worker = "default";
    return w;
}

bool password_difficulty(std::string_view password, double& out) {
    std::size_t pos = 0;
    while (pos <= password.size()) {
        const std::size_t end = std::min(password.find(',', pos), password.size());
        const std::string_view opt = password.substr(pos, end - pos);
        double d = 0;
        if (opt.size() > 2 && opt.substr(0, 2) == "d=" && parse_decimal(opt.substr(2), d) && d > 0) {
            out = d;
            return true;
        }
        pos = end + 1;
    }
    return false;
}

result<std::optional<std::string>> password_claim(std::string_view password) {
    constexpr std::string_view k_key = "claim=";
    std::size_t pos = 0;
    while (pos <= password.size()) {
        const std::size_t end = std::min(password.find(',', pos), password.size());
        const std::string_view opt = password.substr(pos, end - pos);
        if (opt.substr(0, k_key.size()) == k_key) {
            const std::string_view secret = opt.substr(k_key.size());
            if (secret.size() < 12 || secret.size() > 128) {
                return error{
                    "claim=<secret> needs 12 to 128 characters (no ','); it is what proves the account is "
                    "yours when you bind its first wallet"};
            }
            return std::optional<std::string>(std::string(secret));
        }
        pos = end + 1;
    }
    return std::optional<std::string>{};
}

}  // namespace bmm::stratum
