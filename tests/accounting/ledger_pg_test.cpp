// The ledger in a real PostgreSQL (tests/support/stack.hpp): migrations
// 0005..0008, 0018, 0023 and 0024 (block fate) applied to a fresh schema per test, epochs closed by the rules
// library and booked through bmm_ledger_pg, compared after every step with
// the in-memory ledger model, and the SQL audit checked both ways (silent on
// a sound ledger, naming each planted problem).
#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_store.hpp"

#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

namespace {

namespace acc = bmm::accounting;
namespace pg = bmm::accounting::ledger_store;
namespace es = bmm::accounting::epoch_store;
namespace bs = bmm::accounting::block_store;

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

void exec_ok(bmm::pg::connection& db, const std::string& sql) {
    auto r = db.exec(sql);
    ASSERT_TRUE(r.ok()) << r.error_message() << "\nin: " << sql.substr(0, 200);
}

std::string query_one(bmm::pg::connection& db, const std::string& sql) {
    auto r = db.exec(sql);
    return r && r->rows() == 1 ? r->text(0, 0) : "<error>";
}

std::map<std::pair<std::string, std::string>, std::string> nonzero(
    const std::map<std::pair<std::string, std::string>, acc::amount>& m) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    for (const auto& [k, v] : m) {
        if (v != 0) out[k] = acc::to_decimal(v);
    }
    return out;
}

// A fresh schema with the ledger migrations, per test.
class ledger_pg_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto& stack = bmm::test::stack_environment::get();
        db_ = bmm::test::db();
        const std::string schema = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        exec_ok(db_, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " +
                         schema + "; SET search_path TO " + schema);
        for (const char* f : {"0005_ledger.sql", "0006_epochs.sql", "0007_blocks.sql", "0008_ledger_audit.sql",
                              "0018_bmm_holdings.sql", "0023_voting_power.sql", "0024_block_fate.sql"}) {
            exec_ok(db_, read_file(stack.source_dir() + "/sql/" + f));
        }
    }
    bmm::pg::connection db_;
};

std::string day(std::uint64_t k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-01-%02u 00:00:00+00", static_cast<unsigned>(k + 1));
    return buf;
}

