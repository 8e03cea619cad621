// bmm-accountd against the real stack (PostgreSQL, Redis, litecoind regtest,
// started by the test on loopback), through the real program:
//  - migrations apply once, and an edited applied migration is refused;
//  - records XADDed in exactly the share sink's format give shares and
//    rollups equal to an independent computation from the records; repeats of
//    a uid (with new stream ids) are skipped; blocks and unreadable records
//    land in their tables;
//  - a rolling upgrade: unversioned records (an older bmm-stratum) and
//    versioned ones (bmm/record/stream_record.hpp) are stored alike; a newer
//    version than this build reads goes to ingest_errors;
//  - kill -9 at random moments during the ingest of 200,000 records, several
//    times: the tables end up equal to those of an uninterrupted run;
//  - Redis and PostgreSQL restarted during the ingest: nothing lost, nothing
//    twice;
//  - account commands with good and bad addresses (the node's
//    validateaddress; EIP-55; MWEB refused), the foundation's accounts, and an
//    account made from an address username;
//  - every share name is an account from its first share (mined as
//    alice.rig1, shown by the API with the foundation's), and sql/0017 makes
//    the accounts missing before it.

#include "../support/accountd.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/raw_http.hpp"
#include "../support/redis.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/pg/connection.hpp"
#include "bmm/record/stream_record.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <simdjson.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

namespace bmm::accounting {
namespace {

using test::stack_environment;

using test::bin;

stack_environment& st() { return stack_environment::get(); }

std::string sql_dir() { return st().source_dir() + "/sql"; }

// A configuration for one stream and consumer, with literal values.
std::string write_config(const std::string& stream, const std::string& consumer, int batch = 2000,
                         const std::string& ingest_extra = "") {
    return test::write_stack_file("accountd", consumer + ".toml",
                                  test::postgres_toml() + test::redis_toml(stream, consumer) + test::node_toml() +
                                      test::ingest_toml(batch, 200) + ingest_extra + "[log]\nlevel = \"info\"\n");
}

using test::db;
using test::query;
using test::scalar;

struct run_result {
    int code;
    std::string out;
};

// Runs bmm-accountd with arguments to the end (bounded) and returns its exit code and output.
run_result accountd(const std::vector<std::string>& args) {
    const std::string log = st().dir() + "/accountd/cmd.log";
    std::filesystem::create_directories(st().dir() + "/accountd");
    std::filesystem::remove(log);
    std::vector<std::string> argv = {bin("bmm-accountd")};
    argv.insert(argv.end(), args.begin(), args.end());
    test::child_process p(argv, log);
    const int rc = p.wait(60000);
    return {rc, test::read_text(log)};
}

// ---------------------------------------------------------------------------
// Records as bmm-stratum's share sink writes them (server_batch.cpp share_record(),
// main.cpp's block record, share_sink.cpp's uid).
// ---------------------------------------------------------------------------

using record = std::vector<std::pair<std::string, std::string>>;

// 2026-03-01 23:59:30 UTC: a run of records (9 ms apart) crosses midnight
// into a second day, so two daily partitions are made.
constexpr std::int64_t k_base_ms = 1772409570000LL;

std::vector<record> make_shares(const std::string& prefix, int n, unsigned seed) {
    std::mt19937 rng(seed);
    const double diffs[] = {0.001, 0.004, 0.02, 0.5, 3, 1024};
    const int codes[] = {20, 21, 22, 23, 24, 25};
    std::vector<record> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const double d = diffs[rng() % 6];
        const bool accepted = rng() % 10 != 0;
        const int code = accepted ? 0 : codes[rng() % 6];
        const bool block = accepted && rng() % 500 == 0;
        const std::string target =
            code == 21 && rng() % 2 ? "" : target_from_difficulty(d, pow_algorithm::scrypt)->to_hex();
        const std::int64_t ms = k_base_ms + static_cast<std::int64_t>(i) * 9 + static_cast<std::int64_t>(rng() % 5);
        out.push_back({{"type", "share"},
                       {"instance", "7"},
                       {"coin", "LTC"},
                       {"algorithm", "scrypt"},
                       {"account", prefix + "-acc" + std::to_string(rng() % 23)},
                       {"worker", "rig" + std::to_string(rng() % 4)},
                       {"ip", "127.0.0.1"},
                       {"job", "5f"},
                       {"height", "432"},
                       {"difficulty", std::to_string(d)},
                       {"target", target},
                       {"accepted", accepted ? "1" : "0"},
                       {"code", std::to_string(code)},
                       {"reason", accepted ? "" : "rejected\twith a tab"},
                       {"block", block ? "1" : "0"},
                       {"time_ms", std::to_string(ms)},
                       {"hash", "00000000000000000000000000000000000000000000000000000000000000" +
                                    std::to_string(10 + rng() % 80)},
                       {"uid", prefix + ":7:1700000000:" + std::to_string(i)}});
        // Two records in three carry what pplns and pps need (a job's
        // network target and expected reward); the third is from a
        // bmm-stratum that did not send them.
        if (i % 3 != 2) {
            out.back().push_back(
                {"network_target", target_from_difficulty(i % 3 ? 0.25 : 2.0, pow_algorithm::scrypt)->to_hex()});
            out.back().push_back({"reward", std::to_string(1250000000 + i)});
        }
        // A block share names its block (pplns ends the block's window there).
        if (block) {
            char h[65];
            std::snprintf(h, sizeof h, "%064x", i + 1);
            out.back().push_back({"block_hash", h});
        }
    }
    return out;
}

const std::string& field(const record& r, const std::string& k);

const std::string* find_field(const record& r, const std::string& k) {
    for (const auto& [key, v] : r) {
        if (key == k) {
            return &v;
        }
    }
    return nullptr;
}

// Every share record's network_work, reward and block_hash as stored: the
// work of its network_target (exact, like work), its reward and block hash;
// NULL without them.
void expect_network_fields(const std::vector<record>& rs) {
    std::map<std::string, std::tuple<std::string, std::string, std::string>> want;
    std::string uids = "{";
    for (const auto& r : rs) {
        if (*find_field(r, "type") != "share") {
            continue;
        }
        const std::string* nt = find_field(r, "network_target");
        const std::string* rw = find_field(r, "reward");
        const std::string* bh = find_field(r, "block_hash");
        want[field(r, "uid")] = {nt ? work_from_target(*uint256::from_hex(*nt)).to_decimal() : "NULL",
                                 rw ? *rw : "NULL", bh ? *bh : "NULL"};
        if (uids.size() > 1) {
            uids += ',';
        }
        uids += '"' + field(r, "uid") + '"';
    }
    uids += '}';
    std::map<std::string, std::tuple<std::string, std::string, std::string>> got;
    for (const auto& row : query("SELECT uid, coalesce(network_work::text, 'NULL'), coalesce(reward::text, 'NULL'), "
                                 "coalesce(block_hash, 'NULL') FROM shares WHERE uid = ANY($1::text[])",
                                 {uids})) {
        got[row[0]] = {row[1], row[2], row[3]};
    }
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "shares.network_work / reward / block_hash differ from the records";
}

const std::string& field(const record& r, const std::string& k) {
    for (const auto& [key, v] : r) {
        if (key == k) {
            return v;
        }
    }
    throw std::runtime_error("record without " + k);
}

// The stack's Redis (tests/support/redis.hpp) with the consumer-group
// commands only this test uses.
class redis : public test::redis_conn {
public:
    long long pending(const std::string& stream, const std::string& group) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "XPENDING %s %s", stream.c_str(), group.c_str()));
        long long n = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0]->integer : -1;
        if (r) {
            freeReplyObject(r);
        }
        return n;
    }

    // A second consumer group on `stream` (a reader outside bmm-accountd):
    // reads `count` entries and acknowledges them; returns the last id read.
    std::string group_reads_and_acks(const std::string& stream, const std::string& group, int count) {
        if (auto* r = static_cast<redisReply*>(
                redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM", stream.c_str(), group.c_str()))) {
            freeReplyObject(r);
        }
        if (count == 0) {
            return {};
        }
        auto* r = static_cast<redisReply*>(
            redisCommand(c, "XREADGROUP GROUP %s watcher COUNT %d STREAMS %s >", group.c_str(), count, stream.c_str()));
        std::string last;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            const redisReply* entries = r->element[0]->element[1];
            for (std::size_t i = 0; i < entries->elements; ++i) {
                last.assign(entries->element[i]->element[0]->str, entries->element[i]->element[0]->len);
                if (auto* a = static_cast<redisReply*>(
                        redisCommand(c, "XACK %s %s %s", stream.c_str(), group.c_str(), last.c_str()))) {
                    freeReplyObject(a);
                }
            }
        }
        if (r) {
            freeReplyObject(r);
        }
        return last;
    }
};

