// The node-wallet module (payout/wallet_tx) against a real litecoind regtest
// (node A's wallet "pool" pays addresses of node B's wallet):
//  - exact coin amounts, packing into weight-bounded transactions;
//  - build: planned outputs, marker, at most one change, inputs locked, fee
//    checked against max_fee_rate and the fee budget; nothing sent;
//  - broadcast (again: still "sent"), status in the mempool and mined,
//    adoption by marker, locks again after a node restart;
//  - bump (outputs unchanged, only the change lower), a conflicting spend;
//  - refusals: too little money, fee over the cap, a locked encrypted wallet.

#include "../support/stack.hpp"

#include "bmm/payout/wallet_tx.hpp"

#include <gtest/gtest.h>

#include <set>

namespace bmm::payout {
namespace {

using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

node::rpc_endpoint endpoint(const std::string& wallet = "pool") {
    return {st().setting("BMM_NODE_RPC_URL"), st().setting("BMM_NODE_RPC_USER"), st().setting("BMM_NODE_RPC_PASSWORD"),
            wallet};
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// A new address of node B's wallet "recv" (created on first use).
std::string recipient() {
    static bool made = false;
    if (!made) {
        st().cli("createwallet recv", true);
        made = true;
    }
    return trim(st().cli("-rpcwallet=recv getnewaddress", true));
}

void mine(int n) {
    st().cli("-rpcwallet=pool generatetoaddress " + std::to_string(n) + " " + st().setting("BMM_POOL_ADDRESS"));
    // Node B follows (bounded).
    const std::string tip = trim(st().cli("getbestblockhash"));
    for (int i = 0; i < 100 && trim(st().cli("getbestblockhash", true)) != tip; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

tx_request request(std::int64_t batch, int tx, std::vector<pay_line> outs) {
    tx_request r;
    r.batch = batch;
    r.tx = tx;
    r.outputs = std::move(outs);
    r.fee_rate = 2;
    r.max_fee_rate = 50;
    r.fee_budget = 100000000;
    r.max_tx_weight = 360000;
    return r;
}

// ------------------------------------------------------------------ units --

TEST(coins, exact_decimal_both_ways) {
    EXPECT_EQ(*parse_coins("1.5"), 150000000);
    EXPECT_EQ(*parse_coins("0.00000001"), 1);
    EXPECT_EQ(*parse_coins("11.49998590"), 1149998590);
    EXPECT_EQ(*parse_coins("84000000"), 8400000000000000);
    EXPECT_FALSE(parse_coins("0.000000001"));
    EXPECT_FALSE(parse_coins("1e-5"));
    EXPECT_FALSE(parse_coins("-1"));
    EXPECT_FALSE(parse_coins(""));
    EXPECT_FALSE(parse_coins("."));
    EXPECT_EQ(format_coins(1), "0.00000001");
    EXPECT_EQ(format_coins(150000000), "1.50000000");
    EXPECT_EQ(format_coins(-1410), "-0.00001410");
}

TEST(packing, bounded_deterministic_one_output_per_address) {
    std::vector<pay_line> lines;
    for (int i = 1; i <= 10000; ++i) {
        // bech32 P2WPKH on regtest is 44 characters; every 7th line repeats an address.
        const int a = i % 7 == 0 ? i - 1 : i;
        char addr[64];
        std::snprintf(addr, sizeof addr, "rltc1q%038d", a);
        lines.push_back({i, addr, 1000 + i});
    }
    auto p = pack_lines(lines, 360000);
    ASSERT_TRUE(p) << p.error_message();
    EXPECT_GE(p->size(), 4u);  // 10,000 outputs weigh about 1.24 M
    std::set<int> seen;
    for (const auto& t : *p) {
        EXPECT_LE(t.weight_estimate, 360000);
        std::set<std::string> addrs;
        for (int l : t.lines) {
            EXPECT_TRUE(seen.insert(l).second) << "line " << l << " packed twice";
            addrs.insert(lines[static_cast<std::size_t>(l - 1)].address);
        }
        // Lines sharing an address share the transaction.
        for (int l : t.lines) {
            if (l % 7 == 0) {
                EXPECT_TRUE(std::count(t.lines.begin(), t.lines.end(), l - 1) == 1) << l;
            }
        }
    }
    EXPECT_EQ(seen.size(), 10000u);
    auto again = pack_lines(lines, 360000);
    ASSERT_TRUE(again);
    ASSERT_EQ(again->size(), p->size());
    for (std::size_t i = 0; i < p->size(); ++i) {
        EXPECT_EQ((*again)[i].lines, (*p)[i].lines);
    }
    EXPECT_FALSE(pack_lines(lines, 30000));   // below the overhead
    EXPECT_FALSE(pack_lines(lines, 500000));  // above the standard limit
}

TEST(packing, marker_script) {
    EXPECT_EQ(marker_text(12, 3), "bmm:12:3");
    EXPECT_EQ(marker_script_hex("bmm:1:1"), "6a07626d6d3a313a31");
}

// ------------------------------------------------------------------- node --

TEST(wallet, build_check_broadcast_status_adopt) {
    node_wallet w(endpoint(), "regtest");
    ASSERT_TRUE(w.check_chain());
    node_wallet wrong(endpoint(), "main");
    auto c = wrong.check_chain();
    ASSERT_FALSE(c);
    EXPECT_NE(c.error_message().find("regtest"), std::string::npos) << c.error_message();

    const std::string a = recipient(), b = recipient();
    auto req = request(101, 1, {{1, a, 123456789}, {2, b, 1}});
    req.outputs[1].amount = 600000;  // above dust
    auto t = w.build(req);
    ASSERT_TRUE(t) << t.error_message();
    EXPECT_EQ(t->txid.size(), 64u);
    EXPECT_GT(t->fee, 0);
    EXPECT_LE(t->fee, 50 * t->vsize);
    EXPECT_GE(t->fee, 2 * t->vsize - 5);
    EXPECT_LE(t->outputs.size(), 4u);
    // Its inputs are locked: listlockunspent names each.
    const std::string locks = st().cli("-rpcwallet=pool listlockunspent");
    for (const auto& in : t->inputs) {
        EXPECT_NE(locks.find(in.txid), std::string::npos) << locks;
    }
    // Nothing was sent: the node does not know the transaction.
    EXPECT_NE(st().cli("getrawtransaction " + t->txid).find("No such"), std::string::npos);
    auto s0 = w.status(t->txid);
    ASSERT_TRUE(s0);
    EXPECT_FALSE(s0->in_wallet);

    auto sent = w.broadcast(t->hex);
    ASSERT_TRUE(sent) << sent.error_message();
    EXPECT_EQ(sent->outcome, send_outcome::sent) << sent->message;
    auto again = w.broadcast(t->hex);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->outcome, send_outcome::sent) << again->message;
    auto s1 = w.status(t->txid);
    ASSERT_TRUE(s1);
    EXPECT_TRUE(s1->in_wallet);
    EXPECT_TRUE(s1->in_mempool);
    EXPECT_EQ(s1->confirmations, 0);

    auto found = w.find_marked("bmm:101:");
    ASSERT_TRUE(found) << found.error_message();
    ASSERT_EQ(found->size(), 1u);
    EXPECT_EQ((*found)[0].marker, "bmm:101:1");
    EXPECT_EQ((*found)[0].tx.txid, t->txid);
    EXPECT_EQ((*found)[0].tx.fee, t->fee);
    auto none = w.find_marked("bmm:1011:");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());

    mine(1);
    auto s2 = w.status(t->txid);
    ASSERT_TRUE(s2);
    EXPECT_EQ(s2->confirmations, 1);
    EXPECT_FALSE(s2->in_mempool);
    auto mined = w.broadcast(t->hex);  // already in the chain: still "sent"
    ASSERT_TRUE(mined);
    EXPECT_EQ(mined->outcome, send_outcome::sent) << mined->message;
    // What node B's wallet received, to the litoshi.
    EXPECT_EQ(trim(st().cli("-rpcwallet=recv getreceivedbyaddress " + a + " 0", true)), "1.23456789");
    EXPECT_EQ(trim(st().cli("-rpcwallet=recv getreceivedbyaddress " + b + " 0", true)), "0.00600000");
}

TEST(wallet, refuses_fee_over_cap_and_budget_and_too_little_money) {
    node_wallet w(endpoint(), "regtest");
    const std::string a = recipient();
    const std::string locks_before = st().cli("-rpcwallet=pool listlockunspent");
    auto req = request(102, 1, {{1, a, 100000000}});
    req.fee_rate = 20;
    req.max_fee_rate = 10;
    auto t = w.build(req);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error_message().find("max_fee_rate"), std::string::npos) << t.error_message();
    req.max_fee_rate = 50;
    req.fee_budget = 100;
    t = w.build(req);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error_message().find("fee"), std::string::npos) << t.error_message();
    // Refused builds leave no lock behind.
    EXPECT_EQ(st().cli("-rpcwallet=pool listlockunspent"), locks_before);
    auto huge = request(103, 1, {{1, a, 9000000000000000}});
    t = w.build(huge);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error_message().find("can spend"), std::string::npos) << t.error_message();
}

