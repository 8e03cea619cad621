// The shares-and-rollups store (share_store.hpp) and the closed-epoch span of
// epoch_store against the test stack's real PostgreSQL (tests/support/stack.hpp),
// on a fresh schema per test with every migration: a round whose COPY meets a
// stored uid stores none of it, the rollups add up across rounds and carry
// past 2^256, late shares count in their epoch, and the closer's reads (work
// sums, pps groups, the finding share, the pplns slices) see what was stored.
#include "bmm/accounting/share_store.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace acc = bmm::accounting;
namespace ss = bmm::accounting::share_store;
namespace es = bmm::accounting::epoch_store;
namespace pg = bmm::pg;

constexpr std::int64_t k_day0 = 1767225600000;  // 2026-01-01 00:00:00 UTC, ms
constexpr std::int64_t k_day = 86400000;

// One shares row in COPY text (the ingest's column order).
std::string share_row(std::int64_t ms, const std::string& uid, const std::string& account, const std::string& work,
                      bool accepted = true, const std::string& network_work = "\\N",
                      const std::string& block_hash = "\\N", const std::string& reward = "\\N") {
    std::string o;
    pg::append_timestamp(o, ms);
    o += '\t' + uid + "\t1-0\t1\tLTC\tscrypt\t" + account + "\tw\t127.0.0.1\tj\t100\t1\t" + std::string(64, 'f');
    o += accepted ? "\tt\t0\t\tf\t\t" : "\tf\t21\tstale\tf\t\t";
    o += work + '\t' + network_work + '\t' + reward + '\t' + block_hash + "\t\\N\n";
    return o;
}

std::string scalar(pg::connection& db, const std::string& sql) {
    auto r = db.exec(sql);
    return r && r->rows() == 1 ? r->text(0, 0) : "<error: " + (r ? std::string("rows") : r.error_message()) + ">";
}

class share_store_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto& stack = bmm::test::stack_environment::get();
        db_ = bmm::test::db();
        const std::string schema = std::string("ss_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        ASSERT_TRUE(db_.exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema +
                             " CASCADE; CREATE SCHEMA " + schema + "; SET search_path TO " + schema)
                        .ok());
        auto m = acc::migrate(db_, stack.source_dir() + "/sql");
        ASSERT_TRUE(m.ok()) << m.error_message();
        ASSERT_TRUE(ss::prepare_ingest_session(db_).ok());
        for (int d = 0; d < 3; ++d) {
            ASSERT_TRUE(ss::ensure_day(db_, k_day0 / k_day + d).ok());
        }
    }
    // Runs `body` in one transaction (as the ingest's round) and commits.
    template <class Body>
    void round(Body&& body) {
        auto tx = pg::transaction::begin(db_);
        ASSERT_TRUE(tx.ok()) << tx.error_message();
        body();
        auto c = tx->commit();
        ASSERT_TRUE(c.ok()) << c.error_message();
    }
    pg::connection db_;
};

TEST_F(share_store_test, a_round_with_a_stored_uid_stores_nothing_until_the_repeat_is_left_out) {
    const std::string a = share_row(k_day0 + 1000, "a", "alice", "10");
    const std::string b = share_row(k_day0 + 2000, "b", "bob", "20");
    const std::string c = share_row(k_day0 + 3000, "c", "carol", "30");
    round([&] {
        auto r = ss::copy_round(db_, a + b);
        ASSERT_TRUE(r.ok()) << r.error_message();
        EXPECT_TRUE(*r);
    });
    round([&] {
        auto r = ss::copy_round(db_, a + c);
        ASSERT_TRUE(r.ok()) << r.error_message();
        EXPECT_FALSE(*r) << "a is stored already";
        EXPECT_TRUE(db_.in_transaction()) << "back at the savepoint, the transaction goes on";
        auto stored = ss::stored_uids(db_, "{\"a\",\"c\"}", k_day0 + 1000, k_day0 + 3000);
        ASSERT_TRUE(stored.ok()) << stored.error_message();
        EXPECT_EQ(*stored, (std::unordered_set<std::string>{"a"}));
        auto kept = ss::copy_shares(db_, c);
        ASSERT_TRUE(kept.ok()) << kept.error_message();
    });
    EXPECT_EQ(scalar(db_, "SELECT string_agg(uid, ',' ORDER BY uid) FROM shares"), "a,b,c");
    // Outside the time span given, a stored uid is not found.
    auto none = ss::stored_uids(db_, "{\"a\"}", k_day0 + 1001, k_day0 + 5000);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
}

