#include "bmm/pg/connection.hpp"

#include "bmm/log.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>

// libpq's PGconn and PGresult are `struct pg_conn` and `struct pg_result`,
// which pg.hpp declares so that it need not include libpq-fe.h.

namespace bmm::pg {
namespace {

std::string quote(const std::string& v) {
    std::string s = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') s += '\\';
        s += c;
    }
    s += '\'';
    return s;
}

PGconn* raw(pg_conn* c) { return c; }
PGresult* raw(pg_result* r) { return r; }

std::string first_line(std::string_view sql) {
    std::string s(sql.substr(0, std::min<std::size_t>(sql.find('\n'), 80)));
    return s;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

result<std::pair<std::string, int>> parse_host_port(std::string_view entry) {
    auto bad = [&](const std::string& why) -> result<std::pair<std::string, int>> {
        return error{"\"" + std::string(entry.substr(0, 100)) + "\" " + why +
                     ": write host:port, e.g. \"10.77.0.31:5432\" or \"[::1]:5432\""};
    };
    std::string host;
    std::string_view rest;
    if (!entry.empty() && entry.front() == '[') {
        const auto close = entry.find(']');
        if (close == std::string_view::npos) {
            return bad("has no ']' after its IPv6 address");
        }
        host = std::string(entry.substr(1, close - 1));
        rest = entry.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return bad("has text after ']' that is not :port");
        }
    } else {
        const auto colon = entry.rfind(':');
        if (colon != std::string_view::npos && entry.find(':') != colon) {
            return bad("looks like an IPv6 address without brackets");
        }
        host = std::string(entry.substr(0, colon));
        rest = colon == std::string_view::npos ? std::string_view() : entry.substr(colon);
    }
    if (host.empty()) {
        return bad("has no host");
    }
    for (char c : host) {
        if (c == ',' || c == ' ' || c == '\'' || c == '\\' || c == '=') {
            return bad("has a character a host name cannot have");
        }
    }
    int port = 5432;
    if (!rest.empty()) {
        const std::string_view digits = rest.substr(1);
        bool ok = !digits.empty() && digits.size() <= 5;
        int v = 0;
        for (char c : digits) {
            ok = ok && c >= '0' && c <= '9';
            v = ok ? v * 10 + (c - '0') : v;
        }
        if (!ok || v < 1 || v > 65535) {
            return bad("has no port from 1 to 65535 after ':'");
        }
        port = v;
    }
    return std::make_pair(host, port);
}

bool is_failover_sqlstate(std::string_view s) noexcept {
    return s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03" || s == "25006";
}

bool is_conflict_sqlstate(std::string_view s) noexcept { return s == "40001" || s == "40P01"; }

namespace {

thread_local std::uint64_t g_failovers = 0;

// The hosts and ports of the settings, as libpq's comma-separated lists.
std::pair<std::string, std::string> host_lists(const settings& st) {
    if (st.hosts.empty()) {
        return {st.host, std::to_string(st.port)};
    }
    std::string hosts, ports;
    for (const auto& h : st.hosts) {
        auto hp = parse_host_port(h);  // checked when the configuration was read
        hosts += (hosts.empty() ? "" : ",") + (hp ? hp->first : h);
        ports += (ports.empty() ? "" : ",") + std::to_string(hp ? hp->second : 5432);
    }
    return {hosts, ports};
}

// PGOPTIONS' "-c name=value" (or "-cname=value", "--name=value") settings.
std::vector<std::pair<std::string, std::string>> pgoptions_settings() {
    std::vector<std::pair<std::string, std::string>> out;
    const char* env = std::getenv("PGOPTIONS");
    if (env == nullptr) {
        return out;
    }
    std::vector<std::string> words;
    std::string w;
    for (const char* p = env; *p != '\0'; ++p) {
        if (*p == ' ' || *p == '\t') {
            if (!w.empty()) {
                words.push_back(std::move(w));
                w.clear();
            }
        } else {
            w += *p;
        }
    }
    if (!w.empty()) {
        words.push_back(std::move(w));
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string kv;
        if (words[i] == "-c" && i + 1 < words.size()) {
            kv = words[++i];
        } else if (words[i].starts_with("-c")) {
            kv = words[i].substr(2);
        } else if (words[i].starts_with("--")) {
            kv = words[i].substr(2);
        }
        const auto eq = kv.find('=');
        if (eq != std::string::npos && eq > 0) {
            out.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        }
    }
    return out;
}

}  // namespace

std::uint64_t failovers_seen() noexcept { return g_failovers; }

std::string settings::conninfo() const {
    const auto [hosts_text, ports_text] = host_lists(*this);
    std::string s = "host=" + quote(hosts_text);
    s += " port=" + quote(ports_text);
    if (!user.empty()) s += " user=" + quote(user);
    if (!dbname.empty()) s += " dbname=" + quote(dbname);
    if (!password.empty()) s += " password=" + quote(password);
    s += " connect_timeout=10";
    if (!target_session_attrs.empty() || !hosts.empty()) {
        s += " target_session_attrs=" + quote(target_session_attrs.empty() ? "read-write" : target_session_attrs);
    }
    if (!transaction_pooling) {
        // options= replaces libpq's PGOPTIONS, so the environment's options are
        // kept after ours (e.g. PGOPTIONS='-c search_path=x': the tests give each
        // test and the programs it starts a schema of its own that way).
        std::string options = "-c TimeZone=UTC";
        if (const char* env = std::getenv("PGOPTIONS"); env != nullptr && *env != '\0') {
            options += ' ';
            options += env;
        }
        s += " options=" + quote(options);
    }
    if (!application_name.empty()) s += " application_name=" + quote(application_name);
    return s;
}

std::string settings::per_transaction_sql() const {
    if (!transaction_pooling) {
        return {};
    }
    auto literal = [](std::string_view v) {
        std::string q = "'";
        for (char c : v) {
            q += c;
            if (c == '\'') {
                q += c;
            }
        }
        return q + "'";
    };
    std::string s = "SELECT set_config('TimeZone', 'UTC', true)";
    for (const auto& [name, value] : pgoptions_settings()) {
        s += ", set_config(" + literal(name) + ", " + literal(value) + ", true)";
    }
    return s;
}

std::string settings::describe() const {
    std::string s = user;
    s += '@';
    if (hosts.empty()) {
        s += host;
        s += ':';
        s += std::to_string(port);
    } else {
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            s += (i ? "," : "") + hosts[i];
        }
    }
    s += '/';
    s += dbname;
    if (transaction_pooling) {
        s += " (transaction pooling)";
    }
    return s;
}

