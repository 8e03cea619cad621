// Self-service wallets (issue 15) through bmm-accountd's API, against the
// test stack's PostgreSQL and litecoind (its wallet signs with signmessage,
// its verifymessage checks), and a fixed Ethereum key signing EIP-191
// messages with libsecp256k1:
//  - an account made with a claim secret is bound first by whoever presents
//    it with the address's signature; a second claimant with the wrong secret
//    is refused; after that only a bound wallet's signature changes wallets;
//  - an account with no claim and no wallet cannot be bound by anyone;
//  - an account named by a payout address is changed only with its signature;
//  - wrong signature, wrong account, replayed nonce, expired nonce: refused
//    with the reason, nothing changed;
//  - every change is in the append-only history (the API shows it), and
//    audit_wallet_bindings() finds nothing wrong, but does find a break;
//  - rate limits per client address and per account answer 429 with Retry-After;
//  - the ingest stores the claim digest a share record carries for the
//    account it makes (and not for an account that already existed).
#include "../support/process.hpp"
#include "../support/raw_http.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/accounting/accounts.hpp"
#include "bmm/accounting/api.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/accounting/ingest.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/wallet_binding.hpp"
#include "bmm/crypto/eth_sign.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"
#include "bmm/record/stream_record.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <simdjson.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <sstream>
#include <thread>

namespace bmm::accounting {
namespace {

using test::query;
using test::scalar;

test::stack_environment& st() { return test::stack_environment::get(); }

constexpr std::string_view k_claim = "farm1-claim-secret-42";
// The fixed Ethereum key of these tests (never a real one).
constexpr std::array<unsigned char, 32> k_eth_key = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                                     0xcc, 0xdd, 0xee, 0xff, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67,
                                                     0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0, 0x02};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

std::string wallet_cli(const std::string& args) {
    return trim(st().cli("-rpcwallet=" + st().setting("BMM_NODE_WALLET") + " " + args));
}

std::string new_legacy_address() { return wallet_cli("getnewaddress \"\" legacy"); }

// The node wallet's signmessage (Base64): the messages hold no single quote.
std::string ltc_sign(const std::string& address, const std::string& message) {
    return wallet_cli("signmessage " + address + " '" + message + "'");
}

std::string eth_sign(const std::string& message) {
    auto s = crypto::personal_sign(k_eth_key, message);
    return s ? *s : "";
}

std::string eth_address() {
    auto a = crypto::eth_address_of_key(k_eth_key);
    return a ? *a : "";
}

std::string url_encode(std::string_view s) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        }
    }
    return out;
}

using test::http_answer;

http_answer http(int port, const std::string& method, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& params = {}) {
    std::string t = target;
    for (std::size_t i = 0; i < params.size(); ++i) {
        t += (i ? "&" : "?") + params[i].first + "=" + url_encode(params[i].second);
    }
    const std::string raw = test::http_exchange(
        static_cast<std::uint16_t>(port),
        method + " " + t + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return test::parse_http_answer(raw);
}

std::string json_text(const std::string& body, const char* key) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view v;
    if (p.parse(body).get(doc) || doc[key].get(v)) {
        return "";
    }
    return std::string(v);
}

int free_port() {
    for (int p = 20000 + static_cast<int>(::getpid() % 5000); p < 30000; ++p) {
        if (test::port_free(p)) {
            return p;
        }
    }
    throw std::runtime_error("no free loopback port");
}

