// worker_offline notifications (accounting/ledger/worker_watch.hpp) from
// share_minutes in the real PostgreSQL to a real HTTP receiver on loopback.
// The clock is the step's argument, so "ten minutes later" needs no waiting:
// the first look learns who is online and reports nobody; a worker whose
// last accepted minute ends worker_offline_minutes before now is reported
// once; a worker with only rejected shares never counts as online; one that
// comes back and leaves again is reported again.

#include "worker_watch.hpp"

#include "bmm/accounting/migrations.hpp"

#include "../support/stack_pg.hpp"
#include "../support/webhook_receiver.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace {

namespace acc = bmm::accounting;
using namespace std::chrono_literals;

constexpr std::int64_t k_t0 = 1767225600;  // 2026-01-01T00:00:00Z

class worker_watch_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto& stack = bmm::test::stack_environment::get();
        db_ = bmm::test::db();
        ASSERT_TRUE(db_.exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS ww CASCADE; CREATE SCHEMA ww;"
                             " SET search_path TO ww")
                        .ok());
        auto m = acc::migrate(db_, stack.source_dir() + "/sql");
        ASSERT_TRUE(m.ok()) << m.error_message();
        cfg_.notify.urls = {hooks_.url("/workers")};
        cfg_.notify.attempts = 2;
        cfg_.notify.backoff = 20ms;
        cfg_.notify.worker_offline_minutes = 10;
        cfg_.notify.worker_check_seconds = 60;
    }
    // A minute of `worker`'s shares starting at t0 + minute * 60.
    void minute(const std::string& worker, int minute, int accepted, int rejected = 0) {
        auto r = db_.exec(
            "INSERT INTO share_minutes (coin, account, worker, minute, accepted, rejected, rejected_other)"
            " VALUES ('LTC', 'alice', $1, to_timestamp($2::bigint), $3::bigint, $4::bigint, $4::bigint)",
            {worker, std::to_string(k_t0 + minute * 60), std::to_string(accepted), std::to_string(rejected)});
        ASSERT_TRUE(r.ok()) << r.error_message();
    }
    static std::int64_t at(int minute) { return (k_t0 + minute * 60) * 1000; }
    std::vector<std::string> offline_sent() const {
        std::vector<std::string> out;
        for (const auto& r : hooks_.requests()) {
            EXPECT_EQ(r.method, "POST");
            EXPECT_EQ(r.content_type, "application/json");
            if (r.body.find("\"event\":\"worker_offline\"") == std::string::npos) {
                continue;
            }
            const auto w = r.body.find("\"worker\":\"");
            out.push_back(r.body.substr(w + 10, r.body.find('"', w + 10) - w - 10));
        }
        return out;
    }
    bmm::test::webhook_receiver hooks_;
    acc::accountd_config cfg_;
    bmm::pg::connection db_;
};

TEST_F(worker_watch_test, an_online_worker_that_stops_is_reported_once_per_absence) {
    minute("rig1", 0, 5);
    minute("rig2", 0, 5);
    minute("junk", 0, 0, 9);  // only rejected shares: never online
    bmm::notify::webhook hook(cfg_.notify, "bmm-accountd");
    acc::worker_watch watch(cfg_, hook);

    auto n = watch.step(db_, at(1));  // first look: learns rig1 and rig2
    ASSERT_TRUE(n.ok()) << n.error_message();
    EXPECT_EQ(*n, 0u);
    // rig2 keeps mining; rig1's last minute (0) ended at minute 1.
    for (int m = 1; m <= 12; ++m) {
        minute("rig2", m, 3);
    }
    n = watch.step(db_, at(5));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);
    n = watch.step(db_, at(5) + 30000);  // within worker_check_seconds: not looked
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);
    n = watch.step(db_, at(11));  // rig1: 10 minutes since the end of minute 0
    ASSERT_TRUE(n.ok()) << n.error_message();
    EXPECT_EQ(*n, 1u);
    n = watch.step(db_, at(12));  // not twice
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);
    ASSERT_TRUE(hook.flush(10s));
    EXPECT_EQ(offline_sent(), std::vector<std::string>{"rig1"});
    const auto body = hooks_.requests().at(0).body;
    EXPECT_NE(body.find("\"account\":\"alice\""), std::string::npos) << body;
    EXPECT_NE(body.find("\"coin\":\"LTC\""), std::string::npos) << body;
    EXPECT_NE(body.find("\"last_share_before\":" + std::to_string(k_t0 + 60)), std::string::npos) << body;

    // rig1 comes back at minute 20 and leaves again: reported again; rig2's
    // last minute (12) ended at 13, so it is reported at 23.
    minute("rig1", 20, 4);
    n = watch.step(db_, at(21));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);
    n = watch.step(db_, at(23));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 1u);
    n = watch.step(db_, at(31));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 1u);
    ASSERT_TRUE(hook.flush(10s));
    EXPECT_EQ(offline_sent(), (std::vector<std::string>{"rig1", "rig2", "rig1"}));
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
