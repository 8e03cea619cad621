// The batch store (payout/include/bmm/payout/batch_store.hpp) in a real
// PostgreSQL: a coin batch through its whole life (packing, stored attempts, a
// fee bump, a confirmed and a failed transaction), cancel, the refusals that
// change nothing, the audit naming planted problems, and planning 10,000
// recipients with the node checking every address.
#include "bmm/payout/batch_store.hpp"
#include "bmm/payout/planner.hpp"

#include "../support/payout_db.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

namespace {

namespace acc = bmm::accounting;
namespace po = bmm::payout;
using namespace bmm::test::payout;
using bmm::test::stack_environment;

std::string count_of(bmm::pg::connection& db, const std::string& sql) {
    auto r = db.exec(sql);
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    return r->text(0, 0);
}

// Everything a refused call must leave as it was.
std::string snapshot(bmm::pg::connection& db) {
    return count_of(
        db,
        "SELECT (SELECT count(*) FROM ledger_transfers) || '|' || "
        "coalesce((SELECT string_agg(id || state, ',' ORDER BY id) FROM payout_batches), '') || '|' || "
        "coalesce((SELECT string_agg(batch || ':' || line || state || coalesce(tx, 0), ',' ORDER BY batch, "
        "line) FROM payout_lines), '') || '|' || "
        "coalesce((SELECT string_agg(batch || ':' || tx || state, ',' ORDER BY batch, tx) FROM payout_txs), "
        "'') || '|' || "
        "coalesce((SELECT string_agg(txid || state, ',' ORDER BY txid) FROM payout_attempts), '')");
}

std::string txid(char c) { return std::string(64, c); }
// "0x" + 64 hex digits, built with += (GCC 12 warns falsely on "0x" + s).
std::string settle_txid(char c) {
    std::string s = "0x";
    s += txid(c);
    return s;
}

// Holders with LTC balances and the pool's fees.
void seed(bmm::pg::connection& db) {
    for (const char* a : {"alice", "bob", "carol", "foundation:ecosystem"}) {
        add_account(db, a);
    }
    book_mature_block(db, "LTC", std::string(64, '2'),
                      {{"user:alice:available", 50000000},
                       {"user:bob:available", 30000000},
                       {"user:carol:available", 20000000},
                       {"foundation:ecosystem", 40000000},
                       {acc::fees_account("LTC"), 1000000}});
}

const std::string k_shared = regtest_p2wpkh(1), k_carol = regtest_p2wpkh(2), k_eco = regtest_p2wpkh(3),
                  k_change = regtest_p2wpkh(4);

po::new_batch four_lines() {
    return po::new_batch{"LTC",
                         10000000,
                         {{"alice", k_shared, 50000000},
                          {"bob", k_shared, 30000000},
                          {"carol", k_carol, 20000000},
                          {"foundation:ecosystem", k_eco, 40000000}}};
}

TEST(batch_store, coin_batch_lifecycle) {
    auto db = fresh_schema(test_schema());
    seed(db);
    ASSERT_EQ(audit(db), std::vector<std::string>{});

    // Refused before anything is stored.
    std::string before = snapshot(db);
    auto bad = four_lines();
    bad.lines.push_back({"zed", k_carol, 1});
    auto unknown = po::create_batch(db, bad);
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error_message().find("unknown account zed"), std::string::npos) << unknown.error_message();
    bad = four_lines();
    bad.lines[2].value = 20000001;
    auto over = po::create_batch(db, bad);
    ASSERT_FALSE(over.ok());
    EXPECT_NE(over.error_message().find("user:carol:available holds 20000000"), std::string::npos)
        << over.error_message();
    bad = four_lines();
    bad.lines[0].address = "a,b";
    EXPECT_FALSE(po::create_batch(db, bad).ok()) << "a ',' would make the canonical list ambiguous";
    EXPECT_FALSE(po::create_batch(db, po::new_batch{"LTC", 0, {}}).ok());
    EXPECT_EQ(snapshot(db), before);

