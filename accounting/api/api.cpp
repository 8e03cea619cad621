// bmm-accountd's read API (api.hpp): routing, parameters, SQL and JSON.
// Contents:
//   1. JSON output
//   2. the PostgreSQL connection pool
//   3. requests, parameters and errors
//   4. the endpoints
//   5. the HTTP server (libmicrohttpd)

#include "bmm/accounting/api.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/log.hpp"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace bmm::accounting {

int currency_decimals(std::string_view currency) noexcept {
    return currency == bmm_currency ? static_cast<int>(bmm_decimals) : 8;
}

namespace {

// ---------------------------------------------------------------------------
// 1. JSON output
// ---------------------------------------------------------------------------

void json_string(std::string& o, std::string_view v) {
    o += '"';
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    static const char hex[] = "0123456789abcdef";
                    o += "\\u00";
                    o += hex[c >> 4];
                    o += hex[c & 15];
                } else {
                    o += ch;
                }
        }
    }
    o += '"';
}

// A small writer: keys and values in order, commas placed for the caller.
class json {
public:
    json& begin_object() { value_prefix(); out_ += '{'; first_ = true; return *this; }
    json& end_object() { out_ += '}'; first_ = false; return *this; }
    json& begin_array() { value_prefix(); out_ += '['; first_ = true; return *this; }
    json& end_array() { out_ += ']'; first_ = false; return *this; }
    json& key(std::string_view k) {
        if (!first_) out_ += ',';
        json_string(out_, k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    json& str(std::string_view v) { value_prefix(); json_string(out_, v); return *this; }
    // An integer PostgreSQL printed (count, bigint, trunc(numeric)): written as is.
    json& raw_number(std::string_view v) { value_prefix(); out_ += v.empty() ? "0" : v; return *this; }
    json& number(long long v) { value_prefix(); out_ += std::to_string(v); return *this; }
    json& boolean(bool v) { value_prefix(); out_ += v ? "true" : "false"; return *this; }
    json& null() { value_prefix(); out_ += "null"; return *this; }
    std::string take() { return std::move(out_); }

private:
    void value_prefix() {
        if (after_key_) {
            after_key_ = false;
        } else if (!first_) {
            out_ += ',';
        }
        first_ = false;
    }
    std::string out_;
    bool first_ = true;
    bool after_key_ = false;
};

// ---------------------------------------------------------------------------
// 2. The PostgreSQL connection pool
// ---------------------------------------------------------------------------

class db_pool {
public:
    db_pool(pg::settings s, int statement_timeout_ms, std::size_t keep)
        : settings_(std::move(s)), timeout_ms_(statement_timeout_ms), keep_(keep) {}

    result<pg::connection> acquire() {
        {
            std::lock_guard lock(m_);
            if (!idle_.empty()) {
                pg::connection c = std::move(idle_.back());
                idle_.pop_back();
                return c;
            }
        }
        auto c = pg::connection::open(settings_);
        if (!c) return c;
        std::string set = "SET statement_timeout = ";
        set += std::to_string(timeout_ms_);
        set += "; SET default_transaction_read_only = on; SET TimeZone = 'UTC'; SET application_name = 'bmm-accountd-api'";
        if (auto r = c->exec(set); !r) return error{r.error_message()};
        return c;
    }
    void release(pg::connection c) {
        if (!c.healthy()) return;
        std::lock_guard lock(m_);
        if (idle_.size() < keep_) idle_.push_back(std::move(c));
    }

private:
    pg::settings settings_;
    int timeout_ms_;
    std::size_t keep_;
    std::mutex m_;
    std::vector<pg::connection> idle_;
};

// ---------------------------------------------------------------------------
// 3. Requests, parameters and errors
// ---------------------------------------------------------------------------

struct request {
    std::string path;
    std::vector<std::pair<std::string, std::optional<std::string>>> query;  // decoded, in order
};

struct response {
    int status = 200;
    std::string content_type = "application/json; charset=utf-8";
    std::string body;
};

// A client error (400, 404): its message goes back as {"error": ...}.
struct http_error {
    int status;
    std::string message;
};
// A database failure: 503, logged with the full message.
struct db_failure {
    std::string message;
    bool timeout;
};

response json_error(int status, std::string_view message) {
    std::string b = "{\"error\":";
    json_string(b, message);
    b += "}\n";
    return {status, "application/json; charset=utf-8", std::move(b)};
}

// Refuses parameters the endpoint does not take, and repeated ones.
void only_params(const request& r, std::initializer_list<std::string_view> allowed) {
    for (std::size_t i = 0; i < r.query.size(); ++i) {
        const auto& name = r.query[i].first;
        bool ok = false;
        for (auto a : allowed) ok = ok || a == name;
        if (!ok) {
            std::string m = "unknown parameter \"";
            m += name.substr(0, 64);
            m += "\"; ";
            m += r.path;
            if (allowed.size() == 0) {
                m += " takes none";
            } else {
                m += " takes";
                for (auto a : allowed) {
                    m += ' ';
                    m += a;
                }
            }
            throw http_error{400, m};
        }
        for (std::size_t j = 0; j < i; ++j)
            if (r.query[j].first == name) throw http_error{400, "parameter \"" + name + "\" given twice"};
    }
}

std::optional<std::string> param(const request& r, std::string_view name) {
    for (const auto& [k, v] : r.query)
        if (k == name) {
            if (!v || v->empty()) throw http_error{400, "parameter \"" + k + "\" has no value"};
            return v;
        }
    return std::nullopt;
}

// A decimal integer in [lo, hi]; no sign, spaces or leading '+'.
std::optional<long long> int_param(const request& r, std::string_view name, long long lo, long long hi) {
    auto v = param(r, name);
    if (!v) return std::nullopt;
    long long n = 0;
    bool ok = v->size() <= 18;
    for (char c : *v) {
        if (c < '0' || c > '9') ok = false;
        if (ok) n = n * 10 + (c - '0');
    }
    if (!ok || n < lo || n > hi) {
        std::string m = "parameter \"";
        m += name;
        m += "\" must be an integer from ";
        m += std::to_string(lo);
        m += " to ";
        m += std::to_string(hi);
        m += ", not \"";
        m += v->substr(0, 64);
        m += '"';
        throw http_error{400, m};
    }
    return n;
}

constexpr long long k_default_limit = 50;
constexpr long long k_max_limit = 1000;

long long limit_param(const request& r) { return int_param(r, "limit", 1, k_max_limit).value_or(k_default_limit); }

// One read-only snapshot per response.
class snapshot {
public:
    explicit snapshot(pg::connection& c) : c_(c) {
        run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {});
    }
    ~snapshot() {
        if (open_) (void)c_.exec("ROLLBACK");
    }
    snapshot(const snapshot&) = delete;
    snapshot& operator=(const snapshot&) = delete;

    pg::row_set run(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
        auto r = params.empty() ? c_.exec(sql) : c_.exec(sql, params);
        if (!r) throw db_failure{r.error_message(), c_.last_sqlstate() == "57014"};
        open_ = true;
        return std::move(*r);
    }
    void commit() {
        open_ = false;
        if (auto r = c_.exec("COMMIT"); !r) throw db_failure{r.error_message(), false};
    }

private:
    pg::connection& c_;
    bool open_ = false;
};

// ---------------------------------------------------------------------------
// 4. The endpoints
// ---------------------------------------------------------------------------

// Windows over share_minutes, in whole minutes ending with the current one:
// "10 min" is the current minute and the 9 before it, divided by 600 s.
#define BMM_T10 "(date_trunc('minute', now()) - interval '9 minutes')"
#define BMM_T60 "(date_trunc('minute', now()) - interval '59 minutes')"
#define BMM_T24H "(date_trunc('minute', now()) - interval '1439 minutes')"

void text_or_null(json& j, const pg::row_set& r, int row, int col) {
    if (r.is_null(row, col)) j.null();
    else j.str(r.get(row, col));
}

void amount_fields(json& j, std::string_view currency) {
    j.key("currency").str(currency).key("decimals").number(currency_decimals(currency));
}

std::string pool_stats(snapshot& db) {
    json j;
    j.begin_object();
    auto top = db.run(
        "SELECT bmm_api_time(now()), (SELECT count(*) FROM accounts),"
        " (SELECT count(*) FROM (SELECT DISTINCT account, worker FROM share_minutes WHERE minute >= " BMM_T10 ") w),"
        " (SELECT coalesce(sum(accepted), 0) FROM share_minutes WHERE minute >= " BMM_T60 "),"
        " (SELECT coalesce(sum(rejected), 0) FROM share_minutes WHERE minute >= " BMM_T60 ")",
        {});
    j.key("time").str(top.get(0, 0));
    j.key("accounts").raw_number(top.get(0, 1));
    j.key("workers_active").raw_number(top.get(0, 2));
    j.key("shares_1h").begin_object().key("accepted").raw_number(top.get(0, 3)).key("rejected").raw_number(top.get(0, 4));
    j.end_object();

    auto coins = db.run(
        "SELECT coin, coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T10 ") / 600), 0)::text,"
        " coalesce(trunc(sum(work) / 3600), 0)::text,"
        " count(DISTINCT (account, worker)) FILTER (WHERE minute >= " BMM_T10 "),"
        " count(DISTINCT account) FILTER (WHERE minute >= " BMM_T10 ")"
        " FROM share_minutes WHERE minute >= " BMM_T60 " GROUP BY coin ORDER BY coin",
        {});
    j.key("coins").begin_array();
    for (int i = 0; i < coins.rows(); ++i) {
        j.begin_object().key("coin").str(coins.get(i, 0));
        j.key("hashrate_10m").raw_number(coins.get(i, 1)).key("hashrate_1h").raw_number(coins.get(i, 2));
        j.key("workers_active").raw_number(coins.get(i, 3)).key("accounts_active").raw_number(coins.get(i, 4));
        j.end_object();
    }
    j.end_array();

    auto blocks = db.run("SELECT status, count(*) FROM blocks GROUP BY status", {});
    std::string by[3] = {"0", "0", "0"};
    for (int i = 0; i < blocks.rows(); ++i) {
        const auto s = blocks.get(i, 0);
        by[s == "immature" ? 0 : s == "mature" ? 1 : 2] = blocks.text(i, 1);
    }
    j.key("blocks").begin_object().key("immature").raw_number(by[0]).key("mature").raw_number(by[1]);
    j.key("orphaned").raw_number(by[2]).end_object();

    auto ep = db.run(
        "SELECT k, bmm_api_time(start_at), bmm_api_time(end_at), bmm_api_time(closed_at), emission::text,"
        " emission_paid::text, emission_carried::text FROM epochs WHERE closed_at IS NOT NULL ORDER BY k DESC LIMIT 1",
        {});
    j.key("last_closed_epoch");
    if (ep.rows() == 0) {
        j.null();
    } else {
        j.begin_object().key("k").raw_number(ep.get(0, 0)).key("start").str(ep.get(0, 1)).key("end").str(ep.get(0, 2));
        j.key("closed_at").str(ep.get(0, 3));
        amount_fields(j, bmm_currency);
        j.key("emission").str(ep.get(0, 4)).key("emission_paid").str(ep.get(0, 5));
        j.key("emission_carried").str(ep.get(0, 6)).end_object();
    }

    auto issued = db.run(
        "SELECT coalesce(-sum(balance) FILTER (WHERE account = 'system:genesis:BMM'), 0)::text,"
        " coalesce(-sum(balance) FILTER (WHERE account = 'system:emission:BMM'), 0)::text,"
        " coalesce(-sum(balance), 0)::text"
        " FROM balances WHERE currency = 'BMM' AND account IN ('system:genesis:BMM', 'system:emission:BMM')",
        {});
    j.key("bmm").begin_object();
    amount_fields(j, bmm_currency);
    j.key("supply").str(to_decimal(bmm_total_supply()));
    j.key("issued").str(issued.get(0, 2)).key("premine").str(issued.get(0, 0)).key("emission").str(issued.get(0, 1));
    j.end_object();
    j.end_object();
    return j.take();
}

