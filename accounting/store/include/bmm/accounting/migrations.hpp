#pragma once
// Schema migrations: sql/NNNN_name.sql, applied in order, each in its own
// transaction together with its row in schema_migrations (version, name,
// SHA-256 of the file), so a migration never runs twice. An applied
// migration whose file has changed, or a database holding a migration this
// build does not have, stops everything with an error that says what to do.
// Concurrent runs serialize on an advisory lock.

#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <string>
#include <vector>

namespace bmm::accounting {

struct migration_file {
    int version = 0;
    std::string name;  // file name, e.g. "0002_shares.sql"
    std::string sql;
    std::string checksum;  // SHA-256 of the file, hex
};

// The migrations in `dir`, by version. Errors on unreadable files, names not
// of the form NNNN_name.sql, and two files with one version.
result<std::vector<migration_file>> load_migrations(const std::string& dir);

struct migrate_report {
    std::vector<std::string> applied;  // names applied now
    int already = 0;                   // migrations found applied before
};

// Applies the pending migrations of `dir` (checking the applied ones first).
result<migrate_report> migrate(pg::connection& db, const std::string& dir);

// Checks without changing anything that the database has exactly the
// migrations of `dir`; the error names what is missing or changed and says
// to run `bmm-accountd migrate` (for commands that must not migrate).
result<bool> check_schema(pg::connection& db, const std::string& dir);

}  // namespace bmm::accounting
