#pragma once
// Accounts and payout wallets (tables accounts and wallets, sql/0001).
//
// Wallet shares: per (account, currency) the wallets' share_ppm add up to
// exactly 1,000,000 (the database checks it at commit). Binding a wallet with
// share p scales the others of that currency down to 1,000,000 - p together,
// unbinding one scales the rest up to 1,000,000; both by the largest-remainder
// split (ties to the address that sorts first), so the sum stays exact.

#include "bmm/accounting/config.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::accounting {

constexpr std::int64_t k_ppm_total = 1000000;

// Checks payout addresses: BMM (ERC-20) by the EIP-55 checksum, a coin by
// its node's validateaddress. A coin's node is its [coins.<COIN>] node_url
// when it has one, else [node] when [node] currency is that coin.
class address_validator {
public:
    // `node`: [node]; `coin_nodes`: the [coins.*] nodes (currency set, those
    // without a URL are ignored).
    explicit address_validator(node_settings node, std::vector<node_settings> coin_nodes = {});
    // The nodes of a whole configuration ([node] and every [coins.*]).
    explicit address_validator(const accountd_config& c);

    // The address's canonical spelling, or an error that says why it is refused.
    result<std::string> check(std::string_view currency, std::string_view address);

    // For usernames: when `name` is a payout address of a coin with a node,
    // its (currency, address) ([node]'s coin asked first); nullopt when it is
    // a plain name; an error when a node cannot be asked (the caller tries
    // again later).
    result<std::optional<std::pair<std::string, std::string>>> classify(std::string_view name);

    // Whether `signature` is `address`'s over exactly `message`: BMM by
    // EIP-191 personal_sign (recovered with secp256k1, compared with the
    // address), the node's currency by the node's verifymessage (Base64, as
    // signmessage gives it; legacy addresses only). false: a well-formed
    // signature by someone else or over another text; an error: malformed,
    // or the node cannot be asked.
    result<bool> verify_message(std::string_view currency, std::string_view address, std::string_view message,
                                std::string_view signature);

private:
    // The node that validates `currency`'s addresses, or nullptr.
    const node_settings* node_for(std::string_view currency) const;
    // An error that says no node validates `currency` and how to give one.
    error no_node(const std::string& currency, std::string_view what) const;
    // classify for one coin's node.
    result<std::optional<std::pair<std::string, std::string>>> classify_on(const node_settings& node,
                                                                           std::string_view name);

    std::vector<node_settings> nodes_;  // [node] first, then the [coins.*] ones, each with a URL
    std::string node_currency_;         // [node] currency, for the messages
};

// A valid account name: 1 to 128 letters, digits, '_' and '-' (what a Stratum
// username may hold before its '.').
result<bool> check_account_name(std::string_view name);
// A valid holder name, as the API, the page and `account bind` take it: an
// account name, or foundation:<account name> (the BMM foundation's
// allocations, accounts of kind foundation made by sql/0017).
result<bool> check_holder_name(std::string_view name);
// Whether `name` is one the ledger credits as user:<name>:* (the epoch
// close's rule: not empty, no ':'), and so must be an account.
bool is_user_ledger_name(std::string_view name);

struct wallet {
    std::string account, currency, address;
    std::int64_t share_ppm = 0;
};

struct account_info {
    std::string name, kind, created_at;
    std::vector<wallet> wallets;
};

// Splits `total` over `weights` by largest remainder (ties to the lower
// index). Every part is floor(total * w_i / sum) or one more; weights <= 0
// get 0. The ledger's exact split (rules.hpp split_largest_remainder) does
// the arithmetic; this is its index-keyed form for wallet share_ppm.
std::vector<std::int64_t> split_largest_remainder(std::int64_t total, const std::vector<std::int64_t>& weights);

result<bool> create_account(pg::connection& db, std::string_view name, std::string_view kind = "user");
// share_ppm: the new wallet's share; default: 1,000,000 for the currency's
// first wallet, otherwise an error (say how much it should get).
result<wallet> bind_wallet(pg::connection& db, address_validator& v, std::string_view account,
                           std::string_view currency, std::string_view address, std::optional<std::int64_t> share_ppm);
result<bool> unbind_wallet(pg::connection& db, std::string_view account, std::string_view currency,
                           std::string_view address);
// The ingest's accounts, inside its open transaction (errors: PostgreSQL's
// message unchanged). Which of `names` (a text[] literal) are accounts:
result<std::vector<std::string>> existing_accounts(pg::connection& db, const std::string& names);
// Makes an account (kind user) for each of `names` (a text[] literal) that is
// not one yet, in one statement; how many were made. The ingest calls it for
// a round's new share names in the transaction that stores their shares, so
// every name the ledger can credit is an account from its first share.
result<std::uint64_t> create_user_accounts(pg::connection& db, const std::string& names);
// Makes account `name` (kind address) with its one wallet (currency, address)
// at 1,000,000 ppm, unless the account exists; whether it was made.
result<bool> create_address_account(pg::connection& db, std::string_view name, std::string_view currency,
                                    std::string_view address);
// Inside an open transaction (the admin commands above and the self-service
// changes of wallet_binding.hpp share them): the change itself, without its
// history row; `canon`, the address as the validator spelled it.
result<wallet> bind_wallet_in_transaction(pg::connection& db, std::string_view account, const std::string& currency,
                                          const std::string& canon, std::optional<std::int64_t> share_ppm);
result<bool> unbind_wallet_in_transaction(pg::connection& db, std::string_view account, const std::string& currency,
                                          std::string_view address);
// A currency code upper-cased and checked (2 to 10 letters or digits).
result<std::string> check_currency(std::string_view currency);

// One row of wallet_history (sql/0025; append-only). proof: admin,
// address_account, address_signature, claim_secret or bound_wallet.
struct wallet_history_entry {
    std::string account, action, currency, address;
    std::optional<std::int64_t> share_ppm;
    std::string proof;
    std::optional<std::string> nonce, signature, authorizer, authorizer_signature, client;
};
// Appends it (inside the change's transaction); its id.
result<std::int64_t> record_wallet_history(pg::connection& db, const wallet_history_entry& h);

// One account (name set) or all, with their wallets.
result<std::vector<account_info>> list_accounts(pg::connection& db, std::optional<std::string> name);

}  // namespace bmm::accounting
