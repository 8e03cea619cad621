// The PostgreSQL layer (accounting/pg, bmm_pg) against the test stack's real
// PostgreSQL (tests/support/stack.hpp): values as text, transaction scopes
// that roll back when left without a commit, and advisory locks that exclude
// another session and are released by their scope.
#include "bmm/pg/connection.hpp"
#include "bmm/pg/locks.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace pg = bmm::pg;
using bmm::result;

TEST(pg_text, timestamps_are_utc_with_milliseconds) {
    EXPECT_EQ(pg::timestamp_text(0), "1970-01-01 00:00:00.000+00");
    EXPECT_EQ(pg::timestamp_text(1764017144123), "2025-11-24 20:45:44.123+00");
    std::string s = "x";
    pg::append_timestamp(s, 1000);
    EXPECT_EQ(s, "x1970-01-01 00:00:01.000+00");
}

TEST(pg_text, arrays_and_copy_fields_are_escaped) {
    pg::text_array a;
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(a.str(), "{}");
    a.add("LTC");
    a.add("a\"b\\c");
    a.add("");
    EXPECT_EQ(a.str(), "{\"LTC\",\"a\\\"b\\\\c\",\"\"}");
    const std::string x = "x", y = "y,z";
    const std::vector<const std::string*> ptrs{&x, &y};
    EXPECT_EQ(pg::text_array_of(ptrs), "{\"x\",\"y,z\"}");
    std::string f;
    pg::copy_escape(f, "a\tb\nc\rd\\e");
    EXPECT_EQ(f, "a\\tb\\nc\\rd\\\\e");
}

TEST(pg_text, an_array_reaches_postgresql_as_its_elements) {
    auto db = bmm::test::db();
    pg::text_array a;
    for (const char* v : {"plain", "with \"quote\"", "back\\slash", "comma,brace}"}) a.add(v);
    auto r = db.exec("SELECT v FROM unnest($1::text[]) AS v ORDER BY v COLLATE \"C\"", {a.str()});
    ASSERT_TRUE(r.ok()) << r.error_message();
    ASSERT_EQ(r->rows(), 4);
    EXPECT_EQ(r->text(0, 0), "back\\slash");
    EXPECT_EQ(r->text(1, 0), "comma,brace}");
    EXPECT_EQ(r->text(2, 0), "plain");
    EXPECT_EQ(r->text(3, 0), "with \"quote\"");
    auto t = db.exec("SELECT $1::timestamptz = '2025-11-24 20:45:44.123+00'::timestamptz",
                     {pg::timestamp_text(1764017144123)});
    ASSERT_TRUE(t.ok()) << t.error_message();
    EXPECT_EQ(t->text(0, 0), "t");
}

TEST(pg_transaction, rolls_back_unless_committed) {
    auto db = bmm::test::db();
    ASSERT_TRUE(db.exec("CREATE TEMP TABLE pg_tx_test (v int)").ok());
    {
        auto tx = pg::transaction::begin(db);
        ASSERT_TRUE(tx.ok()) << tx.error_message();
        EXPECT_TRUE(db.in_transaction());
        ASSERT_TRUE(db.exec("INSERT INTO pg_tx_test VALUES (1)").ok());
        // A second transaction on the same connection is refused.
        EXPECT_FALSE(pg::transaction::begin(db).ok());
    }  // left without commit: rolled back
    EXPECT_FALSE(db.in_transaction());
    EXPECT_EQ(db.exec("SELECT count(*) FROM pg_tx_test")->text(0, 0), "0");

    auto done = pg::in_transaction(db, [&]() -> result<bool> {
        if (auto r = db.exec("INSERT INTO pg_tx_test VALUES (2)"); !r) return bmm::error{r.error_message()};
        return true;
    });
    ASSERT_TRUE(done.ok()) << done.error_message();
    auto failed = pg::in_transaction(db, [&]() -> result<bool> {
        (void)db.exec("INSERT INTO pg_tx_test VALUES (3)");
        return bmm::error{"the body failed"};
    });
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error_message(), "the body failed");
    EXPECT_FALSE(db.in_transaction());
    EXPECT_EQ(db.exec("SELECT string_agg(v::text, ',') FROM pg_tx_test")->text(0, 0), "2");
}

TEST(pg_transaction, a_read_only_snapshot_sees_one_state_and_writes_nothing) {
    auto db = bmm::test::db();
    auto other = bmm::test::db();
    ASSERT_TRUE(other
                    .exec("DROP TABLE IF EXISTS pg_snapshot_test; CREATE TABLE pg_snapshot_test (v int); "
                          "INSERT INTO pg_snapshot_test VALUES (1)")
                    .ok());
    {
        auto tx = pg::transaction::begin(db, pg::transaction_mode::read_only_snapshot);
        ASSERT_TRUE(tx.ok()) << tx.error_message();
        EXPECT_EQ(db.exec("SELECT count(*) FROM pg_snapshot_test")->text(0, 0), "1");
        // A commit by another session after the first statement is not seen.
        ASSERT_TRUE(other.exec("INSERT INTO pg_snapshot_test VALUES (2)").ok());
        EXPECT_EQ(db.exec("SELECT count(*) FROM pg_snapshot_test")->text(0, 0), "1");
        EXPECT_EQ(db.exec("SHOW transaction_isolation")->text(0, 0), "repeatable read");
        auto commit = tx->commit();
        ASSERT_TRUE(commit.ok()) << commit.error_message();
    }
    auto tx = pg::transaction::begin(db, pg::transaction_mode::read_only_snapshot);
    ASSERT_TRUE(tx.ok()) << tx.error_message();
    EXPECT_EQ(db.exec("SELECT count(*) FROM pg_snapshot_test")->text(0, 0), "2");
    EXPECT_FALSE(db.exec("INSERT INTO pg_snapshot_test VALUES (3)").ok());
    EXPECT_EQ(db.last_sqlstate(), "25006") << "read_only_sql_transaction";
    tx->rollback();
    EXPECT_FALSE(db.in_transaction());
    ASSERT_TRUE(other.exec("DROP TABLE pg_snapshot_test").ok());
}

TEST(pg_locks, an_advisory_lock_excludes_other_sessions_until_its_scope_ends) {
    auto a = bmm::test::db();
    auto b = bmm::test::db();
    const pg::lock_key key{"hashtext('bmm pg_test lock')", "the test lock"};
    {
        auto held = pg::advisory_lock::take(a, key);
        ASSERT_TRUE(held.ok()) << held.error_message();
        auto other = pg::advisory_lock::try_take(b, key);
        ASSERT_TRUE(other.ok()) << other.error_message();
        EXPECT_FALSE(other->has_value()) << "another session holds it";
        // A shared transaction lock waits for the exclusive one: a timeout shows it waits.
        ASSERT_TRUE(b.exec("SET lock_timeout = '200ms'").ok());
        auto tx = pg::transaction::begin(b);
        ASSERT_TRUE(tx.ok()) << tx.error_message();
        EXPECT_FALSE(pg::lock_shared_for_transaction(b, key).ok());
    }
    auto now = pg::advisory_lock::try_take(b, key);
    ASSERT_TRUE(now.ok()) << now.error_message();
    EXPECT_TRUE(now->has_value()) << "released when the first scope ended";
    auto again_from_a = pg::advisory_lock::try_take(a, key);
    ASSERT_TRUE(again_from_a.ok());
    EXPECT_FALSE(again_from_a->has_value());
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
