#include "bmm/pg/locks.hpp"

#include <map>
#include <mutex>
#include <string>

namespace bmm::pg {

lock_key payout_lock(std::string_view currency) {
    // lock_key holds C strings (so that the fixed keys stay constexpr): the
    // texts of each currency's key are kept here for the process's lifetime.
    static std::mutex m;
    static std::map<std::string, std::pair<std::string, std::string>, std::less<>> keys;
    std::lock_guard<std::mutex> hold(m);
    auto it = keys.find(currency);
    if (it == keys.end()) {
        std::string name(currency);
        std::string quoted;
        for (char c : name) {
            quoted += c;
            if (c == '\'') {
                quoted += c;
            }
        }
        it = keys.emplace(name, std::make_pair("hashtext('bmm-payout " + quoted + "')",
                                               "the payout lock of " + name + " (one payout run per currency)"))
                 .first;
    }
    return lock_key{it->second.first.c_str(), it->second.second.c_str()};
}

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
