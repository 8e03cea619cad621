// bmm-accountd bench-epoch: the time to close one epoch for N accounts,
// through the calls the daemon's closer makes: gather_epoch_input (accepted
// work per account and coin from `shares` in the epoch's window, the previous
// streaks, the epoch's blocks with their pplns windows, the pps work, the
// carried emission), the BMM holdings, close_epoch, book_epoch_close. Both
// coins use the --scheme given (pp by default).
//
// It works in a schema of its own (bmm_bench_epoch_<pid> in the configured
// database, first on the search_path of its sessions, migrated, and dropped
// afterwards unless --keep), since the ledger is append-only and the bench
// books hundreds of thousands of transfers. The configured schema is not
// touched.

#include "bmm/accounting/bench_epoch.hpp"

#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/due_epochs.hpp"
#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/share_store.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/target.hpp"

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

constexpr const char* k_prev_start = "2026-01-01 00:00:00+00";
constexpr const char* k_start = "2026-01-02 00:00:00+00";
constexpr const char* k_end = "2026-01-03 00:00:00+00";
constexpr std::int64_t k_genesis = 1767225600;  // 2026-01-01 00:00:00 UTC: epoch 0, one day each

}  // namespace

int bench_epoch(const accountd_config& base, const bench_epoch_options& o) {
    const std::string pid = std::to_string(::getpid());
    const std::string schema = "bmm_bench_epoch_" + pid;
    const auto scheme = parse_payout_scheme(o.scheme);
    if (!scheme) {
        return fail("--scheme must be pp, pplns, pps or solo, not " + o.scheme);
    }
    // The configured database and rules, on the bench's own epochs (days from
    // 2026-01-01) and coins: LTC, and BTC at a quarter of the resource weight.
    accountd_config cfg = base;
    cfg.epochs.enabled = true;
    cfg.epochs.genesis = k_genesis;
    cfg.epochs.length_seconds = 86400;
    cfg.coins.clear();
    cfg.coins["LTC"].rules.scheme = *scheme;
    cfg.coins["BTC"].rules.scheme = *scheme;
    cfg.coins["BTC"].rules.resource_weight_ppm = 250000;
    auto admin = pg::connection::open(cfg.postgres);
    if (!admin) {
        return fail(admin.error_message());
    }
    if (auto r = admin->exec("CREATE SCHEMA " + schema); !r) {
        return fail(r.error_message() + " (the bench needs a role that may create schemas in the database)");
    }
    const int code = [&]() -> int {
        const std::string set_path = "SET search_path TO " + schema;
        auto db = pg::connection::open(cfg.postgres);
        if (!db) {
            return fail(db.error_message());
        }
        if (auto r = db->exec(set_path); !r) {
            return fail(r.error_message());
        }
        if (auto m = migrate(*db, cfg.migrations_dir); !m) {
            return fail(m.error_message());
        }
        pg::connection& c = *db;  // the ledger store's calls, on the same session (search_path)

        // ---- 1. The epoch's data (not timed) ----
        const auto fill_start = clock::now();
        if (auto r = epoch_store::ensure_epoch(c, 0, k_prev_start, k_start); !r) {
            return fail(r.error_message());
        }
        if (auto r = epoch_store::ensure_epoch(c, 1, k_start, k_end); !r) {
            return fail(r.error_message());
        }
        const accounting_config acfg = rules_of(cfg);
        // Epoch 0 closed with nothing carried (its figures as a close with PP would book).
        {
            epoch_close_output closed0;  // no transfers and no accounts: the figures only
            closed0.k = 0;
            closed0.emission = epoch_emission(0, acfg.halving_period);
            closed0.emission_paid = closed0.emission;
            closed0.carried_emission = 0;
            if (auto r = epoch_store::book_epoch_close(c, closed0); !r) {
                return fail(r.error_message());
            }
        }
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
        if (auto r = db->copy_in("COPY accounts (name, kind) FROM STDIN", data); !r) {
            return fail(r.error_message());
        }
        // The partition of epoch 1's day (2026-01-02), as the ingest makes it.
        if (auto r = share_store::ensure_day(c, k_genesis / 86400 + 1); !r) {
            return fail(r.error_message());
        }
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
        // The blocks found in the epoch, each by a share of an account mining
        // its coin (every tenth account mines BTC), named by block_hash.
        // Network difficulties put a pplns window (N = 2) at about a tenth of
        // the epoch's work on each coin.
        struct found {
            std::string hash, coin;
            std::size_t finder = 0;
        };
        std::vector<found> founds;
        std::map<std::size_t, std::vector<std::size_t>> found_by;  // account -> indexes into founds
        for (std::size_t b = 0; b < o.blocks; ++b) {
            found f;
            char hash[65];
            std::snprintf(hash, sizeof hash, "%064zx", 0xb10c0000 + b);
            f.hash = hash;
            f.coin = b % 4 == 3 ? "BTC" : "LTC";
            std::size_t i = (b * 31) % o.accounts, tries = 0;
            while (tries++ < o.accounts &&
                   ((i % 10 == 9) != (f.coin == "BTC") || found_by[i].size() >= o.shares_per_account)) {
                i = (i + 1) % o.accounts;
            }
            if ((i % 10 == 9) != (f.coin == "BTC") || found_by[i].size() >= o.shares_per_account) {
                return fail("no account mines " + f.coin + " with a share left to find block " + std::to_string(b) +
                            " (more --accounts or --shares)");
            }
            f.finder = i;
            found_by[i].push_back(founds.size());
            founds.push_back(std::move(f));
        }
        const std::string ltc_network_work =
            work_from_target(*target_from_difficulty(3e7, pow_algorithm::scrypt)).to_decimal();
        const std::string btc_network_work =
            work_from_target(*target_from_difficulty(2e11, pow_algorithm::sha256d)).to_decimal();
        std::size_t rows = 0;
        data.clear();
        auto flush = [&]() -> result<bool> {
            auto r = db->copy_in(
                "COPY shares (time, uid, stream_id, instance, coin, algorithm, account, worker, ip, job, "
                "height, difficulty, target, accepted, code, reason, block, hash, work, network_work, "
                "reward, block_hash) FROM STDIN",
                data);
            data.clear();
            return r;
        };
        // Rows go in in time order, as the ingest stores a stream (the BRIN
        // index on time that the pplns windows read by is only of use then).
        std::vector<std::string> by_second(86400);
        for (std::size_t i = 0; i < o.accounts; ++i) {
            const bool on_btc = i % 10 == 9;
            const auto& dw = on_btc ? btc_t[i % btc_t.size()] : ltc[i % ltc.size()];
            const auto finds = found_by.find(i);
            for (std::size_t j = 0; j < o.shares_per_account; ++j) {
                const std::string* block_hash =
                    finds != found_by.end() && j < finds->second.size() ? &founds[finds->second[j]].hash : nullptr;
                const bool ok = block_hash || (i + j) % 20 != 0;
                const std::size_t sec = (i * 7919 + j * 104729) % 86400;
                std::string& row = by_second[sec];
                char when[64];
                std::snprintf(when, sizeof when, "2026-01-02 %02zu:%02zu:%02zu+00", sec / 3600, sec / 60 % 60,
                              sec % 60);
                row += when;
                row += "\tu";
                row += std::to_string(rows);
                row += '\t';
                row += std::to_string(rows);
                row += "-0\t1\t";
                row += on_btc ? "BTC\tsha256d\t" : "LTC\tscrypt\t";
                row += name(i);
                row += "\tw1\t127.0.0.1\t1a\t1000\t";
                row += dw.diff;
                row += '\t';
                row += dw.target;
                row += ok ? "\tt\t0\t-\t" : "\tf\t23\tlow-difficulty\t";
                row += block_hash ? "t\t\t" : "f\t\t";
                row += ok ? dw.work : "0";
                row += '\t';
                row += on_btc ? btc_network_work : ltc_network_work;
                row += on_btc ? "\t312500000\t" : "\t625000000\t";
                row += block_hash ? *block_hash : std::string("\\N");
                row += '\n';
                ++rows;
            }
        }
        for (auto& rows_of_second : by_second) {
            data += rows_of_second;
            std::string().swap(rows_of_second);
            if (data.size() > (64u << 20)) {
                if (auto r = flush(); !r) {
                    return fail(r.error_message());
                }
            }
        }
        if (auto r = flush(); !r) {
            return fail(r.error_message());
        }
        // Previous streaks: 60 % of the accounts mined epoch 0, streaks 1..30.
        data.clear();
        for (std::size_t i = 0; i < o.accounts; ++i) {
            if (i % 5 >= 3) {
                continue;
            }
            const std::uint32_t streak = static_cast<std::uint32_t>(1 + i % 30);
            data += name(i);
            data += "\t0\t1000\t";
            data += std::to_string(streak);
            data += '\t';
            data += std::to_string(e_bp(streak, acfg.persistence));
            data += "\t1000\n";
        }
        if (auto r = db->copy_in("COPY account_epochs (account, k, dpp, streak, e_bp, pp) FROM STDIN", data); !r) {
            return fail(r.error_message());
        }
        // BMM holdings: the premine, and epoch 0's emission over a tenth of the accounts.
        std::vector<transfer> held = genesis_transfers();
        {
            std::map<std::string, amount> w;
            for (std::size_t i = 0; i < o.accounts; i += 10) {
                w[name(i)] = amount(1 + i % 97);
            }
            auto split = split_largest_remainder(epoch_emission(0, acfg.halving_period), w);
            if (!split) {
                return fail(split.error_message());
            }
            for (const auto& [u, v] : *split) {
                if (v > 0) {
                    held.push_back(transfer{"epoch:0:emission:" + u, std::string(emission_account), user_available(u),
                                            std::string(bmm_currency), v, transfer_kind::emission, "epoch:0"});
                }
            }
        }
        if (auto r = ledger_store::book_transfers(c, held); !r) {
            return fail(r.error_message());
        }
        for (std::size_t b = 0; b < founds.size(); ++b) {
            block_store::block_row row;
            row.hash = founds[b].hash;
            row.coin = founds[b].coin;
            row.height = 1000 + b;
            row.reward = row.coin == "BTC" ? amount(312500000) : amount(625000000);
            row.finder = name(founds[b].finder);
            row.found_at = "2026-01-02 12:00:00+00";
            row.found_epoch = 1;
            row.epoch = 1;
            if (auto r = block_store::record_block(c, row); !r) {
                return fail(r.error_message());
            }
        }
        // A day's shares arrive over the day, and autovacuum (insert-driven
        // since PostgreSQL 13) has gone over them before the day closes: the
        // bench's just-copied rows are vacuumed too, or the first close to
        // read them would pay for setting their hint bits.
        if (auto r = db->exec("VACUUM (ANALYZE) accounts, shares, account_epochs, ledger_transfers, blocks, epochs");
            !r) {
            return fail(r.error_message());
        }
        const double fill_s = seconds_since(fill_start);

        // ---- 2. The close, timed ----
        const auto t_read = clock::now();
        auto gathered = gather_epoch_input(*db, cfg, 1);
        if (!gathered) {
            return fail(gathered.error_message());
        }
        epoch_close_input in = std::move(*gathered);
        const double read_s = seconds_since(t_read);

        const auto t_compute = clock::now();
        auto out = close_epoch(in);
        if (!out) {
            return fail(out.error_message());
        }
        const double compute_s = seconds_since(t_compute);

        const auto t_book = clock::now();
        epoch_store::book_timings bt;
        auto rep = epoch_store::book_epoch_close(c, *out, &bt);
        if (!rep) {
            return fail(rep.error_message());
        }
        const double book_s = seconds_since(t_book);
        const double total_s = read_s + compute_s + book_s;

        // ---- 3. Check: everything booked, the ledger consistent, a replay books nothing ----
        auto problems = ledger_store::audit(c);
        if (!problems) {
            return fail(problems.error_message());
        }
        for (const auto& p : *problems) {
            std::fprintf(stderr, "bench-epoch: ledger audit: %s\n", p.c_str());
        }
        const auto t_replay = clock::now();
        auto again = epoch_store::book_epoch_close(c, *out);
        if (!again) {
            return fail(again.error_message());
        }
        const double replay_s = seconds_since(t_replay);

        std::size_t window = 0;
        for (const auto& b : in.blocks) {
            window += b.pplns_shares.size();
        }
        std::printf(
            "bench-epoch: %zu accounts, %zu shares each (%zu rows, 95 %% accepted; LTC and BTC), "
            "%zu previous streaks, %zu BMM holders, %zu blocks, scheme %s (%zu pplns window shares, %zu pps "
            "groups); fill %.1f s\n",
            o.accounts, o.shares_per_account, rows, in.previous_streaks.size(), in.bmm_holdings.size(),
            in.blocks.size(), o.scheme.c_str(), window, in.pps.size(), fill_s);
        std::printf("  close epoch 1: %zu accounts, %zu transfers booked\n", out->accounts.size(), rep->booked);
        std::printf("    read inputs (SQL):            %7.2f s\n", read_s);
        std::printf("    compute (close_epoch):        %7.2f s\n", compute_s);
        std::printf("    book transfers (COPY, checks, INSERT): %7.2f s\n", bt.transfers_s);
        std::printf("    book account_epochs:          %7.2f s\n", bt.accounts_s);
        std::printf("    commit:                       %7.2f s\n", bt.commit_s);
        std::printf("    book total (with lock, epoch row): %7.2f s\n", book_s);
        std::printf("  total: %.2f s (aim: under 10 s for 100,000 accounts)\n", total_s);
        std::printf("  replay of the same close: %zu booked, %zu found booked, %.2f s\n", again->booked, again->already,
                    replay_s);
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
