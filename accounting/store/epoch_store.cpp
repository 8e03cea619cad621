#include "bmm/accounting/epoch_store.hpp"

#include "store_sql.hpp"

#include "bmm/pg/locks.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include <chrono>

namespace bmm::accounting::epoch_store {

using ledger_store::book_report;
using ledger_store::insert_transfers;
using store_sql::join;
using store_sql::read_amount;
using store_sql::run;

result<bool> ensure_epoch(pg::connection& db, std::uint64_t k, std::string_view start_at, std::string_view end_at) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        const std::vector<std::optional<std::string>> p{std::to_string(k), std::string(start_at), std::string(end_at)};
        auto ins = run(db, join({"creating epoch ", *p[0]}),
                       "INSERT INTO epochs (k, start_at, end_at) VALUES ($1::bigint, $2::timestamptz, $3::timestamptz) "
                       "ON CONFLICT (k) DO NOTHING",
                       p);
        if (!ins) {
            return error{ins.error_message()};
        }
        auto same =
            run(db, "checking epoch bounds",
                "SELECT start_at = $2::timestamptz AND end_at = $3::timestamptz FROM epochs WHERE k = $1::bigint", p);
        if (!same) {
            return error{same.error_message()};
        }
        if (same->rows() != 1 || same->text(0, 0) != "t") {
            return error{join({"epoch ", *p[0], " exists with other bounds than ", *p[1], " .. ", *p[2]})};
        }
        return true;
    });
}

namespace {

// Epoch k's dividend weights (sql/0018), inside the transaction that closes
// it: one COPY and one INSERT, and the totals row that says they were recorded.
result<bool> book_bmm_snapshot(pg::connection& db, const std::string& k, const std::map<std::string, amount>& holdings,
                               const std::string& ledger_seq) {
    amount total = 0;
    if (!holdings.empty()) {
        std::string data;
        data.reserve(holdings.size() * 64);
        for (const auto& [account, bmm] : holdings) {
            if (account.find('\0') != std::string::npos) {
                return error{join({"holder ", account, ": the name holds a NUL byte; nothing booked"})};
            }
            pg::copy_escape(data, account);
            data += '\t';
            data += to_decimal(bmm);
            data += '\n';
            total += bmm;
        }
        if (auto q = run(db, "preparing the BMM holdings staging table", "SET LOCAL client_min_messages = warning");
            !q) {
            return error{q.error_message()};
        }
        auto tmp = run(db, "preparing the BMM holdings staging table",
                       "CREATE TEMP TABLE IF NOT EXISTS bmm_holdings_stage (account text, bmm numeric) "
                       "ON COMMIT DELETE ROWS");
        if (!tmp) {
            return error{tmp.error_message()};
        }
        if (auto t = run(db, "clearing the BMM holdings staging table", "TRUNCATE bmm_holdings_stage"); !t) {
            return error{t.error_message()};
        }
        if (auto c = db.copy_in("COPY bmm_holdings_stage FROM STDIN", data); !c) {
            return error{"COPY of epoch_bmm_holdings rows: " + c.error_message() + "; nothing booked"};
        }
        auto ins = run(db, join({"recording epoch ", k, "'s BMM holdings"}),
                       "INSERT INTO epoch_bmm_holdings (epoch, account, bmm) "
                       "SELECT $1::bigint, account, bmm FROM bmm_holdings_stage",
                       {k});
        if (!ins) {
            return error{ins.error_message()};
        }
    }
    auto tot = run(db, join({"recording epoch ", k, "'s BMM total"}),
                   "INSERT INTO epoch_bmm_totals (epoch, holders, total, ledger_seq) "
                   "VALUES ($1::bigint, $2::bigint, $3::numeric, $4::bigint)",
                   {k, std::to_string(holdings.size()), to_decimal(total), ledger_seq});
    if (!tot) {
        return error{tot.error_message()};
    }
    return true;
}

}  // namespace

result<book_report> book_epoch_close(pg::connection& db, const epoch_close_output& out) {
    return book_epoch_close(db, out, nullptr);
}

