// bmm-accountd's read API (api.hpp): routes, parameters, SQL and JSON.
// Contents:
//   1. (JSON output: the common writer, bmm/json/writer.hpp)
//   2. the PostgreSQL connection pool
//   3. requests, parameters and errors
//   4. the endpoints and the route table
//   5. the HTTP server (the common one, bmm/http/server.hpp)

#include "bmm/accounting/api.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ops_metrics.hpp"
#include "bmm/accounting/process_counters.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/accounting/statement.hpp"
#include "bmm/accounting/wallet_binding.hpp"
#include "bmm/http/prometheus.hpp"
#include "bmm/http/server.hpp"
#include "bmm/json/writer.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace bmm::accounting {

int currency_decimals(std::string_view currency) noexcept {
    return currency == bmm_currency ? static_cast<int>(bmm_decimals) : 8;
}

namespace {

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
        if (!c) {
            return c;
        }
        if (settings_.transaction_pooling) {
            // [api.read_postgres]: PgBouncer in transaction pooling; nothing
            // is set per session, every snapshot sets its own (transaction.hpp).
            c->also_per_transaction("SELECT set_config('statement_timeout', '" + std::to_string(timeout_ms_) +
                                    "', true)");
            return c;
        }
        std::string set = "SET statement_timeout = ";
        set += std::to_string(timeout_ms_);
        set +=
            "; SET default_transaction_read_only = on; SET TimeZone = 'UTC'; SET application_name = 'bmm-accountd-api'";
        if (auto r = c->exec(set); !r) {
            return error{r.error_message()};
        }
        return c;
    }
    void release(pg::connection c) {
        if (!c.healthy()) {
            return;
        }
        std::lock_guard lock(m_);
        if (idle_.size() < keep_) {
            idle_.push_back(std::move(c));
        }
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

using http::request;
using http::response;

constexpr std::string_view k_json = "application/json; charset=utf-8";

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
    b += json::quoted(message);
    b += "}\n";
    return {status, std::string(k_json), std::move(b), {}};
}

// Refuses parameters the endpoint does not take, and repeated ones.
void only_params(const request& r, std::initializer_list<std::string_view> allowed) {
    for (std::size_t i = 0; i < r.query.size(); ++i) {
        const auto& name = r.query[i].first;
        bool ok = false;
        for (auto a : allowed) {
            ok = ok || a == name;
        }
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
        for (std::size_t j = 0; j < i; ++j) {
            if (r.query[j].first == name) {
                throw http_error{400, "parameter \"" + name + "\" given twice"};
            }
        }
    }
}

std::optional<std::string> param(const request& r, std::string_view name) {
    for (const auto& [k, v] : r.query) {
        if (k == name) {
            if (!v || v->empty()) {
                throw http_error{400, "parameter \"" + k + "\" has no value"};
            }
            return v;
        }
    }
    return std::nullopt;
}