accountd_config config(int port, int per_address = 1000, int per_account = 1000) {
    std::ostringstream t;
    t << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_PG_PORT") << "\nuser = \""
      << st().setting("BMM_PG_USER") << "\"\ndbname = \"" << st().setting("BMM_PG_DB") << "\"\npassword = \""
      << st().setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st().source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st().setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\nstream = \"wallet-test\"\ngroup = \"accountd\"\n"
      << "[node]\nurl = \"" << st().setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st().setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st().setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << "[api]\nhost = \"127.0.0.1\"\nport = " << port << "\nthreads = 2\npool_name = \"BMM test pool\"\n"
      << "wallet_requests_per_minute_per_address = " << per_address
      << "\nwallet_requests_per_minute_per_account = " << per_account << "\n";
    auto c = parse_accountd_config(t.str(), "wallet_binding_test.toml");
    if (!c) {
        throw std::runtime_error(c.error_message());
    }
    return *c;
}

class wallet_binding_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto db = test::db();
        auto m = migrate(db, st().source_dir() + "/sql");
        ASSERT_TRUE(m) << m.error_message();
        // farm1 as the ingest makes it: the account and its claim in one transaction.
        auto made = pg::in_transaction(db, [&]() -> result<bool> {
            pg::text_array names;
            names.add("farm1");
            auto r = create_user_accounts(db, names.str());
            if (!r) {
                return error{r.error_message()};
            }
            auto c = store_claims(db, {{"farm1", claim_digest(k_claim)}});
            if (!c) {
                return error{c.error_message()};
            }
            return *c == 1 ? result<bool>(true) : result<bool>(error{"claim not stored"});
        });
        ASSERT_TRUE(made) << made.error_message();
        ASSERT_TRUE(create_account(db, "orphan1"));
        g_port = free_port();
        g_server = new api_server(config(g_port));
        auto s = g_server->start();
        ASSERT_TRUE(s) << s.error_message();
        g_addr_a = new std::string(new_legacy_address());
        g_addr_b = new std::string(new_legacy_address());
        g_addr_c = new std::string(new_legacy_address());
        ASSERT_EQ(g_addr_a->size(), 34u) << *g_addr_a;
    }
    static void TearDownTestSuite() {
        delete g_server;
        delete g_addr_a;
        delete g_addr_b;
        delete g_addr_c;
    }

    struct challenge {
        int status = 0;
        std::string nonce, message, body;
    };
    static challenge ask(const std::string& account, const std::string& action, const std::string& currency,
                         const std::string& address, const std::string& share = "") {
        std::vector<std::pair<std::string, std::string>> p = {
            {"action", action}, {"currency", currency}, {"address", address}};
        if (!share.empty()) {
            p.emplace_back("share_ppm", share);
        }
        auto a = http(g_port, "POST", "/api/v1/accounts/" + account + "/wallets/challenge", p);
        return {a.status, json_text(a.body, "nonce"), json_text(a.body, "message"), a.body};
    }
    static http_answer change(const std::string& account,
                              const std::vector<std::pair<std::string, std::string>>& params) {
        return http(g_port, "POST", "/api/v1/accounts/" + account + "/wallets/change", params);
    }
    static std::string wallets(const std::string& account) {
        std::string out;
        for (const auto& r : query("SELECT currency, address, share_ppm FROM wallets WHERE account = $1 "
                                   "ORDER BY currency, address COLLATE \"C\"",
                                   {account})) {
            out += r[0] + " " + r[1] + " " + r[2] + ";";
        }
        return out;
    }
    static std::string history_count(const std::string& account) {
        return scalar("SELECT count(*) FROM wallet_history WHERE account = $1", {account});
    }

    static inline int g_port = 0;
    static inline api_server* g_server = nullptr;
    static inline std::string *g_addr_a = nullptr, *g_addr_b = nullptr, *g_addr_c = nullptr;
};

