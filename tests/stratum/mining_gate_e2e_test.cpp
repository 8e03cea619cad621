// min_bmm_to_mine on the real bmm-stratum: the gate bmm-accountd publishes in
// Redis (bmm:mining-gate:LTC and :min, accounting/ledger/mining_gate.hpp),
// read by the server without PostgreSQL:
//  - an account on the list is authorised, one off it is refused with error
//    24 and a message naming the BMM it needs;
//  - an account taken off the list while connected is told (client.show_message)
//    when the next job goes out, and its later shares are refused (24), while
//    the shares it had accepted stay accepted;
//  - with the threshold at 0 the gate is off.
#include "../support/pool_process.hpp"
#include "../support/stack.hpp"
#include "../support/stratum_client.hpp"

#include "bmm/stratum/mining_gate.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

namespace bmm::stratum {
namespace {

using test::pool_process;
using test::stack_environment;

void redis(const std::vector<std::string>& args) {
    redisContext* c = bmm::test::stack_redis();
    ASSERT_TRUE(c && !c->err);
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    ASSERT_NE(r, nullptr);
    EXPECT_NE(r->type, REDIS_REPLY_ERROR) << std::string(r->str, r->len);
    freeReplyObject(r);
    redisFree(c);
}

TEST(mining_gate_rules, snapshot_and_messages) {
    const std::string min = "1500000000000000000000";  // 1500 BMM
    auto snap = make_gate_snapshot(&min, {"alice"});
    std::string why;
    EXPECT_TRUE(gate_allows(snap, "alice", "LTC", &why));
    EXPECT_FALSE(gate_allows(snap, "bob", "LTC", &why));
    EXPECT_NE(why.find("does not hold the 1500 BMM needed to mine LTC"), std::string::npos) << why;
    const std::string zero = "0";
    EXPECT_TRUE(gate_allows(make_gate_snapshot(&zero, {}), "bob", "LTC", nullptr));
    EXPECT_TRUE(gate_allows(make_gate_snapshot(nullptr, {}), "bob", "LTC", nullptr));  // never published: off
    EXPECT_TRUE(gate_allows(mining_gate_snapshot{}, "bob", "LTC", nullptr));           // nothing read yet: open
    const std::string frac = "1250000000000000000";
    gate_allows(make_gate_snapshot(&frac, {}), "bob", "LTC", &why);
    EXPECT_NE(why.find("the 1.25 BMM needed"), std::string::npos) << why;
    EXPECT_NE(make_gate_snapshot(&min, {"alice"}).generation, make_gate_snapshot(&min, {"alice", "carol"}).generation);
    EXPECT_EQ(make_gate_snapshot(&min, {"alice", "carol"}).generation,
              make_gate_snapshot(&min, {"carol", "alice"}).generation);
}

TEST(mining_gate_e2e, authorize_follows_the_published_list_and_a_dropped_account_stops_being_credited) {
    redis({"SET", "bmm:mining-gate:LTC:min", "1000000000000000000000"});
    redis({"DEL", "bmm:mining-gate:LTC"});
    redis({"SADD", "bmm:mining-gate:LTC", "alice", "carol"});
    pool_process pool;
    test::pool_options o;
    o.name = "pool-gate";
    o.stream = "bmm:shares:gate-e2e";
    o.instance_id = 12;
    o.threads = 1;
    o.ports = {test::free_port_near(25200)};
    pool.start(o);

    std::string why;
    test::stratum_client bob(pool.port);
    EXPECT_FALSE(bob.login("bob.rig1", &why));
    EXPECT_NE(why.find("does not hold the 1000 BMM needed to mine LTC"), std::string::npos) << why;

    test::stratum_client alice(pool.port);
    ASSERT_TRUE(alice.login("alice.rig1", &why)) << why;
    test::stratum_client carol(pool.port);
    ASSERT_TRUE(carol.login("carol.rig1", &why)) << why;
    const auto first = alice.reply(alice.submit(alice.find_share(pow_algorithm::scrypt, alice.difficulty())));
    EXPECT_TRUE(first.ok) << first.raw;

    // alice falls below the line; the server reads the list every 2 s.
    redis({"SREM", "bmm:mining-gate:LTC", "alice"});
    std::this_thread::sleep_for(std::chrono::milliseconds(2600));
    // A new job (carol's shares find blocks on regtest) applies the new list.
    bool new_job = false;
    for (int i = 0; i < 20 && !new_job; ++i) {
        carol.drain();
        carol.reply(carol.submit(carol.find_share(pow_algorithm::scrypt, carol.difficulty())));
        new_job = alice.next_job(3000).has_value();
    }
    ASSERT_TRUE(new_job) << pool.log_tail();
    alice.drain(200);
    bool told = false;
    for (const auto& line : alice.pending_lines()) {
        told = told || (line.find("client.show_message") != std::string::npos &&
                        line.find("alice.rig1 stops here") != std::string::npos);
    }
    EXPECT_TRUE(told) << "alice was not told she stops";
    const auto after = alice.reply(alice.submit(alice.find_share(pow_algorithm::scrypt, alice.difficulty())));
    EXPECT_FALSE(after.ok) << after.raw;
    EXPECT_EQ(after.code, 24) << after.raw;
    carol.drain(200);
    const auto carol_after = carol.reply(carol.submit(carol.find_share(pow_algorithm::scrypt, carol.difficulty())));
    EXPECT_TRUE(carol_after.ok) << carol_after.raw;

    // The gate off: anyone mines again.
    redis({"SET", "bmm:mining-gate:LTC:min", "0"});
    std::this_thread::sleep_for(std::chrono::milliseconds(2600));
    test::stratum_client bob2(pool.port);
    EXPECT_TRUE(bob2.login("bob.rig1", &why)) << why;
    pool.stop();
    const std::string log = test::read_text(pool.log);
    EXPECT_NE(log.find("mining gate for LTC: 2 account(s) hold at least 1000 BMM"), std::string::npos) << log;
    EXPECT_NE(log.find("mining gate for LTC: off"), std::string::npos) << log;
    redis({"DEL", "bmm:mining-gate:LTC", "bmm:mining-gate:LTC:min"});
}

}  // namespace
}  // namespace bmm::stratum

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
