// bmm-payout's subcommands (commands.hpp) on the bmm_payout library.
#include "commands.hpp"

#include "bmm/accounting/migrations.hpp"
#include "bmm/json/writer.hpp"
#include "bmm/payout/batch_store.hpp"
#include "bmm/payout/distribution.hpp"
#include "bmm/payout/planner.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/pg/locks.hpp"

#include <cstdio>
#include <fstream>

namespace bmm::payout {
namespace {

using accounting::accountd_config;
using accounting::to_decimal;

// A connection to a database whose schema is this build's (checked, never
// migrated: bmm-accountd migrate does that).
result<pg::connection> open_checked(const accountd_config& cfg) {
    auto db = pg::connection::open(cfg.postgres);
    if (!db) {
        return error{db.error_message()};
    }
    if (auto s = accounting::check_schema(*db, cfg.migrations_dir); !s) {
        return error{s.error_message()};
    }
    return db;
}

// The currency's payout lock, or a refusal when another run holds it.
result<pg::advisory_lock> lock_currency(pg::connection& db, const std::string& currency) {
    const pg::lock_key key = pg::payout_lock(currency);
    auto l = pg::advisory_lock::try_take(db, key);
    if (!l) {
        return error{l.error_message()};
    }
    if (!*l) {
        return error{"another bmm-payout run holds " + std::string(key.what) +
                     "; wait until it has finished and run this again"};
    }
    return std::move(**l);
}

// The batch's currency (to take its lock before reading it for a change).
result<std::string> currency_of(pg::connection& db, std::int64_t id) {
    auto r = db.exec("SELECT currency FROM payout_batches WHERE id = $1", {std::to_string(id)});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->rows() == 0) {
        return error{"batch " + std::to_string(id) + " does not exist (check the number plan printed)"};
    }
    return r->text(0, 0);
}

struct locked_db {
    pg::connection db;
    std::optional<pg::advisory_lock> lock;
};

// Opens the database and takes the payout lock of batch `id`'s currency.
result<bool> open_for_batch(const accountd_config& cfg, std::int64_t id, locked_db& out) {
    auto db = open_checked(cfg);
    if (!db) {
        return error{db.error_message()};
    }
    out.db = std::move(*db);
    auto cur = currency_of(out.db, id);
    if (!cur) {
        return error{cur.error_message()};
    }
    auto lock = lock_currency(out.db, *cur);
    if (!lock) {
        return error{lock.error_message()};
    }
    out.lock.emplace(std::move(*lock));
    return true;
}

void print_lines(const batch& b) {
    std::printf("line\taccount\taddress\tamount\tstate\ttx\n");
    for (const auto& l : b.lines) {
        std::printf("%d\t%s\t%s\t%s\t%s\t%s\n", l.line, l.account.c_str(), l.address.c_str(),
                    to_decimal(l.value).c_str(), l.state.c_str(), l.tx ? std::to_string(*l.tx).c_str() : "-");
    }
}

void print_skipped(const std::vector<skipped_part>& skipped) {
    for (const auto& s : skipped) {
        std::printf("skipped\t%s%s%s\t%s\t%s\n", s.account.c_str(), s.address.empty() ? "" : " -> ", s.address.c_str(),
                    to_decimal(s.value).c_str(), s.reason.c_str());
    }
}

std::string opt(const std::optional<std::string>& v) { return v ? *v : "-"; }

void print_batch_text(const batch& b) {
    std::printf("batch %lld\ncurrency %s\nstate %s\nlines %zu\ntotal %s\nthreshold %s\nplanned_at %s\n",
                static_cast<long long>(b.id), b.currency.c_str(), b.state.c_str(), b.lines.size(),
                to_decimal(b.total).c_str(), to_decimal(b.min_amount).c_str(), b.planned_at.c_str());
    std::printf("approved_by %s\napproved_at %s\nfinished_at %s\n", opt(b.approved_by).c_str(),
                opt(b.approved_at).c_str(), opt(b.finished_at).c_str());
    if (b.export_sha256 || b.settle_txid) {
        std::printf("export_sha256 %s\nexported_at %s\nsettle_txid %s\nsettled_by %s\n", opt(b.export_sha256).c_str(),
                    opt(b.exported_at).c_str(), opt(b.settle_txid).c_str(), opt(b.settled_by).c_str());
    }
    std::printf("digest %s\n", b.digest.c_str());
    print_lines(b);
    for (const auto& t : b.txs) {
        std::printf("tx %d\t%s\tconfirmed_attempt %s\n", t.tx, t.state.c_str(),
                    t.confirmed_attempt ? std::to_string(*t.confirmed_attempt).c_str() : "-");
    }
    for (const auto& a : b.attempts) {
        std::printf("attempt %d.%d\t%s\t%s\tfee %s\tvsize %d\n", a.tx, a.attempt, a.txid.c_str(), a.state.c_str(),
                    to_decimal(a.fee).c_str(), a.vsize);
    }
}

void optional_field(json::writer& w, const char* key, const std::optional<std::string>& v) {
    w.key(key);
    if (v) {
        w.str(*v);
    } else {
        w.null();
    }
}

std::string batch_json(const batch& b) {
    json::writer w;
    w.begin_object();
    w.key("batch").number(b.id);
    w.key("currency").str(b.currency);
    w.key("state").str(b.state);
    w.key("threshold").str(to_decimal(b.min_amount));
    w.key("total").str(to_decimal(b.total));
    w.key("digest").str(b.digest);
    w.key("planned_at").str(b.planned_at);
    optional_field(w, "approved_by", b.approved_by);
    optional_field(w, "approved_at", b.approved_at);
    optional_field(w, "finished_at", b.finished_at);
    optional_field(w, "export_sha256", b.export_sha256);
    optional_field(w, "exported_at", b.exported_at);
    optional_field(w, "settle_txid", b.settle_txid);
    optional_field(w, "settled_by", b.settled_by);
    w.key("lines").begin_array();
    for (const auto& l : b.lines) {
        w.begin_object();
        w.key("line").number(l.line);
        w.key("account").str(l.account);
        w.key("address").str(l.address);
        w.key("amount").str(to_decimal(l.value));
        w.key("state").str(l.state);
        w.key("tx");
        if (l.tx) {
            w.number(*l.tx);
        } else {
            w.null();
        }
        w.end_object();
    }
    w.end_array();
    w.key("txs").begin_array();
    for (const auto& t : b.txs) {
        w.begin_object();
        w.key("tx").number(t.tx);
        w.key("state").str(t.state);
        w.key("confirmed_attempt");
        if (t.confirmed_attempt) {
            w.number(*t.confirmed_attempt);
        } else {
            w.null();
        }
        w.end_object();
    }
    w.end_array();
    w.key("attempts").begin_array();
    for (const auto& a : b.attempts) {
        w.begin_object();
        w.key("tx").number(a.tx);
        w.key("attempt").number(a.attempt);
        w.key("txid").str(a.txid);
        w.key("state").str(a.state);
        w.key("fee").str(to_decimal(a.fee));
        w.key("vsize").number(a.vsize);
        w.key("inputs").raw(a.inputs_json);
        w.key("outputs").raw(a.outputs_json);
        w.key("stored_at").str(a.stored_at);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.take();
}

// Writes `bytes` to `path` (through a temporary file renamed into place, so a
// reader never sees half a file), or to stdout when path is empty.
result<bool> write_output(const std::string& path, const std::string& bytes) {
    if (path.empty()) {
        if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() || std::fflush(stdout) != 0) {
            return error{"cannot write the export to standard output"};
        }
        return true;
    }
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) || !f.flush()) {
            return error{path + ": cannot write the export (check the folder exists and is writable)"};
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return error{path + ": cannot move the export into place"};
    }
    return true;
}

}  // namespace