// Waits until the consumer has stored up to `last_id` (bounded).
bool wait_stored(const std::string& stream, const std::string& consumer, const std::string& last_id, int seconds,
                 test::child_process* p = nullptr) {
    const auto dash = last_id.find('-');
    const std::string ms = last_id.substr(0, dash), seq = last_id.substr(dash + 1);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (p && !p->running()) {
            return false;
        }
        try {
            if (scalar("SELECT count(*) FROM stream_state WHERE stream = $1 AND consumer = $2 AND last_ms = $3 AND "
                       "last_seq = $4",
                       {stream, consumer, ms, seq}) == "1") {
                return true;
            }
        } catch (const std::exception&) {
            // PostgreSQL restarting: ask again.
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

// Waits (bounded) until `needle` stands in the log at `path` more than
// `before` times: a process started just now has got that far (its signal
// handlers are in place, so a SIGTERM is a clean stop, not a kill).
bool wait_log_count(const std::string& path, const std::string& needle, std::size_t before, int seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
        const std::string text = test::read_text(path);
        std::size_t n = 0;
        for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
            ++n;
        }
        if (n > before) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

// The rollups an independent reading of the records gives: per (account
// without its prefix, worker, minute): accepted, rejected, the six rejected
// columns, blocks, work. Repeated uids count once.
using rollup_key = std::tuple<std::string, std::string, std::int64_t>;
struct rollup {
    long long accepted = 0, rejected = 0, by_code[6] = {0, 0, 0, 0, 0, 0}, blocks = 0;
    uint256 work;
    bool operator==(const rollup& o) const {
        return accepted == o.accepted && rejected == o.rejected && std::equal(by_code, by_code + 6, o.by_code) &&
               blocks == o.blocks && work == o.work;
    }
};

std::string strip_prefix(const std::string& account) { return account.substr(account.find('-') + 1); }

std::map<rollup_key, rollup> expected_rollups(const std::vector<record>& rs) {
    std::map<rollup_key, rollup> out;
    std::set<std::string> seen;
    for (const auto& r : rs) {
        if (!seen.insert(field(r, "uid")).second) {
            continue;
        }
        const std::int64_t minute = std::stoll(field(r, "time_ms")) / 60000 * 60;
        auto& x = out[{strip_prefix(field(r, "account")), field(r, "worker"), minute}];
        if (field(r, "accepted") == "1") {
            ++x.accepted;
            x.work += work_from_target(*uint256::from_hex(field(r, "target")));
        } else {
            ++x.rejected;
            const int code = std::stoi(field(r, "code"));
            // columns: other (20 and unknown), stale 21, duplicate 22, low difficulty 23, unauthorized 24, not
            // subscribed 25
            ++x.by_code[code >= 21 && code <= 25 ? code - 20 : 0];
        }
        if (field(r, "block") == "1") {
            ++x.blocks;
        }
    }
    return out;
}

// The share_minutes rows whose account matches `where` ($1 = param), keyed by
// (account, worker, minute); `strip` takes the test prefix off the account.
std::map<rollup_key, rollup> read_rollups(const std::string& where, const std::string& param, bool strip) {
    std::map<rollup_key, rollup> out;
    for (const auto& row : query("SELECT account, worker, extract(epoch FROM minute)::bigint, accepted, rejected, "
                                 "rejected_other, rejected_stale, rejected_duplicate, rejected_low_difficulty, "
                                 "rejected_unauthorized, rejected_not_subscribed, blocks, work::text "
                                 "FROM share_minutes WHERE " +
                                     where,
                                 {param})) {
        auto& x = out[{strip ? strip_prefix(row[0]) : row[0], row[1], std::stoll(row[2])}];
        x.accepted = std::stoll(row[3]);
        x.rejected = std::stoll(row[4]);
        for (int i = 0; i < 6; ++i) {
            x.by_code[i] = std::stoll(row[5 + static_cast<std::size_t>(i)]);
        }
        x.blocks = std::stoll(row[11]);
        // numeric as decimal text -> uint256
        uint256 w;
        for (char c : row[12]) {
            w = w * uint256(10) + uint256(static_cast<std::uint64_t>(c - '0'));
        }
        x.work = w;
    }
    return out;
}

std::map<rollup_key, rollup> stored_rollups(const std::string& prefix) {
    return read_rollups("account LIKE $1", prefix + "-%", true);
}

// A canonical dump of a prefix's shares (uid and account without the prefix).
std::vector<std::vector<std::string>> shares_dump(const std::string& prefix) {
    return query(
        "SELECT substr(uid, length($1) + 2), substr(account, length($1) + 2), worker, time, accepted, code, "
        "target, work::text, block, reason FROM shares WHERE uid LIKE $1 || ':%' ORDER BY 1",
        {prefix});
}

void migrate_once() {
    auto r = accountd({"migrate", "--config", write_config("unused", "migrate")});
    ASSERT_EQ(r.code, 0) << r.out;
}

// ---------------------------------------------------------------------------

TEST(accountd, migrations_apply_once_and_refuse_an_edited_file) {
    // Before any migration, commands that need the schema refuse and say what to run.
    auto early = accountd({"account", "list", "--config", write_config("unused", "migrate")});
    EXPECT_EQ(early.code, 1);
    EXPECT_NE(early.out.find("run `bmm-accountd migrate`"), std::string::npos) << early.out;
    migrate_once();
    const std::string count = scalar("SELECT count(*) FROM schema_migrations");
    EXPECT_GE(std::stoi(count), 3);
    auto again = accountd({"migrate", "--config", write_config("unused", "migrate")});
    ASSERT_EQ(again.code, 0) << again.out;
    EXPECT_NE(again.out.find("0 applied now"), std::string::npos) << again.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), count);

    // An applied migration edited afterwards: refused, with the file named, nothing applied.
    const std::string edited = st().dir() + "/sql-edited";
    std::filesystem::remove_all(edited);
    std::filesystem::copy(sql_dir(), edited);
    { std::ofstream(edited + "/0002_shares.sql", std::ios::app) << "\n-- an edit\n"; }
    { std::ofstream(edited + "/0999_never.sql") << "CREATE TABLE must_not_exist (x int);\n"; }
    auto refused = accountd({"migrate", "--config", write_config("unused", "migrate"), "--sql-dir", edited});
    EXPECT_EQ(refused.code, 1) << refused.out;
    EXPECT_NE(refused.out.find("0002_shares.sql was changed after it was applied"), std::string::npos) << refused.out;
    EXPECT_EQ(scalar("SELECT to_regclass('must_not_exist') IS NULL"), "t");
    EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), count);
    auto list_edited =
        accountd({"account", "list", "--config", write_config("unused", "migrate"), "--sql-dir", edited});
    EXPECT_EQ(list_edited.code, 1);
    EXPECT_NE(list_edited.out.find("0002_shares.sql differs"), std::string::npos) << list_edited.out;

    // A migration that fails is rolled back whole and not recorded.
    std::filesystem::remove_all(edited);
    std::filesystem::copy(sql_dir(), edited);
    { std::ofstream(edited + "/0998_broken.sql") << "CREATE TABLE half_made (x int);\nSELECT no_such_function();\n"; }
    auto broken = accountd({"migrate", "--config", write_config("unused", "migrate"), "--sql-dir", edited});
    EXPECT_EQ(broken.code, 1);
    EXPECT_NE(broken.out.find("0998_broken.sql failed and was rolled back"), std::string::npos) << broken.out;
    EXPECT_EQ(scalar("SELECT to_regclass('half_made') IS NULL"), "t");
    EXPECT_EQ(scalar("SELECT count(*) FROM schema_migrations"), count);
}

