// Statements (statement.hpp): times, the request's checks, and the model
// read from the ledger in one snapshot. The renderers are in render_text.cpp
// (CSV, JSON) and render_pdf.cpp.

#include "bmm/accounting/statement.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/pg/transaction.hpp"

#include <array>
#include <cstdio>
#include <map>
#include <utility>

namespace bmm::accounting::statement {

namespace {

constexpr std::int64_t k_us_per_s = 1000000;
constexpr std::int64_t k_s_per_day = 86400;
// Times from 1970 to the end of 9999: what ISO 8601 with four year digits holds.
constexpr std::int64_t k_max_s = 253402300799;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
    std::int64_t y;
    unsigned m, d;
};
civil civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool all_digits(std::string_view s) {
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return !s.empty();
}

std::int64_t digits_value(std::string_view s) {
    std::int64_t v = 0;
    for (char c : s) {
        v = v * 10 + (c - '0');
    }
    return v;
}

bool days_in_month_ok(std::int64_t y, unsigned m, unsigned d) {
    static constexpr std::array<unsigned, 12> k_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= k_days[m - 1] + (m == 2 && leap ? 1 : 0);
}

// "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z", or nothing.
std::optional<std::int64_t> parse_iso(std::string_view t) {
    if (t.size() < 20 || t.back() != 'Z' || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':') {
        return std::nullopt;
    }
    const std::string_view ys = t.substr(0, 4), mos = t.substr(5, 2), ds = t.substr(8, 2), hs = t.substr(11, 2),
                           mis = t.substr(14, 2), ss = t.substr(17, 2);
    for (auto part : {ys, mos, ds, hs, mis, ss}) {
        if (!all_digits(part)) {
            return std::nullopt;
        }
    }
    std::int64_t frac_us = 0;
    const std::string_view rest = t.substr(19, t.size() - 20);
    if (!rest.empty()) {
        const std::string_view f = rest.substr(1);
        if (rest[0] != '.' || f.size() > 6 || !all_digits(f)) {
            return std::nullopt;
        }
        frac_us = digits_value(f);
        for (std::size_t i = f.size(); i < 6; ++i) {
            frac_us *= 10;
        }
    }
    const std::int64_t y = digits_value(ys), h = digits_value(hs), mi = digits_value(mis), s = digits_value(ss);
    const auto mo = static_cast<unsigned>(digits_value(mos)), d = static_cast<unsigned>(digits_value(ds));
    if (y < 1970 || !days_in_month_ok(y, mo, d) || h > 23 || mi > 59 || s > 59) {
        return std::nullopt;
    }
    return (days_from_civil(y, mo, d) * k_s_per_day + h * 3600 + mi * 60 + s) * k_us_per_s + frac_us;
}

bool is_currency_code(std::string_view c) {
    if (c.size() < 2 || c.size() > 10) {
        return false;
    }
    for (char ch : c) {
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) {
            return false;
        }
    }
    return true;
}

result<pg::row_set> run(pg::connection& db, std::string_view what, std::string_view sql,
                        const std::vector<std::optional<std::string>>& params) {
    auto r = db.exec(sql, params);
    if (!r) {
        return error{std::string(what) + ": " + r.error_message()};
    }
    return r;
}

result<amount> read_amount(const pg::row_set& r, int row, int col) {
    auto a = parse_amount(r.get(row, col));
    if (!a) {
        return error{"PostgreSQL returned an amount that is not an integer: " + a.error_message()};
    }
    return a;
}

