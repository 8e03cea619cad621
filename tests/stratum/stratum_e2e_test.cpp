// bmm-stratum end to end, against a real litecoind in regtest and a real
// Redis (both started by the test on loopback), through real sockets:
//  - every share rejection path, with the exact error the miner receives;
//  - one header spelled another way (version bits left out or "00000000",
//    upper-case hex) is a duplicate;
//  - workers past [limits] max_workers_per_connection are refused (and the
//    refusals lead to a ban); a second pool on the same spool_dir refuses to start;
//  - a block made on the node reaches the miner as clean_jobs, and shares on
//    the old job are then stale;
//  - the Redis stream holds exactly the verdicts the miner saw, in order,
//    also when Redis was stopped for part of the run;
//  - bmm-miner mines real blocks through the pool, paying the pool address;
//  - mining through MWEB activation (height 432) with the HogEx and the MWEB
//    extension data exactly as the node expects;
//  - SIGTERM: miners are told to reconnect and the process exits cleanly.
// In regtest nearly every share also meets the network target, so accepted
// shares are blocks and the tests wait for the clean job that follows.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stratum_client.hpp"
#include "../support/stream.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cctype>
#include <fstream>
#include <map>

namespace bmm::stratum {
namespace {

using test::stack_environment;

// The pool process, started once for all tests here.
using test::pool_process;

pool_process* g_pool = nullptr;

std::string cli(const std::string& args) { return stack_environment::get().cli(args); }
long block_count() { return std::stol(cli("getblockcount")); }

using test::read_stream;

// After an accepted share (a block here), wait for the job on the new tip.
void await_new_tip(test::stratum_client& c, const std::string& old_prevhash) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end) {
        c.drain(100);
        if (c.job() && c.job()->prevhash != old_prevhash) return;
    }
    FAIL() << "no job on a new tip within 10 s";
}

// Runs bmm-miner rounds until the node's chain reaches `target_height`
// (shares found in one batch at one height are all blocks, of which the node
// keeps one, so the number of shares per block varies). Bounded: 8 rounds.
void mine_until(long target_height, const std::string& user, const std::string& log, bool version_rolling = false) {
    for (int round = 0; round < 8 && block_count() < target_height; ++round) {
        std::vector<std::string> args = {test::bin("bmm-miner"),
                                         "--url",
                                         "stratum+tcp://127.0.0.1:" + std::to_string(g_pool->port),
                                         "--user",
                                         user,
                                         "--shares",
                                         "5",
                                         "--seconds",
                                         "60",
                                         "--quiet"};
        if (version_rolling) args.push_back("--version-rolling");
        test::child_process miner(args, log);
        ASSERT_EQ(miner.wait(90000), 0) << test::read_text(log);
        // The last summary line: "accepted N, ..." with N >= 5 (answers still
        // in flight when the fifth arrives are counted too).
        const std::string text = test::read_text(log);
        const auto at = text.rfind("accepted ");
        ASSERT_NE(at, std::string::npos) << text;
        EXPECT_GE(std::stoi(text.substr(at + 9)), 5) << text;
    }
}

class stratum_e2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g_pool = new pool_process;
        test::pool_options o;
        o.name = "pool";
        o.stream = "bmm:shares:e2e";
        o.instance_id = 7;
        o.log_level = "debug";
        o.ports = {test::free_port_near(20000)};
        g_pool->start(o);
    }
    static void TearDownTestSuite() {
        if (g_pool) g_pool->stop();
        delete g_pool;
        g_pool = nullptr;
    }
    void TearDown() override {
        if (HasFailure() && g_pool) std::cerr << "---- bmm-stratum log (tail) ----\n" << g_pool->log_tail() << "\n";
    }
};

