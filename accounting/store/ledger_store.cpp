#include "bmm/accounting/ledger_store.hpp"

#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>

namespace bmm::accounting::ledger_store {

namespace {

std::string join(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) s += p;
    return s;
}

// One statement with text parameters; `what` names the step in the error.
result<pg::row_set> run(pg::connection& db, std::string_view what, std::string_view sql,
                        const std::vector<std::optional<std::string>>& params = {}) {
    auto r = params.empty() ? db.exec(sql) : db.exec(sql, params);
    if (!r) return error{join({what, ": ", r.error_message()})};
    return r;
}

result<amount> read_amount(const pg::row_set& r, int row, int col, std::string_view what) {
    auto a = parse_amount(r.get(row, col));
    if (!a) return error{join({"PostgreSQL: ", what, ": ", a.error_message()})};
    return a;
}

// Inside an open transaction. The list goes to a session temp table by COPY
// (a fixed number of round trips whatever its length); conflicts are found
// by one join; the new rows go in with one INSERT ... ON CONFLICT DO NOTHING.
result<book_report> insert_transfers(pg::connection& db, std::span<const transfer> ts) {
    book_report rep;
    if (ts.empty()) return rep;
    std::string data;
    data.reserve(ts.size() * 160);
    // Repeated ids within the list: identical repeats are sent once; the
    // same id with other content refuses the whole list (naming the least
    // such id, bytewise, as PostgreSQL's C-collated min() did before).
    std::unordered_map<std::string_view, const transfer*> seen;
    seen.reserve(ts.size());
    const std::string* clash = nullptr;
    for (const auto& t : ts) {
        if (auto ok = validate_transfer(t); !ok) return error{ok.error_message() + "; nothing booked"};
        for (std::string_view f : {std::string_view(t.id), std::string_view(t.debit), std::string_view(t.credit),
                                   std::string_view(t.currency), std::string_view(t.reference)}) {
            if (f.find('\0') != std::string_view::npos) {
                return error{join({"transfer ", t.id, ": a field holds a NUL byte, which PostgreSQL text cannot; nothing booked"})};
            }
        }
        auto [it, fresh] = seen.emplace(t.id, &t);
        if (!fresh) {
            if (!(*it->second == t) && (!clash || t.id < *clash)) clash = &t.id;
            continue;
        }
        for (std::string_view f : {std::string_view(t.id), std::string_view(t.debit), std::string_view(t.credit),
                                   std::string_view(t.currency)}) {
            pg::copy_escape(data, f);
            data += '\t';
        }
        data += to_decimal(t.value);
        data += '\t';
        data += to_string(t.kind);
        data += '\t';
        pg::copy_escape(data, t.reference);
        data += '\n';
    }
    if (clash) return error{join({"transfer id ", *clash, " appears twice in the list with different content; nothing booked"})};
    // Quiet the "already exists, skipping" notice for this transaction.
    auto quiet = run(db, "preparing the booking table", "SET LOCAL client_min_messages = warning");
    if (!quiet) return error{quiet.error_message()};
    // Room to sort a large list (an epoch's close: ~2 transfers per account) in memory.
    auto mem = run(db, "preparing the booking table", "SET LOCAL work_mem = '256MB'");
    if (!mem) return error{mem.error_message()};
    auto tmp = run(db, "preparing the booking table",
                   "CREATE TEMP TABLE IF NOT EXISTS bmm_booking (id text, debit text, credit text, "
                   "currency text, amount numeric, kind text, reference text) ON COMMIT DELETE ROWS");
    if (!tmp) return error{tmp.error_message()};
    if (auto t = run(db, "clearing the booking table", "TRUNCATE bmm_booking"); !t) return error{t.error_message()};
    if (auto c = db.copy_in("COPY bmm_booking FROM STDIN", data); !c)
        return error{"COPY of transfers: " + c.error_message() + "; nothing booked"};
    // Fresh statistics, or the planner guesses the temp table tiny and joins it by nested loops.
    if (auto a = run(db, "analysing the booking table", "ANALYZE bmm_booking"); !a) return error{a.error_message()};

    auto conflict = run(db, "checking for conflicting ids",
                        // min(), not ORDER BY ... LIMIT 1: with a LIMIT the planner hopes to stop
                        // early and walks the whole ledger against the whole list (minutes for 20,000).
                        "SELECT min(b.id) FROM bmm_booking b JOIN ledger_transfers t USING (id) "
                        "WHERE (b.debit, b.credit, b.currency, b.amount, b.kind, b.reference) IS DISTINCT FROM "
                        "(t.debit, t.credit, t.currency, t.amount, t.kind, t.reference)");
    if (!conflict) return error{conflict.error_message()};
    if (!conflict->is_null(0, 0)) {
        return error{join({"transfer id ", conflict->text(0, 0),
                           " is already booked with different content; corrections need a new id; nothing booked"})};
    }
    // The ids found booked (and identical) above are left out by an anti-join;
    // the rest go in by a plain INSERT, not ON CONFLICT DO NOTHING (whose
    // speculative insertion costs ~40 % more per row, and which would skip,
    // unchecked, an id another transaction booked between the check and the
    // insert: that race now fails the call, and a retry checks those ids).
    auto ins = run(db, "booking transfers",
                   "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) "
                   "SELECT b.id, b.debit, b.credit, b.currency, b.amount, b.kind, b.reference FROM bmm_booking b "
                   "WHERE NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.id = b.id) ORDER BY b.id");
    if (!ins) {
        std::string m = ins.error_message();
        if (m.find("duplicate key") != std::string::npos)
            m += " (another transaction booked some of these ids meanwhile; nothing booked; retry, and the retry checks them)";
        return error{m + "; nothing booked"};
    }
    rep.booked = static_cast<std::size_t>(ins->affected());
    rep.already = ts.size() - rep.booked;
    return rep;
}

}  // namespace