// The account row, or 404.
pg::row_set account_row(snapshot& db, const std::string& name) {
    auto r = db.run("SELECT name, kind, bmm_api_time(created_at) FROM accounts WHERE name = $1", {name});
    if (r.rows() == 0) throw http_error{404, "no account \"" + name + "\""};
    return r;
}

std::string account_info_json(snapshot& db, const std::string& name) {
    auto a = account_row(db, name);
    json j;
    j.begin_object().key("name").str(a.get(0, 0)).key("kind").str(a.get(0, 1)).key("created_at").str(a.get(0, 2));
    auto w = db.run("SELECT currency, address, share_ppm FROM wallets WHERE account = $1 ORDER BY currency, address", {name});
    j.key("wallets").begin_array();
    for (int i = 0; i < w.rows(); ++i)
        j.begin_object().key("currency").str(w.get(i, 0)).key("address").str(w.get(i, 1))
            .key("share_ppm").raw_number(w.get(i, 2)).end_object();
    j.end_array();

    const std::string avail = user_available(name), imm = user_immature(name);
    auto b = db.run(
        "SELECT currency, coalesce(sum(balance) FILTER (WHERE account = $1), 0)::text,"
        " coalesce(sum(balance) FILTER (WHERE account = $2), 0)::text"
        " FROM balances WHERE account IN ($1, $2) GROUP BY currency ORDER BY currency",
        {avail, imm});
    j.key("balances").begin_array();
    for (int i = 0; i < b.rows(); ++i) {
        j.begin_object();
        amount_fields(j, b.get(i, 0));
        j.key("available").str(b.get(i, 1)).key("immature").str(b.get(i, 2)).end_object();
    }
    j.end_array();

    auto h = db.run(
        "SELECT coin, coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T10 ") / 600), 0)::text,"
        " coalesce(trunc(sum(work) / 3600), 0)::text, count(DISTINCT worker) FILTER (WHERE minute >= " BMM_T10 ")"
        " FROM share_minutes WHERE account = $1 AND minute >= " BMM_T60 " GROUP BY coin ORDER BY coin",
        {name});
    j.key("hashrate").begin_array();
    for (int i = 0; i < h.rows(); ++i)
        j.begin_object().key("coin").str(h.get(i, 0)).key("hashrate_10m").raw_number(h.get(i, 1))
            .key("hashrate_1h").raw_number(h.get(i, 2)).key("workers_active").raw_number(h.get(i, 3)).end_object();
    j.end_array();
    j.end_object();
    return j.take();
}

