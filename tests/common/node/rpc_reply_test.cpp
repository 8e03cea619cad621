// parse_rpc_reply: what rpc_client::call makes of the node's reply body. The
// replies below are the node's own (litecoind regtest, taken with curl), then
// the broken ones a proxy or a fuzzer sends.

#include "bmm/node/rpc.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bmm::node {
namespace {

std::string error_of(std::string_view body, int* code = nullptr) {
    auto r = parse_rpc_reply(body, code);
    if (r) {
        ADD_FAILURE() << body << ": decoded as " << *r;
        return {};
    }
    return r.error_message();
}

TEST(rpc_reply, result_is_returned_as_json_text) {
    int code = 7;
    auto r = parse_rpc_reply(R"({"result":{"chain":"regtest","blocks":1},"error":null,"id":6})", &code);
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(*r, R"({"chain":"regtest","blocks":1})");
    EXPECT_EQ(code, 0);
    auto n = parse_rpc_reply(R"({"result":432,"error":null,"id":1})");
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, "432");
}

// Coin amounts stay as the node wrote them: no round trip through a double
// (which turned 49.79944609 into 49.799446090000004).
TEST(rpc_reply, numbers_keep_the_node_s_digits) {
    auto r =
        parse_rpc_reply(R"({"result":{"vout":[{"value":49.79944609,"n":0}],"fee":-0.0000141},"error":null,"id":2})");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(*r, R"({"vout":[{"value":49.79944609,"n":0}],"fee":-0.0000141})");
    auto a = parse_rpc_reply(R"({"result":[1.1,0.00000001],"error":null,"id":3})");
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, "[1.1,0.00000001]");
    auto v = parse_rpc_reply(R"({"id":4,"error":null,"result":11612.49994470 })");
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, "11612.49994470");
}

TEST(rpc_reply, null_result_of_submitblock_is_success) {
    auto r = parse_rpc_reply(R"({"result":null,"error":null,"id":9})");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(*r, "null");
}

TEST(rpc_reply, node_errors_give_code_and_message) {
    int code = 0;
    EXPECT_EQ(error_of(R"({"result":null,"error":{"code":-32601,"message":"Method not found"},"id":4})", &code),
              "error -32601: Method not found");
    EXPECT_EQ(code, -32601);
    EXPECT_EQ(error_of(R"({"result":null,"error":{"code":-22,"message":"Block decode failed"},"id":5})", &code),
              "error -22: Block decode failed");
    EXPECT_EQ(code, -22);
    EXPECT_EQ(error_of(R"({"result":null,"error":{"code":-8},"id":5})", &code), "error -8: (no message)");
}

// Found by fuzz_rpc_reply: the node's message went into the error (and so the
// log) with a DEL byte as sent; control characters must not reach a log line.
TEST(rpc_reply, node_messages_are_kept_on_one_clean_line) {
    EXPECT_EQ(error_of(R"({"result":null,"error":{"code":-8,"message":"getbl\u007fck\nforged line\\"},"id":6})"),
              "error -8: getbl\\x7fck\\x0aforged line\\x5c");
    // UTF-8 stays (simdjson has checked it); a long message is cut on a character boundary.
    EXPECT_EQ(error_of(R"({"result":null,"error":{"code":-1,"message":"caf\u00e9"},"id":1})"), "error -1: caf\xc3\xa9");
    std::string long_message(999, 'a');
    long_message += "\xc3\xa9tail";
    const std::string e = error_of(R"({"result":null,"error":{"code":-1,"message":")" + long_message + R"("},"id":1})");
    EXPECT_EQ(e, "error -1: " + std::string(999, 'a') + "...");
}

TEST(rpc_reply, a_code_beyond_int_is_reported_but_not_passed_on) {
    int code = 1;
    EXPECT_EQ(error_of(R"({"result":1,"error":{"code":99999999999,"message":"m"},"id":1})", &code),
              "error 99999999999: m");
    EXPECT_EQ(code, 0);
}

TEST(rpc_reply, bodies_that_are_not_json_are_quoted_cut_and_escaped) {
    EXPECT_EQ(error_of("<html>502 Bad Gateway</html>\r\n"),
              "reply is not JSON: \"<html>502 Bad Gateway</html>\\x0d\\x0a\"");
    EXPECT_EQ(error_of(""), "reply is not JSON: \"\"");
    const std::string long_body(300, 'x');
    const std::string e = error_of(long_body);
    EXPECT_EQ(e, "reply is not JSON: \"" + std::string(200, 'x') + "...\"");
    EXPECT_EQ(error_of("\xff\xfe\x01"), "reply is not JSON: \"\\xff\\xfe\\x01\"");
}

TEST(rpc_reply, other_shapes_are_errors) {
    EXPECT_EQ(error_of(R"([{"result":432,"error":null,"id":1}])"),
              "reply is not a JSON object: \"[{\"result\":432,\"error\":null,\"id\":1}]\"");
    EXPECT_EQ(error_of(R"({"error":null,"id":1})"), "reply has no result: \"{\"error\":null,\"id\":1}\"");
    EXPECT_EQ(error_of(R"({"result":null,"error":"a string error","id":1})"),
              "error (not an object): \"a string error\"");
}

TEST(rpc_reply, batch_answers_come_back_in_the_order_sent) {
    // The node may answer in any order: the ids put them back.
    auto r = parse_rpc_batch_reply(R"([{"result":{"isvalid":false},"error":null,"id":8},)"
                                   R"({"result":null,"error":{"code":-5,"message":"bad"},"id":9},)"
                                   R"({"result":"x","error":null,"id":7}])",
                                   7, 3);
    ASSERT_TRUE(r.ok()) << r.error_message();
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ(*(*r)[0], "\"x\"");
    EXPECT_EQ(*(*r)[1], "{\"isvalid\":false}");
    ASSERT_FALSE((*r)[2].ok());
    EXPECT_EQ((*r)[2].error_message(), "error -5: bad");
}

TEST(rpc_reply, batch_replies_that_answer_something_else_are_errors) {
    auto missing = parse_rpc_batch_reply(R"([{"result":1,"error":null,"id":1}])", 1, 2);
    ASSERT_TRUE(missing.ok());
    EXPECT_TRUE((*missing)[0].ok());
    ASSERT_FALSE((*missing)[1].ok());
    EXPECT_EQ((*missing)[1].error_message(), "the node sent no answer for this call of the batch");
    auto stranger = parse_rpc_batch_reply(R"([{"result":1,"error":null,"id":5}])", 1, 2);
    ASSERT_FALSE(stranger.ok());
    EXPECT_NE(stranger.error_message().find("no id of a call sent"), std::string::npos) << stranger.error_message();
    auto whole =
        parse_rpc_batch_reply(R"({"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null})", 1, 2);
    ASSERT_FALSE(whole.ok());
    EXPECT_EQ(whole.error_message(), "error -32700: Parse error");
    EXPECT_FALSE(parse_rpc_batch_reply("<html>", 1, 1).ok());
    auto none = parse_rpc_batch_reply("[]", 1, 0);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace bmm::node