TEST_F(ledger_pg_test, epochs_and_blocks_booked_in_sql_match_the_model) {
    const std::uint64_t seed = 20261124;
    std::mt19937_64 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto pick = [&](std::uint64_t n) { return rng() % n; };

    acc::accounting_config cfg;
    cfg.coins["LTC"] = acc::coin_rules{10000, 200000, acc::payout_scheme::pp, 1000000, 2000000};
    cfg.coins["BTC"] = acc::coin_rules{20000, 200000, acc::payout_scheme::solo, 3000000, 2000000};
    cfg.halving_period = 3;

    acc::ledger model;
    const auto genesis = acc::genesis_transfers();
    ASSERT_EQ(*model.apply_all(genesis), 3u);
    auto g = pg::book_transfers(db_, genesis);
    ASSERT_TRUE(g.ok()) << g.error_message();
    EXPECT_EQ(g->booked, 3u);

    const std::vector<std::string> users{"alice", "bob", "carol"};
    std::map<std::string, std::uint32_t> streaks;
    std::vector<std::string> immature;
    int blocks = 0;
    for (std::uint64_t k = 0; k < 8; ++k) {
        SCOPED_TRACE("epoch " + std::to_string(k));
        ASSERT_TRUE(es::ensure_epoch(db_, k, day(k), day(k + 1)).ok());
        acc::epoch_close_input in;
        in.k = k;
        in.config = cfg;
        for (const auto& u : users) {
            if (pick(4) == 0) continue;  // missed epoch: streak resets
            // Work up to 2^300: PP and the split products go far past 256 bits.
            in.work[u][pick(2) ? "LTC" : "BTC"] = (acc::amount(rng()) << static_cast<unsigned>(pick(240))) + 1;
        }
        in.previous_streaks = streaks;
        auto holdings = pg::load_bmm_holdings(db_);
        ASSERT_TRUE(holdings.ok()) << holdings.error_message();
        EXPECT_EQ(*holdings, model.bmm_holdings());
        in.bmm_holdings = *holdings;
        if (k > 0) {
            auto prev = es::load_epoch(db_, k - 1);
            ASSERT_TRUE(prev.ok() && prev->closed);
            in.carried_emission = prev->emission_carried;
        }
        for (std::uint64_t b = pick(3); b > 0; --b) {
            acc::block_input bi;
            bi.hash = "blk" + std::to_string(blocks++);
            bi.coin = pick(2) ? "LTC" : "BTC";
            bi.height = 100 + static_cast<std::uint64_t>(blocks);
            bi.reward = acc::amount(rng() >> pick(40)) + 1;
            bi.finder = users[pick(users.size())];
            bi.found_epoch = k;
            ASSERT_TRUE(bs::record_block(db_, {bi.hash, bi.coin, bi.height, bi.reward, bi.finder, day(k), k, k}).ok());
            in.blocks.push_back(bi);
            immature.push_back(bi.hash);
        }
        auto out = acc::close_epoch(in);
        ASSERT_TRUE(out.ok()) << out.error_message();
        auto booked = es::book_epoch_close(db_, *out);
        ASSERT_TRUE(booked.ok()) << booked.error_message();
        EXPECT_EQ(booked->booked, out->transfers.size());
        ASSERT_TRUE(model.apply_all(out->transfers).ok());
        // The dividend weights are the epoch's snapshot (sql/0018): the
        // positive holdings the split used, and their total.
        std::map<std::string, std::string> snapshot, used;
        acc::amount used_total = 0;
        for (const auto& [holder, v] : *holdings) {
            if (v > 0) {
                used[holder] = acc::to_decimal(v);
                used_total += v;
            }
        }
        auto rows = db_.exec("SELECT account, bmm::text FROM epoch_bmm_holdings WHERE epoch = " + std::to_string(k));
        ASSERT_TRUE(rows.ok()) << rows.error_message();
        for (int i = 0; i < rows->rows(); ++i) {
            snapshot[rows->text(i, 0)] = rows->text(i, 1);
        }
        EXPECT_EQ(snapshot, used);
        EXPECT_FALSE(used.empty());  // the premine holders at least
        EXPECT_EQ(
            query_one(db_, "SELECT holders || ' ' || total FROM epoch_bmm_totals WHERE epoch = " + std::to_string(k)),
            std::to_string(used.size()) + " " + acc::to_decimal(used_total));
        // Closing again books nothing, and a replay with other holdings does
        // not touch the snapshot.
        auto replay = *out;
        replay.bmm_holdings["user:nobody:available"] = 5;
        auto again = es::book_epoch_close(db_, replay);
        ASSERT_TRUE(again.ok()) << again.error_message();
        EXPECT_EQ(again->booked, 0u);
        EXPECT_EQ(again->already, out->transfers.size());
        EXPECT_EQ(query_one(db_, "SELECT count(*) FROM epoch_bmm_holdings WHERE epoch = " + std::to_string(k)),
                  std::to_string(used.size()));
        for (const auto& [u, a] : out->accounts) {
            streaks[u] = a.streak;
            EXPECT_EQ(query_one(db_, "SELECT pp::text FROM account_epochs WHERE account = '" + u +
                                         "' AND k = " + std::to_string(k)),
                      acc::to_decimal(a.pp));
        }

        // Some earlier blocks mature, some are orphaned.
        std::vector<std::string> still;
        for (const auto& hash : immature) {
            const auto fate = pick(3);
            if (fate == 0) {
                still.push_back(hash);
                continue;
            }
            auto stored = pg::load_transfers(db_, "block:" + hash);
            ASSERT_TRUE(stored.ok()) << stored.error_message();
            auto ts =
                fate == 1 ? acc::block_maturity_transfers(hash, *stored) : acc::block_orphan_transfers(hash, *stored);
            ASSERT_TRUE(ts.ok()) << ts.error_message();
            auto r = bs::book_block_status(db_, hash, fate == 1 ? "mature" : "orphaned", *ts);
            ASSERT_TRUE(r.ok()) << r.error_message();
            EXPECT_EQ(r->booked, ts->size());
            ASSERT_TRUE(model.apply_all(*ts).ok());
        }
        immature = still;

        auto balances = pg::load_balances(db_);
        ASSERT_TRUE(balances.ok()) << balances.error_message();
        EXPECT_EQ(nonzero(*balances), nonzero(model.balances()));
        auto problems = pg::audit(db_);
        ASSERT_TRUE(problems.ok()) << problems.error_message();
        EXPECT_TRUE(problems->empty()) << (*problems)[0];
        EXPECT_TRUE(model.check_invariants().empty());
    }
    EXPECT_EQ(query_one(db_, "SELECT count(*) FROM epochs WHERE closed_at IS NOT NULL"), "8");
    EXPECT_GT(blocks, 0);
}

