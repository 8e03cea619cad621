// The batch store (batch_store.hpp): each function one transaction; lines go
// in and out as arrays (unnest) and transfers by COPY (ledger_store), so a
// batch of 10,000 lines costs a handful of statements, not 10,000.
#include "bmm/payout/batch_store.hpp"

#include "payout_sql.hpp"

#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace bmm::payout {
namespace {

using accounting::transfer;
using accounting::transfer_kind;
using sql::run;

// States of a batch in which its open lines hold money in payout:in-flight.
constexpr const char* k_open_batch_states = "('planned', 'approved', 'broadcast', 'exported')";

std::string batch_name(std::int64_t id) { return "batch " + std::to_string(id); }
std::string reference_of(std::int64_t id) { return "payout:" + std::to_string(id); }
std::string transfer_id(std::int64_t id, std::string_view what, int n) {
    return reference_of(id) + ":" + std::string(what) + ":" + std::to_string(n);
}

bool is_lower_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

result<bool> expect_one_row(const result<pg::row_set>& r, const std::string& what) {
    if (!r) {
        return error{r.error_message()};
    }
    if (r->affected() != 1) {
        return error{what};
    }
    return true;
}

// The open lines of a batch (of one transaction, when tx is set), for booking.
result<std::vector<batch_line>> open_lines(pg::connection& db, std::int64_t id, std::optional<int> tx) {
    auto r = run(db, "reading the batch's open lines",
                 "SELECT line, account, address, amount::text FROM payout_lines "
                 "WHERE batch = $1 AND state = 'open' AND ($2::int IS NULL OR tx = $2::int) ORDER BY line",
                 {std::to_string(id), tx ? std::optional<std::string>(std::to_string(*tx)) : std::nullopt});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<batch_line> out;
    out.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) {
        auto v = sql::read_amount(*r, i, 3, "payout_lines.amount");
        if (!v) {
            return error{v.error_message()};
        }
        out.push_back(
            batch_line{static_cast<int>(r->integer(i, 0)), r->text(i, 1), r->text(i, 2), std::move(*v), tx, "open"});
    }
    return out;
}

// One transfer per line: payout_sent (in-flight -> paid-out) or payout_return
// (in-flight -> the holder's available account).
result<std::vector<transfer>> line_transfers(std::int64_t id, std::string_view currency,
                                             const std::vector<batch_line>& lines, transfer_kind kind) {
    std::vector<transfer> out;
    out.reserve(lines.size());
    const bool sent = kind == transfer_kind::payout_sent;
    for (const auto& l : lines) {
        std::string credit;
        if (sent) {
            credit = accounting::paid_out_account(currency);
        } else {
            auto h = accounting::holder_ledger_accounts(l.account);
            if (!h) {
                return error{batch_name(id) + " line " + std::to_string(l.line) + ": " + h.error_message()};
            }
            credit = h->available;
        }
        out.push_back(transfer{transfer_id(id, sent ? "sent" : "return", l.line),
                               std::string(accounting::k_payout_in_flight_account), std::move(credit),
                               std::string(currency), l.value, kind, reference_of(id)});
    }
    return out;
}

// Books `ts` (all new: a payout transfer id is booked once) inside the open transaction.
result<bool> book_new(pg::connection& db, const std::vector<transfer>& ts) {
    auto r = accounting::ledger_store::insert_transfers(db, ts);
    if (!r) {
        return error{r.error_message()};
    }
    if (r->already != 0) {
        return error{std::to_string(r->already) +
                     " of these payout transfers are booked already, which a payout state change never repeats; "
                     "run bmm-accountd audit and look at the batch's transfers"};
    }
    return true;
}

// Lines of the batch (of one tx) -> `state`, from open.
result<bool> set_lines(pg::connection& db, std::int64_t id, std::optional<int> tx, std::string_view state,
                       std::size_t expected) {
    auto r = run(
        db, "updating the batch's lines",
        "UPDATE payout_lines SET state = $3 WHERE batch = $1 AND state = 'open' "
        "AND ($2::int IS NULL OR tx = $2::int)",
        {std::to_string(id), tx ? std::optional<std::string>(std::to_string(*tx)) : std::nullopt, std::string(state)});
    if (!r) {
        return error{r.error_message()};
    }
    if (static_cast<std::size_t>(r->affected()) != expected) {
        return error{batch_name(id) + ": " + std::to_string(r->affected()) + " lines changed, " +
                     std::to_string(expected) + " expected; another run changed them meanwhile"};
    }
    return true;
}