std::string workers_json(snapshot& db, const std::string& name) {
    account_row(db, name);
    auto w = db.run(
        "SELECT coin, worker,"
        " coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T10 ") / 600), 0)::text,"
        " coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T60 ") / 3600), 0)::text,"
        " bmm_api_time(max(minute)),"
        " coalesce(sum(accepted) FILTER (WHERE minute >= " BMM_T60 "), 0), coalesce(sum(rejected) FILTER (WHERE minute >= " BMM_T60 "), 0),"
        " sum(accepted), sum(rejected), coalesce(sum(blocks), 0)"
        " FROM share_minutes WHERE account = $1 AND minute >= " BMM_T24H
        " GROUP BY coin, worker ORDER BY worker, coin",
        {name});
    json j;
    j.begin_object().key("account").str(name).key("workers").begin_array();
    for (int i = 0; i < w.rows(); ++i) {
        j.begin_object().key("coin").str(w.get(i, 0)).key("worker").str(w.get(i, 1));
        j.key("hashrate_10m").raw_number(w.get(i, 2)).key("hashrate_1h").raw_number(w.get(i, 3));
        j.key("last_share_minute").str(w.get(i, 4));
        j.key("accepted_1h").raw_number(w.get(i, 5)).key("rejected_1h").raw_number(w.get(i, 6));
        j.key("accepted_24h").raw_number(w.get(i, 7)).key("rejected_24h").raw_number(w.get(i, 8));
        j.key("blocks_24h").raw_number(w.get(i, 9)).end_object();
    }
    j.end_array().end_object();
    return j.take();
}

