// The PostgreSQL layer (accounting/pg, bmm_pg) against the test stack's real
// PostgreSQL (tests/support/stack.hpp): values as text, transaction scopes
// that roll back when left without a commit, and advisory locks that exclude
// another session and are released by their scope.
#include "bmm/pg/connection.hpp"
#include "bmm/pg/locks.hpp"
#include "bmm/pg/retry.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include "../support/pool_process.hpp"
#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>

#include <chrono>
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


// The stack's database, as settings (for work that reconnects by itself).
pg::settings stack_settings() {
    const auto& st = bmm::test::stack_environment::get();
    pg::settings s;
    s.port = std::stoi(st.setting("BMM_PG_PORT"));
    s.user = st.setting("BMM_PG_USER");
    s.dbname = st.setting("BMM_PG_DB");
    s.password = st.setting("BMM_PG_PASSWORD");
    s.application_name = "pg_test";
    return s;
}

constexpr pg::retry_policy k_quick{std::chrono::milliseconds(20), std::chrono::milliseconds(100),
                                   std::chrono::milliseconds(5000)};

// A session the server ends (pg_terminate_backend: 57P01, as a fast
// shutdown does) in the middle of a transaction is a failover: the work runs
// again from the start on a new connection, takes its session lock there
// again, and what it books by id is there once.
TEST(pg_retry, a_session_ended_mid_transaction_runs_again_from_the_start_on_a_new_connection) {
    ASSERT_TRUE(bmm::test::db().exec("CREATE TABLE IF NOT EXISTS pg_test_retry (id text PRIMARY KEY, n int)").ok());
    const pg::lock_key key{"hashtext('bmm pg_test retry lock')", "the retry test lock"};
    pg::connection db;
    int runs = 0;
    std::vector<std::string> pids;
    auto r = pg::with_failover_retry(
        stack_settings(), db, "the test booking",
        [&](pg::connection& c) -> result<std::string> {
            ++runs;
            auto lock = pg::advisory_lock::take(c, key);
            if (!lock) {
                return bmm::error{lock.error_message()};
            }
            auto pid = c.exec("SELECT pg_backend_pid()::text");
            if (!pid) {
                return bmm::error{pid.error_message()};
            }
            pids.push_back(pid->text(0, 0));
            return pg::in_transaction(c, [&]() -> result<std::string> {
                auto ins = c.exec("INSERT INTO pg_test_retry VALUES ('booking-1', 1) ON CONFLICT (id) DO NOTHING");
                if (!ins) {
                    return bmm::error{ins.error_message()};
                }
                if (runs == 1) {  // the server ends this session before the COMMIT
                    auto killer = bmm::test::db();
                    auto k = killer.exec("SELECT pg_terminate_backend($1::int)", {pids.back()});
                    if (!k || k->text(0, 0) != "t") {
                        return std::string("the session was not ended");
                    }
                }
                auto held = c.exec(
                    "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()");
                if (!held) {
                    return bmm::error{held.error_message()};
                }
                return held->text(0, 0);
            });
        },
        k_quick);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(*r, "1") << "the session lock is held again on the new connection";
    EXPECT_EQ(runs, 2);
    ASSERT_EQ(pids.size(), 2u);
    EXPECT_NE(pids[0], pids[1]) << "the second run is on a new connection";
    EXPECT_EQ(bmm::test::scalar("SELECT count(*) FROM pg_test_retry WHERE id = 'booking-1'"), "1");
}

// A server that cannot take writes (25006: a standby, or a primary demoted
// under a session) is a failover too; the new connection finds a writable one.
TEST(pg_retry, a_read_only_session_is_left_for_a_new_connection) {
    ASSERT_TRUE(bmm::test::db().exec("CREATE TABLE IF NOT EXISTS pg_test_retry (id text PRIMARY KEY, n int)").ok());
    auto first = pg::connection::open(stack_settings());
    ASSERT_TRUE(first.ok()) << first.error_message();
    pg::connection db = std::move(*first);
    ASSERT_TRUE(db.exec("SET default_transaction_read_only = on").ok());
    int runs = 0;
    auto r = pg::with_failover_retry(
        stack_settings(), db, "the read-only test",
        [&](pg::connection& c) -> result<bool> {
            ++runs;
            return pg::in_transaction(c, [&]() -> result<bool> {
                auto ins = c.exec("INSERT INTO pg_test_retry VALUES ('booking-ro', 1) ON CONFLICT (id) DO NOTHING");
                if (!ins) {
                    return bmm::error{ins.error_message()};
                }
                return true;
            });
        },
        k_quick);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(runs, 2);
    EXPECT_EQ(bmm::test::scalar("SELECT count(*) FROM pg_test_retry WHERE id = 'booking-ro'"), "1");
}

