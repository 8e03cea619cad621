#pragma once
// The part of `bmm-accountd audit` that checks the books against the world
// outside them (issue 13, item 4; docs/operations.md, "What the audit checks"):
//
//   records  every record bmm-stratum journaled is stored: per instance and run
//            no hole in the uid sequence (SQL record_sequence_gaps()), the
//            newest settled stream entries are stored, and the stream has
//            not lost entries the database counted (Redis entries-added);
//   chain    per coin with a node: every booked, not orphaned block is known
//            to the node (and in its main chain once mature); with the coin's
//            pool_address, every coinbase of the node wallet ([payout] wallet)
//            that pays it, in the main chain since [epochs] genesis, is a
//            booked block, and every booked block's coinbase is one of them;
//   wallet   with pool_address: the node wallet holds (trusted + pending +
//            immature) at least what the ledger owes in the coin
//            (bmm-payout wallet-check's sums, payout::wallet_check).
//
// Each problem is one line naming the thing and what to do. A check that
// cannot be made (the node or Redis unreachable, the stream not stored that
// far) is a problem too: the audit never says clean about what it did not see.

#include "bmm/accounting/config.hpp"
#include "bmm/pg/connection.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bmm::accounting {

struct world_audit_options {
    // Shares of the last `days` days are checked for repeated uids, proof-of-work
    // hashes and holes (0: every share kept). An audit run daily with days = 1
    // sees every share once, at the cost of a day of shares.
    int days = 1;
    // Records and blocks younger than this are not judged yet: the ingest and
    // the block tracker take a few seconds to store and book them.
    std::int64_t grace_ms = 120000;
    // Leave out the chain and wallet checks (the nodes are not asked): for a
    // database fed by synthetic records whose blocks no node has.
    bool skip_chain = false;
};

// The problems found (empty: clean).
std::vector<std::string> audit_world(const accountd_config& cfg, pg::connection& db, const world_audit_options& o);

}  // namespace bmm::accounting
