#include "bmm/pg/connection.hpp"

#include "bmm/log.hpp"

#include <libpq-fe.h>

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

std::string settings::conninfo() const {
    std::string s = "host=" + quote(host);
    s += " port=" + std::to_string(port);
    if (!user.empty()) s += " user=" + quote(user);
    if (!dbname.empty()) s += " dbname=" + quote(dbname);
    if (!password.empty()) s += " password=" + quote(password);
    // options= replaces libpq's PGOPTIONS, so the environment's options are
    // kept after ours (e.g. PGOPTIONS='-c search_path=x': the tests give each
    // test and the programs it starts a schema of its own that way).
    std::string options = "-c TimeZone=UTC";
    if (const char* env = std::getenv("PGOPTIONS"); env != nullptr && *env != '\0') {
        options += ' ';
        options += env;
    }
    s += " connect_timeout=10 options=" + quote(options);
    if (!application_name.empty()) s += " application_name=" + quote(application_name);
    return s;
}

std::string settings::describe() const {
    std::string s = user;
    s += '@';
    s += host;
    s += ':';
    s += std::to_string(port);
    s += '/';
    s += dbname;
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
        return error{"cannot connect to PostgreSQL " + s.describe() + ": " + msg +
                     " (check [postgres] in the configuration and that the server runs)"};
    }
    // Server notices ("relation ... already exists, skipping") go to the debug log.
    PQsetNoticeProcessor(
        c, [](void*, const char* msg) { bmm::log::debug("postgres", "{}", trim(msg)); }, nullptr);
    connection pc;
    pc.c_.reset(c);
    pc.where_ = s.describe();
    return pc;
}

bool connection::healthy() const noexcept { return c_ && PQstatus(raw(c_.get())) == CONNECTION_OK; }

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
    if (!ok) return error{"PostgreSQL " + where_ + ": " + msg + " (in: " + first_line(copy_sql) + ")"};
    return true;
}


}  // namespace bmm::pg
