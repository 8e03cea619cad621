// The bmm-accountd side of min_bmm_to_mine and of BMM deposits, against the
// test stack's PostgreSQL and Redis:
//  - publish_mining_gate writes, per [coins.X], the user accounts whose
//    available BMM reaches X's threshold, and the threshold ("0": no gate);
//    foundation allocations never mine;
//  - book_bmm_deposit refuses, changing nothing, a malformed txid, an unknown
//    account, an amount <= 0, and more BMM than ever left the pool.
#include "../support/stack_pg.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/deposit_store.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/mining_gate.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <set>

namespace bmm::accounting {
namespace {

const amount k_bmm = amount(1000000000) * amount(1000000000);  // 10^18 base units

std::set<std::string> redis_set(const std::string& key) {
    redisContext* c = bmm::test::stack_redis();
    std::set<std::string> out;
    auto* r = static_cast<redisReply*>(redisCommand(c, "SMEMBERS %s", key.c_str()));
    for (std::size_t i = 0; r && i < r->elements; ++i) {
        out.emplace(r->element[i]->str, r->element[i]->len);
    }
    freeReplyObject(r);
    redisFree(c);
    return out;
}

std::string redis_get(const std::string& key) {
    redisContext* c = bmm::test::stack_redis();
    auto* r = static_cast<redisReply*>(redisCommand(c, "GET %s", key.c_str()));
    std::string out = r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "(nil)";
    freeReplyObject(r);
    redisFree(c);
    return out;
}

accountd_config config() {
    auto& st = test::stack_environment::get();
    accountd_config c;
    c.redis.host = "127.0.0.1";
    c.redis.port = std::stoi(st.setting("BMM_REDIS_PORT"));
    c.redis.password_file = st.setting("BMM_REDIS_PASSWORD_FILE");
    coin_settings ltc;
    ltc.min_bmm_to_mine = amount(1000) * k_bmm;
    c.coins.emplace("LTC", ltc);
    c.coins.emplace("BTC", coin_settings{});
    return c;
}

class mining_gate_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto db = test::db();
        auto m = migrate(db, test::stack_environment::get().source_dir() + "/sql");
        ASSERT_TRUE(m) << m.error_message();
        for (const char* name : {"alice", "bob", "carol"}) {
            ASSERT_TRUE(create_account(db, name));
        }
        const auto g = genesis_transfers();
        ASSERT_TRUE(ledger_store::book_transfers(db, g));
        // BMM earned by mining: alice 2000, bob 999.999..., carol nothing.
        std::vector<transfer> earned = {
            {"epoch:0:emission:alice", std::string(emission_account), user_available("alice"), "BMM",
             amount(2000) * k_bmm, transfer_kind::emission, "epoch:0"},
            {"epoch:0:emission:bob", std::string(emission_account), user_available("bob"), "BMM",
             amount(1000) * k_bmm - 1, transfer_kind::emission, "epoch:0"},
        };
        ASSERT_TRUE(ledger_store::book_transfers(db, earned));
    }
};

TEST(mining_gate_rules, only_users_at_or_over_the_line) {
    std::map<std::string, amount> h = {{"user:alice:available", 5},
                                       {"user:bob:available", 4},
                                       {"user:zed:available", 6},
                                       {"foundation:ecosystem", 1000}};
    EXPECT_EQ(accounts_allowed_to_mine(h, 5), (std::vector<std::string>{"alice", "zed"}));
    EXPECT_EQ(accounts_allowed_to_mine(h, 7), (std::vector<std::string>{}));
}

TEST_F(mining_gate_test, publishes_who_may_mine_each_coin) {
    auto db = test::db();
    auto p = publish_mining_gate(config(), db);
    ASSERT_TRUE(p) << p.error_message();
    EXPECT_EQ(*p, 2u);
    EXPECT_EQ(redis_set("bmm:mining-gate:LTC"), (std::set<std::string>{"alice"}));
    EXPECT_EQ(redis_get("bmm:mining-gate:LTC:min"), "1000000000000000000000");
    EXPECT_EQ(redis_set("bmm:mining-gate:BTC"), (std::set<std::string>{}));
    EXPECT_EQ(redis_get("bmm:mining-gate:BTC:min"), "0");
    // The line moves: bob is on it, then nobody when it is out of reach.
    auto c = config();
    c.coins["LTC"].min_bmm_to_mine = amount(1000) * k_bmm - 1;
    ASSERT_TRUE(publish_mining_gate(c, db));
    EXPECT_EQ(redis_set("bmm:mining-gate:LTC"), (std::set<std::string>{"alice", "bob"}));
    c.coins["LTC"].min_bmm_to_mine = amount(1000000) * k_bmm;
    ASSERT_TRUE(publish_mining_gate(c, db));
    EXPECT_EQ(redis_set("bmm:mining-gate:LTC"), (std::set<std::string>{}));
    EXPECT_EQ(redis_get("bmm:mining-gate:LTC:min"), "1000000000000000000000000");  // 10^24
    // Redis away: an error that names it.
    c.redis.port = 1;
    auto down = publish_mining_gate(c, db);
    ASSERT_FALSE(down);
    EXPECT_NE(down.error_message().find("Redis 127.0.0.1:1"), std::string::npos) << down.error_message();
}

TEST_F(mining_gate_test, deposits_that_cannot_be_real_are_refused_and_change_nothing) {
    auto db = test::db();
    const std::string txid = "0x" + std::string(64, 'a');
    const std::string before = test::scalar("SELECT count(*) FROM ledger_transfers");
    auto bad_txid = deposit_store::book_bmm_deposit(db, "carol", k_bmm, "0x1234", "admin");
    ASSERT_FALSE(bad_txid);
    EXPECT_NE(bad_txid.error_message().find("0x and 64 hex digits"), std::string::npos) << bad_txid.error_message();
    auto unknown = deposit_store::book_bmm_deposit(db, "nobody", k_bmm, txid, "admin");
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error_message().find("no account \"nobody\""), std::string::npos) << unknown.error_message();
    EXPECT_FALSE(deposit_store::book_bmm_deposit(db, "carol", 0, txid, "admin"));
    EXPECT_FALSE(deposit_store::book_bmm_deposit(db, "carol", k_bmm, txid, ""));
    // Nothing has left the pool yet: no token can come back.
    auto too_much = deposit_store::book_bmm_deposit(db, "carol", k_bmm, txid, "admin");
    ASSERT_FALSE(too_much);
    EXPECT_NE(too_much.error_message().find("only 0 BMM base units have left the pool"), std::string::npos)
        << too_much.error_message();
    EXPECT_EQ(test::scalar("SELECT count(*) FROM ledger_transfers"), before);
    EXPECT_EQ(test::scalar("SELECT count(*) FROM bmm_deposits"), "0");
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