// A decimal integer in [lo, hi]; no sign, spaces or leading '+'.
std::optional<long long> int_param(const request& r, std::string_view name, long long lo, long long hi) {
    auto v = param(r, name);
    if (!v) {
        return std::nullopt;
    }
    long long n = 0;
    bool ok = v->size() <= 18;
    for (char c : *v) {
        if (c < '0' || c > '9') {
            ok = false;
        }
        if (ok) {
            n = n * 10 + (c - '0');
        }
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
// Request line and headers: libmicrohttpd's connection memory was 64 KiB
// before the common server; 32 KiB of headers keeps every real browser in.
constexpr std::size_t k_max_header_bytes = 32 * 1024;
constexpr long long k_max_limit = 1000;

long long limit_param(const request& r) { return int_param(r, "limit", 1, k_max_limit).value_or(k_default_limit); }

// One read-only snapshot per response: the layer's read-only REPEATABLE READ
// transaction, rolled back unless commit() ends it. Failures throw db_failure
// (a statement_timeout cancel, SQLSTATE 57014, as a timeout).
class snapshot {
public:
    explicit snapshot(pg::connection& c) : c_(c), tx_(begin(c)) {}

    pg::row_set run(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
        auto r = params.empty() ? c_.exec(sql) : c_.exec(sql, params);
        if (!r) {
            throw db_failure{r.error_message(), c_.last_sqlstate() == "57014"};
        }
        return std::move(*r);
    }
    void commit() {
        if (auto r = tx_.commit(); !r) {
            throw db_failure{r.error_message(), false};
        }
    }

private:
    static pg::transaction begin(pg::connection& c) {
        auto tx = pg::transaction::begin(c, pg::transaction_mode::read_only_snapshot);
        if (!tx) {
            throw db_failure{tx.error_message(), c.last_sqlstate() == "57014"};
        }
        return std::move(*tx);
    }
    pg::connection& c_;
    pg::transaction tx_;
};

// ---------------------------------------------------------------------------
// 4. The endpoints
// ---------------------------------------------------------------------------
//
// The API is a read model: its queries only read (in a read-only snapshot),
// are shaped by the JSON they answer (bmm_api_time, paging, sums per page),
// and are used by no daemon, so they stay here rather than in the stores
// (accounting/store/), which hold the SQL the daemons write and read by.
// None of them is the same query as a store function's.

// Windows over share_minutes, in whole minutes ending with the current one:
// "10 min" is the current minute and the 9 before it, divided by 600 s.
#define BMM_T10 "(date_trunc('minute', now()) - interval '9 minutes')"
#define BMM_T60 "(date_trunc('minute', now()) - interval '59 minutes')"
#define BMM_T24H "(date_trunc('minute', now()) - interval '1439 minutes')"

void text_or_null(json::writer& j, const pg::row_set& r, int row, int col) {
    if (r.is_null(row, col)) {
        j.null();
    } else {
        j.str(r.get(row, col));
    }
}

void text_or_null_number(json::writer& j, const pg::row_set& r, int row, int col) {
    if (r.is_null(row, col)) {
        j.null();
    } else {
        j.raw_number(r.get(row, col));
    }
}

void amount_fields(json::writer& j, std::string_view currency) {
    j.key("currency").str(currency).key("decimals").number(currency_decimals(currency));
}

std::string pool_stats(snapshot& db, const accountd_config& cfg) {
    json::writer j;
    j.begin_object();
    auto top = db.run(
        "SELECT bmm_api_time(now()), (SELECT count(*) FROM accounts),"
        " (SELECT count(*) FROM (SELECT DISTINCT account, worker FROM share_minutes WHERE minute >= " BMM_T10
        ") w),"
        " (SELECT count(DISTINCT account) FROM share_minutes WHERE minute >= " BMM_T10
        " AND accepted > 0),"
        " (SELECT coalesce(sum(accepted), 0) FROM share_minutes WHERE minute >= " BMM_T60
        "),"
        " (SELECT coalesce(sum(rejected), 0) FROM share_minutes WHERE minute >= " BMM_T60 ")",
        {});
    j.key("time").str(top.get(0, 0));
    j.key("accounts").raw_number(top.get(0, 1));
    j.key("workers_active").raw_number(top.get(0, 2));
    // Accounts with an accepted share in the last 10 minutes: the miners mining now.
    j.key("miners_active").raw_number(top.get(0, 3));
    j.key("shares_1h")
        .begin_object()
        .key("accepted")
        .raw_number(top.get(0, 4))
        .key("rejected")
        .raw_number(top.get(0, 5));
    j.end_object();

    auto coins = db.run("SELECT coin, coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T10
                        ") / 600), 0)::text,"
                        " coalesce(trunc(sum(work) / 3600), 0)::text,"
                        " count(DISTINCT (account, worker)) FILTER (WHERE minute >= " BMM_T10
                        "),"
                        " count(DISTINCT account) FILTER (WHERE minute >= " BMM_T10
                        ")"
                        " FROM share_minutes WHERE minute >= " BMM_T60 " GROUP BY coin ORDER BY coin",
                        {});
    // Every configured coin (its algorithm and DPP weight, docs/accounting.md
    // "Resource weights"), and any other coin shares arrived for, in name order.
    std::map<std::string, int> seen;  // coin -> its row in `coins`, or -1
    for (const auto& [coin, cs] : cfg.coins) {
        seen.emplace(coin, -1);
    }
    for (int i = 0; i < coins.rows(); ++i) {
        seen[coins.text(i, 0)] = i;
    }
    j.key("coins").begin_array();
    for (const auto& [coin, i] : seen) {
        j.begin_object().key("coin").str(coin);
        if (auto c = cfg.coins.find(coin); c != cfg.coins.end()) {
            j.key("algorithm").str(c->second.algorithm);
            j.key("resource_weight_ppm").raw_number(std::to_string(c->second.rules.resource_weight_ppm));
            j.key("scheme").str(to_string(c->second.rules.scheme));
        } else {
            j.key("algorithm").null().key("resource_weight_ppm").null().key("scheme").null();
        }
        if (i >= 0) {
            j.key("hashrate_10m").raw_number(coins.get(i, 1)).key("hashrate_1h").raw_number(coins.get(i, 2));
            j.key("workers_active").raw_number(coins.get(i, 3)).key("accounts_active").raw_number(coins.get(i, 4));
        } else {
            j.key("hashrate_10m").raw_number("0").key("hashrate_1h").raw_number("0");
            j.key("workers_active").raw_number("0").key("accounts_active").raw_number("0");
        }
        j.end_object();
    }
    j.end_array();

    auto blocks = db.run("SELECT status, count(*) FROM blocks GROUP BY status", {});
    std::string by[4] = {"0", "0", "0", "0"};
    for (int i = 0; i < blocks.rows(); ++i) {
        const auto s = blocks.get(i, 0);
        by[s == "immature" ? 0 : s == "mature" ? 1 : s == "orphaned" ? 2 : 3] = blocks.text(i, 1);
    }
    j.key("blocks").begin_object().key("immature").raw_number(by[0]).key("mature").raw_number(by[1]);
    j.key("orphaned").raw_number(by[2]).key("parked").raw_number(by[3]).end_object();

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
    // The foundation's accounts (kind foundation, sql/0017) with the BMM each
    // holds: most of the BMM, and so most dividends, are theirs.
    auto f = db.run(
        "SELECT a.name, (coalesce((SELECT sum(amount) FROM ledger_transfers WHERE credit = a.name AND currency = "
        "'BMM'),"
        " 0) - coalesce((SELECT sum(amount) FROM ledger_transfers WHERE debit = a.name AND currency = 'BMM'), 0))::text"
        " FROM accounts a WHERE a.kind = 'foundation' ORDER BY a.name",
        {});
    j.key("foundation").begin_array();
    for (int i = 0; i < f.rows(); ++i) {
        j.begin_object().key("name").str(f.get(i, 0)).key("bmm_held").begin_object();
        amount_fields(j, bmm_currency);
        j.key("amount").str(f.get(i, 1)).end_object().end_object();
    }
    j.end_array();

    j.key("bmm").begin_object();
    amount_fields(j, bmm_currency);
    j.key("supply").str(to_decimal(bmm_total_supply()));
    j.key("issued").str(issued.get(0, 2)).key("premine").str(issued.get(0, 0)).key("emission").str(issued.get(0, 1));
    j.end_object();
    j.end_object();
    return j.take();
}

// The ledger accounts of a holder name checked by checked_name().
holder_accounts ledger_accounts_of(const std::string& name) {
    auto h = holder_ledger_accounts(name);
    if (!h) {
        throw http_error{400, h.error_message()};
    }
    return *h;
}

// The account row, or 404.
pg::row_set account_row(snapshot& db, const std::string& name) {
    auto r = db.run("SELECT name, kind, bmm_api_time(created_at) FROM accounts WHERE name = $1", {name});
    if (r.rows() == 0) {
        throw http_error{404, "no account \"" + name + "\""};
    }
    return r;
}

std::string account_info_json(snapshot& db, const std::string& name) {
    auto a = account_row(db, name);
    json::writer j;
    j.begin_object().key("name").str(a.get(0, 0)).key("kind").str(a.get(0, 1)).key("created_at").str(a.get(0, 2));
    auto w = db.run("SELECT currency, address, share_ppm FROM wallets WHERE account = $1 ORDER BY currency, address",
                    {name});
    j.key("wallets").begin_array();
    for (int i = 0; i < w.rows(); ++i) {
        j.begin_object()
            .key("currency")
            .str(w.get(i, 0))
            .key("address")
            .str(w.get(i, 1))
            .key("share_ppm")
            .raw_number(w.get(i, 2))
            .end_object();
    }
    j.end_array();

    const auto holder = ledger_accounts_of(name);
    const std::string &avail = holder.available, &imm = holder.immature;
    auto b = db.run(
        "SELECT currency, coalesce(sum(balance) FILTER (WHERE account = $1), 0)::text,"
        " coalesce(sum(balance) FILTER (WHERE account = $2), 0)::text"
        " FROM balances WHERE account IN ($1, $2) GROUP BY currency ORDER BY currency",
        {avail, imm});
    j.key("balances").begin_array();
    std::string bmm_held = "0";
    for (int i = 0; i < b.rows(); ++i) {
        j.begin_object();
        amount_fields(j, b.get(i, 0));
        j.key("available").str(b.get(i, 1)).key("immature").str(b.get(i, 2)).end_object();
        if (b.get(i, 0) == bmm_currency) {
            bmm_held = b.text(i, 1);
        }
    }
    j.end_array();
    // The BMM that earns dividends: the available balance (is_bmm_holder_account).
    j.key("bmm_held").begin_object();
    amount_fields(j, bmm_currency);
    j.key("amount").str(bmm_held).end_object();

    auto h =
        db.run("SELECT coin, coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T10
               ") / 600), 0)::text,"
               " coalesce(trunc(sum(work) / 3600), 0)::text, count(DISTINCT worker) FILTER (WHERE minute >= " BMM_T10
               ")"
               " FROM share_minutes WHERE account = $1 AND minute >= " BMM_T60 " GROUP BY coin ORDER BY coin",
               {name});
    // Voting power: the holder's BMM in the latest epoch snapshot (null before any).
    auto vp = db.run(
        "SELECT t.epoch, coalesce(h.bmm, 0)::text, t.total::text FROM epoch_bmm_totals t"
        " LEFT JOIN epoch_bmm_holdings h ON h.epoch = t.epoch AND h.account = $1"
        " ORDER BY t.epoch DESC LIMIT 1",
        {avail});
    j.key("voting_power");
    if (vp.rows() == 0) {
        j.null();
    } else {
        j.begin_object().key("epoch").raw_number(vp.get(0, 0));
        amount_fields(j, bmm_currency);
        j.key("bmm").str(vp.get(0, 1)).key("total").str(vp.get(0, 2)).end_object();
    }

    j.key("hashrate").begin_array();
    for (int i = 0; i < h.rows(); ++i) {
        j.begin_object()
            .key("coin")
            .str(h.get(i, 0))
            .key("hashrate_10m")
            .raw_number(h.get(i, 1))
            .key("hashrate_1h")
            .raw_number(h.get(i, 2))
            .key("workers_active")
            .raw_number(h.get(i, 3))
            .end_object();
    }
    j.end_array();
    j.end_object();
    return j.take();
}

// A page of workers (by name, bytewise, after `after`), each with a row per coin.
std::string workers_json(snapshot& db, const std::string& name, int offline_after_minutes, long long limit,
                         const std::optional<std::string>& after) {
    account_row(db, name);
    auto w = db.run(
        "WITH page AS (SELECT worker FROM share_minutes WHERE account = $1"
        " AND minute >= " BMM_T24H
        " AND ($3::text IS NULL OR worker COLLATE \"C\" > $3::text COLLATE \"C\")"
        " GROUP BY worker ORDER BY worker COLLATE \"C\" LIMIT $4::bigint)"
        " SELECT coin, worker,"
        " coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T10
        ") / 600), 0)::text,"
        " coalesce(trunc(sum(work) FILTER (WHERE minute >= " BMM_T60
        ") / 3600), 0)::text,"
        " bmm_api_time(max(minute)),"
        " coalesce(sum(accepted) FILTER (WHERE minute >= " BMM_T60
        "), 0), coalesce(sum(rejected) FILTER (WHERE minute >= " BMM_T60
        "), 0),"
        " sum(accepted), sum(rejected), coalesce(sum(blocks), 0),"
        " max(minute) > date_trunc('minute', now()) - make_interval(mins => $2::int)"
        " FROM share_minutes WHERE account = $1 AND minute >= " BMM_T24H
        " AND worker IN (SELECT worker FROM page) GROUP BY coin, worker ORDER BY worker COLLATE \"C\", coin",
        {name, std::to_string(offline_after_minutes), after, std::to_string(limit)});
    json::writer j;
    j.begin_object().key("account").str(name).key("offline_after_minutes").number(offline_after_minutes);
    j.key("workers").begin_array();
    for (int i = 0; i < w.rows(); ++i) {
        j.begin_object().key("coin").str(w.get(i, 0)).key("worker").str(w.get(i, 1));
        j.key("hashrate_10m").raw_number(w.get(i, 2)).key("hashrate_1h").raw_number(w.get(i, 3));
        j.key("last_share_minute").str(w.get(i, 4));
        j.key("accepted_1h").raw_number(w.get(i, 5)).key("rejected_1h").raw_number(w.get(i, 6));
        j.key("accepted_24h").raw_number(w.get(i, 7)).key("rejected_24h").raw_number(w.get(i, 8));
        j.key("blocks_24h").raw_number(w.get(i, 9));
        // Online: a share in the last offline_after_minutes minutes ([web]).
        j.key("online").boolean(w.get(i, 10) == "t").end_object();
    }
    // The next page starts after the last worker of this one, when it was full.
    std::size_t distinct = 0;
    for (int i = 0; i < w.rows(); ++i) {
        distinct += i == 0 || w.get(i, 1) != w.get(i - 1, 1) ? 1 : 0;
    }
    j.end_array().key("next_after");
    if (w.rows() > 0 && static_cast<long long>(distinct) == limit) {
        j.str(w.get(w.rows() - 1, 1));
    } else {
        j.null();
    }
    j.end_object();
    return j.take();
}

std::optional<std::string> opt_int(std::optional<long long> v) {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
}

std::string account_epochs_json(snapshot& db, const std::string& name, long long limit,
                                std::optional<long long> before) {
    account_row(db, name);
    auto e = db.run(
        "SELECT ae.k, bmm_api_time(e.start_at), bmm_api_time(e.end_at), bmm_api_time(e.closed_at), ae.dpp::text,"
        " ae.streak, ae.e_bp, ae.pp::text, (SELECT sum(x.pp) FROM account_epochs x WHERE x.k = ae.k)::text,"
        " coalesce((SELECT t.amount FROM ledger_transfers t WHERE t.id = 'epoch:' || ae.k || ':emission:' || "
        "ae.account), 0)::text"
        " FROM account_epochs ae JOIN epochs e ON e.k = ae.k"
        " WHERE ae.account = $1 AND ($2::bigint IS NULL OR ae.k < $2::bigint) ORDER BY ae.k DESC LIMIT $3::bigint",
        {name, opt_int(before), std::to_string(limit)});
    json::writer j;
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
    if (e.rows() == limit) {
        j.raw_number(e.get(e.rows() - 1, 0));
    } else {
        j.null();
    }
    j.end_object();
    return j.take();
}

// The ledger cursor "<time>/<id>": the (created_at, id) of the last row of a page.
std::pair<std::string, std::string> parse_ledger_cursor(const std::string& v) {
    const auto slash = v.find('/');
    const std::string time = v.substr(0, slash);
    // 2026-11-24T19:42:04.123456Z, exactly as bmm_api_time writes it.
    static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    bool ok = slash != std::string::npos && slash + 1 < v.size() && v.size() - slash - 1 <= 512 &&
              time.size() == shape.size();
    for (std::size_t i = 0; ok && i < shape.size(); ++i) {
        ok = shape[i] == 'd' ? (time[i] >= '0' && time[i] <= '9') : time[i] == shape[i];
    }
    if (!ok) {
        throw http_error{400,
                         "parameter \"before\" must be a next_before value of an earlier page "
                         "(\"<YYYY-MM-DDTHH:MM:SS.ffffffZ>/<transfer id>\")"};
    }
    return {time, v.substr(slash + 1)};
}

std::string signed_delta(std::string_view amount_text, bool in, bool out) {
    if (in == out) {
        return "0";  // not this account's, or both sides (never: debit <> credit)
    }
    std::string s = out ? "-" : "";
    s += amount_text;
    return s;
}

std::string ledger_json(snapshot& db, const std::string& name, long long limit,
                        const std::optional<std::string>& before) {
    account_row(db, name);
    const auto holder = ledger_accounts_of(name);
    const std::string &avail = holder.available, &imm = holder.immature;
    std::optional<std::string> t, id;
    if (before) {
        std::tie(t, id) = parse_ledger_cursor(*before);
    }
    auto r = db.run(
        "SELECT id, bmm_api_time(created_at), kind, reference, currency, amount::text, debit, credit"
        " FROM ledger_transfers WHERE (debit IN ($1, $2) OR credit IN ($1, $2))"
        " AND ($3::timestamptz IS NULL OR (created_at, id COLLATE \"C\") < ($3::timestamptz, $4::text COLLATE \"C\"))"
        " ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $5::bigint",
        {avail, imm, t, id, std::to_string(limit)});
    json::writer j;
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

// The chain tip of each coin as the pool last saw it: the height of the
// newest job a share was submitted on, less one (a job builds on the tip),
// over the last hour of shares, or the pool's own newest block that is not
// orphaned when that is higher. Without recent shares the tip is unknown.
#define BMM_TIPS                                                                              \
    "tips AS (SELECT s.coin, greatest(max(s.height) - 1, (SELECT max(b.height) FROM blocks b" \
    " WHERE b.coin = s.coin AND b.status <> 'orphaned')) AS tip"                              \
    " FROM shares s WHERE s.time >= now() - interval '1 hour' GROUP BY s.coin)"

// Blocks newest first, with the confirmations the tip gives them and how many
// are left before maturity ([coins.<COIN>] maturity, as the ledger counts:
// tip - height + 1). Paged by "before" (the next_before of the last page).
std::string blocks_json(snapshot& db, const accountd_config& cfg, long long limit,
                        const std::optional<std::string>& before) {
    std::optional<std::string> t, h;
    if (before) {
        std::tie(t, h) = parse_ledger_cursor(*before);
    }
    auto r = db.run(
        "WITH " BMM_TIPS
        " SELECT b.hash, b.coin, b.height, b.reward::text, b.finder, bmm_api_time(b.found_at), b.found_epoch, b.epoch,"
        " b.status, bmm_api_time(b.status_at), CASE WHEN t.tip >= b.height THEN t.tip - b.height + 1 END"
        " FROM blocks b LEFT JOIN tips t ON t.coin = b.coin"
        " WHERE ($2::timestamptz IS NULL OR (b.found_at, b.hash COLLATE \"C\") < ($2::timestamptz, $3::text COLLATE "
        "\"C\"))"
        " ORDER BY b.found_at DESC, b.hash COLLATE \"C\" DESC LIMIT $1::bigint",
        {std::to_string(limit), t, h});
    json::writer j;
    j.begin_object().key("blocks").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        const std::string coin(r.get(i, 1));
        j.begin_object().key("hash").str(r.get(i, 0)).key("coin").str(coin).key("height").raw_number(r.get(i, 2));
        j.key("reward").str(r.get(i, 3)).key("decimals").number(currency_decimals(coin));
        j.key("finder").str(r.get(i, 4)).key("found_at").str(r.get(i, 5)).key("found_epoch").raw_number(r.get(i, 6));
        j.key("epoch").raw_number(r.get(i, 7)).key("status").str(r.get(i, 8)).key("status_at").str(r.get(i, 9));
        const auto c = cfg.coins.find(coin);
        const long long maturity = c == cfg.coins.end() ? 0 : c->second.maturity;
        j.key("maturity");
        if (maturity > 0) {
            j.number(maturity);
        } else {
            j.null();
        }
        j.key("confirmations");
        text_or_null_number(j, r, i, 10);
        j.key("confirmations_left");
        if (r.get(i, 8) != "immature") {
            j.number(0);
        } else if (r.is_null(i, 10) || maturity == 0) {
            j.null();
        } else {
            j.number(std::max(0LL, maturity - std::stoll(r.text(i, 10))));
        }
        j.end_object();
    }
    j.end_array().key("next_before");
    if (r.rows() == limit) {
        j.str(r.text(r.rows() - 1, 5) + "/" + r.text(r.rows() - 1, 0));
    } else {
        j.null();
    }
    j.end_object();
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
    json::writer j;
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
    if (r.rows() == limit) {
        j.raw_number(r.get(r.rows() - 1, 0));
    } else {
        j.null();
    }
    j.end_object();
    return j.take();
}

// /api/v1/voting-power: an epoch's voting-power snapshot (sql/0018, 0023):
// the available BMM each holder held at its close, by holder name (bytewise
// order), a page at a time, with the epoch's totals.
std::string voting_power_json(snapshot& db, std::optional<long long> epoch, long long limit,
                              const std::optional<std::string>& after) {
    pg::row_set e = epoch ? db.run(
                                "SELECT e.k, bmm_api_time(e.closed_at), t.holders, t.total::text, t.ledger_seq"
                                " FROM epochs e LEFT JOIN epoch_bmm_totals t ON t.epoch = e.k WHERE e.k = $1::bigint",
                                {std::to_string(*epoch)})
                          : db.run(
                                "SELECT e.k, bmm_api_time(e.closed_at), t.holders, t.total::text, t.ledger_seq"
                                " FROM epochs e LEFT JOIN epoch_bmm_totals t ON t.epoch = e.k"
                                " WHERE e.closed_at IS NOT NULL ORDER BY e.k DESC LIMIT 1",
                                {});
    if (e.rows() == 0) {
        throw http_error{404, epoch ? "no epoch " + std::to_string(*epoch) +
                                          "; epochs are numbered from 0 and /api/v1/epochs lists them"
                                    : std::string("no epoch has closed yet; voting power is snapshotted at each "
                                                  "epoch's close")};
    }
    const std::string k = e.text(0, 0);
    if (e.is_null(0, 1)) {
        throw http_error{404, "epoch " + k +
                                  " is still open; its voting power is snapshotted when it closes (ask for a closed "
                                  "epoch, or leave epoch out for the latest)"};
    }
    if (e.is_null(0, 2)) {
        throw http_error{404, "epoch " + k + " closed before voting power was recorded (sql/0018); it has no snapshot"};
    }
    auto r = db.run(
        "SELECT name, ledger_account, bmm::text FROM voting_power WHERE epoch = $1::bigint"
        " AND ($2::text IS NULL OR name COLLATE \"C\" > $2::text COLLATE \"C\")"
        " ORDER BY name COLLATE \"C\" LIMIT $3::bigint",
        {k, after, std::to_string(limit)});
    json::writer j;
    j.begin_object().key("epoch").raw_number(k).key("closed_at").str(e.get(0, 1));
    amount_fields(j, bmm_currency);
    j.key("holders").raw_number(e.get(0, 2)).key("total").str(e.get(0, 3));
    j.key("ledger_seq");
    if (e.is_null(0, 4)) {
        j.null();
    } else {
        j.raw_number(e.get(0, 4));
    }
    j.key("accounts").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        j.begin_object().key("account").str(r.get(i, 0)).key("ledger_account").str(r.get(i, 1));
        j.key("bmm").str(r.get(i, 2)).end_object();
    }
    j.end_array().key("next_after");
    if (r.rows() == limit) {
        j.str(r.get(r.rows() - 1, 0));
    } else {
        j.null();
    }
    j.end_object();
    return j.take();
}

// ---------------------------------------------------------------------------
// The page's endpoints (issue 16): hashrate history, payments, pool facts
// ---------------------------------------------------------------------------

// A hashrate window: "24h" in 144 buckets of 10 minutes, "30d" in 120 of 6 hours.
struct history_window {
    std::string name;
    long long bucket_seconds;
    long long buckets;
};

history_window window_param(const request& r) {
    const auto w = param(r, "window").value_or("24h");
    if (w == "24h") {
        return {w, 600, 144};
    }
    if (w == "30d") {
        return {w, 21600, 120};
    }
    throw http_error{400, "parameter \"window\" must be 24h or 30d, not \"" + w.substr(0, 32) + "\""};
}

// Hashrate per coin and bucket from the per-minute rollups (share_minutes):
// sum(work) / bucket seconds, truncated. The buckets end with the current
// minute, so the last 24h bucket is the pool's (or account's) hashrate_10m.
// Every bucket is listed (0 without shares); points are [unix seconds of the
// bucket's start, hashes per second]. An empty account ("") is the pool.
std::string hashrate_history_json(snapshot& db, const std::string& account, const history_window& w) {
    auto r = db.run(
        "WITH e AS (SELECT date_trunc('minute', now()) + interval '1 minute' AS t_end),"
        " s AS (SELECT t_end - make_interval(secs => $1::bigint * $2::bigint) AS t0, t_end FROM e)"
        " SELECT m.coin, floor(extract(epoch FROM m.minute - s.t0) / $1::bigint)::bigint,"
        " trunc(sum(m.work) / $1::bigint)::text, extract(epoch FROM s.t0)::bigint"
        " FROM share_minutes m, s WHERE m.minute >= s.t0 AND m.minute < s.t_end AND ($3 = '' OR m.account = $3)"
        " GROUP BY m.coin, 2, s.t0 ORDER BY m.coin, 2",
        {std::to_string(w.bucket_seconds), std::to_string(w.buckets), account});
    auto start = db.run(
        "SELECT extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - make_interval(secs => "
        "$1::bigint "
        "* $2::bigint))::bigint",
        {std::to_string(w.bucket_seconds), std::to_string(w.buckets)});
    const long long t0 = std::stoll(start.text(0, 0));
    json::writer j;
    j.begin_object().key("window").str(w.name).key("bucket_seconds").number(w.bucket_seconds);
    j.key("start").number(t0);
    j.key("coins").begin_array();
    int i = 0;
    while (i < r.rows()) {
        const std::string coin(r.get(i, 0));
        std::vector<std::string> v(static_cast<std::size_t>(w.buckets), "0");
        for (; i < r.rows() && r.get(i, 0) == coin; ++i) {
            const long long b = std::stoll(r.text(i, 1));
            if (b >= 0 && b < w.buckets) {
                v[static_cast<std::size_t>(b)] = r.text(i, 2);
            }
        }
        j.begin_object().key("coin").str(coin).key("points").begin_array();
        for (long long b = 0; b < w.buckets; ++b) {
            j.begin_array().number(t0 + b * w.bucket_seconds).raw_number(v[static_cast<std::size_t>(b)]).end_array();
        }
        j.end_array().end_object();
    }
    j.end_array().end_object();
    return j.take();
}

void payment_totals(snapshot& db, json::writer& j, const std::string& account);

// Payout lines newest first (one account's, or all when account is empty),
// each with its batch's state and the transaction that pays it: for a coin
// the confirmed attempt's txid, else the latest attempt's; for BMM the
// settlement's. Paged by "before" (the next_before of the last page, "<batch>.<line>").
std::string payments_json(snapshot& db, const std::string& account, long long limit,
                          std::optional<std::pair<long long, long long>> before) {
    auto r = db.run(
        "SELECT l.batch, l.line, l.account, b.currency, l.address, l.amount::text, l.state, b.state,"
        " coalesce((SELECT a.txid FROM payout_attempts a WHERE a.batch = l.batch AND a.tx = l.tx"
        "   ORDER BY (a.attempt = t.confirmed_attempt) DESC, a.attempt DESC LIMIT 1), b.settle_txid),"
        " bmm_api_time(b.planned_at), bmm_api_time(b.finished_at)"
        " FROM payout_lines l JOIN payout_batches b ON b.id = l.batch"
        " LEFT JOIN payout_txs t ON t.batch = l.batch AND t.tx = l.tx"
        " WHERE ($1 = '' OR l.account = $1) AND ($2::bigint IS NULL OR (l.batch, l.line) < ($2::bigint, $3::int))"
        " ORDER BY l.batch DESC, l.line DESC LIMIT $4::bigint",
        {account, before ? std::optional<std::string>(std::to_string(before->first)) : std::nullopt,
         before ? std::optional<std::string>(std::to_string(before->second)) : std::nullopt, std::to_string(limit)});
    json::writer j;
    j.begin_object();
    if (!account.empty()) {
        j.key("account").str(account);
    }
    if (!account.empty()) {
        payment_totals(db, j, account);
    }
    j.key("payments").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        j.begin_object().key("batch").raw_number(r.get(i, 0)).key("line").raw_number(r.get(i, 1));
        j.key("account").str(r.get(i, 2));
        amount_fields(j, r.get(i, 3));
        j.key("address").str(r.get(i, 4)).key("amount").str(r.get(i, 5)).key("state").str(r.get(i, 6));
        j.key("batch_state").str(r.get(i, 7)).key("txid");
        text_or_null(j, r, i, 8);
        j.key("planned_at").str(r.get(i, 9)).key("finished_at");
        text_or_null(j, r, i, 10);
        j.end_object();
    }
    j.end_array().key("next_before");
    if (r.rows() == limit) {
        j.str(r.text(r.rows() - 1, 0) + "." + r.text(r.rows() - 1, 1));
    } else {
        j.null();
    }
    j.end_object();
    return j.take();
}