result<book_report> book_transfers(pg::connection& db, std::span<const transfer> ts) {
    return pg::in_transaction(db, [&] { return insert_transfers(db, ts); });
}

result<bool> ensure_epoch(pg::connection& db, std::uint64_t k, std::string_view start_at, std::string_view end_at) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        const std::vector<std::optional<std::string>> p{std::to_string(k), std::string(start_at), std::string(end_at)};
        auto ins = run(db, join({"creating epoch ", *p[0]}),
                       "INSERT INTO epochs (k, start_at, end_at) VALUES ($1::bigint, $2::timestamptz, $3::timestamptz) "
                       "ON CONFLICT (k) DO NOTHING",
                       p);
        if (!ins) return error{ins.error_message()};
        auto same = run(db, "checking epoch bounds",
                        "SELECT start_at = $2::timestamptz AND end_at = $3::timestamptz FROM epochs WHERE k = $1::bigint",
                        p);
        if (!same) return error{same.error_message()};
        if (same->rows() != 1 || same->text(0, 0) != "t") {
            return error{join({"epoch ", *p[0], " exists with other bounds than ", *p[1], " .. ", *p[2]})};
        }
        return true;
    });
}

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
    if (!tx) return error{tx.error_message()};
    auto body = [&]() -> result<book_report> {
            auto row = run(db, join({"locking epoch ", k}),
                           "SELECT closed_at IS NOT NULL, emission::text, emission_paid::text, emission_carried::text "
                           "FROM epochs WHERE k = $1::bigint FOR UPDATE",
                           {k});
            if (!row) return error{row.error_message()};
            if (row->rows() != 1) {
                return error{join({"epoch ", k, " has no row in epochs; create it (ensure_epoch) before closing it"})};
            }
            const bool closed = row->text(0, 0) == "t";
            if (closed && (row->text(0, 1) != to_decimal(out.emission) ||
                           row->text(0, 2) != to_decimal(out.emission_paid) ||
                           row->text(0, 3) != to_decimal(out.carried_emission))) {
                return error{join({"epoch ", k, " is closed already with other emission figures; its close is not replayable"})};
            }
            auto t0 = clock::now();
            auto rep = insert_transfers(db, out.transfers);
            if (!rep) return rep;
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
                auto quiet = run(db, "preparing the account_epochs staging table", "SET LOCAL client_min_messages = warning");
                if (!quiet) return error{quiet.error_message()};
                auto tmp = run(db, "preparing the account_epochs staging table",
                               "CREATE TEMP TABLE IF NOT EXISTS bmm_account_epochs_stage (account text, dpp numeric, "
                               "streak integer, e_bp integer, pp numeric) ON COMMIT DELETE ROWS");
                if (!tmp) return error{tmp.error_message()};
                if (auto t = run(db, "clearing the account_epochs staging table", "TRUNCATE bmm_account_epochs_stage"); !t)
                    return error{t.error_message()};
                if (auto c = db.copy_in("COPY bmm_account_epochs_stage FROM STDIN", data); !c)
                    return error{"COPY of account_epochs rows: " + c.error_message() + "; nothing booked"};
                auto ins = run(db, join({"recording epoch ", k, " per account"}),
                               "INSERT INTO account_epochs (account, k, dpp, streak, e_bp, pp) "
                               "SELECT s.account, $1::bigint, s.dpp, s.streak, s.e_bp, s.pp FROM bmm_account_epochs_stage s "
                               "WHERE NOT EXISTS (SELECT 1 FROM account_epochs a WHERE a.k = $1::bigint "
                               "AND a.account = s.account)",
                               {k});
                if (!ins) return error{ins.error_message()};
            }
            tm.accounts_s = secs(t0);
            if (!closed) {
                auto upd = run(db, join({"closing epoch ", k}),
                               "UPDATE epochs SET closed_at = now(), emission = $2::numeric, emission_paid = $3::numeric, "
                               "emission_carried = $4::numeric WHERE k = $1::bigint",
                               {k, to_decimal(out.emission), to_decimal(out.emission_paid),
                                to_decimal(out.carried_emission)});
                if (!upd) return error{upd.error_message()};
            }
            return rep;
        };
    auto rep = body();
    if (!rep) return rep;  // ~transaction rolls back
    const auto t_commit = clock::now();
    if (auto c = tx->commit(); !c) return error{c.error_message()};
    tm.commit_s = secs(t_commit);
    return rep;
}