// Closes the open lines of a batch (of one transaction, when tx is set) inside
// the open transaction: one transfer per line (payout_sent: the lines become
// "sent"; payout_return: "returned"), and `extra` (a network fee), all booked new.
result<bool> close_open_lines(pg::connection& db, std::int64_t id, std::string_view currency, std::optional<int> tx,
                              transfer_kind kind, std::optional<transfer> extra = std::nullopt) {
    auto lines = open_lines(db, id, tx);
    if (!lines) {
        return error{lines.error_message()};
    }
    auto ts = line_transfers(id, currency, *lines, kind);
    if (!ts) {
        return error{ts.error_message()};
    }
    if (extra) {
        ts->push_back(std::move(*extra));
    }
    if (auto ok = book_new(db, *ts); !ok) {
        return ok;
    }
    return set_lines(db, id, tx, kind == transfer_kind::payout_sent ? "sent" : "returned", lines->size());
}

// A coin batch finishes once no transaction is open (batch_store.hpp).
result<bool> finish_if_done(pg::connection& db, std::int64_t id) {
    auto r = run(db, "counting the batch's transactions",
                 "SELECT count(*) FILTER (WHERE state IN ('building', 'stored', 'broadcast')), "
                 "count(*) FILTER (WHERE state = 'failed'), count(*) FROM payout_txs WHERE batch = $1",
                 {std::to_string(id)});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->integer(0, 0) != 0 || r->integer(0, 2) == 0) {
        return true;
    }
    const char* final_state = r->integer(0, 1) > 0 ? "failed" : "confirmed";
    auto u = run(db, "finishing the batch",
                 "UPDATE payout_batches SET state = $2, finished_at = now() "
                 "WHERE id = $1 AND state IN ('approved', 'broadcast')",
                 {std::to_string(id), std::string(final_state)});
    return expect_one_row(u, batch_name(id) + " could not be finished: it left approved/broadcast meanwhile");
}

result<bool> check_line_text(const planned_line& l) {
    for (std::string_view f : {std::string_view(l.account), std::string_view(l.address)}) {
        if (f.empty() || f.find_first_of(",\n\r\t\\\"") != std::string_view::npos) {
            return error{
                "a payout line's account and address must be non-empty and hold no ',', quote, backslash or "
                "line break: account \"" +
                l.account + "\", address \"" + l.address + "\""};
        }
    }
    if (l.value <= 0) {
        return error{"payout line for " + l.account + " to " + l.address + ": the amount must be positive, not " +
                     accounting::to_decimal(l.value)};
    }
    return true;
}

// The accounts among `names` that are not in the accounts table.
result<std::vector<std::string>> unknown_accounts(pg::connection& db, const std::string& names) {
    auto r = run(db, "checking the accounts",
                 "SELECT n FROM unnest($1::text[]) AS n WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = n) "
                 "ORDER BY n",
                 {names});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::string> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(r->text(i, 0));
    }
    return out;
}

result<std::vector<std::string>> open_line_accounts_in(pg::connection& db, std::string_view currency,
                                                       const std::optional<std::string>& names) {
    auto r = run(db, "reading open payout lines",
                 std::string("SELECT DISTINCT l.account FROM payout_lines l JOIN payout_batches b ON b.id = l.batch "
                             "WHERE b.currency = $1 AND l.state = 'open' AND b.state IN ") +
                     k_open_batch_states + " AND ($2::text[] IS NULL OR l.account = ANY($2::text[])) ORDER BY 1",
                 {std::string(currency), names});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::string> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(r->text(i, 0));
    }
    return out;
}

std::string list_of(const std::vector<std::string>& names, std::size_t max = 5) {
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < max; ++i) {
        s += (i ? ", " : "") + names[i];
    }
    if (names.size() > max) {
        s += " and " + std::to_string(names.size() - max) + " more";
    }
    return s;
}

// Each holder's available balance covers what its lines reserve (one join
// of the list with the balances, not a lookup per holder).
result<bool> check_balances(pg::connection& db, std::string_view currency,
                            const std::map<std::string, accounting::amount>& needed) {
    pg::text_array accounts, amounts;
    for (const auto& [a, need] : needed) {
        accounts.add(a);
        amounts.add(accounting::to_decimal(need));
    }
    auto r = run(db, "reading the holders' balances",
                 "SELECT n.account, coalesce(b.balance, 0)::text, n.need::text "
                 "FROM unnest($2::text[], $3::numeric[]) AS n(account, need) "
                 "LEFT JOIN balances b ON b.account = n.account AND b.currency = $1 "
                 "WHERE coalesce(b.balance, 0) < n.need ORDER BY n.account LIMIT 1",
                 {std::string(currency), accounts.str(), amounts.str()});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->rows() > 0) {
        return error{r->text(0, 0) + " holds " + r->text(0, 1) + " " + std::string(currency) +
                     " base units, less than the " + r->text(0, 2) + " its lines would reserve; plan again"};
    }
    return true;
}

