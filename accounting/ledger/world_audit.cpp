// bmm-accountd audit's checks of the world outside the ledger (world_audit.hpp):
// the records bmm-stratum journaled against the stream and the database, the
// booked blocks against the node's chain and wallet, the ledger's liabilities
// against the wallet's balance.

#include "bmm/accounting/world_audit.hpp"

#include "bmm/accounting/ledger_keeper.hpp"
#include "bmm/accounting/redis_reply.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/payout/execute.hpp"
#include "bmm/payout/wallet_tx.hpp"
#include "bmm/pg/text.hpp"

#include <hiredis/hiredis.h>

#include <simdjson.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>

namespace bmm::accounting {
namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using reply_ptr = redis_reply_ptr;
using context_ptr = redis_context_ptr;

std::int64_t id_ms(std::string_view id) {
    const auto dash = id.find('-');
    return std::atoll(std::string(id.substr(0, dash)).c_str());
}

// ---------------------------------------------------------------- records --

// Whether the server `c` is connected to is a replica promoted to primary
// while it ran (INFO replication: second_repl_offset is set when a replica
// becomes a primary, -1 on a server that has been a primary since it started;
// a restart clears it). A replica promoted by a failover legitimately has had
// fewer entries added to a stream than the database counted: the entries the
// old primary took and handed out but had not yet sent to this replica. Their
// records are not lost: bmm-stratum's publisher lets a record go from its
// journal only once WAIT saw it on a replica ([redis] wait_replicas) and sends
// it again otherwise, and record_sequence_gaps() (checked before the streams)
// finds any record missing below the newest stored one of each journal run.
bool promoted_since_start(redisContext* c) {
    reply_ptr r(static_cast<redisReply*>(redisCommand(c, "INFO replication")));
    if (!r || r->type != REDIS_REPLY_STRING) {
        return false;
    }
    const std::string_view text(r->str, r->len);
    const std::string_view key = "second_repl_offset:";
    const auto at = text.find(key);
    if (at == std::string_view::npos) {
        return false;
    }
    const std::string_view value = text.substr(at + key.size(), text.find_first_of("\r\n", at) - at - key.size());
    return !value.empty() && value != "-1";
}

// The stream against the database: the stream has not lost entries the
// database counted as stored, and its newest settled entries are stored.
// `records_complete`: record_sequence_gaps() found no hole (the one case a
// promoted replica's shortfall of entries is accepted, see above).
void audit_stream(const accountd_config& cfg, const std::string& stream, pg::connection& db, std::int64_t settled_ms,
                  bool records_complete, std::vector<std::string>& problems) {
    const std::string where = redis::describe(cfg.redis) + " stream " + stream;
    auto stored = db.exec("SELECT coalesce(sum(entries), 0) FROM stream_state WHERE stream = $1 AND grp = $2",
                          {stream, cfg.redis.group});
    if (!stored) {
        problems.push_back("records: " + stored.error_message());
        return;
    }
    const long long counted = stored->integer(0, 0);
    auto conn = redis::connect(cfg.redis, std::chrono::milliseconds(5000));
    if (!conn) {
        problems.push_back("records: " + conn.error_message() +
                           ": the stream was not checked; start Redis and audit again");
        return;
    }
    const context_ptr& c = conn->ctx;
    reply_ptr info(static_cast<redisReply*>(redisCommand(c.get(), "XINFO STREAM %s", stream.c_str())));
    if (!info || info->type != REDIS_REPLY_ARRAY) {
        if (counted > 0) {
            problems.push_back("records: " + where + " does not exist, but " + std::to_string(counted) +
                               " of its entries are stored: Redis lost the stream (restarted without its data?); "
                               "records still only in it are lost: compare each bmm-stratum's journal");
        }
        return;
    }
    const std::string added = redis_text(redis_field(info.get(), "entries-added"));
    if (!added.empty() && std::atoll(added.c_str()) < counted && !(records_complete && promoted_since_start(c.get()))) {
        problems.push_back("records: " + where + " has had " + added + " entries added, but the database stored " +
                           std::to_string(counted) +
                           " of them (stream_state): Redis lost entries (a restart without its data, a stream "
                           "deleted and made again, or a failover to a replica that lacked them while records are "
                           "missing too); records only in the lost entries are lost: compare each "
                           "bmm-stratum's journal with the database");
    }
    // The newest entries appended before settled_ms (every such entry is
    // stored: stream_stored_through): each one's uid is in the database.
    const std::string below = std::to_string(settled_ms - 1) + "-18446744073709551615";
    reply_ptr tail(
        static_cast<redisReply*>(redisCommand(c.get(), "XREVRANGE %s %s - COUNT 500", stream.c_str(), below.c_str())));
    if (!tail || tail->type != REDIS_REPLY_ARRAY) {
        problems.push_back("records: " + where + ": XREVRANGE failed: the stream's tail was not checked");
        return;
    }
    std::vector<std::string> ids, uids;
    std::map<std::string, std::string> uid_of;
    for (std::size_t i = 0; i < tail->elements; ++i) {
        const redisReply* e = tail->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) {
            continue;
        }
        const std::string id = redis_text(e->element[0]);
        const std::string uid = redis_text(redis_field(e->element[1], "uid"));
        ids.push_back(id);
        uids.push_back(uid);
        uid_of[id] = uid;
    }
    if (ids.empty()) {
        return;
    }
    auto found = db.exec(
        "SELECT i.id FROM unnest($1::text[], $2::text[]) AS i(id, uid) "
        "WHERE NOT EXISTS (SELECT 1 FROM shares s WHERE s.uid = i.uid) "
        "AND NOT EXISTS (SELECT 1 FROM blocks_found b WHERE b.uid = i.uid) "
        "AND NOT bmm_record_counted(i.uid) "  // a rejected share counted, not a row (sql/0026)
        "AND NOT EXISTS (SELECT 1 FROM ingest_errors x WHERE x.stream = $3 AND (x.stream_id = i.id OR "
        "x.fields ->> 'uid' = i.uid)) ORDER BY i.id",
        {pg::text_array_of(ids), pg::text_array_of(uids), stream});
    if (!found) {
        problems.push_back("records: " + found.error_message());
        return;
    }
    for (int r = 0; r < found->rows(); ++r) {
        const std::string id = found->text(r, 0);
        problems.push_back("records: " + where + " entry " + id + " (uid " + uid_of[id] + ", appended " +
                           pg::timestamp_text(id_ms(id)) +
                           ") was delivered and acknowledged but is not stored: store it again from the stream "
                           "(XRANGE " +
                           stream + " " + id + " " + id + ")");
    }
}