result<epoch_state> load_epoch(pg::connection& db, std::uint64_t k) {
    auto r = run(db, "reading an epoch",
                 "SELECT closed_at IS NOT NULL, coalesce(emission_carried, 0)::text FROM epochs WHERE k = $1::bigint",
                 {std::to_string(k)});
    if (!r) return error{r.error_message()};
    epoch_state s;
    if (r->rows() == 0) return s;
    s.exists = true;
    s.closed = r->text(0, 0) == "t";
    auto c = read_amount(*r, 0, 1, "epochs.emission_carried");
    if (!c) return error{c.error_message()};
    s.emission_carried = std::move(*c);
    return s;
}

result<bool> record_block(pg::connection& db, const block_row& b) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        const std::vector<std::optional<std::string>> p{b.hash,    b.coin,  std::to_string(b.height), to_decimal(b.reward),
                                         b.finder, b.found_at, std::to_string(b.found_epoch), std::to_string(b.epoch)};
        auto ins = run(db, join({"recording block ", b.hash}),
                       "INSERT INTO blocks (hash, coin, height, reward, finder, found_at, found_epoch, epoch) "
                       "VALUES ($1, $2, $3::bigint, $4::numeric, $5, $6::timestamptz, $7::bigint, $8::bigint) "
                       "ON CONFLICT (hash) DO NOTHING",
                       p);
        if (!ins) return error{ins.error_message()};
        auto same = run(db, "checking a block",
                        "SELECT coin = $2 AND height = $3::bigint AND reward = $4::numeric AND finder = $5 AND "
                        "found_at = $6::timestamptz AND found_epoch = $7::bigint AND epoch = $8::bigint "
                        "FROM blocks WHERE hash = $1",
                        p);
        if (!same) return error{same.error_message()};
        if (same->rows() != 1 || same->text(0, 0) != "t") {
            return error{join({"block ", b.hash, " is recorded already with other figures"})};
        }
        return true;
    });
}

