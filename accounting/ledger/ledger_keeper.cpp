#include "bmm/accounting/ledger_keeper.hpp"
#include "bmm/accounting/mining_gate.hpp"

#include "block_tracker.hpp"
#include "bmm/accounting/due_epochs.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/process_counters.hpp"
#include "bmm/accounting/redis_reply.hpp"
#include "bmm/accounting/share_store.hpp"
#include "bmm/accounting/world_audit.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/pg/locks.hpp"
#include "bmm/pg/retry.hpp"
#include "bmm/pg/text.hpp"
#include "worker_watch.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

namespace bmm::accounting {
namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using reply_ptr = redis_reply_ptr;

// Redis' side of "every entry appended before t_ms is stored" (ingest.hpp
// acknowledges an entry only after the COMMIT that stored it):
//   - every entry with an id below t_ms has been handed to a consumer of the
//     group: `stored_at_or_past` (stream_state holds a stored id >= t_ms, so
//     all earlier ids were delivered before it), or the group has been handed
//     the whole stream (XINFO GROUPS last-delivered-id = XINFO STREAM
//     last-generated-id, read in that order so that an entry appended in
//     between makes them differ) for an idle stream;
//   - and none of them is still pending (XPENDING over ids below t_ms), which
//     also covers another consumer of the group that is behind.
result<bool> redis_stored_through(const accountd_config& cfg, const std::string& stream, std::int64_t t_ms,
                                  bool stored_at_or_past) {
    auto conn = redis::connect(cfg.redis, std::chrono::milliseconds(5000));
    if (!conn) {
        return error{conn.error_message()};
    }
    const redis_context_ptr& c = conn->ctx;
    const std::string where = "Redis " + conn->address;
    if (!stored_at_or_past) {
        reply_ptr groups(static_cast<redisReply*>(redisCommand(c.get(), "XINFO GROUPS %s", stream.c_str())));
        if (!groups) {
            return error{where + ": XINFO GROUPS " + stream + " failed: " + c->errstr};
        }
        if (groups->type != REDIS_REPLY_ARRAY) {
            return false;  // no stream yet
        }
        std::string delivered;
        for (std::size_t i = 0; i < groups->elements; ++i) {
            if (redis_text(redis_field(groups->element[i], "name")) == cfg.redis.group) {
                delivered = redis_text(redis_field(groups->element[i], "last-delivered-id"));
            }
        }
        if (delivered.empty()) {
            return false;  // no group yet
        }
        reply_ptr info(static_cast<redisReply*>(redisCommand(c.get(), "XINFO STREAM %s", stream.c_str())));
        if (!info) {
            return error{where + ": XINFO STREAM " + stream + " failed: " + c->errstr};
        }
        if (redis_text(redis_field(info.get(), "last-generated-id")) != delivered) {
            return false;
        }
    }
    if (t_ms <= 0) {
        return true;
    }
    const std::string below = std::to_string(t_ms - 1) + "-18446744073709551615";
    reply_ptr p(static_cast<redisReply*>(
        redisCommand(c.get(), "XPENDING %s %s - %s 1", stream.c_str(), cfg.redis.group.c_str(), below.c_str())));
    if (!p) {
        return error{where + ": XPENDING " + stream + " failed: " + c->errstr};
    }
    if (p->type == REDIS_REPLY_ERROR) {
        return error{where + ": XPENDING " + stream + ": " + std::string(p->str, p->len)};
    }
    return p->type == REDIS_REPLY_ARRAY && p->elements == 0;
}

void sleep_until_stop(const std::atomic<bool>& stop, std::int64_t ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stop.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace

result<bool> stream_stored_through(const accountd_config& cfg, pg::connection& db, std::int64_t t_ms,
                                   std::string* behind) {
    for (const auto& stream : cfg.redis.all_streams()) {
        auto stored_ms = share_store::group_stored_ms(db, stream, cfg.redis.group);
        if (!stored_ms) {
            return error{stored_ms.error_message()};
        }
        auto through = redis_stored_through(cfg, stream, t_ms, *stored_ms >= t_ms);
        if (!through) {
            return error{through.error_message()};
        }
        if (!*through) {
            if (behind) {
                *behind = stream;
            }
            return false;
        }
    }
    return true;
}

void ledger_keeper::run(const std::atomic<bool>& stop) {
    if (!cfg_.epochs.enabled) {
        log::info("ledger", "no [epochs] section: epochs, rewards and blocks are not booked by this process");
        return;
    }
    block_tracker tracker(cfg_);
    // [notify]: block_found, block_mature, block_orphaned, worker_offline.
    notify::webhook hook(cfg_.notify, "bmm-accountd");
    tracker.notify_to(&hook);
    worker_watch workers(cfg_, hook);
    pg::connection db;
    std::optional<pg::advisory_lock> ledger_lock;  // on db; released before db is dropped
    bool said_locked = false, genesis = false;
    std::int64_t gate_published_ms = 0;
    std::int64_t waited_cutoff = -1;  // the cutoff and stream a close was last said to wait for
    std::string waited_stream;
    std::int64_t backoff = 100;
    // A failover (PostgreSQL went away or turned read-only) ends the step: the
    // next one runs from the start on a new connection (the new primary among
    // [postgres] hosts) and takes the ledger lock there again before anything
    // else; every booking in it is idempotent by id (blocks by hash, epoch
    // closes by k under FOR UPDATE, transfers by deterministic ids), and an
    // epoch close takes the epoch close lock again itself.
    pg::failover_retry failover(
        "the ledger step (blocks, epoch closes)",
        {std::chrono::milliseconds(100), std::chrono::milliseconds(1000), std::chrono::milliseconds(0)});
    while (!stop.load()) {
        const std::uint64_t failovers = pg::failovers_seen();
        auto step = [&]() -> result<bool> {
            if (!db.is_open() || !db.healthy()) {
                ledger_lock.reset();
                auto c = pg::connection::open(cfg_.postgres);
                if (!c) {
                    return error{c.error_message()};
                }
                db = std::move(*c);
                genesis = false;
            }
            if (!ledger_lock) {
                auto l = pg::advisory_lock::try_take(db, pg::k_ledger_lock);
                if (!l) {
                    return error{l.error_message()};
                }
                if (!*l) {
                    if (!said_locked) {
                        log::info("ledger",
                                  "another bmm-accountd runs the ledger of this database; this one only ingests");
                    }
                    said_locked = true;
                    return false;
                }
                ledger_lock.emplace(std::move(**l));
                log::info("ledger", "running the ledger: epochs of {} s from {}, blocks followed on the node",
                          cfg_.epochs.length_seconds, pg::timestamp_text(cfg_.epochs.genesis * 1000));
            }
            if (!genesis) {
                const auto g = genesis_transfers();
                auto b = ledger_store::book_transfers(db, g);
                if (!b) {
                    return error{b.error_message()};
                }
                if (b->booked) {
                    log::info("ledger", "genesis premine booked: {} transfers", b->booked);
                }
                genesis = true;
            }
            if (auto r = tracker.record_new_blocks(db); !r) {
                return error{r.error_message()};
            }
            if (auto r = tracker.record_unconfirmed_blocks(db, now_ms()); !r) {
                return error{r.error_message()};
            }
            const auto close_started = std::chrono::steady_clock::now();
            // Every stream ([redis] streams) stored past the cutoff; the one
            // that holds a close back is named once per cutoff.
            const auto stored_through = [&](std::int64_t t) -> result<bool> {
                std::string behind;
                auto r = stream_stored_through(cfg_, db, t, &behind);
                if (r && !*r && (t != waited_cutoff || behind != waited_stream) &&
                    now_ms() - t >= cfg_.epochs.close_grace_ms) {
                    waited_cutoff = t;
                    waited_stream = behind;
                    log::info("epochs",
                              "an epoch close waits for stream {}: not every entry appended before {} is stored "
                              "yet (its readers are behind or cannot read it)",
                              behind, pg::timestamp_text(t));
                }
                return r;
            };
            auto closed = close_due_epochs(db, cfg_, now_ms(), stored_through, [&]() -> result<bool> {
                auto r = tracker.record_new_blocks(db);
                if (!r) {
                    return error{r.error_message()};
                }
                return true;
            });
            if (!closed) {
                return error{closed.error_message()};
            }
            if (counters_ && closed->closed > 0) {
                counters_->closed_epochs(
                    closed->closed,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - close_started).count());
            }
            if (auto f = tracker.follow_blocks(db, now_ms()); !f) {
                return error{f.error_message()};
            }
            if (auto w = workers.step(db, now_ms()); !w) {
                log::warn("notify", "{}", w.error_message());
            }
            // min_bmm_to_mine: who may mine, after every close and every minute.
            if (closed->closed > 0 || now_ms() - gate_published_ms >= 60000) {
                if (auto g = publish_mining_gate(cfg_, db); !g) {
                    log::warn("ledger", "{}; bmm-stratum keeps the last list it read", g.error_message());
                } else {
                    gate_published_ms = now_ms();
                }
            }
            return true;
        };
        auto r = step();
        if (!r && pg::failovers_seen() != failovers) {
            ledger_lock.reset();
            db = pg::connection();
            failover.again(true, r.error_message(), &stop);
            continue;
        }
        if (r) {
            failover.succeeded();
        }
        if (!r) {
            log::warn("ledger", "{}; retrying in {} ms", r.error_message(), backoff);
            ledger_lock.reset();
            db = pg::connection();
            sleep_until_stop(stop, backoff);
            backoff = std::min<std::int64_t>(backoff * 2, 5000);
            continue;
        }
        backoff = 100;
        sleep_until_stop(stop, cfg_.epochs.step_ms);
    }
}

int run_audit(const accountd_config& cfg, const world_audit_options& world) {
    auto db = pg::connection::open(cfg.postgres);
    if (!db) {
        std::fprintf(stderr, "bmm-accountd audit: %s\n", db.error_message().c_str());
        return 1;
    }
    // audit_shares() reads its window from this setting (sql/0022).
    if (auto s = db->exec("SELECT set_config('bmm.audit_days', $1, false)", {std::to_string(world.days)}); !s) {
        std::fprintf(stderr, "bmm-accountd audit: %s\n", s.error_message().c_str());
        return 1;
    }
    std::vector<std::string> problems;
    auto sql = ledger_store::audit(*db);
    if (!sql) {
        std::fprintf(stderr, "bmm-accountd audit: %s\n", sql.error_message().c_str());
        return 1;
    }
    for (auto& p : *sql) {
        problems.push_back("ledger_audit(): " + p);
    }

    auto rows = ledger_store::load_all_transfers(*db);
    if (!rows) {
        std::fprintf(stderr, "bmm-accountd audit: %s\n", rows.error_message().c_str());
        return 1;
    }
    ledger model;
    for (auto& row : *rows) {
        transfer t;
        t.id = std::move(row.id);
        t.debit = std::move(row.debit);
        t.credit = std::move(row.credit);
        t.currency = std::move(row.currency);
        auto a = parse_amount(row.amount);
        auto k = parse_transfer_kind(row.kind);
        if (!a || !k) {
            problems.push_back("transfer " + t.id + ": unreadable amount or kind");
            continue;
        }
        t.value = *a;
        t.kind = *k;
        t.reference = std::move(row.reference);
        if (auto ok = model.apply(t); !ok) {
            problems.push_back("transfer " + t.id + ": " + ok.error_message());
        }
    }
    for (auto& p : model.check_invariants()) {
        problems.push_back("invariant: " + p);
    }
    auto balances = ledger_store::load_balances(*db);
    if (!balances) {
        std::fprintf(stderr, "bmm-accountd audit: %s\n", balances.error_message().c_str());
        return 1;
    }
    for (const auto& [key, value] : *balances) {
        if (model.balance(key.first, key.second) != value) {
            problems.push_back("balance of " + key.first + " in " + key.second + ": the view says " +
                               to_decimal(value) + ", the transfers add up to " +
                               to_decimal(model.balance(key.first, key.second)));
        }
    }
    for (auto& p : audit_world(cfg, *db, world)) {
        problems.push_back(std::move(p));
    }
    for (const auto& p : problems) {
        std::printf("%s\n", p.c_str());
    }
    std::printf("audit: %zu transfers, %zu problems\n", rows->size(), problems.size());
    return problems.empty() ? 0 : 1;
}

}  // namespace bmm::accounting