TEST(wallet, bump_keeps_outputs_and_lowers_change) {
    node_wallet w(endpoint(), "regtest");
    const std::string a = recipient();
    auto req = request(104, 2, {{1, a, 50000000}});
    auto t = w.build(req);
    ASSERT_TRUE(t) << t.error_message();
    ASSERT_EQ(w.broadcast(t->hex)->outcome, send_outcome::sent);
    auto bumped_req = req;
    bumped_req.fee_rate = 10;
    auto b = w.bump(t->hex, bumped_req);
    ASSERT_TRUE(b) << b.error_message();
    EXPECT_NE(b->txid, t->txid);
    EXPECT_GT(b->fee, t->fee);
    EXPECT_EQ(b->change, t->change - (b->fee - t->fee));
    ASSERT_EQ(w.broadcast(b->hex)->outcome, send_outcome::sent);
    mine(1);
    auto so = w.status(t->txid);
    auto sb = w.status(b->txid);
    ASSERT_TRUE(so && sb);
    EXPECT_EQ(sb->confirmations, 1);
    EXPECT_LT(so->confirmations, 0);  // the original conflicts with the mined replacement
    EXPECT_EQ(trim(st().cli("-rpcwallet=recv getreceivedbyaddress " + a + " 0", true)), "0.50000000");
    // The original, sent again, is refused as conflicting.
    auto re = w.broadcast(t->hex);
    ASSERT_TRUE(re);
    EXPECT_EQ(re->outcome, send_outcome::conflicted) << re->message;
}