std::optional<std::string> opt_int(std::optional<long long> v) {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

std::string account_epochs_json(snapshot& db, const std::string& name, long long limit, std::optional<long long> before) {
    account_row(db, name);
    auto e = db.run(
        "SELECT ae.k, bmm_api_time(e.start_at), bmm_api_time(e.end_at), bmm_api_time(e.closed_at), ae.dpp::text,"
        " ae.streak, ae.e_bp, ae.pp::text, (SELECT sum(x.pp) FROM account_epochs x WHERE x.k = ae.k)::text,"
        " coalesce((SELECT t.amount FROM ledger_transfers t WHERE t.id = 'epoch:' || ae.k || ':emission:' || ae.account), 0)::text"
        " FROM account_epochs ae JOIN epochs e ON e.k = ae.k"
        " WHERE ae.account = $1 AND ($2::bigint IS NULL OR ae.k < $2::bigint) ORDER BY ae.k DESC LIMIT $3::bigint",
        {name, opt_int(before), std::to_string(limit)});
    json j;
    j.begin_object().key("account").str(name).key("epochs").begin_array();
    for (int i = 0; i < e.rows(); ++i) {
        j.begin_object().key("k").raw_number(e.get(i, 0)).key("start").str(e.get(i, 1)).key("end").str(e.get(i, 2));
        j.key("closed_at");
        text_or_null(j, e, i, 3);
        j.key("dpp").str(e.get(i, 4)).key("streak").raw_number(e.get(i, 5)).key("e_bp").raw_number(e.get(i, 6));
        j.key("pp").str(e.get(i, 7)).key("pp_total").str(e.get(i, 8));
        j.key("bmm_emission").begin_object();
        amount_fields(j, bmm_currency);
        j.key("amount").str(e.get(i, 9)).end_object();
        j.end_object();
    }
    j.end_array().key("next_before");
    if (e.rows() == limit) j.raw_number(e.get(e.rows() - 1, 0));
    else j.null();
    j.end_object();
    return j.take();
}

// The ledger cursor "<time>/<id>": the (created_at, id) of the last row of a page.
std::pair<std::string, std::string> parse_ledger_cursor(const std::string& v) {
    const auto slash = v.find('/');
    const std::string time = v.substr(0, slash);
    // 2026-11-24T19:42:04.123456Z, exactly as bmm_api_time writes it.
    static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    bool ok = slash != std::string::npos && slash + 1 < v.size() && v.size() - slash - 1 <= 512 && time.size() == shape.size();
    for (std::size_t i = 0; ok && i < shape.size(); ++i)
        ok = shape[i] == 'd' ? (time[i] >= '0' && time[i] <= '9') : time[i] == shape[i];
    if (!ok)
        throw http_error{400, "parameter \"before\" must be a next_before value of an earlier page "
                              "(\"<YYYY-MM-DDTHH:MM:SS.ffffffZ>/<transfer id>\")"};
    return {time, v.substr(slash + 1)};
}

std::string signed_delta(std::string_view amount_text, bool in, bool out) {
    if (in == out) return "0";  // not this account's, or both sides (never: debit <> credit)
    std::string s = out ? "-" : "";
    s += amount_text;
    return s;
}

std::string ledger_json(snapshot& db, const std::string& name, long long limit, const std::optional<std::string>& before) {
    account_row(db, name);
    const std::string avail = user_available(name), imm = user_immature(name);
    std::optional<std::string> t, id;
    if (before) std::tie(t, id) = parse_ledger_cursor(*before);
    auto r = db.run(
        "SELECT id, bmm_api_time(created_at), kind, reference, currency, amount::text, debit, credit"
        " FROM ledger_transfers WHERE (debit IN ($1, $2) OR credit IN ($1, $2))"
        " AND ($3::timestamptz IS NULL OR (created_at, id COLLATE \"C\") < ($3::timestamptz, $4::text COLLATE \"C\"))"
        " ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $5::bigint",
        {avail, imm, t, id, std::to_string(limit)});
    json j;
    j.begin_object().key("account").str(name).key("transfers").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        const auto amt = r.get(i, 5), debit = r.get(i, 6), credit = r.get(i, 7);
        j.begin_object().key("id").str(r.get(i, 0)).key("time").str(r.get(i, 1)).key("kind").str(r.get(i, 2));
        j.key("reference").str(r.get(i, 3));
        amount_fields(j, r.get(i, 4));
        j.key("amount").str(amt).key("debit").str(debit).key("credit").str(credit);
        j.key("available").str(signed_delta(amt, credit == avail, debit == avail));
        j.key("immature").str(signed_delta(amt, credit == imm, debit == imm));
        j.end_object();
    }
    j.end_array().key("next_before");
    if (r.rows() == limit) {
        std::string c = r.text(r.rows() - 1, 1);
        c += '/';
        c += r.get(r.rows() - 1, 0);
        j.str(c);
    } else {
        j.null();
    }
    j.end_object();
    return j.take();
}