result<book_report> book_epoch_close(pg::connection& db, const epoch_close_output& out, book_timings* timings) {
    const std::string k = std::to_string(out.k);
    using clock = std::chrono::steady_clock;
    auto secs = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
    book_timings local;
    book_timings& tm = timings ? *timings : local;
    auto tx = pg::transaction::begin(db);
    if (!tx) {
        return error{tx.error_message()};
    }
    auto body = [&]() -> result<book_report> {
        auto row = run(db, join({"locking epoch ", k}),
                       "SELECT closed_at IS NOT NULL, emission::text, emission_paid::text, emission_carried::text "
                       "FROM epochs WHERE k = $1::bigint FOR UPDATE",
                       {k});
        if (!row) {
            return error{row.error_message()};
        }
        if (row->rows() != 1) {
            return error{join({"epoch ", k, " has no row in epochs; create it (ensure_epoch) before closing it"})};
        }
        const bool closed = row->text(0, 0) == "t";
        // The voting-power snapshot (sql/0022): no transfer is inserted by
        // anyone else from here to the commit, every earlier one is committed,
        // so the holdings the close split dividends by must be the ledger's
        // now, and they are exactly the BMM moved by transfers up to ledger_seq.
        std::string ledger_seq;
        if (!closed) {
            if (auto l = run(db, join({"locking ledger_transfers for epoch ", k, "'s voting-power snapshot"}),
                             "LOCK TABLE ledger_transfers IN SHARE ROW EXCLUSIVE MODE");
                !l) {
                return error{l.error_message()};
            }
            auto now_held = ledger_store::load_bmm_holdings(db);
            if (!now_held) {
                return error{now_held.error_message()};
            }
            if (*now_held != out.bmm_holdings) {
                return error{join({"epoch ", k,
                                   ": BMM holdings changed between reading them and booking the close (a BMM "
                                   "transfer was booked meanwhile); nothing booked, the close is tried again"})};
            }
            auto seq =
                run(db, "reading the ledger's last transfer", "SELECT coalesce(max(seq), 0) FROM ledger_transfers");
            if (!seq) {
                return error{seq.error_message()};
            }
            ledger_seq = seq->text(0, 0);
        }
        if (closed &&
            (row->text(0, 1) != to_decimal(out.emission) || row->text(0, 2) != to_decimal(out.emission_paid) ||
             row->text(0, 3) != to_decimal(out.carried_emission))) {
            return error{
                join({"epoch ", k, " is closed already with other emission figures; its close is not replayable"})};
        }
        auto t0 = clock::now();
        auto rep = insert_transfers(db, out.transfers);
        if (!rep) {
            return rep;
        }
        tm.transfers_s = secs(t0);
        // account_epochs: one COPY into a staging table and one INSERT,
        // not a round trip per account (100,000 accounts: ~0.5 s, not ~10 s).
        t0 = clock::now();
        if (!out.accounts.empty()) {
            std::string data;
            data.reserve(out.accounts.size() * 96);
            for (const auto& [account, a] : out.accounts) {
                if (account.find('\0') != std::string::npos) {
                    return error{join({"account ", account, ": the name holds a NUL byte; nothing booked"})};
                }
                pg::copy_escape(data, account);
                data += '\t';
                data += to_decimal(a.dpp);
                data += '\t';
                data += std::to_string(a.streak);
                data += '\t';
                data += std::to_string(a.e_bp);
                data += '\t';
                data += to_decimal(a.pp);
                data += '\n';
            }
            auto quiet =
                run(db, "preparing the account_epochs staging table", "SET LOCAL client_min_messages = warning");
            if (!quiet) {
                return error{quiet.error_message()};
            }
            auto tmp = run(db, "preparing the account_epochs staging table",
                           "CREATE TEMP TABLE IF NOT EXISTS bmm_account_epochs_stage (account text, dpp numeric, "
                           "streak integer, e_bp integer, pp numeric) ON COMMIT DELETE ROWS");
            if (!tmp) {
                return error{tmp.error_message()};
            }
            if (auto t = run(db, "clearing the account_epochs staging table", "TRUNCATE bmm_account_epochs_stage");
                !t) {
                return error{t.error_message()};
            }
            if (auto c = db.copy_in("COPY bmm_account_epochs_stage FROM STDIN", data); !c) {
                return error{"COPY of account_epochs rows: " + c.error_message() + "; nothing booked"};
            }
            auto ins =
                run(db, join({"recording epoch ", k, " per account"}),
                    "INSERT INTO account_epochs (account, k, dpp, streak, e_bp, pp) "
                    "SELECT s.account, $1::bigint, s.dpp, s.streak, s.e_bp, s.pp FROM bmm_account_epochs_stage s "
                    "WHERE NOT EXISTS (SELECT 1 FROM account_epochs a WHERE a.k = $1::bigint "
                    "AND a.account = s.account)",
                    {k});
            if (!ins) {
                return error{ins.error_message()};
            }
        }
        tm.accounts_s = secs(t0);
        if (!closed) {
            auto upd =
                run(db, join({"closing epoch ", k}),
                    "UPDATE epochs SET closed_at = now(), emission = $2::numeric, emission_paid = $3::numeric, "
                    "emission_carried = $4::numeric WHERE k = $1::bigint",
                    {k, to_decimal(out.emission), to_decimal(out.emission_paid), to_decimal(out.carried_emission)});
            if (!upd) {
                return error{upd.error_message()};
            }
            // Only with the close itself: a replay of an epoch closed before
            // sql/0018 must not record today's holdings as that epoch's.
            if (auto h = book_bmm_snapshot(db, k, out.bmm_holdings, ledger_seq); !h) {
                return error{h.error_message()};
            }
        }
        return rep;
    };
    auto rep = body();
    if (!rep) {
        return rep;  // ~transaction rolls back
    }
    const auto t_commit = clock::now();
    if (auto c = tx->commit(); !c) {
        return error{c.error_message()};
    }
    tm.commit_s = secs(t_commit);
    return rep;
}

