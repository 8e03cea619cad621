#include "commands.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/api.hpp"
#include "bmm/accounting/bench_ingest.hpp"
#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/deposit_store.hpp"
#include "bmm/accounting/ingest.hpp"
#include "bmm/accounting/ledger_keeper.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/mining_gate.hpp"
#include "bmm/accounting/process_counters.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/pg/transaction.hpp"

#include <cstdio>
#include <thread>

namespace bmm::accounting {
namespace {

// A connection whose schema is this build's: migrated (and logged) when
// `apply`, otherwise only checked.
result<pg::connection> open_current(const accountd_config& cfg, bool apply) {
    auto db = pg::connection::open(cfg.postgres);
    if (!db) return error{db.error_message()};
    if (apply) {
        auto m = migrate(*db, cfg.migrations_dir);
        if (!m) return error{m.error_message()};
        log::info("migrate", "schema up to date: {} applied now, {} before", m->applied.size(), m->already);
    } else if (auto s = check_schema(*db, cfg.migrations_dir); !s) {
        return error{s.error_message()};
    }
    return db;
}

}  // namespace

int fail(const std::string& msg) {
    std::fprintf(stderr, "bmm-accountd: %s\n", msg.c_str());
    return 1;
}

int migrate_and_run(const accountd_config& cfg, bool only_migrate, std::atomic<bool>& stop) {
    if (auto db = open_current(cfg, true); !db) return fail(db.error_message());
    if (only_migrate) return 0;
    // The ingest and the ledger count into `counters`; /metrics reads them.
    process_counters counters;
    std::optional<api_server> api;
    if (cfg.api.present && cfg.api.enabled) {
        api.emplace(cfg, &counters);
        if (auto s = api->start(); !s) return fail(s.error_message());
    }
    ledger_keeper keeper(cfg, &counters);
    std::thread ledger([&] { keeper.run(stop); });
    ingestor ing(cfg);
    ing.publish_to(&counters);
    const int rc = ing.run(stop);
    stop.store(true);
    ledger.join();
    return rc;
}

int serve_api(const accountd_config& cfg, std::atomic<bool>& stop) {
    if (auto db = open_current(cfg, false); !db) return fail(db.error_message());
    return run_api(cfg, stop);
}

int migrate_and_bench_ingest(const accountd_config& cfg, const bench_ingest_options& o) {
    if (auto db = open_current(cfg, true); !db) return fail(db.error_message());
    return bench_ingest(cfg, o);
}

int run_account_command(const accountd_config& cfg, const account_command& c) {
    auto db = open_current(cfg, false);
    if (!db) return fail(db.error_message());
    using verb = account_command::verb;
    switch (c.what) {
        case verb::create:
            if (auto r = create_account(*db, c.name); !r) return fail(r.error_message());
            std::printf("account %s created\n", c.name.c_str());
            break;
        case verb::bind: {
            address_validator validator(cfg);
            auto r = bind_wallet(*db, validator, c.name, c.currency, c.address, c.share);
            if (!r) return fail(r.error_message());
            std::printf("%s: %s wallet %s bound with %lld ppm\n", c.name.c_str(), r->currency.c_str(),
                        r->address.c_str(), static_cast<long long>(r->share_ppm));
            break;
        }
        case verb::unbind:
            if (auto r = unbind_wallet(*db, c.name, c.currency, c.address); !r) return fail(r.error_message());
            std::printf("%s: %s wallet %s unbound\n", c.name.c_str(), c.currency.c_str(), c.address.c_str());
            break;
        case verb::list: {
            auto r = list_accounts(*db, c.name.empty() ? std::nullopt : std::optional<std::string>(c.name));
            if (!r) return fail(r.error_message());
            for (const auto& a : *r) {
                std::printf("%s\t%s\t%s\n", a.name.c_str(), a.kind.c_str(), a.created_at.c_str());
                for (const auto& w : a.wallets)
                    std::printf("  %s\t%s\t%lld ppm\n", w.currency.c_str(), w.address.c_str(),
                                static_cast<long long>(w.share_ppm));
            }
            break;
        }
    }
    return 0;
}

int run_bmm_deposit(const accountd_config& cfg, const deposit_command& c) {
    auto value = parse_amount(c.amount);
    if (!value) {
        return fail("deposit amount \"" + c.amount + "\": " + value.error_message() +
                    " (BMM base units as digits: 1 BMM = 1000000000000000000)");
    }
    auto db = open_current(cfg, false);
    if (!db) {
        return fail(db.error_message());
    }
    auto r = deposit_store::book_bmm_deposit(*db, c.account, *value, c.txid, c.by);
    if (!r) {
        return fail("deposit refused, nothing booked: " + r.error_message());
    }
    std::printf("%s %s BMM base units to %s for token transfer %s (transfer %s)\n",
                r->booked ? "booked" : "already booked:", c.amount.c_str(), c.account.c_str(), r->txid.c_str(),
                r->transfer_id.c_str());
    if (auto g = publish_mining_gate(cfg, *db); !g) {
        std::fprintf(stderr, "bmm-accountd: warning: %s; the running bmm-accountd publishes it within a minute\n",
                     g.error_message().c_str());
    }
    return 0;
}

namespace {

// base units -> "<int>.<18 digits>" (exact; no rounding).
std::string bmm_decimal(const std::string& base_units) {
    std::string digits = base_units;
    if (digits.size() < 19) {
        digits.insert(0, 19 - digits.size(), '0');
    }
    return digits.substr(0, digits.size() - 18) + "." + digits.substr(digits.size() - 18);
}

// A CSV field: quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& v) {
    if (v.find_first_of(",\"\r\n") == std::string::npos) {
        return v;
    }
    std::string out = "\"";
    for (char ch : v) {
        out += ch;
        if (ch == '"') {
            out += '"';
        }
    }
    out += '"';
    return out;
}

}  // namespace

