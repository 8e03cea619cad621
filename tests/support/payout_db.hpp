#pragma once
// Test support for bmm-payout (tests/payout/): a fresh PostgreSQL schema per
// test with every migration, seen by this process's connections and by the
// programs it starts (PGOPTIONS), a configuration file for the stack, balances
// booked the way the ledger books them (mature blocks for coins, the genesis
// premine and emission for BMM, so that ledger_audit() accepts them), holders
// with wallets, and bmm-payout runs.

#include "payout_addresses.hpp"
#include "pool_process.hpp"
#include "process.hpp"
#include "stack.hpp"
#include "stack_pg.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/pg/text.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bmm::test::payout {

namespace acc = bmm::accounting;

// Makes schema `name` afresh with every migration of sql/ and selects it for
// this process's later connections and its children (bmm::pg adds PGOPTIONS
// to its connection options). Returns a connection to it.
inline pg::connection fresh_schema(const std::string& name) {
    ::setenv("PGOPTIONS", ("-c search_path=" + name).c_str(), 1);
    auto c = db();
    auto r =
        c.exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    auto m = acc::migrate(c, stack_environment::get().source_dir() + "/sql");
    if (!m) {
        throw std::runtime_error("migrations: " + m.error_message());
    }
    return c;
}

// The schema named after the running test (lower case, letters, digits and '_').
inline std::string test_schema() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string s = std::string("p_") + info->name();
    for (char& ch : s) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (!std::isalnum(static_cast<unsigned char>(ch))) {
            ch = '_';
        }
    }
    return s;
}

// A configuration file for the stack ([postgres], [redis], [node] A with
// currency LTC) plus `extra` TOML (e.g. a [payout] section). Returns its path.
inline std::string write_config(const std::string& name, const std::string& extra) {
    const auto& st = stack_environment::get();
    const std::string dir = st.dir() + "/payout";
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/" + name + ".toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_PG_PORT") << "\nuser = \""
      << st.setting("BMM_PG_USER") << "\"\ndbname = \"" << st.setting("BMM_PG_DB") << "\"\npassword = \""
      << st.setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st.source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st.setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\n"
      << "[node]\nurl = \"" << st.setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st.setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st.setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << extra;
    return path;
}

// The configuration as bmm-payout reads it.
inline acc::accountd_config load_config(const std::string& path) {
    auto c = acc::load_accountd_config(path);
    if (!c) {
        throw std::runtime_error(c.error_message());
    }
    return *c;
}

struct run_result {
    int code = -1;
    std::string out;  // stdout and stderr together, in order
};

// Runs bmm-payout with `args` to its end (60 s at most).
inline run_result run_payout(const std::vector<std::string>& args) {
    const std::string dir = stack_environment::get().dir() + "/payout";
    std::filesystem::create_directories(dir);
    const std::string log = dir + "/run.log";
    std::filesystem::remove(log);
    std::vector<std::string> argv = {bin("bmm-payout")};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process p(argv, log);
    const int rc = p.wait(60000);
    return {rc, read_text(log)};
}

inline void exec_ok(pg::connection& db, const std::string& sql, const std::vector<std::optional<std::string>>& p = {}) {
    auto r = p.empty() ? db.exec(sql) : db.exec(sql, p);
    if (!r) {
        throw std::runtime_error(r.error_message() + "\nin: " + sql.substr(0, 300));
    }
}

inline void book(pg::connection& db, const std::vector<acc::transfer>& ts) {
    auto r = acc::ledger_store::book_transfers(db, ts);
    if (!r) {
        throw std::runtime_error("booking: " + r.error_message());
    }
}

// Books a mature `coin` block (a blocks row and its transfers, as the ledger
// thread books one: each part to the holder's immature account, then released
// to the holder): `parts` maps ledger accounts (user:alice:available,
// foundation:x, pool:fees:LTC) to amounts.
inline void book_mature_block(pg::connection& db, const std::string& coin, const std::string& hash,
                              const std::map<std::string, acc::amount>& parts) {
    acc::amount reward = 0;
    std::vector<acc::transfer> ts;
    ts.reserve(parts.size() * 2);
    const std::string ref = "block:" + hash;
    for (const auto& [account, value] : parts) {
        reward += value;
        const bool fee = account == acc::fees_account(coin);
        const std::string id = ref + (fee ? ":fee" : ":miner:" + account);
        ts.push_back({id, acc::coinbase_account(coin), acc::immature_of(account), coin, value,
                      fee ? acc::transfer_kind::block_fee : acc::transfer_kind::block_miner, ref});
        ts.push_back({ref + ":mature:" + account, acc::immature_of(account), account, coin, value,
                      acc::transfer_kind::block_mature, ref});
    }
    exec_ok(db,
            "INSERT INTO blocks (hash, coin, height, reward, finder, found_at, found_epoch, epoch, status) "
            "VALUES ($1, $2, 1, $3, 'test', now(), 0, 0, 'mature')",
            {hash, coin, acc::to_decimal(reward)});
    book(db, ts);
}

// The genesis premine (foundation:airdrop, :developers, :ecosystem hold BMM).
inline void book_premine(pg::connection& db) { book(db, acc::genesis_transfers()); }

// BMM for users, as epoch 0's emission (no epochs row: nothing for the audit to compare).
inline void book_bmm_emission(pg::connection& db, const std::map<std::string, acc::amount>& users) {
    std::vector<acc::transfer> ts;
    for (const auto& [user, value] : users) {
        ts.push_back({"epoch:0:emission:" + user, std::string(acc::emission_account), acc::user_available(user), "BMM",
                      value, acc::transfer_kind::emission, "epoch:0"});
    }
    book(db, ts);
}

// An accounts row: kind foundation for foundation:<x> (sql/0017 makes the
// three of the premine; a row already there is kept), else kind user.
inline void add_account(pg::connection& db, const std::string& name) {
    exec_ok(db,
            "INSERT INTO accounts (name, kind) VALUES ($1, CASE WHEN $1 LIKE 'foundation:%' THEN 'foundation' "
            "ELSE 'user' END) ON CONFLICT (name) DO NOTHING",
            {name});
}

// Binds wallets (address, share_ppm) of one currency to `account` in one
// transaction (their shares must add up to 1,000,000).
inline void bind_wallets(pg::connection& db, const std::string& account, const std::string& currency,
                         const std::vector<std::pair<std::string, std::int64_t>>& wallets) {
    std::string sql = "BEGIN;";
    for (const auto& [address, ppm] : wallets) {
        // As the admin command binds (sql/0025: every wallet has its history row).
        sql += "INSERT INTO wallets (account, currency, address, share_ppm) VALUES ('" + account + "', '" + currency +
               "', '" + address + "', " + std::to_string(ppm) + ");";
        sql += "INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof) VALUES ('" + account +
               "', 'bind', '" + currency + "', '" + address + "', " + std::to_string(ppm) + ", 'admin');";
    }
    exec_ok(db, sql + "COMMIT;");
}

// ledger_audit()'s problems (empty when the ledger is sound).
inline std::vector<std::string> audit(pg::connection& db) {
    auto r = acc::ledger_store::audit(db);
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    return *r;
}

inline std::string balance(pg::connection& db, const std::string& account, const std::string& currency) {
    auto r = db.exec("SELECT coalesce((SELECT balance::text FROM balances WHERE account = $1 AND currency = $2), '0')",
                     {account, currency});
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    return r->text(0, 0);
}

}  // namespace bmm::test::payout
