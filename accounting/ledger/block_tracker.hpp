#pragma once
// The block tracker: the pool's blocks from blocks_found (the stream's
// type=block records the node accepted) into the ledger's blocks table, and
// their fate from the coin's node.
//
// Order, per block (ACCOUNTING.md, "Coin rewards and dividends"):
//   1. recorded (status immature) in blocks with epoch = the epoch it was
//      found in, or the first open epoch when that one has closed already (a
//      record that reached PostgreSQL late); its found_epoch stays, so a pp
//      block is still split by the PP of the epoch it was found in;
//   2. its reward is booked, immature, at the close of that epoch
//      (due_epochs.hpp), whatever the node says by then;
//   3. only then is its status followed: getblockheader's confirmations >=
//      [coins.X] maturity books the release (immature -> available);
//      confirmations == -1 (not in the main chain) [coins.X] orphan_readings
//      times, each at least orphan_reading_blocks node heights after the one
//      before, books the reversal; so does an error -5 (unknown to the node)
//      that lasts unknown_orphan_seconds. An orphaned block back in the main
//      chain has its reversal reversed (status immature again, or mature when
//      it had matured); a block orphaned after it matured is taken back from
//      the available balances it went to (a debt when spent). Matured and
//      orphaned blocks are followed until the tip is maturity +
//      follow_past_maturity blocks past them.
// So a block that matures or is orphaned before its epoch closes is booked
// at the close and released or reversed right after it: the end state is the
// same as for a slower block, and nothing depends on which came first.
//
// Blocks no record says the node accepted (submitblock answered "duplicate",
// "inconclusive", an error or nothing within its time-out, or bmm-stratum
// stopped between its record and the answer) are asked about by hash
// (getblockheader) at every step: one in the main chain is recorded as in
// step 1; one on a side chain or unknown to the node is asked about again
// until the chain is [coins.X] maturity blocks past its height (buried: it
// can no longer become the pool's), then left, logged once. A block recorded
// only before submitblock waits k_answer_wait for its answer first, so that
// the answer's record, not this check, records a block bmm-stratum submitted;
// no wait once a share from a later start of that bmm-stratum instance is
// stored (the process that submitted is gone: its answer never comes).

#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/notify/webhook.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <simdjson.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace bmm::accounting {

class block_tracker {
public:
    explicit block_tracker(const accountd_config& cfg) : cfg_(cfg) {}
    // Where block_found (step 1), block_mature and block_orphaned (step 3)
    // are sent ([notify]); none: not sent. It outlives the tracker.
    void notify_to(notify::webhook* w) { notifier_ = w; }

    // Step 1 for every accepted pool block not yet in blocks; returns how many were recorded.
    result<std::size_t> record_new_blocks(pg::connection& db);
    // Step 1 for the blocks no record says the node accepted, once the chain
    // has them in its main chain; returns how many were recorded.
    result<std::size_t> record_unconfirmed_blocks(pg::connection& db, std::int64_t now_ms);
    static constexpr std::chrono::seconds k_answer_wait{65};  // bmm-stratum's submitblock time-out, and some
    // Step 3 for every immature block whose epoch has closed, and the matured
    // and orphaned blocks not settled yet; returns how many changed status.
    result<std::size_t> follow_blocks(pg::connection& db, std::int64_t now_ms);

private:
    node::rpc_client* client(const std::string& coin);
    void notify_fate(const std::string& coin, const std::string& hash, std::int64_t confirmations, const char* event);
    result<bool> follow_block(pg::connection& db, node::rpc_client& c, simdjson::dom::parser& parser,
                              const coin_settings& cs, const block_store::followed_block& b, std::int64_t now_ms);
    result<bool> record_block(pg::connection& db, const block_store::found_block& f, std::int64_t first_open);
    std::set<std::string> left_;       // hashes buried off the main chain (asked no more)
    std::set<std::string> announced_;  // hashes asked about early because their bmm-stratum restarted
    const accountd_config& cfg_;
    std::map<std::string, std::unique_ptr<node::rpc_client>> clients_;
    std::map<std::string, bool> warned_;
    notify::webhook* notifier_ = nullptr;
};

}  // namespace bmm::accounting