// One test: the steps depend on each other (the claim is spent by the first
// binding, the bound wallet then authorises the next ones).
TEST_F(wallet_binding_test, claim_then_bound_wallets_own_the_account) {
    const std::string a = *g_addr_a, b = *g_addr_b, c = *g_addr_c;

    // The challenge names the pool, the account, the change and a nonce with an expiry.
    auto ch = ask("farm1", "bind", "LTC", a);
    ASSERT_EQ(ch.status, 200) << ch.body;
    EXPECT_EQ(ch.nonce.size(), 32u);
    for (const std::string& part :
         {std::string("BMM test pool: wallet change\n"), std::string("account: farm1\n"), std::string("action: bind\n"),
          std::string("currency: LTC\n"), "address: " + a + "\n", std::string("share_ppm: 1000000\n"),
          "nonce: " + ch.nonce + "\n", std::string("expires: 20")}) {
        EXPECT_NE(ch.message.find(part), std::string::npos) << part << " not in\n" << ch.message;
    }
    const std::string sig_a = ltc_sign(a, ch.message);
    ASSERT_GT(sig_a.size(), 80u) << sig_a;

    // Without the claim, with a wrong one, with another address's signature: refused, nothing changed.
    auto no_claim = change("farm1", {{"nonce", ch.nonce}, {"signature", sig_a}});
    EXPECT_EQ(no_claim.status, 400);
    EXPECT_NE(no_claim.body.find("needs that claim secret"), std::string::npos) << no_claim.body;
    auto wrong_sig =
        change("farm1", {{"nonce", ch.nonce}, {"signature", ltc_sign(c, ch.message)}, {"claim", std::string(k_claim)}});
    EXPECT_EQ(wrong_sig.status, 400);
    EXPECT_NE(wrong_sig.body.find("is not " + a + "'s"), std::string::npos) << wrong_sig.body;
    // A tampered signature (one Base64 character changed) is no better.
    std::string tampered = sig_a;
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    auto bad_sig = change("farm1", {{"nonce", ch.nonce}, {"signature", tampered}, {"claim", std::string(k_claim)}});
    EXPECT_EQ(bad_sig.status, 400) << bad_sig.body;
    // The second claimant: its own address, its own valid signature, a guessed secret.
    auto ch_stranger = ask("farm1", "bind", "LTC", c);
    ASSERT_EQ(ch_stranger.status, 200) << ch_stranger.body;
    auto stranger = change("farm1", {{"nonce", ch_stranger.nonce},
                                     {"signature", ltc_sign(c, ch_stranger.message)},
                                     {"claim", "not-the-farm-secret"}});
    EXPECT_EQ(stranger.status, 400);
    EXPECT_NE(stranger.body.find("does not match"), std::string::npos) << stranger.body;
    // The nonce of farm1 presented for another account.
    auto other_account =
        change("orphan1", {{"nonce", ch.nonce}, {"signature", sig_a}, {"claim", std::string(k_claim)}});
    EXPECT_EQ(other_account.status, 400);
    EXPECT_NE(other_account.body.find("was issued for account \\\"farm1\\\""), std::string::npos) << other_account.body;
    EXPECT_EQ(wallets("farm1"), "");
    EXPECT_EQ(history_count("farm1"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM wallet_challenges WHERE account = 'farm1' AND used_at IS NOT NULL"), "0");

    // The owner: the address's signature and the claim.
    auto ok = change("farm1", {{"nonce", ch.nonce}, {"signature", sig_a}, {"claim", std::string(k_claim)}});
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(json_text(ok.body, "proof"), "claim_secret");
    EXPECT_EQ(wallets("farm1"), "LTC " + a + " 1000000;");

    // Replayed: refused, nothing more.
    auto replay = change("farm1", {{"nonce", ch.nonce}, {"signature", sig_a}, {"claim", std::string(k_claim)}});
    EXPECT_EQ(replay.status, 400);
    EXPECT_NE(replay.body.find("already used"), std::string::npos) << replay.body;
    // The stranger's challenge, now with the right secret, still cannot add c: the account has a wallet.
    auto late = change("farm1", {{"nonce", ch_stranger.nonce},
                                 {"signature", ltc_sign(c, ch_stranger.message)},
                                 {"claim", std::string(k_claim)}});
    EXPECT_EQ(late.status, 400);
    EXPECT_NE(late.body.find("has wallets"), std::string::npos) << late.body;
    EXPECT_EQ(wallets("farm1"), "LTC " + a + " 1000000;");
    EXPECT_EQ(history_count("farm1"), "1");

    // A BMM wallet: its own EIP-191 signature, authorised by the bound LTC wallet.
    const std::string eth = eth_address();
    auto ch_eth = ask("farm1", "bind", "BMM", eth);
    ASSERT_EQ(ch_eth.status, 200) << ch_eth.body;
    auto eth_alone = change("farm1", {{"nonce", ch_eth.nonce}, {"signature", eth_sign(ch_eth.message)}});
    EXPECT_EQ(eth_alone.status, 400);
    EXPECT_NE(eth_alone.body.find("signed by one of them"), std::string::npos) << eth_alone.body;
    // An EIP-191 signature over another text recovers to someone else.
    auto eth_other = change("farm1", {{"nonce", ch_eth.nonce},
                                      {"signature", eth_sign(ch_eth.message + "!")},
                                      {"authorizer_currency", "LTC"},
                                      {"authorizer_address", a},
                                      {"authorizer_signature", ltc_sign(a, ch_eth.message)}});
    EXPECT_EQ(eth_other.status, 400);
    EXPECT_NE(eth_other.body.find("is not " + eth + "'s"), std::string::npos) << eth_other.body;
    auto eth_ok = change("farm1", {{"nonce", ch_eth.nonce},
                                   {"signature", eth_sign(ch_eth.message)},
                                   {"authorizer_currency", "LTC"},
                                   {"authorizer_address", a},
                                   {"authorizer_signature", ltc_sign(a, ch_eth.message)}});
    ASSERT_EQ(eth_ok.status, 200) << eth_ok.body;
    EXPECT_EQ(json_text(eth_ok.body, "proof"), "bound_wallet");

    // A second LTC wallet at 40 %, authorised by the BMM wallet (EIP-191): a scaled to 60 %.
    auto ch_b = ask("farm1", "bind", "LTC", b, "400000");
    ASSERT_EQ(ch_b.status, 200) << ch_b.body;
    auto b_ok = change("farm1", {{"nonce", ch_b.nonce},
                                 {"signature", ltc_sign(b, ch_b.message)},
                                 {"authorizer_currency", "BMM"},
                                 {"authorizer_address", eth},
                                 {"authorizer_signature", eth_sign(ch_b.message)}});
    ASSERT_EQ(b_ok.status, 200) << b_ok.body;
    // (wallets() lists by address in byte order.)
    const std::string three =
        "BMM " + eth + " 1000000;" +
        (a < b ? "LTC " + a + " 600000;LTC " + b + " 400000;" : "LTC " + b + " 400000;LTC " + a + " 600000;");
    EXPECT_EQ(wallets("farm1"), three);

    // Expired: a challenge whose time is past (written as the API would have, an hour ago).
    const std::string old_nonce = "00000000000000000000000000000e0d";
    const std::string old_message =
        "BMM test pool: wallet change\naccount: farm1\naction: unbind\ncurrency: LTC\n"
        "address: " +
        b + "\nnonce: " + old_nonce + "\nexpires: (an hour ago)";
    query(
        "INSERT INTO wallet_challenges (nonce, account, action, currency, address, message, client, issued_at, "
        "expires_at) VALUES ($1, 'farm1', 'unbind', 'LTC', $2, $3, 'test', now() - interval '2 hours', "
        "now() - interval '1 hour') RETURNING nonce",
        {old_nonce, b, old_message});
    auto expired = change("farm1", {{"nonce", old_nonce}, {"signature", ltc_sign(b, old_message)}});
    EXPECT_EQ(expired.status, 400);
    EXPECT_NE(expired.body.find("expired at"), std::string::npos) << expired.body;
    EXPECT_EQ(wallets("farm1"), three);

    // Unbind b with b's own signature: a back to 100 %.
    auto ch_un = ask("farm1", "unbind", "LTC", b);
    ASSERT_EQ(ch_un.status, 200) << ch_un.body;
    auto un = change("farm1", {{"nonce", ch_un.nonce}, {"signature", ltc_sign(b, ch_un.message)}});
    ASSERT_EQ(un.status, 200) << un.body;
    EXPECT_EQ(wallets("farm1"), "BMM " + eth + " 1000000;LTC " + a + " 1000000;");

    // The history: every change, newest first, with its proof.
    auto h = http(g_port, "GET", "/api/v1/accounts/farm1/wallets/history");
    ASSERT_EQ(h.status, 200) << h.body;
    simdjson::dom::parser p;
    simdjson::dom::array rows = p.parse(h.body)["history"];
    std::vector<std::string> seen;
    for (simdjson::dom::element r : rows) {
        seen.push_back(std::string(std::string_view(r["action"])) + " " + std::string(std::string_view(r["currency"])) +
                       " " + std::string(std::string_view(r["proof"])));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"unbind LTC bound_wallet", "bind LTC bound_wallet",
                                              "bind BMM bound_wallet", "bind LTC claim_secret"}));

    // Append-only, and the audit finds nothing wrong.
    auto db = test::db();
    EXPECT_FALSE(db.exec("UPDATE wallet_history SET address = 'x' WHERE account = 'farm1'"));
    EXPECT_FALSE(db.exec("DELETE FROM wallet_history WHERE account = 'farm1'"));
    EXPECT_FALSE(db.exec("TRUNCATE wallet_history CASCADE"));
    EXPECT_FALSE(db.exec("UPDATE wallet_challenges SET used_at = now() WHERE nonce = $1", {ch.nonce}));
    EXPECT_EQ(history_count("farm1"), "4");
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_wallet_bindings()"), "0")
        << scalar("SELECT string_agg(a, '; ') FROM audit_wallet_bindings() a");
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger_audit() a WHERE a LIKE '%wallet%'"), "0");
}

