#pragma once
// Stratum v1 on the wire: one JSON object per line.
//
// Requests: {"id": <number|string>, "method": "...", "params": [...]}.
// Replies carry "error": null on success (some miners and rental services
// insist), and [code, message, null] on failure with the codes miners and
// dashboards expect:
//   20 other, 21 stale or unknown job, 22 duplicate share, 23 low difficulty,
//   24 unauthorised worker, 25 not subscribed.

#include "bmm/result.hpp"

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

namespace bmm::stratum {

enum class stratum_error : int {
    other = 20,
    stale_job = 21,
    duplicate = 22,
    low_difficulty = 23,
    unauthorized = 24,
    not_subscribed = 25,
};

inline constexpr std::size_t k_max_line = 16 * 1024;  // longer lines are abuse, not Stratum

// A parsed request. `params` are valid until the parser parses again.
struct request {
    std::string id_json = "null";  // the id exactly as sent, echoed back
    std::string method;
    simdjson::dom::array params;
    bool has_params = false;
};

// Parses one line (without its newline). Errors describe what is wrong for a
// Stratum error reply; the id is filled in whenever it could be read.
result<request> parse_request(simdjson::dom::parser& parser, std::string_view line, std::string* id_json_out);

// The i-th parameter as a string; false when absent or not a string.
bool param_string(const request& r, std::size_t i, std::string_view& out);
// The i-th parameter as a number (JSON number, or a string that parse_decimal
// reads entirely).
bool param_number(const request& r, std::size_t i, double& out);

// Reads text that is entirely a finite decimal number ("512", "0.5", "-3",
// "1e-3"): no spaces, no hex, no inf or nan, no trailing bytes (NUL included),
// no overflow. Locale-independent. Used for numbers miners send as strings.
bool parse_decimal(std::string_view text, double& out);

std::string reply_result(std::string_view id_json, std::string_view result_json);
std::string reply_error(std::string_view id_json, stratum_error code, std::string_view message);
std::string notification(std::string_view method, std::string_view params_json);

// A JSON string literal (with quotes) for text.
std::string json_string(std::string_view s);

// Formats a difficulty the way miners parse it: shortest round-trip decimal.
std::string format_difficulty(double d);

}  // namespace bmm::stratum