result<book_report> book_block_status(pg::connection& db, std::string_view hash, std::string_view status,
                                      std::span<const transfer> ts) {
    if (status != "mature" && status != "orphaned") {
        return error{join({"block status must be mature or orphaned, not ", status})};
    }
    return pg::in_transaction(db, [&]() -> result<book_report> {
        const std::string h(hash);
        auto row = run(db, join({"locking block ", h}), "SELECT status FROM blocks WHERE hash = $1 FOR UPDATE", {h});
        if (!row) return error{row.error_message()};
        if (row->rows() != 1) return error{join({"block ", h, " is not in blocks; record it first"})};
        const std::string now = row->text(0, 0);
        if (now != "immature" && now != status) {
            return error{join({"block ", h, " is ", now, " already; it cannot become ", status})};
        }
        auto rep = insert_transfers(db, ts);
        if (!rep) return rep;
        auto upd = run(db, join({"setting block ", h, " ", status}),
                       "UPDATE blocks SET status = $2, status_at = now() WHERE hash = $1 AND status <> $2",
                       {h, std::string(status)});
        if (!upd) return error{upd.error_message()};
        return rep;
    });
}

result<std::vector<transfer>> load_transfers(pg::connection& db, std::string_view reference) {
    auto r = run(db, "reading transfers",
                 "SELECT id, debit, credit, currency, amount::text, kind, reference FROM ledger_transfers "
                 "WHERE reference = $1 ORDER BY id",
                 {std::string(reference)});
    if (!r) return error{r.error_message()};
    std::vector<transfer> out;
    for (int i = 0; i < r->rows(); ++i) {
        auto v = read_amount(*r, i, 4, "ledger_transfers.amount");
        if (!v) return error{v.error_message()};
        auto kind = parse_transfer_kind(r->text(i, 5));
        if (!kind) return error{join({"PostgreSQL: transfer ", r->text(i, 0), " has an unknown kind ", r->text(i, 5)})};
        out.push_back(transfer{r->text(i, 0), r->text(i, 1), r->text(i, 2), r->text(i, 3), std::move(*v), *kind,
                               r->text(i, 6)});
    }
    return out;
}

result<std::map<std::pair<std::string, std::string>, amount>> load_balances(pg::connection& db) {
    auto r = run(db, "reading balances", "SELECT account, currency, balance::text FROM balances");
    if (!r) return error{r.error_message()};
    std::map<std::pair<std::string, std::string>, amount> out;
    for (int i = 0; i < r->rows(); ++i) {
        auto v = read_amount(*r, i, 2, "balances.balance");
        if (!v) return error{v.error_message()};
        out.emplace(std::make_pair(r->text(i, 0), r->text(i, 1)), std::move(*v));
    }
    return out;
}

result<std::map<std::string, amount>> load_bmm_holdings(pg::connection& db) {
    auto r = run(db, "reading BMM holdings",
                 "SELECT account, balance::text FROM balances WHERE currency = 'BMM' AND balance > 0 "
                 "AND (account LIKE 'user:%:available' OR account LIKE 'foundation:%')");
    if (!r) return error{r.error_message()};
    std::map<std::string, amount> out;
    for (int i = 0; i < r->rows(); ++i) {
        const std::string account = r->text(i, 0);
        if (!is_bmm_holder_account(account)) continue;  // LIKE is a coarse filter (e.g. foundation:x:immature)
        auto v = read_amount(*r, i, 1, "balances.balance");
        if (!v) return error{v.error_message()};
        out.emplace(account, std::move(*v));
    }
    return out;
}

result<std::vector<std::string>> audit(pg::connection& db) {
    auto r = run(db, "running ledger_audit()", "SELECT problem FROM ledger_audit() AS problem ORDER BY 1");
    if (!r) return error{r.error_message()};
    std::vector<std::string> out;
    for (int i = 0; i < r->rows(); ++i) out.push_back(r->text(i, 0));
    return out;
}

}  // namespace bmm::accounting::ledger_store