result<std::vector<batch_line>> read_lines(pg::connection& db, std::int64_t id) {
    auto r = run(db, "reading the batch's lines",
                 "SELECT line, account, address, amount::text, tx, state FROM payout_lines WHERE batch = $1 "
                 "ORDER BY line",
                 {std::to_string(id)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<batch_line> out;
    out.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) {
        auto v = sql::read_amount(*r, i, 3, "payout_lines.amount");
        if (!v) {
            return error{v.error_message()};
        }
        out.push_back(batch_line{
            static_cast<int>(r->integer(i, 0)), r->text(i, 1), r->text(i, 2), std::move(*v),
            r->is_null(i, 4) ? std::nullopt : std::optional<int>(static_cast<int>(r->integer(i, 4))), r->text(i, 5)});
    }
    return out;
}

std::optional<std::string> opt_text(const pg::row_set& r, int row, int col) {
    return r.is_null(row, col) ? std::nullopt : std::optional<std::string>(r.text(row, col));
}

result<bool> read_batch_row(pg::connection& db, batch& b) {
    auto r = run(db, "reading the batch",
                 "SELECT currency, state, min_amount::text, digest, total::text, planned_at::text, approved_by, "
                 "approved_at::text, finished_at::text, export_sha256, exported_at::text, settle_txid, settled_by "
                 "FROM payout_batches WHERE id = $1",
                 {std::to_string(b.id)});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->rows() == 0) {
        return error{batch_name(b.id) + " does not exist (check the number)"};
    }
    auto min = sql::read_amount(*r, 0, 2, "payout_batches.min_amount");
    auto total = sql::read_amount(*r, 0, 4, "payout_batches.total");
    if (!min || !total) {
        return error{!min ? min.error_message() : total.error_message()};
    }
    b.currency = r->text(0, 0);
    b.state = r->text(0, 1);
    b.min_amount = std::move(*min);
    b.digest = r->text(0, 3);
    b.total = std::move(*total);
    b.planned_at = r->text(0, 5);
    b.approved_by = opt_text(*r, 0, 6);
    b.approved_at = opt_text(*r, 0, 7);
    b.finished_at = opt_text(*r, 0, 8);
    b.export_sha256 = opt_text(*r, 0, 9);
    b.exported_at = opt_text(*r, 0, 10);
    b.settle_txid = opt_text(*r, 0, 11);
    b.settled_by = opt_text(*r, 0, 12);
    return true;
}

result<bool> read_txs(pg::connection& db, batch& b) {
    auto r =
        run(db, "reading the batch's transactions",
            "SELECT tx, state, confirmed_attempt FROM payout_txs WHERE batch = $1 ORDER BY tx", {std::to_string(b.id)});
    if (!r) {
        return error{r.error_message()};
    }
    for (int i = 0; i < r->rows(); ++i) {
        b.txs.push_back(
            batch_tx{static_cast<int>(r->integer(i, 0)), r->text(i, 1),
                     r->is_null(i, 2) ? std::nullopt : std::optional<int>(static_cast<int>(r->integer(i, 2)))});
    }
    auto a = run(db, "reading the batch's transaction attempts",
                 "SELECT tx, attempt, txid, hex, inputs::text, outputs::text, fee::text, vsize, state, stored_at::text "
                 "FROM payout_attempts WHERE batch = $1 ORDER BY tx, attempt",
                 {std::to_string(b.id)});
    if (!a) {
        return error{a.error_message()};
    }
    for (int i = 0; i < a->rows(); ++i) {
        auto fee = sql::read_amount(*a, i, 6, "payout_attempts.fee");
        if (!fee) {
            return error{fee.error_message()};
        }
        b.attempts.push_back(batch_attempt{static_cast<int>(a->integer(i, 0)), static_cast<int>(a->integer(i, 1)),
                                           a->text(i, 2), a->text(i, 3), a->text(i, 4), a->text(i, 5), std::move(*fee),
                                           static_cast<int>(a->integer(i, 7)), a->text(i, 8), a->text(i, 9)});
    }
    return true;
}

// Locks the transaction row and checks its state.
result<std::string> lock_tx(pg::connection& db, std::int64_t id, int tx, std::string_view verb,
                            std::initializer_list<std::string_view> allowed) {
    auto r =
        run(db, "reading the batch transaction", "SELECT state FROM payout_txs WHERE batch = $1 AND tx = $2 FOR UPDATE",
            {std::to_string(id), std::to_string(tx)});
    if (!r) {
        return error{r.error_message()};
    }
    const std::string name = batch_name(id) + " transaction " + std::to_string(tx);
    if (r->rows() == 0) {
        return error{name + " does not exist (the batch's lines are not assigned to it)"};
    }
    std::string state = r->text(0, 0);
    for (auto s : allowed) {
        if (state == s) {
            return state;
        }
    }
    return error{name + " is " + state + "; " + std::string(verb) + " needs " + sql::one_of(allowed)};
}

