#pragma once
// The PostgreSQL layer (bmm_pg): one connection, results as rows of text,
// COPY FROM STDIN, and errors that say which statement failed against which
// server. Transactions: transaction.hpp; advisory locks and their keys:
// locks.hpp; COPY fields, timestamps and arrays as text: text.hpp.
// Not thread-safe: one connection per thread.

#include "bmm/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pg_conn;
struct pg_result;

namespace bmm::pg {

struct settings {
    std::string host = "127.0.0.1";
    int port = 5432;
    // Several servers ("10.77.0.31:5432", "[::1]:5432"): libpq tries them in
    // order and keeps the first whose session matches target_session_attrs
    // (a failover moves the primary; the next connection finds it). When set,
    // host/port are not used.
    std::vector<std::string> hosts;
    // libpq's target_session_attrs: any, read-write, read-only, primary,
    // standby, prefer-standby; "" = "read-write" with hosts, libpq's default
    // (any) without.
    std::string target_session_attrs;
    // A PgBouncer in transaction pooling in front: every transaction may run
    // on another server session, so nothing is set per session. The time zone
    // and PGOPTIONS' "-c name=value" settings are not sent at connect time
    // (PgBouncer refuses `options`) but SET LOCAL at the start of each
    // transaction (transaction.hpp); statements run unnamed (PQexecParams).
    bool transaction_pooling = false;
    // How long work that failed by a failover is run again (retry.hpp) before
    // a command gives up; the daemons never give up.
    int failover_retry_seconds = 60;
    std::string user;
    std::string dbname;
    std::string password;
    std::string application_name = "bmm-accountd";  // shown in pg_stat_activity
    // libpq connection string (keyword=value, values quoted); the session's
    // time zone is UTC, and the environment's PGOPTIONS are added after that.
    std::string conninfo() const;
    std::string describe() const;  // "user@host:port/db" (hosts joined by ','), for messages
    // What each transaction sets with SET LOCAL on a transaction-pooled
    // connection ("" otherwise): the time zone and PGOPTIONS' -c settings.
    std::string per_transaction_sql() const;
};

// Splits "host:port" (IPv6 in brackets, "[::1]:5432"; the port defaults to
// 5432) for [postgres] hosts; an error names the entry and the form.
result<std::pair<std::string, int>> parse_host_port(std::string_view entry);

// The server went away or cannot take writes: a failover, a restart or a
// cut network. SQLSTATE class 08 (connection exception), 57P01 admin
// shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 25006 read-only
// transaction (connected to a standby, or a primary demoted under us), or
// no SQLSTATE on a connection that is no longer open.
bool is_failover_sqlstate(std::string_view sqlstate) noexcept;
// 40001 serialization failure, 40P01 deadlock: run the transaction again.
bool is_conflict_sqlstate(std::string_view sqlstate) noexcept;

// The rows of a finished statement, as text (NULL as an empty optional).
class row_set {
public:
    row_set() = default;
    explicit row_set(pg_result* r);
    int rows() const;
    int columns() const;
    bool is_null(int row, int col) const;
    std::string_view get(int row, int col) const;
    std::string text(int row, int col) const { return std::string(get(row, col)); }
    long long integer(int row, int col) const;
    long long affected() const;  // rows an INSERT/UPDATE/DELETE touched

private:
    std::shared_ptr<pg_result> r_;
};

class connection {
public:
    static result<connection> open(const settings& s);
    connection() = default;
    connection(connection&&) noexcept = default;
    connection& operator=(connection&&) noexcept = default;

    bool is_open() const noexcept { return c_ != nullptr; }
    bool healthy() const noexcept;  // the connection has not failed
    // Inside a transaction block (or a failed one not yet rolled back).
    bool in_transaction() const noexcept;

    // One or more statements without parameters (migrations, BEGIN/COMMIT).
    result<row_set> exec(std::string_view sql);
    // One statement with text parameters ($1, $2, ...); nullopt is NULL.
    result<row_set> exec(std::string_view sql, const std::vector<std::optional<std::string>>& params);
    // COPY ... FROM STDIN with `data` in COPY's text format.
    result<bool> copy_in(std::string_view copy_sql, std::string_view data);

    // The SQLSTATE of the last failed statement ("" when unknown).
    const std::string& last_sqlstate() const noexcept { return sqlstate_; }
    // A statement on this connection failed because the server went away or
    // turned read-only (is_failover_sqlstate), or the connection is no longer
    // healthy: it stays so (a ROLLBACK after it does not clear it); the work
    // is worth running again from the start on a new connection.
    bool failed_by_failover() const noexcept;
    // Run at the start of every transaction (transaction.hpp): the settings'
    // per_transaction_sql() and what also_per_transaction() added.
    const std::string& per_transaction_sql() const noexcept { return per_tx_; }
    // Adds a statement (e.g. "SET LOCAL statement_timeout = 5000") to it.
    void also_per_transaction(std::string_view sql);

private:
    struct closer {
        void operator()(pg_conn* c) const noexcept;
    };
    result<row_set> check(pg_result* r, std::string_view sql);
    std::unique_ptr<pg_conn, closer> c_;
    std::string where_;
    std::string sqlstate_;
    std::string per_tx_;
    bool failover_ = false;
};

// Failures this thread's connections took for a failover so far (failed
// connects included): work that failed can tell a failover from its own error.
std::uint64_t failovers_seen() noexcept;

}  // namespace bmm::pg