TEST_F(share_store_test, minutes_add_up_across_rounds_and_carry_past_2_256) {
    ss::minute_sums sums;
    auto& x = sums[{"LTC\talice\tw", k_day0}];
    x.accepted = 2;
    x.rejected = 1;
    x.by_code[1] = 1;
    x.blocks = 1;
    const bmm::uint256 max = *bmm::uint256::from_hex(std::string(64, 'f'));
    x.add_work(max);
    x.add_work(bmm::uint256(2));  // 2^256 - 1 + 2 = 2^256 + 1: low 1, one carry
    EXPECT_EQ(x.work_carry, 1u);
    EXPECT_EQ(x.work_low, bmm::uint256(1));
    for (int i = 0; i < 2; ++i) {
        round([&] { ASSERT_TRUE(ss::add_minutes(db_, sums).ok()); });
    }
    auto r = db_.exec("SELECT accepted, rejected, rejected_stale, blocks, work::text FROM share_minutes");
    ASSERT_TRUE(r.ok()) << r.error_message();
    ASSERT_EQ(r->rows(), 1);
    EXPECT_EQ(r->text(0, 0), "4");
    EXPECT_EQ(r->text(0, 1), "2");
    EXPECT_EQ(r->text(0, 2), "2");
    EXPECT_EQ(r->text(0, 3), "2");
    // 2 x (2^256 + 1)
    EXPECT_EQ(r->text(0, 4), "231584178474632390847141970017375815706539969331281128078915168015826259279874");
}

TEST_F(share_store_test, late_shares_count_in_their_epoch_and_the_closer_reads_them) {
    // Epoch 0 is day 0, epoch 1 is day 1; epoch 0 closes before a late share arrives.
    ASSERT_TRUE(es::ensure_epoch(db_, 0, pg::timestamp_text(k_day0), pg::timestamp_text(k_day0 + k_day)).ok());
    {
        round([&] {
            auto span = es::lock_closed_span(db_);
            ASSERT_TRUE(span.ok()) << span.error_message();
            EXPECT_EQ(span->first_open, 0u);
            EXPECT_EQ(span->end_ms, 0);
            ASSERT_TRUE(ss::copy_round(db_, share_row(k_day0 + 1000, "on-time", "alice", "10") +
                                                share_row(k_day0 + 1500, "rejected", "alice", "0", false) +
                                                share_row(k_day0 + 2000, "pps", "bob", "5", true, "1000", "\\N", "50"))
                            .ok());
        });
    }
    acc::epoch_close_output out;
    out.k = 0;
    ASSERT_TRUE(es::book_epoch_close(db_, out).ok());
    round([&] {
        auto span = es::lock_closed_span(db_);
        ASSERT_TRUE(span.ok()) << span.error_message();
        EXPECT_EQ(span->first_open, 1u);
        EXPECT_EQ(span->start_ms, k_day0);
        EXPECT_EQ(span->end_ms, k_day0 + k_day);
        ASSERT_TRUE(ss::copy_round(db_, share_row(k_day0 + 5000, "late", "carol", "7")).ok());
        auto marked = ss::mark_late(db_, span->first_open, k_day0, span->end_ms, "{\"late\"}");
        ASSERT_TRUE(marked.ok()) << marked.error_message();
        EXPECT_EQ(*marked, 1u);
    });
    const ss::epoch_shares e0{0, k_day0, k_day0 + k_day, "{\"LTC\"}"};
    const ss::epoch_shares e1{1, k_day0 + k_day, k_day0 + 2 * k_day, "{\"LTC\"}"};
    auto w0 = ss::work_by_account(db_, e0);
    ASSERT_TRUE(w0.ok()) << w0.error_message();
    EXPECT_EQ(w0->size(), 2u) << "alice and bob; carol's share is late";
    EXPECT_EQ(acc::to_decimal((*w0)["alice"]["LTC"]), "10");
    auto w1 = ss::work_by_account(db_, e1);
    ASSERT_TRUE(w1.ok()) << w1.error_message();
    ASSERT_EQ(w1->size(), 1u);
    EXPECT_EQ(acc::to_decimal((*w1)["carol"]["LTC"]), "7");
    auto pps = ss::pps_groups(db_, e0);
    ASSERT_TRUE(pps.ok()) << pps.error_message();
    ASSERT_EQ(pps->size(), 2u);
    EXPECT_EQ((*pps)[0].account, "alice");
    EXPECT_FALSE((*pps)[0].network_work.has_value()) << "a share without network work";
    EXPECT_EQ((*pps)[1].account, "bob");
    ASSERT_TRUE((*pps)[1].network_work && (*pps)[1].reward);
    EXPECT_EQ(acc::to_decimal(*(*pps)[1].network_work), "1000");
    EXPECT_EQ(acc::to_decimal(*(*pps)[1].reward), "50");
    EXPECT_EQ(acc::to_decimal((*pps)[1].work), "5");
}