TEST(accountd, ingest_equals_an_independent_computation_and_skips_repeated_uids) {
    migrate_once();
    const std::string stream = "bmm:test:equal";
    auto shares = make_shares("eq", 6000, 1);
    // bmm-stratum's at-least-once delivery: 300 records sent again (same
    // uid, same line, new stream id), some far later.
    std::vector<record> all = shares;
    for (int i = 0; i < 300; ++i) {
        all.push_back(shares[static_cast<std::size_t>(i * 17)]);
    }
    record blk = {{"type", "block"},
                  {"instance", "7"},
                  {"coin", "LTC"},
                  {"height", "433"},
                  {"hash", std::string(64, 'a')},
                  {"account", "eq-acc1"},
                  {"worker", "rig0"},
                  {"job", "5f"},
                  {"reward", "1250000000"},
                  {"accepted", "1"},
                  {"answer", "null"},
                  {"time_ms", std::to_string(k_base_ms)},
                  {"uid", "eq:7:1700000000:block1"}};
    all.push_back(blk);
    all.push_back(blk);  // a repeat of the block record too
    record bad_time = shares[0];
    for (auto& [k, v] : bad_time) {
        if (k == "time_ms") {
            v = "not a time";
        }
        if (k == "uid") {
            v = "eq:bad:1";
        }
    }
    all.push_back(bad_time);
    all.push_back({{"type", "mystery"}, {"uid", "eq:bad:2"}});
    record bad_hash;  // a block hash on a share that found no block
    for (const auto& [k, v] : shares[1]) {
        if (k != "block_hash") {
            bad_hash.push_back({k, k == "uid" ? "eq:bad:3" : k == "block" ? "0" : v});
        }
    }
    bad_hash.push_back({"block_hash", std::string(64, 'b')});
    all.push_back(bad_hash);
    for (const char* d : {"0x1p-3", " 16", "1,5"}) {  // a difficulty must be a plain decimal number
        record bad_diff;
        for (const auto& [k, v] : shares[2]) {
            bad_diff.push_back({k, k == "uid" ? std::string("eq:bad:d") + d : k == "difficulty" ? std::string(d) : v});
        }
        all.push_back(bad_diff);
    }
    redis rd;
    const std::string last = rd.xadd(stream, all);

    const std::string cfg = write_config(stream, "equal");
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, st().dir() + "/accountd/equal.log");
    ASSERT_TRUE(wait_stored(stream, "equal", last, 120, &p)) << test::read_text(st().dir() + "/accountd/equal.log");
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0) << "SIGTERM must end it cleanly";
    EXPECT_EQ(rd.pending(stream, "accountd"), 0) << "every entry is acknowledged after its commit";

    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eq:%'"), "6000");
    const auto want = expected_rollups(std::vector<record>(all.begin(), all.begin() + 6300));
    const auto got = stored_rollups("eq");
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "share_minutes differ from the records";
    expect_network_fields(shares);
    EXPECT_GT(std::stoll(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eq:%' AND network_work IS NULL")), 0);
    EXPECT_GT(std::stoll(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eq:%' AND network_work IS NOT NULL")), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM blocks_found WHERE uid = 'eq:7:1700000000:block1'"), "1");
    EXPECT_EQ(scalar("SELECT reward FROM blocks_found WHERE uid = 'eq:7:1700000000:block1'"), "1250000000");
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1", {stream}), "6");
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1 AND error = 'difficulty is not a number'",
                     {stream}),
              "3");
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1 AND error LIKE '%time_ms%'", {stream}), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1 AND error LIKE '%block_hash on a share%'",
                     {stream}),
              "1");
    EXPECT_GT(std::stoll(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eq:%' AND block_hash IS NOT NULL")), 0);
    // The tab in the reason survived COPY's text format.
    EXPECT_EQ(scalar("SELECT count(DISTINCT reason) FROM shares WHERE uid LIKE 'eq:%' AND NOT accepted"), "1");
    EXPECT_EQ(scalar("SELECT min(reason) FROM shares WHERE uid LIKE 'eq:%' AND NOT accepted"), "rejected\twith a tab");
    // Two daily partitions (the records cross midnight UTC).
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname IN ('shares_20260301', 'shares_20260302')"), "2");
    // The per-account view adds up the workers.
    EXPECT_EQ(scalar("SELECT sum(accepted) FROM account_minutes WHERE account LIKE 'eq-%'"),
              scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eq:%' AND accepted"));

    // Running again over the same stream stores nothing again: 50 more
    // repeats, in one round with 40 new records (stored, counted once).
    const std::string before =
        scalar("SELECT sum(accepted)::text || '/' || sum(work)::text FROM share_minutes WHERE account LIKE 'eq-%'");
    std::vector<record> mixed(shares.begin(), shares.begin() + 50);
    const auto fresh = make_shares("eqn", 40, 2);
    mixed.insert(mixed.begin() + 25, fresh.begin(), fresh.end());
    rd.xadd(stream, mixed);
    test::child_process p2({bin("bmm-accountd"), "run", "--config", cfg}, st().dir() + "/accountd/equal2.log");
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(p2.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(rd.pending(stream, "accountd"), 0);
    EXPECT_EQ(
        scalar("SELECT sum(accepted)::text || '/' || sum(work)::text FROM share_minutes WHERE account LIKE 'eq-%'"),
        before);
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eq:%'"), "6000");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'eqn:%'"), "40");
    EXPECT_TRUE(stored_rollups("eqn") == expected_rollups(fresh)) << "the new records of a round with repeats";
}

// The same share as this build's bmm-stratum writes it: a typed record,
// encoded once (version bmm::record::k_version), fields as the publisher sends them.
record as_current(const record& v1) {
    bmm::record::share_record s;
    s.instance = static_cast<std::uint32_t>(std::stoul(field(v1, "instance")));
    s.coin = field(v1, "coin");
    s.algorithm = field(v1, "algorithm");
    s.account = field(v1, "account");
    s.worker = field(v1, "worker");
    s.ip = field(v1, "ip");
    s.job = field(v1, "job");
    s.height = std::stoll(field(v1, "height"));
    s.difficulty = std::stod(field(v1, "difficulty"));
    if (!field(v1, "target").empty()) {
        s.target = *uint256::from_hex(field(v1, "target"));
    }
    s.accepted = field(v1, "accepted") == "1";
    s.code = std::stoi(field(v1, "code"));
    s.reason = field(v1, "reason");
    s.time_ms = std::stoll(field(v1, "time_ms"));
    if (const auto* h = find_field(v1, "hash")) {
        s.hash = *h;
    }
    if (const auto* nt = find_field(v1, "network_target")) {
        s.network_target = *uint256::from_hex(*nt);
    }
    if (const auto* rw = find_field(v1, "reward")) {
        s.reward = std::stoll(*rw);
    }
    if (const auto* bh = find_field(v1, "block_hash")) {
        s.block_hash = *bh;
    }
    const std::string line = bmm::record::to_json_line(s, field(v1, "uid"));
    auto fields = bmm::record::fields_from_json_line(std::string_view(line).substr(0, line.size() - 1));
    if (!fields) {
        throw std::runtime_error("a journal line that does not read back: " + line);
    }
    return *fields;
}

// A rolling upgrade: the stream holds records of an older bmm-stratum (no
// version) and of this one (version 2) side by side; both are stored alike.
// A record of a newer version than this bmm-accountd reads, and a version 2
// share that breaks the version's promise, go to ingest_errors.
TEST(accountd, a_rolling_upgrade_stores_unversioned_and_versioned_records_alike) {
    migrate_once();
    const std::string stream = "bmm:test:upgrade";
    const auto shares = make_shares("ru", 2000, 11);
    std::vector<record> stream_records;
    std::size_t current = 0;
    for (std::size_t i = 0; i < shares.size(); ++i) {
        // Version 2 promises network_target and reward with a target: a
        // record without them can only be of version 1.
        const bool expressible = field(shares[i], "target").empty() || find_field(shares[i], "network_target");
        if (i >= shares.size() / 3 && i % 2 == 0 && expressible) {
            stream_records.push_back(as_current(shares[i]));
            ++current;
        } else {
            stream_records.push_back(shares[i]);
        }
    }
    ASSERT_GT(current, 300u);
    // An accepted share with everything version 2 promises, to break.
    std::size_t a = 0;
    while (field(shares[a], "accepted") != "1" || !find_field(shares[a], "network_target")) {
        ++a;
    }
    record newer;
    for (const auto& [k, v] : as_current(shares[a])) {
        newer.push_back({k, k == "v" ? std::to_string(bmm::record::k_version + 1) : k == "uid" ? "ru:bad:newer" : v});
    }
    stream_records.push_back(newer);
    record broken;
    for (const auto& [k, v] : as_current(shares[a])) {
        if (k != "network_target") {
            broken.push_back({k, k == "uid" ? "ru:bad:promise" : v});
        }
    }
    stream_records.push_back(broken);
    redis rd;
    const std::string last = rd.xadd(stream, stream_records);

    const std::string cfg = write_config(stream, "upgrade");
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, st().dir() + "/accountd/upgrade.log");
    ASSERT_TRUE(wait_stored(stream, "upgrade", last, 120, &p)) << test::read_text(st().dir() + "/accountd/upgrade.log");
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(rd.pending(stream, "accountd"), 0);

    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'ru:%'"), std::to_string(shares.size()));
    EXPECT_TRUE(stored_rollups("ru") == expected_rollups(shares)) << "share_minutes differ from the records";
    expect_network_fields(shares);
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1", {stream}), "2");
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1 AND error LIKE $2",
                     {stream, "record version " + std::to_string(bmm::record::k_version + 1) +
                                  " is newer than this bmm-accountd reads%upgrade bmm-accountd%"}),
              "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM ingest_errors WHERE stream = $1 AND error = $2",
                     {stream, "a version 2 share with a target and no network_target"}),
              "1");
}

TEST(accountd, kill_9_at_random_moments_changes_nothing) {
    migrate_once();
    constexpr int n = 200000;
    redis rd;
    // Run A: the same records, uninterrupted.
    auto a = make_shares("ka", n, 7);
    for (int i = 0; i < 2000; ++i) {
        a.push_back(a[static_cast<std::size_t>(i * 97)]);
    }
    const std::string last_a = rd.xadd("bmm:test:ka", a);
    {
        test::child_process p({bin("bmm-accountd"), "run", "--config", write_config("bmm:test:ka", "ka", 5000)},
                              st().dir() + "/accountd/ka.log");
        ASSERT_TRUE(wait_stored("bmm:test:ka", "ka", last_a, 300, &p))
            << test::read_text(st().dir() + "/accountd/ka.log");
        EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    }
    // Run B: the same records, killed with SIGKILL at random moments.
    auto b = make_shares("kb", n, 7);
    for (int i = 0; i < 2000; ++i) {
        b.push_back(b[static_cast<std::size_t>(i * 97)]);
    }
    const std::string last_b = rd.xadd("bmm:test:kb", b);
    const std::string cfg_b = write_config("bmm:test:kb", "kb", 5000);
    std::mt19937 rng(12345);
    int kills = 0;
    for (int round = 0; round < 8; ++round) {
        test::child_process p({bin("bmm-accountd"), "run", "--config", cfg_b}, st().dir() + "/accountd/kb.log");
        std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 900));
        if (!p.running()) {
            break;
        }
        p.signal(SIGKILL);
        p.wait(5000);
        ++kills;
    }
    const std::string log_b = st().dir() + "/accountd/kb.log";
    const std::string started = "ingest: reading Redis";
    std::size_t starts = 0;
    {
        const std::string text = test::read_text(log_b);
        for (auto at = text.find(started); at != std::string::npos; at = text.find(started, at + 1)) {
            ++starts;
        }
    }
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg_b}, log_b);
    // The last kill may have come after everything was stored: then wait for
    // this process to be up before stopping it.
    ASSERT_TRUE(wait_log_count(log_b, started, starts, 60)) << test::read_text(log_b);
    ASSERT_TRUE(wait_stored("bmm:test:kb", "kb", last_b, 300, &p)) << test::read_text(log_b);
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0) << test::read_text(log_b);
    EXPECT_GE(kills, 4) << "the ingest ended before most kills: the test proves little";
    EXPECT_EQ(rd.pending("bmm:test:kb", "accountd"), 0);

    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'kb:%'"), std::to_string(n));
    EXPECT_TRUE(stored_rollups("kb") == stored_rollups("ka"))
        << "rollups after kills differ from the uninterrupted run";
    EXPECT_TRUE(stored_rollups("ka") == expected_rollups(a)) << "the uninterrupted run differs from the records";
    EXPECT_TRUE(shares_dump("kb") == shares_dump("ka")) << "shares after kills differ from the uninterrupted run";
}