// Per currency, the account's lines reserved and not yet paid (in payout)
// and paid (sent), over all its payout lines.
void payment_totals(snapshot& db, json::writer& j, const std::string& account) {
    auto r = db.run(
        "SELECT b.currency, coalesce(sum(l.amount) FILTER (WHERE l.state = 'open'), 0)::text,"
        " coalesce(sum(l.amount) FILTER (WHERE l.state = 'sent'), 0)::text"
        " FROM payout_lines l JOIN payout_batches b ON b.id = l.batch WHERE l.account = $1"
        " GROUP BY b.currency ORDER BY b.currency",
        {account});
    j.key("totals").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        j.begin_object();
        amount_fields(j, r.get(i, 0));
        j.key("in_payout").str(r.get(i, 1)).key("paid").str(r.get(i, 2)).end_object();
    }
    j.end_array();
}

// The dividends a holder was credited (block_dividend transfers), per block
// (newest first, at most `limit`) and summed per epoch the block was booked in.
std::string dividends_json(snapshot& db, const std::string& name, long long limit) {
    account_row(db, name);
    const auto holder = ledger_accounts_of(name);
    auto per_block = db.run(
        "SELECT b.epoch, b.hash, b.coin, b.height, b.status, t.currency, t.amount::text, bmm_api_time(b.found_at)"
        " FROM ledger_transfers t JOIN blocks b ON b.hash = split_part(t.id, ':', 2)"
        " WHERE t.kind = 'block_dividend' AND t.credit IN ($1, $2)"
        " ORDER BY b.found_at DESC, b.hash DESC LIMIT $3::bigint",
        {holder.available, holder.immature, std::to_string(limit)});
    auto per_epoch = db.run(
        "SELECT b.epoch, t.currency, sum(t.amount)::text, count(*) FROM ledger_transfers t"
        " JOIN blocks b ON b.hash = split_part(t.id, ':', 2)"
        " WHERE t.kind = 'block_dividend' AND t.credit IN ($1, $2)"
        " GROUP BY b.epoch, t.currency ORDER BY b.epoch DESC, t.currency LIMIT $3::bigint",
        {holder.available, holder.immature, std::to_string(limit)});
    json::writer j;
    j.begin_object().key("account").str(name).key("blocks").begin_array();
    for (int i = 0; i < per_block.rows(); ++i) {
        j.begin_object().key("epoch").raw_number(per_block.get(i, 0)).key("hash").str(per_block.get(i, 1));
        j.key("coin").str(per_block.get(i, 2)).key("height").raw_number(per_block.get(i, 3));
        j.key("status").str(per_block.get(i, 4));
        amount_fields(j, per_block.get(i, 5));
        j.key("amount").str(per_block.get(i, 6)).key("found_at").str(per_block.get(i, 7)).end_object();
    }
    j.end_array().key("epochs").begin_array();
    for (int i = 0; i < per_epoch.rows(); ++i) {
        j.begin_object().key("epoch").raw_number(per_epoch.get(i, 0));
        amount_fields(j, per_epoch.get(i, 1));
        j.key("amount").str(per_epoch.get(i, 2)).key("blocks").raw_number(per_epoch.get(i, 3)).end_object();
    }
    j.end_array().end_object();
    return j.take();
}