struct attempt_row {
    std::string state;
    accounting::amount fee;
};
result<attempt_row> lock_attempt(pg::connection& db, std::int64_t id, int tx, int attempt, std::string_view verb,
                                 std::initializer_list<std::string_view> allowed) {
    auto r = run(db, "reading the transaction attempt",
                 "SELECT state, fee::text FROM payout_attempts WHERE batch = $1 AND tx = $2 AND attempt = $3 "
                 "FOR UPDATE",
                 {std::to_string(id), std::to_string(tx), std::to_string(attempt)});
    if (!r) {
        return error{r.error_message()};
    }
    const std::string name =
        batch_name(id) + " transaction " + std::to_string(tx) + " attempt " + std::to_string(attempt);
    if (r->rows() == 0) {
        return error{name + " does not exist"};
    }
    auto fee = sql::read_amount(*r, 0, 1, "payout_attempts.fee");
    if (!fee) {
        return error{fee.error_message()};
    }
    attempt_row out{r->text(0, 0), std::move(*fee)};
    for (auto s : allowed) {
        if (out.state == s) {
            return out;
        }
    }
    return error{name + " is " + out.state + "; " + std::string(verb) + " needs " + sql::one_of(allowed)};
}

// The attempt's outputs pay each address of the transaction's lines exactly
// the sum of those lines (lines to one address share one output).
result<bool> check_outputs_cover_lines(pg::connection& db, std::int64_t id, int tx, const std::string& outputs) {
    auto r = run(db, "checking the attempt's outputs against the lines",
                 "SELECT l.address, l.paid::text, coalesce(o.value, 'none') FROM "
                 "(SELECT address, sum(amount) AS paid FROM payout_lines WHERE batch = $1 AND tx = $2 "
                 " GROUP BY address) l "
                 "LEFT JOIN jsonb_each_text($3::jsonb) o ON o.key = l.address "
                 "WHERE CASE WHEN o.value ~ '^[0-9]+$' THEN o.value::numeric END IS DISTINCT FROM l.paid "
                 "ORDER BY 1 LIMIT 1",
                 {std::to_string(id), std::to_string(tx), outputs});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->rows() > 0) {
        return error{batch_name(id) + " transaction " + std::to_string(tx) + ": the outputs pay " + r->text(0, 0) +
                     " " + r->text(0, 2) + " but its lines there add up to " + r->text(0, 1) +
                     "; the transaction does not pay its lines and is not stored"};
    }
    return true;
}

}  // namespace

std::string canonical_lines(std::int64_t id, std::string_view currency, const std::vector<batch_line>& lines) {
    std::string s = "batch:" + std::to_string(id) + "\ncurrency:" + std::string(currency) + "\n";
    s.reserve(s.size() + lines.size() * 80);
    for (const auto& l : lines) {
        s += std::to_string(l.line);
        s += ',';
        s += l.account;
        s += ',';
        s += l.address;
        s += ',';
        s += accounting::to_decimal(l.value);
        s += '\n';
    }
    return s;
}

