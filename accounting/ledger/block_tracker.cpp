#include "block_tracker.hpp"

#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/due_epochs.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/json/writer.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/text.hpp"

#include <simdjson.h>

#include <cstdlib>

namespace bmm::accounting {

node::rpc_client* block_tracker::client(const std::string& coin) {
    auto it = clients_.find(coin);
    if (it != clients_.end()) return it->second.get();
    auto cs = cfg_.coins.find(coin);
    if (cs == cfg_.coins.end() || cs->second.node.url.empty()) return nullptr;
    node::rpc_endpoint ep{cs->second.node.url, cs->second.node.user, cs->second.node.password, ""};
    return clients_.emplace(coin, std::make_unique<node::rpc_client>(ep)).first->second.get();
}

// Step 1 for one block: recorded in blocks with its found and booking epochs;
// false when it cannot be (before genesis, a bad height or reward: warned once).
result<bool> block_tracker::record_block(pg::connection& db, const block_store::found_block& f,
                                         std::int64_t first_open) {
    block_store::block_row b;
    b.hash = f.hash;
    b.coin = f.coin;
    const long long height = f.height, reward = f.reward;
    const std::int64_t ms = f.ms;
    const std::int64_t found = epoch_of_ms(cfg_.epochs, ms);
    if (found < 0 || height < 0 || reward < 0) {
        if (!warned_[b.hash]) {
            log::warn("blocks",
                      "block {} (found {}) is before [epochs] genesis or has a bad height or reward; "
                      "it is not booked",
                      b.hash, pg::timestamp_text(ms));
        }
        warned_[b.hash] = true;
        return false;
    }
    b.height = static_cast<std::uint64_t>(height);
    b.reward = reward;
    b.finder = f.finder;
    b.found_at = pg::timestamp_text(ms);
    b.found_epoch = static_cast<std::uint64_t>(found);
    b.epoch = static_cast<std::uint64_t>(std::max(found, first_open));
    if (auto rec = block_store::record_block(db, b); !rec) {
        return error{rec.error_message()};
    }
    log::info("blocks", "{} block {} at height {} by {} recorded: reward {} booked at the close of epoch {}", b.coin,
              b.hash, b.height, b.finder, reward, b.epoch);
    if (notifier_) {
        json::writer w;
        w.begin_object();
        w.key("coin").str(b.coin);
        w.key("hash").str(b.hash);
        w.key("height").number(b.height);
        w.key("reward").number(reward);
        w.key("finder").str(b.finder);
        w.key("found_at").str(b.found_at);
        w.key("epoch").number(b.epoch);
        w.key("maturity").number(cfg_.coins.count(b.coin) ? cfg_.coins.at(b.coin).maturity : 0);
        w.end_object();
        notifier_->send(notify::k_block_found, w.take());
    }
    return true;
}

result<std::size_t> block_tracker::record_new_blocks(pg::connection& db) {
    auto r = block_store::new_pool_blocks(db, coins_array_literal(cfg_));
    if (!r) {
        return error{r.error_message()};
    }
    if (r->empty()) {
        return std::size_t{0};
    }
    auto n = epoch_store::first_open_epoch(db);
    if (!n) {
        return error{n.error_message()};
    }
    std::size_t recorded = 0;
    for (const auto& f : *r) {
        auto done = record_block(db, f, static_cast<std::int64_t>(*n));
        if (!done) {
            return error{done.error_message()};
        }
        recorded += *done ? 1 : 0;
    }
    return recorded;
}

result<std::size_t> block_tracker::record_unconfirmed_blocks(pg::connection& db, std::int64_t now_ms) {
    auto r = block_store::unconfirmed_pool_blocks(db, coins_array_literal(cfg_));
    if (!r) {
        return error{r.error_message()};
    }
    std::size_t recorded = 0;
    simdjson::dom::parser parser;
    std::map<std::string, std::int64_t> tips;  // per coin, asked once a step when needed
    for (const auto& u : *r) {
        const auto& f = u.block;
        const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(k_answer_wait).count();
        const bool waiting = !u.answered && now_ms - u.last_ms < wait_ms;
        if (left_.count(f.hash) || (waiting && !u.restarted)) {
            continue;
        }
        if (waiting && announced_.insert(f.hash).second) {
            log::info("blocks",
                      "{} block {} at height {}: the bmm-stratum that recorded it before submitblock has started again "
                      "since, so its answer never comes: asking the node now",
                      f.coin, f.hash, f.height);
        }
        auto* c = client(f.coin);
        if (!c) {
            continue;  // follow_blocks warns about a coin without a node
        }
        node::rpc_failure why;
        auto h = c->call("getblockheader", "[\"" + f.hash + "\"]", std::chrono::seconds(30), &why);
        if (!h && why.code != -5) {
            return error{h.error_message()};
        }
        std::int64_t conf = -1;
        if (h) {
            auto doc = parser.parse(*h);
            if (doc.error() || doc["confirmations"].get(conf)) {
                return error{"getblockheader " + f.hash +
                             ": the reply has no integer confirmations: " + h->substr(0, 200)};
            }
        }
        if (conf >= 1) {
            auto n = epoch_store::first_open_epoch(db);
            if (!n) {
                return error{n.error_message()};
            }
            auto done = record_block(db, f, static_cast<std::int64_t>(*n));
            if (!done) {
                return error{done.error_message()};
            }
            if (*done) {
                log::warn("blocks",
                          "{} block {} at height {} is in the main chain ({} confirmations) though no record says "
                          "the node accepted it (last answer: {}): recorded",
                          f.coin, f.hash, f.height, conf, u.answer);
                ++recorded;
            }
            continue;
        }
        // Off the main chain or unknown: buried once the tip is maturity blocks past it.
        auto tip = tips.find(f.coin);
        if (tip == tips.end()) {
            auto count = c->call("getblockcount", "[]", std::chrono::seconds(30));
            if (!count) {
                return error{count.error_message()};
            }
            tip = tips.emplace(f.coin, std::atoll(count->c_str())).first;
        }
        if (tip->second - f.height >= cfg_.coins.at(f.coin).maturity) {
            log::warn("blocks",
                      "{} block {} at height {} is {} and the chain is {} blocks past it: not the pool's, asked no "
                      "more (last answer: {})",
                      f.coin, f.hash, f.height, h ? "on a side chain" : "unknown to the node", tip->second - f.height,
                      u.answer);
            left_.insert(f.hash);
        }
    }
    return recorded;
}

// A block's new fate to the webhooks ([notify]), when they are set.
void block_tracker::notify_fate(const std::string& coin, const std::string& hash, std::int64_t confirmations,
                                const char* event) {
    if (!notifier_) {
        return;
    }
    json::writer w;
    w.begin_object();
    w.key("coin").str(coin);
    w.key("hash").str(hash);
    w.key("confirmations").number(confirmations);
    w.end_object();
    notifier_->send(event, w.take());
}

result<std::size_t> block_tracker::follow_blocks(pg::connection& db, std::int64_t now_ms) {
    std::size_t changed = 0;
    simdjson::dom::parser parser;
    for (const auto& [coin, cs] : cfg_.coins) {
        auto* c = client(coin);
        if (!c) {
            if (!warned_[coin]) {
                log::warn("blocks", "no node for {} ([coins.{}] node_url): its blocks stay immature", coin, coin);
            }
            warned_[coin] = true;
            continue;
        }
        auto count = c->call("getblockcount", "[]", std::chrono::seconds(30));
        if (!count) {
            // This coin's blocks wait; the other coins and the epoch closes go on.
            if (!warned_["node:" + coin]) {
                log::warn("blocks", "{}: {}; its blocks are not followed until the node answers", coin,
                          count.error_message());
            }
            warned_["node:" + coin] = true;
            continue;
        }
        warned_["node:" + coin] = false;
        const std::int64_t tip = std::atoll(count->c_str());
        // Matured and orphaned blocks deeper than maturity + follow_past_maturity are settled.
        const std::int64_t settled_below = tip - cs.maturity - cs.follow_past_maturity;
        auto r = block_store::followed_blocks(db, coin, settled_below);
        if (!r) {
            return error{r.error_message()};
        }
        for (const auto& b : *r) {
            auto d = follow_block(db, *c, parser, cs, b, now_ms);
            if (!d) {
                return error{d.error_message()};
            }
            changed += *d ? 1 : 0;
        }
    }
    return changed;
}

// One block's step: the node's answer read into its readings, and its fate
// booked when the readings decide it. Whether its status changed.
result<bool> block_tracker::follow_block(pg::connection& db, node::rpc_client& c, simdjson::dom::parser& parser,
                                         const coin_settings& cs, const block_store::followed_block& b,
                                         std::int64_t now_ms) {
    node::rpc_failure why;
    auto h = c.call("getblockheader", "[\"" + b.hash + "\"]", std::chrono::seconds(30), &why);
    if (!h && why.code != -5) {
        return error{h.error_message()};
    }
    std::int64_t conf = 0;
    if (h) {
        auto doc = parser.parse(*h);
        if (doc.error() || doc["confirmations"].get(conf)) {
            return error{"getblockheader " + b.hash + ": the reply has no integer confirmations: " + h->substr(0, 200)};
        }
    }
    const bool orphaned = b.status == "orphaned";
    std::string verdict;  // why it is orphaned now, when it is
    if (!h) {
        // Unknown to the node: orphaned once that has lasted unknown_orphan_seconds.
        if (orphaned) {
            return false;
        }
        const std::int64_t since = b.unknown_since_ms < 0 ? now_ms : b.unknown_since_ms;
        if (b.unknown_since_ms < 0) {
            log::warn("blocks",
                      "the {} node does not know block {} (error -5); it is orphaned if that lasts {} s "
                      "([coins.{}] unknown_orphan_seconds)",
                      b.coin, b.hash, cs.unknown_orphan_seconds, b.coin);
            if (auto s = block_store::set_block_readings(db, b.hash, b.orphan_readings, b.orphan_reading_height, since);
                !s) {
                return error{s.error_message()};
            }
        }
        if (now_ms - since < cs.unknown_orphan_seconds * 1000) {
            return false;
        }
        verdict = "unknown to the node for " + std::to_string((now_ms - since) / 1000) + " s";
    } else if (conf == -1) {
        // Off the main chain: orphaned after orphan_readings readings orphan_reading_blocks apart.
        if (orphaned) {
            return false;
        }
        // The reading's height is the node's tip now, after the header: the
        // tip follow_blocks read before it could be from before a reorg (an
        // invalidated branch), a height the chain no longer has, putting the
        // next reading off until the chain grows past it again.
        auto count = c.call("getblockcount", "[]", std::chrono::seconds(30));
        if (!count) {
            return error{count.error_message()};
        }
        const std::int64_t tip = std::atoll(count->c_str());
        int readings = b.orphan_readings;
        std::int64_t at = b.orphan_reading_height;
        if (readings == 0 || tip >= at + cs.orphan_reading_blocks) {
            ++readings;
            at = tip;
            log::info("blocks", "{} block {} is off the main chain at node height {}: reading {} of {}", b.coin, b.hash,
                      tip, readings, cs.orphan_readings);
            if (readings < cs.orphan_readings || b.unknown_since_ms >= 0) {
                if (auto s = block_store::set_block_readings(db, b.hash, readings, at, -1); !s) {
                    return error{s.error_message()};
                }
            }
        }
        if (readings < cs.orphan_readings) {
            return false;
        }
        verdict =
            std::to_string(readings) + " readings of confirmations -1, the last at node height " + std::to_string(at);
    } else if (b.orphan_readings > 0 || b.unknown_since_ms >= 0) {
        // Back in the main chain before the verdict: the readings start again.
        log::info("blocks",
                  "{} block {} is in the main chain again ({} confirmations): its orphan readings are cleared", b.coin,
                  b.hash, conf);
        if (auto s = block_store::set_block_readings(db, b.hash, 0, -1, -1); !s) {
            return error{s.error_message()};
        }
    }
    auto booked = ledger_store::load_transfers(db, "block:" + b.hash);
    if (!booked) {
        return error{booked.error_message()};
    }
    if (!verdict.empty()) {
        auto ts = block_orphan_transfers(b.hash, *booked);
        if (!ts) {
            return error{"block " + b.hash + ": " + ts.error_message()};
        }
        auto done = block_store::book_block_fate(db, b.hash, "orphaned", {"immature", "mature"}, *ts);
        if (!done) {
            return error{done.error_message()};
        }
        if (b.status == "mature") {
            log::error("blocks",
                       "{} block {} is orphaned after it matured ({}): its rewards are taken back from the "
                       "available balances they went to ({} transfers); what was spent already is a debt that "
                       "later earnings repay",
                       b.coin, b.hash, verdict, done->booked);
        } else {
            log::info("blocks", "{} block {} is orphaned ({}): {} transfers booked", b.coin, b.hash, verdict,
                      done->booked);
        }
        notify_fate(b.coin, b.hash, h ? conf : -1, notify::k_block_orphaned);
        return true;
    }
    if (orphaned) {
        if (conf < 1) {
            return false;
        }
        auto ret = block_return_transfers(b.hash, *booked);
        if (!ret) {
            return error{"block " + b.hash + ": " + ret.error_message()};
        }
        auto done = block_store::book_block_fate(db, b.hash, ret->status, {"orphaned"}, ret->transfers);
        if (!done) {
            return error{done.error_message()};
        }
        log::warn("blocks",
                  "{} block {} is back in the main chain ({} confirmations): its reversal is reversed, {} "
                  "transfers booked, status {}",
                  b.coin, b.hash, conf, done->booked, ret->status);
        return true;
    }
    if (b.status != "immature" || conf < cs.maturity) {
        return false;
    }
    auto ts = block_maturity_transfers(b.hash, *booked);
    if (!ts) {
        return error{"block " + b.hash + ": " + ts.error_message()};
    }
    auto done = block_store::book_block_fate(db, b.hash, "mature", {"immature"}, *ts);
    if (!done) {
        return error{done.error_message()};
    }
    log::info("blocks", "{} block {} is mature ({} confirmations): {} transfers booked", b.coin, b.hash, conf,
              done->booked);
    notify_fate(b.coin, b.hash, conf, notify::k_block_mature);
    return true;
}

}  // namespace bmm::accounting