int fail(const std::string& msg) {
    std::fprintf(stderr, "bmm-payout: %s\n", msg.c_str());
    return 1;
}

int run_plan(const accountd_config& cfg, const plan_command& c) {
    plan_request req;
    req.currency = c.coin;
    auto node = node_for(cfg, req.currency);
    if (!node) {
        return fail(node.error_message());
    }
    if (c.min) {
        auto m = accounting::parse_amount(*c.min);
        if (!m || *m < 0) {
            return fail("--min " + *c.min + ": the threshold is a whole number of base units from 0, e.g. 10000000");
        }
        req.min = *m;
    }
    auto db = open_checked(cfg);
    if (!db) {
        return fail(db.error_message());
    }
    auto lock = lock_currency(*db, req.currency);
    if (!lock) {
        return fail(lock.error_message());
    }
    address_checker checker(req.currency, *node);
    auto out = plan_batch(*db, cfg, checker, req);
    if (!out) {
        return fail(out.error_message());
    }
    if (!out->planned) {
        std::printf("nothing to pay in %s: no holder has a payable part of at least %s base units\n",
                    req.currency.c_str(), to_decimal(out->threshold).c_str());
        print_skipped(out->skipped);
        return 0;
    }
    const batch& b = *out->planned;
    std::printf("batch %lld planned: %s, %zu lines, total %s (threshold %s)\n", static_cast<long long>(b.id),
                b.currency.c_str(), b.lines.size(), to_decimal(b.total).c_str(), to_decimal(out->threshold).c_str());
    print_lines(b);
    print_skipped(out->skipped);
    std::printf("digest %s\n", b.digest.c_str());
    std::printf("approve with: bmm-payout approve %lld --by NAME --digest %s\n", static_cast<long long>(b.id),
                b.digest.c_str());
    return 0;
}

