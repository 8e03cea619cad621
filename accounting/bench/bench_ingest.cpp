// bmm-accountd bench-ingest: the ingest rate Redis -> PostgreSQL in shares/s,
// next to baselines measured in the same run on the same machine:
//   - Redis alone: XRANGE of the same entries, and XREADGROUP + XACK of them
//     in a group of their own (the read side's ceilings);
//   - PostgreSQL alone: one COPY of the same rows into a table like shares
//     (the write side's ceiling).
// And what a share costs on the way (docs/sizing.md): the stream is filled as
// bmm-stratum's publisher sends it (MULTI, 512 XADD, EXEC, one batch in
// flight), beside plain SETs sent the same way (Redis' own baseline); the
// stream's memory per entry (MEMORY USAGE); the WAL, rows and table bytes the
// ingest wrote to PostgreSQL per share, beside the WAL of the plain COPY.
// It writes its own stream (<stream>:bench:<pid>) whose shares name accounts
// bench-<pid>-N (the ingest makes them with their first shares), and deletes
// the stream, the shares, their rollups and the accounts afterwards.

#include "bmm/accounting/bench_ingest.hpp"

#include "bmm/accounting/ingest.hpp"
#include "bmm/accounting/redis_stream.hpp"
#include "bmm/json/writer.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/record/stream_record.hpp"
#include "bmm/target.hpp"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

namespace bmm::accounting {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Reads the replies of `count` pipelined commands; false on a Redis error.
bool read_replies(redisContext* rc, std::size_t count, const char* what) {
    for (; count > 0; --count) {
        void* r = nullptr;
        if (redisGetReply(rc, &r) != REDIS_OK) {
            std::fprintf(stderr, "bench-ingest: %s failed: %s\n", what, rc->errstr);
            return false;
        }
        const bool error = static_cast<redisReply*>(r)->type == REDIS_REPLY_ERROR;
        if (error) {
            std::fprintf(stderr, "bench-ingest: %s: %s\n", what, static_cast<redisReply*>(r)->str);
        }
        freeReplyObject(r);
        if (error) {
            return false;
        }
    }
    return true;
}

// One integer from a Redis command, or -1.
long long redis_integer(redisContext* rc, const std::string& command) {
    auto* r = static_cast<redisReply*>(redisCommand(rc, command.c_str()));
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) {
        freeReplyObject(r);
    }
    return v;
}

// PostgreSQL figures read before and after a phase: the WAL position and the
// bytes (heap, indexes, TOAST) of every partition of shares and of
// share_minutes (a plain table: pg_partition_tree lists nothing for it). Rows
// deleted by earlier runs leave room that new rows may fill, so these growths
// can fall short; the COPY baseline's fresh table gives the exact bytes per row.
struct pg_mark {
    std::string wal_lsn;
    long long shares_bytes = 0, rollup_bytes = 0;
};
std::optional<pg_mark> read_mark(pg::connection& db) {
    auto r = db.exec(
        "SELECT pg_current_wal_lsn()::text,"
        " (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('shares'))::bigint,"
        " coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('share_minutes')),"
        " pg_total_relation_size('share_minutes'))::bigint");
    if (!r) {
        std::fprintf(stderr, "bench-ingest: %s\n", r.error_message().c_str());
        return std::nullopt;
    }
    return pg_mark{r->text(0, 0), r->integer(0, 1), r->integer(0, 2)};
}
long long wal_since(pg::connection& db, const std::string& lsn) {
    auto r = db.exec("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint", {lsn});
    return r ? r->integer(0, 0) : -1;
}
}  // namespace