std::string batch_digest(std::int64_t id, std::string_view currency, const std::vector<batch_line>& lines) {
    const std::string text = canonical_lines(id, currency, lines);
    const auto d = crypto::sha256_once(
        std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
    return to_hex(d);
}

result<batch> create_batch(pg::connection& db, const new_batch& nb) {
    if (nb.lines.empty()) {
        return error{"a payout batch needs at least one line; nothing to pay"};
    }
    batch b;
    b.currency = nb.currency;
    b.state = "planned";
    b.min_amount = nb.min_amount;
    std::map<std::string, accounting::amount> needed;  // holder available account -> sum of its lines
    std::set<std::string> names;
    pg::text_array accounts, addresses, amounts;
    int n = 0;
    for (const auto& l : nb.lines) {
        if (auto ok = check_line_text(l); !ok) {
            return error{ok.error_message()};
        }
        auto h = accounting::holder_ledger_accounts(l.account);
        if (!h) {
            return error{h.error_message()};
        }
        needed[h->available] += l.value;
        names.insert(l.account);
        accounts.add(l.account);
        addresses.add(l.address);
        const std::string v = accounting::to_decimal(l.value);
        amounts.add(v);
        b.total += l.value;
        b.lines.push_back(batch_line{++n, l.account, l.address, l.value, std::nullopt, "open"});
    }
    const std::string names_array = pg::text_array_of(names);
    auto body = [&]() -> result<batch> {
        auto unknown = unknown_accounts(db, names_array);
        if (!unknown) {
            return error{unknown.error_message()};
        }
        if (!unknown->empty()) {
            return error{"unknown account " + list_of(*unknown) + ": not in the accounts table; nothing planned"};
        }
        auto busy = open_line_accounts_in(db, nb.currency, names_array);
        if (!busy) {
            return error{busy.error_message()};
        }
        if (!busy->empty()) {
            return error{list_of(*busy) + " already " + (busy->size() == 1 ? "has" : "have") +
                         " an open line in an open " + nb.currency +
                         " batch (no line in two open batches); finish or cancel that batch first"};
        }
        if (auto ok = check_balances(db, nb.currency, needed); !ok) {
            return error{ok.error_message()};
        }
        auto seq = run(db, "numbering the batch", "SELECT nextval(pg_get_serial_sequence('payout_batches', 'id'))");
        if (!seq) {
            return error{seq.error_message()};
        }
        b.id = seq->integer(0, 0);
        b.digest = batch_digest(b.id, b.currency, b.lines);
        auto ins = run(db, "storing the batch",
                       "INSERT INTO payout_batches (id, currency, state, min_amount, digest, total) "
                       "VALUES ($1, $2, 'planned', $3, $4, $5) RETURNING planned_at::text",
                       {std::to_string(b.id), b.currency, accounting::to_decimal(b.min_amount), b.digest,
                        accounting::to_decimal(b.total)});
        if (!ins) {
            return error{ins.error_message()};
        }
        b.planned_at = ins->text(0, 0);
        auto lines = run(db, "storing the batch's lines",
                         "INSERT INTO payout_lines (batch, line, account, address, amount) "
                         "SELECT $1, u.ord, u.account, u.address, u.amount "
                         "FROM unnest($2::text[], $3::text[], $4::numeric[]) WITH ORDINALITY "
                         "AS u(account, address, amount, ord)",
                         {std::to_string(b.id), accounts.str(), addresses.str(), amounts.str()});
        if (!lines) {
            return error{lines.error_message()};
        }
        std::vector<transfer> reserves;
        reserves.reserve(b.lines.size());
        for (const auto& l : b.lines) {
            auto h = accounting::holder_ledger_accounts(l.account);
            reserves.push_back(transfer{transfer_id(b.id, "reserve", l.line), h->available,
                                        std::string(accounting::k_payout_in_flight_account), b.currency, l.value,
                                        transfer_kind::payout_reserve, reference_of(b.id)});
        }
        if (auto ok = book_new(db, reserves); !ok) {
            return error{ok.error_message()};
        }
        return b;
    };
    return pg::in_transaction(db, body);
}

result<batch> load_batch(pg::connection& db, std::int64_t id) {
    return pg::in_transaction(
        db,
        [&]() -> result<batch> {
            batch b;
            b.id = id;
            if (auto ok = read_batch_row(db, b); !ok) {
                return error{ok.error_message()};
            }
            auto lines = read_lines(db, id);
            if (!lines) {
                return error{lines.error_message()};
            }
            b.lines = std::move(*lines);
            if (auto ok = read_txs(db, b); !ok) {
                return error{ok.error_message()};
            }
            return b;
        },
        pg::transaction_mode::read_only_snapshot);
}

result<std::vector<std::string>> accounts_with_open_lines(pg::connection& db, std::string_view currency) {
    return open_line_accounts_in(db, currency, std::nullopt);
}

result<bool> approve(pg::connection& db, std::int64_t id, std::string_view by, std::string_view digest) {
    if (by.empty()) {
        return error{"approve needs the approver's name (--by NAME)"};
    }
    std::string d(digest);
    std::transform(d.begin(), d.end(), d.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
    if (d.size() != 64 || !is_lower_hex(d)) {
        return error{"the digest must be 64 hex digits (the SHA-256 bmm-payout plan and show print), not \"" +
                     std::string(digest) + "\""};
    }
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "approve", {"planned"});
        if (!b) {
            return error{b.error_message()};
        }
        auto u = run(db, "approving the batch",
                     "UPDATE payout_batches SET state = 'approved', approved_by = $2, approved_at = now() "
                     "WHERE id = $1 AND state = 'planned' AND digest = $3",
                     {std::to_string(id), std::string(by), d});
        return expect_one_row(u, batch_name(id) + ": digest " + d +
                                     " is not the batch's digest; read the batch again (bmm-payout show " +
                                     std::to_string(id) + ") and approve the digest it prints; nothing changed");
    });
}