// The page's wallet section in a headless browser: for the account in the
// URL it lists the history the API gives (the changes of the test above).
TEST_F(wallet_binding_test, the_page_shows_the_wallet_history) {
    if (!std::filesystem::exists("/usr/bin/chromium")) {
        GTEST_SKIP() << "chromium is not installed (deploy/install-deps.sh installs it)";
    }
    const std::string dir = st().dir() + "/wallet-chromium";
    std::filesystem::create_directories(dir);
    const std::string out = dir + "/dom.html";
    test::child_process browser(
        {"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--user-data-dir=" + dir + "/profile", "--virtual-time-budget=10000", "--dump-dom",
         "http://127.0.0.1:" + std::to_string(g_port) + "/?account=farm1"},
        out, {{"HOME", dir}});
    ASSERT_EQ(browser.wait(90000), 0) << test::read_text(out).substr(0, 2000);
    const std::string dom = test::read_text(out);
    EXPECT_NE(dom.find("<section id=\"wallet-binding\">"), std::string::npos);
    EXPECT_NE(dom.find("<input id=\"wb-account\""), std::string::npos);
    const std::string a = *g_addr_a;
    for (const std::string& cell : {"<td>bind</td><td>LTC</td><td>" + a + "</td><td>1000000</td><td>claim_secret</td>",
                                    std::string("<td>unbind</td><td>LTC</td>"), std::string("<td>bound_wallet</td>")}) {
        EXPECT_NE(dom.find(cell), std::string::npos) << cell << "\n" << dom.substr(dom.find("wb-history"), 3000);
    }
    EXPECT_NE(dom.find("<p id=\"wb-result\" role=\"status\"></p>"), std::string::npos) << "the section shows an error";
}

