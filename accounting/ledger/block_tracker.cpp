#include "block_tracker.hpp"

#include "bmm/accounting/due_epochs.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/text.hpp"

#include <simdjson.h>

namespace bmm::accounting {

node::rpc_client* block_tracker::client(const std::string& coin) {
    auto it = clients_.find(coin);
    if (it != clients_.end()) return it->second.get();
    auto cs = cfg_.coins.find(coin);
    if (cs == cfg_.coins.end() || cs->second.node.url.empty()) return nullptr;
    node::rpc_endpoint ep{cs->second.node.url, cs->second.node.user, cs->second.node.password, ""};
    return clients_.emplace(coin, std::make_unique<node::rpc_client>(ep)).first->second.get();
}

result<std::size_t> block_tracker::record_new_blocks(pg::connection& db) {
    const std::string coins = coins_array_literal(cfg_);
    auto r = db.exec("SELECT DISTINCT ON (f.hash) f.hash, f.coin, f.height, f.reward, f.account, "
                     "(extract(epoch FROM f.time) * 1000)::bigint FROM blocks_found f "
                     "WHERE f.accepted AND f.coin = ANY($1::text[]) AND f.account <> '' "
                     "AND position(':' IN f.account) = 0 AND position(':' IN f.hash) = 0 "
                     "AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = f.hash) ORDER BY f.hash, f.time",
                     {coins});
    if (!r) return error{"reading new blocks from blocks_found: " + r.error_message()};
    if (r->rows() == 0) return std::size_t{0};
    auto n = db.exec("SELECT coalesce(max(k) + 1, 0) FROM epochs WHERE closed_at IS NOT NULL");
    if (!n) return error{"reading the first open epoch: " + n.error_message()};
    const std::int64_t first_open = n->integer(0, 0);
    std::size_t recorded = 0;
    for (int i = 0; i < r->rows(); ++i) {
        ledger_store::block_row b;
        b.hash = r->text(i, 0);
        b.coin = r->text(i, 1);
        const long long height = r->integer(i, 2), reward = r->integer(i, 3);
        const std::int64_t ms = r->integer(i, 5);
        const std::int64_t found = epoch_of_ms(cfg_.epochs, ms);
        if (found < 0 || height < 0 || reward < 0) {
            if (!warned_[b.hash])
                log::warn("blocks", "block {} (found {}) is before [epochs] genesis or has a bad height or reward; "
                          "it is not booked", b.hash, pg::timestamp_text(ms));
            warned_[b.hash] = true;
            continue;
        }
        b.height = static_cast<std::uint64_t>(height);
        b.reward = reward;
        b.finder = r->text(i, 4);
        b.found_at = pg::timestamp_text(ms);
        b.found_epoch = static_cast<std::uint64_t>(found);
        b.epoch = static_cast<std::uint64_t>(std::max(found, first_open));
        if (auto rec = ledger_store::record_block(db, b); !rec) return error{rec.error_message()};
        log::info("blocks", "{} block {} at height {} by {} recorded: reward {} booked at the close of epoch {}", b.coin,
                  b.hash, b.height, b.finder, reward, b.epoch);
        ++recorded;
    }
    return recorded;
}

result<std::size_t> block_tracker::follow_blocks(pg::connection& db) {
    auto r = db.exec("SELECT b.hash, b.coin FROM blocks b JOIN epochs e ON e.k = b.epoch "
                     "WHERE b.status = 'immature' AND e.closed_at IS NOT NULL ORDER BY b.found_at, b.hash");
    if (!r) return error{"reading immature blocks: " + r.error_message()};
    std::size_t changed = 0;
    simdjson::dom::parser parser;
    for (int i = 0; i < r->rows(); ++i) {
        const std::string hash = r->text(i, 0), coin = r->text(i, 1);
        auto* c = client(coin);
        if (!c) {
            if (!warned_[coin])
                log::warn("blocks", "no node for {} ([coins.{}] node_url): its blocks stay immature", coin, coin);
            warned_[coin] = true;
            continue;
        }
        node::rpc_failure why;
        std::string params = "[\"";
        params += hash;
        params += "\"]";
        auto h = c->call("getblockheader", params, std::chrono::seconds(30), &why);
        if (!h) {
            if (why.code == -5) {
                log::warn("blocks", "the {} node does not know block {}; it stays immature", coin, hash);
                continue;
            }
            return error{h.error_message()};
        }
        std::int64_t conf = 0;
        auto doc = parser.parse(*h);
        if (doc.error() || doc["confirmations"].get(conf))
            return error{"getblockheader " + hash + ": the reply has no integer confirmations: " + h->substr(0, 200)};
        const int maturity = cfg_.coins.at(coin).maturity;
        std::string status;
        if (conf == -1) status = "orphaned";
        else if (conf >= maturity) status = "mature";
        else continue;
        auto booked = ledger_store::load_transfers(db, "block:" + hash);
        if (!booked) return error{booked.error_message()};
        auto ts = status == "mature" ? block_maturity_transfers(hash, *booked) : block_orphan_transfers(hash, *booked);
        if (!ts) return error{"block " + hash + ": " + ts.error_message()};
        auto done = ledger_store::book_block_status(db, hash, status, *ts);
        if (!done) return error{done.error_message()};
        log::info("blocks", "{} block {} is {} ({} confirmations): {} transfers booked", coin, hash, status, conf,
                  done->booked);
        ++changed;
    }
    return changed;
}

}  // namespace bmm::accounting