std::string blocks_json(snapshot& db, long long limit) {
    auto r = db.run(
        "SELECT hash, coin, height, reward::text, finder, bmm_api_time(found_at), found_epoch, epoch, status,"
        " bmm_api_time(status_at) FROM blocks ORDER BY found_at DESC, hash DESC LIMIT $1::bigint",
        {std::to_string(limit)});
    json j;
    j.begin_object().key("blocks").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        j.begin_object().key("hash").str(r.get(i, 0)).key("coin").str(r.get(i, 1)).key("height").raw_number(r.get(i, 2));
        j.key("reward").str(r.get(i, 3)).key("decimals").number(currency_decimals(r.get(i, 1)));
        j.key("finder").str(r.get(i, 4)).key("found_at").str(r.get(i, 5)).key("found_epoch").raw_number(r.get(i, 6));
        j.key("epoch").raw_number(r.get(i, 7)).key("status").str(r.get(i, 8)).key("status_at").str(r.get(i, 9));
        j.end_object();
    }
    j.end_array().end_object();
    return j.take();
}

std::string epochs_json(snapshot& db, long long limit, std::optional<long long> before) {
    auto r = db.run(
        "SELECT e.k, bmm_api_time(e.start_at), bmm_api_time(e.end_at), bmm_api_time(e.closed_at), e.emission::text,"
        " e.emission_paid::text, e.emission_carried::text,"
        " (SELECT count(*) FROM account_epochs a WHERE a.k = e.k),"
        " (SELECT coalesce(sum(a.dpp), 0) FROM account_epochs a WHERE a.k = e.k)::text,"
        " (SELECT coalesce(sum(a.pp), 0) FROM account_epochs a WHERE a.k = e.k)::text,"
        " (SELECT count(*) FROM blocks b WHERE b.epoch = e.k)"
        " FROM epochs e WHERE ($1::bigint IS NULL OR e.k < $1::bigint) ORDER BY e.k DESC LIMIT $2::bigint",
        {opt_int(before), std::to_string(limit)});
    json j;
    j.begin_object().key("epochs").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        j.begin_object().key("k").raw_number(r.get(i, 0)).key("start").str(r.get(i, 1)).key("end").str(r.get(i, 2));
        j.key("closed_at");
        text_or_null(j, r, i, 3);
        amount_fields(j, bmm_currency);
        j.key("emission");
        text_or_null(j, r, i, 4);
        j.key("emission_paid");
        text_or_null(j, r, i, 5);
        j.key("emission_carried");
        text_or_null(j, r, i, 6);
        j.key("accounts").raw_number(r.get(i, 7)).key("dpp_total").str(r.get(i, 8)).key("pp_total").str(r.get(i, 9));
        j.key("blocks").raw_number(r.get(i, 10)).end_object();
    }
    j.end_array().key("next_before");
    if (r.rows() == limit) j.raw_number(r.get(r.rows() - 1, 0));
    else j.null();
    j.end_object();
    return j.take();
}