TEST_F(wallet_binding_test, audit_finds_a_wallet_bound_behind_the_history) {
    // Made to break the rule: a wallet written straight into the table has no history row.
    auto db = test::db();
    ASSERT_TRUE(create_account(db, "sneaky"));
    ASSERT_TRUE(
        db.exec("INSERT INTO wallets (account, currency, address, share_ppm) VALUES "
                "('sneaky', 'LTC', 'mSneakySneakySneakySneakySneaky12', 1000000)"));
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_wallet_bindings() a WHERE a LIKE 'wallet LTC mSneaky% of sneaky%'"),
              "1");
    // The admin command's unbind removes it and writes its history row: nothing left to complain about.
    ASSERT_TRUE(unbind_wallet(db, "sneaky", "LTC", "mSneakySneakySneakySneakySneaky12"));
    EXPECT_EQ(scalar("SELECT count(*) FROM audit_wallet_bindings()"), "0")
        << scalar("SELECT string_agg(a, '; ') FROM audit_wallet_bindings() a");
}

TEST_F(wallet_binding_test, an_unowned_account_cannot_be_bound_by_anyone) {
    const std::string c = *g_addr_c;
    auto ch = ask("orphan1", "bind", "LTC", c);
    ASSERT_EQ(ch.status, 200) << ch.body;
    auto r = change("orphan1", {{"nonce", ch.nonce}, {"signature", ltc_sign(c, ch.message)}});
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("has no owner"), std::string::npos) << r.body;
    auto with_claim = change(
        "orphan1", {{"nonce", ch.nonce}, {"signature", ltc_sign(c, ch.message)}, {"claim", std::string(k_claim)}});
    EXPECT_EQ(with_claim.status, 400) << with_claim.body;
    EXPECT_EQ(wallets("orphan1"), "");
    EXPECT_EQ(history_count("orphan1"), "0");
}