// (currency, ledger account) -> balance from every transfer booked before `at`.
// Two index scans (credit, debit) unioned, summed per currency and account.
using balances = std::map<std::pair<std::string, std::string>, amount>;
result<balances> balances_before(pg::connection& db, const holder_accounts& acc,
                                 const std::optional<std::string>& currency, std::int64_t at_us) {
    auto r = run(db, "reading the balances before " + time_text(at_us),
                 "SELECT currency, account, sum(delta)::text FROM ("
                 " SELECT credit AS account, currency, amount AS delta FROM ledger_transfers"
                 "  WHERE credit IN ($1, $2) AND created_at < $3::timestamptz"
                 " UNION ALL"
                 " SELECT debit, currency, -amount FROM ledger_transfers"
                 "  WHERE debit IN ($1, $2) AND created_at < $3::timestamptz) m"
                 " WHERE $4::text IS NULL OR currency = $4::text GROUP BY currency, account",
                 {acc.available, acc.immature, time_text(at_us), currency});
    if (!r) {
        return error{r.error_message()};
    }
    balances out;
    for (int i = 0; i < r->rows(); ++i) {
        auto a = read_amount(*r, i, 2);
        if (!a) {
            return error{a.error_message()};
        }
        out[{r->text(i, 0), r->text(i, 1)}] = std::move(*a);
    }
    return out;
}

// The rows' columns, in the order of k_rows_sql.
enum col : int {
    c_id,
    c_time,
    c_kind,
    c_reference,
    c_currency,
    c_amount,
    c_debit,
    c_credit,
    c_block_hash,
    c_block_height,
    c_block_epoch,
    c_batch,
    c_line,
    c_address,
    c_txid,
    c_weight,
    c_total,
    c_block_dividend,
};

// The account's transfers in [from, to), booking order, with what their
// references point at: the block (height, booking epoch), the payout line and
// its txid (payout_transfer_refs, sql/0015), and for a dividend the holder's
// weight, the epoch's total (sql/0018) and the block's whole dividend.
constexpr std::string_view k_rows_sql =
    "SELECT t.id, bmm_api_time(t.created_at), t.kind, t.reference, t.currency, t.amount::text, t.debit, t.credit,"
    " b.hash, b.height, b.epoch, p.batch, p.line, p.address, p.txid, h.bmm::text, tot.total::text, dv.total::text"
    " FROM ledger_transfers t"
    " LEFT JOIN blocks b ON t.reference LIKE 'block:%' AND b.hash = substr(t.reference, 7)"
    " LEFT JOIN LATERAL (SELECT r.batch, r.line, r.address, r.txid FROM payout_transfer_refs r"
    "  WHERE r.transfer_id = t.id) p ON t.kind LIKE 'payout\\_%'"
    " LEFT JOIN epoch_bmm_totals tot ON t.kind = 'block_dividend' AND tot.epoch = b.epoch"
    " LEFT JOIN epoch_bmm_holdings h ON t.kind = 'block_dividend' AND h.epoch = b.epoch"
    "  AND h.account = substr(t.id, length(t.reference) + 11)"
    " LEFT JOIN LATERAL (SELECT sum(d.amount) AS total FROM ledger_transfers d"
    "  WHERE d.reference = t.reference AND d.kind = 'block_dividend') dv ON t.kind = 'block_dividend'"
    " WHERE (t.debit IN ($1, $2) OR t.credit IN ($1, $2))"
    " AND t.created_at >= $3::timestamptz AND t.created_at < $4::timestamptz"
    " AND ($5::text IS NULL OR t.currency = $5::text)"
    " ORDER BY t.created_at, t.id COLLATE \"C\"";

std::optional<std::string> opt_text(const pg::row_set& r, int i, int c) {
    return r.is_null(i, c) ? std::nullopt : std::optional<std::string>(r.text(i, c));
}