int run_voting_power(const accountd_config& cfg, const voting_power_command& c) {
    if (c.format != "csv") {
        return fail("voting-power: --format must be csv, not \"" + c.format + "\"");
    }
    auto db = open_current(cfg, false);
    if (!db) {
        return fail(db.error_message());
    }
    auto tx = pg::transaction::begin(*db, pg::transaction_mode::read_only_snapshot);
    if (!tx) {
        return fail(tx.error_message());
    }
    const std::string sel =
        "SELECT e.k, e.closed_at IS NOT NULL, t.epoch IS NOT NULL, t.holders, t.total::text "
        "FROM epochs e LEFT JOIN epoch_bmm_totals t ON t.epoch = e.k ";
    auto e = c.epoch ? db->exec(sel + "WHERE e.k = $1::bigint", {std::to_string(*c.epoch)})
                     : db->exec(sel + "WHERE e.closed_at IS NOT NULL ORDER BY e.k DESC LIMIT 1");
    if (!e) {
        return fail("reading the epoch: " + e.error_message());
    }
    if (e->rows() == 0) {
        return fail(c.epoch ? "no epoch " + std::to_string(*c.epoch) + " (epochs are numbered from 0)"
                            : std::string("no epoch has closed yet; voting power is snapshotted at each close"));
    }
    const std::string k = e->text(0, 0);
    if (e->text(0, 1) != "t") {
        return fail("epoch " + k + " is still open; its voting power is snapshotted when it closes");
    }
    if (e->text(0, 2) != "t") {
        return fail("epoch " + k + " closed before voting power was recorded (sql/0018); it has no snapshot");
    }
    auto rows =
        db->exec("SELECT name, bmm::text FROM voting_power WHERE epoch = $1::bigint ORDER BY name COLLATE \"C\"", {k});
    if (!rows) {
        return fail("reading epoch " + k + "'s voting power: " + rows.error_message());
    }
    std::string out = "epoch,account,bmm,bmm_base_units\n";
    for (int i = 0; i < rows->rows(); ++i) {
        const std::string units = rows->text(i, 1);
        out += k + "," + csv_field(rows->text(i, 0)) + "," + bmm_decimal(units) + "," + units + "\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fprintf(stderr, "epoch %s: %s holders, %s BMM in total (%s base units)\n", k.c_str(), e->text(0, 3).c_str(),
                 bmm_decimal(e->text(0, 4)).c_str(), e->text(0, 4).c_str());
    return 0;
}

int run_block_command(const accountd_config& cfg, const block_command& c) {
    auto db = open_current(cfg, false);
    if (!db) {
        return fail(db.error_message());
    }
    if (c.list) {
        auto p = block_store::parked_blocks(*db);
        if (!p) {
            return fail(p.error_message());
        }
        for (const auto& b : *p) {
            std::printf("%s %s height %lld found %s by %s: %s\n", b.hash.c_str(), b.coin.c_str(), b.height,
                        b.found_at.c_str(), b.finder.c_str(), b.reason.c_str());
        }
        std::printf("%zu parked blocks\n", p->size());
        return 0;
    }
    if (c.as.empty() == c.finder.empty() || (!c.as.empty() && c.as != "orphan")) {
        return fail("block resolve " + c.hash + ": give either --as orphan or --finder NAME; nothing changed");
    }
    if (!c.finder.empty()) {
        bool good = c.finder.size() <= 64;
        for (char ch : c.finder) {
            good = good && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                            ch == '_' || ch == '-');
        }
        if (!good) {
            return fail("block resolve " + c.hash + ": --finder \"" + c.finder +
                        "\" is not an account name (letters, digits, '_' and '-'); nothing changed");
        }
        auto known = db->exec("SELECT 1 FROM accounts WHERE name = $1", {c.finder});
        if (!known) {
            return fail(known.error_message());
        }
        if (known->rows() != 1) {
            return fail("block resolve " + c.hash + ": there is no account " + c.finder +
                        " (bmm-accountd account list); nothing changed");
        }
    }
    auto r = block_store::resolve_parked_block(*db, c.hash, c.finder);
    if (!r) {
        return fail("block resolve: " + r.error_message() + "; nothing changed");
    }
    log::info("blocks", "parked block {} resolved: {}", c.hash, *r);
    std::printf("block %s resolved: %s\n", c.hash.c_str(), r->c_str());
    return 0;
}

}  // namespace bmm::accounting