    auto b = po::create_batch(db, four_lines());
    ASSERT_TRUE(b.ok()) << b.error_message();
    EXPECT_EQ(b->state, "planned");
    EXPECT_EQ(b->total, 140000000);
    EXPECT_EQ(b->digest, po::batch_digest(b->id, "LTC", b->lines));
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), "140000000");
    EXPECT_EQ(balance(db, "foundation:ecosystem", "LTC"), "0");
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    const std::int64_t id = b->id;

    // No holder in two open batches of one currency.
    before = snapshot(db);
    auto twice = po::create_batch(db, po::new_batch{"LTC", 0, {{"alice", k_shared, 1}}});
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.error_message().find("alice already has an open line in an open LTC batch"), std::string::npos)
        << twice.error_message();
    auto accounts = po::accounts_with_open_lines(db, "LTC");
    ASSERT_TRUE(accounts.ok());
    EXPECT_EQ(*accounts, (std::vector<std::string>{"alice", "bob", "carol", "foundation:ecosystem"}));

    // Packing needs approval; approval needs the digest.
    auto early = po::assign_lines(db, id, {{1, 2, 3, 4}});
    ASSERT_FALSE(early.ok());
    EXPECT_EQ(early.error_message(),
              "batch " + std::to_string(id) + " is planned; assigning lines to transactions needs approved");
    EXPECT_FALSE(po::approve(db, id, "olga", txid('0')).ok());
    EXPECT_FALSE(po::approve(db, id, "", b->digest).ok());
    EXPECT_EQ(snapshot(db), before);
    ASSERT_TRUE(po::approve(db, id, "olga", b->digest).ok());

    for (const auto& packing : std::vector<std::vector<std::vector<int>>>{
             {{1, 2}, {3}}, {{1, 2}, {2, 3, 4}}, {{1, 2, 3, 4, 5}}, {{1, 2}, {}, {3, 4}}}) {
        before = snapshot(db);
        EXPECT_FALSE(po::assign_lines(db, id, packing).ok());
        EXPECT_EQ(snapshot(db), before);
    }
    ASSERT_TRUE(po::assign_lines(db, id, {{3, 4}, {1, 2}}).ok()) << "repacked before anything is stored";
    ASSERT_TRUE(po::assign_lines(db, id, {{1, 2}, {3, 4}}).ok());

    // Transaction 1 pays alice and bob, both to k_shared: one output of 80000000.
    const std::string inputs = R"([{"txid": ")" + txid('e') + R"(", "vout": 0}])";
    po::new_attempt bad_outputs{
        1, txid('a'), "0200", inputs, R"({")" + k_shared + R"(": "50000000", ")" + k_change + R"(": "1"})", 1410, 141};
    before = snapshot(db);
    auto refused = po::store_attempt(db, id, bad_outputs);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error_message().find("the outputs pay " + k_shared +
                                           " 50000000 but its lines there add up to "
                                           "80000000"),
              std::string::npos)
        << refused.error_message();
    EXPECT_EQ(snapshot(db), before);
    const std::string outputs1 = R"({")" + k_shared + R"(": "80000000", ")" + k_change + R"(": "123456"})";
    auto a1 = po::store_attempt(db, id, {1, txid('a'), "0200", inputs, outputs1, 1410, 141});
    ASSERT_TRUE(a1.ok()) << a1.error_message();
    EXPECT_EQ(*a1, 1);
    EXPECT_FALSE(po::assign_lines(db, id, {{1, 2, 3, 4}}).ok()) << "no repacking once an attempt is stored";
    EXPECT_FALSE(po::store_attempt(db, id, {1, txid('a'), "0200", inputs, outputs1, 1410, 141}).ok())
        << "a txid is stored once";
    ASSERT_TRUE(po::mark_broadcast(db, id, 1, 1).ok());
    ASSERT_TRUE(po::mark_broadcast(db, id, 1, 1).ok()) << "broadcast again (a rerun): no change";
    // A fee bump: attempt 2 replaces attempt 1.
    auto a2 = po::store_attempt(db, id, {1, txid('b'), "0201", inputs, outputs1, 2820, 141});
    ASSERT_TRUE(a2.ok()) << a2.error_message();
    EXPECT_EQ(*a2, 2);
    ASSERT_TRUE(po::mark_replaced(db, id, 1, 1).ok());
    ASSERT_TRUE(po::mark_broadcast(db, id, 1, 2).ok());
    auto loaded = po::load_batch(db, id);
    ASSERT_TRUE(loaded.ok()) << loaded.error_message();
    EXPECT_EQ(loaded->state, "broadcast");
    ASSERT_EQ(loaded->attempts.size(), 2u);
    EXPECT_EQ(loaded->attempts[0].state, "replaced");
    EXPECT_EQ(loaded->attempts[1].state, "broadcast");
    EXPECT_EQ(loaded->attempts[1].fee, 2820);
    EXPECT_NE(loaded->attempts[1].outputs_json.find("80000000"), std::string::npos);
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    ASSERT_TRUE(po::confirm_tx(db, id, 1, 2).ok());
    EXPECT_EQ(balance(db, "system:paid-out:LTC", "LTC"), "80000000");
    EXPECT_EQ(balance(db, "system:network-fees:LTC", "LTC"), "2820");
    EXPECT_EQ(balance(db, "pool:fees:LTC", "LTC"), std::to_string(1000000 - 2820));
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), "60000000");
    loaded = po::load_batch(db, id);
    EXPECT_EQ(loaded->state, "broadcast") << "transaction 2 is still open";
    EXPECT_EQ(loaded->txs[0].state, "confirmed");
    EXPECT_EQ(loaded->txs[0].confirmed_attempt, 2);
    EXPECT_EQ(loaded->attempts[0].state, "conflicted");
    EXPECT_EQ(loaded->lines[0].state, "sent");
    EXPECT_EQ(loaded->lines[2].state, "open");
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    before = snapshot(db);
    auto again = po::confirm_tx(db, id, 1, 2);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error_message(),
              "batch " + std::to_string(id) + " transaction 1 is confirmed; confirming it needs stored or broadcast");
    EXPECT_FALSE(po::fail_tx(db, id, 1).ok());
    EXPECT_FALSE(po::cancel_batch(db, id).ok());
    EXPECT_EQ(snapshot(db), before);

    // Transaction 2 never confirms (an input was spent elsewhere): its lines go back.
    const std::string outputs2 = R"({")" + k_carol + R"(": "20000000", ")" + k_eco + R"(": "40000000"})";
    ASSERT_TRUE(po::store_attempt(db, id, {2, txid('c'), "0202", inputs, outputs2, 0, 120}).ok());
    ASSERT_TRUE(po::fail_tx(db, id, 2).ok());
    loaded = po::load_batch(db, id);
    EXPECT_EQ(loaded->state, "failed") << "finished, one transaction failed";
    EXPECT_TRUE(loaded->finished_at.has_value());
    EXPECT_EQ(loaded->lines[2].state, "returned");
    EXPECT_EQ(loaded->lines[3].state, "returned");
    EXPECT_EQ(loaded->attempts[2].state, "conflicted");
    EXPECT_EQ(balance(db, "user:carol:available", "LTC"), "20000000");
    EXPECT_EQ(balance(db, "foundation:ecosystem", "LTC"), "40000000");
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), "0");
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // The audit names what a broken payout row would hide.
    auto planted = [&](const std::string& sql, const std::string& problem) {
        auto r = db.exec("BEGIN; " + sql);
        ASSERT_TRUE(r.ok()) << r.error_message();
        auto found = audit(db);
        (void)db.exec("ROLLBACK");
        bool named = false;
        for (const auto& p : found) {
            named = named || p.find(problem) != std::string::npos;
        }
        EXPECT_TRUE(named) << "planted: " << sql << "\nexpected: " << problem << "\ngot: " << found.size();
    };
    const std::string b_id = std::to_string(id);
    planted("UPDATE payout_attempts SET fee = 1 WHERE txid = '" + txid('b') + "'",
            "batch " + b_id + " transaction 1 is confirmed: fee booked 2820, its confirmed attempt paid 1");
    planted(
        "UPDATE payout_attempts SET outputs = '{\"" + k_shared + "\": \"79999999\"}' WHERE txid = '" + txid('b') + "'",
        "the output to " + k_shared + " is 79999999 but its lines there add up to 80000000");
    planted("UPDATE payout_lines SET state = 'open' WHERE batch = " + b_id + " AND line = 3",
            "batch " + b_id + " line 3 is open but it has a return transfer");
    planted("UPDATE payout_lines SET state = 'returned' WHERE batch = " + b_id + " AND line = 1",
            "batch " + b_id + " line 1 is returned but its return transfer is missing or differs");
    planted("UPDATE payout_lines SET amount = amount + 1 WHERE batch = " + b_id + " AND line = 2",
            "its reserve transfer payout:" + b_id + ":reserve:2 is missing or differs");
    planted("UPDATE payout_batches SET state = 'approved' WHERE id = " + b_id +
                "; UPDATE payout_lines SET state = 'open' WHERE batch = " + b_id + " AND line = 4",
            "payout:in-flight holds 0 LTC but the open lines of open LTC batches add up to 40000000");
    planted(
        "INSERT INTO payout_batches (currency, state, min_amount, digest, total) VALUES ('LTC', 'planned', 0, '" +
            txid('d') +
            "', 1); INSERT INTO payout_lines (batch, line, account, address, amount) SELECT max(id), 1, "
            "'alice', 'x', 1 FROM payout_batches; "
            "INSERT INTO payout_batches (currency, state, min_amount, digest, total) VALUES ('LTC', 'planned', 0, '" +
            txid('d') +
            "', 1); INSERT INTO payout_lines (batch, line, account, address, amount) SELECT max(id), 1, "
            "'alice', 'x', 1 FROM payout_batches",
        "account alice has open lines in 2 open LTC batches");
    EXPECT_EQ(audit(db), std::vector<std::string>{}) << "every plant rolled back";

    // A batch never sent can be cancelled: every line back, the batch failed.
    auto c = po::create_batch(db, po::new_batch{"LTC", 0, {{"carol", k_carol, 5}, {"alice", k_shared, 0}}});
    EXPECT_FALSE(c.ok()) << "a zero line is refused";
    c = po::create_batch(db, po::new_batch{"LTC", 0, {{"carol", k_carol, 5}, {"foundation:ecosystem", k_eco, 7}}});
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), "12");
    ASSERT_TRUE(po::cancel_batch(db, c->id).ok());
    loaded = po::load_batch(db, c->id);
    EXPECT_EQ(loaded->state, "failed");
    EXPECT_EQ(loaded->lines[0].state, "returned");
    EXPECT_EQ(balance(db, "user:carol:available", "LTC"), "20000000");
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), "0");
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    auto missing = po::load_batch(db, 987654);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error_message().find("batch 987654 does not exist"), std::string::npos);
}