std::optional<std::pair<long long, long long>> payment_cursor(const request& q) {
    const auto v = param(q, "before");
    if (!v) {
        return std::nullopt;
    }
    const auto dot = v->find('.');
    long long b = 0, l = 0;
    bool ok = dot != std::string::npos && dot > 0 && dot + 1 < v->size() && v->size() <= 30;
    for (std::size_t i = 0; ok && i < v->size(); ++i) {
        const char c = (*v)[i];
        if (i == dot) {
            continue;
        }
        ok = c >= '0' && c <= '9';
        long long& n = i < dot ? b : l;
        n = n * 10 + (c - '0');
    }
    if (!ok || l > 2147483647LL) {
        throw http_error{400,
                         "parameter \"before\" must be a next_before value of an earlier page (\"<batch>.<line>\")"};
    }
    return std::pair{b, l};
}

// What the operator configured ([coins.*], [payout], [web], [epochs]) with
// what the pool last saw of each chain (the newest share's job: height and
// network work, i.e. the expected hashes per block) and the work of the
// current round (accepted work since the coin's last block).
std::string pool_facts_json(snapshot& db, const accountd_config& cfg) {
    auto net =
        db.run("WITH " BMM_TIPS
               " SELECT DISTINCT ON (s.coin) s.coin, s.algorithm, t.tip, s.network_work::text FROM shares s"
               " JOIN tips t ON t.coin = s.coin"
               " WHERE s.time >= now() - interval '1 hour' AND s.network_work IS NOT NULL ORDER BY s.coin, s.time DESC",
               {});
    auto rounds = db.run(
        "SELECT m.coin, coalesce(sum(m.work), 0)::text FROM share_minutes m"
        " WHERE m.minute >= coalesce((SELECT date_trunc('minute', max(b.found_at)) FROM blocks b WHERE b.coin = "
        "m.coin),"
        " '-infinity') GROUP BY m.coin",
        {});
    auto find = [](const pg::row_set& r, const std::string& coin) {
        for (int i = 0; i < r.rows(); ++i) {
            if (r.get(i, 0) == coin) {
                return i;
            }
        }
        return -1;
    };
    std::set<std::string> coins;
    for (const auto& [c, _] : cfg.coins) {
        coins.insert(c);
    }
    for (const auto& [c, _] : cfg.web.stratum) {
        coins.insert(c);
    }
    json::writer j;
    j.begin_object().key("coins").begin_array();
    for (const auto& coin : coins) {
        j.begin_object().key("coin").str(coin);
        amount_fields(j, coin);
        const auto c = cfg.coins.find(coin);
        const auto w = cfg.web.stratum.find(coin);
        const int n = find(net, coin);
        j.key("algorithm");
        if (w != cfg.web.stratum.end()) {
            j.str(w->second.algorithm);
        } else if (n >= 0) {
            j.str(net.get(n, 1));
        } else {
            j.null();
        }
        j.key("stratum").begin_array();
        if (w != cfg.web.stratum.end()) {
            for (const auto& u : w->second.urls) {
                j.str(u);
            }
        }
        j.end_array();
        if (c != cfg.coins.end()) {
            j.key("fee_ppm").number(c->second.rules.fee_ppm).key("holders_ppm").number(c->second.rules.holders_ppm);
            j.key("scheme").str(to_string(c->second.rules.scheme));
            j.key("maturity").number(c->second.maturity);
            j.key("payout_threshold").str(to_decimal(payout_min_amount(cfg.payout, coin)));
            j.key("min_bmm_to_mine").str(to_decimal(c->second.min_bmm_to_mine));
        }
        j.key("network_height");
        if (n >= 0) {
            j.raw_number(net.get(n, 2));
        } else {
            j.null();
        }
        j.key("network_work");
        if (n >= 0) {
            text_or_null(j, net, n, 3);
        } else {
            j.null();
        }
        const int rd = find(rounds, coin);
        j.key("round_work").str(rd >= 0 ? rounds.text(rd, 1) : "0");
        j.end_object();
    }
    j.end_array();
    j.key("payout").begin_object().key("schedule").str(cfg.web.payout_schedule);
    j.key("bmm_threshold").str(to_decimal(payout_min_amount(cfg.payout, bmm_currency)));
    j.key("confirmations").number(cfg.payout.confirmations).end_object();
    j.key("offline_after_minutes").number(cfg.web.offline_after_minutes);
    j.key("epochs");
    if (!cfg.epochs.enabled) {
        j.null();
    } else {
        auto now = db.run("SELECT floor(extract(epoch FROM now()))::bigint", {});
        const long long t = std::stoll(now.text(0, 0));
        j.begin_object().key("length_seconds").number(cfg.epochs.length_seconds);
        j.key("genesis").number(cfg.epochs.genesis).key("halving_period").number(cfg.epochs.halving_period);
        j.key("current");
        if (t < cfg.epochs.genesis) {
            j.null();
        } else {
            const auto k = static_cast<std::uint64_t>((t - cfg.epochs.genesis) / cfg.epochs.length_seconds);
            j.begin_object().key("k").number(k);
            j.key("start").number(cfg.epochs.genesis + static_cast<long long>(k) * cfg.epochs.length_seconds);
            amount_fields(j, bmm_currency);
            j.key("emission").str(to_decimal(epoch_emission(k, cfg.epochs.halving_period))).end_object();
        }
        j.end_object();
    }
    j.end_object();
    return j.take();
}

