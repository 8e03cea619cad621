#pragma once
// PostgreSQL advisory locks: every key the programs take, in one place, and
// scopes that release them.
//
// Keys are SQL expressions PostgreSQL turns into the bigint key, so that a
// person reading pg_locks can find them here.

#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <optional>
#include <string_view>
#include <utility>

namespace bmm::pg {

struct lock_key {
    const char* sql;   // the key as SQL
    const char* what;  // for messages
};

// `bmm-accountd migrate` (and every start): concurrent runs apply each migration once.
inline constexpr lock_key k_migrations_lock{"7418839210017", "the schema migrations lock"};
// The ledger thread: one bmm-accountd per database books the ledger.
inline constexpr lock_key k_ledger_lock{"hashtext('bmm-accountd ledger')", "the ledger lock"};
// Between an epoch's close (exclusive, from reading its shares to committing
// its close) and the ingest (shared, in each transaction that stores shares):
// a share is either read by its epoch's close or sees that epoch closed.
inline constexpr lock_key k_epoch_close_lock{"hashtext('bmm-accountd epoch close')", "the epoch close lock"};

// bmm-payout: one payout run per currency at a time (plan, approve, export,
// settle, execute, reconcile, bump), held for the whole command. The key is
// hashtext('bmm-payout <CUR>'), e.g. hashtext('bmm-payout LTC'). The returned
// key's strings live for the whole process (one pair per currency asked for).
lock_key payout_lock(std::string_view currency);

// A session-level advisory lock, held until the scope ends (then unlocked;
// a dropped connection releases it too).
class advisory_lock {
public:
    // Waits for the lock.
    static result<advisory_lock> take(connection& db, const lock_key& key);
    // Takes the lock if it is free; an empty optional when another session holds it.
    static result<std::optional<advisory_lock>> try_take(connection& db, const lock_key& key);
    advisory_lock(advisory_lock&& o) noexcept : db_(std::exchange(o.db_, nullptr)), key_(o.key_) {}
    advisory_lock& operator=(advisory_lock&&) = delete;
    ~advisory_lock();

private:
    advisory_lock(connection& db, const lock_key& key) : db_(&db), key_(key) {}
    connection* db_;
    lock_key key_;
};

// The lock, shared, until the current transaction ends (call inside one).
result<bool> lock_shared_for_transaction(connection& db, const lock_key& key);

}  // namespace bmm::pg