// Any other error is the work's own: returned at once, not run again.
TEST(pg_retry, other_errors_are_not_retried_and_a_failover_is_given_up_after_the_bound) {
    ASSERT_TRUE(bmm::test::db().exec("CREATE TABLE IF NOT EXISTS pg_test_retry (id text PRIMARY KEY, n int)").ok());
    pg::connection db;
    int runs = 0;
    auto dup = pg::with_failover_retry(
        stack_settings(), db, "the duplicate test",
        [&](pg::connection& c) -> result<bool> {
            ++runs;
            auto ins = c.exec("INSERT INTO pg_test_retry VALUES ('dup', 1), ('dup', 2)");
            if (!ins) {
                return bmm::error{ins.error_message()};
            }
            return true;
        },
        k_quick);
    EXPECT_FALSE(dup.ok());
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(db.last_sqlstate(), "23505");
    EXPECT_FALSE(db.failed_by_failover());

    // No server at all on the listed hosts: tried until the bound, then the connect error.
    pg::settings gone = stack_settings();
    gone.hosts = {"127.0.0.1:" + std::to_string(bmm::test::free_port(41000)),
                  "127.0.0.1:" + std::to_string(bmm::test::free_port(42000))};
    pg::connection none;
    int body_runs = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = pg::with_failover_retry(
        gone, none, "the unreachable test",
        [&](pg::connection&) -> result<bool> {
            ++body_runs;
            return true;
        },
        pg::retry_policy{std::chrono::milliseconds(20), std::chrono::milliseconds(50), std::chrono::milliseconds(300)});
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error_message().find("cannot connect to PostgreSQL"), std::string::npos) << r.error_message();
    EXPECT_EQ(body_runs, 0);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300)) << "tried until the bound";
}

// Through several hosts the first server that takes writes is chosen: a
// closed port first, the stack's server second.
TEST(pg_hosts, libpq_skips_a_dead_host_and_finds_the_writable_one) {
    pg::settings s = stack_settings();
    s.hosts = {"127.0.0.1:" + std::to_string(bmm::test::free_port(43000)), "127.0.0.1:" + std::to_string(s.port)};
    auto c = pg::connection::open(s);
    ASSERT_TRUE(c.ok()) << c.error_message();
    auto r = c->exec("SELECT inet_server_port()::text, pg_is_in_recovery()::text, current_setting('TimeZone')");
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r->text(0, 0), std::to_string(s.port));
    EXPECT_EQ(r->text(0, 1), "false");
    EXPECT_EQ(r->text(0, 2), "UTC");
}

// A transaction-pooled connection sets nothing per session: the time zone
// (and PGOPTIONS' settings) hold inside each transaction only.
TEST(pg_hosts, a_transaction_pooled_connection_sets_its_settings_per_transaction) {
    pg::settings s = stack_settings();
    s.transaction_pooling = true;
    auto c = pg::connection::open(s);
    ASSERT_TRUE(c.ok()) << c.error_message();
    ASSERT_TRUE(c->exec("SET TimeZone = 'Asia/Tokyo'").ok());  // as another client of the pooled session left it
    c->also_per_transaction("SELECT set_config('statement_timeout', '1234', true)");
    {
        auto tx = pg::transaction::begin(*c, pg::transaction_mode::read_only_snapshot);
        ASSERT_TRUE(tx.ok()) << tx.error_message();
        auto r = c->exec("SELECT current_setting('TimeZone'), current_setting('statement_timeout')");
        ASSERT_TRUE(r.ok()) << r.error_message();
        EXPECT_EQ(r->text(0, 0), "UTC");
        EXPECT_EQ(r->text(0, 1), "1234ms");
        ASSERT_TRUE(tx->commit().ok());
    }
    auto after = c->exec("SELECT current_setting('TimeZone')");
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->text(0, 0), "Asia/Tokyo") << "nothing was left set on the session";
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