// A row's reference details and dividend weights.
result<bool> read_details(const pg::row_set& r, int i, row& out) {
    out.block_hash = opt_text(r, i, c_block_hash);
    if (!r.is_null(i, c_block_height)) {
        out.block_height = r.integer(i, c_block_height);
    }
    if (!r.is_null(i, c_block_epoch)) {
        out.epoch = static_cast<std::uint64_t>(r.integer(i, c_block_epoch));
    } else if (out.reference.rfind("epoch:", 0) == 0 && all_digits(std::string_view(out.reference).substr(6))) {
        out.epoch = static_cast<std::uint64_t>(digits_value(std::string_view(out.reference).substr(6)));
    }
    out.payout_batch = opt_text(r, i, c_batch);
    out.payout_line = opt_text(r, i, c_line);
    out.payout_address = opt_text(r, i, c_address);
    out.payout_txid = opt_text(r, i, c_txid);
    if (out.kind != to_string(transfer_kind::block_dividend)) {
        return true;
    }
    dividend_weight w;
    w.epoch = out.epoch.value_or(0);
    if (!r.is_null(i, c_block_dividend)) {
        auto d = read_amount(r, i, c_block_dividend);
        if (!d) {
            return error{d.error_message()};
        }
        w.block_dividend = std::move(*d);
    }
    w.recorded = out.epoch.has_value() && !r.is_null(i, c_total) && !r.is_null(i, c_weight);
    if (w.recorded) {
        auto wt = read_amount(r, i, c_weight);
        auto tot = read_amount(r, i, c_total);
        if (!wt || !tot) {
            return error{(wt ? tot.error_message() : wt.error_message())};
        }
        w.weight = std::move(*wt);
        w.total_weight = std::move(*tot);
    }
    out.dividend = std::move(w);
    return true;
}

// The currencies of the statement: the one asked for, or every currency
// the account's balances have moved in before `to`, bytewise.
result<std::vector<std::string>> currencies_of(pg::connection& db, const holder_accounts& acc, const request& r) {
    if (r.currency) {
        return std::vector<std::string>{*r.currency};
    }
    auto c =
        run(db, "reading the account's currencies",
            "SELECT c FROM (SELECT currency AS c FROM ledger_transfers"
            " WHERE credit IN ($1, $2) AND created_at < $3::timestamptz"
            " UNION SELECT currency FROM ledger_transfers WHERE debit IN ($1, $2) AND created_at < $3::timestamptz) u"
            " ORDER BY c COLLATE \"C\"",
            {acc.available, acc.immature, time_text(r.to_us)});
    if (!c) {
        return error{c.error_message()};
    }
    std::vector<std::string> out;
    for (int i = 0; i < c->rows(); ++i) {
        out.push_back(c->text(i, 0));
    }
    return out;
}

result<statement> build_in_snapshot(pg::connection& db, const request& r, const holder_accounts& acc) {
    statement s;
    s.pool = r.pool;
    s.account = r.account;
    s.currency = r.currency;
    s.from_us = r.from_us;
    s.to_us = r.to_us;
    auto currencies = currencies_of(db, acc, r);
    if (!currencies) {
        return error{currencies.error_message()};
    }
    auto opening = balances_before(db, acc, r.currency, r.from_us);
    if (!opening) {
        return error{opening.error_message()};
    }
    auto closing = balances_before(db, acc, r.currency, r.to_us);
    if (!closing) {
        return error{closing.error_message()};
    }
    // Sections in order; index by (currency, ledger account).
    std::map<std::pair<std::string, std::string>, std::size_t> index;
    auto figure = [](const balances& b, const std::string& cur, const std::string& account) {
        auto it = b.find({cur, account});
        return it == b.end() ? amount(0) : it->second;
    };
    for (const auto& cur : *currencies) {
        for (const auto& [name, account] :
             {std::pair{"available", acc.available}, std::pair{"immature", acc.immature}}) {
            section sec;
            sec.currency = cur;
            sec.decimals = decimals_of(cur);
            sec.balance = name;
            sec.ledger_account = account;
            sec.opening = figure(*opening, cur, account);
            sec.closing = figure(*closing, cur, account);
            index[{cur, account}] = s.sections.size();
            s.sections.push_back(std::move(sec));
        }
    }
    auto rows = run(db, "reading the account's transfers", k_rows_sql,
                    {acc.available, acc.immature, time_text(r.from_us), time_text(r.to_us), r.currency});
    if (!rows) {
        return error{rows.error_message()};
    }
    std::vector<amount> running;
    for (const auto& sec : s.sections) {
        running.push_back(sec.opening);
    }
    for (int i = 0; i < rows->rows(); ++i) {
        row base;
        base.transfer_id = rows->text(i, c_id);
        base.time = rows->text(i, c_time);
        base.kind = rows->text(i, c_kind);
        base.reference = rows->text(i, c_reference);
        auto value = read_amount(*rows, i, c_amount);
        if (!value) {
            return error{value.error_message()};
        }
        if (auto d = read_details(*rows, i, base); !d) {
            return error{d.error_message()};
        }
        const std::string cur = rows->text(i, c_currency);
        const std::string debit = rows->text(i, c_debit), credit = rows->text(i, c_credit);
        // A transfer between the account's own balances (a block maturing:
        // immature -> available) is a row in each of the two sections.
        for (const auto& [account, sign] : {std::pair{credit, 1}, std::pair{debit, -1}}) {
            auto it = index.find({cur, account});
            if (it == index.end()) {
                continue;
            }
            section& sec = s.sections[it->second];
            row out = base;
            out.amount_signed = sign > 0 ? *value : amount(-*value);
            running[it->second] += out.amount_signed;
            out.balance = running[it->second];
            (sign > 0 ? sec.credits : sec.debits) += out.amount_signed;
            sec.rows.push_back(std::move(out));
        }
    }
    if (auto ok = verify(s); !ok) {
        return error{ok.error_message()};
    }
    return s;
}

}  // namespace

