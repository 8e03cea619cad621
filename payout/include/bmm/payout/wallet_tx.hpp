#pragma once
// The coin side of a payout: the node's wallet builds, checks, signs,
// broadcasts, follows and bumps the transactions of a batch (litecoind /
// bitcoind 0.21 JSON-RPC, or bcoin 1.0.2: see wallet_flavour).
//
// A batch's lines are packed into transactions of at most max_tx_weight
// (pack_lines); each transaction carries an OP_RETURN marker
// "bmm:<batch>:<tx>" so that a transaction the wallet signed and sent can be
// recognised (adopted) even if our store of it was lost. Transactions of one
// batch never spend each other's outputs: their inputs are confirmed wallet
// coins chosen here, and the wallet adds none (add_inputs false).
//
// Amounts are litoshi (int64); the node's decimal numbers are read from their
// JSON text exactly (never through a double).

#include "bmm/node/rpc.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::payout {

// "1.5" -> 150000000. At most 8 decimals, no sign, no exponent.
result<std::int64_t> parse_coins(std::string_view decimal);
// 150000000 -> "1.50000000" (what the node's RPCs accept as an amount string).
std::string format_coins(std::int64_t litoshi);

// ---------------------------------------------------------------- packing --

struct pay_line {
    int line = 0;
    std::string address;
    std::int64_t amount = 0;  // litoshi
};

struct packed_tx {
    int tx = 0;              // 1, 2, ...
    std::vector<int> lines;  // line numbers, ascending
    std::int64_t weight_estimate = 0;
};

// Upper bound of the weight of one output paying `address` (from its kind:
// bech32 v0/v1 programs by their length, base58 as the longer P2PKH).
std::int64_t output_weight_estimate(std::string_view address);
// What a transaction costs before its payment outputs: version, locktime,
// counts, segwit marker, the OP_RETURN marker, one change output and
// k_input_allowance_weight for the inputs the wallet spends.
inline constexpr std::int64_t k_input_allowance_weight = 40000;  // about 145 P2WPKH inputs
std::int64_t tx_overhead_weight(std::size_t marker_bytes);

// Packs lines into transactions of at most max_tx_weight (estimated), in line
// order; all lines to one address go into one output of one transaction (a
// transaction pays each address once). Deterministic. Errors when one
// address's output cannot fit or max_tx_weight is below the overhead.
result<std::vector<packed_tx>> pack_lines(std::span<const pay_line> lines, std::int64_t max_tx_weight,
                                          std::size_t marker_bytes = 32);

// "bmm:<batch>:<tx>", and the output script that carries it (OP_RETURN <push>).
std::string marker_text(std::int64_t batch, int tx);
std::string marker_script_hex(std::string_view marker);

// ------------------------------------------------------------------ wallet --

struct outpoint {
    std::string txid;
    int vout = 0;
    friend bool operator==(const outpoint&, const outpoint&) = default;
};
std::string outpoints_json(std::span<const outpoint> inputs);  // [{"txid":..,"vout":..},..]
// Parses what outpoints_json writes (the stored inputs).
result<std::vector<outpoint>> parse_outpoints_json(std::string_view json);

// One output of a built transaction: an address and its amount.
struct tx_output {
    std::string address;  // empty for the OP_RETURN marker
    std::string script_hex;
    std::int64_t amount = 0;
};

// A signed transaction, as stored before it is broadcast.
struct signed_tx {
    std::string txid, hex;
    std::vector<outpoint> inputs;
    std::vector<tx_output> outputs;
    std::int64_t fee = 0;    // litoshi
    std::int64_t vsize = 0;  // virtual bytes
    std::int64_t weight = 0;
    std::int64_t change = 0;  // litoshi back to the wallet
};

// What the caller wants paid by one transaction and the limits it must keep.
struct tx_request {
    std::int64_t batch = 0;
    int tx = 0;
    std::vector<pay_line> outputs;  // one per address (merge lines first: merge_by_address)
    std::int64_t fee_rate = 0;      // sat/vB asked of the wallet
    std::int64_t max_fee_rate = 0;  // sat/vB the fee may not exceed
    std::int64_t fee_budget = 0;    // litoshi: the fee may not exceed it (the pool's fee balance)
    std::int64_t max_tx_weight = 0;
};