TEST_F(stratum_e2e, every_rejection_path_gives_the_exact_error) {
    // Not subscribed.
    {
        test::stratum_client fresh(g_pool->port);
        auto r = fresh.reply(fresh.request("mining.submit", R"(["a.b","1","00000000","00000000","00000000"])"));
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.code, 25);
        EXPECT_EQ(r.message, "not subscribed");
        EXPECT_NE(r.raw.find("\"result\":null"), std::string::npos);
    }
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("rejects.w1", &why, true)) << why;
    const double d = c.difficulty();
    EXPECT_DOUBLE_EQ(d, 0.001);

    auto expect = [&](int id, int code, const std::string& message) {
        auto r = c.reply(id);
        ASSERT_TRUE(r.received) << "no reply to request " << id;
        EXPECT_FALSE(r.ok) << r.raw;
        EXPECT_EQ(r.code, code) << r.raw;
        EXPECT_EQ(r.message.substr(0, message.size()), message) << r.raw;
    };

    // Unauthorised worker, unknown job, malformed parameters, malformed JSON, unknown method.
    auto s = c.find_share(pow_algorithm::scrypt, d);
    expect(c.submit(s, "someone.else"), 24, "unauthorized worker");
    auto unknown = s;
    unknown.job_id = "ffffff";
    expect(c.submit(unknown), 21, "job not found");
    expect(c.request("mining.submit", "[1,2]"), 20, "malformed parameters");
    c.send_line("{this is not json");
    auto bad = c.wait_reply("\"id\":null,");
    ASSERT_TRUE(bad.received);
    EXPECT_EQ(bad.code, 20);
    EXPECT_EQ(bad.message, "malformed JSON");
    expect(c.request("mining.frobnicate", "[]"), 20, "unknown method mining.frobnicate");
    // Wrong extranonce2 size, ntime outside the window, version bits outside the mask.
    auto short_en2 = s;
    short_en2.en2 = "0000";
    expect(c.submit(short_en2), 20, "extranonce2 is not hex of the subscribed size");
    auto old_time = s;
    old_time.ntime = "00000001";
    expect(c.submit(old_time), 20, "ntime out of range");
    auto future = s;
    char ft[9];
    std::snprintf(ft, sizeof ft, "%08x", static_cast<unsigned>(std::time(nullptr) + 3 * 3600));
    future.ntime = ft;
    expect(c.submit(future), 20, "ntime out of range");
    auto outside = s;
    outside.version_bits = "00000001";
    expect(c.submit(outside), 20, "version bits outside the negotiated mask");

    // Low difficulty: a hash that misses the share target.
    auto low = c.find_share(pow_algorithm::scrypt, d, /*want_low=*/true);
    expect(c.submit(low), 23, "low difficulty share");
    c.drain(300);

    // A valid share, then the same share again: duplicate.
    const std::string prev = c.job()->prevhash;
    auto good = c.find_share(pow_algorithm::scrypt, c.difficulty());
    auto ok = c.reply(c.submit(good));
    ASSERT_TRUE(ok.ok) << ok.raw;
    EXPECT_EQ(ok.result, "true");
    EXPECT_NE(ok.raw.find("\"error\":null"), std::string::npos);
    expect(c.submit(good), 22, "duplicate share");
    // The unauthenticated submits above (not subscribed, as "a.b"; and
    // "someone.else", not authorised on this connection) got their errors but
    // left no record: they name accounts the client chose. The authorised
    // worker's rejections are recorded.
    std::size_t own_rejections = 0, foreign = 0;
    for (int i = 0; i < 50 && own_rejections < 7; ++i) {
        own_rejections = foreign = 0;
        for (auto& r : read_stream(g_pool->stream)) {
            if (r["type"] != "share") {
                continue;
            }
            if (r["account"] == "rejects" && r["accepted"] == "0") {
                ++own_rejections;
            }
            if (r["account"] == "someone" || r["account"] == "a") {
                ++foreign;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_GE(own_rejections, 7u) << "job not found, 4 malformed fields, low difficulty, duplicate";
    EXPECT_EQ(foreign, 0u);
    await_new_tip(c, prev);
}

// Regression: the duplicate key was the fields' text, so one share sent
// without version bits and again with "00000000", or in upper-case hex, was
// credited twice. Every spelling of the same header is now a duplicate.
TEST_F(stratum_e2e, one_header_spelled_another_way_is_a_duplicate) {
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("respell.w1", &why)) << why;
    const std::string prev = c.job()->prevhash;
    auto good = c.find_share(pow_algorithm::scrypt, c.difficulty());
    ASSERT_TRUE(good.version_bits.empty());
    const auto upper = [](std::string t) {
        for (auto& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return t;
    };
    std::vector<test::stratum_client::share_found> spellings;
    auto v = good;
    v.version_bits = "00000000";
    spellings.push_back(v);
    v = good;
    v.en2 = upper(good.en2);
    v.ntime = upper(good.ntime);
    v.nonce = upper(good.nonce);
    spellings.push_back(v);
    v.version_bits = "00000000";
    spellings.push_back(v);
    // All sent at once, behind the first: the job is still held when they
    // are judged, so the answer can only be "duplicate", never "stale".
    const int first = c.submit(good);
    std::vector<int> ids;
    for (const auto& s : spellings) ids.push_back(c.submit(s));
    auto ok = c.reply(first);
    ASSERT_TRUE(ok.ok) << ok.raw;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto r = c.reply(ids[i]);
        ASSERT_TRUE(r.received) << "spelling " << i;
        EXPECT_FALSE(r.ok) << "spelling " << i << " credited twice: " << r.raw;
        EXPECT_EQ(r.code, 22) << r.raw;
        EXPECT_EQ(r.message, "duplicate share") << r.raw;
    }
    await_new_tip(c, prev);
}

// [limits] max_workers_per_connection (default 64 in this pool): 300,000
// authorisations on one connection once held 111 MB until it closed. The
// worker past the cap is refused with error 24 naming the limit and is not
// kept (its shares are unauthorised); the earlier workers still mine; each
// refusal adds a ban point, so a connection that keeps trying is banned at
// ban_threshold (50 here). From its own address, so the ban touches no other test.
TEST_F(stratum_e2e, workers_past_max_workers_per_connection_are_refused_and_banned) {
    constexpr int k_cap = 64, k_ban_threshold = 50;
    test::stratum_client c(g_pool->port, "127.0.0.1", "127.0.0.21");
    std::string why;
    ASSERT_TRUE(c.login("capped.w0", &why)) << why;
    for (int i = 1; i < k_cap; ++i) {
        auto r = c.reply(c.request("mining.authorize", "[\"capped.w" + std::to_string(i) + "\",\"x\"]"));
        ASSERT_TRUE(r.ok) << "worker " << i << ": " << r.raw;
    }
    auto over = c.reply(c.request("mining.authorize", R"(["capped.over","x"])"));
    ASSERT_TRUE(over.received);
    EXPECT_FALSE(over.ok) << over.raw;
    EXPECT_EQ(over.code, 24) << over.raw;
    EXPECT_NE(over.raw.find("\"result\":false"), std::string::npos) << over.raw;
    EXPECT_NE(over.message.find("already has 64 workers ([limits] max_workers_per_connection)"), std::string::npos)
        << over.raw;
    // A worker kept already may authorise again: no new worker.
    auto again = c.reply(c.request("mining.authorize", R"(["capped.w7","x"])"));
    EXPECT_TRUE(again.ok) << again.raw;

    // Nothing was kept for the refused worker; the earlier ones still mine.
    const std::string prev = c.job()->prevhash;
    auto s = c.find_share(pow_algorithm::scrypt, c.difficulty());
    auto refused = c.reply(c.submit(s, "capped.over"));
    EXPECT_EQ(refused.code, 24) << refused.raw;
    EXPECT_EQ(refused.message, "unauthorized worker") << refused.raw;
    auto mined = c.reply(c.submit(s, "capped.w" + std::to_string(k_cap - 1)));
    EXPECT_TRUE(mined.ok) << mined.raw;
    await_new_tip(c, prev);

    // Each refusal is a ban point (halving every 60 s, so a few more than the
    // threshold may be needed): the connection is closed near the threshold.
    int answered = 1;
    for (int i = 1; i <= k_ban_threshold + 10; ++i) {
        test::stratum_reply r;
        try {
            r = c.reply(c.request("mining.authorize", "[\"capped.more" + std::to_string(i) + "\",\"x\"]"));
        } catch (const std::exception&) {
            break;  // reset: closed
        }
        if (!r.received) break;
        EXPECT_EQ(r.code, 24) << r.raw;
        ++answered;
    }
    EXPECT_GE(answered, k_ban_threshold - 1) << "closed before [limits] ban_threshold refusals";
    EXPECT_LE(answered, k_ban_threshold + 5);
    EXPECT_TRUE(c.wait_closed(5000)) << "not closed at [limits] ban_threshold refusals";
    EXPECT_NE(test::read_text(g_pool->log).find("banned 127.0.0.21"), std::string::npos);
}

// claim=<secret> in the password (issue 15): the share records carry only the
// secret's SHA-256 (the ingest stores it salted for the account it makes); a
// secret too short to be one refuses the worker.
TEST_F(stratum_e2e, a_claim_secret_travels_only_as_its_sha256) {
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("claimer.w0", &why)) << why;
    auto short_claim = c.reply(c.request("mining.authorize", R"(["claimer.w2","x,claim=short"])"));
    EXPECT_EQ(short_claim.code, 24) << short_claim.raw;
    EXPECT_NE(short_claim.message.find("claim=<secret> needs 12 to 128 characters"), std::string::npos)
        << short_claim.raw;
    auto ok = c.reply(c.request("mining.authorize", R"(["claimer.w1","x,claim=claimer-farm-secret-1,d=0.001"])"));
    ASSERT_TRUE(ok.ok) << ok.raw;
    const std::string prev = c.job()->prevhash;
    auto s = c.find_share(pow_algorithm::scrypt, c.difficulty());
    auto mined = c.reply(c.submit(s, "claimer.w1"));
    EXPECT_TRUE(mined.ok) << mined.raw;
    // echo -n claimer-farm-secret-1 | sha256sum
    const std::string digest = "5871bffb093506bab7f0aa0ba4b84ac2b8ea9e75e4c88da20b52fc406b6b4893";
    bool found = false, leaked = false;
    for (int i = 0; i < 50 && !found; ++i) {
        for (auto& r : read_stream(g_pool->stream)) {
            found = found || (r["worker"] == "w1" && r["account"] == "claimer" && r["claim"] == digest);
            for (const auto& [k, v] : r) {
                leaked = leaked || v.find("claimer-farm-secret-1") != std::string::npos;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(found) << "no share record of claimer.w1 with claim " << digest;
    EXPECT_FALSE(leaked) << "the claim secret itself is in the stream";
    EXPECT_EQ(test::read_text(g_pool->log).find("claimer-farm-secret-1"), std::string::npos);
    await_new_tip(c, prev);
}

// A second bmm-stratum on the running pool's spool_dir (another port, the
// same folder) refuses to start, naming the folder and the running pool.
TEST_F(stratum_e2e, a_second_pool_on_the_same_spool_dir_refuses_to_start) {
    std::string toml = test::read_text(g_pool->config);
    const std::string listen = "port = " + std::to_string(g_pool->port) + "\n";
    const auto at = toml.find(listen);
    ASSERT_NE(at, std::string::npos) << toml;
    toml.replace(at, listen.size(), "port = " + std::to_string(test::free_port_near(g_pool->port + 50)) + "\n");
    const std::string config = g_pool->dir + "/second.toml", log = g_pool->dir + "/second.log";
    std::ofstream(config) << toml;
    auto& st = stack_environment::get();
    test::child_process second({test::bin("bmm-stratum"), "--config", config}, log,
                               {{"BMM_NODE_RPC_USER", st.setting("BMM_NODE_RPC_USER")},
                                {"BMM_NODE_RPC_PASSWORD", st.setting("BMM_NODE_RPC_PASSWORD")}});
    EXPECT_EQ(second.wait(30000), 1) << test::read_text(log);
    const std::string text = test::read_text(log);
    EXPECT_NE(text.find("spool_dir " + g_pool->dir + "/spool is in use by pid " + std::to_string(g_pool->proc->pid())),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("give each instance its own [redis] spool_dir"), std::string::npos) << text;
    // The running pool is untouched.
    test::stratum_client c(g_pool->port);
    std::string why;
    EXPECT_TRUE(c.login("after.second", &why)) << why;
}

TEST_F(stratum_e2e, version_rolling_masks_are_read_as_bip310_hex_only) {
    // The pool's mask is 1fffe000 (deploy default); the answer is the intersection.
    const std::pair<const char*, const char*> cases[] = {
        {"ffffffff", R"("version-rolling":true,"version-rolling.mask":"1fffe000")"},
        {"00ffe000", R"("version-rolling":true,"version-rolling.mask":"00ffe000")"},
        {"ffe000", R"("version-rolling":true,"version-rolling.mask":"00ffe000")"},
        {"-1", R"("version-rolling":false)"},
        {"0x1fffe000", R"("version-rolling":false)"},
        {" 1fffe000", R"("version-rolling":false)"},
        {"1fffe0000", R"("version-rolling":false)"},
        {"", R"("version-rolling":false)"},
    };
    for (const auto& [mask, expected] : cases) {
        test::stratum_client c(g_pool->port);
        auto r = c.reply(c.request("mining.configure",
                                   std::string(R"([["version-rolling"],{"version-rolling.mask":")") + mask + "\"}]"));
        ASSERT_TRUE(r.received) << mask;
        EXPECT_TRUE(r.ok) << r.raw;
        EXPECT_NE(r.result.find(expected), std::string::npos) << "mask '" << mask << "': " << r.raw;
    }
}

TEST_F(stratum_e2e, a_new_block_reaches_miners_as_clean_jobs_and_old_shares_are_stale) {
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("clean.w1", &why)) << why;
    const auto old_job = *c.job();
    auto share_on_old = c.find_share(pow_algorithm::scrypt, c.difficulty());
    const auto t0 = std::chrono::steady_clock::now();
    cli("generatetoaddress 1 " + stack_environment::get().setting("BMM_POOL_ADDRESS"));
    auto j = c.next_job(5000, /*clean_only=*/true);
    ASSERT_TRUE(j) << "no clean job within 5 s of a new block";
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "new block to clean job at the miner: " << ms << " ms\n";
    EXPECT_NE(j->prevhash, old_job.prevhash);
    EXPECT_NE(j->id, old_job.id);
    auto r = c.reply(c.submit(share_on_old));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.code, 21) << r.raw;
    EXPECT_EQ(r.message, "stale share");
}

TEST_F(stratum_e2e, after_a_difficulty_change_older_jobs_count_at_the_lower_difficulty) {
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("diffchange.w1", &why)) << why;
    ASSERT_DOUBLE_EQ(c.difficulty(), 0.001);
    // A share that meets 0.001 but not 0.01, on the job sent before the change.
    test::stratum_client::share_found s;
    for (int tries = 0; tries < 50; ++tries) {
        s = c.find_share(pow_algorithm::scrypt, 0.001);
        if (!c.find_share_meets(s, pow_algorithm::scrypt, 0.01)) break;
    }
    ASSERT_FALSE(c.find_share_meets(s, pow_algorithm::scrypt, 0.01));
    auto r = c.reply(c.request("mining.suggest_difficulty", "[0.01]"));
    ASSERT_TRUE(r.ok) << r.raw;
    c.drain(200);
    ASSERT_DOUBLE_EQ(c.difficulty(), 0.01);
    const std::string prev = c.job()->prevhash;
    auto ok = c.reply(c.submit(s));
    EXPECT_TRUE(ok.ok) << "a share on a job sent before the change must count at the old, lower difficulty: " << ok.raw;
    if (ok.ok) await_new_tip(c, prev);
    // On a job sent after the change, the same kind of share is too low.
    c.drain(200);
    test::stratum_client::share_found low;
    for (int tries = 0; tries < 50; ++tries) {
        low = c.find_share(pow_algorithm::scrypt, 0.001);
        if (!c.find_share_meets(low, pow_algorithm::scrypt, 0.01)) break;
    }
    auto rejected = c.reply(c.submit(low));
    EXPECT_EQ(rejected.code, 23) << rejected.raw;
}

