// Statements as CSV (RFC 4180) and JSON (statement.hpp). Both are functions
// of the statement alone, so the same statement gives the same bytes.
//
// CSV: one header line, then per section an "opening" line (time = from), a
// "transfer" line per row, "credits" and "debits" lines (their sums) and a
// "closing" line (time = to), and a "debt" line when the available balance
// closes below zero (blocks orphaned after maturity, docs/accounting.md). Amounts are base units; `decimals` says where
// the point goes.

#include "bmm/accounting/statement.hpp"

#include "bmm/json/writer.hpp"

namespace bmm::accounting::statement {

namespace {

constexpr std::string_view k_csv_header =
    "account,currency,decimals,balance,line,time,transfer_id,kind,reference,block_hash,block_height,epoch,"
    "payout_batch,payout_line,payout_address,payout_txid,amount,running_balance,dividend_weight,"
    "dividend_total_weight,block_dividend\r\n";
constexpr std::string_view k_not_recorded = "not recorded";

void csv_field(std::string& out, std::string_view v) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
        out += v;
        return;
    }
    out += '"';
    for (char c : v) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
}

std::string opt(const std::optional<std::string>& v) { return v.value_or(""); }
template <class T>
std::string opt_number(const std::optional<T>& v) {
    return v ? std::to_string(*v) : "";
}

void csv_line(std::string& out, std::initializer_list<std::string_view> fields) {
    bool first = true;
    for (auto f : fields) {
        if (!first) {
            out += ',';
        }
        first = false;
        csv_field(out, f);
    }
    out += "\r\n";
}

// A line without transfer columns: opening, credits, debits, closing.
void csv_total(std::string& out, const statement& s, const section& sec, std::string_view line, std::string_view time,
               std::string_view amount_text, std::string_view balance_text) {
    const std::string dec = std::to_string(sec.decimals);
    csv_line(out, {s.account, sec.currency, dec, sec.balance, line, time,        "",           "", "", "", "",
                   "",        "",           "",  "",          "",   amount_text, balance_text, "", "", ""});
}

void csv_row(std::string& out, const statement& s, const section& sec, const row& r) {
    std::string weight, total, block_dividend;
    if (r.dividend) {
        weight = r.dividend->recorded ? to_decimal(r.dividend->weight) : std::string(k_not_recorded);
        total = r.dividend->recorded ? to_decimal(r.dividend->total_weight) : std::string(k_not_recorded);
        block_dividend = to_decimal(r.dividend->block_dividend);
    }
    const std::string dec = std::to_string(sec.decimals);
    csv_line(out, {s.account,
                   sec.currency,
                   dec,
                   sec.balance,
                   "transfer",
                   r.time,
                   r.transfer_id,
                   r.kind,
                   r.reference,
                   opt(r.block_hash),
                   opt_number(r.block_height),
                   opt_number(r.epoch),
                   opt(r.payout_batch),
                   opt(r.payout_line),
                   opt(r.payout_address),
                   opt(r.payout_txid),
                   to_decimal(r.amount_signed),
                   to_decimal(r.balance),
                   weight,
                   total,
                   block_dividend});
}

void json_opt(json::writer& j, std::string_view key, const std::optional<std::string>& v) {
    j.key(key);
    if (v) {
        j.str(*v);
    } else {
        j.null();
    }
}

void json_row(json::writer& j, const row& r) {
    j.begin_object().key("time").str(r.time).key("id").str(r.transfer_id).key("kind").str(r.kind);
    j.key("reference").str(r.reference);
    j.key("block");
    if (r.block_hash) {
        j.begin_object().key("hash").str(*r.block_hash).key("height");
        if (r.block_height) {
            j.number(*r.block_height);
        } else {
            j.null();
        }
        j.end_object();
    } else {
        j.null();
    }
    j.key("epoch");
    if (r.epoch) {
        j.number(*r.epoch);
    } else {
        j.null();
    }
    j.key("payout");
    if (r.payout_batch) {
        j.begin_object().key("batch").raw_number(*r.payout_batch).key("line");
        if (r.payout_line) {
            j.raw_number(*r.payout_line);
        } else {
            j.null();
        }
        json_opt(j, "address", r.payout_address);
        json_opt(j, "txid", r.payout_txid);
        j.end_object();
    } else {
        j.null();
    }
    j.key("amount").str(to_decimal(r.amount_signed)).key("balance").str(to_decimal(r.balance));
    if (r.dividend) {
        const auto& d = *r.dividend;
        j.key("dividend").begin_object().key("epoch").number(d.epoch).key("recorded").boolean(d.recorded);
        j.key("weight");
        if (d.recorded) {
            j.str(to_decimal(d.weight));
        } else {
            j.null();
        }
        j.key("total_weight");
        if (d.recorded) {
            j.str(to_decimal(d.total_weight));
        } else {
            j.null();
        }
        j.key("block_dividend").str(to_decimal(d.block_dividend)).end_object();
    }
    j.end_object();
}

}  // namespace

std::string render_csv(const statement& s) {
    std::string out(k_csv_header);
    for (const auto& sec : s.sections) {
        csv_total(out, s, sec, "opening", time_text(s.from_us), "", to_decimal(sec.opening));
        for (const auto& r : sec.rows) {
            csv_row(out, s, sec, r);
        }
        csv_total(out, s, sec, "credits", "", to_decimal(sec.credits), "");
        csv_total(out, s, sec, "debits", "", to_decimal(sec.debits), "");
        csv_total(out, s, sec, "closing", time_text(s.to_us), "", to_decimal(sec.closing));
        if (sec.balance == "available" && sec.closing < 0) {
            // Below zero only by late orphans (docs/accounting.md): a debt later credits repay first.
            csv_total(out, s, sec, "debt", time_text(s.to_us), "", to_decimal(amount(-sec.closing)));
        }
    }
    return out;
}

std::string render_json(const statement& s) {
    json::writer j;
    j.begin_object().key("pool").str(s.pool).key("account").str(s.account);
    json_opt(j, "currency", s.currency);
    j.key("from").str(time_text(s.from_us)).key("to").str(time_text(s.to_us));
    j.key("sections").begin_array();
    for (const auto& sec : s.sections) {
        j.begin_object().key("currency").str(sec.currency).key("decimals").number(sec.decimals);
        j.key("balance").str(sec.balance).key("ledger_account").str(sec.ledger_account);
        j.key("opening").str(to_decimal(sec.opening)).key("credits").str(to_decimal(sec.credits));
        j.key("debits").str(to_decimal(sec.debits)).key("closing").str(to_decimal(sec.closing));
        if (sec.balance == "available" && sec.closing < 0) {
            j.key("debt").str(to_decimal(amount(-sec.closing)));
        }
        j.key("rows").begin_array();
        for (const auto& r : sec.rows) {
            json_row(j, r);
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
    std::string out = j.take();
    out += '\n';
    return out;
}

}  // namespace bmm::accounting::statement