TEST(accountd, redis_and_postgresql_restarts_lose_nothing) {
    migrate_once();
    constexpr int n = 60000;
    redis rd0;
    auto rs = make_shares("rs", n, 3);
    const std::string last = rd0.xadd("bmm:test:rs", rs);
    const std::string cfg = write_config("bmm:test:rs", "rs", 1000);
    const std::string log = st().dir() + "/accountd/rs.log";
    test::child_process p({bin("bmm-accountd"), "run", "--config", cfg}, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    // Redis goes away and comes back (its append-only file keeps the stream and the group).
    test::run_capture(st().redis_cli() + " shutdown 2>&1");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_TRUE(st().up_again());
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    // PostgreSQL stops at once (as in a crash) and comes back.
    test::run_capture("runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D '" + st().dir() +
                      "/pg/data' -m immediate stop 2>&1");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_TRUE(st().up_again());
    ASSERT_TRUE(wait_stored("bmm:test:rs", "rs", last, 300, &p)) << test::read_text(log);
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    const std::string text = test::read_text(log);
    EXPECT_NE(text.find("retrying in"), std::string::npos) << "the outages were not noticed:\n" << text;
    EXPECT_NE(text.find("ingest resumed"), std::string::npos) << text;
    redis rd;
    EXPECT_EQ(rd.pending("bmm:test:rs", "accountd"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'rs:%'"), std::to_string(n));
    EXPECT_TRUE(stored_rollups("rs") == expected_rollups(rs));
}

TEST(accountd, account_commands_check_addresses) {
    migrate_once();
    const std::string cfg = write_config("unused", "accounts");
    const std::string a1 = st().cli("-rpcwallet=pool getnewaddress"), a2 = st().cli("-rpcwallet=pool getnewaddress"),
                      a3 = st().cli("-rpcwallet=pool getnewaddress");
    ASSERT_EQ(a1.rfind("rltc1", 0), 0u) << a1;

    auto r = accountd({"account", "create", "amber", "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    r = accountd({"account", "create", "amber", "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
    r = accountd({"account", "create", "al ice", "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("only letters, digits"), std::string::npos) << r.out;

    // A bad coin address: the node's validateaddress refuses it; nothing is stored.
    std::string bad = a1;
    bad.back() = bad.back() == 'q' ? 'p' : 'q';
    r = accountd({"account", "bind", "amber", "LTC", bad, "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("is not a valid LTC address"), std::string::npos) << r.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM wallets WHERE account = 'amber'"), "0");
    r = accountd(
        {"account", "bind", "amber", "LTC", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "--config", cfg});  // mainnet BTC
    EXPECT_EQ(r.code, 1) << r.out;

    r = accountd({"account", "bind", "amber", "LTC", a1, "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a1}), "1000000");
    // A second wallet needs its share; the first one is scaled to the rest.
    r = accountd({"account", "bind", "amber", "LTC", a2, "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("--share"), std::string::npos) << r.out;
    r = accountd({"account", "bind", "amber", "LTC", a2, "--share", "300000", "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    r = accountd({"account", "bind", "amber", "LTC", a3, "--share", "333333", "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(scalar("SELECT sum(share_ppm) FROM wallets WHERE account = 'amber' AND currency = 'LTC'"), "1000000");
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a3}), "333333");
    // a1:a2 stay 7:3 of the remaining 666667 (largest remainder: 466667 / 200000).
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a1}), "466667");
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a2}), "200000");
    r = accountd({"account", "bind", "amber", "LTC", a2, "--share", "1", "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("already bound"), std::string::npos) << r.out;

    // BMM: ERC-20 addresses with the EIP-55 checksum.
    r = accountd({"account", "bind", "amber", "BMM", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("EIP-55"), std::string::npos) << r.out;
    r = accountd({"account", "bind", "amber", "bmm", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(scalar("SELECT address FROM wallets WHERE account = 'amber' AND currency = 'BMM'"),
              "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");

    r = accountd({"account", "list", "amber", "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(a3 + "\t333333 ppm"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\t1000000 ppm"), std::string::npos) << r.out;

    // Unbinding gives the freed share to the others, in proportion.
    r = accountd({"account", "unbind", "amber", "LTC", a3, "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a1}), "700000");
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a2}), "300000");
    r = accountd({"account", "unbind", "amber", "LTC", a3, "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("is not bound"), std::string::npos) << r.out;
    r = accountd({"account", "bind", "nobody", "LTC", a1, "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("account create nobody"), std::string::npos) << r.out;

    // The foundation's accounts (sql/0017) bind wallets like any other; a
    // foundation name that is not one of them is refused, as is any other ':'.
    r = accountd({"account", "bind", "foundation:ecosystem", "LTC", a1, "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(scalar("SELECT address || ' ' || share_ppm FROM wallets WHERE account = 'foundation:ecosystem' "
                     "AND currency = 'LTC'"),
              a1 + " 1000000");
    r = accountd({"account", "list", "foundation:ecosystem", "--config", cfg});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out.rfind("foundation:ecosystem\tfoundation\t", 0), 0u) << r.out;
    EXPECT_NE(r.out.find(a1 + "\t1000000 ppm"), std::string::npos) << r.out;
    r = accountd({"account", "bind", "foundation:nobody", "LTC", a1, "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("foundation:airdrop, foundation:developers and foundation:ecosystem"), std::string::npos)
        << r.out;
    r = accountd({"account", "bind", "pool:fees:LTC", "LTC", a1, "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("only letters, digits"), std::string::npos) << r.out;
    r = accountd({"account", "create", "foundation:more", "--config", cfg});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(scalar("SELECT count(*) FROM accounts WHERE name = 'foundation:more'"), "0");

    // An MWEB address (node B's wallet makes one) is refused, saying why.
    st().cli("createwallet acct-mweb", true);
    const std::string mweb = st().cli("-rpcwallet=acct-mweb getnewaddress \"\" mweb", true);
    ASSERT_EQ(mweb.rfind("tmweb1", 0), 0u) << mweb;
    for (const std::string holder : {"amber", "foundation:developers"}) {
        r = accountd({"account", "bind", holder, "LTC", mweb, "--share", "100000", "--config", cfg});
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_NE(r.out.find("is an MWEB address, which payouts cannot pay: Litecoin Core 0.21.2 writes MWEB "
                             "addresses into raw/PSBT transactions as an empty-script output and allows one MWEB "
                             "recipient per wallet transaction"),
                  std::string::npos)
            << r.out;
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM wallets WHERE address = $1", {mweb}), "0");

    // The database itself refuses shares that do not add up.
    auto c = db();
    EXPECT_FALSE(c.exec("UPDATE wallets SET share_ppm = 1 WHERE account = 'amber' AND address = $1", {a1}).ok());
    EXPECT_EQ(scalar("SELECT share_ppm FROM wallets WHERE account = 'amber' AND address = $1", {a1}), "700000");

    // A username that is a bare payout address makes its account on first use
    // with that wallet bound; a plain name makes an account of kind user.
    const std::string a4 = st().cli("-rpcwallet=pool getnewaddress");
    auto s = make_shares("auto", 3, 9);
    for (auto& [k, v] : s[0]) {
        if (k == "account") {
            v = a4;
        }
    }
    for (auto& [k, v] : s[1]) {
        if (k == "account") {
            v = "0xde709f2102306220921060314715629080e2fb77";
        }
    }
    redis rd;
    const std::string last = rd.xadd("bmm:test:auto", s);
    test::child_process p({bin("bmm-accountd"), "run", "--config", write_config("bmm:test:auto", "auto")},
                          st().dir() + "/accountd/auto.log");
    ASSERT_TRUE(wait_stored("bmm:test:auto", "auto", last, 60, &p))
        << test::read_text(st().dir() + "/accountd/auto.log");
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(scalar("SELECT kind FROM accounts WHERE name = $1", {a4}), "address");
    EXPECT_EQ(scalar("SELECT currency || ' ' || address || ' ' || share_ppm FROM wallets WHERE account = $1", {a4}),
              "LTC " + a4 + " 1000000");
    EXPECT_EQ(scalar("SELECT currency || ' ' || share_ppm FROM wallets WHERE account = "
                     "'0xde709f2102306220921060314715629080e2fb77'"),
              "BMM 1000000");
    // Every other name is an account too (kind user, no wallet bound), made with its first shares.
    EXPECT_EQ(scalar("SELECT kind FROM accounts WHERE name = $1", {field(s[2], "account")}), "user");
    EXPECT_EQ(scalar("SELECT count(*) FROM wallets WHERE account = $1", {field(s[2], "account")}), "0");
}


TEST(accountd, old_share_partitions_are_dropped_whole_and_rollups_stay) {
    migrate_once();
    // Records of 2025-01-01 (older than every other test's), stored, then that day dropped.
    auto rs = make_shares("old", 500, 5);
    for (auto& r : rs) {
        for (auto& [k, v] : r) {
            if (k == "time_ms") {
                v = std::to_string(1735689600000LL + (std::stoll(v) - k_base_ms));
            }
        }
    }
    redis rd;
    const std::string last = rd.xadd("bmm:test:old", rs);
    test::child_process p({bin("bmm-accountd"), "run", "--config", write_config("bmm:test:old", "old")},
                          st().dir() + "/accountd/old.log");
    ASSERT_TRUE(wait_stored("bmm:test:old", "old", last, 60, &p)) << test::read_text(st().dir() + "/accountd/old.log");
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM shares_20250101"), "500");
    EXPECT_EQ(scalar("SELECT string_agg(p, ',') FROM bmm_drop_share_partitions_before('2025-01-02') p"),
              "shares_20250101");
    EXPECT_EQ(scalar("SELECT to_regclass('shares_20250101') IS NULL"), "t");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'old:%'"), "0");
    EXPECT_TRUE(stored_rollups("old") == expected_rollups(rs)) << "rollups must outlive the raw shares";
    EXPECT_EQ(scalar("SELECT count(*) FROM bmm_drop_share_partitions_before('2025-01-02')"), "0");
}

TEST(accountd, two_consumers_share_a_group_and_delete_what_they_stored) {
    migrate_once();
    // Two bmm-accountd processes in one consumer group (the scale-out path),
    // deleting entries once stored: each entry is stored once by one of them.
    constexpr int n = 30000;
    auto rs = make_shares("two", n, 11);
    for (int i = 0; i < 500; ++i) {
        rs.push_back(rs[static_cast<std::size_t>(i * 41)]);  // repeats of a uid
    }
    redis rd;
    const std::string extra = "delete_acked = true\n";
    test::child_process a({bin("bmm-accountd"), "run", "--config", write_config("bmm:test:two", "two-a", 1000, extra)},
                          st().dir() + "/accountd/two-a.log");
    test::child_process b({bin("bmm-accountd"), "run", "--config", write_config("bmm:test:two", "two-b", 1000, extra)},
                          st().dir() + "/accountd/two-b.log");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rd.xadd("bmm:test:two", rs);
    test::wait_until([&] { return rd.length("bmm:test:two") == 0; }, 120);
    EXPECT_EQ(rd.length("bmm:test:two"), 0) << "every entry is deleted once stored";
    EXPECT_EQ(a.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(b.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(rd.pending("bmm:test:two", "accountd"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'two:%'"), std::to_string(n));
    EXPECT_TRUE(stored_rollups("two") == expected_rollups(rs));
    EXPECT_EQ(scalar("SELECT sum(entries) FROM stream_state WHERE stream = 'bmm:test:two'"), std::to_string(rs.size()));
    EXPECT_EQ(scalar("SELECT count(*) FROM stream_state WHERE stream = 'bmm:test:two' AND entries > 0"), "2")
        << "both consumers took part";
}

// [ingest] stream_keep_seconds: entries every consumer group has acknowledged
// are trimmed; a group that has not read them (another reader) holds them.
TEST(accountd, the_stream_is_trimmed_once_every_group_has_acknowledged) {
    migrate_once();
    constexpr int n = 3000;
    const std::string stream = "bmm:test:trim";
    auto rs = make_shares("trim", n, 17);
    redis rd;
    rd.group_reads_and_acks(stream, "watcher", 0);  // a second group, at the start, that has read nothing
    test::child_process a(
        {bin("bmm-accountd"), "run", "--config", write_config(stream, "trim-a", 1000, "stream_keep_seconds = 0\n")},
        st().dir() + "/accountd/trim-a.log");
    const std::string last = rd.xadd(stream, rs);
    ASSERT_TRUE(wait_stored(stream, "trim-a", last, 120, &a));
    // Two trim rounds (every 10 s): the watcher holds everything.
    std::this_thread::sleep_for(std::chrono::seconds(21));
    EXPECT_EQ(rd.length(stream), n) << "entries the watcher group has not read were trimmed";
    // The watcher reads and acknowledges 2,000: those go, the rest stays.
    rd.group_reads_and_acks(stream, "watcher", 2000);
    test::wait_until([&] { return rd.length(stream) == n - 2000; }, 30);
    EXPECT_EQ(rd.length(stream), n - 2000);
    // The rest once the watcher has it too; the stored shares are all there.
    rd.group_reads_and_acks(stream, "watcher", n);
    test::wait_until([&] { return rd.length(stream) == 0; }, 30);
    EXPECT_EQ(rd.length(stream), 0);
    EXPECT_EQ(a.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'trim:%'"), std::to_string(n));
}

TEST(accountd, entries_pending_on_a_consumer_that_is_gone_are_taken_over) {
    migrate_once();
    // Consumer "gone" reads 3,000 entries and never comes back. "live" stores
    // the rest, stops, and starts again with claim_idle_ms = 1000: it takes
    // the 3,000 over although their ids lie below its own stored last id, and
    // stores each once (100 of them were sent again later and stored already).
    const std::string stream = "bmm:test:claim";
    auto rs = make_shares("clm", 5000, 21);
    for (int i = 0; i < 100; ++i) {
        rs.push_back(rs[static_cast<std::size_t>(i * 29)]);  // repeats of gone's
    }
    const std::string cli = st().redis_cli() + " ";
    ASSERT_EQ(test::run_capture(cli + "XGROUP CREATE " + stream + " accountd 0 MKSTREAM 2>&1"), "OK");
    redis rd;
    const std::string last = rd.xadd(stream, rs);
    (void)test::run_capture(cli + "XREADGROUP GROUP accountd gone COUNT 3000 STREAMS " + stream +
                            " '>' > /dev/null 2>&1");
    ASSERT_EQ(rd.pending(stream, "accountd"), 3000);

    const std::string log = st().dir() + "/accountd/claim.log";
    {
        test::child_process p(
            {bin("bmm-accountd"), "run", "--config", write_config(stream, "live", 1000, "claim_idle_ms = 0\n")}, log);
        ASSERT_TRUE(wait_stored(stream, "live", last, 120, &p)) << test::read_text(log);
        EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    }
    EXPECT_EQ(rd.pending(stream, "accountd"), 3000) << "claim_idle_ms = 0 takes nothing over";
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'clm:%'"), "2100");

    test::child_process p(
        {bin("bmm-accountd"), "run", "--config", write_config(stream, "live", 1000, "claim_idle_ms = 1000\n")},
        log + ".2");
    test::wait_until([&] { return rd.pending(stream, "accountd") == 0; }, 60);
    EXPECT_EQ(p.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(rd.pending(stream, "accountd"), 0) << test::read_text(log + ".2");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE uid LIKE 'clm:%'"), "5000");
    EXPECT_TRUE(stored_rollups("clm") == expected_rollups(rs)) << "each entry counted once";
    EXPECT_NE(test::read_text(log + ".2").find("took over 1000 entries"), std::string::npos)
        << test::read_text(log + ".2");
}

// The benchmarks check what they measure (bench-epoch: the ledger audit is
// clean and a replay books nothing; bench-ingest: every record stored once,
// every baseline ran): small runs keep them working. Their rates are printed,
// not judged here.
TEST(accountd, the_benchmarks_run_and_check_themselves) {
    migrate_once();
    // bench-epoch needs [epochs] in the file it is given (it uses its own days).
    const std::string cfg = write_config("bmm:test:bench-ingest", "bench");
    {
        std::ofstream f(cfg, std::ios::app);
        f << "[epochs]\ngenesis = 1\n[coins.LTC]\n";
    }
    for (const char* scheme : {"pp", "pplns", "pps", "solo"}) {
        auto r = accountd({"bench-epoch", "--accounts", "300", "--blocks", "8", "--scheme", scheme, "--config", cfg});
        EXPECT_EQ(r.code, 0) << scheme << ":\n" << r.out;
        EXPECT_NE(r.out.find("replay of the same close: 0 booked"), std::string::npos) << r.out;
        if (std::string(scheme) == "pplns") {
            EXPECT_EQ(r.out.find("(0 pplns window shares"), std::string::npos) << "windows were gathered:\n" << r.out;
        }
        if (std::string(scheme) == "pps") {
            EXPECT_EQ(r.out.find(", 0 pps groups"), std::string::npos) << "pps work was gathered:\n" << r.out;
        }
    }
    auto bad = accountd({"bench-epoch", "--accounts", "5", "--blocks", "8", "--config", cfg});
    EXPECT_NE(bad.code, 0) << "8 blocks cannot all find an account of their coin among 5:\n" << bad.out;
    auto ingest = accountd({"bench-ingest", "-n", "3000", "--config", cfg});
    EXPECT_EQ(ingest.code, 0) << ingest.out;
    EXPECT_NE(ingest.out.find("baseline PostgreSQL COPY"), std::string::npos) << ingest.out;
    EXPECT_NE(ingest.out.find("(3000 rows stored)"), std::string::npos) << ingest.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bmm_bench_epoch_%'"), "0")
        << "bench-epoch drops its schema";
}

TEST(accountd, ingests_what_the_real_bmm_stratum_writes) {
    migrate_once();
    // The real pool on the regtest node, writing its own stream.
    const std::string stream = "bmm:test:pool";
    const int port = test::free_port_near(28000);
    test::pool_process pool;
    test::pool_options o;
    o.stream = stream;
    o.ports = {port};
    o.port_sections = "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                      "\nstart_difficulty = 0.002\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n";
    ASSERT_NO_THROW(pool.start(o));
    const std::string dir = pool.dir;
    const std::string address = st().cli("-rpcwallet=pool getnewaddress");
    const std::string url = "stratum+tcp://127.0.0.1:" + std::to_string(port);
    for (const std::string& user : {std::string("carol.rig1"), std::string("carol.rig2"), address}) {
        test::child_process miner(
            {bin("bmm-miner"), "--url", url, "--user", user, "--shares", "8", "--seconds", "60", "--quiet"},
            dir + "/miner.log");
        EXPECT_EQ(miner.wait(90000), 0) << test::read_text(dir + "/miner.log");
    }
    // The sink publishes from its journal a moment later; then the pool stops.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(pool.proc->stop(SIGTERM, 20000), 0);

    redis rd;
    const auto entries = rd.entries(stream);
    ASSERT_FALSE(entries.empty());
    const std::string last = entries.back().id;
    std::vector<record> records;
    for (const auto& e : entries) {
        records.push_back(e.fields);
    }
    test::child_process acc({bin("bmm-accountd"), "run", "--config", write_config(stream, "pool")},
                            st().dir() + "/accountd/pool.log");
    ASSERT_TRUE(wait_stored(stream, "pool", last, 60, &acc)) << test::read_text(st().dir() + "/accountd/pool.log");
    EXPECT_EQ(acc.stop(SIGTERM, 10000), 0);
    EXPECT_EQ(rd.pending(stream, "accountd"), 0);

    // Shares: rollups equal an independent reading of the stream.
    std::vector<record> shares;
    std::size_t blocks = 0;
    for (const auto& r : records) {
        if (field(r, "type") == "share") {
            record x = r;
            for (auto& [k, v] : x) {  // strip_prefix() cuts up to the first '-': give every account one
                if (k == "account") {
                    v = "p-" + v;
                }
            }
            shares.push_back(x);
        } else {
            ASSERT_EQ(field(r, "type"), "block");
            ++blocks;
        }
    }
    EXPECT_GE(shares.size(), 24u);
    EXPECT_GE(blocks, 1u);
    auto want = expected_rollups(shares);
    const auto got = read_rollups("account IN ('carol', $1)", address, false);
    EXPECT_TRUE(got == want) << "share_minutes differ from the stream bmm-stratum wrote";
    // A rejected share that is not a block is counted, never a row (sql/0026).
    const auto rows = std::count_if(shares.begin(), shares.end(), [](const record& r) {
        return field(r, "accepted") == "1" || field(r, "block") == "1";
    });
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account IN ('carol', $1)", {address}), std::to_string(rows));
    // bmm-stratum sends each share's network target and expected reward (the
    // job's): stored as the network target's work and the reward.
    for (const auto& r : shares) {
        if (field(r, "target").empty()) {
            continue;  // no job
        }
        ASSERT_NE(find_field(r, "network_target"), nullptr) << "a share with a job has network_target";
        ASSERT_NE(find_field(r, "reward"), nullptr) << "a share with a job has reward";
        EXPECT_EQ(field(r, "network_target").size(), 64u);
        EXPECT_GT(std::stoll(field(r, "reward")), 0);
    }
    expect_network_fields(shares);
    // Each block share names the block it found: the hash bmm-stratum submitted.
    for (const auto& r : shares) {
        EXPECT_EQ(find_field(r, "block_hash") != nullptr, field(r, "block") == "1") << field(r, "uid");
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM shares s WHERE account IN ('carol', $1) AND block "
                     "AND NOT EXISTS (SELECT 1 FROM blocks_found f WHERE f.hash = s.block_hash)",
                     {address}),
              "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM shares WHERE account IN ('carol', $1) AND accepted AND network_work IS NULL",
                     {address}),
              "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM blocks_found WHERE account IN ('carol', $1)", {address}),
              std::to_string(blocks));
    // Every found block the node accepted is in the node's chain.
    for (const auto& row :
         query("SELECT hash FROM blocks_found WHERE accepted AND account IN ('carol', $1)", {address})) {
        EXPECT_EQ(st().cli("getblockheader " + row[0] + " | jq -r .hash"), row[0]);
    }
    // The address username made its account with its wallet; carol (a plain
    // name) made a user account with none.
    EXPECT_EQ(scalar("SELECT currency || ' ' || share_ppm FROM wallets WHERE account = $1", {address}), "LTC 1000000");
    EXPECT_EQ(scalar("SELECT kind FROM accounts WHERE name = 'carol'"), "user");
    EXPECT_EQ(scalar("SELECT count(*) FROM wallets WHERE account = 'carol'"), "0");
}

// GET `target` from the API on `port`: the status and the body.
std::pair<int, std::string> api_get(int port, const std::string& target) {
    const std::string reply = test::http_exchange(
        static_cast<std::uint16_t>(port), "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (reply.rfind("HTTP/1.1 ", 0) != 0) {
        return {0, reply};
    }
    const auto body = reply.find("\r\n\r\n");
    return {std::stoi(reply.substr(9, 3)), body == std::string::npos ? "" : reply.substr(body + 4)};
}

TEST(accountd, every_name_that_mines_is_an_account_from_its_first_share) {
    migrate_once();
    // The README's example: a new user mines as alice.rig1 and has bound nothing.
    ASSERT_EQ(scalar("SELECT count(*) FROM accounts WHERE name = 'alice'"), "0") << "another test made alice";
    const std::string stream = "bmm:test:alice";
    const int port = test::free_port_near(28400), api_port = test::free_port_near(29400);
    test::pool_process pool;
    test::pool_options o;
    o.name = "pool-alice";
    o.stream = stream;
    o.ports = {port};
    o.port_sections = "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                      "\nstart_difficulty = 0.002\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n";
    ASSERT_NO_THROW(pool.start(o));
    const std::string cfg =
        write_config(stream, "alice", 2000,
                     "[api]\nenabled = true\nhost = \"127.0.0.1\"\nport = " + std::to_string(api_port) + "\n");
    const std::string log = st().dir() + "/accountd/alice.log";
    test::child_process acc({bin("bmm-accountd"), "run", "--config", cfg}, log);
    test::child_process miner({bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(port), "--user",
                               "alice.rig1", "--shares", "3", "--seconds", "60", "--quiet"},
                              pool.dir + "/miner-alice.log");
    // The moment alice's first share is stored, alice is an account: both read
    // in one snapshot, polled (bounded) while the shares arrive.
    std::string seen;
    for (int i = 0; i < 900 && seen.empty(); ++i) {  // up to 90 s
        const auto row = query(
            "SELECT (SELECT count(*) FROM shares WHERE account = 'alice'), "
            "(SELECT count(*) FROM accounts WHERE name = 'alice' AND kind = 'user')");
        if (row[0][0] != "0") {
            seen = row[0][0] + " share(s), account rows: " + row[0][1];
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    ASSERT_FALSE(seen.empty()) << "no share of alice stored in 90 s\n" << test::read_text(log);
    EXPECT_NE(seen.find("account rows: 1"), std::string::npos) << seen;
    EXPECT_EQ(miner.wait(90000), 0) << test::read_text(pool.dir + "/miner-alice.log");
    EXPECT_EQ(scalar("SELECT count(*) FROM wallets WHERE account = 'alice'"), "0");

    // The API shows alice and the foundation's accounts, ':' raw or as %3A.
    int status = 0;
    for (int i = 0; i < 250 && status != 200; ++i) {  // the API answers within 5 s of the start
        status = api_get(api_port, "/api/v1/pool").first;
        if (status != 200) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ASSERT_EQ(status, 200) << test::read_text(log);
    simdjson::dom::parser parser;
    auto [alice_status, alice] = api_get(api_port, "/api/v1/accounts/alice");
    EXPECT_EQ(alice_status, 200) << alice;
    simdjson::dom::element a;
    ASSERT_FALSE(parser.parse(alice).get(a)) << alice;
    EXPECT_EQ(std::string_view(a["name"]), "alice");
    EXPECT_EQ(std::string_view(a["kind"]), "user");
    EXPECT_EQ(simdjson::dom::array(a["wallets"]).size(), 0u);
    EXPECT_EQ(std::string_view(a["bmm_held"]["amount"]), "0");
    for (const std::string target : {"/api/v1/accounts/foundation:ecosystem", "/api/v1/accounts/foundation%3Aecosystem",
                                     "/api/v1/accounts/foundation%3aecosystem"}) {
        auto [code, body] = api_get(api_port, target);
        EXPECT_EQ(code, 200) << target << " -> " << body;
        simdjson::dom::element f;
        ASSERT_FALSE(parser.parse(body).get(f)) << body;
        EXPECT_EQ(std::string_view(f["name"]), "foundation:ecosystem");
        EXPECT_EQ(std::string_view(f["kind"]), "foundation");
    }
    EXPECT_EQ(api_get(api_port, "/api/v1/accounts/foundation:ecosystem/ledger").first, 200);
    EXPECT_EQ(api_get(api_port, "/api/v1/accounts/foundation:nobody").first, 404);
    EXPECT_EQ(api_get(api_port, "/api/v1/accounts/foundation:").first, 400);
    EXPECT_EQ(api_get(api_port, "/api/v1/accounts/pool:fees:LTC").first, 400);

    // The pool counts every account (users, addresses, the foundation's) and lists the foundation's.
    auto [pool_status, pool_body] = api_get(api_port, "/api/v1/pool");
    EXPECT_EQ(pool_status, 200);
    simdjson::dom::element p;
    ASSERT_FALSE(parser.parse(pool_body).get(p)) << pool_body;
    EXPECT_EQ(std::to_string(std::int64_t(p["accounts"])), scalar("SELECT count(*) FROM accounts"));
    std::vector<std::string> foundation;
    for (auto f : p["foundation"].get_array()) {
        foundation.emplace_back(std::string_view(f["name"]));
    }
    EXPECT_EQ(foundation,
              (std::vector<std::string>{"foundation:airdrop", "foundation:developers", "foundation:ecosystem"}));
    // Every name in the shares is an account.
    EXPECT_EQ(
        scalar("SELECT count(DISTINCT account) FROM shares s WHERE account <> '' AND position(':' IN account) = 0 "
               "AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = s.account)"),
        "0");
    EXPECT_EQ(acc.stop(SIGTERM, 15000), 0) << test::read_text(log);
    EXPECT_EQ(pool.proc->stop(SIGTERM, 20000), 0);
}

// The settings of `db` on the stack's PostgreSQL, migrations from `sql`.
std::string write_db_config(const std::string& tag, const std::string& db, const std::string& sql) {
    const std::string path = st().dir() + "/accountd/" + tag + ".toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_PG_PORT") << "\nuser = \""
      << st().setting("BMM_PG_USER") << "\"\ndbname = \"" << db << "\"\npassword = \""
      << st().setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << sql << "\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st().setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\n[log]\nlevel = \"info\"\n";
    return path;
}

// psql as the cluster's superuser (peer authentication over the stack's socket).
int admin_sql(const std::string& sql) {
    const std::string cmd = "runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 -h '" +
                            st().setting("BMM_PG_SOCKET_DIR") + "' -p " + st().setting("BMM_PG_PORT") +
                            " -d postgres -c \"" + sql + "\" > '" + st().dir() + "/accountd/admin.log' 2>&1";
    return std::system(cmd.c_str());
}

TEST(accountd, migration_0017_makes_an_account_for_every_earner_and_the_foundation) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to create a database as PostgreSQL's superuser";
    }
    std::filesystem::create_directories(st().dir() + "/accountd");
    // A database of its own, migrated up to 0016 first (as a pool that ran before 0017).
    const std::string name = "bmm_backfill_" + std::to_string(::getpid());
    ASSERT_EQ(admin_sql("CREATE DATABASE " + name + " OWNER " + st().setting("BMM_PG_USER")), 0)
        << test::read_text(st().dir() + "/accountd/admin.log");
    const std::string before = st().dir() + "/sql-before-0017";
    std::filesystem::remove_all(before);
    std::filesystem::create_directories(before);
    for (const auto& e : std::filesystem::directory_iterator(sql_dir())) {
        if (e.path().extension() == ".sql" && e.path().filename().string() < "0017") {
            std::filesystem::copy(e.path(), before / e.path().filename());
        }
    }
    auto r = accountd({"migrate", "--config", write_db_config("backfill-before", name, before)});
    ASSERT_EQ(r.code, 0) << r.out;

    pg::settings s;
    s.host = "127.0.0.1";
    s.port = std::stoi(st().setting("BMM_PG_PORT"));
    s.user = st().setting("BMM_PG_USER");
    s.dbname = name;
    s.password = st().setting("BMM_PG_PASSWORD");
    {
        auto c = pg::connection::open(s);
        ASSERT_TRUE(c) << c.error_message();
        for (const char* sql : {
                 "INSERT INTO accounts (name, kind) VALUES ('made', 'user'), ('rltc1qmadeaddress', 'address')",
                 "SELECT bmm_ensure_share_partition('2026-03-01')",
                 // Only in shares (its rollups gone), only in the rollups, both; an empty and a ':' name.
                 "INSERT INTO shares (time, uid, stream_id, instance, coin, algorithm, account, worker, ip, job, "
                 "height,"
                 " difficulty, target, accepted, code, reason, block, hash, work) VALUES"
                 " ('2026-03-01 10:00:00+00', 'u1', '1-1', 1, 'LTC', 'scrypt', 'sharer', 'w', 'ip', 'j', 1, 1, '',"
                 " true, 0, '', false, 'h', 1),"
                 " ('2026-03-01 10:00:01+00', 'u2', '1-2', 1, 'LTC', 'scrypt', 'both', 'w', 'ip', 'j', 1, 1, '',"
                 " false, 23, 'low', false, 'h', 0),"
                 " ('2026-03-01 10:00:02+00', 'u3', '1-3', 1, 'LTC', 'scrypt', '', 'w', 'ip', 'j', 1, 1, '',"
                 " false, 24, 'unauthorized', false, 'h', 0)",
                 "INSERT INTO share_minutes (coin, account, worker, minute, accepted) VALUES"
                 " ('LTC', 'roller', 'w', '2026-02-01 00:00+00', 5), ('LTC', 'both', 'w', '2026-03-01 10:00+00', 1),"
                 " ('LTC', 'made', 'w', '2026-03-01 10:00+00', 1), ('LTC', 'a:b', 'w', '2026-03-01 10:00+00', 1)",
                 // Credited in the ledger only (its shares dropped long ago), and the premine.
                 "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES"
                 " ('epoch:0:emission:ledgered', 'system:emission:BMM', 'user:ledgered:available', 'BMM', 7,"
                 " 'emission', 'epoch:0'),"
                 " ('block:00:miner:matured', 'system:coinbase:LTC', 'user:matured:immature', 'LTC', 3,"
                 " 'block_miner', 'block:00'),"
                 " ('genesis:premine:foundation:ecosystem', 'system:genesis:BMM', 'foundation:ecosystem', 'BMM', 9,"
                 " 'premine', 'genesis')",
             }) {
            auto q = c->exec(sql);
            ASSERT_TRUE(q) << q.error_message() << " in " << sql;
        }
    }
    r = accountd({"migrate", "--config", write_db_config("backfill-after", name, sql_dir())});
    ASSERT_EQ(r.code, 0) << r.out;
    std::vector<std::string> got;
    {
        auto c = pg::connection::open(s);
        ASSERT_TRUE(c) << c.error_message();
        auto q = c->exec("SELECT name || ' ' || kind FROM accounts ORDER BY name COLLATE \"C\"");
        ASSERT_TRUE(q) << q.error_message();
        for (int i = 0; i < q->rows(); ++i) {
            got.push_back(q->text(i, 0));
        }
        // Only a foundation account has a ':'.
        EXPECT_FALSE(c->exec("INSERT INTO accounts (name, kind) VALUES ('a:b', 'user')"));
        EXPECT_FALSE(c->exec("INSERT INTO accounts (name, kind) VALUES ('foundation:x', 'user')"));
        EXPECT_FALSE(c->exec("INSERT INTO accounts (name, kind) VALUES ('plain', 'foundation')"));
    }
    EXPECT_EQ(
        got, (std::vector<std::string>{"both user", "foundation:airdrop foundation", "foundation:developers foundation",
                                       "foundation:ecosystem foundation", "ledgered user", "made user", "matured user",
                                       "rltc1qmadeaddress address", "roller user", "sharer user"}));
    EXPECT_EQ(admin_sql("DROP DATABASE " + name), 0) << test::read_text(st().dir() + "/accountd/admin.log");
}

// ---------------------------------------------------------------------------
// Blocks on the chain with no booking (issue 13 item 2): bmm-stratum's block
// record is durable before submitblock and retried from memory when the disk
// is full; bmm-accountd asks the chain about every block not clearly accepted.
// ---------------------------------------------------------------------------

// A configuration with the ledger thread. Epoch 0 is today and tomorrow
// (UTC, fixed for the whole run), so no epoch closes during these tests.
std::string write_ledger_config(const std::string& stream, const std::string& consumer) {
    static const std::int64_t genesis =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() /
        86400 * 86400;
    return write_config(stream, consumer, 2000,
                        "[epochs]\ngenesis = " + std::to_string(genesis) +
                            "\nlength_seconds = 172800\nstep_ms = 200\n[coins.LTC]\nmaturity = 100\n");
}

// The blocks bmm-stratum found, from its log, in order.
std::vector<std::string> found_blocks(const std::string& log) {
    std::vector<std::string> out;
    const std::string text = test::read_text(log), key = "meets the network target: block ";
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
        out.push_back(text.substr(at + key.size(), 64));
    }
    return out;
}


// The journal lines of block `hash`.
std::vector<std::string> journal_block_lines(const std::string& spool, const std::string& hash) {
    std::vector<std::string> out;
    std::istringstream in(test::read_text(spool + "/journal.log"));
    for (std::string line; std::getline(in, line);) {
        if (line.find("\"type\":\"block\"") != std::string::npos && line.find(hash) != std::string::npos) {
            out.push_back(line);
        }
    }
    return out;
}

// The node's confirmations of block `hash`: -1 off the main chain, "unknown" when it does not have it.
std::string confirmations(const std::string& hash) {
    const std::string out = st().cli("getblockheader " + hash);
    if (out.find("Block not found") != std::string::npos) {
        return "unknown";
    }
    return st().cli("getblockheader " + hash + " | jq -r .confirmations");
}

test::pool_options block_pool(const std::string& name, const std::string& stream, const std::string& fault) {
    test::pool_options o;
    o.name = name;
    o.stream = stream;
    const int port = test::free_port_near(30000);
    o.ports = {port};
    o.port_sections = "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                      "\nstart_difficulty = 0.002\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n";
    if (!fault.empty()) {
        o.env["BMM_STRATUM_FAULT"] = fault;
    }
    return o;
}

// The blocks of `hashes` in the node's main chain, and those that are not
// (several shares can find a block at one height: one of them wins).
std::pair<std::vector<std::string>, std::vector<std::string>> by_chain(const std::vector<std::string>& hashes) {
    std::pair<std::vector<std::string>, std::vector<std::string>> out;
    for (const auto& h : hashes) {
        const std::string c = confirmations(h);
        (c != "unknown" && std::stoi(c) >= 1 ? out.first : out.second).push_back(h);
    }
    return out;
}

// Mines `shares` shares as `user` on the pool (bounded; the miner's exit code
// is not the point: the pool may die or refuse shares on purpose).
void mine(const test::pool_process& pool, const std::string& user, int shares) {
    test::child_process miner({bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(pool.port),
                               "--user", user, "--shares", std::to_string(shares), "--seconds", "30", "--quiet"},
                              pool.dir + "/miner-" + user + ".log");
    miner.wait(45000);
}

// Runs bmm-accountd (ingest and ledger) on `stream` until every hash is in
// blocks (bounded by `seconds`); whether they all are.
bool booked(const std::string& stream, const std::string& consumer, const std::vector<std::string>& hashes, int seconds,
            std::string* log_text) {
    const std::string log = st().dir() + "/accountd/" + consumer + ".log";
    test::child_process acc({bin("bmm-accountd"), "run", "--config", write_ledger_config(stream, consumer)}, log);
    const bool all = test::wait_until(
        [&] {
            for (const auto& h : hashes) {
                if (scalar("SELECT count(*) FROM blocks WHERE hash = $1", {h}) != "1") {
                    return false;
                }
            }
            return true;
        },
        seconds);
    EXPECT_EQ(acc.stop(SIGTERM, 15000), 0);
    *log_text = test::read_text(log);
    return all;
}

TEST(accountd, a_block_record_is_in_the_journal_before_submitblock) {
    migrate_once();
    // bmm-stratum killed right after writing the record, before submitblock.
    test::pool_process pool;
    ASSERT_NO_THROW(pool.start(block_pool("pool-kill-before", "bmm:test:kill-before", "kill-before-submitblock")));
    mine(pool, "killbefore.rig1", 3);
    ASSERT_TRUE(test::wait_until([&] { return !pool.proc->running(); }, 30))
        << "the fault point did not kill bmm-stratum";
    const auto hashes = found_blocks(pool.log);
    ASSERT_GE(hashes.size(), 1u) << pool.log_tail();
    const auto lines = journal_block_lines(pool.dir + "/spool", hashes[0]);
    ASSERT_EQ(lines.size(), 1u) << "the block's record, flushed before submitblock";
    EXPECT_NE(lines[0].find("\"answer\":\"pending: recorded before submitblock\""), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("\"accepted\":\"0\""), std::string::npos) << lines[0];
    EXPECT_EQ(confirmations(hashes[0]), "unknown") << "killed before submitblock: the node never got it";
}

TEST(accountd, a_block_submitted_before_a_kill_9_is_found_on_the_chain_and_booked) {
    migrate_once();
    const std::string stream = "bmm:test:kill-after";
    test::pool_process pool;
    ASSERT_NO_THROW(pool.start(block_pool("pool-kill-after", stream, "kill-after-submitblock")));
    mine(pool, "killafter.rig1", 3);
    ASSERT_TRUE(test::wait_until([&] { return !pool.proc->running(); }, 30))
        << "the fault point did not kill bmm-stratum";
    // The first block found is the one submitted before the kill (others
    // found at once wait in the queue and die with the process).
    const auto found = found_blocks(pool.log);
    ASSERT_GE(found.size(), 1u) << pool.log_tail();
    const std::vector<std::string> hashes{found[0]};
    const std::string conf = confirmations(hashes[0]);
    ASSERT_NE(conf, "unknown");
    EXPECT_GE(std::stoi(conf), 1) << "the node took the block before the kill";
    for (std::size_t i = 1; i < found.size(); ++i) {
        EXPECT_EQ(confirmations(found[i]), "unknown") << found[i];
    }
    // Restarted, bmm-stratum publishes what its journal holds: the record
    // from before submitblock; a share from the new start tells bmm-accountd
    // the old process is gone, so it asks the node at once instead of waiting
    // out bmm-stratum's submitblock time-out for an answer that never comes.
    test::pool_process again;
    ASSERT_NO_THROW(again.start(block_pool("pool-kill-after", stream, "")));
    mine(again, "killafter.rig2", 1);
    EXPECT_EQ(again.proc->stop(SIGTERM, 20000), 0);
    std::string log;
    EXPECT_TRUE(booked(stream, "kill-after", hashes, 150, &log)) << log;
    EXPECT_EQ(scalar("SELECT string_agg(accepted::text || ' ' || answer, ',') FROM blocks_found WHERE hash = $1",
                     {hashes[0]}),
              "false pending: recorded before submitblock");
    EXPECT_NE(log.find("is in the main chain"), std::string::npos) << log;
    EXPECT_NE(log.find("has started again since, so its answer never comes"), std::string::npos) << log;
}

TEST(accountd, a_block_answered_duplicate_is_found_on_the_chain_and_booked) {
    migrate_once();
    const std::string stream = "bmm:test:duplicate";
    test::pool_process pool;
    ASSERT_NO_THROW(pool.start(block_pool("pool-duplicate", stream, "submitblock-twice")));
    mine(pool, "dup.rig1", 2);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the sink publishes from its journal
    EXPECT_EQ(pool.proc->stop(SIGTERM, 20000), 0);
    const auto [hashes, off_chain] = by_chain(found_blocks(pool.log));
    ASSERT_GE(hashes.size(), 1u) << pool.log_tail();
    std::string log;
    EXPECT_TRUE(booked(stream, "duplicate", hashes, 60, &log)) << log;
    for (const auto& h : off_chain) {
        EXPECT_EQ(scalar("SELECT count(*) FROM blocks WHERE hash = $1", {h}), "0") << h;
    }
    for (const auto& h : hashes) {
        EXPECT_EQ(scalar("SELECT string_agg(accepted::text || ' ' || answer, ',' ORDER BY time DESC) FROM blocks_found "
                         "WHERE hash = $1",
                         {h}),
                  "false \"duplicate\",false pending: recorded before submitblock")
            << h;
    }
}

// Unmounts a test's filesystem, whatever happened in the test.
struct unmount_at_end {
    std::string path;
    ~unmount_at_end() { (void)std::system(("umount -l '" + path + "' 2>/dev/null").c_str()); }
};

TEST(accountd, a_block_found_with_the_spool_disk_full_is_submitted_and_booked_once_there_is_room) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to mount a small tmpfs as the spool";
    }
    migrate_once();
    const std::string stream = "bmm:test:fulldisk", dir = st().dir() + "/pool-fulldisk", spool = dir + "/spool";
    std::filesystem::create_directories(spool);
    ASSERT_EQ(std::system(("mount -t tmpfs -o size=256k tmpfs '" + spool + "'").c_str()), 0);
    unmount_at_end unmount{spool};
    test::pool_process pool;
    ASSERT_NO_THROW(pool.start(block_pool("pool-fulldisk", stream, "")));
    // The spool disk full: a filler takes every byte left.
    (void)std::system(("dd if=/dev/zero of='" + spool + "/filler' bs=4k 2>/dev/null").c_str());
    ASSERT_NE(std::system(("echo x >> '" + spool + "/journal.log' 2>/dev/null").c_str()), 0) << "the disk is not full";
    mine(pool, "fulldisk.rig1", 1);
    ASSERT_TRUE(test::wait_until(
        [&] { return pool.log_tail(100000).find("BLOCK RECORD NOT WRITTEN") != std::string::npos; }, 30))
        << pool.log_tail();
    const auto found = found_blocks(pool.log);
    const auto [hashes, off_chain] = by_chain(found);
    ASSERT_GE(hashes.size(), 1u) << "submitted all the same, and in the main chain\n" << pool.log_tail();
    for (const auto& h : found) {
        EXPECT_NE(confirmations(h), "unknown") << "submitted all the same: " << h;
        EXPECT_TRUE(journal_block_lines(spool, h).empty()) << "no room for the record: " << h;
    }
    // Room again: the records kept in memory land within a few seconds.
    std::filesystem::remove(spool + "/filler");
    ASSERT_TRUE(
        test::wait_until([&] { return pool.log_tail(100000).find("are in the journal now") != std::string::npos; }, 15))
        << pool.log_tail();
    for (const auto& h : hashes) {
        const auto lines = journal_block_lines(spool, h);
        ASSERT_EQ(lines.size(), 2u) << h;
        EXPECT_NE(lines[0].find("pending: recorded before submitblock"), std::string::npos) << lines[0];
        EXPECT_NE(lines[1].find("\"accepted\":\"1\""), std::string::npos) << lines[1];
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_EQ(pool.proc->stop(SIGTERM, 20000), 0);
    std::string log;
    EXPECT_TRUE(booked(stream, "fulldisk", hashes, 60, &log)) << log;
    for (const auto& h : hashes) {
        EXPECT_EQ(scalar("SELECT count(*) FROM blocks_found WHERE hash = $1 AND accepted", {h}), "1") << h;
    }
    for (const auto& h : off_chain) {
        EXPECT_EQ(scalar("SELECT count(*) FROM blocks WHERE hash = $1", {h}), "0") << h;
    }
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
