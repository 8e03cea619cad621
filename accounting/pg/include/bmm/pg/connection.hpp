#pragma once
// The PostgreSQL layer (bmm_pg): one connection, results as rows of text,
// COPY FROM STDIN, and errors that say which statement failed against which
// server. Transactions: transaction.hpp; advisory locks and their keys:
// locks.hpp; COPY fields, timestamps and arrays as text: text.hpp.
// Not thread-safe: one connection per thread.

#include "bmm/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace bmm::pg {

struct settings {
    std::string host = "127.0.0.1";
    int port = 5432;
    std::string user;
    std::string dbname;
    std::string password;
    std::string application_name = "bmm-accountd";  // shown in pg_stat_activity
    // libpq connection string (keyword=value, values quoted); the session's
    // time zone is UTC, and the environment's PGOPTIONS are added after that.
    std::string conninfo() const;
    std::string describe() const;  // "user@host:port/db", for messages
};

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

private:
    struct closer {
        void operator()(pg_conn* c) const noexcept;
    };
    result<row_set> check(pg_result* r, std::string_view sql);
    std::unique_ptr<pg_conn, closer> c_;
    std::string where_;
    std::string sqlstate_;
};

}  // namespace bmm::pg