result<epoch_state> load_epoch(pg::connection& db, std::uint64_t k) {
    auto r = run(db, "reading an epoch",
                 "SELECT closed_at IS NOT NULL, coalesce(emission_carried, 0)::text FROM epochs WHERE k = $1::bigint",
                 {std::to_string(k)});
    if (!r) {
        return error{r.error_message()};
    }
    epoch_state s;
    if (r->rows() == 0) {
        return s;
    }
    s.exists = true;
    s.closed = r->text(0, 0) == "t";
    auto c = read_amount(*r, 0, 1, "epochs.emission_carried");
    if (!c) {
        return error{c.error_message()};
    }
    s.emission_carried = std::move(*c);
    return s;
}

result<closed_span> lock_closed_span(pg::connection& db) {
    if (auto r = pg::lock_shared_for_transaction(db, pg::k_epoch_close_lock); !r) {
        return error{r.error_message()};
    }
    auto open = db.exec(
        "SELECT coalesce(max(k) + 1, 0), coalesce((extract(epoch FROM max(end_at)) * 1000)::bigint, 0), "
        "coalesce((extract(epoch FROM min(start_at)) * 1000)::bigint, 0) "
        "FROM epochs WHERE closed_at IS NOT NULL");
    if (!open) {
        return error{open.error_message()};
    }
    return closed_span{static_cast<std::uint64_t>(open->integer(0, 0)), open->integer(0, 2), open->integer(0, 1)};
}

result<std::uint64_t> first_open_epoch(pg::connection& db) {
    // Epochs close in order, so the open ones follow the last closed one.
    auto n = run(db, "reading the first open epoch",
                 "SELECT coalesce(max(k) + 1, 0) FROM epochs WHERE closed_at IS NOT NULL");
    if (!n) {
        return error{n.error_message()};
    }
    return static_cast<std::uint64_t>(n->integer(0, 0));
}

result<std::map<std::string, std::uint32_t>> streaks(pg::connection& db, std::uint64_t k) {
    auto s = run(db, join({"reading the streaks after epoch ", std::to_string(k)}),
                 "SELECT account, streak FROM account_epochs WHERE k = $1::bigint AND streak > 0", {std::to_string(k)});
    if (!s) {
        return error{s.error_message()};
    }
    std::map<std::string, std::uint32_t> out;
    for (int i = 0; i < s->rows(); ++i) {
        out[s->text(i, 0)] = static_cast<std::uint32_t>(s->integer(i, 1));
    }
    return out;
}

result<std::map<std::string, amount>> pp_of(pg::connection& db, std::uint64_t k) {
    auto pp = run(db, join({"reading the PP of epoch ", std::to_string(k)}),
                  "SELECT account, pp::text FROM account_epochs WHERE k = $1::bigint AND pp > 0", {std::to_string(k)});
    if (!pp) {
        return error{pp.error_message()};
    }
    std::map<std::string, amount> out;
    for (int j = 0; j < pp->rows(); ++j) {
        auto v = read_amount(*pp, j, 1, "account_epochs.pp");
        if (!v) {
            return error{v.error_message()};
        }
        out[pp->text(j, 0)] = std::move(*v);
    }
    return out;
}

}  // namespace bmm::accounting::epoch_store