TEST_F(stratum_e2e, the_stream_holds_exactly_the_verdicts_the_miner_saw_even_with_redis_away) {
    auto& st = stack_environment::get();
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("streamcheck.w1", &why)) << why;
    std::vector<std::pair<bool, int>> seen;  // (accepted, code) in the order the miner got them
    auto round = [&] {
        const std::string prev = c.job()->prevhash;
        auto good = c.find_share(pow_algorithm::scrypt, c.difficulty());
        auto low = c.find_share(pow_algorithm::scrypt, c.difficulty(), true);
        for (int id : {c.submit(good), c.submit(good), c.submit(low)}) {
            auto r = c.reply(id);
            ASSERT_TRUE(r.received);
            seen.emplace_back(r.ok, r.code);
        }
        await_new_tip(c, prev);
    };
    for (int i = 0; i < 3; ++i) round();

    // Redis goes away: verdicts still reach the miner, and are spooled.
    const std::string redis_cli = st.redis_cli();
    test::run_capture(redis_cli + " shutdown 2>&1");
    ASSERT_NE(test::run_capture(redis_cli + " ping 2>&1"), "PONG") << "Redis is still up";
    for (int i = 0; i < 3; ++i) round();
    ASSERT_NE(test::read_text(g_pool->log).find("spooling to"), std::string::npos)
        << "the pool did not notice Redis going away";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // ... and comes back: the backlog goes out in order.
    ASSERT_TRUE(st.up_again());
    for (int i = 0; i < 2; ++i) round();

    std::vector<std::pair<bool, int>> stored;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end) {
        stored.clear();
        for (auto& r : read_stream(g_pool->stream))
            if (r["type"] == "share" && r["account"] == "streamcheck")
                stored.emplace_back(r["accepted"] == "1", std::stoi(r["code"]));
        if (stored.size() >= seen.size()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_EQ(stored, seen);
    ASSERT_EQ(seen.size(), 24u);
    // The round's pattern: accepted, duplicate (22), low difficulty (23).
    EXPECT_EQ(seen[0], std::make_pair(true, 0));
    EXPECT_EQ(seen[1], std::make_pair(false, 22));
    // Low difficulty, or stale when the first share's block already moved the tip.
    EXPECT_TRUE(seen[2] == std::make_pair(false, 23) || seen[2] == std::make_pair(false, 21))
        << seen[2].first << " " << seen[2].second;
}

TEST_F(stratum_e2e, bmm_miner_mines_real_blocks_paying_the_pool_address) {
    auto& st = stack_environment::get();
    const long before = block_count();
    const std::string out_log = g_pool->dir + "/miner.log";
    mine_until(before + 3, "minertest.rig1", out_log, /*version_rolling=*/true);
    // With version rolling on, shares are accepted; shares sent just after a
    // block on the old job are rightly stale, so rejections are not checked here.
    const long after = block_count();
    ASSERT_GE(after - before, 3) << "the node's block count grew by " << (after - before);
    // The new blocks came from the pool: our tag in the coinbase, paying the pool.
    const std::string script =
        test::run_capture("litecoin-cli -datadir='" + st.setting("BMM_NODE_DATADIR") + "' validateaddress " +
                          st.setting("BMM_POOL_ADDRESS") + " | jq -r .scriptPubKey");
    const std::string tag_hex = "2f424d4d20706f6f6c2f";  // "/BMM pool/"
    int ours = 0;
    for (long h = before + 1; h <= after; ++h) {
        const std::string q = test::run_capture(
            "litecoin-cli -datadir='" + st.setting("BMM_NODE_DATADIR") + "' getblock $(litecoin-cli -datadir='" +
            st.setting("BMM_NODE_DATADIR") + "' getblockhash " + std::to_string(h) +
            ") 2 | jq -r '.tx[0].vin[0].coinbase + \" \" + .tx[0].vout[0].scriptPubKey.hex'");
        if (q.find(tag_hex) != std::string::npos && q.find(" " + script) != std::string::npos) ++ours;
    }
    EXPECT_GE(ours, 3);
}

TEST_F(stratum_e2e, mines_through_mweb_activation) {
    auto& st = stack_environment::get();
    const std::string addr = st.setting("BMM_POOL_ADDRESS");
    // MWEB activates at 432. At tip 431 the node can only make a template when
    // an MWEB peg-in waits in the mempool (and accepts one only then).
    const long h = block_count();
    if (h < 431) cli("generatetoaddress " + std::to_string(431 - h) + " " + addr);
    ASSERT_EQ(block_count(), 431);
    const std::string mweb_addr = cli("-rpcwallet=pool getnewaddress \"\" mweb");
    ASSERT_EQ(mweb_addr.substr(0, 6), "tmweb1") << mweb_addr;
    const std::string txid = cli("-rpcwallet=pool sendtoaddress " + mweb_addr + " 1");
    ASSERT_EQ(txid.size(), 64u) << txid;
    g_pool->proc->signal(SIGUSR1);  // a fresh template with the peg-in
    std::this_thread::sleep_for(std::chrono::milliseconds(500));

    const std::string out_log = g_pool->dir + "/miner-mweb.log";
    mine_until(434, "mweb.rig1", out_log);
    ASSERT_GE(block_count(), 434) << test::read_text(out_log);
    // Block 432: the first MWEB block, made by the pool: coinbase, peg-in, HogEx, and the extension block.
    const std::string b =
        test::run_capture("litecoin-cli -datadir='" + st.setting("BMM_NODE_DATADIR") +
                          "' getblock $(litecoin-cli -datadir='" + st.setting("BMM_NODE_DATADIR") +
                          "' getblockhash 432) 2 | jq -c '[.nTx, (.mweb != null), .tx[0].vin[0].coinbase]'");
    EXPECT_EQ(b.substr(0, 8), "[3,true,") << b;
    EXPECT_NE(b.find("2f424d4d20706f6f6c2f"), std::string::npos) << "block 432 was not made by the pool: " << b;
}

TEST_F(stratum_e2e, sigterm_tells_miners_to_reconnect_and_exits_cleanly) {
    test::stratum_client c(g_pool->port);
    std::string why;
    ASSERT_TRUE(c.login("bye.w1", &why)) << why;
    g_pool->proc->signal(SIGTERM);
    bool told = false;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!told && std::chrono::steady_clock::now() < end) {
        c.drain(100);
        for (const auto& l : c.pending_lines()) told = told || l.find("\"client.reconnect\"") != std::string::npos;
    }
    EXPECT_TRUE(told);
    EXPECT_EQ(g_pool->proc->wait(15000), 0);
    const std::string log = test::read_text(g_pool->log);
    EXPECT_NE(log.find("stopped:"), std::string::npos);
}

}  // namespace
}  // namespace bmm::stratum

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment(/*activate_mweb=*/false));
    return RUN_ALL_TESTS();
}