TEST_F(ledger_pg_test, books_a_large_close_in_one_transaction) {
    // An epoch close of a big pool: 20,000 transfers, some with ids and
    // account names that need escaping. Timings are printed, never asserted.
    using acc::transfer_kind;
    std::vector<acc::transfer> ts;
    for (int i = 0; i < 20000; ++i) {
        std::string user = "u";
        user += std::to_string(i % 5000);
        if (i % 997 == 0) user += "\\tab\there\nnew line";
        std::string ref = "block:b";
        ref += std::to_string(i / 5000);
        std::string id = ref;
        id += ":miner:";
        id += user;
        ts.push_back({id, "system:coinbase:LTC", acc::user_immature(user), "LTC", acc::amount(1000 + i),
                      transfer_kind::block_miner, ref});
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = pg::book_transfers(db_, ts);
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r->booked, ts.size());
    auto again = pg::book_transfers(db_, ts);
    const auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(again.ok()) << again.error_message();
    EXPECT_EQ(again->booked, 0u);
    EXPECT_EQ(again->already, ts.size());
    std::printf("booking 20000 transfers: %.0f ms new, %.0f ms replayed\n",
                std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::milli>(t2 - t1).count());
    acc::ledger model;
    ASSERT_TRUE(model.apply_all(ts).ok());
    auto balances = pg::load_balances(db_);
    ASSERT_TRUE(balances.ok());
    EXPECT_EQ(nonzero(*balances), nonzero(model.balances()));
    auto back = pg::load_transfers(db_, "block:b0");
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->size(), 5000u);
    for (const auto& t : *back) EXPECT_EQ(*model.find(t.id), t);
}

TEST_F(ledger_pg_test, bad_input_changes_nothing) {
    using acc::transfer_kind;
    const acc::amount huge = acc::amount(1) << 300;
    std::vector<acc::transfer> first{
        {"t1", "system:test:TST", "user:zed:available", "TST", huge, transfer_kind::emission, "test"}};
    ASSERT_TRUE(pg::book_transfers(db_, first).ok());
    auto bal = pg::load_balances(db_);
    ASSERT_TRUE(bal.ok());
    EXPECT_EQ(bal->at({"user:zed:available", "TST"}), huge) << "2^300 round-trips through numeric exactly";

    // A list with a new transfer and a conflicting id: nothing is booked.
    std::vector<acc::transfer> mixed{
        {"t2", "system:test:TST", "user:zed:available", "TST", 5, transfer_kind::emission, "test"},
        {"t1", "system:test:TST", "user:zed:available", "TST", 6, transfer_kind::emission, "test"}};
    auto r = pg::book_transfers(db_, mixed);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error_message().find("different content"), std::string::npos) << r.error_message();
    EXPECT_EQ(query_one(db_, "SELECT count(*) FROM ledger_transfers"), "1");
    EXPECT_FALSE(db_.in_transaction());

    // Repeats within one list: an identical repeat is booked once; the same
    // id with other content refuses the whole list, naming the id.
    std::vector<acc::transfer> twice{
        {"t3", "system:test:TST", "user:zed:available", "TST", 5, transfer_kind::emission, "test"},
        {"t3", "system:test:TST", "user:zed:available", "TST", 5, transfer_kind::emission, "test"}};
    auto tw = pg::book_transfers(db_, twice);
    ASSERT_TRUE(tw.ok()) << tw.error_message();
    EXPECT_EQ(tw->booked, 1u);
    EXPECT_EQ(tw->already, 1u);
    std::vector<acc::transfer> clash{
        {"t5", "system:test:TST", "user:zed:available", "TST", 5, transfer_kind::emission, "test"},
        {"t4", "system:test:TST", "user:zed:available", "TST", 5, transfer_kind::emission, "test"},
        {"t4", "system:test:TST", "user:zed:available", "TST", 7, transfer_kind::emission, "test"}};
    auto cl = pg::book_transfers(db_, clash);
    ASSERT_FALSE(cl.ok());
    EXPECT_NE(cl.error_message().find("transfer id t4 appears twice"), std::string::npos) << cl.error_message();
    EXPECT_EQ(query_one(db_, "SELECT count(*) FROM ledger_transfers"), "2");

    // Append-only.
    auto u = db_.exec("UPDATE ledger_transfers SET amount = 1");
    EXPECT_FALSE(u.ok());
    EXPECT_NE(u.error_message().find("append-only"), std::string::npos);
    auto d = db_.exec("DELETE FROM ledger_transfers");
    EXPECT_FALSE(d.ok());
    EXPECT_EQ(query_one(db_, "SELECT count(*) FROM ledger_transfers"), "2");

    // Epoch bounds, closing an epoch without a row, block states.
    ASSERT_TRUE(es::ensure_epoch(db_, 0, day(0), day(1)).ok());
    EXPECT_TRUE(es::ensure_epoch(db_, 0, day(0), day(1)).ok());
    EXPECT_FALSE(es::ensure_epoch(db_, 0, day(0), day(2)).ok());
    acc::epoch_close_output none;
    none.k = 9;
    EXPECT_FALSE(es::book_epoch_close(db_, none).ok());
    ASSERT_TRUE(bs::record_block(db_, {"b1", "LTC", 5, 100, "zed", day(0), 0, 0}).ok());
    EXPECT_FALSE(bs::record_block(db_, {"b1", "LTC", 5, 101, "zed", day(0), 0, 0}).ok());
    ASSERT_TRUE(bs::book_block_status(db_, "b1", "orphaned", {}).ok());
    auto back = bs::book_block_status(db_, "b1", "mature", {});
    ASSERT_FALSE(back.ok());
    EXPECT_NE(back.error_message().find("orphaned already"), std::string::npos) << back.error_message();
    EXPECT_FALSE(bs::book_block_status(db_, "nope", "mature", {}).ok());
    EXPECT_FALSE(bs::book_block_status(db_, "b1", "lost", {}).ok());

    // The functions refuse to run inside the caller's transaction.
    exec_ok(db_, "BEGIN");
    EXPECT_FALSE(pg::book_transfers(db_, first).ok());
    exec_ok(db_, "ROLLBACK");
}