// Whether the stream exists in Redis (a pool that never recorded anything has none).
result<bool> stream_exists(const accountd_config& cfg, const std::string& stream) {
    auto conn = redis::connect(cfg.redis, std::chrono::milliseconds(5000));
    if (!conn) {
        return error{conn.error_message()};
    }
    const context_ptr& c = conn->ctx;
    reply_ptr r(static_cast<redisReply*>(redisCommand(c.get(), "EXISTS %s", stream.c_str())));
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        return error{"Redis: EXISTS " + stream + " failed"};
    }
    return r->integer > 0;
}

void audit_records(const accountd_config& cfg, pg::connection& db, const world_audit_options& o,
                   std::vector<std::string>& problems) {
    const std::int64_t settled_ms = now_ms() - o.grace_ms;
    // Every stream of [redis] streams (one per bmm-stratum instance, or per
    // shard); one that does not exist yet has recorded nothing.
    accountd_config present = cfg;
    present.redis.streams.clear();
    for (const auto& stream : cfg.redis.all_streams()) {
        auto exists = stream_exists(cfg, stream);
        if (!exists) {
            problems.push_back("records: " + exists.error_message() + ": the records were not checked");
            return;
        }
        if (*exists) {
            present.redis.streams.push_back(stream);
        }
    }
    std::string behind;
    auto through =
        present.redis.streams.empty() ? result<bool>(true) : stream_stored_through(present, db, settled_ms, &behind);
    if (!through) {
        problems.push_back("records: " + through.error_message() + ": the records were not checked");
        return;
    }
    if (!*through) {
        problems.push_back("records: the stream " + behind + " is not stored up to " + pg::timestamp_text(settled_ms) +
                           " (bmm-accountd run is behind or stopped, or entries are pending on a consumer that is "
                           "gone): the records were not checked; audit again once it has caught up");
        return;
    }
    const std::string since =
        o.days <= 0 ? std::string("-infinity") : pg::timestamp_text(now_ms() - std::int64_t{o.days} * 86400000);
    auto gaps =
        db.exec("SELECT * FROM record_sequence_gaps($1::timestamptz, $2::bigint)", {since, std::to_string(settled_ms)});
    if (!gaps) {
        problems.push_back("records: " + gaps.error_message());
        return;
    }
    for (int r = 0; r < gaps->rows(); ++r) {
        problems.push_back("records: " + gaps->text(r, 0));
    }
    for (const auto& stream : present.redis.streams) {
        audit_stream(cfg, stream, db, settled_ms, gaps->rows() == 0, problems);
    }
}

// ------------------------------------------------------------------ chain --

