// bmm-accountd bench-ingest: the ingest rate Redis -> PostgreSQL in shares/s,
// next to baselines measured in the same run on the same machine:
//   - Redis alone: XRANGE of the same entries, and XREADGROUP + XACK of them
//     in a group of their own (the read side's ceilings);
//   - PostgreSQL alone: one COPY of the same rows into a table like shares
//     (the write side's ceiling).
// It writes its own stream (<stream>:bench:<pid>) whose shares name accounts
// bench-<pid>-N (the ingest makes them with their first shares), and deletes
// the stream, the shares, their rollups and the accounts afterwards.

#include "bmm/accounting/bench_ingest.hpp"

#include "bmm/accounting/ingest.hpp"
#include "bmm/accounting/redis_stream.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/record/stream_record.hpp"
#include "bmm/target.hpp"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace bmm::accounting {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

int bench_ingest(const accountd_config& base, std::size_t n) {
    const std::string pid = std::to_string(::getpid());
    accountd_config cfg = base;
    cfg.redis.stream = base.redis.stream + ":bench:" + pid;
    cfg.redis.group = "bench";
    cfg.redis.consumer = "bench";
    cfg.ingest.auto_accounts = false;
    const std::string prefix = "bench-" + pid + "-";

    auto conn = redis::connect(cfg.redis, std::chrono::milliseconds(60000));
    if (!conn) {
        std::fprintf(stderr, "bench-ingest: %s\n", conn.error_message().c_str());
        return 1;
    }
    redisContext* rc = conn->ctx.release();
    // 1. Fill the stream the way bmm-stratum's share sink does: typed share
    // records (bmm/record/stream_record.hpp) encoded as journal lines, whose
    // fields the publisher sends with XADD.
    const double diffs[] = {0.001, 0.01, 0.5, 16};
    uint256 targets[4];
    for (int i = 0; i < 4; ++i) targets[i] = *target_from_difficulty(diffs[i], pow_algorithm::scrypt);
    const uint256 network_target = *target_from_difficulty(2000000.0, pow_algorithm::scrypt);
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    auto fill_start = std::chrono::steady_clock::now();
    std::size_t queued = 0;
    record::share_record share;
    share.instance = 1;
    share.coin = "LTC";
    share.algorithm = "scrypt";
    share.ip = "127.0.0.1";
    share.job = "1a2b";
    share.height = 1000;
    share.time_ms = now_ms;
    share.hash = "00000000000000000000000000000000000000000000000000000000000000ff";
    share.network_target = network_target;
    share.reward = 625000000;
    std::vector<const char*> argv;
    std::vector<std::size_t> argl;
    for (std::size_t i = 0; i < n; ++i) {
        const bool ok = i % 20 != 0;
        share.account = prefix + std::to_string(i % 200);
        share.worker = "w" + std::to_string(i % 8);
        share.difficulty = diffs[i % 4];
        share.target = targets[i % 4];
        share.accepted = ok;
        share.code = ok ? 0 : 23;
        share.reason = ok ? "-" : "low-difficulty";
        const auto line = record::to_json_line(share, "bench:" + pid + ":" + std::to_string(i));
        const auto fields = record::fields_from_json_line(std::string_view(line).substr(0, line.size() - 1));
        if (!fields) {
            std::fprintf(stderr, "bench-ingest: a journal line does not read back: %s", line.c_str());
            return 1;
        }
        argv.assign({"XADD", cfg.redis.stream.c_str(), "*"});
        argl.assign({4, cfg.redis.stream.size(), 1});
        for (const auto& [k, v] : *fields) {
            argv.push_back(k.data());
            argl.push_back(k.size());
            argv.push_back(v.data());
            argl.push_back(v.size());
        }
        redisAppendCommandArgv(rc, static_cast<int>(argv.size()), argv.data(), argl.data());
        if (++queued == 1000 || i + 1 == n) {
            for (; queued > 0; --queued) {
                void* r = nullptr;
                if (redisGetReply(rc, &r) != REDIS_OK) {
                    std::fprintf(stderr, "bench-ingest: XADD failed: %s\n", rc->errstr);
                    return 1;
                }
                freeReplyObject(r);
            }
        }
    }
    const double fill_s = seconds_since(fill_start);

    // 2. Baseline: reading the same entries with XRANGE.
    auto read_start = std::chrono::steady_clock::now();
    std::size_t read = 0;
    std::string from = "-";
    for (;;) {
        auto* r = static_cast<redisReply*>(
            redisCommand(rc, "XRANGE %s %s + COUNT %d", cfg.redis.stream.c_str(), from.c_str(), cfg.ingest.batch_size));
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            if (r) freeReplyObject(r);
            break;
        }
        read += r->elements;
        from = "(" + std::string(r->element[r->elements - 1]->element[0]->str);
        freeReplyObject(r);
    }
    const double read_s = seconds_since(read_start);

    // 2b. Baseline: the consumer-group path alone (XREADGROUP, then XACK of
    // the round's ids), in a group of its own, through the same client code.
    std::size_t group_read = 0;
    double group_s = 0;
    {
        redis_stream raw(cfg.redis, cfg.redis.stream, "bench-raw", "raw");
        if (auto c = raw.connect(); !c) {
            std::fprintf(stderr, "bench-ingest: %s\n", c.error_message().c_str());
            return 1;
        }
        auto start = std::chrono::steady_clock::now();
        std::vector<std::string> ids;
        for (;;) {
            ids.clear();
            auto got = raw.read(">", cfg.ingest.batch_size, 0,
                                [&](const stream_entry_view& e) { ids.emplace_back(e.id_text); });
            if (!got || *got == 0) break;
            group_read += *got;
            if (auto a = raw.ack(ids, false); !a) break;
        }
        group_s = seconds_since(start);
    }

    // 3. The ingest itself.
    ingestor ing(cfg);
    std::atomic<bool> stop{false};
    auto ingest_start = std::chrono::steady_clock::now();
    std::thread runner([&] { ing.run(stop); });
    const auto deadline = ingest_start + std::chrono::seconds(600);
    while (ing.entries_acked() < n && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const double ingest_s = seconds_since(ingest_start);
    stop.store(true);
    runner.join();
    if (ing.entries_acked() < n) {
        std::fprintf(stderr, "bench-ingest: only %llu of %zu entries were stored in 600 s\n",
                     static_cast<unsigned long long>(ing.entries_acked()), n);
        return 1;
    }

    // 4. Baseline: one COPY of the same rows into a plain table like shares.
    auto db = pg::connection::open(cfg.postgres);
    if (!db) {
        std::fprintf(stderr, "bench-ingest: %s\n", db.error_message().c_str());
        return 1;
    }
    // A regular (WAL-logged) table like one daily partition of shares, with its indexes.
    const std::string copy_table = "bench_copy_" + pid;
    (void)db->exec("CREATE TABLE " + copy_table + " (LIKE shares INCLUDING INDEXES)");
    auto rows = db->exec("SELECT count(*) FROM shares WHERE account LIKE $1", {prefix + "%"});
    std::string copy;
    // Every column, in the table's order (the COPY below names none).
    auto sample = db->exec("SELECT * FROM shares WHERE account LIKE $1", {prefix + "%"});
    if (!sample) {
        std::fprintf(stderr, "bench-ingest: %s\n", sample.error_message().c_str());
        return 1;
    }
    for (int i = 0; i < sample->rows(); ++i) {
        for (int c = 0; c < sample->columns(); ++c) {
            if (c) copy += '\t';
            if (sample->is_null(i, c)) copy += "\\N";
            else pg::copy_escape(copy, sample->get(i, c));
        }
        copy += '\n';
    }
    auto copy_start = std::chrono::steady_clock::now();
    auto cp = db->copy_in("COPY " + copy_table + " FROM STDIN", copy);
    const double copy_s = seconds_since(copy_start);
    if (!cp)
        std::fprintf(stderr, "bench-ingest: baseline COPY failed (no COPY figures): %s\n", cp.error_message().c_str());

    const auto stored = rows ? rows->integer(0, 0) : -1;
    std::printf("bench-ingest: %zu share records (95 %% accepted, 200 accounts x 8 workers), batch %d\n", n,
                cfg.ingest.batch_size);
    std::printf("  fill (pipelined XADD):            %10.0f entries/s\n", static_cast<double>(n) / fill_s);
    std::printf("  baseline Redis XRANGE read:       %10.0f entries/s\n", static_cast<double>(read) / read_s);
    std::printf("  baseline Redis XREADGROUP+XACK:   %10.0f entries/s\n", static_cast<double>(group_read) / group_s);
    if (cp)
        std::printf("  baseline PostgreSQL COPY (same rows, one table like a partition): %10.0f rows/s\n",
                    static_cast<double>(sample->rows()) / copy_s);
    std::printf("  ingest (read+COPY+dedupe+rollups+commit+XACK): %10.0f shares/s (%lld rows stored)\n",
                static_cast<double>(n) / ingest_s, stored);
    std::printf("  ingest / XREADGROUP+XACK baseline: %.2f\n",
                (static_cast<double>(n) / ingest_s) / (static_cast<double>(group_read) / group_s));
    if (cp)
        std::printf("  ingest / COPY baseline: %.2f\n",
                    (static_cast<double>(n) / ingest_s) / (static_cast<double>(sample->rows()) / copy_s));

    // 5. Clean up.
    (void)db->exec("DROP TABLE IF EXISTS " + copy_table);
    (void)db->exec("DELETE FROM shares WHERE account LIKE $1", {prefix + "%"});
    (void)db->exec("DELETE FROM share_minutes WHERE account LIKE $1", {prefix + "%"});
    (void)db->exec("DELETE FROM accounts WHERE name LIKE $1", {prefix + "%"});  // made by the ingest
    (void)db->exec("DELETE FROM stream_state WHERE stream = $1", {cfg.redis.stream});
    freeReplyObject(redisCommand(rc, "DEL %s", cfg.redis.stream.c_str()));
    redisFree(rc);
    return stored == static_cast<long long>(n) && cp ? 0 : 1;
}

}  // namespace bmm::accounting