constexpr std::string_view k_prefix = "/api/v1/";

std::string checked_name(std::string_view name) {
    if (name.size() > 128) {
        throw http_error{400, "an account name has 1 to 128 characters"};
    }
    if (auto ok = check_holder_name(name); !ok) {
        throw http_error{400, ok.error_message()};
    }
    return std::string(name);
}

// Runs an endpoint's queries in one read-only snapshot on a pooled
// connection; throws db_failure. The JSON text gets a final newline.
response with_snapshot(db_pool& pool, const std::function<std::string(snapshot&)>& body) {
    auto conn = pool.acquire();
    if (!conn) {
        throw db_failure{conn.error_message(), false};
    }
    response out{200, std::string(k_json), {}, {}};
    try {
        snapshot db(*conn);
        out.body = body(db);
        db.commit();
    } catch (...) {
        pool.release(std::move(*conn));
        throw;
    }
    pool.release(std::move(*conn));
    out.body += '\n';
    return out;
}

// Turns what a handler throws into its answer: http_error as it says,
// db_failure 503, anything else 500 (both logged).
response guarded(const request& req, const std::function<response()>& f) {
    try {
        return f();
    } catch (const http_error& e) {
        return json_error(e.status, e.message);
    } catch (const db_failure& e) {
        log::warn("api", "{}: {}", req.path, e.message);
        return json_error(503, e.timeout
                                   ? "the query took longer than [api] statement_timeout_ms; try again later"
                                   : "the database is unavailable; try again later (bmm-accountd's log says why)");
    } catch (const std::exception& e) {
        log::error("api", "{}: {}", req.path, e.what());
        return json_error(500, "internal error; bmm-accountd's log says more");
    }
}

response method_not_allowed() {
    response r = json_error(405, "only GET and HEAD are served");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
}

// Paths no route takes: 405 for methods other than GET and HEAD (on any
// path), else 404 saying where the API is; a bad account name is 400 first.
response not_found(const request& req) {
    if (req.method != "GET" && req.method != "HEAD") {
        return method_not_allowed();
    }
    const std::string_view p = req.path;
    if (p.substr(0, k_prefix.size()) != k_prefix) {
        throw http_error{404, "no such page; the API is under /api/v1/ (pool, accounts/{name}, blocks, epochs)"};
    }
    const std::string_view rest = p.substr(k_prefix.size());
    if (rest.substr(0, 9) == "accounts/") {
        const std::string_view tail = rest.substr(9);
        (void)checked_name(tail.substr(0, tail.find('/')));
        throw http_error{404, "no such page; an account has /workers, /epochs, /ledger and /statement"};
    }
    throw http_error{404,
                     "no such page; the API has /api/v1/pool, /api/v1/accounts/{name}[/workers|/epochs|/ledger], "
                     "/api/v1/blocks, /api/v1/epochs and /api/v1/voting-power"};
}

response index_page(const request& req) {
    // The page reads them itself: an old ?account= link, the statement period, the refresh seconds.
    only_params(req, {"account", "from", "to", "refresh"});
    response r{200, "text/html; charset=utf-8", std::string(api_index_html()), {}};
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                           "connect-src 'self'; img-src 'self' data:");
    return r;
}

#ifndef BMM_CHART_JS
#define BMM_CHART_JS "/usr/share/javascript/chart.js/chart.min.js"
#endif

// Chart.js from Debian's libjs-chart.js: the file found at build time, else
// the package's usual places; read once it is there, and kept.
std::optional<std::string> chart_js() {
    static std::mutex m;
    static std::optional<std::string> kept;
    std::lock_guard lock(m);
    if (kept) {
        return kept;
    }
    for (const char* path :
         {BMM_CHART_JS, "/usr/share/javascript/chart.js/chart.min.js", "/usr/share/javascript/chart.js/Chart.min.js",
          "/usr/share/nodejs/chart.js/dist/chart.min.js"}) {
        std::ifstream f(path, std::ios::binary);
        if (!f) {
            continue;
        }
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        if (!text.empty()) {
            kept = std::move(text);
            return kept;
        }
    }
    return std::nullopt;
}