constexpr std::string_view k_prefix = "/api/v1/";

std::string checked_name(std::string_view name) {
    if (name.size() > 128) throw http_error{400, "an account name has 1 to 128 characters"};
    if (auto ok = check_account_name(name); !ok) throw http_error{400, ok.error_message()};
    return std::string(name);
}

// Routes a GET; throws http_error or db_failure.
response route(db_pool& pool, const request& req) {
    const std::string_view p = req.path;
    if (p == "/" || p == "/index.html") {
        only_params(req, {"account"});
        return {200, "text/html; charset=utf-8", std::string(api_index_html())};
    }
    if (p.substr(0, k_prefix.size()) != k_prefix)
        throw http_error{404, "no such page; the API is under /api/v1/ (pool, accounts/{name}, blocks, epochs)"};
    const std::string_view rest = p.substr(k_prefix.size());

    // Parameters are checked before a connection is taken.
    enum class ep { pool_stats, account, workers, acc_epochs, ledger, blocks, epochs } which;
    std::string name;
    long long limit = k_default_limit;
    std::optional<long long> before_k;
    std::optional<std::string> before_cursor;
    if (rest == "pool") {
        only_params(req, {});
        which = ep::pool_stats;
    } else if (rest == "blocks") {
        only_params(req, {"limit"});
        limit = limit_param(req);
        which = ep::blocks;
    } else if (rest == "epochs") {
        only_params(req, {"limit", "before"});
        limit = limit_param(req);
        before_k = int_param(req, "before", 0, 1000000000000LL);
        which = ep::epochs;
    } else if (rest.substr(0, 9) == "accounts/") {
        const std::string_view tail = rest.substr(9);
        const auto slash = tail.find('/');
        name = checked_name(tail.substr(0, slash));
        const std::string_view sub = slash == std::string_view::npos ? "" : tail.substr(slash + 1);
        if (slash == std::string_view::npos) {
            only_params(req, {});
            which = ep::account;
        } else if (sub == "workers") {
            only_params(req, {});
            which = ep::workers;
        } else if (sub == "epochs") {
            only_params(req, {"limit", "before"});
            limit = limit_param(req);
            before_k = int_param(req, "before", 0, 1000000000000LL);
            which = ep::acc_epochs;
        } else if (sub == "ledger") {
            only_params(req, {"limit", "before"});
            limit = limit_param(req);
            before_cursor = param(req, "before");
            if (before_cursor) (void)parse_ledger_cursor(*before_cursor);
            which = ep::ledger;
        } else {
            throw http_error{404, "no such page; an account has /workers, /epochs and /ledger"};
        }
    } else {
        throw http_error{404, "no such page; the API has /api/v1/pool, /api/v1/accounts/{name}[/workers|/epochs|/ledger], "
                              "/api/v1/blocks and /api/v1/epochs"};
    }

    auto conn = pool.acquire();
    if (!conn) throw db_failure{conn.error_message(), false};
    response out;
    try {
        snapshot db(*conn);
        switch (which) {
            case ep::pool_stats: out.body = pool_stats(db); break;
            case ep::account: out.body = account_info_json(db, name); break;
            case ep::workers: out.body = workers_json(db, name); break;
            case ep::acc_epochs: out.body = account_epochs_json(db, name, limit, before_k); break;
            case ep::ledger: out.body = ledger_json(db, name, limit, before_cursor); break;
            case ep::blocks: out.body = blocks_json(db, limit); break;
            case ep::epochs: out.body = epochs_json(db, limit, before_k); break;
        }
        db.commit();
    } catch (...) {
        pool.release(std::move(*conn));
        throw;
    }
    pool.release(std::move(*conn));
    out.body += '\n';
    return out;
}

