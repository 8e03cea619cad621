// bmm-accountd bench-epoch: the time to close one epoch for N accounts,
// through the library calls the daemon's closer makes: read the inputs with
// SQL (accepted work per account and coin from `shares` in the epoch's
// window, the previous streaks, the BMM holdings, the epoch's blocks, the
// carried emission), close_epoch, book_epoch_close.
//
// It works in a schema of its own (bmm_bench_epoch_<pid> in the configured
// database, first on the search_path of its sessions, migrated, and dropped
// afterwards unless --keep), since the ledger is append-only and the bench
// books hundreds of thousands of transfers. The configured schema is not
// touched.

#include "bmm/accounting/bench_epoch.hpp"

#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/ledger.hpp"
#include "bmm/accounting/ledger_pg.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/pg.hpp"
#include "bmm/target.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

namespace bmm::accounting {

namespace {

using clock = std::chrono::steady_clock;
double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

int fail(const std::string& m) {
    std::fprintf(stderr, "bench-epoch: %s\n", m.c_str());
    return 1;
}

struct conn_closer {
    void operator()(pg_conn* c) const noexcept { PQfinish(c); }
};

constexpr const char* k_prev_start = "2026-01-01 00:00:00+00";
constexpr const char* k_start = "2026-01-02 00:00:00+00";
constexpr const char* k_end = "2026-01-03 00:00:00+00";

}  // namespace

int bench_epoch(const accountd_config& base, const bench_epoch_options& o) {
    const std::string pid = std::to_string(::getpid());
    const std::string schema = "bmm_bench_epoch_" + pid;
    const accountd_config& cfg = base;
    auto admin = pg_connection::open(cfg.postgres);
    if (!admin) return fail(admin.error_message());
    if (auto r = admin->exec("CREATE SCHEMA " + schema); !r)
        return fail(r.error_message() + " (the bench needs a role that may create schemas in the database)");
    const int code = [&]() -> int {
        const std::string set_path = "SET search_path TO " + schema;
        auto db = pg_connection::open(cfg.postgres);
        if (!db) return fail(db.error_message());
        if (auto r = db->exec(set_path); !r) return fail(r.error_message());
        if (auto m = migrate(*db, cfg.migrations_dir); !m) return fail(m.error_message());
        std::unique_ptr<pg_conn, conn_closer> raw(PQconnectdb(cfg.postgres.conninfo().c_str()));
        if (PQstatus(raw.get()) != CONNECTION_OK) return fail(std::string("cannot connect: ") + PQerrorMessage(raw.get()));
        pg_conn* c = raw.get();
        {
            PGresult* r = PQexec(c, set_path.c_str());
            const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) return fail(std::string("setting the search_path: ") + PQerrorMessage(c));
        }

        // ---- 1. The epoch's data (not timed) ----
        const auto fill_start = clock::now();
        if (auto r = pg::ensure_epoch(c, 0, k_prev_start, k_start); !r) return fail(r.error_message());
        if (auto r = pg::ensure_epoch(c, 1, k_start, k_end); !r) return fail(r.error_message());
        accounting_config acfg;
        acfg.coins["LTC"] = coin_rules{};
        coin_rules btc;
        btc.resource_weight_ppm = 250000;
        acfg.coins["BTC"] = btc;
        // Epoch 0 closed with nothing carried (its figures as a close with PP would book).
        const std::string e0 = to_decimal(epoch_emission(0, acfg.halving_period));
        if (auto r = db->exec("UPDATE epochs SET closed_at = now(), emission = $1::numeric, emission_paid = $1::numeric, "
                              "emission_carried = 0 WHERE k = 0",
                              {e0});
            !r)
            return fail(r.error_message());
        auto name = [](std::size_t i) {
            std::string s = "miner";
            s += std::to_string(i);
            return s;
        };
        std::string data;
        for (std::size_t i = 0; i < o.accounts; ++i) {
            data += name(i);
            data += "\tuser\n";
        }
        if (auto r = db->copy_in("COPY accounts (name, kind) FROM STDIN", data); !r) return fail(r.error_message());
        if (auto r = db->exec("SELECT bmm_ensure_share_partition('2026-01-02'::date)"); !r) return fail(r.error_message());
        // Difficulties from 1/256 to 2^15 by account (scrypt on LTC; a tenth
        // of the accounts mine BTC with sha256d at higher difficulties).
        struct diff_work {
            std::string diff, target, work;
        };
        std::vector<diff_work> ltc, btc_t;
        for (int e = -8; e <= 15; ++e) {
            const double d = e >= 0 ? static_cast<double>(1u << e) : 1.0 / static_cast<double>(1u << -e);
            auto t = target_from_difficulty(d, pow_algorithm::scrypt);
            ltc.push_back({std::to_string(d), t->to_hex(), work_from_target(*t).to_decimal()});
            auto tb = target_from_difficulty(d * 65536, pow_algorithm::sha256d);
            btc_t.push_back({std::to_string(d * 65536), tb->to_hex(), work_from_target(*tb).to_decimal()});
        }
        std::size_t rows = 0;
        data.clear();
        auto flush = [&]() -> result<bool> {
            auto r = db->copy_in("COPY shares (time, uid, stream_id, instance, coin, algorithm, account, worker, ip, job, "
                                 "height, difficulty, target, accepted, code, reason, block, hash, work) FROM STDIN",
                                 data);
            data.clear();
            return r;
        };
        for (std::size_t i = 0; i < o.accounts; ++i) {
            const bool on_btc = i % 10 == 9;
            const auto& dw = on_btc ? btc_t[i % btc_t.size()] : ltc[i % ltc.size()];
            for (std::size_t j = 0; j < o.shares_per_account; ++j) {
                const bool ok = (i + j) % 20 != 0;
                const std::size_t sec = (i * 7919 + j * 104729) % 86400;
                char when[64];
                std::snprintf(when, sizeof when, "2026-01-02 %02zu:%02zu:%02zu+00", sec / 3600, sec / 60 % 60, sec % 60);
                data += when;
                data += "\tu";
                data += std::to_string(rows);
                data += '\t';
                data += std::to_string(rows);
                data += "-0\t1\t";
                data += on_btc ? "BTC\tsha256d\t" : "LTC\tscrypt\t";
                data += name(i);
                data += "\tw1\t127.0.0.1\t1a\t1000\t";
                data += dw.diff;
                data += '\t';
                data += dw.target;
                data += ok ? "\tt\t0\t-\tf\t\t" : "\tf\t23\tlow-difficulty\tf\t\t";
                data += ok ? dw.work : "0";
                data += '\n';
                ++rows;
            }
            if (data.size() > (64u << 20))
                if (auto r = flush(); !r) return fail(r.error_message());
        }
        if (auto r = flush(); !r) return fail(r.error_message());
        // Previous streaks: 60 % of the accounts mined epoch 0, streaks 1..30.
        data.clear();
        for (std::size_t i = 0; i < o.accounts; ++i) {
            if (i % 5 >= 3) continue;
            const std::uint32_t streak = static_cast<std::uint32_t>(1 + i % 30);
            data += name(i);
            data += "\t0\t1000\t";
            data += std::to_string(streak);
            data += '\t';
            data += std::to_string(e_bp(streak, acfg.persistence));
            data += "\t1000\n";
        }
        if (auto r = db->copy_in("COPY account_epochs (account, k, dpp, streak, e_bp, pp) FROM STDIN", data); !r)
            return fail(r.error_message());
        // BMM holdings: the premine, and epoch 0's emission over a tenth of the accounts.
        std::vector<transfer> held = genesis_transfers();
        {
            std::map<std::string, amount> w;
            for (std::size_t i = 0; i < o.accounts; i += 10) w[name(i)] = amount(1 + i % 97);
            auto split = split_largest_remainder(epoch_emission(0, acfg.halving_period), w);
            if (!split) return fail(split.error_message());
            for (const auto& [u, v] : *split)
                if (v > 0)
                    held.push_back(transfer{"epoch:0:emission:" + u, std::string(emission_account), user_available(u),
                                            std::string(bmm_currency), v, transfer_kind::emission, "epoch:0"});
        }
        if (auto r = pg::book_transfers(c, held); !r) return fail(r.error_message());
        // A few blocks found in the epoch.
        for (std::size_t b = 0; b < o.blocks; ++b) {
            pg::block_row row;
            char hash[65];
            std::snprintf(hash, sizeof hash, "%064zx", 0xb10c0000 + b);
            row.hash = hash;
            row.coin = b % 4 == 3 ? "BTC" : "LTC";
            row.height = 1000 + b;
            row.reward = row.coin == "BTC" ? amount(312500000) : amount(625000000);
            row.finder = name((b * 31) % o.accounts);
            row.found_at = "2026-01-02 12:00:00+00";
            row.found_epoch = 1;
            row.epoch = 1;
            if (auto r = pg::record_block(c, row); !r) return fail(r.error_message());
        }
        if (auto r = db->exec("ANALYZE accounts, shares, account_epochs, ledger_transfers, blocks, epochs"); !r) return fail(r.error_message());
        const double fill_s = seconds_since(fill_start);

        // ---- 2. The close, timed ----
        const auto t_read = clock::now();
        epoch_close_input in;
        in.k = 1;
        in.config = acfg;
        auto work = db->exec("SELECT account, coin, sum(work)::text FROM shares WHERE accepted AND time >= $1 "
                             "AND time < $2 GROUP BY account, coin",
                             {std::string(k_start), std::string(k_end)});
        if (!work) return fail(work.error_message());
        for (int i = 0; i < work->rows(); ++i) {
            auto w = parse_amount(work->get(i, 2));
            if (!w) return fail(w.error_message());
            in.work[work->text(i, 0)][work->text(i, 1)] = std::move(*w);
        }
        auto streaks = db->exec("SELECT account, streak FROM account_epochs WHERE k = 0 AND streak > 0");
        if (!streaks) return fail(streaks.error_message());
        for (int i = 0; i < streaks->rows(); ++i)
            in.previous_streaks.emplace(streaks->text(i, 0), static_cast<std::uint32_t>(streaks->integer(i, 1)));
        auto holdings = pg::load_bmm_holdings(c);
        if (!holdings) return fail(holdings.error_message());
        in.bmm_holdings = std::move(*holdings);
        auto blocks = db->exec("SELECT hash, coin, height, reward::text, finder, found_epoch FROM blocks "
                               "WHERE epoch = 1 AND status <> 'orphaned' ORDER BY found_at, hash");
        if (!blocks) return fail(blocks.error_message());
        for (int i = 0; i < blocks->rows(); ++i) {
            block_input b;
            b.hash = blocks->text(i, 0);
            b.coin = blocks->text(i, 1);
            b.height = static_cast<std::uint64_t>(blocks->integer(i, 2));
            auto r = parse_amount(blocks->get(i, 3));
            if (!r) return fail(r.error_message());
            b.reward = std::move(*r);
            b.finder = blocks->text(i, 4);
            b.found_epoch = static_cast<std::uint64_t>(blocks->integer(i, 5));
            in.blocks.push_back(std::move(b));
        }
        auto prev = pg::load_epoch(c, 0);
        if (!prev) return fail(prev.error_message());
        in.carried_emission = prev->emission_carried;
        const double read_s = seconds_since(t_read);

        const auto t_compute = clock::now();
        auto out = close_epoch(in);
        if (!out) return fail(out.error_message());
        const double compute_s = seconds_since(t_compute);

        const auto t_book = clock::now();
        pg::book_timings bt;
        auto rep = pg::book_epoch_close(c, *out, &bt);
        if (!rep) return fail(rep.error_message());
        const double book_s = seconds_since(t_book);
        const double total_s = read_s + compute_s + book_s;

        // ---- 3. Check: everything booked, the ledger consistent, a replay books nothing ----
        auto problems = pg::audit(c);
        if (!problems) return fail(problems.error_message());
        for (const auto& p : *problems) std::fprintf(stderr, "bench-epoch: ledger audit: %s\n", p.c_str());
        const auto t_replay = clock::now();
        auto again = pg::book_epoch_close(c, *out);
        if (!again) return fail(again.error_message());
        const double replay_s = seconds_since(t_replay);

        std::printf("bench-epoch: %zu accounts, %zu shares each (%zu rows, 95 %% accepted; LTC and BTC), "
                    "%zu previous streaks, %zu BMM holders, %zu blocks; fill %.1f s\n",
                    o.accounts, o.shares_per_account, rows, in.previous_streaks.size(), in.bmm_holdings.size(),
                    in.blocks.size(), fill_s);
        std::printf("  close epoch 1: %zu accounts, %zu transfers booked\n", out->accounts.size(), rep->booked);
        std::printf("    read inputs (SQL):            %7.2f s\n", read_s);
        std::printf("    compute (close_epoch):        %7.2f s\n", compute_s);
        std::printf("    book transfers (COPY, checks, INSERT): %7.2f s\n", bt.transfers_s);
        std::printf("    book account_epochs:          %7.2f s\n", bt.accounts_s);
        std::printf("    commit:                       %7.2f s\n", bt.commit_s);
        std::printf("    book total (with lock, epoch row): %7.2f s\n", book_s);
        std::printf("  total: %.2f s (aim: under 10 s for 100,000 accounts)\n", total_s);
        std::printf("  replay of the same close: %zu booked, %zu found booked, %.2f s\n", again->booked,
                    again->already, replay_s);
        return problems->empty() && again->booked == 0 ? 0 : 1;
    }();
    if (o.keep) {
        std::printf("  kept schema %s (drop it with: DROP SCHEMA %s CASCADE)\n", schema.c_str(), schema.c_str());
    } else if (auto r = admin->exec("DROP SCHEMA " + schema + " CASCADE"); !r) {
        std::fprintf(stderr, "bench-epoch: %s; drop schema %s by hand\n", r.error_message().c_str(), schema.c_str());
    }
    return code;
}

}  // namespace bmm::accounting