TEST_F(ledger_pg_test, audit_names_each_planted_problem) {
    using acc::transfer_kind;
    ASSERT_TRUE(pg::book_transfers(db_, acc::genesis_transfers()).ok());
    auto clean = pg::audit(db_);
    ASSERT_TRUE(clean.ok()) << clean.error_message();
    EXPECT_TRUE(clean->empty());

    // A user paid more than held; a transfer for a block nobody recorded; a
    // block of a closed epoch that was never booked; premine above 10 %.
    std::vector<acc::transfer> bad{
        {"pay:1", "user:zed:available", "payout:in-flight", "LTC", 7, transfer_kind::block_mature, "payout:1"},
        {"block:ghost:fee", "system:coinbase:LTC", "pool:fees:LTC:immature", "LTC", 1, transfer_kind::block_fee,
         "block:ghost"},
        {"genesis:premine:extra", "system:genesis:BMM", "foundation:airdrop", "BMM", 1, transfer_kind::premine,
         "genesis"}};
    ASSERT_TRUE(pg::book_transfers(db_, bad).ok());
    ASSERT_TRUE(es::ensure_epoch(db_, 0, day(0), day(1)).ok());
    ASSERT_TRUE(bs::record_block(db_, {"lost", "LTC", 9, 50, "zed", day(0), 0, 0}).ok());
    acc::epoch_close_output closed;
    closed.k = 0;
    // The close's voting-power snapshot must be the ledger's holdings (sql/0023).
    auto held = pg::load_bmm_holdings(db_);
    ASSERT_TRUE(held.ok()) << held.error_message();
    closed.bmm_holdings = *held;
    ASSERT_TRUE(es::book_epoch_close(db_, closed).ok());

    auto problems = pg::audit(db_);
    ASSERT_TRUE(problems.ok()) << problems.error_message();
    std::string all;
    for (const auto& p : *problems) all += p + "\n";
    EXPECT_EQ(problems->size(), 4u) << all;
    EXPECT_NE(all.find("account user:zed:available holds -7 LTC, below zero"), std::string::npos) << all;
    EXPECT_NE(all.find("block:ghost, which is not in blocks"), std::string::npos) << all;
    EXPECT_NE(all.find("block lost: reward 50 but 0 booked"), std::string::npos) << all;
    EXPECT_NE(all.find("premine issued 139000000000000000000000001"), std::string::npos) << all;
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
