#pragma once
// Transaction scopes on one connection: the one way the daemons open, commit
// and roll back a transaction.

#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <utility>

namespace bmm::pg {

// What a transaction may do and what it sees.
enum class transaction_mode {
    // BEGIN: reads and writes, at the server's default isolation (READ COMMITTED).
    read_write,
    // BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY: every statement sees the
    // database as of the transaction's first statement, and none may write
    // (the read API: one consistent answer from several queries).
    read_only_snapshot,
};

// An open transaction. commit() ends it; a scope left without commit() (an
// error, an early return) rolls it back, so a failed step stores nothing.
class transaction {
public:
    // Errors when the connection is not open or already inside a transaction.
    static result<transaction> begin(connection& db, transaction_mode mode = transaction_mode::read_write);
    transaction(transaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
    transaction& operator=(transaction&&) = delete;
    ~transaction();

    connection& db() const noexcept { return *db_; }
    // COMMIT. On failure the transaction is rolled back and over either way.
    result<bool> commit();
    // ROLLBACK now (the destructor does it otherwise).
    void rollback() noexcept;

private:
    explicit transaction(connection& db) : db_(&db) {}
    connection* db_;
};

// Runs `body()` (returning result<T>) inside BEGIN ... COMMIT; rolls back when
// the body or the commit fails, and returns the body's result or the failure.
template <class Body>
auto in_transaction(connection& db, Body&& body, transaction_mode mode = transaction_mode::read_write)
    -> decltype(body()) {
    auto tx = transaction::begin(db, mode);
    if (!tx) return error{tx.error_message()};
    auto out = body();
    if (!out) return out;  // ~transaction rolls back
    if (auto c = tx->commit(); !c) return error{c.error_message()};
    return out;
}

}  // namespace bmm::pg
