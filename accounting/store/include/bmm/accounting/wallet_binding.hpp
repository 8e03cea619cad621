#pragma once
// Self-service wallets (issue 15, sql/0025): a miner binds or unbinds a payout
// wallet by proving ownership, with no password.
//
//  1. issue_wallet_challenge: the API stores a nonce and the text to sign,
//     naming the pool, the account, the change (action, currency, address,
//     share) and an expiry.
//  2. apply_wallet_change: the signed text comes back. A bind needs the new
//     address's own signature (LTC/BTC: the node's verifymessage; BMM: EIP-191
//     personal_sign recovered with secp256k1 and compared with the address),
//     and the account's owner must allow it:
//       - an account whose name is a payout address is owned by that address:
//         only its signature (as the bound address or as the authoriser) does;
//       - an account with wallets is owned by them: a signature by one of them
//         (the authoriser; for an unbind, the unbound wallet's own will do);
//       - an account without wallets whose first shares carried a Stratum
//         password claim=<secret> is bound first by whoever presents the secret;
//       - any other account has no owner yet: refused (the operator binds with
//         `bmm-accountd account bind`).
//     A nonce is used once, before it expires, for the account and change it
//     names. The change, the challenge's use and the history row are one
//     transaction; a refused change changes nothing.
//
// Claims: bmm-stratum sends sha256(secret) (hex) with the shares of a worker
// whose password has claim=<secret>; the ingest stores, for an account it
// makes, sha256(salt || sha256(secret)) with a random per-account salt.

#include "bmm/accounting/accounts.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::accounting {

struct wallet_change {
    std::string account;
    std::string action;  // "bind" or "unbind"
    std::string currency, address;
    std::optional<std::int64_t> share_ppm;  // bind: the new wallet's share (default: all of a first wallet)
};

struct wallet_challenge {
    std::string nonce;    // 32 hex digits
    std::string message;  // the exact text to sign
    std::string expires_at;
};

// Checks the change (names, currency, address through `v`, share) and stores
// a challenge valid for `ttl`. `pool_name` is named in the text; `client` is
// the requester's address (kept with the challenge).
result<wallet_challenge> issue_wallet_challenge(pg::connection& db, address_validator& v, const wallet_change& c,
                                                std::string_view pool_name, std::chrono::seconds ttl,
                                                std::string_view client);

struct wallet_proof {
    std::string nonce;
    std::string signature;             // by the change's address, over the challenge's message
    std::optional<std::string> claim;  // the claim secret (an account without wallets)
    std::optional<std::string> authorizer_currency, authorizer_address, authorizer_signature;
    std::string client;
};

struct wallet_change_done {
    std::string account, action, currency, address;
    std::int64_t share_ppm = 0;
    std::string proof;  // address_signature, claim_secret or bound_wallet
    std::int64_t history_id = 0;
};

// Verifies and applies the change the nonce names, for `account` (the URL's:
// a nonce of another account is refused). Errors say what failed and what to do.
result<wallet_change_done> apply_wallet_change(pg::connection& db, address_validator& v, std::string_view account,
                                               const wallet_proof& p);

struct wallet_history_row {
    std::int64_t id = 0;
    std::string at, action, currency, address, proof, authorizer, nonce;
    std::optional<std::int64_t> share_ppm;
};
// The account's wallet history, newest first.
result<std::vector<wallet_history_row>> wallet_history_of(pg::connection& db, std::string_view account,
                                                          int limit = 100);

// The stored form of a claim digest (sha256(secret), 64 hex digits) for the
// ingest: stores it for each of `accounts_and_digests` that has no claim yet,
// with a fresh random salt; how many were stored. Call it in the transaction
// that makes the accounts.
result<std::uint64_t> store_claims(pg::connection& db,
                                   const std::vector<std::pair<std::string, std::string>>& accounts_and_digests);

// sha256(secret) as 64 hex digits: what bmm-stratum sends for claim=<secret>.
std::string claim_digest(std::string_view secret);

}  // namespace bmm::accounting