result<bool> cancel_batch(pg::connection& db, std::int64_t id) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "cancel", {"planned", "approved"});
        if (!b) {
            return error{b.error_message()};
        }
        auto stored = run(db, "looking for stored attempts", "SELECT count(*) FROM payout_attempts WHERE batch = $1",
                          {std::to_string(id)});
        if (!stored) {
            return error{stored.error_message()};
        }
        if (stored->integer(0, 0) != 0) {
            return error{batch_name(id) +
                         " has signed transactions stored; it cannot be cancelled (they may be "
                         "broadcast); reconcile it instead"};
        }
        if (auto ok = close_open_lines(db, id, b->currency, std::nullopt, transfer_kind::payout_return); !ok) {
            return ok;
        }
        auto u = run(db, "cancelling the batch",
                     "UPDATE payout_batches SET state = 'failed', finished_at = now() "
                     "WHERE id = $1 AND state IN ('planned', 'approved')",
                     {std::to_string(id)});
        return expect_one_row(u, batch_name(id) + " changed state meanwhile; nothing changed");
    });
}

result<bool> assign_lines(pg::connection& db, std::int64_t id, const std::vector<std::vector<int>>& tx_lines) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "assigning lines to transactions", {"approved"});
        if (!b) {
            return error{b.error_message()};
        }
        auto count = run(db, "counting the batch's lines and attempts",
                         "SELECT (SELECT count(*) FROM payout_lines WHERE batch = $1), "
                         "(SELECT count(*) FROM payout_attempts WHERE batch = $1)",
                         {std::to_string(id)});
        if (!count) {
            return error{count.error_message()};
        }
        if (count->integer(0, 1) != 0) {
            return error{batch_name(id) + " has transaction attempts stored; its packing cannot change"};
        }
        const auto n = static_cast<std::size_t>(count->integer(0, 0));
        std::vector<int> tx_of(n + 1, 0);
        pg::text_array line_arr, tx_arr;
        for (std::size_t k = 0; k < tx_lines.size(); ++k) {
            if (tx_lines[k].empty()) {
                return error{batch_name(id) + ": transaction " + std::to_string(k + 1) + " would pay no line"};
            }
            for (int line : tx_lines[k]) {
                if (line < 1 || static_cast<std::size_t>(line) > n || tx_of[static_cast<std::size_t>(line)] != 0) {
                    return error{batch_name(id) + ": line " + std::to_string(line) +
                                 (line < 1 || static_cast<std::size_t>(line) > n ? " is not a line of the batch"
                                                                                 : " is in two transactions")};
                }
                tx_of[static_cast<std::size_t>(line)] = static_cast<int>(k + 1);
                line_arr.add(std::to_string(line));
                tx_arr.add(std::to_string(k + 1));
            }
        }
        for (std::size_t line = 1; line <= n; ++line) {
            if (tx_of[line] == 0) {
                return error{batch_name(id) + ": line " + std::to_string(line) + " is in no transaction"};
            }
        }
        for (const char* step :
             {"UPDATE payout_lines SET tx = NULL WHERE batch = $1", "DELETE FROM payout_txs WHERE batch = $1"}) {
            if (auto r = run(db, "clearing the previous packing", step, {std::to_string(id)}); !r) {
                return error{r.error_message()};
            }
        }
        auto txs = run(db, "storing the batch's transactions",
                       "INSERT INTO payout_txs (batch, tx) SELECT $1, generate_series(1, $2::int)",
                       {std::to_string(id), std::to_string(tx_lines.size())});
        if (!txs) {
            return error{txs.error_message()};
        }
        auto set = run(db, "assigning lines to transactions",
                       "UPDATE payout_lines l SET tx = u.tx FROM unnest($2::int[], $3::int[]) AS u(line, tx) "
                       "WHERE l.batch = $1 AND l.line = u.line",
                       {std::to_string(id), line_arr.str(), tx_arr.str()});
        if (!set) {
            return error{set.error_message()};
        }
        if (static_cast<std::size_t>(set->affected()) != n) {
            return error{batch_name(id) + ": " + std::to_string(set->affected()) + " of " + std::to_string(n) +
                         " lines assigned"};
        }
        return true;
    });
}