// Sums lines per address (first appearance order), for tx_request::outputs.
std::vector<pay_line> merge_by_address(std::span<const pay_line> lines);

// Where a sent transaction stands, per the wallet.
struct tx_status {
    bool in_wallet = false;              // gettransaction knows it
    int confirmations = 0;               // < 0: a conflicting transaction is that deep
    bool in_mempool = false;             // getmempoolentry finds it
    std::vector<std::string> conflicts;  // walletconflicts
};

// The outcome of sendrawtransaction.
enum class send_outcome {
    sent,        // accepted now, or already in the mempool or the chain
    conflicted,  // refused: an input is spent (missing or spent, or a conflict in the mempool)
    refused,     // refused for another reason (message in the error)
};
struct send_result {
    send_outcome outcome = send_outcome::refused;
    std::string message;
};

// Wallet balances (getbalances "mine"), litoshi.
struct wallet_balances {
    std::int64_t trusted = 0, untrusted_pending = 0, immature = 0;
};

// Which node software holds the wallet.
//  - core: Bitcoin Core / Litecoin Core 0.21: one RPC server for node and
//    wallet; transactions are built as PSBTs (walletcreatefundedpsbt,
//    walletprocesspsbt, finalizepsbt).
//  - bcoin: bcoin 1.0.2 (deploy/bcoin): the wallet's RPC is a server of its
//    own; no PSBT, so a transaction is built with createrawtransaction (the
//    inputs chosen here, the change computed here at fee_rate from the
//    weight estimate) and signed with signrawtransactionwithwallet (the
//    launcher's name for the wallet's own signing). Its mempool takes no
//    replacements, so bump refuses. Its answers differ in shape (no
//    getbalances, getaddressinfo, listsinceblock without a block lists
//    nothing); the differences are handled inside this class.
enum class wallet_flavour { core, bcoin };

class node_wallet {
public:
    // endpoint.wallet names the wallet; chain is what getblockchaininfo must
    // say ("main", "test", "regtest"; empty: any).
    node_wallet(node::rpc_endpoint endpoint, std::string chain);
    // bcoin: wallet calls go to wallet_endpoint, node calls to node_endpoint.
    node_wallet(node::rpc_endpoint wallet_endpoint, node::rpc_endpoint node_endpoint, std::string chain,
                wallet_flavour flavour);
    wallet_flavour flavour() const noexcept { return flavour_; }

    // The node is on the configured chain and out of initial block download.
    result<bool> check_chain();
    // Whether the wallet is encrypted and locked (signing then needs a passphrase).
    result<bool> locked();
    // The passphrase used to unlock the wallet for each signing, only for it.
    void set_passphrase(std::string passphrase) { passphrase_ = std::move(passphrase); }
    bool has_passphrase() const noexcept { return !passphrase_.empty(); }
    std::string wallet_name() const { return flavour_ == wallet_flavour::bcoin ? "primary" : rpc_.endpoint().wallet; }

    // Confirmed (minconf 1), unlocked, safe, non-MWEB coins, sorted by amount
    // (largest first), then txid and vout: the candidates for inputs.
    struct coin {
        outpoint at;
        std::int64_t amount = 0;
    };
    result<std::vector<coin>> spendable_coins();

    // Builds, signs and checks one transaction (see the file comment); its
    // inputs stay locked. Nothing is broadcast. On any failure the inputs are
    // unlocked again. Errors: not enough confirmed funds, fee over the cap,
    // a transaction that does not pay what was asked.
    result<signed_tx> build(const tx_request& req);

    // A replacement of the signed transaction `old_hex` at req.fee_rate
    // sat/vB: the same inputs, outputs and marker, signed and checked, only
    // the change lower. Nothing is broadcast. The node must accept
    // replacements (litecoind's -mempoolreplacement is 0 by default:
    // broadcast then answers `conflicted`).
    result<signed_tx> bump(std::string_view old_hex, const tx_request& req);

    // sendrawtransaction of the stored hex: already in the mempool or the
    // chain counts as sent. An error only when the node cannot be asked.
    result<send_result> broadcast(std::string_view hex);