int bench_ingest(const accountd_config& base, const bench_ingest_options& o) {
    const std::size_t n = o.records;
    const std::string pid = std::to_string(::getpid());
    accountd_config cfg = base;
    cfg.redis.stream = base.redis.stream + ":bench:" + pid;
    cfg.redis.streams.clear();  // the bench reads its own stream only
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
    auto db = pg::connection::open(cfg.postgres);
    if (!db) {
        std::fprintf(stderr, "bench-ingest: %s\n", db.error_message().c_str());
        return 1;
    }
    // 1. Fill the stream the way bmm-stratum's share sink does: typed share
    // records (bmm/record/stream_record.hpp) encoded as journal lines, whose
    // fields the publisher sends with XADD, 512 to a MULTI/EXEC transaction,
    // one transaction in flight (stratum/src/share_sink.cpp).
    constexpr std::size_t k_publisher_batch = 512;
    const std::size_t workers = o.workers ? o.workers : 1600;
    const double diffs[] = {0.001, 0.01, 0.5, 16};
    uint256 targets[4];
    for (int i = 0; i < 4; ++i) {
        targets[i] = *target_from_difficulty(diffs[i], pow_algorithm::scrypt);
    }
    const uint256 network_target = *target_from_difficulty(2000000.0, pow_algorithm::scrypt);
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    // With --workers, worker w's shares are 10 s apart, so a round of the
    // ingest sees each worker about once, as it would with that many miners.
    const std::int64_t step_us = o.workers ? 10'000'000 / static_cast<std::int64_t>(workers) : 0;
    const std::int64_t first_ms = now_ms - static_cast<std::int64_t>(n) * step_us / 1000;
    std::uint64_t field_bytes = 0;
    long long redis_before = redis_integer(rc, "MEMORY USAGE " + cfg.redis.stream + " SAMPLES 0");
    if (redis_before < 0) {
        redis_before = 0;  // no stream yet
    }
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
        const std::size_t w = i % workers;
        share.account = prefix + std::to_string(w / 8);
        share.worker = "w" + std::to_string(w % 8);
        if (o.workers) {
            share.time_ms = first_ms + static_cast<std::int64_t>(i) * step_us / 1000;
        }
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
            field_bytes += k.size() + v.size();
        }
        if (queued == 0) {
            redisAppendCommand(rc, "MULTI");
        }
        redisAppendCommandArgv(rc, static_cast<int>(argv.size()), argv.data(), argl.data());
        if (++queued == k_publisher_batch || i + 1 == n) {
            redisAppendCommand(rc, "EXEC");
            if (!read_replies(rc, queued + 2, "XADD")) {
                return 1;
            }
            queued = 0;
        }
    }
    const double fill_s = seconds_since(fill_start);
    const long long redis_after = redis_integer(rc, "MEMORY USAGE " + cfg.redis.stream + " SAMPLES 0");

    // 1b. Baseline: as many plain SETs (one key, a 3-byte value, as
    // redis-benchmark's SET), sent in the same transactions.
    const std::string set_key = cfg.redis.stream + ":set-baseline";
    auto set_start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; i += k_publisher_batch) {
        const std::size_t batch = std::min(k_publisher_batch, n - i);
        redisAppendCommand(rc, "MULTI");
        for (std::size_t j = 0; j < batch; ++j) {
            redisAppendCommand(rc, "SET %s xxx", set_key.c_str());
        }
        redisAppendCommand(rc, "EXEC");
        if (!read_replies(rc, batch + 2, "SET")) {
            return 1;
        }
    }
    const double set_s = seconds_since(set_start);
    freeReplyObject(redisCommand(rc, "DEL %s", set_key.c_str()));

    // 2. Baseline: reading the same entries with XRANGE.
    auto read_start = std::chrono::steady_clock::now();
    std::size_t read = 0;
    std::string from = "-";
    for (;;) {
        auto* r = static_cast<redisReply*>(
            redisCommand(rc, "XRANGE %s %s + COUNT %d", cfg.redis.stream.c_str(), from.c_str(), cfg.ingest.batch_size));
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            if (r) {
                freeReplyObject(r);
            }
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
            if (!got || *got == 0) {
                break;
            }
            group_read += *got;
            if (auto a = raw.ack(ids, false); !a) {
                break;
            }
        }
        group_s = seconds_since(start);
    }

    // 3. The ingest itself, with PostgreSQL's WAL position and table sizes
    // around it (this database should have no other writer meanwhile).
    const auto mark0 = read_mark(*db);
    if (!mark0) {
        return 1;
    }
    ingestor ing(cfg);
    std::atomic<bool> stop{false};
    auto ingest_start = std::chrono::steady_clock::now();
    std::thread runner([&] { ing.run(stop); });
    const auto deadline = ingest_start + std::chrono::seconds(600);
    while (ing.entries_acked() < n && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double ingest_s = seconds_since(ingest_start);
    stop.store(true);
    runner.join();
    if (ing.entries_acked() < n) {
        std::fprintf(stderr, "bench-ingest: only %llu of %zu entries were stored in 600 s\n",
                     static_cast<unsigned long long>(ing.entries_acked()), n);
        return 1;
    }

    const long long ingest_wal = wal_since(*db, mark0->wal_lsn);
    const auto mark1 = read_mark(*db);
    if (!mark1) {
        return 1;
    }
    auto rollups = db->exec("SELECT count(*) FROM share_minutes WHERE account LIKE $1", {prefix + "%"});
    auto made_accounts = db->exec("SELECT count(*) FROM accounts WHERE name LIKE $1", {prefix + "%"});
    const long long rollup_rows = rollups ? rollups->integer(0, 0) : -1;
    const long long account_rows = made_accounts ? made_accounts->integer(0, 0) : -1;

    // 4. Baseline: one COPY of the same rows into a plain table like shares.
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
            if (c) {
                copy += '\t';
            }
            if (sample->is_null(i, c)) {
                copy += "\\N";
            } else {
                pg::copy_escape(copy, sample->get(i, c));
            }
        }
        copy += '\n';
    }
    auto copy_wal0 = db->exec("SELECT pg_current_wal_lsn()::text");
    auto copy_start = std::chrono::steady_clock::now();
    auto cp = db->copy_in("COPY " + copy_table + " FROM STDIN", copy);
    const double copy_s = seconds_since(copy_start);
    const long long copy_wal = copy_wal0 ? wal_since(*db, copy_wal0->text(0, 0)) : -1;
    auto copy_size = db->exec("SELECT pg_total_relation_size($1::regclass)", {copy_table});
    const long long copy_bytes = copy_size ? copy_size->integer(0, 0) : -1;
    if (!cp) {
        std::fprintf(stderr, "bench-ingest: baseline COPY failed (no COPY figures): %s\n", cp.error_message().c_str());
    }

    const auto stored = rows ? rows->integer(0, 0) : -1;
    std::printf("bench-ingest: %zu share records (95 %% accepted, %zu accounts x 8 workers%s), batch %d\n", n,
                workers / 8, o.workers ? ", each a share every 10 s" : "", cfg.ingest.batch_size);
    const double xadd_rate = static_cast<double>(n) / fill_s, set_rate = static_cast<double>(n) / set_s;
    const double per_share = static_cast<double>(n);
    std::printf("  XADD as the publisher (MULTI + %zu XADD + EXEC): %10.0f entries/s (%.0f bytes of fields each)\n",
                k_publisher_batch, xadd_rate, static_cast<double>(field_bytes) / per_share);
    std::printf("  baseline Redis SET, same batches: %10.0f commands/s (XADD / SET: %.2f)\n", set_rate,
                xadd_rate / set_rate);
    std::printf("  Redis memory of the stream:       %10.1f bytes per entry\n",
                static_cast<double>(redis_after - redis_before) / per_share);
    std::printf("  baseline Redis XRANGE read:       %10.0f entries/s\n", static_cast<double>(read) / read_s);
    std::printf("  baseline Redis XREADGROUP+XACK:   %10.0f entries/s\n", static_cast<double>(group_read) / group_s);
    if (cp) {
        std::printf("  baseline PostgreSQL COPY (same rows, one table like a partition): %10.0f rows/s\n",
                    static_cast<double>(sample->rows()) / copy_s);
    }
    std::printf("  ingest (read+COPY+dedupe+rollups+commit+XACK): %10.0f shares/s (%lld rows stored)\n",
                static_cast<double>(n) / ingest_s, stored);
    std::printf("  ingest / XREADGROUP+XACK baseline: %.2f\n",
                (static_cast<double>(n) / ingest_s) / (static_cast<double>(group_read) / group_s));
    if (cp) {
        std::printf("  ingest / COPY baseline: %.2f\n",
                    (static_cast<double>(n) / ingest_s) / (static_cast<double>(sample->rows()) / copy_s));
    }
    std::printf(
        "  PostgreSQL per share (%zu workers%s): WAL %.0f bytes (plain COPY: %.0f), rows %.3f "
        "(1 share + %.3f rollup rows; %lld accounts made), table+index bytes %.0f (shares %.0f, "
        "rollups %.0f; a fresh table of the same rows: %.0f per row)\n",
        workers, o.workers ? ", a share each 10 s" : " at one instant", static_cast<double>(ingest_wal) / per_share,
        cp ? static_cast<double>(copy_wal) / per_share : 0.0, 1.0 + static_cast<double>(rollup_rows) / per_share,
        static_cast<double>(rollup_rows) / per_share, account_rows,
        static_cast<double>(mark1->shares_bytes + mark1->rollup_bytes - mark0->shares_bytes - mark0->rollup_bytes) /
            per_share,
        static_cast<double>(mark1->shares_bytes - mark0->shares_bytes) / per_share,
        static_cast<double>(mark1->rollup_bytes - mark0->rollup_bytes) / per_share,
        static_cast<double>(copy_bytes) / per_share);
    if (!o.json_file.empty()) {
        json::writer j;
        j.begin_object().key("records").number(static_cast<std::uint64_t>(n));
        j.key("workers").number(static_cast<std::uint64_t>(workers)).key("spread_in_time").boolean(o.workers != 0);
        j.key("batch").number(cfg.ingest.batch_size);
        j.key("redis").begin_object();
        j.key("xadd_entries_per_second").number(xadd_rate).key("set_baseline_per_second").number(set_rate);
        j.key("xadd_over_set").number(xadd_rate / set_rate);
        j.key("field_bytes_per_entry").number(static_cast<double>(field_bytes) / per_share);
        j.key("memory_bytes_per_entry").number(static_cast<double>(redis_after - redis_before) / per_share);
        j.key("xrange_entries_per_second").number(static_cast<double>(read) / read_s);
        j.key("xreadgroup_xack_entries_per_second").number(static_cast<double>(group_read) / group_s);
        j.end_object();
        j.key("ingest").begin_object();
        j.key("shares_per_second").number(static_cast<double>(n) / ingest_s);
        j.key("rows_stored").number(stored);
        j.key("over_xreadgroup_xack")
            .number((static_cast<double>(n) / ingest_s) / (static_cast<double>(group_read) / group_s));
        if (cp) {
            j.key("over_copy")
                .number((static_cast<double>(n) / ingest_s) / (static_cast<double>(sample->rows()) / copy_s));
        }
        j.end_object();
        j.key("postgres").begin_object();
        j.key("wal_bytes_per_share").number(static_cast<double>(ingest_wal) / per_share);
        j.key("copy_rows_per_second").number(cp ? static_cast<double>(sample->rows()) / copy_s : 0.0);
        j.key("copy_wal_bytes_per_row").number(cp ? static_cast<double>(copy_wal) / per_share : 0.0);
        j.key("copy_table_bytes_per_row").number(cp ? static_cast<double>(copy_bytes) / per_share : 0.0);
        j.key("rollup_rows").number(rollup_rows).key("accounts_made").number(account_rows);
        j.key("rows_per_share").number(1.0 + static_cast<double>(rollup_rows) / per_share);
        j.key("shares_bytes_per_share")
            .number(static_cast<double>(mark1->shares_bytes - mark0->shares_bytes) / per_share);
        j.key("rollup_bytes_per_share")
            .number(static_cast<double>(mark1->rollup_bytes - mark0->rollup_bytes) / per_share);
        j.end_object().end_object();
        std::ofstream f(o.json_file, std::ios::trunc);
        f << j.text() << '\n';
        if (!f) {
            std::fprintf(stderr, "bench-ingest: cannot write %s\n", o.json_file.c_str());
        }
    }

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
