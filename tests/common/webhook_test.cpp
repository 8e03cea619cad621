// Webhook notifications (bmm/notify/webhook.hpp) against a real HTTP
// receiver on a loopback port (tests/support/webhook_receiver.hpp): the JSON
// POST and its fields, retries until a 2xx, giving up after the attempts, a
// receiver slower than the timeout, several URLs, and nothing when off.

#include "bmm/notify/webhook.hpp"

#include "../support/webhook_receiver.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <ctime>

namespace bmm::test {
namespace {

using namespace std::chrono_literals;

notify::webhook_settings settings(std::vector<std::string> urls) {
    notify::webhook_settings s;
    s.urls = std::move(urls);
    s.timeout = 2000ms;
    s.attempts = 4;
    s.backoff = 20ms;
    s.max_backoff = 100ms;
    return s;
}

TEST(webhook, posts_the_event_as_json) {
    webhook_receiver r;
    notify::webhook w(settings({r.url("/bmm/hook")}), "bmm-test");
    ASSERT_TRUE(w.enabled());
    w.send(notify::k_block_found, R"({"coin":"LTC","height":5})");
    ASSERT_TRUE(w.flush(10s));
    const auto got = r.requests();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].method, "POST");
    EXPECT_EQ(got[0].path, "/bmm/hook");
    EXPECT_EQ(got[0].content_type, "application/json");
    simdjson::dom::parser p;
    auto doc = p.parse(got[0].body);
    ASSERT_FALSE(doc.error()) << got[0].body;
    EXPECT_EQ(std::string_view(doc["event"].get_string().value()), "block_found");
    EXPECT_EQ(std::string_view(doc["source"].get_string().value()), "bmm-test");
    EXPECT_EQ(std::string_view(doc["data"]["coin"].get_string().value()), "LTC");
    EXPECT_EQ(doc["data"]["height"].get_int64().value(), 5);
    const auto t = doc["time"].get_int64().value();
    EXPECT_LE(std::abs(t - static_cast<std::int64_t>(std::time(nullptr))), 60);
    const auto s = w.stats();
    EXPECT_EQ(s.queued, 1u);
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.retries, 0u);
    EXPECT_EQ(s.failed, 0u);
}

TEST(webhook, retries_until_the_receiver_accepts) {
    webhook_receiver r({503, 500});
    notify::webhook w(settings({r.url()}), "bmm-test");
    w.send(notify::k_payout_sent, R"({"batch":7})");
    ASSERT_TRUE(w.flush(20s));
    const auto got = r.requests();
    ASSERT_EQ(got.size(), 3u);            // 503, 500, then 200
    EXPECT_EQ(got[0].body, got[2].body);  // the same notification each time
    const auto s = w.stats();
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.retries, 2u);
    EXPECT_EQ(s.failed, 0u);
}

TEST(webhook, gives_up_after_the_attempts) {
    webhook_receiver r({503, 503, 503, 503, 503, 503});
    auto cfg = settings({r.url()});
    cfg.attempts = 3;
    notify::webhook w(cfg, "bmm-test");
    w.send(notify::k_payout_failed, R"({"batch":8})");
    ASSERT_TRUE(w.flush(20s));
    EXPECT_EQ(r.requests().size(), 3u);
    const auto s = w.stats();
    EXPECT_EQ(s.delivered, 0u);
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.retries, 2u);
    // The next notification starts afresh (and the receiver still says 503
    // three more times): failed again, nothing stuck.
    w.send(notify::k_payout_failed, R"({"batch":9})");
    ASSERT_TRUE(w.flush(20s));
    EXPECT_EQ(r.requests().size(), 6u);
    EXPECT_EQ(w.stats().failed, 2u);
}

TEST(webhook, a_receiver_slower_than_the_timeout_is_a_failed_attempt) {
    webhook_receiver r({}, 1500ms);
    auto cfg = settings({r.url()});
    cfg.timeout = 300ms;
    cfg.attempts = 2;
    notify::webhook w(cfg, "bmm-test");
    w.send(notify::k_worker_offline, R"({"worker":"rig1"})");
    ASSERT_TRUE(w.flush(20s));
    const auto s = w.stats();
    EXPECT_EQ(s.delivered, 0u);
    EXPECT_EQ(s.failed, 1u);
    EXPECT_EQ(s.retries, 1u);
    EXPECT_TRUE(r.wait_for(2, 10s));  // both attempts reached it
}

TEST(webhook, every_url_gets_it_and_one_down_does_not_stop_the_others) {
    webhook_receiver a, b;
    int closed_port = 0;
    {
        webhook_receiver gone;
        closed_port = std::stoi(gone.url().substr(std::string("http://127.0.0.1:").size()));
    }
    auto cfg = settings({a.url(), "http://127.0.0.1:" + std::to_string(closed_port) + "/x", b.url()});
    cfg.attempts = 2;
    notify::webhook w(cfg, "bmm-test");
    w.send(notify::k_block_orphaned, R"({"hash":"00ab"})");
    ASSERT_TRUE(w.flush(20s));
    EXPECT_EQ(a.requests().size(), 1u);
    EXPECT_EQ(b.requests().size(), 1u);
    const auto s = w.stats();
    EXPECT_EQ(s.delivered, 2u);
    EXPECT_EQ(s.failed, 1u);
}

TEST(webhook, without_urls_nothing_is_sent) {
    notify::webhook w(settings({}), "bmm-test");
    EXPECT_FALSE(w.enabled());
    w.send(notify::k_block_found, "{}");
    EXPECT_TRUE(w.flush(1s));
    EXPECT_EQ(w.stats().queued, 0u);
}

}  // namespace
}  // namespace bmm::test