row_set::row_set(pg_result* r) : r_(r, [](pg_result* p) { PQclear(raw(p)); }) {}
int row_set::rows() const { return r_ ? PQntuples(raw(r_.get())) : 0; }
int row_set::columns() const { return r_ ? PQnfields(raw(r_.get())) : 0; }
bool row_set::is_null(int row, int col) const { return PQgetisnull(raw(r_.get()), row, col) != 0; }
std::string_view row_set::get(int row, int col) const {
    return {PQgetvalue(raw(r_.get()), row, col), static_cast<std::size_t>(PQgetlength(raw(r_.get()), row, col))};
}
long long row_set::integer(int row, int col) const { return std::atoll(PQgetvalue(raw(r_.get()), row, col)); }
long long row_set::affected() const {
    const char* n = r_ ? PQcmdTuples(raw(r_.get())) : "";
    return *n ? std::atoll(n) : 0;
}

void connection::closer::operator()(pg_conn* c) const noexcept { PQfinish(raw(c)); }

result<connection> connection::open(const settings& s) {
    PGconn* c = PQconnectdb(s.conninfo().c_str());
    if (!c) return error{"PostgreSQL " + s.describe() + ": out of memory"};
    if (PQstatus(c) != CONNECTION_OK) {
        std::string msg = trim(PQerrorMessage(c));
        PQfinish(c);
        ++g_failovers;
        return error{"cannot connect to PostgreSQL " + s.describe() + ": " + msg +
                     " (check [postgres] in the configuration and that the server runs)"};
    }
    // Server notices ("relation ... already exists, skipping") go to the debug log.
    PQsetNoticeProcessor(
        c, [](void*, const char* msg) { bmm::log::debug("postgres", "{}", trim(msg)); }, nullptr);
    connection pc;
    pc.c_.reset(c);
    pc.where_ = s.describe();
    pc.per_tx_ = s.per_transaction_sql();
    return pc;
}