// /static/{file}: the page's script and style (embedded from accounting/web/)
// and Chart.js.
response static_file(const request& req) {
    only_params(req, {});
    const std::string_view f = req.path_param("file");
    if (f == "chart.js") {
        auto js = chart_js();
        if (!js) {
            throw http_error{404, "Chart.js is not installed on this host (" BMM_CHART_JS
                                  "): install Debian's libjs-chart.js; the page works without its charts"};
        }
        return {200, "text/javascript; charset=utf-8", std::move(*js), {}};
    }
    const std::string_view body = api_web_asset(f);
    if (body.empty()) {
        throw http_error{404, "no such file; /static/ has app.js, app.css and chart.js"};
    }
    const bool js = f.size() > 3 && f.substr(f.size() - 3) == ".js";
    return {200, js ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8", std::string(body), {}};
}

// ---------------------------------------------------------------------------
// /metrics
// ---------------------------------------------------------------------------

// Entries of the consumer group delivered and not yet acknowledged
// (XPENDING), and those not yet delivered at all (XINFO GROUPS "lag", Redis
// 7; -1 when Redis does not say). Empty when Redis does not answer.
std::optional<std::pair<long long, long long>> stream_backlog(const redis_settings& r, const std::string& stream) {
    auto conn = redis::connect(r, std::chrono::milliseconds(1000));
    if (!conn) {
        return std::nullopt;
    }
    const redis::context_ptr& c = conn->ctx;
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> p(
        static_cast<redisReply*>(redisCommand(c.get(), "XPENDING %s %s", stream.c_str(), r.group.c_str())),
        &freeReplyObject);
    if (!p) {
        return std::nullopt;
    }
    // No stream or group yet (an error reply): nothing is pending.
    const bool counted = p->type == REDIS_REPLY_ARRAY && p->elements >= 1 && p->element[0]->type == REDIS_REPLY_INTEGER;
    std::pair<long long, long long> out{counted ? p->element[0]->integer : 0, -1};
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> g(
        static_cast<redisReply*>(redisCommand(c.get(), "XINFO GROUPS %s", stream.c_str())), &freeReplyObject);
    for (std::size_t i = 0; g && g->type == REDIS_REPLY_ARRAY && i < g->elements; ++i) {
        const redisReply* e = g->element[i];
        bool ours = false;
        for (std::size_t k = 0; e->type == REDIS_REPLY_ARRAY && k + 1 < e->elements; k += 2) {
            const std::string_view name(e->element[k]->str ? e->element[k]->str : "", e->element[k]->len);
            const redisReply* v = e->element[k + 1];
            if (name == "name") {
                ours = v->type == REDIS_REPLY_STRING && std::string_view(v->str, v->len) == r.group;
            }
            if (name == "lag" && ours && v->type == REDIS_REPLY_INTEGER) {
                out.second = v->integer;
            }
        }
    }
    return out;
}

// The page: what PostgreSQL and Redis say now, what `run`'s threads counted
// (when this process runs them), and the API's own requests.
std::string metrics_page(db_pool& pool, const accountd_config& cfg, const process_counters* pc,
                         const http::server* server) {
    prometheus::text_writer w;
    using u64 = std::uint64_t;
    // The counters are read before PostgreSQL and Redis are asked, so that
    // whatever they count as stored (committed) is in the page's snapshot.
    struct counted {
        u64 rounds, share_rows, block_rows, duplicates, bad_records, epochs_closed;
        double close_seconds_sum, last_close_seconds;
    };
    std::optional<counted> c;
    if (pc) {
        c = counted{pc->rounds.load(std::memory_order_relaxed),
                    pc->share_rows.load(std::memory_order_relaxed),
                    pc->block_rows.load(std::memory_order_relaxed),
                    pc->duplicates.load(std::memory_order_relaxed),
                    pc->bad_records.load(std::memory_order_relaxed),
                    pc->epochs_closed.load(std::memory_order_relaxed),
                    pc->epoch_close_seconds_sum.load(std::memory_order_relaxed),
                    pc->last_epoch_close_seconds.load(std::memory_order_relaxed)};
    }
    // Per stream of [redis] streams (labelled stream and group).
    const auto streams = cfg.redis.all_streams();
    std::vector<std::optional<std::pair<long long, long long>>> backlogs;
    bool redis_up = true, any_lag = false;
    for (const auto& s : streams) {
        backlogs.push_back(stream_backlog(cfg.redis, s));
        redis_up = redis_up && backlogs.back();
        any_lag = any_lag || (backlogs.back() && backlogs.back()->second >= 0);
    }
    w.family("bmm_accountd_redis_up", "gauge", "1 when Redis answered this scrape (for every stream).");
    w.sample("bmm_accountd_redis_up", {}, u64{redis_up ? 1u : 0u});
    w.family("bmm_accountd_ingest_pending_entries", "gauge",
             "Stream entries delivered to the consumer group and not yet acknowledged (stored).");
    for (std::size_t i = 0; i < streams.size(); ++i) {
        if (backlogs[i]) {
            w.sample("bmm_accountd_ingest_pending_entries", {{"stream", streams[i]}, {"group", cfg.redis.group}},
                     static_cast<double>(backlogs[i]->first));
        }
    }
    if (any_lag) {
        w.family("bmm_accountd_ingest_undelivered_entries", "gauge",
                 "Stream entries not yet delivered to the consumer group (XINFO GROUPS lag).");
        for (std::size_t i = 0; i < streams.size(); ++i) {
            if (backlogs[i] && backlogs[i]->second >= 0) {
                w.sample("bmm_accountd_ingest_undelivered_entries",
                         {{"stream", streams[i]}, {"group", cfg.redis.group}},
                         static_cast<double>(backlogs[i]->second));
            }
        }
    }

    bool db_up = false;
    try {
        auto conn = pool.acquire();
        if (!conn) {
            throw db_failure{conn.error_message(), false};
        }
        try {
            snapshot db(*conn);
            auto st = db.run(
                "SELECT consumer, extract(epoch FROM now()) - last_ms / 1000.0, entries, stream FROM stream_state"
                " WHERE stream = ANY($1::text[]) AND grp = $2 ORDER BY stream, consumer",
                {pg::text_array_of(streams), cfg.redis.group});
            auto blocks = db.run("SELECT status, count(*) FROM blocks GROUP BY status ORDER BY status", {});
            auto ep = db.run("SELECT count(*), coalesce(max(k), -1) FROM epochs WHERE closed_at IS NOT NULL", {});
            db.commit();
            w.family("bmm_accountd_ingest_last_entry_age_seconds", "gauge",
                     "Seconds since the stream entry last stored by each consumer was appended to the stream.");
            for (int i = 0; i < st.rows(); ++i) {
                w.sample("bmm_accountd_ingest_last_entry_age_seconds",
                         {{"stream", std::string(st.get(i, 3))}, {"consumer", std::string(st.get(i, 0))}},
                         std::stod(st.text(i, 1)));
            }
            w.family("bmm_accountd_ingest_entries_stored", "gauge",
                     "Stream entries each consumer has stored (stream_state).");
            for (int i = 0; i < st.rows(); ++i) {
                w.sample("bmm_accountd_ingest_entries_stored",
                         {{"stream", std::string(st.get(i, 3))}, {"consumer", std::string(st.get(i, 0))}},
                         std::stod(st.text(i, 2)));
            }
            w.family("bmm_accountd_blocks", "gauge", "Blocks the pool found, by state.");
            u64 by[4] = {0, 0, 0, 0};
            for (int i = 0; i < blocks.rows(); ++i) {
                const auto s = blocks.get(i, 0);
                by[s == "immature" ? 0 : s == "mature" ? 1 : s == "orphaned" ? 2 : 3] = std::stoull(blocks.text(i, 1));
            }
            w.sample("bmm_accountd_blocks", {{"state", "immature"}}, by[0]);
            w.sample("bmm_accountd_blocks", {{"state", "mature"}}, by[1]);
            w.sample("bmm_accountd_blocks", {{"state", "orphaned"}}, by[2]);
            w.sample("bmm_accountd_blocks", {{"state", "parked"}}, by[3]);
            w.family(
                "bmm_accountd_blocks_parked", "gauge",
                "Blocks an epoch close could not split, waiting for `bmm-accountd block resolve` (alert when > 0).");
            w.sample("bmm_accountd_blocks_parked", {}, by[3]);
            w.family("bmm_accountd_epochs_closed", "gauge", "Epochs closed in the database.");
            w.sample("bmm_accountd_epochs_closed", {}, std::stod(ep.text(0, 0)));
            w.family("bmm_accountd_epoch_last_closed", "gauge", "The number k of the last closed epoch (-1: none).");
            w.sample("bmm_accountd_epoch_last_closed", {}, std::stod(ep.text(0, 1)));
            db_up = write_ops_metrics(w, *conn, cfg);
        } catch (...) {
            pool.release(std::move(*conn));
            throw;
        }
        pool.release(std::move(*conn));
    } catch (const db_failure& e) {
        log::warn("api", "/metrics: {}", e.message);
    }
    w.family("bmm_accountd_postgres_up", "gauge", "1 when PostgreSQL answered this scrape's queries.");
    w.sample("bmm_accountd_postgres_up", {}, u64{db_up ? 1u : 0u});

    if (c) {
        const auto counter = [&w](std::string_view name, std::string_view help, u64 v) {
            w.family(name, "counter", help);
            w.sample(name, {}, v);
        };
        counter("bmm_accountd_ingest_rounds_total", "Ingest rounds (one transaction each) committed by this process.",
                c->rounds);
        counter("bmm_accountd_ingest_share_rows_total", "Share rows this process stored.", c->share_rows);
        counter("bmm_accountd_ingest_block_rows_total", "Block rows this process stored.", c->block_rows);
        counter("bmm_accountd_ingest_duplicates_total", "Records this process left out as already stored.",
                c->duplicates);
        counter("bmm_accountd_ingest_bad_records_total", "Unreadable records this process kept in ingest_errors.",
                c->bad_records);
        counter("bmm_accountd_epoch_closes_total", "Epochs this process closed.", c->epochs_closed);
        w.family("bmm_accountd_epoch_close_seconds_total", "counter", "Time this process spent closing epochs.");
        w.sample("bmm_accountd_epoch_close_seconds_total", {}, c->close_seconds_sum);
        w.family("bmm_accountd_epoch_close_last_seconds", "gauge", "Time the last epoch close took (per epoch).");
        w.sample("bmm_accountd_epoch_close_last_seconds", {}, c->last_close_seconds);
    }

    prometheus::write_process_metrics(w);
    w.family("bmm_accountd_api_requests_total", "counter",
             "Requests answered by route (\"\" unknown path, \"-\" refused before routing) and HTTP status.");
    for (const auto& n : server->stats()) {
        w.sample("bmm_accountd_api_requests_total", {{"route", n.route}, {"code", std::to_string(n.status)}}, n.count);
    }
    return w.text();
}

constexpr long long k_max_before_k = 1000000000000LL;

// /api/v1/accounts/{name}/statement: the statement library's bytes
// (statement.hpp), the same `bmm-payout statement` writes. {name} is a holder
// ("alice", "foundation:ecosystem", also sent as foundation%3Aecosystem).
statement::request statement_request(const request& q) {
    only_params(q, {"from", "to", "currency", "format"});
    const std::string_view name = q.path_param("name");
    if (name.empty() || name.size() > 160) {
        throw http_error{400, "an account name has 1 to 128 characters (foundation:<name> for an allocation)"};
    }
    statement::request r;
    r.account = std::string(name);
    for (auto [key, into] : {std::pair{"from", &r.from_us}, std::pair{"to", &r.to_us}}) {
        auto v = param(q, key);
        if (!v) {
            throw http_error{400, std::string("parameter \"") + key +
                                      "\" is required: ISO 8601 UTC (2026-12-01T00:00:00Z) or unix seconds"};
        }
        auto t = statement::parse_time(*v);
        if (!t) {
            throw http_error{400, std::string("parameter \"") + key + "\": " + t.error_message()};
        }
        *into = *t;
    }
    r.currency = param(q, "currency");
    return r;
}

statement::format statement_format(const request& q) {
    const auto name = param(q, "format").value_or("json");
    auto f = statement::parse_format(name);
    if (!f) {
        throw http_error{400, "parameter \"format\" must be json, csv or pdf, not \"" + name.substr(0, 32) + "\""};
    }
    return *f;
}

// Reads the statement in one read-only snapshot; the transaction is over
// (committed or rolled back) before the connection goes back to the pool.
response statement_response(db_pool& pool, const request& q) {
    const statement::request req = statement_request(q);
    const statement::format fmt = statement_format(q);
    auto conn = pool.acquire();
    if (!conn) {
        throw db_failure{conn.error_message(), false};
    }
    std::optional<http_error> refused;
    std::optional<db_failure> failure;
    std::optional<statement::statement> st;
    auto fail = [&](const std::string& m) { failure = db_failure{m, conn->last_sqlstate() == "57014"}; };
    {
        auto tx = pg::transaction::begin(*conn, pg::transaction_mode::read_only_snapshot);
        if (!tx) {
            fail(tx.error_message());
        } else if (auto checked = statement::check_request(*conn, req); !checked) {
            fail(checked.error_message());
        } else if (checked->why != statement::refusal::none) {
            refused = http_error{checked->why == statement::refusal::unknown_account ? 404 : 400, checked->message};
        } else if (auto b = statement::build(*conn, req); !b) {
            if (conn->last_sqlstate().empty()) {
                // Not the database's failure: the statement did not add up.
                log::error("api", "{}: {}", q.path, b.error_message());
                refused = http_error{500, b.error_message()};
            } else {
                fail(b.error_message());
            }
        } else if (auto c = tx->commit(); !c) {
            fail(c.error_message());
        } else {
            st = std::move(*b);
        }
    }
    pool.release(std::move(*conn));
    if (failure) {
        throw *failure;
    }
    if (refused) {
        throw *refused;
    }
    auto body = statement::render(*st, fmt);
    if (!body) {
        throw std::runtime_error(body.error_message());
    }
    response out{200, std::string(statement::content_type(fmt)), std::move(*body), {}};
    if (fmt != statement::format::json) {
        std::string file = "statement-" + req.account + "-" + statement::time_text(req.from_us) + "-" +
                           statement::time_text(req.to_us) + (fmt == statement::format::csv ? ".csv" : ".pdf");
        for (char& c : file) {
            if (c == ':') {
                c = '-';
            }
        }
        out.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + file + "\"");
    }
    return out;
}

