// Stratum v1 on the wire: requests are parsed with their id echoed as sent,
// malformed lines give error texts, and replies and notifications have the
// exact shapes miners expect ("error":null on success, [code, msg, null] on
// failure, "id":null on notifications).

#include "bmm/stratum/protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace bmm::stratum {
namespace {

// Parses `line`, expecting success.
request parse_ok(simdjson::dom::parser& parser, const std::string& line) {
    std::string id = "unset";
    auto r = parse_request(parser, line, &id);
    if (!r) {
        ADD_FAILURE() << line << ": " << r.error_message();
        return {};
    }
    EXPECT_EQ(id, r->id_json) << line;
    return *r;
}

// Parses `line`, expecting an error; returns it, and the id reported through id_json_out.
std::pair<std::string, std::string> parse_error(const std::string& line) {
    simdjson::dom::parser parser;
    std::string id = "null";
    auto r = parse_request(parser, line, &id);
    if (r) {
        ADD_FAILURE() << line << ": parsed, method " << r->method;
        return {};
    }
    return {r.error_message(), id};
}

TEST(protocol, request_ids_of_every_type_are_echoed) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"1", "1"},
        {"0", "0"},
        {"-7", "-7"},
        {"4294967296", "4294967296"},
        {"9223372036854775807", "9223372036854775807"},
        {"18446744073709551615", "18446744073709551615"},
        {"\"abc\"", "\"abc\""},
        {"\"\"", "\"\""},
        {"\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
        {"\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
        {"null", "null"},
    };
    simdjson::dom::parser parser;
    for (const auto& [sent, echoed] : cases) {
        const request r = parse_ok(parser, "{\"id\":" + sent + ",\"method\":\"mining.subscribe\",\"params\":[]}");
        EXPECT_EQ(r.id_json, echoed) << sent;
        EXPECT_EQ(r.method, "mining.subscribe");
    }
    // The id need not come first.
    EXPECT_EQ(parse_ok(parser, R"({"method":"mining.subscribe","params":[],"id":42})").id_json, "42");
}

TEST(protocol, fractional_ids_come_back_as_the_same_number) {
    simdjson::dom::parser parser;
    for (const char* sent : {"1.5", "-0.25", "1e3"}) {
        const request r = parse_ok(parser, std::string("{\"id\":") + sent + ",\"method\":\"m\"}");
        EXPECT_EQ(std::strtod(r.id_json.c_str(), nullptr), std::strtod(sent, nullptr)) << r.id_json;
        // It is still a JSON number in the reply.
        simdjson::dom::parser check;
        simdjson::dom::element doc;
        ASSERT_EQ(check.parse(reply_result(r.id_json, "true")).get(doc), simdjson::SUCCESS);
        double id = 0;
        ASSERT_EQ(doc["id"].get(id), simdjson::SUCCESS) << r.id_json;
        EXPECT_EQ(id, std::strtod(sent, nullptr));
    }
}

TEST(protocol, missing_and_unusable_ids_are_null) {
    simdjson::dom::parser parser;
    EXPECT_EQ(parse_ok(parser, R"({"method":"mining.subscribe","params":[]})").id_json, "null");
    EXPECT_EQ(parse_ok(parser, R"({"id":true,"method":"m"})").id_json, "null");
    EXPECT_EQ(parse_ok(parser, R"({"id":[1],"method":"m"})").id_json, "null");
    EXPECT_EQ(parse_ok(parser, R"({"id":{"a":1},"method":"m"})").id_json, "null");
}

TEST(protocol, malformed_json) {
    for (const char* line : {"", "{", "{\"id\":1,", "{id:1,method:\"m\"}", "{\"id\":1,\"method\":\"m\"} x", "nul",
                             "{\"id\":1,\"method\":\"m\",}"}) {
        const auto [message, id] = parse_error(line);
        EXPECT_EQ(message, "malformed JSON") << line;
        EXPECT_EQ(id, "null") << line;
    }
}

TEST(protocol, a_request_must_be_an_object) {
    for (const char* line : {"[1,2]", "\"mining.subscribe\"", "5", "null", "true"}) {
        const auto [message, id] = parse_error(line);
        EXPECT_EQ(message, "a request must be a JSON object") << line;
        EXPECT_EQ(id, "null") << line;
    }
}