int run_show(const accountd_config& cfg, std::int64_t id, bool json) {
    auto db = open_checked(cfg);
    if (!db) {
        return fail(db.error_message());
    }
    auto b = load_batch(*db, id);
    if (!b) {
        return fail(b.error_message());
    }
    if (json) {
        std::printf("%s\n", batch_json(*b).c_str());
    } else {
        print_batch_text(*b);
    }
    return 0;
}

int run_approve(const accountd_config& cfg, std::int64_t id, const std::string& by, const std::string& digest) {
    locked_db l;
    if (auto ok = open_for_batch(cfg, id, l); !ok) {
        return fail(ok.error_message());
    }
    if (auto ok = approve(l.db, id, by, digest); !ok) {
        return fail(ok.error_message());
    }
    std::printf("batch %lld approved by %s\n", static_cast<long long>(id), by.c_str());
    return 0;
}

int run_export(const accountd_config& cfg, const export_command& c) {
    locked_db l;
    if (auto ok = open_for_batch(cfg, c.id, l); !ok) {
        return fail(ok.error_message());
    }
    auto b = load_batch(l.db, c.id);
    if (!b) {
        return fail(b.error_message());
    }
    if (b->currency != accounting::bmm_currency) {
        return fail("batch " + std::to_string(c.id) + " pays " + b->currency +
                    "; export is for BMM (ERC-20) batches, coin batches are paid by bmm-payout execute");
    }
    if (b->state != "approved" && b->state != "exported") {
        return fail("batch " + std::to_string(c.id) + " is " + b->state + "; export needs approved or exported");
    }
    const std::string text =
        distribution_text(*b, c.format == "json" ? distribution_format::json : distribution_format::csv);
    const std::string sha = sha256_hex(text);
    if (b->export_sha256 && *b->export_sha256 != sha) {
        const char* other = c.format == "json" ? "csv" : "json";
        const std::string other_sha = sha256_hex(
            distribution_text(*b, c.format == "json" ? distribution_format::csv : distribution_format::json));
        if (other_sha == *b->export_sha256) {
            return fail("batch " + std::to_string(c.id) + " was exported as " + other + " (sha256 " + other_sha +
                        "); export it as " + other + " again: the stored SHA-256 names that one file");
        }
    }
    // Recorded first: a second export of other bytes is refused before anything is written.
    if (auto ok = mark_exported(l.db, c.id, sha); !ok) {
        return fail(ok.error_message());
    }
    if (auto ok = write_output(c.out, text); !ok) {
        return fail(ok.error_message());
    }
    std::fprintf(stderr, "bmm-payout: batch %lld exported (%s, %zu lines, sha256 %s)\n", static_cast<long long>(c.id),
                 c.format.c_str(), b->lines.size(), sha.c_str());
    return 0;
}

int run_settle(const accountd_config& cfg, std::int64_t id, const std::string& txid, const std::string& by) {
    locked_db l;
    if (auto ok = open_for_batch(cfg, id, l); !ok) {
        return fail(ok.error_message());
    }
    if (auto ok = settle(l.db, id, txid, by); !ok) {
        return fail(ok.error_message());
    }
    std::printf("batch %lld settled by %s with %s\n", static_cast<long long>(id), by.c_str(), txid.c_str());
    return 0;
}

}  // namespace bmm::payout