bool connection::healthy() const noexcept { return c_ && PQstatus(raw(c_.get())) == CONNECTION_OK; }

bool connection::failed_by_failover() const noexcept { return !healthy() || failover_; }

void connection::also_per_transaction(std::string_view sql) {
    if (!per_tx_.empty()) {
        per_tx_ += "; ";
    }
    per_tx_ += sql;
}

bool connection::in_transaction() const noexcept { return c_ && PQtransactionStatus(raw(c_.get())) != PQTRANS_IDLE; }

result<row_set> connection::check(pg_result* r, std::string_view sql) {
    row_set rows(r);
    const ExecStatusType st = r ? PQresultStatus(raw(r)) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) {
        sqlstate_.clear();
        return rows;
    }
    const char* state = r ? PQresultErrorField(raw(r), PG_DIAG_SQLSTATE) : nullptr;
    sqlstate_ = state ? state : "";
    std::string msg = r ? trim(PQresultErrorMessage(raw(r))) : trim(PQerrorMessage(raw(c_.get())));
    if (msg.empty()) msg = trim(PQerrorMessage(raw(c_.get())));
    if (!healthy() || is_failover_sqlstate(sqlstate_)) {
        failover_ = true;
        ++g_failovers;
    }
    return error{"PostgreSQL " + where_ + ": " + msg + " (in: " + first_line(sql) + ")"};
}

result<row_set> connection::exec(std::string_view sql) {
    if (!c_) return error{"PostgreSQL: not connected"};
    const std::string text(sql);
    return check((PQexec(raw(c_.get()), text.c_str())), sql);
}

result<row_set> connection::exec(std::string_view sql, const std::vector<std::optional<std::string>>& params) {
    if (!c_) return error{"PostgreSQL: not connected"};
    const std::string text(sql);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return check((PQexecParams(raw(c_.get()), text.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                               nullptr, nullptr, 0)),
                 sql);
}

result<bool> connection::copy_in(std::string_view copy_sql, std::string_view data) {
    auto started = exec(copy_sql);
    if (!started) return error{started.error_message()};
    PGconn* c = raw(c_.get());
    constexpr std::size_t chunk = 1u << 20;
    for (std::size_t off = 0; off < data.size(); off += chunk) {
        const std::size_t n = std::min(chunk, data.size() - off);
        if (PQputCopyData(c, data.data() + off, static_cast<int>(n)) != 1)
            return error{"PostgreSQL " + where_ + ": COPY failed: " + trim(PQerrorMessage(c))};
    }
    if (PQputCopyEnd(c, nullptr) != 1)
        return error{"PostgreSQL " + where_ + ": COPY failed: " + trim(PQerrorMessage(c))};
    // The COPY's own result, then the end of the command.
    bool ok = true;
    std::string msg;
    while (PGresult* r = PQgetResult(c)) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            ok = false;
            const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            sqlstate_ = state ? state : "";
            msg = trim(PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    if (!ok) {
        if (!healthy() || is_failover_sqlstate(sqlstate_)) {
            failover_ = true;
            ++g_failovers;
        }
        return error{"PostgreSQL " + where_ + ": " + msg + " (in: " + first_line(copy_sql) + ")"};
    }
    return true;
}


}  // namespace bmm::pg
