// Self-service wallet changes (wallet_binding.hpp): challenges, the proofs of
// ownership, the change and its history in one transaction, claims.

#include "bmm/accounting/wallet_binding.hpp"

#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"
#include "bmm/pg/transaction.hpp"

#include <sys/random.h>

#include <array>
#include <cctype>

namespace bmm::accounting {
namespace {

std::string upper(std::string_view s) {
    std::string u(s);
    for (char& c : u) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return u;
}

result<std::string> random_hex(std::size_t bytes) {
    std::array<unsigned char, 32> buf{};
    if (bytes > buf.size() || ::getrandom(buf.data(), bytes, 0) != static_cast<ssize_t>(bytes)) {
        return error{"the system's random source (getrandom) failed"};
    }
    return to_hex(std::span<const unsigned char>(buf.data(), bytes));
}

// What the challenge row says, read back when the signed text returns.
struct stored_challenge {
    std::string nonce, account, action, currency, address, message;
    std::optional<std::int64_t> share_ppm;
    bool used = false, expired = false;
    std::string used_at, expires_at;
};

result<std::optional<stored_challenge>> load_challenge(pg::connection& db, std::string_view nonce, bool lock) {
    std::string sql =
        "SELECT nonce, account, action, currency, address, message, share_ppm, used_at IS NOT NULL, "
        "expires_at <= now(), coalesce(bmm_api_time(used_at), ''), bmm_api_time(expires_at) "
        "FROM wallet_challenges WHERE nonce = $1";
    if (lock) {
        sql += " FOR UPDATE";
    }
    auto r = db.exec(sql, {std::string(nonce)});
    if (!r) {
        return error{r.error_message()};
    }
    if (r->rows() == 0) {
        return std::optional<stored_challenge>{};
    }
    stored_challenge c;
    c.nonce = r->text(0, 0);
    c.account = r->text(0, 1);
    c.action = r->text(0, 2);
    c.currency = r->text(0, 3);
    c.address = r->text(0, 4);
    c.message = r->text(0, 5);
    if (!r->is_null(0, 6)) {
        c.share_ppm = r->integer(0, 6);
    }
    c.used = r->get(0, 7) == "t";
    c.expired = r->get(0, 8) == "t";
    c.used_at = r->text(0, 9);
    c.expires_at = r->text(0, 10);
    return std::optional<stored_challenge>{std::move(c)};
}

bool hex32(std::string_view s) {
    if (s.size() != 32) {
        return false;
    }
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

// Who may change an account's wallets, read inside the change's transaction
// (the account row locked, so two changes of one account run one after the other).
struct ownership {
    std::string kind;
    std::vector<wallet> wallets;  // every currency
    bool has_claim = false;
};

result<ownership> load_ownership(pg::connection& db, std::string_view account) {
    auto a = db.exec(
        "SELECT kind, EXISTS (SELECT 1 FROM account_claims WHERE account = name) FROM accounts "
        "WHERE name = $1 FOR UPDATE",
        {std::string(account)});
    if (!a) {
        return error{a.error_message()};
    }
    if (a->rows() == 0) {
        return error{"no account \"" + std::string(account) + "\": an account is made by its first share"};
    }
    ownership o;
    o.kind = a->text(0, 0);
    o.has_claim = a->get(0, 1) == "t";
    auto w = db.exec("SELECT currency, address, share_ppm FROM wallets WHERE account = $1 ORDER BY currency, address",
                     {std::string(account)});
    if (!w) {
        return error{w.error_message()};
    }
    for (int i = 0; i < w->rows(); ++i) {
        o.wallets.push_back({std::string(account), w->text(i, 0), w->text(i, 1), w->integer(i, 2)});
    }
    return o;
}

result<bool> claim_matches(pg::connection& db, std::string_view account, std::string_view secret) {
    auto r = db.exec("SELECT claim_hash = sha256(salt || decode($2, 'hex')) FROM account_claims WHERE account = $1",
                     {std::string(account), claim_digest(secret)});
    if (!r) {
        return error{r.error_message()};
    }
    return r->rows() == 1 && r->get(0, 0) == "t";
}

}  // namespace

std::string claim_digest(std::string_view secret) {
    return to_hex(crypto::sha256_once(
        std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(secret.data()), secret.size())));
}

result<wallet_challenge> issue_wallet_challenge(pg::connection& db, address_validator& v, const wallet_change& c,
                                                std::string_view pool_name, std::chrono::seconds ttl,
                                                std::string_view client) {
    if (auto ok = check_account_name(c.account); !ok) {
        return error{ok.error_message() + " (foundation accounts are changed by the operator only)"};
    }
    if (c.action != "bind" && c.action != "unbind") {
        return error{"action \"" + c.action + "\": bind or unbind"};
    }
    auto currency = check_currency(c.currency);
    if (!currency) {
        return error{currency.error_message()};
    }
    std::optional<std::int64_t> share;
    std::string address = c.address;
    if (c.action == "bind") {
        share = c.share_ppm;
        if (share && (*share <= 0 || *share > k_ppm_total)) {
            return error{"share_ppm must be from 1 to 1000000 (1000000 = 100 %)"};
        }
        auto canon = v.check(*currency, c.address);
        if (!canon) {
            return error{canon.error_message()};
        }
        address = *canon;
    } else if (c.share_ppm) {
        return error{"an unbind takes no share_ppm (the other wallets are scaled up to 1000000)"};
    }
    auto nonce = random_hex(16);
    if (!nonce) {
        return error{nonce.error_message()};
    }
    return pg::in_transaction(db, [&]() -> result<wallet_challenge> {
        auto o = load_ownership(db, c.account);
        if (!o) {
            return error{o.error_message()};
        }
        std::int64_t same = 0;
        for (const auto& w : o->wallets) {
            same += w.currency == *currency ? 1 : 0;
        }
        if (c.action == "bind" && share && same == 0 && *share != k_ppm_total) {
            return error{"the first " + *currency + " wallet of an account gets all of it: share_ppm 1000000 or none"};
        }
        if (c.action == "bind" && !share) {
            if (same > 0) {
                return error{c.account + " already has " + std::to_string(same) + " " + *currency +
                             " wallet(s): give the new one's share_ppm (the others are scaled down to the rest)"};
            }
            share = k_ppm_total;
        }
        auto t = db.exec("SELECT bmm_api_time(now() + $1 * interval '1 second'), now() + $1 * interval '1 second'",
                         {std::to_string(ttl.count())});
        if (!t) {
            return error{t.error_message()};
        }
        wallet_challenge out;
        out.nonce = *nonce;
        out.expires_at = t->text(0, 0);
        std::string m;
        m += std::string(pool_name) + ": wallet change\n";
        m += "account: " + c.account + "\n";
        m += "action: " + c.action + "\n";
        m += "currency: " + *currency + "\n";
        m += "address: " + address + "\n";
        if (share) {
            m += "share_ppm: " + std::to_string(*share) + "\n";
        }
        m += "nonce: " + out.nonce + "\n";
        m += "expires: " + out.expires_at;
        out.message = m;
        auto ins = db.exec(
            "INSERT INTO wallet_challenges (nonce, account, action, currency, address, share_ppm, message, client, "
            "expires_at) VALUES ($1, $2, $3, $4, $5, $6::integer, $7, $8, $9::timestamptz)",
            {out.nonce, c.account, c.action, *currency, address,
             share ? std::optional<std::string>(std::to_string(*share)) : std::nullopt, out.message,
             std::string(client), t->text(0, 1)});
        if (!ins) {
            return error{ins.error_message()};
        }
        return out;
    });
}

result<wallet_change_done> apply_wallet_change(pg::connection& db, address_validator& v, std::string_view account,
                                               const wallet_proof& p) {
    if (!hex32(p.nonce)) {
        return error{"nonce \"" + p.nonce.substr(0, 40) + "\": 32 lower-case hex digits, as the challenge gave it"};
    }
    // First read: to check the signatures (node round trips) outside the
    // transaction. The row is read again, locked, before anything changes.
    auto first = load_challenge(db, p.nonce, false);
    if (!first) {
        return error{first.error_message()};
    }
    if (!*first) {
        return error{"unknown nonce " + p.nonce + ": ask for a challenge first (POST .../wallets/challenge)"};
    }
    const stored_challenge& c = **first;
    if (c.account != account) {
        return error{"nonce " + p.nonce + " was issued for account \"" + c.account + "\", not \"" +
                     std::string(account) + "\": nothing changed"};
    }
    if (c.used) {
        return error{"nonce " + p.nonce + " was already used at " + c.used_at +
                     ": a signed challenge works once; ask for a new one"};
    }
    if (c.expired) {
        return error{"nonce " + p.nonce + " expired at " + c.expires_at + ": ask for a new challenge and sign it"};
    }
    // The change's own address: a bind must be signed by it (proof that the
    // requester owns it); for an unbind its signature is optional.
    bool address_signed = false;
    if (!p.signature.empty()) {
        auto ok = v.verify_message(c.currency, c.address, c.message, p.signature);
        if (!ok) {
            return error{ok.error_message()};
        }
        if (!*ok) {
            return error{"the signature is not " + c.address + "'s over the challenge's message (" + c.currency +
                         "): sign exactly the text the challenge gave, with that address's key; nothing changed"};
        }
        address_signed = true;
    }
    if (c.action == "bind" && !address_signed) {
        return error{"a bind needs the new address's signature over the challenge's message (signature=...)"};
    }
    std::optional<std::string> authorizer;
    if (p.authorizer_address || p.authorizer_signature || p.authorizer_currency) {
        if (!p.authorizer_address || !p.authorizer_signature || !p.authorizer_currency) {
            return error{"an authoriser needs authorizer_currency, authorizer_address and authorizer_signature"};
        }
        auto cur = check_currency(*p.authorizer_currency);
        if (!cur) {
            return error{cur.error_message()};
        }
        auto ok = v.verify_message(*cur, *p.authorizer_address, c.message, *p.authorizer_signature);
        if (!ok) {
            return error{"the authoriser's signature: " + ok.error_message()};
        }
        if (!*ok) {
            return error{"the authoriser's signature is not " + *p.authorizer_address +
                         "'s over the challenge's message: nothing changed"};
        }
        authorizer = *cur + ":" + *p.authorizer_address;
    }
    // An account named by a payout address belongs to that address.
    auto named = v.classify(account);
    if (!named) {
        return error{named.error_message()};
    }
    return pg::in_transaction(db, [&]() -> result<wallet_change_done> {
        auto locked = load_challenge(db, p.nonce, true);
        if (!locked) {
            return error{locked.error_message()};
        }
        if (!*locked || (*locked)->used) {
            return error{"nonce " + p.nonce + " was used meanwhile: ask for a new challenge"};
        }
        if ((*locked)->expired) {
            return error{"nonce " + p.nonce + " expired at " + (*locked)->expires_at + ": ask for a new challenge"};
        }
        auto o = load_ownership(db, account);
        if (!o) {
            return error{o.error_message()};
        }
        // Who allows it (the rules of wallet_binding.hpp), and by what proof.
        auto same_address = [](const std::string& cur, std::string_view a, const std::string& cur2,
                               std::string_view b) {
            return cur == cur2 && (cur == "BMM" ? upper(a) == upper(b) : a == b);
        };
        std::string proof;
        std::string authorizer_signature;  // of the wallet that allowed it (bound_wallet)
        if (*named) {
            const auto& [ncur, naddr] = **named;
            if (address_signed && same_address(c.currency, c.address, ncur, naddr)) {
                proof = "address_signature";
            } else if (authorizer && same_address(upper(*p.authorizer_currency), *p.authorizer_address, ncur, naddr)) {
                proof = "bound_wallet";
                authorizer_signature = *p.authorizer_signature;
            } else {
                return error{"account \"" + std::string(account) + "\" is the " + ncur + " address " + naddr +
                             ": only a signature by that address changes its wallets (as authorizer_...); nothing "
                             "changed"};
            }
        } else if (!o->wallets.empty()) {
            // The authoriser given, else (an unbind) the unbound wallet's own signature.
            bool given_bound = false, self_signed = false;
            for (const auto& w : o->wallets) {
                given_bound =
                    given_bound || (authorizer && same_address(w.currency, w.address, upper(*p.authorizer_currency),
                                                               *p.authorizer_address));
                self_signed = self_signed || (c.action == "unbind" && address_signed &&
                                              same_address(w.currency, w.address, c.currency, c.address));
            }
            if (given_bound) {
                proof = "bound_wallet";
                authorizer_signature = *p.authorizer_signature;
            } else if (self_signed) {
                proof = "bound_wallet";
                authorizer = c.currency + ":" + c.address;
                authorizer_signature = p.signature;
            }
            if (proof.empty()) {
                return error{"account \"" + std::string(account) +
                             "\" has wallets: a change must also be signed by one of them (authorizer_currency, "
                             "authorizer_address, authorizer_signature over the same message); nothing changed"};
            }
        } else if (o->kind == "user" && o->has_claim) {
            if (!p.claim) {
                return error{"account \"" + std::string(account) +
                             "\" was claimed when it was made (Stratum password claim=...): its first wallet needs "
                             "that claim secret (claim=...); nothing changed"};
            }
            auto m = claim_matches(db, account, *p.claim);
            if (!m) {
                return error{m.error_message()};
            }
            if (!*m) {
                return error{"the claim secret does not match the one account \"" + std::string(account) +
                             "\" was made with: nothing changed"};
            }
            proof = "claim_secret";
        } else {
            return error{"account \"" + std::string(account) +
                         "\" has no owner to prove: no wallet is bound, its name is not a payout address, and its "
                         "first shares carried no claim=<secret> in the Stratum password. The pool operator binds "
                         "its first wallet (bmm-accountd account bind); nothing changed"};
        }
        wallet_change_done done{std::string(account), c.action, c.currency, c.address, 0, proof, 0};
        if (c.action == "bind") {
            auto w = bind_wallet_in_transaction(db, account, c.currency, c.address, c.share_ppm);
            if (!w) {
                return error{w.error_message()};
            }
            done.share_ppm = w->share_ppm;
        } else {
            if (o->wallets.size() == 1) {
                return error{c.address + " is the last wallet of account \"" + std::string(account) +
                             "\": without a wallet nobody could prove the account is theirs; bind another first"};
            }
            auto u = unbind_wallet_in_transaction(db, account, c.currency, c.address);
            if (!u) {
                return error{u.error_message()};
            }
        }
        auto used = db.exec("UPDATE wallet_challenges SET used_at = now() WHERE nonce = $1", {p.nonce});
        if (!used) {
            return error{used.error_message()};
        }
        wallet_history_entry h;
        h.account = std::string(account);
        h.action = c.action;
        h.currency = c.currency;
        h.address = c.address;
        if (c.action == "bind") {
            h.share_ppm = done.share_ppm;
        }
        h.proof = proof;
        h.nonce = p.nonce;
        if (address_signed) {
            h.signature = p.signature;
        }
        if (proof == "bound_wallet") {
            h.authorizer = authorizer;
            h.authorizer_signature = authorizer_signature;
        }
        h.client = p.client;
        auto id = record_wallet_history(db, h);
        if (!id) {
            return error{id.error_message()};
        }
        done.history_id = *id;
        return done;
    });
}

result<std::vector<wallet_history_row>> wallet_history_of(pg::connection& db, std::string_view account, int limit) {
    auto r = db.exec(
        "SELECT id, bmm_api_time(at), action, currency, address, share_ppm, proof, coalesce(authorizer, ''), "
        "coalesce(nonce, '') FROM wallet_history WHERE account = $1 ORDER BY id DESC LIMIT $2",
        {std::string(account), std::to_string(limit)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<wallet_history_row> out;
    for (int i = 0; i < r->rows(); ++i) {
        wallet_history_row h;
        h.id = r->integer(i, 0);
        h.at = r->text(i, 1);
        h.action = r->text(i, 2);
        h.currency = r->text(i, 3);
        h.address = r->text(i, 4);
        if (!r->is_null(i, 5)) {
            h.share_ppm = r->integer(i, 5);
        }
        h.proof = r->text(i, 6);
        h.authorizer = r->text(i, 7);
        h.nonce = r->text(i, 8);
        out.push_back(std::move(h));
    }
    return out;
}

result<std::uint64_t> store_claims(pg::connection& db,
                                   const std::vector<std::pair<std::string, std::string>>& accounts_and_digests) {
    std::uint64_t stored = 0;
    for (const auto& [account, digest] : accounts_and_digests) {
        auto salt = random_hex(16);
        if (!salt) {
            return error{salt.error_message()};
        }
        auto r = db.exec(
            "INSERT INTO account_claims (account, salt, claim_hash) "
            "SELECT $1, decode($2, 'hex'), sha256(decode($2, 'hex') || decode($3, 'hex')) "
            // Only an account this transaction made (created_at is its start, now()): a claim comes with an
            // account's first shares.
            "WHERE EXISTS (SELECT 1 FROM accounts WHERE name = $1 AND kind = 'user' AND created_at = now()) "
            "ON CONFLICT (account) DO NOTHING",
            {account, *salt, digest});
        if (!r) {
            return error{r.error_message()};
        }
        stored += static_cast<std::uint64_t>(r->affected());
    }
    return stored;
}

}  // namespace bmm::accounting
