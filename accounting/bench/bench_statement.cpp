// bmm-accountd bench-statement: the time to make an account's statement over
// a year of hourly epochs (issue 12's aim: CSV within 1 s, PDF within 5 s),
// beside a baseline measured in the same run: a plain SELECT of the same
// transfers (no references, no weights, no running balance, no rendering).
//
// The ledger is made by SQL in a schema of its own (bmm_bench_statement_<pid>,
// migrated, dropped afterwards unless --keep), as the daemon would have left
// it: per hour an epoch closed and alice's emission; per day a block of LTC
// booked at an epoch's close (fee, dividends to alice and the foundation by
// the epoch's recorded holdings, alice's miner part) and matured 100 hours
// later; the premine of foundation:ecosystem. The figures are the fastest of
// --runs runs of each step.

#include "bmm/accounting/bench_statement.hpp"

#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/statement.hpp"
#include "bmm/pg/connection.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>

namespace bmm::accounting {

namespace {

using clock = std::chrono::steady_clock;

int fail(const std::string& m) {
    std::fprintf(stderr, "bench-statement: %s\n", m.c_str());
    return 1;
}

// The bench's ledger, $1 = hours. Epoch k is [g + k h, g + (k+1) h), closed
// one second after its end; a day's block is found and booked in epoch
// 24 d + 12. Amounts: emission 10^21 + k base units; block reward 1.25 LTC,
// 1 % fee, 20 % dividend (250,000,000 litoshi) split by the holdings recorded.
constexpr const char* k_fill_sql[] = {
    "INSERT INTO accounts (name, kind) VALUES ('alice', 'user')",
    "INSERT INTO epochs (k, start_at, end_at, closed_at, emission, emission_paid, emission_carried)"
    " SELECT k, g + k * interval '1 hour', g + (k + 1) * interval '1 hour',"
    " g + (k + 1) * interval '1 hour' + interval '1 second', 1000000000000000000000 + k, 1000000000000000000000 + k, 0"
    " FROM generate_series(0, $1::bigint - 1) k, (SELECT '2026-01-01T00:00:00Z'::timestamptz AS g) s",
    "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference, created_at)"
    " VALUES ('genesis:premine:foundation:ecosystem', 'system:genesis:BMM', 'foundation:ecosystem', 'BMM',"
    " 83400000000000000000000000, 'premine', 'genesis', '2026-01-01T00:00:00Z')",
    "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference, created_at)"
    " SELECT 'epoch:' || e.k || ':emission:alice', 'system:emission:BMM', 'user:alice:available', 'BMM',"
    " 1000000000000000000000 + e.k, 'emission', 'epoch:' || e.k, e.closed_at FROM epochs e",
    // Holdings at each close: the premine, and alice's emission of the epochs before.
    "INSERT INTO epoch_bmm_holdings (epoch, account, bmm)"
    " SELECT k, 'foundation:ecosystem', 83400000000000000000000000 FROM generate_series(0, $1::bigint - 1) k"
    " UNION ALL SELECT k, 'user:alice:available', k * 1000000000000000000000 + k * (k - 1) / 2"
    " FROM generate_series(1, $1::bigint - 1) k",
    "INSERT INTO epoch_bmm_totals (epoch, holders, total) SELECT epoch, count(*), sum(bmm)"
    " FROM epoch_bmm_holdings GROUP BY epoch",
    "INSERT INTO blocks (hash, coin, height, reward, finder, found_at, found_epoch, epoch, status, status_at)"
    " SELECT lpad(to_hex(d), 64, '0'), 'LTC', 100000 + d, 1250000000, 'alice', e.start_at, e.k, e.k, 'mature',"
    " e.closed_at + interval '100 hours'"
    " FROM generate_series(0, $1::bigint / 24 - 1) d JOIN epochs e ON e.k = 24 * d + 12",
    "CREATE TEMP TABLE bench_div AS SELECT b.hash, e.closed_at, b.status_at,"
    " trunc(250000000 * h.bmm / t.total) AS alice"
    " FROM blocks b JOIN epochs e ON e.k = b.epoch JOIN epoch_bmm_totals t ON t.epoch = b.epoch"
    " JOIN epoch_bmm_holdings h ON h.epoch = b.epoch AND h.account = 'user:alice:available'",
    "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference, created_at)"
    " SELECT 'block:' || hash || ':fee', 'system:coinbase:LTC', 'pool:fees:LTC:immature', 'LTC', 12500000,"
    "  'block_fee', 'block:' || hash, closed_at FROM bench_div"
    " UNION ALL SELECT 'block:' || hash || ':dividend:user:alice:available', 'system:coinbase:LTC',"
    "  'user:alice:immature', 'LTC', alice, 'block_dividend', 'block:' || hash, closed_at FROM bench_div"
    " WHERE alice > 0"
    " UNION ALL SELECT 'block:' || hash || ':dividend:foundation:ecosystem', 'system:coinbase:LTC',"
    "  'foundation:ecosystem:immature', 'LTC', 250000000 - alice, 'block_dividend', 'block:' || hash, closed_at"
    "  FROM bench_div"
    " UNION ALL SELECT 'block:' || hash || ':miner:alice', 'system:coinbase:LTC', 'user:alice:immature', 'LTC',"
    "  987500000, 'block_miner', 'block:' || hash, closed_at FROM bench_div"
    " UNION ALL SELECT 'block:' || hash || ':mature:user:alice:immature', 'user:alice:immature',"
    "  'user:alice:available', 'LTC', 987500000 + alice, 'block_mature', 'block:' || hash, status_at"
    "  FROM bench_div",
    "DROP TABLE bench_div",
};

// The fastest of `runs` runs of f (seconds); f returns false on a failure.
double fastest(int runs, const std::function<bool()>& f, bool& ok) {
    double best = 1e300;
    for (int i = 0; i < runs && ok; ++i) {
        const auto t = clock::now();
        ok = f();
        best = std::min(best, std::chrono::duration<double>(clock::now() - t).count());
    }
    return best;
}

bool write_file(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    return f && f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) && f.flush();
}

int run_bench(pg::connection& db, const accountd_config& cfg, const bench_statement_options& o) {
    if (auto m = migrate(db, cfg.migrations_dir); !m) {
        return fail(m.error_message());
    }
    const auto fill_start = clock::now();
    for (const char* sql : k_fill_sql) {
        auto r = std::string_view(sql).find("$1") != std::string_view::npos ? db.exec(sql, {std::to_string(o.hours)})
                                                                            : db.exec(sql);
        if (!r) {
            return fail(r.error_message());
        }
    }
    if (auto r = db.exec("VACUUM (ANALYZE) ledger_transfers, blocks, epochs, epoch_bmm_holdings"); !r) {
        return fail(r.error_message());
    }
    const double fill_s = std::chrono::duration<double>(clock::now() - fill_start).count();

    statement::request req;
    req.account = "alice";
    req.from_us = 1767225600LL * 1000000;  // 2026-01-01T00:00:00Z
    req.to_us = req.from_us + static_cast<std::int64_t>(o.hours + 1) * 3600 * 1000000;

    bool ok = true;
    std::string why;
    int baseline_rows = 0;
    const double select_s = fastest(
        o.runs,
        [&] {
            auto r = db.exec(
                "SELECT id, created_at, kind, reference, currency, amount FROM ledger_transfers"
                " WHERE (debit IN ('user:alice:available', 'user:alice:immature') OR credit IN"
                " ('user:alice:available', 'user:alice:immature')) AND created_at >= $1::timestamptz"
                " AND created_at < $2::timestamptz ORDER BY created_at, id COLLATE \"C\"",
                {statement::time_text(req.from_us), statement::time_text(req.to_us)});
            if (!r) {
                why = r.error_message();
                return false;
            }
            baseline_rows = r->rows();
            return true;
        },
        ok);
    std::optional<statement::statement> st;
    const double build_s = fastest(
        o.runs,
        [&] {
            auto s = statement::build(db, req);
            if (!s) {
                why = s.error_message();
                return false;
            }
            st = std::move(*s);
            return true;
        },
        ok);
    if (!ok) {
        return fail(why);
    }
    std::string csv, json, pdf;
    const double csv_s = fastest(
        o.runs, [&] { return !(csv = statement::render_csv(*st)).empty(); }, ok);
    const double json_s = fastest(
        o.runs, [&] { return !(json = statement::render_json(*st)).empty(); }, ok);
    const double pdf_s = fastest(
        o.runs,
        [&] {
            auto p = statement::render_pdf(*st);
            if (!p) {
                why = p.error_message();
                return false;
            }
            pdf = std::move(*p);
            return true;
        },
        ok);
    if (!ok) {
        return fail(why);
    }
    std::size_t rows = 0;
    for (const auto& sec : st->sections) {
        rows += sec.rows.size();
    }
    std::printf(
        "bench-statement: alice over %zu hourly epochs (%s to %s): %d transfers, %zu statement rows in %zu "
        "sections; fill %.1f s\n",
        o.hours, statement::time_text(req.from_us).c_str(), statement::time_text(req.to_us).c_str(), baseline_rows,
        rows, st->sections.size(), fill_s);
    std::printf("  fastest of %d runs each:\n", o.runs);
    std::printf("    baseline: plain SELECT of the transfers  %7.3f s\n", select_s);
    std::printf("    build (4 queries, one snapshot)          %7.3f s  (%.1f x baseline)\n", build_s,
                build_s / select_s);
    std::printf("    render CSV                               %7.3f s  %zu bytes\n", csv_s, csv.size());
    std::printf("    render JSON                              %7.3f s  %zu bytes\n", json_s, json.size());
    std::printf("    render PDF                               %7.3f s  %zu bytes\n", pdf_s, pdf.size());
    std::printf("  CSV statement (build + render): %.3f s (aim <= 1 s), %.1f x baseline\n", build_s + csv_s,
                (build_s + csv_s) / select_s);
    std::printf("  PDF statement (build + render): %.3f s (aim <= 5 s), %.1f x baseline\n", build_s + pdf_s,
                (build_s + pdf_s) / select_s);
    if (!o.out_dir.empty()) {
        for (const auto& [name, bytes] : {std::pair<std::string, const std::string*>{"statement.csv", &csv},
                                          {"statement.json", &json},
                                          {"statement.pdf", &pdf}}) {
            if (!write_file(o.out_dir + "/" + name, *bytes)) {
                return fail(o.out_dir + "/" + name + ": cannot write (does the folder exist?)");
            }
        }
        std::printf("  wrote %s/statement.{csv,json,pdf}\n", o.out_dir.c_str());
    }
    return 0;
}

}  // namespace

int bench_statement(const accountd_config& cfg, const bench_statement_options& o) {
    const std::string schema = "bmm_bench_statement_" + std::to_string(::getpid());
    auto admin = pg::connection::open(cfg.postgres);
    if (!admin) {
        return fail(admin.error_message());
    }
    if (auto r = admin->exec("CREATE SCHEMA " + schema); !r) {
        return fail(r.error_message() + " (the bench needs a role that may create schemas in the database)");
    }
    int code = 1;
    {
        auto db = pg::connection::open(cfg.postgres);
        if (!db) {
            code = fail(db.error_message());
        } else if (auto r = db->exec("SET search_path TO " + schema); !r) {
            code = fail(r.error_message());
        } else {
            code = run_bench(*db, cfg, o);
        }
    }
    if (o.keep) {
        std::printf("  kept schema %s (drop it with: DROP SCHEMA %s CASCADE)\n", schema.c_str(), schema.c_str());
    } else if (auto r = admin->exec("DROP SCHEMA " + schema + " CASCADE"); !r) {
        std::fprintf(stderr, "bench-statement: %s; drop schema %s by hand\n", r.error_message().c_str(),
                     schema.c_str());
    }
    return code;
}

}  // namespace bmm::accounting