TEST(protocol, missing_method_still_reports_the_id) {
    auto [message, id] = parse_error(R"({"id":7,"params":[]})");
    EXPECT_EQ(message, "missing method");
    EXPECT_EQ(id, "7");
    std::tie(message, id) = parse_error(R"({"id":"x","method":5,"params":[]})");
    EXPECT_EQ(message, "missing method");
    EXPECT_EQ(id, "\"x\"");
    std::tie(message, id) = parse_error(R"({"id":8,"method":null})");
    EXPECT_EQ(message, "missing method");
    EXPECT_EQ(id, "8");
}

TEST(protocol, params_must_be_an_array) {
    for (const char* params : {"{}", "\"a\"", "5", "true"}) {
        const auto [message, id] = parse_error(std::string(R"({"id":9,"method":"m","params":)") + params + "}");
        EXPECT_EQ(message, "params must be an array") << params;
        EXPECT_EQ(id, "9") << params;
    }
}

TEST(protocol, absent_or_null_params_mean_none) {
    simdjson::dom::parser parser;
    for (const char* line : {R"({"id":1,"method":"m"})", R"({"id":1,"method":"m","params":null})"}) {
        const request r = parse_ok(parser, line);
        EXPECT_FALSE(r.has_params) << line;
        std::string_view s;
        double d = 0;
        EXPECT_FALSE(param_string(r, 0, s)) << line;
        EXPECT_FALSE(param_number(r, 0, d)) << line;
    }
    const request empty = parse_ok(parser, R"({"id":1,"method":"m","params":[]})");
    EXPECT_TRUE(empty.has_params);
    std::string_view s;
    EXPECT_FALSE(param_string(empty, 0, s));
}

TEST(protocol, lines_longer_than_the_limit_are_refused) {
    simdjson::dom::parser parser;
    const std::string head = R"({"id":1,"method":"m","params":[")";
    const std::string tail = "\"]}";
    const std::string fits = head + std::string(k_max_line - head.size() - tail.size(), 'a') + tail;
    ASSERT_EQ(fits.size(), k_max_line);
    const request r = parse_ok(parser, fits);
    std::string_view p;
    ASSERT_TRUE(param_string(r, 0, p));
    EXPECT_EQ(p.size(), k_max_line - head.size() - tail.size());

    const std::string too_long = head + std::string(k_max_line + 1 - head.size() - tail.size(), 'a') + tail;
    EXPECT_EQ(parse_error(too_long).first, "line too long");
}

TEST(protocol, param_string) {
    simdjson::dom::parser parser;
    const request r =
        parse_ok(parser, R"({"id":1,"method":"mining.submit","params":["acct.rig","1f",5,null,"",["x"]]})");
    std::string_view s = "untouched";
    ASSERT_TRUE(param_string(r, 0, s));
    EXPECT_EQ(s, "acct.rig");
    ASSERT_TRUE(param_string(r, 1, s));
    EXPECT_EQ(s, "1f");
    s = "untouched";
    EXPECT_FALSE(param_string(r, 2, s));  // a number
    EXPECT_FALSE(param_string(r, 3, s));  // null
    EXPECT_EQ(s, "untouched");
    ASSERT_TRUE(param_string(r, 4, s));
    EXPECT_EQ(s, "");
    EXPECT_FALSE(param_string(r, 5, s));  // an array
    EXPECT_FALSE(param_string(r, 6, s));  // past the end
    EXPECT_FALSE(param_string(r, 1000, s));
}

TEST(protocol, param_number) {
    simdjson::dom::parser parser;
    const request r = parse_ok(
        parser,
        R"({"id":1,"method":"mining.suggest_difficulty","params":[512,0.05,"2048","1e-3","abc","",null,true,-3,"12abc",18446744073709551615,[1]]})");
    double d = 0;
    ASSERT_TRUE(param_number(r, 0, d));
    EXPECT_EQ(d, 512);
    ASSERT_TRUE(param_number(r, 1, d));
    EXPECT_EQ(d, 0.05);
    ASSERT_TRUE(param_number(r, 2, d));
    EXPECT_EQ(d, 2048);
    ASSERT_TRUE(param_number(r, 3, d));
    EXPECT_EQ(d, 1e-3);
    ASSERT_TRUE(param_number(r, 8, d));
    EXPECT_EQ(d, -3);
    ASSERT_TRUE(param_number(r, 10, d));
    EXPECT_EQ(d, 18446744073709551615.0);
    d = 77;
    EXPECT_FALSE(param_number(r, 4, d));   // "abc"
    EXPECT_FALSE(param_number(r, 5, d));   // ""
    EXPECT_FALSE(param_number(r, 6, d));   // null
    EXPECT_FALSE(param_number(r, 7, d));   // true
    EXPECT_FALSE(param_number(r, 9, d));   // "12abc"
    EXPECT_FALSE(param_number(r, 11, d));  // [1]
    EXPECT_FALSE(param_number(r, 12, d));  // past the end
}