TEST_F(wallet_binding_test, an_address_account_is_changed_only_by_its_address) {
    // The ingest's address account: the name is the LTC address, bound to itself.
    const std::string n = new_legacy_address();
    auto db = test::db();
    auto made = create_address_account(db, n, "LTC", n);
    ASSERT_TRUE(made && *made);
    EXPECT_EQ(scalar("SELECT proof FROM wallet_history WHERE account = $1", {n}), "address_account");
    const std::string eth = eth_address();
    auto ch = ask(n, "bind", "BMM", eth);
    ASSERT_EQ(ch.status, 200) << ch.body;
    // The BMM address's own signature is not the owner's.
    auto alone = change(n, {{"nonce", ch.nonce}, {"signature", eth_sign(ch.message)}});
    EXPECT_EQ(alone.status, 400);
    EXPECT_NE(alone.body.find("only a signature by that address"), std::string::npos) << alone.body;
    // Another LTC address as authoriser: a valid signature, but not the owner's.
    const std::string c = *g_addr_c;
    auto other = change(n, {{"nonce", ch.nonce},
                            {"signature", eth_sign(ch.message)},
                            {"authorizer_currency", "LTC"},
                            {"authorizer_address", c},
                            {"authorizer_signature", ltc_sign(c, ch.message)}});
    EXPECT_EQ(other.status, 400) << other.body;
    EXPECT_EQ(wallets(n), "LTC " + n + " 1000000;");
    auto ok = change(n, {{"nonce", ch.nonce},
                         {"signature", eth_sign(ch.message)},
                         {"authorizer_currency", "LTC"},
                         {"authorizer_address", n},
                         {"authorizer_signature", ltc_sign(n, ch.message)}});
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(wallets(n), "BMM " + eth + " 1000000;LTC " + n + " 1000000;");
    // Its last wallet cannot go: nobody could prove the account is theirs.
    auto ch_un = ask(n, "unbind", "BMM", eth);
    ASSERT_EQ(ch_un.status, 200);
    auto un = change(n, {{"nonce", ch_un.nonce},
                         {"signature", eth_sign(ch_un.message)},
                         {"authorizer_currency", "LTC"},
                         {"authorizer_address", n},
                         {"authorizer_signature", ltc_sign(n, ch_un.message)}});
    ASSERT_EQ(un.status, 200) << un.body;
    auto ch_last = ask(n, "unbind", "LTC", n);
    auto last = change(n, {{"nonce", ch_last.nonce}, {"signature", ltc_sign(n, ch_last.message)}});
    EXPECT_EQ(last.status, 400);
    EXPECT_NE(last.body.find("last wallet"), std::string::npos) << last.body;
    EXPECT_EQ(wallets(n), "LTC " + n + " 1000000;");
}

