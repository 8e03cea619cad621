// bmm-payout's coin subcommands (exec_commands.hpp) on execute.hpp.
#include "exec_commands.hpp"

#include "bmm/payout/batch_store.hpp"
#include "bmm/payout/execute.hpp"
#include "bmm/payout/planner.hpp"
#include "bmm/payout/wallet_tx.hpp"

#include "commands.hpp"

#include "bmm/json/writer.hpp"
#include "bmm/notify/webhook.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>

namespace bmm::payout {
namespace {

using accounting::accountd_config;

// The first line of the passphrase file (without its line end).
result<std::string> read_passphrase(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    if (!f || !std::getline(f, line)) {
        return error{"--passphrase-file " + path + ": cannot read it (it holds the wallet passphrase on one line)"};
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
        line.pop_back();
    }
    if (line.empty()) {
        return error{"--passphrase-file " + path + ": the first line is empty"};
    }
    return line;
}

std::string upper(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

// The wallet of `currency`'s node; chain is what the batch's addresses say.
result<std::unique_ptr<node_wallet>> wallet_for(const accountd_config& cfg, std::string_view currency,
                                                const std::string& chain) {
    auto node = node_for(cfg, currency);
    if (!node) {
        return error{node.error_message()};
    }
    if (node->url.empty()) {
        return error{std::string(currency) + " is not a coin paid through a node (BMM batches are exported)"};
    }
    if (auto pc = cfg.payout.coins.find(std::string(currency));
        pc != cfg.payout.coins.end() && pc->second.node == "bcoin") {
        // bcoin: its wallet's RPC server is not the node's; one wallet (no /wallet/<name> paths).
        return std::make_unique<node_wallet>(node::rpc_endpoint{pc->second.wallet_url, node->user, node->password, ""},
                                             node::rpc_endpoint{node->url, node->user, node->password, ""}, chain,
                                             wallet_flavour::bcoin);
    }
    return std::make_unique<node_wallet>(node::rpc_endpoint{node->url, node->user, node->password, cfg.payout.wallet},
                                         chain);
}

std::string chain_of(const batch& b) {
    for (const auto& l : b.lines) {
        if (auto c = chain_of_address(l.address); !c.empty()) {
            return c;
        }
    }
    return "";
}

// Opens the database, takes the payout lock of the batch's currency and loads
// the batch. `l` must outlive the run (the lock refers to its connection).
result<batch> open_batch(const accountd_config& cfg, std::int64_t id, locked_db& l) {
    if (auto o = open_for_batch(cfg, id, l); !o) {
        return error{o.error_message()};
    }
    return load_batch(l.db, id);
}

// [notify]: payout_sent when the run first broadcast the batch (it was
// approved before; its txids), payout_failed when a transaction failed or the
// run itself did (the error). bmm-payout exits right after: it waits for the
// webhooks (with their retries) first.
void notify_run(const accountd_config& cfg, pg::connection& db, std::int64_t id, const result<run_summary>& s,
                std::string_view what, std::string_view state_before) {
    if (cfg.notify.urls.empty()) {
        return;
    }
    const bool sent = s && s->broadcast > 0 && state_before == "approved", failed = !s || s->failed > 0;
    if (!sent && !failed) {
        return;
    }
    notify::webhook hook(cfg.notify, "bmm-payout");
    auto b = load_batch(db, id);
    const auto event = [&](const char* name) {
        json::writer w;
        w.begin_object();
        w.key("batch").number(id);
        w.key("command").str(what);
        if (b) {
            w.key("currency").str(b->currency);
            w.key("total").str(accounting::to_decimal(b->total));
            w.key("state").str(b->state);
            w.key("txids").begin_array();
            for (const auto& a : b->attempts) {
                if (a.state == "broadcast" || a.state == "confirmed") {
                    w.str(a.txid);
                }
            }
            w.end_array();
        }
        if (s) {
            w.key("broadcast").number(s->broadcast);
            w.key("confirmed").number(s->confirmed);
            w.key("failed").number(s->failed);
        } else {
            w.key("error").str(s.error_message());
        }
        w.end_object();
        hook.send(name, w.take());
    };
    if (sent) {
        event(notify::k_payout_sent);
    }
    if (failed) {
        event(notify::k_payout_failed);
    }
    // Every attempt and the waits between them.
    auto limit = cfg.notify.timeout * cfg.notify.attempts;
    auto wait = cfg.notify.backoff;
    for (int i = 1; i < cfg.notify.attempts; ++i, wait = std::min(wait * 2, cfg.notify.max_backoff)) {
        limit += wait;
    }
    if (!hook.flush(limit)) {
        std::fprintf(stderr, "bmm-payout: a webhook notification was not delivered (see the log)\n");
    }
}

int finish(const result<run_summary>& s, std::string_view what) {
    if (!s) {
        return fail(s.error_message());
    }
    std::printf("%.*s: %d transaction(s): %d broadcast, %d confirmed, %d failed, %d waiting, %d unknown%s\n",
                static_cast<int>(what.size()), what.data(), s->txs, s->broadcast, s->confirmed, s->failed, s->waiting,
                s->unknown, s->batch_finished ? " (batch finished)" : "");
    return s->unknown > 0 ? 3 : 0;
}

// The node wallet that pays batch `b`, given the passphrase in `passphrase_file` (none: not encrypted).
result<std::unique_ptr<node_wallet>> wallet_for_batch(const accountd_config& cfg, const batch& b,
                                                      const std::string& passphrase_file) {
    auto w = wallet_for(cfg, b.currency, chain_of(b));
    if (!w || passphrase_file.empty()) {
        return w;
    }
    auto p = read_passphrase(passphrase_file);
    if (!p) {
        return error{p.error_message()};
    }
    (*w)->set_passphrase(*p);
    return w;
}

}  // namespace

int run_execute(const accountd_config& cfg, const execute_command& c) {
    locked_db l;
    auto r = open_batch(cfg, c.id, l);
    if (!r) {
        return fail(r.error_message());
    }
    auto w = wallet_for_batch(cfg, *r, c.passphrase_file);
    if (!w) {
        return fail(w.error_message());
    }
    const auto s = execute_batch(l.db, **w, cfg.payout, c.id);
    notify_run(cfg, l.db, c.id, s, "execute", r->state);
    return finish(s, "execute batch " + std::to_string(c.id));
}

int run_bump(const accountd_config& cfg, const bump_command& c) {
    locked_db l;
    auto r = open_batch(cfg, c.id, l);
    if (!r) {
        return fail(r.error_message());
    }
    auto w = wallet_for_batch(cfg, *r, c.passphrase_file);
    if (!w) {
        return fail(w.error_message());
    }
    const auto s = bump_batch(l.db, **w, cfg.payout, c.id, c.fee_rate);
    notify_run(cfg, l.db, c.id, s, "bump", r->state);
    return finish(s, "bump batch " + std::to_string(c.id));
}

int run_reconcile(const accountd_config& cfg, std::optional<std::int64_t> id) {
    if (id) {
        locked_db l;
        auto r = open_batch(cfg, *id, l);
        if (!r) {
            return fail(r.error_message());
        }
        auto w = wallet_for(cfg, r->currency, chain_of(*r));
        if (!w) {
            return fail(w.error_message());
        }
        const auto s = reconcile_batch(l.db, **w, cfg.payout, *id);
        notify_run(cfg, l.db, *id, s, "reconcile", r->state);
        return finish(s, "reconcile batch " + std::to_string(*id));
    }
    // Every coin with a node: its batches, under its lock.
    std::set<std::string> coins;
    for (const auto& [cur, coin] : cfg.coins) {
        if (node_for(cfg, cur) && !node_for(cfg, cur)->url.empty()) {
            coins.insert(upper(cur));
        }
    }
    if (!cfg.node.url.empty()) {
        coins.insert(upper(cfg.node.currency));
    }
    int rc = 0;
    for (const auto& cur : coins) {
        auto db = open_checked(cfg);
        if (!db) {
            return fail(db.error_message());
        }
        auto lock = lock_currency(*db, cur);
        if (!lock) {
            return fail(lock.error_message());
        }
        auto ids = batches_to_reconcile(*db, cur);
        if (!ids) {
            return fail(ids.error_message());
        }
        if (ids->empty()) {
            std::printf("reconcile %s: no batch waits\n", cur.c_str());
        }
        for (auto b_id : *ids) {
            auto b = load_batch(*db, b_id);
            if (!b) {
                return fail(b.error_message());
            }
            auto w = wallet_for(cfg, cur, chain_of(*b));
            if (!w) {
                return fail(w.error_message());
            }
            const auto s = reconcile_batch(*db, **w, cfg.payout, b_id);
            notify_run(cfg, *db, b_id, s, "reconcile", b->state);
            const int one = finish(s, "reconcile batch " + std::to_string(b_id));
            rc = std::max(rc, one);
        }
    }
    return rc;
}

int run_wallet_check(const accountd_config& cfg, const std::string& coin) {
    const std::string cur = upper(coin);
    auto db = open_checked(cfg);
    if (!db) {
        return fail(db.error_message());
    }
    auto w = wallet_for(cfg, cur, "");
    if (!w) {
        return fail(w.error_message());
    }
    auto g = wallet_check(*db, **w, cur);
    if (!g) {
        return fail(g.error_message());
    }
    std::printf("wallet %s: %s %s (trusted + untrusted pending)\n", (*w)->wallet_name().c_str(),
                format_coins(g->wallet).c_str(), cur.c_str());
    std::printf("ledger owes: %s %s (holders, pool, in flight)\n", format_coins(g->owed).c_str(), cur.c_str());
    std::printf("sent, not yet booked: %s %s\n", format_coins(g->sent_unbooked).c_str(), cur.c_str());
    std::printf("gap: %s %s\n", format_coins(g->gap()).c_str(), cur.c_str());
    if (g->gap() < 0) {
        std::fprintf(stderr, "bmm-payout: wallet %s holds %s %s less than the ledger owes: fund it before paying out\n",
                     (*w)->wallet_name().c_str(), format_coins(-g->gap()).c_str(), cur.c_str());
        return 1;
    }
    return 0;
}

}  // namespace bmm::payout
