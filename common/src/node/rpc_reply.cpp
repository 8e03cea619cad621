// The pure half of the node RPC client: escaping strings for the requests and
// decoding the replies. Kept apart from rpc.cpp (libcurl) so that the Stratum
// protocol code and the fuzzers (tests/fuzz) link it without libcurl.

#include "bmm/node/rpc.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

namespace bmm::node {
namespace {

constexpr std::size_t k_excerpt = 200;   // bytes of a bad reply quoted in an error
constexpr std::size_t k_message = 1000;  // bytes of the node's own error message kept

// At most `limit` bytes of text for an error message, on one line: control
// characters (DEL included) and backslashes are written as \xNN, so a hostile
// or broken reply cannot forge log lines or drive a terminal. With utf8 (text
// simdjson has validated) bytes from 0x80 up are kept and the cut falls on a
// character boundary; otherwise they are escaped too.
std::string excerpt(std::string_view text, std::size_t limit, bool utf8 = false) {
    std::string out;
    std::size_t n = std::min(text.size(), limit);
    if (utf8) {
        while (n < text.size() && n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) {
            --n;
        }
    }
    out.reserve(n + 16);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c >= 0x20 && c < 0x7f && c != '\\') || (utf8 && c >= 0x80)) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            out += buf;
        }
    }
    if (text.size() > n) {
        out += "...";
    }
    return out;
}

// The "result" member's own text in a reply the DOM parser accepted, or
// nothing when it cannot be had. Not simdjson::to_string: that prints numbers
// through a double (a node's 49.79944609 comes out as 49.799446090000004),
// and coin amounts must reach the caller exactly as the node wrote them.
std::optional<std::string> raw_result(std::string_view body) {
    simdjson::padded_string padded(body);
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc;
    simdjson::ondemand::value v;
    simdjson::ondemand::json_type type;
    if (parser.iterate(padded).get(doc) || doc.find_field_unordered("result").get(v) || v.type().get(type)) {
        return std::nullopt;
    }
    std::string_view text;
    if (type == simdjson::ondemand::json_type::object) {
        simdjson::ondemand::object o;
        if (v.get_object().get(o) || o.raw_json().get(text)) {
            return std::nullopt;
        }
    } else if (type == simdjson::ondemand::json_type::array) {
        simdjson::ondemand::array a;
        if (v.get_array().get(a) || a.raw_json().get(text)) {
            return std::nullopt;
        }
    } else {
        text = v.raw_json_token();
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return std::string(text);
}

}  // namespace

namespace {

// One reply object: its result as JSON text, or the node's error (its code
// into *code). `body` is what an error quotes.
result<std::string> decode_reply(simdjson::dom::object reply, std::string_view body, int* code) {
    simdjson::dom::element err;
    if (reply["error"].get(err) == simdjson::SUCCESS && !err.is_null()) {
        simdjson::dom::object e;
        if (err.get(e)) {
            return error{"error (not an object): " + excerpt(simdjson::to_string(err), k_excerpt)};
        }
        std::int64_t c = 0;
        std::string_view message;
        if (e["code"].get(c)) {
            c = 0;
        }
        if (e["message"].get(message)) {
            message = "(no message)";
        }
        // A code that does not fit an int is no code the node defines.
        if (code && c >= std::numeric_limits<int>::min() && c <= std::numeric_limits<int>::max()) {
            *code = static_cast<int>(c);
        }
        return error{"error " + std::to_string(c) + ": " + excerpt(message, k_message, true)};
    }
    simdjson::dom::element res;
    if (reply["result"].get(res)) {
        return error{"reply has no result: \"" + excerpt(body, k_excerpt) + "\""};
    }
    if (auto raw = raw_result(body)) {
        return *raw;
    }
    return simdjson::to_string(res);
}

}  // namespace

result<std::string> parse_rpc_reply(std::string_view body, int* code) {
    if (code) {
        *code = 0;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc)) {
        return error{"reply is not JSON: \"" + excerpt(body, k_excerpt) + "\""};
    }
    simdjson::dom::object reply;
    if (doc.get(reply)) {
        return error{"reply is not a JSON object: \"" + excerpt(body, k_excerpt) + "\""};
    }
    return decode_reply(reply, body, code);
}

result<std::vector<result<std::string>>> parse_rpc_batch_reply(std::string_view body, std::uint64_t first_id,
                                                               std::size_t calls) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc)) {
        return error{"reply is not JSON: \"" + excerpt(body, k_excerpt) + "\""};
    }
    simdjson::dom::array answers;
    if (doc.get(answers)) {
        // A batch the node refuses as a whole comes back as one error object.
        simdjson::dom::object whole;
        if (doc.get(whole) == simdjson::SUCCESS) {
            auto r = decode_reply(whole, body, nullptr);
            if (!r) {
                return error{r.error_message()};
            }
        }
        return error{"reply to a batch is not a JSON array: \"" + excerpt(body, k_excerpt) + "\""};
    }
    // Each answer's own text, in array order, so that its result keeps the
    // node's numbers exactly (raw_result; simdjson::to_string would print
    // them through a double).
    std::vector<std::string_view> texts;
    simdjson::padded_string padded(body);
    simdjson::ondemand::parser raw_parser;
    simdjson::ondemand::document raw_doc;
    simdjson::ondemand::array raw_answers;
    if (raw_parser.iterate(padded).get(raw_doc) || raw_doc.get_array().get(raw_answers)) {
        return error{"reply to a batch is not a JSON array: \"" + excerpt(body, k_excerpt) + "\""};
    }
    for (auto e : raw_answers) {
        simdjson::ondemand::object o;
        std::string_view text;
        if (e.get_object().get(o) || o.raw_json().get(text)) {
            return error{"an answer in the batch reply is not an object: \"" + excerpt(body, k_excerpt) + "\""};
        }
        texts.push_back(text);
    }
    if (texts.size() != answers.size()) {
        return error{"the batch reply could not be read: \"" + excerpt(body, k_excerpt) + "\""};
    }
    std::vector<result<std::string>> out(calls, error{"the node sent no answer for this call of the batch"});
    std::size_t k = 0;
    for (simdjson::dom::element a : answers) {
        simdjson::dom::object reply;
        std::uint64_t id = 0;
        if (a.get(reply) || reply["id"].get(id) || id < first_id || id - first_id >= calls) {
            return error{"an answer in the batch reply has no id of a call sent: \"" +
                         excerpt(simdjson::to_string(a), k_excerpt) + "\""};
        }
        out[id - first_id] = decode_reply(reply, std::string(texts[k++]), nullptr);
    }
    return out;
}

}  // namespace bmm::node
