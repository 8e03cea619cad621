#pragma once
// Planning a payout batch (bmm-payout plan): which holder balances are paid,
// to which addresses, how much; the lines go to create_batch (batch_store.hpp).
//
// Rules (docs/accounting.md, "Payouts"):
// - Every row of the accounts table is a holder: "alice" holds
//   user:alice:available, "foundation:x" holds foundation:x. A holder whose
//   available balance in the currency reaches the threshold (--min, else
//   [payout.min_amount] <CUR>, else payout_min_amount's default) is paid its
//   whole balance, split over its wallets of that currency by share_ppm
//   (largest remainder, ties to the address that sorts first: the parts add
//   up to the balance exactly).
// - Skipped, listed with the reason, and left in the balance: a holder with no
//   wallet in the currency; a holder with an open line in an open batch of the
//   currency (no line in two open batches); a part to an address the node (or
//   EIP-55) refuses, to an MWEB address, below the address type's dust, or
//   below the threshold.
// - Dust (coins), as Bitcoin/Litecoin Core's GetDustThreshold with Litecoin's
//   dust relay fee of 30,000 litoshi/kvB: 30 x (output size + spend size),
//   output size = 8 + 1 + scriptPubKey length, spend size 67 for witness
//   programs and 148 otherwise (P2WPKH 2,940, P2PKH 5,460, P2SH 5,400,
//   P2WSH/P2TR 3,300). A part below its dust is skipped.
// - Two holders paying to one address get one line each; the transaction
//   builder (execute) merges lines to one address into one output, and the
//   stored outputs (payout_attempts.outputs) show that output once with the
//   sum of those lines, which is what store_attempt and the audit check.
// - Lines are ordered by holder name, then address.
//
// Addresses are checked again at plan time with the node's validateaddress
// (isvalid, scriptPubKey, iswitness, ismweb), all in one JSON-RPC batch
// request, and BMM addresses by their EIP-55 checksum (the line holds the
// checksummed spelling).

#include "bmm/accounting/amount.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/payout/batch_store.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::payout {

// Litecoin's dust relay fee per byte (DUST_RELAY_TX_FEE 30,000 per kvB).
inline constexpr std::int64_t k_dust_relay_fee_per_byte = 30;
// The dust threshold of an output with this scriptPubKey length (bytes).
std::int64_t dust_threshold(std::size_t script_pubkey_bytes, bool is_witness);

// Why an MWEB address cannot be paid by a batch.
inline constexpr std::string_view k_mweb_refusal =
    "MWEB address: Litecoin Core 0.21.2 writes MWEB addresses into raw/PSBT transactions as an empty-script output "
    "and allows one MWEB recipient per wallet transaction; bind a regular (ltc1/L/M) address to be paid";

// What the node says about an address.
struct address_check {
    bool valid = false;
    std::string address;  // the canonical spelling
    std::string reason;   // why it cannot be paid (empty when it can)
    std::int64_t dust = 0;
};

// Checks addresses of one currency: BMM by EIP-55 locally, a coin with its
// node's validateaddress (one batch request for all of them).
class address_checker {
public:
    // `node` is the node of `currency` (ignored for BMM).
    address_checker(std::string currency, accounting::node_settings node);
    // One answer per address, in order; an error when the node cannot be asked.
    result<std::vector<address_check>> check(const std::vector<std::string>& addresses);

private:
    std::string currency_;
    accounting::node_settings node_;
};

// The node that checks `currency`'s addresses: [coins.<CUR>] node_url, else
// [node] when its currency is this one. An error saying what to configure
// when there is none (BMM needs none: an empty node).
result<accounting::node_settings> node_for(const accounting::accountd_config& cfg, std::string_view currency);

struct skipped_part {
    std::string account;
    std::string address;  // empty when the whole holder is skipped
    amount value;
    std::string reason;  // e.g. "no LTC wallet bound"
};

struct plan_outcome {
    std::optional<batch> planned;       // none when no line qualified (nothing stored)
    std::vector<skipped_part> skipped;  // in holder, address order
    amount threshold;
};

struct plan_request {
    std::string currency;
    std::optional<amount> min;  // --min; else the configured threshold
};

// Plans and stores a batch (create_batch) for the request. The caller holds
// the currency's payout lock.
result<plan_outcome> plan_batch(pg::connection& db, const accounting::accountd_config& cfg, address_checker& checker,
                                const plan_request& req);

}  // namespace bmm::payout