// The page's routes (issue 16): its static files and the endpoints above.
template <class Get>
void page_routes(Get& get, db_pool& pool, const accountd_config& cfg) {
    get("/static/{file}", static_file);
    get("/api/v1/pool/facts", [&pool, &cfg](const request& q) {
        only_params(q, {});
        return with_snapshot(pool, [&](snapshot& db) { return pool_facts_json(db, cfg); });
    });
    get("/api/v1/pool/hashrate", [&pool](const request& q) {
        only_params(q, {"window"});
        const auto w = window_param(q);
        return with_snapshot(pool, [&](snapshot& db) { return hashrate_history_json(db, "", w); });
    });
    get("/api/v1/accounts/{name}/hashrate", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"window"});
        const auto w = window_param(q);
        return with_snapshot(pool, [&](snapshot& db) {
            account_row(db, name);
            return hashrate_history_json(db, name, w);
        });
    });
    get("/api/v1/accounts/{name}/dividends", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"limit"});
        const long long limit = limit_param(q);
        return with_snapshot(pool, [&](snapshot& db) { return dividends_json(db, name, limit); });
    });
    get("/api/v1/payments", [&pool](const request& q) {
        only_params(q, {"limit", "before"});
        const long long limit = limit_param(q);
        const auto before = payment_cursor(q);
        return with_snapshot(pool, [&](snapshot& db) { return payments_json(db, "", limit, before); });
    });
    get("/api/v1/accounts/{name}/payments", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"limit", "before"});
        const long long limit = limit_param(q);
        const auto before = payment_cursor(q);
        return with_snapshot(pool, [&](snapshot& db) {
            account_row(db, name);
            return payments_json(db, name, limit, before);
        });
    });
}

// ---------------------------------------------------------------------------
// Self-service wallets (wallet_binding.hpp): the only routes that write.
// ---------------------------------------------------------------------------

// Requests per key (a client address, an account) in fixed one-minute
// windows; take() counts one and answers how many seconds to wait when the
// window is full (0: go ahead).
class rate_limiter {
public:
    explicit rate_limiter(int per_minute) : per_minute_(per_minute) {}

    long long take(const std::string& key) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(m_);
        if (windows_.size() > k_max_keys) {
            std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start >= k_window; });
        }
        auto& w = windows_[key];
        if (w.count == 0 || now - w.start >= k_window) {
            w = {now, 0};
        }
        if (w.count >= per_minute_) {
            const auto left = std::chrono::ceil<std::chrono::seconds>(w.start + k_window - now).count();
            return std::max<long long>(1, left);
        }
        ++w.count;
        return 0;
    }

private:
    static constexpr auto k_window = std::chrono::minutes(1);
    static constexpr std::size_t k_max_keys = 100000;
    struct window {
        std::chrono::steady_clock::time_point start;
        int count = 0;
    };
    int per_minute_;
    std::mutex m_;
    std::map<std::string, window> windows_;
};

struct wallet_routes_state {
    explicit wallet_routes_state(const accountd_config& c)
        : cfg(c),
          per_address(c.api.wallet_requests_per_minute_per_address),
          per_account(c.api.wallet_requests_per_minute_per_account) {}
    const accountd_config& cfg;
    rate_limiter per_address, per_account;
};

http_error too_many(long long wait, const std::string& what) {
    return http_error{429, "too many wallet requests " + what + "; try again in " + std::to_string(wait) + " s"};
}

response with_retry_after(const http_error& e, long long wait) {
    response r = json_error(e.status, e.message);
    r.headers.emplace_back("Retry-After", std::to_string(wait));
    return r;
}

// Runs a change on a connection of its own (the pool's are read-only):
// refusals are 400 with the store's message, a lost database 503.
template <class T, class Fn>
T on_write_connection(const accountd_config& cfg, Fn&& fn) {
    auto db = pg::connection::open(cfg.postgres);
    if (!db) {
        throw db_failure{db.error_message(), false};
    }
    if (auto s = db->exec("SET statement_timeout = " + std::to_string(cfg.api.statement_timeout_ms) +
                          "; SET TimeZone = 'UTC'; SET application_name = 'bmm-accountd-api-wallets'");
        !s) {
        throw db_failure{s.error_message(), false};
    }
    auto r = fn(*db);
    if (!r) {
        if (!db->healthy()) {
            throw db_failure{r.error_message(), false};
        }
        throw http_error{400, r.error_message()};
    }
    return std::move(*r);
}

// A query value as sent; Base64's '+' arrives as ' ' from a form that did
// not percent-encode it, and no signature has spaces.
std::string signature_param(const request& q, std::string_view name) {
    std::string v = param(q, name).value_or("");
    for (char& c : v) {
        if (c == ' ') {
            c = '+';
        }
    }
    return v;
}

response wallet_write(wallet_routes_state& st, const request& q, bool challenge) {
    const std::string name = checked_name(q.path_param("name"));
    if (challenge) {
        only_params(q, {"action", "currency", "address", "share_ppm"});
    } else {
        only_params(
            q, {"nonce", "signature", "claim", "authorizer_currency", "authorizer_address", "authorizer_signature"});
    }
    if (auto wait = st.per_address.take(q.client); wait > 0) {
        return with_retry_after(
            too_many(wait, "from your address (at most " +
                               std::to_string(st.cfg.api.wallet_requests_per_minute_per_address) + " a minute)"),
            wait);
    }
    if (auto wait = st.per_account.take(name); wait > 0) {
        return with_retry_after(
            too_many(wait, "for account " + name + " (at most " +
                               std::to_string(st.cfg.api.wallet_requests_per_minute_per_account) + " a minute)"),
            wait);
    }
    address_validator v(st.cfg);
    json::writer j;
    if (challenge) {
        wallet_change c;
        c.account = name;
        c.action = param(q, "action").value_or("");
        c.currency = param(q, "currency").value_or("");
        c.address = param(q, "address").value_or("");
        const auto share = int_param(q, "share_ppm", 1, k_ppm_total);
        if (share) {
            c.share_ppm = *share;
        }
        if (c.action.empty() || c.currency.empty() || c.address.empty()) {
            throw http_error{400, "a challenge needs action (bind or unbind), currency and address"};
        }
        auto ch = on_write_connection<wallet_challenge>(st.cfg, [&](pg::connection& db) {
            return issue_wallet_challenge(db, v, c, st.cfg.api.pool_name,
                                          std::chrono::seconds(st.cfg.api.wallet_challenge_ttl_s), q.client);
        });
        j.begin_object().key("account").str(name).key("nonce").str(ch.nonce).key("message").str(ch.message);
        j.key("expires_at").str(ch.expires_at).end_object();
    } else {
        wallet_proof p;
        p.nonce = param(q, "nonce").value_or("");
        p.signature = signature_param(q, "signature");
        p.claim = param(q, "claim");
        p.authorizer_currency = param(q, "authorizer_currency");
        p.authorizer_address = param(q, "authorizer_address");
        if (param(q, "authorizer_signature")) {
            p.authorizer_signature = signature_param(q, "authorizer_signature");
        }
        p.client = q.client;
        if (p.nonce.empty()) {
            throw http_error{400, "a change needs the challenge's nonce and the signature (signature=...)"};
        }
        auto d = on_write_connection<wallet_change_done>(
            st.cfg, [&](pg::connection& db) { return apply_wallet_change(db, v, name, p); });
        log::info("api", "wallet {} of {}: {} {} ({} ppm) by {} from {}", d.action, d.account, d.currency, d.address,
                  d.share_ppm, d.proof, q.client);
        j.begin_object().key("account").str(d.account).key("action").str(d.action).key("currency").str(d.currency);
        j.key("address").str(d.address).key("share_ppm").number(d.share_ppm).key("proof").str(d.proof);
        j.key("history_id").number(d.history_id).end_object();
    }
    return response{200, std::string(k_json), j.take() + "\n", {}};
}