TEST(batch_store, bmm_export_and_settle_states) {
    auto db = fresh_schema(test_schema());
    book_premine(db);
    add_account(db, "foundation:developers");
    auto b = po::create_batch(
        db, po::new_batch{"BMM", 0, {{"foundation:developers", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", 1000}}});
    ASSERT_TRUE(b.ok()) << b.error_message();
    EXPECT_FALSE(po::mark_exported(db, b->id, txid('1')).ok()) << "planned";
    ASSERT_TRUE(po::approve(db, b->id, "olga", b->digest).ok());
    EXPECT_FALSE(po::settle(db, b->id, settle_txid('1'), "pavel").ok()) << "approved, not exported";
    ASSERT_TRUE(po::mark_exported(db, b->id, txid('1')).ok());
    EXPECT_TRUE(po::mark_exported(db, b->id, txid('1')).ok()) << "the same bytes again";
    auto other = po::mark_exported(db, b->id, txid('2'));
    ASSERT_FALSE(other.ok());
    EXPECT_NE(other.error_message().find("an export must give the same bytes every time"), std::string::npos);
    EXPECT_FALSE(po::settle(db, b->id, settle_txid('g'), "pavel").ok()) << "not hex";
    EXPECT_FALSE(po::settle(db, b->id, settle_txid('1'), "").ok()) << "who";
    ASSERT_TRUE(po::settle(db, b->id, settle_txid('1'), "pavel").ok());
    EXPECT_EQ(balance(db, "system:paid-out:BMM", "BMM"), "1000");
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // A coin batch is not exported.
    add_account(db, "alice");
    book_mature_block(db, "LTC", std::string(64, '3'), {{"user:alice:available", 100}});
    auto coin = po::create_batch(db, po::new_batch{"LTC", 0, {{"alice", k_shared, 100}}});
    ASSERT_TRUE(coin.ok()) << coin.error_message();
    ASSERT_TRUE(po::approve(db, coin->id, "olga", coin->digest).ok());
    auto refused = po::mark_exported(db, coin->id, txid('1'));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error_message().find("export is for BMM"), std::string::npos);
}

// 10,000 holders, each with a balance and a wallet: one plan, every address
// checked by the node in one batch request. The time is reported against the
// booking of the holders' 20,000 balance transfers in the same run (no
// timing is asserted).
TEST(batch_store, plan_10000_recipients) {
    auto db = fresh_schema(test_schema());
    constexpr int k_n = 10000;
    bmm::pg::text_array names, addresses;
    std::map<std::string, acc::amount> parts;
    for (int i = 0; i < k_n; ++i) {
        std::string name = "m";  // += : GCC 12 warns falsely on "m" + std::to_string(i)
        name += std::to_string(i);
        names.add(name);
        addresses.add(regtest_p2wpkh(static_cast<std::uint32_t>(1000 + i)));
        parts[acc::user_available(name)] = 20000000 + i;
    }
    exec_ok(db, "INSERT INTO accounts (name, kind) SELECT unnest($1::text[]), 'user'", {names.str()});
    exec_ok(db,
            "INSERT INTO wallets (account, currency, address, share_ppm) "
            "SELECT a, 'LTC', w, 1000000 FROM unnest($1::text[], $2::text[]) AS u(a, w)",
            {names.str(), addresses.str()});
    exec_ok(db,  // each wallet's history row, as the admin command writes it (sql/0025)
            "INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof) "
            "SELECT a, 'bind', 'LTC', w, 1000000, 'admin' FROM unnest($1::text[], $2::text[]) AS u(a, w)",
            {names.str(), addresses.str()});
    const auto t0 = std::chrono::steady_clock::now();
    book_mature_block(db, "LTC", std::string(64, '4'), parts);
    const auto t1 = std::chrono::steady_clock::now();

    const std::string cfg_path = write_config("perf", "[payout.min_amount]\nLTC = \"10000000\"\n");
    const auto cfg = load_config(cfg_path);
    auto node = po::node_for(cfg, "LTC");
    ASSERT_TRUE(node.ok()) << node.error_message();
    po::address_checker checker("LTC", *node);
    const auto t2 = std::chrono::steady_clock::now();
    auto plan = po::plan_batch(db, cfg, checker, po::plan_request{"LTC", std::nullopt});
    const auto t3 = std::chrono::steady_clock::now();
    ASSERT_TRUE(plan.ok()) << plan.error_message();
    ASSERT_TRUE(plan->planned.has_value());
    EXPECT_EQ(plan->planned->lines.size(), static_cast<std::size_t>(k_n));
    EXPECT_TRUE(plan->skipped.empty()) << plan->skipped.front().reason;
    acc::amount total = 0;
    for (const auto& [a, v] : parts) {
        total += v;
    }
    EXPECT_EQ(plan->planned->total, total);
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), acc::to_decimal(total));
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf("plan of %d recipients: %.0f ms; booking their %d balance transfers: %.0f ms; ratio %.2f\n", k_n,
                ms(t3 - t2), 2 * k_n, ms(t1 - t0), ms(t3 - t2) / ms(t1 - t0));
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
