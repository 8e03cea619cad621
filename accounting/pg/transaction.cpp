#include "bmm/pg/transaction.hpp"

namespace bmm::pg {

result<transaction> transaction::begin(connection& db, transaction_mode mode) {
    if (!db.healthy()) return error{"PostgreSQL: the connection is not open; reconnect and retry"};
    if (db.in_transaction())
        return error{"PostgreSQL: the connection is inside a transaction already; finish it before beginning another"};
    const char* begin_sql =
        mode == transaction_mode::read_only_snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN";
    if (auto r = db.exec(begin_sql); !r) return error{r.error_message()};
    transaction tx(db);
    // A transaction-pooled connection (settings::transaction_pooling) keeps
    // no session settings: they are set for this transaction only.
    if (!db.per_transaction_sql().empty()) {
        if (auto r = db.exec(db.per_transaction_sql()); !r) {
            return error{r.error_message()};
        }
    }
    return tx;
}

transaction::~transaction() { rollback(); }

void transaction::rollback() noexcept {
    if (!db_) return;
    (void)db_->exec("ROLLBACK");
    db_ = nullptr;
}

result<bool> transaction::commit() {
    if (!db_) return error{"PostgreSQL: COMMIT of a transaction that is over already"};
    auto r = db_->exec("COMMIT");
    if (!r) {
        rollback();  // a failed COMMIT may leave the session in the aborted transaction
        return error{r.error_message()};
    }
    db_ = nullptr;
    return true;
}

}  // namespace bmm::pg