std::string wallet_history_json(snapshot& db, const std::string& name, long long limit) {
    auto acc = db.run("SELECT 1 FROM accounts WHERE name = $1", {name});
    if (acc.rows() == 0) {
        throw http_error{404, "no account \"" + name + "\""};
    }
    auto r = db.run(
        "SELECT id, bmm_api_time(at), action, currency, address, share_ppm, proof, authorizer, nonce "
        "FROM wallet_history WHERE account = $1 ORDER BY id DESC LIMIT $2",
        {name, std::to_string(limit)});
    json::writer j;
    j.begin_object().key("account").str(name).key("history").begin_array();
    for (int i = 0; i < r.rows(); ++i) {
        j.begin_object().key("id").raw_number(r.get(i, 0)).key("at").str(r.get(i, 1));
        j.key("action").str(r.get(i, 2)).key("currency").str(r.get(i, 3)).key("address").str(r.get(i, 4));
        j.key("share_ppm");
        if (r.is_null(i, 5)) {
            j.null();
        } else {
            j.raw_number(r.get(i, 5));
        }
        j.key("proof").str(r.get(i, 6)).key("authorizer");
        text_or_null(j, r, i, 7);
        j.key("nonce");
        text_or_null(j, r, i, 8);
        j.end_object();
    }
    j.end_array().end_object();
    return j.take();
}

// The route table. Each handler checks the path and query parameters
// before it takes a connection, then reads one snapshot.
http::router api_routes(db_pool& pool, const accountd_config& cfg, const process_counters* counters,
                        const http::server* const* server, wallet_routes_state& wallets) {
    http::router r;
    using endpoint = std::function<response(const request&)>;
    auto get = [&r](std::string_view pattern, endpoint e) {
        r.add("GET", pattern, [e = std::move(e)](const request& q) { return guarded(q, [&] { return e(q); }); });
    };
    get("/", index_page);
    get("/index.html", index_page);
    get("/api/v1/pool", [&pool, &cfg](const request& q) {
        only_params(q, {});
        return with_snapshot(pool, [&cfg](snapshot& db) { return pool_stats(db, cfg); });
    });
    get("/api/v1/blocks", [&pool, &cfg](const request& q) {
        only_params(q, {"limit", "before"});
        const long long limit = limit_param(q);
        const auto before = param(q, "before");
        if (before) {
            (void)parse_ledger_cursor(*before);
        }
        return with_snapshot(pool, [&](snapshot& db) { return blocks_json(db, cfg, limit, before); });
    });
    page_routes(get, pool, cfg);
    get("/api/v1/epochs", [&pool](const request& q) {
        only_params(q, {"limit", "before"});
        const long long limit = limit_param(q);
        const auto before = int_param(q, "before", 0, k_max_before_k);
        return with_snapshot(pool, [&](snapshot& db) { return epochs_json(db, limit, before); });
    });
    get("/api/v1/voting-power", [&pool](const request& q) {
        only_params(q, {"epoch", "limit", "after"});
        const auto epoch = int_param(q, "epoch", 0, k_max_before_k);
        const long long limit = int_param(q, "limit", 1, k_max_limit).value_or(k_max_limit);
        auto after = param(q, "after");
        if (after) {
            (void)checked_name(*after);
        }
        return with_snapshot(pool, [&](snapshot& db) { return voting_power_json(db, epoch, limit, after); });
    });
    get("/api/v1/accounts/{name}", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {});
        return with_snapshot(pool, [&](snapshot& db) { return account_info_json(db, name); });
    });
    get("/api/v1/accounts/{name}/workers", [&pool, &cfg](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"limit", "after"});
        const long long limit = limit_param(q);
        const auto after = param(q, "after");
        return with_snapshot(
            pool, [&](snapshot& db) { return workers_json(db, name, cfg.web.offline_after_minutes, limit, after); });
    });
    get("/api/v1/accounts/{name}/epochs", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"limit", "before"});
        const long long limit = limit_param(q);
        const auto before = int_param(q, "before", 0, k_max_before_k);
        return with_snapshot(pool, [&](snapshot& db) { return account_epochs_json(db, name, limit, before); });
    });
    get("/api/v1/accounts/{name}/ledger", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"limit", "before"});
        const long long limit = limit_param(q);
        const auto before = param(q, "before");
        if (before) {
            (void)parse_ledger_cursor(*before);
        }
        return with_snapshot(pool, [&](snapshot& db) { return ledger_json(db, name, limit, before); });
    });
    get("/api/v1/accounts/{name}/statement", [&pool](const request& q) { return statement_response(pool, q); });
    get("/api/v1/accounts/{name}/wallets/history", [&pool](const request& q) {
        const std::string name = checked_name(q.path_param("name"));
        only_params(q, {"limit"});
        const long long limit = limit_param(q);
        return with_snapshot(pool, [&](snapshot& db) { return wallet_history_json(db, name, limit); });
    });
    for (const bool challenge : {true, false}) {
        r.add("POST",
              challenge ? "/api/v1/accounts/{name}/wallets/challenge" : "/api/v1/accounts/{name}/wallets/change",
              [&wallets, challenge](const request& q) {
                  return guarded(q, [&] { return wallet_write(wallets, q, challenge); });
              });
    }
    get("/metrics", [&pool, &cfg, counters, server](const request& q) {
        only_params(q, {});
        return response{
            200, "text/plain; version=0.0.4; charset=utf-8", metrics_page(pool, cfg, counters, *server), {}};
    });
    r.on_not_found([](const request& q) { return guarded(q, [&] { return not_found(q); }); });
    r.on_method_not_allowed([](const request&) { return method_not_allowed(); });
    return r;
}

}  // namespace

// ---------------------------------------------------------------------------
// 5. The HTTP server (the common one, bmm/http/server.hpp)
// ---------------------------------------------------------------------------

struct api_server::impl {
    accountd_config cfg;
    const process_counters* counters;
    db_pool pool;
    std::unique_ptr<http::server> server;
    // /metrics reads the server's request counts, but its route is made
    // before the server exists: the route holds this pointer's address, set
    // once the server is made and before it starts.
    const http::server* server_ptr = nullptr;
    wallet_routes_state wallets;

    impl(const accountd_config& c, const process_counters* pc)
        : cfg(c),
          counters(pc),
          pool(c.api.read_postgres ? *c.api.read_postgres : c.postgres, c.api.statement_timeout_ms,
               static_cast<std::size_t>(c.api.threads)),
          wallets(cfg) {}
};

api_server::api_server(const accountd_config& c, const process_counters* counters)
    : impl_(std::make_unique<impl>(c, counters)) {}

api_server::~api_server() { stop(); }

result<bool> api_server::start() {
    const auto& a = impl_->cfg.api;
    http::server_options o;
    o.host = a.host;
    o.port = static_cast<std::uint16_t>(a.port);
    o.names_allowed = true;
    o.setting = "[api]";
    o.threads = static_cast<unsigned>(a.threads);
    o.max_clients = static_cast<unsigned>(a.max_connections);
    o.max_clients_per_address = static_cast<unsigned>(a.max_connections_per_address);
    o.max_header_bytes = k_max_header_bytes;
    o.request_timeout = std::chrono::seconds(a.connection_timeout_s);
    o.keep_alive = true;
    o.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
    if (a.cors) {
        o.headers.emplace_back("Access-Control-Allow-Origin", "*");
    }
    impl_->server = std::make_unique<http::server>(
        std::move(o), api_routes(impl_->pool, impl_->cfg, impl_->counters, &impl_->server_ptr, impl_->wallets));
    impl_->server_ptr = impl_->server.get();
    if (auto s = impl_->server->start(); !s) {
        impl_->server.reset();
        return error{"cannot serve the API: " + s.error_message()};
    }
    log::info("api",
              "serving http://{}:{}/ ({} threads, statement timeout {} ms, reads from PostgreSQL {}, writes to {})",
              a.host, impl_->server->port(), a.threads, a.statement_timeout_ms,
              (a.read_postgres ? *a.read_postgres : impl_->cfg.postgres).describe(), impl_->cfg.postgres.describe());
    return true;
}

void api_server::stop() {
    if (impl_ && impl_->server) {
        impl_->server->stop();
    }
}

int run_api(const accountd_config& c, const std::atomic<bool>& stop) {
    api_server server(c);
    if (auto s = server.start(); !s) {
        log::error("api", "{}", s.error_message());
        return 1;
    }
    while (!stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    server.stop();
    log::info("api", "stopped");
    return 0;
}

}  // namespace bmm::accounting