// Found by fuzz_stratum_line: strtod took "504e860" as infinity, and would
// take " 12", "0x10" and "12\u0000junk" (it stopped at the NUL) as numbers.
TEST(protocol, param_number_strings_must_be_finite_decimals_throughout) {
    simdjson::dom::parser parser;
    const request r = parse_ok(
        parser,
        R"({"id":1,"method":"mining.suggest_difficulty","params":["504e860"," 12","12 ","0x10","12\u0000junk","inf","nan","+5","1e+3","-0.5","1E-3"]})");
    double d = 77;
    for (std::size_t i = 0; i < 8; ++i) EXPECT_FALSE(param_number(r, i, d)) << "param " << i;
    EXPECT_EQ(d, 77);
    ASSERT_TRUE(param_number(r, 8, d));
    EXPECT_EQ(d, 1000);
    ASSERT_TRUE(param_number(r, 9, d));
    EXPECT_EQ(d, -0.5);
    ASSERT_TRUE(param_number(r, 10, d));
    EXPECT_EQ(d, 1e-3);
}

TEST(protocol, parse_decimal) {
    double d = 0;
    ASSERT_TRUE(parse_decimal("512", d));
    EXPECT_EQ(d, 512);
    ASSERT_TRUE(parse_decimal("0.0625", d));
    EXPECT_EQ(d, 0.0625);
    ASSERT_TRUE(parse_decimal("1.7976931348623157e308", d));
    EXPECT_EQ(d, 1.7976931348623157e308);
    d = 9;
    for (const char* bad :
         {"", "-", ".", "e3", "1e", "1e999", "-1e999", "inf", "-inf", "nan", "0x1p4", " 1", "1 ", "1,5", "1.5.5", "+1"})
        EXPECT_FALSE(parse_decimal(bad, d)) << bad;
    EXPECT_FALSE(parse_decimal(std::string_view("8\0junk", 6), d));
    EXPECT_EQ(d, 9);
}

TEST(protocol, params_follow_the_latest_parse) {
    simdjson::dom::parser parser;
    const request first = parse_ok(parser, R"({"id":1,"method":"a","params":["one"]})");
    std::string_view s;
    ASSERT_TRUE(param_string(first, 0, s));
    EXPECT_EQ(s, "one");
    const request second = parse_ok(parser, R"({"id":2,"method":"b","params":["two",2]})");
    ASSERT_TRUE(param_string(second, 0, s));
    EXPECT_EQ(s, "two");
    EXPECT_EQ(second.id_json, "2");
    EXPECT_EQ(second.method, "b");
}

TEST(protocol, reply_result_always_carries_error_null) {
    EXPECT_EQ(reply_result("7", "true"), "{\"id\":7,\"result\":true,\"error\":null}\n");
    EXPECT_EQ(reply_result("\"abc\"", "[[\"mining.notify\",\"ae6812eb4cd7735a302a8a9dd95cf71f\"],\"08000002\",4]"),
              "{\"id\":\"abc\",\"result\":[[\"mining.notify\",\"ae6812eb4cd7735a302a8a9dd95cf71f\"],\"08000002\",4],"
              "\"error\":null}\n");
    EXPECT_EQ(reply_result("null", "false"), "{\"id\":null,\"result\":false,\"error\":null}\n");
}