TEST_F(share_store_test, the_pplns_reads_find_the_block_share_and_slice_newest_first) {
    const std::string h(64, 'b');
    round([&] {
        ASSERT_TRUE(ss::copy_round(db_, share_row(k_day0 + 1000, "s1", "alice", "1") +
                                            share_row(k_day0 + 2000, "s2", "bob", "2") +
                                            share_row(k_day0 + 2000, "s3", "carol", "3", true, "99", h) +
                                            share_row(k_day0 + 2000, "s4", "dave", "4") +
                                            share_row(k_day0 + 3000, "s5", "erin", "5"))
                        .ok());
    });
    auto f = ss::find_block_share(db_, h, "LTC");
    ASSERT_TRUE(f.ok()) << f.error_message();
    ASSERT_TRUE(f->has_value());
    EXPECT_EQ((*f)->ms, k_day0 + 2000);
    EXPECT_EQ((*f)->uid, "s3");
    EXPECT_EQ((*f)->network_work, std::optional<std::string>("99"));
    auto missing = ss::find_block_share(db_, h, "BTC");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    auto oldest = ss::oldest_kept_day_ms(db_);
    ASSERT_TRUE(oldest.ok()) << oldest.error_message();
    EXPECT_EQ(*oldest, k_day0);

    std::vector<std::string> seen;
    auto collect = [&](std::string_view account, std::string_view work) {
        seen.push_back(std::string(account) + "=" + std::string(work));
        return true;
    };
    // The newest slice: through the finding share, by (time, uid).
    ASSERT_TRUE(ss::window_slice(db_, "LTC", k_day0, k_day0 + 2000, std::string_view("s3"), collect).ok());
    EXPECT_EQ(seen, (std::vector<std::string>{"carol=3", "bob=2", "alice=1"}));
    // An older slice ends before its end; the callback stops the reading.
    seen.clear();
    ASSERT_TRUE(ss::window_slice(db_, "LTC", k_day0, k_day0 + 2000, std::nullopt, collect).ok());
    EXPECT_EQ(seen, (std::vector<std::string>{"alice=1"}));
    int calls = 0;
    ASSERT_TRUE(
        ss::window_slice(db_, "LTC", k_day0, k_day0 + 5000, std::nullopt, [&](std::string_view, std::string_view) {
            return ++calls < 2;
        }).ok());
    EXPECT_EQ(calls, 2);
}