    result<tx_status> status(std::string_view txid);
    // The unspent state of an outpoint in the chain (without the mempool):
    // true when it is spent or gone.
    result<bool> spent_in_chain(const outpoint& o);
    // How deep the wallet transaction that spends `o` is (confirmations),
    // nothing when the wallet knows none (a scan of the wallet's
    // transactions: for the rare case of a conflict).
    result<std::optional<int>> spender_depth(const outpoint& o, std::string_view except_txid);
    // The wallet's transactions (not conflicted: confirmations >= 0) that
    // carry a marker starting with `marker_prefix` in an OP_RETURN output
    // (listsinceblock over the wallet's sends): marker -> transaction, the
    // deepest first when several carry one marker.
    struct marked_tx {
        std::string marker;
        int confirmations = 0;
        signed_tx tx;
    };
    result<std::vector<marked_tx>> find_marked(std::string_view marker_prefix);
    // Decodes a signed transaction's hex: txid, inputs, outputs, vsize,
    // weight; fee and change from the wallet's knowledge of the inputs.
    result<signed_tx> describe(std::string_view hex);

    // lockunspent false: the inputs stay out of coin selection (locks do not
    // survive a node restart in 0.21, so runs lock stored inputs again).
    // Inputs already spent or locked are fine.
    result<bool> lock(std::span<const outpoint> inputs);
    result<bool> unlock(std::span<const outpoint> inputs);
    // listlockunspent.
    result<std::vector<outpoint>> locked_outpoints();

    result<wallet_balances> balances();
    result<std::int64_t> block_height();

    // One JSON-RPC call to the wallet (the reply's "result" as JSON text);
    // failure details in *f.
    result<std::string> call(std::string_view method, std::string_view params, node::rpc_failure* f = nullptr);
    // One call to the node (the wallet's server for core).
    result<std::string> node_call(std::string_view method, std::string_view params, node::rpc_failure* f = nullptr);
    // The same node call once per params, in one JSON-RPC batch.
    result<std::vector<result<std::string>>> call_batch(std::string_view method,
                                                        const std::vector<std::string>& params);

private:
    // Every coin of the wallet with at least minconf confirmations (bcoin:
    // without immature coinbases), unsorted.
    struct listed_coin {
        coin c;
        bool spendable = false;
    };
    result<std::vector<listed_coin>> wallet_coins(int minconf);
    // Whether the confirmed coin `o` is a coinbase output not yet spendable
    // (bcoin's listunspent lists them; Core's does not).
    result<bool> immature_coinbase(const outpoint& o, std::int64_t confirmations);
    // The wallet's sends: txid -> confirmations (conflicted ones excluded).
    result<std::vector<std::pair<std::string, std::int64_t>>> wallet_sends();
    result<std::string> sign(std::string_view psbt);
    // The signed hex of a transaction from exactly `inputs` paying req: a
    // PSBT funded by the wallet (core) or a raw transaction (bcoin).
    result<std::string> build_psbt(const std::vector<outpoint>& inputs, const tx_request& req);
    result<std::string> build_raw(const std::vector<outpoint>& inputs, const tx_request& req);
    // Unlocks the wallet for a signing when it is locked and a passphrase is
    // set; returns whether it did (then walletlock after the signing).
    result<bool> unlock_for_signing();
    // walletcreatefundedpsbt from exactly `inputs` (locked), sign, check.
    result<signed_tx> fund_sign_check(const std::vector<outpoint>& inputs, const tx_request& req);
    result<bool> check_outputs(const signed_tx& t, const tx_request& req);
    result<bool> check_fee(const signed_tx& t, const tx_request& req);
    result<std::int64_t> prevout_value(const outpoint& o);
    // decoderawtransaction: txid, inputs, outputs, vsize, weight (no fee, no change).
    result<signed_tx> decode(std::string_view hex);
    result<bool> is_mine(std::string_view address);

    node::rpc_client rpc_;
    std::unique_ptr<node::rpc_client> node_rpc_;  // bcoin: the node's RPC server
    wallet_flavour flavour_ = wallet_flavour::core;
    std::string chain_;
    std::string passphrase_;
};

}  // namespace bmm::payout