TEST(protocol, reply_error_has_code_message_null) {
    EXPECT_EQ(reply_error("3", stratum_error::duplicate, "duplicate share"),
              "{\"id\":3,\"result\":null,\"error\":[22,\"duplicate share\",null]}\n");
    EXPECT_EQ(reply_error("\"s1\"", stratum_error::low_difficulty, "low difficulty share of 0.01"),
              "{\"id\":\"s1\",\"result\":null,\"error\":[23,\"low difficulty share of 0.01\",null]}\n");
    EXPECT_EQ(reply_error("null", stratum_error::other, "bad \"quote\"\n"),
              "{\"id\":null,\"result\":null,\"error\":[20,\"bad \\\"quote\\\"\\n\",null]}\n");

    const std::vector<std::pair<stratum_error, int>> codes = {
        {stratum_error::other, 20},          {stratum_error::stale_job, 21},    {stratum_error::duplicate, 22},
        {stratum_error::low_difficulty, 23}, {stratum_error::unauthorized, 24}, {stratum_error::not_subscribed, 25},
    };
    simdjson::dom::parser parser;
    for (const auto& [code, number] : codes) {
        const std::string reply = reply_error("5", code, "m");
        simdjson::dom::element doc;
        ASSERT_EQ(parser.parse(reply).get(doc), simdjson::SUCCESS) << reply;
        std::int64_t id = 0, got = 0;
        ASSERT_EQ(doc["id"].get(id), simdjson::SUCCESS);
        EXPECT_EQ(id, 5);
        EXPECT_TRUE(doc["result"].is_null());
        simdjson::dom::array err;
        ASSERT_EQ(doc["error"].get(err), simdjson::SUCCESS);
        ASSERT_EQ(err.size(), 3u);
        ASSERT_EQ(err.at(0).get(got), simdjson::SUCCESS);
        EXPECT_EQ(got, number);
        std::string_view msg;
        ASSERT_EQ(err.at(1).get(msg), simdjson::SUCCESS);
        EXPECT_EQ(msg, "m");
        EXPECT_TRUE(err.at(2).is_null());
    }
}

TEST(protocol, notification_has_id_null) {
    EXPECT_EQ(notification("mining.set_difficulty", "[0.05]"),
              "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.05]}\n");
    EXPECT_EQ(notification("client.reconnect", "[]"), "{\"id\":null,\"method\":\"client.reconnect\",\"params\":[]}\n");
}

TEST(protocol, json_string_escapes) {
    EXPECT_EQ(json_string(""), "\"\"");
    EXPECT_EQ(json_string("plain text"), "\"plain text\"");
    EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_string("l1\nl2\r\tx"), "\"l1\\nl2\\r\\tx\"");
    EXPECT_EQ(json_string(std::string_view("\x01\x1f\0z", 4)), "\"\\u0001\\u001f\\u0000z\"");
    EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");

    // Every ASCII character survives a round trip through a JSON parser.
    std::string all;
    for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
    simdjson::dom::parser parser;
    std::string doc = "[";
    doc += json_string(all);
    doc += ']';
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(doc).get(e), simdjson::SUCCESS) << doc;
    std::string_view back;
    ASSERT_EQ(e.at(0).get(back), simdjson::SUCCESS);
    EXPECT_EQ(back, all);
}

TEST(protocol, format_difficulty_round_trips) {
    const std::vector<std::pair<double, std::string>> cases = {
        {0.05, "0.05"},           {1e-8, "1e-08"}, {65536, "65536"},
        {1234.5678, "1234.5678"}, {1, "1"},        {0.1 + 0.2, "0.30000000000000004"},
    };
    simdjson::dom::parser parser;
    for (const auto& [d, text] : cases) {
        const std::string s = format_difficulty(d);
        EXPECT_EQ(s, text);
        EXPECT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
        // A valid JSON number, as mining.set_difficulty sends it.
        const std::string doc = "[" + s + "]";
        simdjson::dom::element e;
        ASSERT_EQ(parser.parse(doc).get(e), simdjson::SUCCESS) << doc;
        double back = 0;
        ASSERT_EQ(e.at(0).get(back), simdjson::SUCCESS) << doc;
        EXPECT_EQ(back, d) << doc;
    }
    for (double d : {1e12, 1e15, 1e-12, 3.0 / 7.0, 123456789.125}) {
        const std::string s = format_difficulty(d);
        EXPECT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
        simdjson::dom::element e;
        ASSERT_EQ(parser.parse("[" + s + "]").get(e), simdjson::SUCCESS) << s;
    }
}

}  // namespace
}  // namespace bmm::stratum
