// The node RPC client against a real litecoind in regtest.

#include "bmm/node/rpc.hpp"

#include "../../support/stack.hpp"

#include <gtest/gtest.h>

namespace bmm::node {
namespace {

rpc_endpoint node_a() {
    auto& s = test::stack_environment::get();
    return {s.setting("BMM_NODE_RPC_URL"), s.setting("BMM_NODE_RPC_USER"), s.setting("BMM_NODE_RPC_PASSWORD"), ""};
}

TEST(rpc, calls_the_real_node) {
    rpc_client c(node_a());
    auto info = c.call("getblockchaininfo");
    ASSERT_TRUE(info) << info.error_message();
    EXPECT_NE(info->find("\"chain\":\"regtest\""), std::string::npos) << *info;
    auto count = c.call("getblockcount");
    ASSERT_TRUE(count) << count.error_message();
    EXPECT_GE(std::stoll(*count), 1);
    // Connections are reused: many calls in a row on one client.
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.call("getbestblockhash"));
}

TEST(rpc, getblocktemplate_with_litecoin_rules) {
    rpc_client c(node_a());
    auto t = c.call("getblocktemplate", R"([{"rules":["mweb","segwit"]}])");
    ASSERT_TRUE(t) << t.error_message();
    EXPECT_NE(t->find("\"previousblockhash\""), std::string::npos);
    EXPECT_NE(t->find("\"longpollid\""), std::string::npos);
}

TEST(rpc, node_errors_carry_code_and_message) {
    rpc_client c(node_a());
    rpc_failure f;
    auto r = c.call("no_such_method", "[]", std::chrono::seconds(5), &f);
    ASSERT_FALSE(r);
    EXPECT_EQ(f.code, -32601);
    EXPECT_NE(r.error_message().find("node RPC no_such_method at http://127.0.0.1:"), std::string::npos)
        << r.error_message();
    // Without the rules litecoind requires, getblocktemplate refuses.
    auto gbt = c.call("getblocktemplate", "[{}]", std::chrono::seconds(5), &f);
    ASSERT_FALSE(gbt);
    EXPECT_EQ(f.code, -8);
}

TEST(rpc, wrong_password_is_named) {
    auto e = node_a();
    e.password = "not-the-password";
    rpc_client c(e);
    auto r = c.call("getblockcount");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("refused the RPC user or password"), std::string::npos) << r.error_message();
}

TEST(rpc, unreachable_node_says_what_to_check) {
    // A port nothing listens on: the stack's onion bind port + 1000 is free in practice;
    // find one that is free for sure.
    int port = 1;
    for (int p = 29000; p < 29100; ++p)
        if (test::port_free(p)) {
            port = p;
            break;
        }
    rpc_client c({"http://127.0.0.1:" + std::to_string(port) + "/", "u", "p", ""});
    auto r = c.call("getblockcount", "[]", std::chrono::seconds(2));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("is the node running"), std::string::npos) << r.error_message();
}

TEST(rpc, wallet_calls_go_to_the_named_wallet) {
    auto e = node_a();
    e.wallet = test::stack_environment::get().setting("BMM_NODE_WALLET");
    rpc_client c(e);
    auto addr = c.call("getnewaddress", R"(["", "bech32"])");
    ASSERT_TRUE(addr) << addr.error_message();
    EXPECT_EQ(addr->substr(0, 6), "\"rltc1");
    e.wallet = "no-such-wallet";
    rpc_client missing(e);
    auto r = missing.call("getbalance");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error_message().find("no-such-wallet"), std::string::npos) << r.error_message();
}

TEST(json_escape, escapes_quotes_backslashes_and_controls) {
    EXPECT_EQ(json_escape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\n\\u0001");
}

}  // namespace
}  // namespace bmm::node

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