result<int> store_attempt(pg::connection& db, std::int64_t id, const new_attempt& a) {
    if (a.txid.size() != 64 || !is_lower_hex(a.txid)) {
        return error{"a txid is 64 lower-case hex digits, not \"" + a.txid + "\""};
    }
    if (a.hex.empty() || a.hex.size() % 2 != 0 || !is_lower_hex(a.hex)) {
        return error{"transaction " + a.txid + ": the raw transaction must be lower-case hex of whole bytes"};
    }
    if (a.fee < 0 || a.vsize <= 0) {
        return error{"transaction " + a.txid + ": fee must be >= 0 and vsize > 0"};
    }
    return pg::in_transaction(db, [&]() -> result<int> {
        auto b = sql::lock_batch(db, id, "storing a transaction", {"approved", "broadcast"});
        if (!b) {
            return error{b.error_message()};
        }
        auto st = lock_tx(db, id, a.tx, "storing an attempt", {"building", "stored", "broadcast"});
        if (!st) {
            return error{st.error_message()};
        }
        if (auto ok = check_outputs_cover_lines(db, id, a.tx, a.outputs_json); !ok) {
            return error{ok.error_message()};
        }
        auto ins = run(db, "storing the signed transaction",
                       "INSERT INTO payout_attempts (batch, tx, attempt, txid, hex, inputs, outputs, fee, vsize) "
                       "SELECT $1, $2, coalesce(max(attempt), 0) + 1, $3, $4, $5::jsonb, $6::jsonb, $7, $8 "
                       "FROM payout_attempts WHERE batch = $1 AND tx = $2 RETURNING attempt",
                       {std::to_string(id), std::to_string(a.tx), a.txid, a.hex, a.inputs_json, a.outputs_json,
                        accounting::to_decimal(a.fee), std::to_string(a.vsize)});
        if (!ins) {
            return error{ins.error_message()};
        }
        if (*st == "building") {
            auto u = run(db, "marking the transaction stored",
                         "UPDATE payout_txs SET state = 'stored' WHERE batch = $1 AND tx = $2 AND state = 'building'",
                         {std::to_string(id), std::to_string(a.tx)});
            if (auto ok = expect_one_row(u, batch_name(id) + " transaction changed state meanwhile"); !ok) {
                return error{ok.error_message()};
            }
        }
        return static_cast<int>(ins->integer(0, 0));
    });
}

result<bool> mark_broadcast(pg::connection& db, std::int64_t id, int tx, int attempt) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "marking a transaction broadcast", {"approved", "broadcast"});
        if (!b) {
            return error{b.error_message()};
        }
        if (auto st = lock_tx(db, id, tx, "marking it broadcast", {"stored", "broadcast"}); !st) {
            return error{st.error_message()};
        }
        if (auto at = lock_attempt(db, id, tx, attempt, "marking it broadcast", {"stored", "broadcast"}); !at) {
            return error{at.error_message()};
        }
        const std::string b_id = std::to_string(id), t_no = std::to_string(tx);
        const std::pair<const char*, sql::params> steps[] = {
            {"UPDATE payout_attempts SET state = 'broadcast' WHERE batch = $1 AND tx = $2 AND attempt = $3 "
             "AND state = 'stored'",
             {b_id, t_no, std::to_string(attempt)}},
            {"UPDATE payout_txs SET state = 'broadcast' WHERE batch = $1 AND tx = $2 AND state = 'stored'",
             {b_id, t_no}},
            {"UPDATE payout_batches SET state = 'broadcast' WHERE id = $1 AND state = 'approved'", {b_id}},
        };
        for (const auto& [step, p] : steps) {
            if (auto r = run(db, "marking the transaction broadcast", step, p); !r) {
                return error{r.error_message()};
            }
        }
        return true;
    });
}

result<bool> mark_replaced(pg::connection& db, std::int64_t id, int tx, int attempt) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        if (auto at = lock_attempt(db, id, tx, attempt, "marking it replaced", {"stored", "broadcast"}); !at) {
            return error{at.error_message()};
        }
        auto u = run(db, "marking the attempt replaced",
                     "UPDATE payout_attempts SET state = 'replaced' WHERE batch = $1 AND tx = $2 AND attempt = $3 "
                     "AND state IN ('stored', 'broadcast')",
                     {std::to_string(id), std::to_string(tx), std::to_string(attempt)});
        return expect_one_row(u, batch_name(id) + " attempt changed state meanwhile");
    });
}

result<bool> confirm_tx(pg::connection& db, std::int64_t id, int tx, int attempt) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "confirming a transaction", {"approved", "broadcast"});
        if (!b) {
            return error{b.error_message()};
        }
        if (auto st = lock_tx(db, id, tx, "confirming it", {"stored", "broadcast"}); !st) {
            return error{st.error_message()};
        }
        // A replaced attempt can still be the one that confirms (the bump lost the race).
        auto at = lock_attempt(db, id, tx, attempt, "confirming it", {"stored", "broadcast", "replaced"});
        if (!at) {
            return error{at.error_message()};
        }
        std::optional<transfer> fee;
        if (at->fee > 0) {
            fee = transfer{transfer_id(id, "fee", tx),
                           accounting::fees_account(b->currency),
                           accounting::network_fees_account(b->currency),
                           b->currency,
                           at->fee,
                           transfer_kind::payout_fee,
                           reference_of(id)};
        }
        if (auto ok = close_open_lines(db, id, b->currency, tx, transfer_kind::payout_sent, std::move(fee)); !ok) {
            return ok;
        }
        const sql::params p{std::to_string(id), std::to_string(tx), std::to_string(attempt)};
        for (const char* step :
             {"UPDATE payout_attempts SET state = CASE WHEN attempt = $3 THEN 'confirmed' ELSE 'conflicted' END "
              "WHERE batch = $1 AND tx = $2 AND (attempt = $3 OR state IN ('stored', 'broadcast', 'replaced'))",
              "UPDATE payout_txs SET state = 'confirmed', confirmed_attempt = $3 WHERE batch = $1 AND tx = $2 "
              "AND state IN ('stored', 'broadcast')"}) {
            if (auto r = run(db, "marking the transaction confirmed", step, p); !r) {
                return error{r.error_message()};
            }
        }
        return finish_if_done(db, id);
    });
}

