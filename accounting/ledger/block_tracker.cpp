#include "block_tracker.hpp"

#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/due_epochs.hpp"
#include "bmm/accounting/epoch_store.hpp"
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
    auto r = block_store::new_pool_blocks(db, coins_array_literal(cfg_));
    if (!r) return error{r.error_message()};
    if (r->empty()) return std::size_t{0};
    auto n = epoch_store::first_open_epoch(db);
    if (!n) return error{n.error_message()};
    const auto first_open = static_cast<std::int64_t>(*n);
    std::size_t recorded = 0;
    for (const auto& f : *r) {
        block_store::block_row b;
        b.hash = f.hash;
        b.coin = f.coin;
        const long long height = f.height, reward = f.reward;
        const std::int64_t ms = f.ms;
        const std::int64_t found = epoch_of_ms(cfg_.epochs, ms);
        if (found < 0 || height < 0 || reward < 0) {
            if (!warned_[b.hash])
                log::warn("blocks",
                          "block {} (found {}) is before [epochs] genesis or has a bad height or reward; "
                          "it is not booked",
                          b.hash, pg::timestamp_text(ms));
            warned_[b.hash] = true;
            continue;
        }
        b.height = static_cast<std::uint64_t>(height);
        b.reward = reward;
        b.finder = f.finder;
        b.found_at = pg::timestamp_text(ms);
        b.found_epoch = static_cast<std::uint64_t>(found);
        b.epoch = static_cast<std::uint64_t>(std::max(found, first_open));
        if (auto rec = block_store::record_block(db, b); !rec) return error{rec.error_message()};
        log::info("blocks", "{} block {} at height {} by {} recorded: reward {} booked at the close of epoch {}",
                  b.coin, b.hash, b.height, b.finder, reward, b.epoch);
        ++recorded;
    }
    return recorded;
}

result<std::size_t> block_tracker::follow_blocks(pg::connection& db) {
    auto r = block_store::immature_of_closed_epochs(db);
    if (!r) return error{r.error_message()};
    std::size_t changed = 0;
    simdjson::dom::parser parser;
    for (const auto& [hash, coin] : *r) {
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
        auto done = block_store::book_block_status(db, hash, status, *ts);
        if (!done) return error{done.error_message()};
        log::info("blocks", "{} block {} is {} ({} confirmations): {} transfers booked", coin, hash, status, conf,
                  done->booked);
        ++changed;
    }
    return changed;
}

}  // namespace bmm::accounting