struct booked_block {
    std::string hash, status;
    long long height = 0;
    std::int64_t found_ms = 0;
};

struct wallet_coinbase {
    std::string category;  // generate, immature, orphan
    long long confirmations = 0;
    long long height = -1;
    std::int64_t time_ms = 0;      // the block's time (a fast regtest chain runs ahead of the clock)
    std::int64_t received_ms = 0;  // when the wallet saw it, by the node's clock
};

// Every booked, not orphaned block of `coin` is known to its node, and in the
// main chain once mature. Returns the immature booked blocks that are on a side
// chain now: they wait for the block tracker's orphan verdict ([coins.X]
// orphan_readings, which need the chain to move on), and the wallet no longer
// lists their coinbase as in a block (a reorg, also one the node makes on a
// restart between tips of equal work, leaves it unconfirmed).
std::set<std::string> audit_booked_on_node(const std::string& coin, node::rpc_client& node,
                                           const std::vector<booked_block>& booked,
                                           std::vector<std::string>& problems) {
    std::set<std::string> off_chain;
    if (booked.empty()) {
        return off_chain;
    }
    simdjson::dom::parser parser;
    for (const auto& b : booked) {
        node::rpc_failure why;
        auto r = node.call("getblockheader", "[\"" + b.hash + "\"]", std::chrono::seconds(30), &why);
        if (!r && why.code == -5) {
            problems.push_back("chain: " + coin + " block " + b.hash + " (height " + std::to_string(b.height) + ", " +
                               b.status +
                               ") is booked but the node does not know it: a block the pool never found, or the "
                               "node's chain is not the pool's; check the node, and reverse the block's transfers "
                               "if it is not a block of the chain");
            continue;
        }
        if (!r) {
            problems.push_back("chain: " + coin + ": " + r.error_message() + ": the booked blocks were not checked");
            return off_chain;
        }
        std::int64_t conf = 0;
        auto doc = parser.parse(*r);
        if (doc.error() || doc["confirmations"].get(conf)) {
            problems.push_back("chain: " + coin + " block " + b.hash +
                               ": getblockheader answered without confirmations: " + r->substr(0, 200));
            continue;
        }
        if (conf < 0 && b.status == "mature") {
            problems.push_back("chain: " + coin + " block " + b.hash + " (height " + std::to_string(b.height) +
                               ") is mature in the ledger but not in the node's main chain: its released rewards "
                               "are owed by no coinbase; book a correction");
        } else if (conf < 0) {
            off_chain.insert(b.hash);
        }
    }
    return off_chain;
}

// The wallet's coinbases that pay `address`, by block hash.
result<std::map<std::string, wallet_coinbase>> wallet_coinbases(payout::node_wallet& w, const std::string& address) {
    auto r = w.call("listsinceblock", "[]");
    if (!r) {
        return error{r.error_message()};
    }
    simdjson::dom::parser parser;
    auto doc = parser.parse(*r);
    simdjson::dom::array txs;
    if (doc.error() || doc["transactions"].get(txs)) {
        return error{"listsinceblock: the reply has no transactions array: " + r->substr(0, 200)};
    }
    std::map<std::string, wallet_coinbase> out;
    for (auto t : txs) {
        std::string_view category, addr, hash;
        if (t["category"].get(category) || t["address"].get(addr) || addr != address ||
            (category != "generate" && category != "immature" && category != "orphan") || t["blockhash"].get(hash)) {
            continue;
        }
        wallet_coinbase c;
        c.category = std::string(category);
        std::int64_t v = 0;
        if (!t["confirmations"].get(v)) {
            c.confirmations = v;
        }
        if (!t["blockheight"].get(v)) {
            c.height = v;
        }
        if (!t["blocktime"].get(v)) {
            c.time_ms = v * 1000;
        }
        if (!t["timereceived"].get(v)) {
            c.received_ms = v * 1000;
        }
        out[std::string(hash)] = c;
    }
    return out;
}