// [ingest] keep_days (issue 13, item 11): shares_needed_before() holds the
// drop's cutoff back to the oldest share the ledger still reads: the first
// open epoch's, a late share counted in an open epoch, and the pplns window of
// a block not split yet (kept whole when the shares after the cutoff do not
// cover it).
TEST_F(share_store_test, keep_days_is_held_back_for_late_shares_and_unsplit_pplns_windows) {
    const std::int64_t cutoff = k_day0 + 2 * k_day;  // keep_days would drop days 0 and 1
    const std::int64_t open_start = cutoff + 1000;   // epoch 5, the first open one, starts after the cutoff
    const std::vector<std::pair<std::string, std::uint64_t>> pplns{{"LTC", 2000000}};  // N = 2
    const auto needed = [&](const std::vector<std::pair<std::string, std::uint64_t>>& schemes) {
        auto n = ss::shares_needed_before(db_, cutoff, 5, open_start, schemes);
        EXPECT_TRUE(n.ok()) << n.error_message();
        return n.ok() ? *n : std::optional<ss::needed_shares>();
    };
    round([&] {
        ASSERT_TRUE(ss::copy_round(db_, share_row(k_day0 + 1000, "old", "alice", "10") +
                                            share_row(k_day0 + k_day + 1000, "late4", "bob", "10") +
                                            share_row(k_day0 + k_day + 2000, "late5", "carol", "10"))
                        .ok());
    });
    EXPECT_FALSE(needed(pplns).has_value()) << "nothing before the cutoff is read any more";
    const auto open = ss::shares_needed_before(db_, cutoff, 5, k_day0 + 500, pplns);
    ASSERT_TRUE(open.ok() && open->has_value());
    EXPECT_EQ((*open)->from_ms, k_day0 + 500);
    EXPECT_NE((*open)->why.find("epoch 5"), std::string::npos) << (*open)->why;

    // A late share counted in closed epoch 4 is not read again; one counted in open epoch 5 is.
    ASSERT_TRUE(db_.exec("UPDATE shares SET late_epoch = 4 WHERE uid = 'late4'").ok());
    EXPECT_FALSE(needed(pplns).has_value());
    ASSERT_TRUE(db_.exec("UPDATE shares SET late_epoch = 5 WHERE uid = 'late5'").ok());
    auto late = needed(pplns);
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->from_ms, k_day0 + k_day + 2000);
    EXPECT_NE(late->why.find("late"), std::string::npos) << late->why;
    ASSERT_TRUE(db_.exec("UPDATE shares SET late_epoch = NULL WHERE uid = 'late5'").ok());

    // A pplns block booked in open epoch 5, its share after the cutoff, network work 100: its window is 200 of
    // work back from that share; 10 after the cutoff does not cover it, so every kept day is needed.
    const std::string h(64, 'c');
    round([&] {
        ASSERT_TRUE(
            ss::copy_round(db_, share_row(cutoff + 5000, "found", "dave", "10", true, "100", h, "625000000")).ok());
    });
    ASSERT_TRUE(db_.exec("INSERT INTO blocks (hash, coin, height, reward, finder, found_at, found_epoch, epoch) "
                         "VALUES ('" +
                         h + "', 'LTC', 100, 625000000, 'dave', '" + pg::timestamp_text(cutoff + 5000) + "', 5, 5)")
                    .ok());
    auto window = needed(pplns);
    ASSERT_TRUE(window.has_value());
    EXPECT_EQ(window->from_ms, k_day0) << "the oldest kept day";
    EXPECT_NE(window->why.find("block " + h + " (pplns"), std::string::npos) << window->why;
    EXPECT_FALSE(needed({}).has_value()) << "the same block under pp needs no window";

    // Shares after the cutoff that cover the window (10 + 190 = 200): nothing before the cutoff is needed.
    round([&] { ASSERT_TRUE(ss::copy_round(db_, share_row(cutoff + 4000, "cover", "erin", "190")).ok()); });
    EXPECT_FALSE(needed(pplns).has_value());

    // Once epoch 5 has closed (the first open one is 6), the block is split: its window is not read again.
    ASSERT_TRUE(db_.exec("DELETE FROM shares WHERE uid = 'cover'").ok());
    ASSERT_TRUE(needed(pplns).has_value());
    auto after_close = ss::shares_needed_before(db_, cutoff, 6, open_start, pplns);
    ASSERT_TRUE(after_close.ok()) << after_close.error_message();
    EXPECT_FALSE(after_close->has_value());
}

TEST_F(share_store_test, stream_positions_and_partitions) {
    const ss::consumer me{"shares", "accountd", "c1"};
    auto none = ss::load_position(db_, me);
    ASSERT_TRUE(none.ok()) << none.error_message();
    EXPECT_FALSE(none->has_value());
    round([&] { ASSERT_TRUE(ss::save_position(db_, me, {k_day0, 3}, 10).ok()); });
    round([&] { ASSERT_TRUE(ss::save_position(db_, me, {k_day0 + 5, 0}, 4).ok()); });
    auto got = ss::load_position(db_, me);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->ms, static_cast<std::uint64_t>(k_day0 + 5));
    EXPECT_EQ((*got)->seq, 0u);
    EXPECT_EQ(scalar(db_, "SELECT entries FROM stream_state"), "14");
    auto group = ss::group_stored_ms(db_, "shares", "accountd");
    ASSERT_TRUE(group.ok());
    EXPECT_EQ(*group, k_day0 + 5);

    auto dropped = ss::drop_days_before(db_, k_day0 / k_day + 2);
    ASSERT_TRUE(dropped.ok()) << dropped.error_message();
    EXPECT_EQ(*dropped, (std::vector<std::string>{"shares_20260101", "shares_20260102"}));
    auto oldest = ss::oldest_kept_day_ms(db_);
    ASSERT_TRUE(oldest.ok());
    EXPECT_EQ(*oldest, k_day0 + 2 * k_day);
    round([&] {
        ASSERT_TRUE(ss::record_ingest_error(db_, {"shares", "9-0", "{\"v\":\"9\"}", "version 9 is newer"}).ok());
    });
    EXPECT_EQ(scalar(db_, "SELECT error FROM ingest_errors WHERE stream_id = '9-0'"), "version 9 is newer");
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