TEST(wallet, conflicting_spend_of_a_stored_input) {
    node_wallet w(endpoint(), "regtest");
    const std::string a = recipient();
    auto t = w.build(request(105, 1, {{1, a, 30000000}}));
    ASSERT_TRUE(t) << t.error_message();
    // Spend its first input elsewhere (unlock it, send everything of it to the wallet itself).
    ASSERT_TRUE(w.unlock(t->inputs));
    const auto& in = t->inputs.front();
    const std::string self = trim(st().cli("-rpcwallet=pool getnewaddress"));
    const std::string raw =
        trim(st().cli("-rpcwallet=pool createrawtransaction '[{\"txid\":\"" + in.txid +
                      "\",\"vout\":" + std::to_string(in.vout) + "}]' '[{\"" + self + "\":0.001}]'"));
    const std::string funded = st().cli("-rpcwallet=pool fundrawtransaction " + raw + " '{\"add_inputs\":true}'");
    const auto hex_at = funded.find("\"hex\": \"");
    ASSERT_NE(hex_at, std::string::npos) << funded;
    const std::string fhex = funded.substr(hex_at + 8, funded.find('"', hex_at + 8) - hex_at - 8);
    const std::string signed_out = st().cli("-rpcwallet=pool signrawtransactionwithwallet " + fhex);
    const auto s_at = signed_out.find("\"hex\": \"");
    ASSERT_NE(s_at, std::string::npos) << signed_out;
    const std::string shex = signed_out.substr(s_at + 8, signed_out.find('"', s_at + 8) - s_at - 8);
    st().cli("sendrawtransaction " + shex);
    mine(1);
    auto spent = w.spent_in_chain(in);
    ASSERT_TRUE(spent);
    EXPECT_TRUE(*spent);
    auto r = w.broadcast(t->hex);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, send_outcome::conflicted) << r->message;
    auto s = w.status(t->txid);
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->in_wallet);
}

TEST(wallet, encrypted_wallet_needs_the_passphrase) {
    st().cli("createwallet enc");
    const std::string addr = trim(st().cli("-rpcwallet=enc getnewaddress"));
    st().cli("-rpcwallet=pool sendtoaddress " + addr + " 5");
    mine(1);
    st().cli("-rpcwallet=enc encryptwallet s3cret");
    node_wallet w(endpoint("enc"), "regtest");
    auto l = w.locked();
    ASSERT_TRUE(l);
    EXPECT_TRUE(*l);
    auto req = request(106, 1, {{1, recipient(), 10000000}});
    auto t = w.build(req);
    ASSERT_FALSE(t);
    EXPECT_NE(t.error_message().find("--passphrase-file"), std::string::npos) << t.error_message();
    w.set_passphrase("wrong");
    t = w.build(req);
    ASSERT_FALSE(t);
    w.set_passphrase("s3cret");
    t = w.build(req);
    ASSERT_TRUE(t) << t.error_message();
    // Locked again right after signing.
    auto l2 = w.locked();
    ASSERT_TRUE(l2);
    EXPECT_TRUE(*l2);
}

}  // namespace
}  // namespace bmm::payout

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    // Node A accepts replacements (fee bumps); litecoind's default is not to.
    ::setenv("BMM_STACK_NODE_A_ARGS", "-mempoolreplacement=1", 1);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment());
    return RUN_ALL_TESTS();
}