result<bool> fail_tx(pg::connection& db, std::int64_t id, int tx) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "failing a transaction", {"approved", "broadcast"});
        if (!b) {
            return error{b.error_message()};
        }
        if (auto st = lock_tx(db, id, tx, "failing it", {"building", "stored", "broadcast"}); !st) {
            return error{st.error_message()};
        }
        if (auto ok = close_open_lines(db, id, b->currency, tx, transfer_kind::payout_return); !ok) {
            return ok;
        }
        const sql::params p{std::to_string(id), std::to_string(tx)};
        for (const char* step : {"UPDATE payout_attempts SET state = 'conflicted' WHERE batch = $1 AND tx = $2 "
                                 "AND state IN ('stored', 'broadcast')",
                                 "UPDATE payout_txs SET state = 'failed' WHERE batch = $1 AND tx = $2 "
                                 "AND state IN ('building', 'stored', 'broadcast')"}) {
            if (auto r = run(db, "marking the transaction failed", step, p); !r) {
                return error{r.error_message()};
            }
        }
        return finish_if_done(db, id);
    });
}

result<bool> mark_exported(pg::connection& db, std::int64_t id, std::string_view sha256_hex) {
    const std::string sha(sha256_hex);
    if (sha.size() != 64 || !is_lower_hex(sha)) {
        return error{"an export's SHA-256 is 64 lower-case hex digits, not \"" + sha + "\""};
    }
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "export", {"approved", "exported"});
        if (!b) {
            return error{b.error_message()};
        }
        if (b->currency != accounting::bmm_currency) {
            return error{batch_name(id) + " pays " + b->currency +
                         "; export is for BMM (ERC-20) batches, coin batches are paid by execute"};
        }
        if (b->state == "exported") {
            auto r = run(db, "reading the export's SHA-256", "SELECT export_sha256 FROM payout_batches WHERE id = $1",
                         {std::to_string(id)});
            if (!r) {
                return error{r.error_message()};
            }
            if (r->text(0, 0) != sha) {
                return error{batch_name(id) + " was exported with SHA-256 " + r->text(0, 0) + ", this export has " +
                             sha + "; an export must give the same bytes every time (same format?)"};
            }
            return true;
        }
        auto u = run(db, "marking the batch exported",
                     "UPDATE payout_batches SET state = 'exported', export_sha256 = $2, exported_at = now() "
                     "WHERE id = $1 AND state = 'approved'",
                     {std::to_string(id), sha});
        return expect_one_row(u, batch_name(id) + " changed state meanwhile");
    });
}

result<bool> settle(pg::connection& db, std::int64_t id, std::string_view txid, std::string_view by) {
    std::string t(txid);
    std::transform(t.begin(), t.end(), t.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
    if (t.size() != 66 || t.substr(0, 2) != "0x" || !is_lower_hex(t.substr(2))) {
        return error{
            "the settlement txid must be 0x and 64 hex digits (the ERC-20 distribution's transaction), "
            "not \"" +
            std::string(txid) + "\""};
    }
    if (by.empty()) {
        return error{"settle needs the name of who sent the distribution (--by NAME)"};
    }
    return pg::in_transaction(db, [&]() -> result<bool> {
        auto b = sql::lock_batch(db, id, "settle", {"exported"});
        if (!b) {
            return error{b.error_message()};
        }
        if (auto ok = close_open_lines(db, id, b->currency, std::nullopt, transfer_kind::payout_sent); !ok) {
            return ok;
        }
        auto u = run(db, "settling the batch",
                     "UPDATE payout_batches SET state = 'settled', settle_txid = $2, settled_by = $3, "
                     "finished_at = now() WHERE id = $1 AND state = 'exported'",
                     {std::to_string(id), t, std::string(by)});
        return expect_one_row(u, batch_name(id) + " changed state meanwhile");
    });
}

}  // namespace bmm::payout