response handle(db_pool& pool, const request& req) {
    try {
        return route(pool, req);
    } catch (const http_error& e) {
        return json_error(e.status, e.message);
    } catch (const db_failure& e) {
        log::warn("api", "{}: {}", req.path, e.message);
        return json_error(503, e.timeout ? "the query took longer than [api] statement_timeout_ms; try again later"
                                         : "the database is unavailable; try again later (bmm-accountd's log says why)");
    } catch (const std::exception& e) {
        log::error("api", "{}: {}", req.path, e.what());
        return json_error(500, "internal error; bmm-accountd's log says more");
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// 5. The HTTP server (libmicrohttpd)
// ---------------------------------------------------------------------------

struct api_server::impl {
    api_settings api;
    pg::settings postgres;
    db_pool pool;
    MHD_Daemon* daemon = nullptr;

    impl(api_settings a, pg::settings p)
        : api(std::move(a)), postgres(p), pool(std::move(p), api.statement_timeout_ms, static_cast<std::size_t>(api.threads)) {}

    static MHD_Result collect_arg(void* cls, MHD_ValueKind, const char* key, const char* value) {
        auto* q = static_cast<request*>(cls);
        q->query.emplace_back(key ? key : "", value ? std::optional<std::string>(value) : std::nullopt);
        return MHD_YES;
    }

    static MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*,
                                 const char*, size_t*, void**) {
        auto* self = static_cast<impl*>(cls);
        response res;
        const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0;
        const bool head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        if (!get && !head) {
            res = json_error(405, "only GET and HEAD are served");
        } else {
            request req;
            req.path = url ? url : "";
            MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &impl::collect_arg, &req);
            res = handle(self->pool, req);
        }
        MHD_Response* r = MHD_create_response_from_buffer(res.body.size(), res.body.data(), MHD_RESPMEM_MUST_COPY);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res.content_type.c_str());
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        if (res.status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        if (res.content_type.rfind("text/html", 0) == 0)
            MHD_add_response_header(r, "Content-Security-Policy",
                                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                    "connect-src 'self'; img-src 'self' data:");
        if (self->api.cors) MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        const MHD_Result q = MHD_queue_response(conn, static_cast<unsigned>(res.status), r);
        MHD_destroy_response(r);
        return q;
    }

    static void on_mhd_log(void*, const char* fmt, va_list ap) {
        char buf[512];
        std::vsnprintf(buf, sizeof buf, fmt, ap);
        std::string s = buf;
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        log::warn("api", "libmicrohttpd: {}", s);
    }
};