TEST_F(wallet_binding_test, bad_requests_say_what_is_wrong) {
    auto seg = ask("farm1", "bind", "LTC", "not-an-address-at-all-xxxxxxxxxx");
    EXPECT_EQ(seg.status, 400);
    EXPECT_NE(seg.body.find("not a valid LTC address"), std::string::npos) << seg.body;
    auto act = ask("farm1", "steal", "LTC", *g_addr_a);
    EXPECT_EQ(act.status, 400);
    EXPECT_NE(act.body.find("bind or unbind"), std::string::npos) << act.body;
    auto cur = ask("farm1", "bind", "DOGE", "DPxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    EXPECT_EQ(cur.status, 400);
    EXPECT_NE(cur.body.find("no node for DOGE"), std::string::npos) << cur.body;
    auto nonce = change("farm1", {{"nonce", "zz"}, {"signature", "x"}});
    EXPECT_EQ(nonce.status, 400);
    EXPECT_NE(nonce.body.find("32 lower-case hex digits"), std::string::npos) << nonce.body;
    auto unknown = change("farm1", {{"nonce", std::string(32, 'a')}, {"signature", "x"}});
    EXPECT_EQ(unknown.status, 400);
    EXPECT_NE(unknown.body.find("unknown nonce"), std::string::npos) << unknown.body;
    auto get_change = http(g_port, "GET", "/api/v1/accounts/farm1/wallets/change");
    EXPECT_EQ(get_change.status, 405);
    auto nobody = http(g_port, "GET", "/api/v1/accounts/nobody-here/wallets/history");
    EXPECT_EQ(nobody.status, 404);
}

// A share record as bmm-stratum writes it, for `account`, with a claim digest when given.
void xadd_share(const std::string& stream, const std::string& account, std::optional<std::string> claim, int seq) {
    record::share_record r;
    r.instance = 9;
    r.coin = "LTC";
    r.algorithm = "scrypt";
    r.account = account;
    r.worker = account + ".rig1";
    r.ip = "127.0.0.1";
    r.job = "1";
    r.height = 500;
    r.difficulty = 0.001;
    r.target = *uint256::from_hex("00000000ffff0000000000000000000000000000000000000000000000000000");
    r.network_target = *uint256::from_hex("0000000000000fffff0000000000000000000000000000000000000000000000");
    r.reward = 1250000000;
    r.hash = "00000000000000000000000000000000000000000000000000000000000000ab";
    r.accepted = true;
    r.time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    r.claim = std::move(claim);
    const std::string line = record::to_json_line(r, "9:1:" + std::to_string(seq));
    auto fields = record::fields_from_json_line(std::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(fields);
    std::vector<const char*> argv = {"XADD", stream.c_str(), "*"};
    std::vector<std::size_t> lens = {4, stream.size(), 1};
    for (const auto& [k, v] : *fields) {
        argv.push_back(k.c_str());
        lens.push_back(k.size());
        argv.push_back(v.c_str());
        lens.push_back(v.size());
    }
    redisContext* c = bmm::test::stack_redis();
    ASSERT_TRUE(c && !c->err);
    auto* reply =
        static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    ASSERT_TRUE(reply && reply->type == REDIS_REPLY_STRING);
    freeReplyObject(reply);
    redisFree(c);
}

// The accountd side of claim=<secret>: the ingest stores the digest's salted
// hash for the account it makes with that share, never for one that existed,
// and the secret then binds the account's first wallet through the API.
TEST_F(wallet_binding_test, the_ingest_stores_a_claim_for_the_account_it_makes) {
    const std::string secret = "claimed-farm-secret-99";
    xadd_share("wallet-test", "claimedfarm", claim_digest(secret), 1);
    xadd_share("wallet-test", "orphan1", claim_digest("a-latecomer-secret"), 2);  // exists already: no claim
    xadd_share("wallet-test", "plainfarm", std::nullopt, 3);
    std::atomic<bool> stop{false};
    ingestor ing(config(g_port));
    std::thread t([&] { (void)ing.run(stop); });
    for (int i = 0; i < 600 && ing.entries_acked() < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop.store(true);
    t.join();
    ASSERT_EQ(ing.entries_acked(), 3u);
    EXPECT_EQ(scalar("SELECT count(*) FROM accounts WHERE name IN ('claimedfarm', 'plainfarm')"), "2");
    EXPECT_EQ(scalar("SELECT string_agg(account, ',' ORDER BY account) FROM account_claims"), "claimedfarm,farm1");
    // Stored salted, never as the secret or its bare digest.
    EXPECT_EQ(scalar("SELECT claim_hash = sha256(salt || decode($1, 'hex')) AND claim_hash <> decode($1, 'hex') "
                     "FROM account_claims WHERE account = 'claimedfarm'",
                     {claim_digest(secret)}),
              "t");
    const std::string c = new_legacy_address();
    auto ch = ask("claimedfarm", "bind", "LTC", c);
    ASSERT_EQ(ch.status, 200) << ch.body;
    auto ok = change("claimedfarm", {{"nonce", ch.nonce}, {"signature", ltc_sign(c, ch.message)}, {"claim", secret}});
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(json_text(ok.body, "proof"), "claim_secret");
    auto ch2 = ask("plainfarm", "bind", "LTC", c);
    auto none = change("plainfarm", {{"nonce", ch2.nonce}, {"signature", ltc_sign(c, ch2.message)}, {"claim", secret}});
    EXPECT_EQ(none.status, 400);
    EXPECT_NE(none.body.find("has no owner"), std::string::npos) << none.body;
}

TEST(wallet_rate_limits, per_address_and_per_account_answer_429_with_retry_after) {
    const int port = free_port();
    api_server server(config(port, 3, 2));
    ASSERT_TRUE(server.start());
    const std::string a = new_legacy_address();
    auto ask_for = [&](const std::string& account) {
        return http(port, "POST", "/api/v1/accounts/" + account + "/wallets/challenge",
                    {{"action", "bind"}, {"currency", "LTC"}, {"address", a}, {"share_ppm", "100000"}});
    };
    EXPECT_EQ(ask_for("farm1").status, 200);
    EXPECT_EQ(ask_for("farm1").status, 200);
    auto third = ask_for("farm1");  // the account's third in the minute (the address's third too)
    EXPECT_EQ(third.status, 429) << third.body;
    EXPECT_NE(third.body.find("for account farm1 (at most 2 a minute)"), std::string::npos) << third.body;
    EXPECT_NE(third.headers.find("Retry-After: "), std::string::npos) << third.headers;
    auto fourth = ask_for("orphan1");  // another account, but this address's fourth
    EXPECT_EQ(fourth.status, 429) << fourth.body;
    EXPECT_NE(fourth.body.find("from your address (at most 3 a minute)"), std::string::npos) << fourth.body;
    EXPECT_NE(fourth.headers.find("Retry-After: "), std::string::npos) << fourth.headers;
    // The refused requests stored no challenge.
    EXPECT_EQ(scalar("SELECT count(*) FROM wallet_challenges WHERE address = $1", {a}), "2");
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
