// The pure parts of accounts.cpp: names and the largest-remainder split that
// keeps wallet shares adding up to 1,000,000.
#include "bmm/accounting/accounts.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

namespace bmm::accounting {
namespace {

TEST(accounts, names) {
    EXPECT_TRUE(check_account_name("alice").ok());
    EXPECT_TRUE(check_account_name("a_b-9").ok());
    EXPECT_FALSE(check_account_name("").ok());
    EXPECT_FALSE(check_account_name("a.b").ok());  // the '.' starts the worker name
    EXPECT_FALSE(check_account_name("a b").ok());
    EXPECT_FALSE(check_account_name(std::string(129, 'a')).ok());
    EXPECT_FALSE(check_account_name("foundation:ecosystem").ok());  // no ':' in a miner's name
}

TEST(accounts, holder_names_are_account_names_and_foundation_allocations) {
    EXPECT_TRUE(check_holder_name("alice").ok());
    EXPECT_TRUE(check_holder_name("foundation:ecosystem").ok());
    EXPECT_TRUE(check_holder_name("foundation:a_b-9").ok());
    EXPECT_FALSE(check_holder_name("foundation:").ok());
    EXPECT_FALSE(check_holder_name("foundation:a:b").ok());
    EXPECT_FALSE(check_holder_name("foundation:a.b").ok());
    EXPECT_FALSE(check_holder_name("pool:fees:LTC").ok());
    EXPECT_FALSE(check_holder_name("user:alice:available").ok());
    std::string longest = "foundation:";
    longest.append(117, 'a');  // 128 characters
    EXPECT_TRUE(check_holder_name(longest).ok());
    EXPECT_FALSE(check_holder_name(longest + "a").ok());
    EXPECT_NE(check_holder_name("foundation:").error_message().find("foundation:ecosystem"), std::string::npos);
}

TEST(accounts, user_ledger_names_are_those_the_epoch_close_credits) {
    EXPECT_TRUE(is_user_ledger_name("alice"));
    EXPECT_TRUE(is_user_ledger_name("a.b"));  // credited (no ':'), so an account too
    EXPECT_FALSE(is_user_ledger_name(""));
    EXPECT_FALSE(is_user_ledger_name("a:b"));
    EXPECT_FALSE(is_user_ledger_name(std::string(129, 'a')));
}

TEST(accounts, largest_remainder_split_examples) {
    // 666,667 over 7:3 -> 466,666.9 and 200,000.1: the remainder unit goes to the first.
    EXPECT_EQ(split_largest_remainder(666667, {700000, 300000}), (std::vector<std::int64_t>{466667, 200000}));
    // Equal remainders: the lower index (the address that sorts first) wins.
    EXPECT_EQ(split_largest_remainder(1000000, {1, 1, 1}), (std::vector<std::int64_t>{333334, 333333, 333333}));
    EXPECT_EQ(split_largest_remainder(10, {0, 0}), (std::vector<std::int64_t>{0, 0}));  // nothing to weigh by
    EXPECT_EQ(split_largest_remainder(0, {5, 7}), (std::vector<std::int64_t>{0, 0}));
}

TEST(accounts, largest_remainder_split_adds_up_and_stays_within_one_unit) {
    std::mt19937 rng(42);
    for (int round = 0; round < 2000; ++round) {
        const std::size_t n = 1 + rng() % 8;
        std::vector<std::int64_t> w(n);
        for (auto& x : w) x = 1 + static_cast<std::int64_t>(rng() % 1000000);
        const std::int64_t total = static_cast<std::int64_t>(rng() % 1000001);
        const auto parts = split_largest_remainder(total, w);
        const std::int64_t sum = std::accumulate(w.begin(), w.end(), std::int64_t{0});
        EXPECT_EQ(std::accumulate(parts.begin(), parts.end(), std::int64_t{0}), total);
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t floor_part = total * w[i] / sum;
            EXPECT_TRUE(parts[i] == floor_part || parts[i] == floor_part + 1);
        }
    }
}

// Names are classified locally first: only a name that is an address by its
// own syntax and checksum is worth a node round trip. The node configured here
// does not exist (a closed loopback port), so any name that reached it would
// come back as an error instead of "not an address".
TEST(accounts, classify_asks_the_node_only_about_names_that_parse_as_addresses) {
    node_settings node;
    node.url = "http://127.0.0.1:9/";  // discard port: nothing listens
    node.currency = "LTC";
    address_validator v(node);
    for (const char* name : {"alice_rig_number_one_in_the_farm", "LaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaZ",
                             "rltc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}) {
        auto c = v.classify(name);
        ASSERT_TRUE(c.ok()) << name << ": " << c.error_message();
        EXPECT_FALSE(c->has_value()) << name;
    }
    // A well-formed regtest P2WPKH address does go to the node, which is not there.
    auto real = v.classify("rltc1qzyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3p937dx");
    EXPECT_FALSE(real.ok());
}

// Several coins: each coin's addresses go to its own node ([coins.<COIN>]
// node_url), [node] serves its own coin. The nodes here do not exist, so an
// error from check/classify shows which coin's node was asked; a coin with
// no node is refused with what to configure.
TEST(accounts, each_coin_is_checked_by_its_own_node) {
    accountd_config c;
    c.node.url = "http://127.0.0.1:9/";
    c.node.currency = "LTC";
    coin_settings btc;
    btc.node.url = "http://127.0.0.1:7/";
    btc.node.currency = "BTC";
    c.coins.emplace("BTC", btc);
    address_validator v(c);

    auto b = v.check("BTC", "rb1qcvu3k8alf5f6t6929lxuzeker773l0g9487vag");
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.error_message().find("127.0.0.1:7"), std::string::npos) << b.error_message();
    auto l = v.check("LTC", "rltc1qzyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3p937dx");
    ASSERT_FALSE(l.ok());
    EXPECT_NE(l.error_message().find("127.0.0.1:9"), std::string::npos) << l.error_message();

    auto doge = v.check("DOGE", "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L");
    ASSERT_FALSE(doge.ok());
    EXPECT_NE(doge.error_message().find("no node for DOGE is configured (give [coins.DOGE] node_url"),
              std::string::npos)
        << doge.error_message();
    auto sig = v.verify_message("DOGE", "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", "m", "c2ln");
    ASSERT_FALSE(sig.ok());
    EXPECT_NE(sig.error_message().find("no node for DOGE"), std::string::npos) << sig.error_message();

    // A username that is a BTC address by its own syntax goes to the BTC node,
    // an LTC one to the LTC node; other names to none.
    auto cb = v.classify("rb1qcvu3k8alf5f6t6929lxuzeker773l0g9487vag");
    ASSERT_FALSE(cb.ok());
    EXPECT_NE(cb.error_message().find("127.0.0.1:7"), std::string::npos) << cb.error_message();
    auto cl = v.classify("rltc1qzyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3p937dx");
    ASSERT_FALSE(cl.ok());
    EXPECT_NE(cl.error_message().find("127.0.0.1:9"), std::string::npos) << cl.error_message();
    auto plain = v.classify("alice_rig_number_one_in_the_farm");
    ASSERT_TRUE(plain.ok()) << plain.error_message();
    EXPECT_FALSE(plain->has_value());

    // [node] alone keeps serving its coin; BTC then has no node.
    address_validator only_ltc(c.node);
    auto none = only_ltc.check("BTC", "rb1qcvu3k8alf5f6t6929lxuzeker773l0g9487vag");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error_message().find("no node for BTC is configured"), std::string::npos) << none.error_message();
}

}  // namespace
}  // namespace bmm::accounting