void audit_coin(const accountd_config& cfg, pg::connection& db, const std::string& coin, const coin_settings& cs,
                const world_audit_options& o, std::vector<std::string>& problems) {
    auto rows = db.exec(
        "SELECT hash, status, height, (extract(epoch FROM found_at) * 1000)::bigint FROM blocks WHERE coin = $1 "
        "ORDER BY height, hash",
        {coin});
    if (!rows) {
        problems.push_back("chain: " + rows.error_message());
        return;
    }
    std::vector<booked_block> booked;  // not orphaned
    std::map<std::string, booked_block> all;
    for (int r = 0; r < rows->rows(); ++r) {
        booked_block b{rows->text(r, 0), rows->text(r, 1), rows->integer(r, 2), rows->integer(r, 3)};
        if (b.status != "orphaned") {
            booked.push_back(b);
        }
        all.emplace(b.hash, b);
    }
    node::rpc_client node(node::rpc_endpoint{cs.node.url, cs.node.user, cs.node.password, ""});
    const std::set<std::string> off_chain = audit_booked_on_node(coin, node, booked, problems);
    if (cs.pool_address.empty()) {
        return;
    }

    // The wallet that receives the pool's coinbases: its coinbases to the pool address against the booked blocks.
    payout::node_wallet w(node::rpc_endpoint{cs.node.url, cs.node.user, cs.node.password, cfg.payout.wallet}, "");
    const std::string wallet = "wallet '" + cfg.payout.wallet + "'";
    auto cbs = wallet_coinbases(w, cs.pool_address);
    if (!cbs) {
        problems.push_back("chain: " + coin + " " + wallet + ": " + cbs.error_message() +
                           ": its coinbases were not checked; set [payout] wallet to the wallet holding " +
                           cs.pool_address);
    } else {
        // The pool's own span of the chain: from the lowest block it recorded on or after genesis (blocks
        // mined to the same address before the pool ran, as a regtest stack's set-up blocks, are not its;
        // block times cannot tell, a fast regtest chain runs ahead of the clock).
        const std::int64_t genesis_ms = cfg.epochs.enabled ? cfg.epochs.genesis * 1000 : 0;
        auto first = db.exec("SELECT coalesce(min(height), -1) FROM blocks_found WHERE coin = $1 AND time >= $2",
                             {coin, pg::timestamp_text(genesis_ms)});
        if (!first) {
            problems.push_back("chain: " + first.error_message());
            return;
        }
        const long long first_height = first->integer(0, 0);
        const std::int64_t settled_ms = now_ms() - o.grace_ms;
        for (const auto& [hash, c] : *cbs) {
            if (c.category == "orphan" || c.confirmations < 1 || first_height < 0 || c.height < first_height ||
                c.time_ms < genesis_ms || c.received_ms >= settled_ms) {
                continue;
            }
            auto it = all.find(hash);
            if (it == all.end()) {
                problems.push_back("chain: " + coin + " block " + hash + " at height " + std::to_string(c.height) +
                                   " is in the main chain and its coinbase pays the pool (" + cs.pool_address + ", " +
                                   wallet +
                                   ") but it is not booked in blocks: a block the pool found and "
                                   "lost (no record reached the database); book it (bmm-accountd books a block from "
                                   "its blocks_found row) and split its reward");
            } else if (it->second.status == "orphaned") {
                problems.push_back("chain: " + coin + " block " + hash + " at height " + std::to_string(c.height) +
                                   " is booked as orphaned but is in the main chain paying the pool: its reward "
                                   "was reversed and is owed again");
            }
        }
        for (const auto& b : booked) {
            if (!cbs->count(b.hash) && b.found_ms < settled_ms && !off_chain.count(b.hash)) {
                problems.push_back("chain: " + coin + " block " + b.hash + " (height " + std::to_string(b.height) +
                                   ", " + b.status + ") is booked but no coinbase of " + wallet + " paying " +
                                   cs.pool_address +
                                   " is in it: its reward is not the pool's; check the block on "
                                   "the node and reverse its transfers if it does not pay the pool");
            }
        }
    }

    // The wallet holds what the ledger owes in the coin (bmm-payout wallet-check's sums, immature included).
    auto g = payout::wallet_check(db, w, coin);
    if (!g) {
        problems.push_back("wallet: " + coin + " " + wallet + ": " + g.error_message() +
                           ": the liabilities were not checked");
        return;
    }
    const std::int64_t held = g->wallet + g->immature, owed = g->owed - g->sent_unbooked;
    if (held < owed) {
        problems.push_back("wallet: " + coin + " " + wallet + " holds " + payout::format_coins(held) + " " + coin +
                           " (trusted, pending and immature) but the ledger owes " + payout::format_coins(owed) + " " +
                           coin + " (holders, pool and in-flight payouts, less payouts sent and not yet booked): " +
                           payout::format_coins(owed - held) + " " + coin +
                           " missing; find what left the wallet (listtransactions) and fund it before paying out");
    }
}

}  // namespace

std::vector<std::string> audit_world(const accountd_config& cfg, pg::connection& db, const world_audit_options& o) {
    std::vector<std::string> problems;
    audit_records(cfg, db, o, problems);
    for (const auto& [coin, cs] : cfg.coins) {
        if (!o.skip_chain && !cs.node.url.empty()) {
            audit_coin(cfg, db, coin, cs, o, problems);
        }
    }
    return problems;
}

}  // namespace bmm::accounting