api_server::api_server(api_settings api, pg::settings postgres)
    : impl_(std::make_unique<impl>(std::move(api), std::move(postgres))) {}

api_server::~api_server() { stop(); }

result<bool> api_server::start() {
    const auto& a = impl_->api;
    std::string where = a.host;
    where += ':';
    where += std::to_string(a.port);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* ai = nullptr;
    if (int rc = ::getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &ai); rc != 0 || !ai)
        return error{"[api] host \"" + a.host + "\" does not resolve (" + ::gai_strerror(rc) +
                     "); use an address such as \"127.0.0.1\""};
    sockaddr_storage addr{};
    std::memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    const bool v6 = ai->ai_family == AF_INET6;
    ::freeaddrinfo(ai);

    // MHD_USE_AUTO: epoll (or poll) rather than select, so max_connections may pass FD_SETSIZE.
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    impl_->daemon = MHD_start_daemon(
        flags, static_cast<std::uint16_t>(a.port), nullptr, nullptr, &impl::on_request, impl_.get(),
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),
        MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(a.threads),
        MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(a.max_connections),
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(a.connection_timeout_s),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<std::size_t>(64 * 1024),
        MHD_OPTION_EXTERNAL_LOGGER, &impl::on_mhd_log, nullptr,
        MHD_OPTION_END);
    if (!impl_->daemon)
        return error{"cannot serve the API on " + where +
                     " (address in use or not this host's?); change [api] host/port or stop the other process"};
    log::info("api", "serving http://{}/ ({} threads, statement timeout {} ms, PostgreSQL {})", where, a.threads,
              a.statement_timeout_ms, impl_->postgres.describe());
    return true;
}

void api_server::stop() {
    if (impl_ && impl_->daemon) {
        MHD_stop_daemon(impl_->daemon);
        impl_->daemon = nullptr;
    }
}

int run_api(const accountd_config& c, const std::atomic<bool>& stop) {
    api_server server(c.api, c.postgres);
    if (auto s = server.start(); !s) {
        log::error("api", "{}", s.error_message());
        return 1;
    }
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
    log::info("api", "stopped");
    return 0;
}

}  // namespace bmm::accounting
