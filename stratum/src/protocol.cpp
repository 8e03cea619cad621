#include "bmm/stratum/protocol.hpp"

#include "bmm/node/rpc.hpp"

#include <charconv>
#include <cmath>

namespace bmm::stratum {

result<request> parse_request(simdjson::dom::parser& parser, std::string_view line, std::string* id_json_out) {
    if (line.size() > k_max_line) return error{"line too long"};
    simdjson::dom::element doc;
    if (parser.parse(line.data(), line.size()).get(doc)) return error{"malformed JSON"};
    simdjson::dom::object obj;
    if (doc.get(obj)) return error{"a request must be a JSON object"};
    request r;
    simdjson::dom::element id;
    if (obj["id"].get(id) == simdjson::SUCCESS) {
        if (id.is_int64() || id.is_uint64() || id.is_string() || id.is_null()) r.id_json = simdjson::to_string(id);
        else if (id.is_double()) r.id_json = simdjson::to_string(id);
    }
    if (id_json_out) *id_json_out = r.id_json;
    std::string_view method;
    if (obj["method"].get(method)) return error{"missing method"};
    r.method = std::string(method);
    simdjson::dom::element params;
    if (obj["params"].get(params) == simdjson::SUCCESS && !params.is_null()) {
        if (params.get(r.params)) return error{"params must be an array"};
        r.has_params = true;
    }
    return r;
}

bool param_string(const request& r, std::size_t i, std::string_view& out) {
    if (!r.has_params) return false;
    simdjson::dom::element e;
    if (r.params.at(i).get(e)) return false;
    return e.get(out) == simdjson::SUCCESS;
}

bool param_number(const request& r, std::size_t i, double& out) {
    if (!r.has_params) return false;
    simdjson::dom::element e;
    if (r.params.at(i).get(e)) return false;
    if (e.get(out) == simdjson::SUCCESS) return true;
    std::int64_t n;
    if (e.get(n) == simdjson::SUCCESS) {
        out = static_cast<double>(n);
        return true;
    }
    std::string_view s;
    if (e.get(s)) return false;
    return parse_decimal(s, out);
}

bool parse_decimal(std::string_view text, double& out) {
    // from_chars alone would take "inf" and "nan"; strtod (used before) also
    // took leading spaces, hex, and stopped at an embedded NUL.
    if (text.empty()) return false;
    for (char c : text)
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return false;
    out = v;
    return true;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    out += node::json_escape(s);
    out += '"';
    return out;
}

std::string reply_result(std::string_view id_json, std::string_view result_json) {
    std::string s;
    s.reserve(32 + id_json.size() + result_json.size());
    s += "{\"id\":";
    s += id_json;
    s += ",\"result\":";
    s += result_json;
    s += ",\"error\":null}\n";
    return s;
}

std::string reply_error(std::string_view id_json, stratum_error code, std::string_view message) {
    std::string s = "{\"id\":";
    s += id_json;
    s += ",\"result\":null,\"error\":[";
    s += std::to_string(static_cast<int>(code));
    s += ',';
    s += json_string(message);
    s += ",null]}\n";
    return s;
}

std::string notification(std::string_view method, std::string_view params_json) {
    std::string s = "{\"id\":null,\"method\":\"";
    s += method;
    s += "\",\"params\":";
    s += params_json;
    s += "}\n";
    return s;
}

std::string format_difficulty(double d) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    if (ec != std::errc()) return "1";
    return std::string(buf, end);
}

}  // namespace bmm::stratum
