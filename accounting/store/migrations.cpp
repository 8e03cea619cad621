#include "bmm/accounting/migrations.hpp"

#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/locks.hpp"
#include "bmm/pg/transaction.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace bmm::accounting {
namespace {}  // namespace

result<std::vector<migration_file>> load_migrations(const std::string& dir) {
    std::error_code ec;
    std::vector<migration_file> out;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) return error{"migrations folder " + dir + ": " + ec.message() + " (set [postgres] migrations_dir)"};
    for (const auto& e : it) {
        const std::string name = e.path().filename().string();
        if (e.path().extension() != ".sql") continue;
        if (name.size() < 10 || name[4] != '_' ||
            !std::all_of(name.begin(), name.begin() + 4, [](char c) { return c >= '0' && c <= '9'; }))
            return error{"migration " + e.path().string() + ": the name must be NNNN_what.sql, e.g. 0006_payouts.sql"};
        std::ifstream f(e.path(), std::ios::binary);
        if (!f) return error{"migration " + e.path().string() + ": cannot read it"};
        std::stringstream ss;
        ss << f.rdbuf();
        migration_file m;
        m.version = std::stoi(name.substr(0, 4));
        m.name = name;
        m.sql = ss.str();
        const auto h = crypto::sha256_once(
            std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(m.sql.data()), m.sql.size()));
        m.checksum = to_hex(h);
        out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < out.size(); ++i)
        if (out[i].version == out[i - 1].version)
            return error{"migrations " + out[i - 1].name + " and " + out[i].name +
                         " have the same number; renumber one"};
    if (out.empty()) return error{"migrations folder " + dir + " holds no NNNN_name.sql files"};
    return out;
}

result<migrate_report> migrate(pg::connection& db, const std::string& dir) {
    auto files = load_migrations(dir);
    if (!files) return error{files.error_message()};
    if (auto r = db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())");
        !r)
        return error{r.error_message()};
    // Session lock: held across the per-migration transactions below.
    auto lock = pg::advisory_lock::take(db, pg::k_migrations_lock);
    if (!lock) return error{lock.error_message()};

    auto applied = db.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
    if (!applied) return error{applied.error_message()};
    std::map<int, const migration_file*> by_version;
    for (const auto& f : *files) by_version[f.version] = &f;
    migrate_report rep;
    std::map<int, bool> done;
    for (int i = 0; i < applied->rows(); ++i) {
        const int v = static_cast<int>(applied->integer(i, 0));
        const std::string name = applied->text(i, 1), sum = applied->text(i, 2);
        auto it = by_version.find(v);
        if (it == by_version.end())
            return error{"the database has migration " + name + " applied, which " + dir +
                         " does not have: this bmm-accountd is older than the database; run a newer build"};
        if (it->second->checksum != sum)
            return error{"migration " + it->second->name + " was changed after it was applied (SHA-256 " + sum +
                         " in the database, " + it->second->checksum + " in " + dir +
                         "); restore the file as it was and put the change in a new migration"};
        done[v] = true;
        ++rep.already;
    }
    for (const auto& f : *files) {
        if (done.count(f.version)) continue;
        auto tx = pg::transaction::begin(db);
        if (!tx) return error{tx.error_message()};
        auto run = db.exec(f.sql);
        if (run) {
            run = db.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                          {std::to_string(f.version), f.name, f.checksum});
        }
        if (!run) {
            tx->rollback();
            return error{"migration " + f.name + " failed and was rolled back: " + run.error_message()};
        }
        if (auto r = tx->commit(); !r) return error{"migration " + f.name + ": " + r.error_message()};
        log::info("migrate", "applied {}", f.name);
        rep.applied.push_back(f.name);
    }
    return rep;
}

result<bool> check_schema(pg::connection& db, const std::string& dir) {
    auto files = load_migrations(dir);
    if (!files) return error{files.error_message()};
    auto table = db.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!table) return error{table.error_message()};
    if (table->get(0, 0) != "t") return error{"the database has no schema yet: run `bmm-accountd migrate` first"};
    auto applied = db.exec("SELECT version, name, checksum FROM schema_migrations");
    if (!applied) return error{applied.error_message()};
    std::map<int, std::pair<std::string, std::string>> in_db;
    for (int i = 0; i < applied->rows(); ++i)
        in_db[static_cast<int>(applied->integer(i, 0))] = {applied->text(i, 1), applied->text(i, 2)};
    std::string missing;
    for (const auto& f : *files) {
        auto it = in_db.find(f.version);
        if (it == in_db.end()) {
            if (!missing.empty()) missing += ", ";
            missing += f.name;
        } else if (it->second.second != f.checksum) {
            return error{"migration " + f.name + " differs from the one applied to the database; restore the file"};
        }
        in_db.erase(f.version);
    }
    if (!in_db.empty())
        return error{"the database has migration " + in_db.begin()->second.first + ", which " + dir +
                     " does not have: this bmm-accountd is older than the database"};
    if (!missing.empty()) return error{"the database lacks migration(s) " + missing + ": run `bmm-accountd migrate`"};
    return true;
}

}  // namespace bmm::accounting
