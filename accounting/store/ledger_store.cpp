#include "bmm/accounting/ledger_store.hpp"

#include "store_sql.hpp"

#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include <algorithm>
#include <unordered_map>

namespace bmm::accounting::ledger_store {

using store_sql::join;
using store_sql::read_amount;
using store_sql::run;

// Inside the caller's transaction (ledger_store.hpp). The list goes to a session temp table by COPY
// (a fixed number of round trips whatever its length); conflicts are found
// by one join; the new rows go in with one INSERT ... ON CONFLICT DO NOTHING.
result<book_report> insert_transfers(pg::connection& db, std::span<const transfer> ts) {
    book_report rep;
    if (ts.empty()) {
        return rep;
    }
    std::string data;
    data.reserve(ts.size() * 160);
    // Repeated ids within the list: identical repeats are sent once; the
    // same id with other content refuses the whole list (naming the least
    // such id, bytewise, as PostgreSQL's C-collated min() did before).
    std::unordered_map<std::string_view, const transfer*> seen;
    seen.reserve(ts.size());
    const std::string* clash = nullptr;
    for (const auto& t : ts) {
        if (auto ok = validate_transfer(t); !ok) {
            return error{ok.error_message() + "; nothing booked"};
        }
        for (std::string_view f : {std::string_view(t.id), std::string_view(t.debit), std::string_view(t.credit),
                                   std::string_view(t.currency), std::string_view(t.reference)}) {
            if (f.find('\0') != std::string_view::npos) {
                return error{join(
                    {"transfer ", t.id, ": a field holds a NUL byte, which PostgreSQL text cannot; nothing booked"})};
            }
        }
        auto [it, fresh] = seen.emplace(t.id, &t);
        if (!fresh) {
            if (!(*it->second == t) && (!clash || t.id < *clash)) {
                clash = &t.id;
            }
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
    if (clash) {
        return error{
            join({"transfer id ", *clash, " appears twice in the list with different content; nothing booked"})};
    }
    // Quiet the "already exists, skipping" notice for this transaction.
    auto quiet = run(db, "preparing the booking table", "SET LOCAL client_min_messages = warning");
    if (!quiet) {
        return error{quiet.error_message()};
    }
    // Room to sort a large list (an epoch's close: ~2 transfers per account) in memory.
    auto mem = run(db, "preparing the booking table", "SET LOCAL work_mem = '256MB'");
    if (!mem) {
        return error{mem.error_message()};
    }
    auto tmp = run(db, "preparing the booking table",
                   "CREATE TEMP TABLE IF NOT EXISTS bmm_booking (id text, debit text, credit text, "
                   "currency text, amount numeric, kind text, reference text) ON COMMIT DELETE ROWS");
    if (!tmp) {
        return error{tmp.error_message()};
    }
    if (auto t = run(db, "clearing the booking table", "TRUNCATE bmm_booking"); !t) {
        return error{t.error_message()};
    }
    if (auto c = db.copy_in("COPY bmm_booking FROM STDIN", data); !c) {
        return error{"COPY of transfers: " + c.error_message() + "; nothing booked"};
    }
    // Fresh statistics, or the planner guesses the temp table tiny and joins it by nested loops.
    if (auto a = run(db, "analysing the booking table", "ANALYZE bmm_booking"); !a) {
        return error{a.error_message()};
    }

    auto conflict = run(db, "checking for conflicting ids",
                        // min(), not ORDER BY ... LIMIT 1: with a LIMIT the planner hopes to stop
                        // early and walks the whole ledger against the whole list (minutes for 20,000).
                        "SELECT min(b.id) FROM bmm_booking b JOIN ledger_transfers t USING (id) "
                        "WHERE (b.debit, b.credit, b.currency, b.amount, b.kind, b.reference) IS DISTINCT FROM "
                        "(t.debit, t.credit, t.currency, t.amount, t.kind, t.reference)");
    if (!conflict) {
        return error{conflict.error_message()};
    }
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
        if (m.find("duplicate key") != std::string::npos) {
            m += " (another transaction booked some of these ids meanwhile; nothing booked; retry, and the retry "
                 "checks them)";
        }
        return error{m + "; nothing booked"};
    }
    rep.booked = static_cast<std::size_t>(ins->affected());
    rep.already = ts.size() - rep.booked;
    return rep;
}

result<book_report> book_transfers(pg::connection& db, std::span<const transfer> ts) {
    return pg::in_transaction(db, [&] { return insert_transfers(db, ts); });
}

result<std::vector<transfer>> load_transfers(pg::connection& db, std::string_view reference) {
    auto r = run(db, "reading transfers",
                 "SELECT id, debit, credit, currency, amount::text, kind, reference FROM ledger_transfers "
                 "WHERE reference = $1 ORDER BY id",
                 {std::string(reference)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<transfer> out;
    for (int i = 0; i < r->rows(); ++i) {
        auto v = read_amount(*r, i, 4, "ledger_transfers.amount");
        if (!v) {
            return error{v.error_message()};
        }
        auto kind = parse_transfer_kind(r->text(i, 5));
        if (!kind) {
            return error{join({"PostgreSQL: transfer ", r->text(i, 0), " has an unknown kind ", r->text(i, 5)})};
        }
        out.push_back(
            transfer{r->text(i, 0), r->text(i, 1), r->text(i, 2), r->text(i, 3), std::move(*v), *kind, r->text(i, 6)});
    }
    return out;
}

result<std::vector<stored_transfer>> load_all_transfers(pg::connection& db) {
    auto rows = run(db, "reading ledger_transfers",
                    "SELECT id, debit, credit, currency, amount::text, kind, reference FROM ledger_transfers "
                    "ORDER BY created_at, id");
    if (!rows) {
        return error{rows.error_message()};
    }
    std::vector<stored_transfer> out;
    out.reserve(static_cast<std::size_t>(rows->rows()));
    for (int i = 0; i < rows->rows(); ++i) {
        out.push_back({rows->text(i, 0), rows->text(i, 1), rows->text(i, 2), rows->text(i, 3), rows->text(i, 4),
                       rows->text(i, 5), rows->text(i, 6)});
    }
    return out;
}

result<std::map<std::pair<std::string, std::string>, amount>> load_balances(pg::connection& db) {
    auto r = run(db, "reading balances", "SELECT account, currency, balance::text FROM balances");
    if (!r) {
        return error{r.error_message()};
    }
    std::map<std::pair<std::string, std::string>, amount> out;
    for (int i = 0; i < r->rows(); ++i) {
        auto v = read_amount(*r, i, 2, "balances.balance");
        if (!v) {
            return error{v.error_message()};
        }
        out.emplace(std::make_pair(r->text(i, 0), r->text(i, 1)), std::move(*v));
    }
    return out;
}

result<std::map<std::string, amount>> load_bmm_holdings(pg::connection& db) {
    auto r = run(db, "reading BMM holdings",
                 "SELECT account, balance::text FROM balances WHERE currency = 'BMM' AND balance > 0 "
                 "AND (account LIKE 'user:%:available' OR account LIKE 'foundation:%')");
    if (!r) {
        return error{r.error_message()};
    }
    std::map<std::string, amount> out;
    for (int i = 0; i < r->rows(); ++i) {
        const std::string account = r->text(i, 0);
        if (!is_bmm_holder_account(account)) {
            continue;  // LIKE is a coarse filter (e.g. foundation:x:immature)
        }
        auto v = read_amount(*r, i, 1, "balances.balance");
        if (!v) {
            return error{v.error_message()};
        }
        out.emplace(account, std::move(*v));
    }
    return out;
}

result<std::vector<std::string>> audit(pg::connection& db) {
    auto r = run(db, "running ledger_audit()", "SELECT problem FROM ledger_audit() AS problem ORDER BY 1");
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::string> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(r->text(i, 0));
    }
    return out;
}

}  // namespace bmm::accounting::ledger_store
