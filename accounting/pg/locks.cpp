#include "bmm/pg/locks.hpp"

#include <string>

namespace bmm::pg {

result<advisory_lock> advisory_lock::take(connection& db, const lock_key& key) {
    if (auto r = db.exec(std::string("SELECT pg_advisory_lock(") + key.sql + ")"); !r)
        return error{std::string("taking ") + key.what + ": " + r.error_message()};
    return advisory_lock(db, key);
}

result<std::optional<advisory_lock>> advisory_lock::try_take(connection& db, const lock_key& key) {
    auto r = db.exec(std::string("SELECT pg_try_advisory_lock(") + key.sql + ")");
    if (!r) return error{std::string("taking ") + key.what + ": " + r.error_message()};
    if (r->text(0, 0) != "t") return std::optional<advisory_lock>();
    return std::optional<advisory_lock>(advisory_lock(db, key));
}

advisory_lock::~advisory_lock() {
    if (db_) (void)db_->exec(std::string("SELECT pg_advisory_unlock(") + key_.sql + ")");
}

result<bool> lock_shared_for_transaction(connection& db, const lock_key& key) {
    if (auto r = db.exec(std::string("SELECT pg_advisory_xact_lock_shared(") + key.sql + ")"); !r)
        return error{std::string("taking ") + key.what + " (shared): " + r.error_message()};
    return true;
}

}  // namespace bmm::pg