result<std::int64_t> parse_time(std::string_view text) {
    if (all_digits(text) && text.size() <= 12) {
        const std::int64_t s = digits_value(text);
        if (s <= k_max_s) {
            return s * k_us_per_s;
        }
    }
    if (auto t = parse_iso(text)) {
        return *t;
    }
    std::string shown(text.substr(0, 64));
    return error{"time \"" + shown +
                 "\" is neither ISO 8601 UTC (2026-12-01T00:00:00Z, optionally with .ffffff) nor unix seconds "
                 "(1796083200)"};
}

std::string time_text(std::int64_t us) {
    const std::int64_t s = us / k_us_per_s, frac = us % k_us_per_s;
    const std::int64_t days = s / k_s_per_day, rem = s % k_s_per_day;
    const civil c = civil_from_days(days);
    char buf[48];
    if (frac == 0) {
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(c.y), c.m, c.d,
                      static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                      static_cast<long long>(rem % 60));
    } else {
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", static_cast<long long>(c.y),
                      c.m, c.d, static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                      static_cast<long long>(rem % 60), static_cast<long long>(frac));
    }
    return buf;
}

std::string decimal_text(const amount& base_units, int decimals) {
    const bool negative = base_units < 0;
    std::string digits = to_decimal(negative ? amount(-base_units) : base_units);
    if (decimals <= 0) {
        return (negative ? "-" : "") + digits;
    }
    const auto places = static_cast<std::size_t>(decimals);
    if (digits.size() <= places) {
        digits.insert(0, places + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - places, 1, '.');
    return (negative ? "-" : "") + digits;
}

int decimals_of(std::string_view currency) noexcept {
    return currency == bmm_currency ? static_cast<int>(bmm_decimals) : 8;
}

result<check_result> check_request(pg::connection& db, const request& r) {
    check_result out;
    auto refuse = [&out](refusal why, std::string message) {
        out.why = why;
        out.message = std::move(message);
        return out;
    };
    if (r.from_us >= r.to_us) {
        return refuse(refusal::bad_input, "the period is empty: from " + time_text(r.from_us) + " is not before to " +
                                              time_text(r.to_us) + "; give a --from earlier than --to");
    }
    auto acc = holder_ledger_accounts(r.account);
    if (!acc) {
        return refuse(refusal::bad_input, acc.error_message());
    }
    out.accounts = std::move(*acc);
    if (r.currency && !is_currency_code(*r.currency)) {
        return refuse(refusal::bad_input, "currency \"" + r.currency->substr(0, 32) +
                                              "\" is not a currency code (2 to 10 capitals or digits: LTC, BTC, BMM)");
    }
    const bool foundation = r.account.rfind("foundation:", 0) == 0;
    if (!foundation) {
        if (auto ok = check_account_name(r.account); !ok) {
            return refuse(refusal::bad_input, ok.error_message());
        }
    }
    auto known = run(db, "looking up the account",
                     foundation ? "SELECT EXISTS (SELECT 1 FROM ledger_transfers WHERE credit = $1)"
                                : "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = $1)",
                     {foundation ? out.accounts.available : r.account});
    if (!known) {
        return error{known.error_message()};
    }
    const bool premine = foundation && bmm_premine().contains(r.account);
    if (known->text(0, 0) != "t" && !premine) {
        return refuse(refusal::unknown_account,
                      "no account \"" + r.account + "\"" +
                          (foundation ? " (the foundation allocations are airdrop, developers and ecosystem)"
                                      : "; `bmm-accountd account list` shows the accounts"));
    }
    if (r.currency && *r.currency != bmm_currency) {
        auto moved = run(db, "looking up the currency",
                         "SELECT EXISTS (SELECT 1 FROM ledger_transfers WHERE debit = 'system:coinbase:' || $1 "
                         "AND currency = $1) OR EXISTS (SELECT 1 FROM ledger_transfers WHERE credit IN ($2, $3) "
                         "AND currency = $1)",
                         {*r.currency, out.accounts.available, out.accounts.immature});
        if (!moved) {
            return error{moved.error_message()};
        }
        if (moved->text(0, 0) != "t") {
            return refuse(refusal::unknown_currency,
                          "currency " + *r.currency +
                              " is unknown: the ledger has no transfer in it (BMM, and the coins the pool has "
                              "found blocks of)");
        }
    }
    return out;
}

result<statement> build(pg::connection& db, const request& r) {
    std::optional<pg::transaction> tx;
    if (!db.in_transaction()) {
        auto t = pg::transaction::begin(db, pg::transaction_mode::read_only_snapshot);
        if (!t) {
            return error{t.error_message()};
        }
        tx.emplace(std::move(*t));
    }
    auto checked = check_request(db, r);
    if (!checked) {
        return error{checked.error_message()};
    }
    if (checked->why != refusal::none) {
        return error{checked->message};
    }
    auto s = build_in_snapshot(db, r, checked->accounts);
    if (!s) {
        return s;
    }
    if (tx) {
        if (auto c = tx->commit(); !c) {
            return error{c.error_message()};
        }
    }
    return s;
}

result<bool> verify(const statement& s) {
    for (const auto& sec : s.sections) {
        amount running = sec.opening, credits = 0, debits = 0;
        for (const auto& r : sec.rows) {
            running += r.amount_signed;
            (r.amount_signed > 0 ? credits : debits) += r.amount_signed;
            if (r.balance != running) {
                return error{"statement of " + s.account + " in " + sec.currency + " (" + sec.balance + "): row " +
                             r.transfer_id + " shows the balance " + to_decimal(r.balance) + ", the rows add up to " +
                             to_decimal(running)};
            }
        }
        if (running != sec.closing || credits != sec.credits || debits != sec.debits) {
            return error{"statement of " + s.account + " in " + sec.currency + " (" + sec.balance +
                         ") refused: opening " + to_decimal(sec.opening) + " + rows " +
                         to_decimal(running - sec.opening) + " != closing " + to_decimal(sec.closing) +
                         "; the ledger is inconsistent: run `bmm-accountd audit`"};
        }
    }
    return true;
}

std::optional<format> parse_format(std::string_view name) noexcept {
    if (name == "csv") {
        return format::csv;
    }
    if (name == "json") {
        return format::json;
    }
    if (name == "pdf") {
        return format::pdf;
    }
    return std::nullopt;
}

std::string_view content_type(format f) noexcept {
    switch (f) {
        case format::csv:
            return "text/csv; charset=utf-8";
        case format::json:
            return "application/json; charset=utf-8";
        case format::pdf:
            return "application/pdf";
    }
    return "application/octet-stream";
}

result<std::string> render(const statement& s, format f) {
    switch (f) {
        case format::csv:
            return render_csv(s);
        case format::json:
            return render_json(s);
        case format::pdf:
            return render_pdf(s);
    }
    return error{"unknown statement format"};
}

}  // namespace bmm::accounting::statement
