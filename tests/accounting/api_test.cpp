// bmm-accountd's read API against the real stack (tests/support/stack.hpp):
// a migrated database filled with known accounts, wallets, share_minutes
// rows, and epochs and blocks closed by the rules library and booked through
// bmm_ledger_pg (alongside the in-memory ledger model); then the real
// `bmm-accountd api` is started and every endpoint is read over HTTP with a
// bounded raw-socket client. Expected values come from the inserted rows and
// the model, computed here independently of the API's SQL. Also: 400/404/405
// answers, malformed HTTP, pagination, the web page, and `run` serving the API.

#include "../support/accountd.hpp"
#include "../support/browser.hpp"
#include "../support/process.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/accounting/api.hpp"
#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/pg/connection.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>

namespace bmm::accounting {
namespace {

using test::stack_environment;
namespace pgl = bmm::accounting::ledger_store;

stack_environment& st() { return stack_environment::get(); }

using test::bin;
using test::free_port;

std::string write_config(const std::string& tag, int api_port, int statement_timeout_ms = 5000) {
    return test::write_stack_file("api", tag + ".toml",
                                  test::postgres_toml() + test::redis_toml("api-test", tag) +
                                      "[api]\nhost = \"127.0.0.1\"\nport = " + std::to_string(api_port) +
                                      "\nthreads = 2\nstatement_timeout_ms = " + std::to_string(statement_timeout_ms) +
                                      "\n" + "connection_timeout_s = 3\n" + "[log]\nlevel = \"info\"\n");
}

// ---------------------------------------------------------------------------
// A bounded HTTP client: one request per connection, 5 s per read or write,
// at most 8 MB read.
// ---------------------------------------------------------------------------

struct http_reply {
    int status = 0;  // 0: no status line (the server closed the connection)
    std::string headers;
    std::string body;
    std::string header(const std::string& name) const {
        std::string lower_h = headers, lower_n = name + ":";
        std::transform(lower_h.begin(), lower_h.end(), lower_h.begin(), ::tolower);
        std::transform(lower_n.begin(), lower_n.end(), lower_n.begin(), ::tolower);
        auto p = lower_h.find("\r\n" + lower_n);
        if (p == std::string::npos) {
            return "";
        }
        p += 2 + lower_n.size();
        auto e = headers.find("\r\n", p);
        std::string v = headers.substr(p, e - p);
        while (!v.empty() && v.front() == ' ') {
            v.erase(0, 1);
        }
        return v;
    }
};

int connect_to(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        throw std::runtime_error("socket failed");
    }
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

http_reply raw_request(int port, const std::string& bytes) {
    http_reply rep;
    const int fd = connect_to(port);
    if (fd < 0) {
        return rep;
    }
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string in;
    char buf[16384];
    while (in.size() < (8u << 20)) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto end = in.find("\r\n\r\n");
    if (in.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) {
        return rep;
    }
    rep.status = std::atoi(in.c_str() + 9);
    rep.headers = in.substr(0, end + 2);
    rep.body = in.substr(end + 4);
    return rep;
}

http_reply request(int port, const std::string& method, const std::string& target) {
    return raw_request(port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

// ---------------------------------------------------------------------------
// The data set
// ---------------------------------------------------------------------------

struct minute_row {
    std::string coin, account, worker;
    int minutes_ago;  // before the current minute
    long long accepted, rejected;
    unsigned long long work;
};

// Away from the window edges (9, 59 and 1439 minutes back), so that a minute
// turning during the test moves no row across one.
const std::vector<minute_row> k_minutes = {
    {"LTC", "alice", "rig1", 1, 10, 1, 600000000ULL},
    {"LTC", "alice", "rig1", 5, 20, 0, 1200000000ULL},
    {"LTC", "alice", "rig1", 30, 30, 3, 3600000000ULL},
    {"LTC", "alice", "rig2", 2, 5, 2, 300000001ULL},
    {"BTC", "alice", "rig1", 3, 1, 0, 7ULL},
    {"LTC", "bob", "rigA", 120, 4, 4, 999ULL},
    {"LTC", "bob", "rigB", 2000, 9, 0, 123456ULL},
};

struct window_sum {
    unsigned long long work10 = 0, work60 = 0;
    long long acc60 = 0, rej60 = 0, acc24 = 0, rej24 = 0;
    bool in10 = false, in24 = false;
};

std::string day(std::uint64_t k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-01-%02u 00:00:00+00", static_cast<unsigned>(k + 1));
    return buf;
}

// State shared by the tests: the database is filled once, the server started once.
struct world {
    pg::connection db;
    ledger model;
    std::vector<epoch_close_output> closes;
    std::vector<std::vector<std::string>> alice_batches;  // ids touching alice, per booking transaction
    std::vector<std::string> block_hashes;                // in found order
    int port = 0;
    std::unique_ptr<test::child_process> api;
    std::string config;
};
world* g = nullptr;

void exec_ok(const std::string& sql) {
    if (auto r = g->db.exec(sql); !r) {
        throw std::runtime_error(r.error_message() + " in " + sql.substr(0, 200));
    }
}

std::string scalar(const std::string& sql) {
    auto r = g->db.exec(sql);
    return r && r->rows() == 1 ? r->text(0, 0) : "<error>";
}

void note_batch(std::span<const transfer> ts) {
    std::vector<std::string> ids;
    const std::set<std::string> mine = {user_available("alice"), user_immature("alice")};
    for (const auto& t : ts) {
        if (mine.count(t.debit) || mine.count(t.credit)) {
            ids.push_back(t.id);
        }
    }
    if (!ids.empty()) {
        g->alice_batches.push_back(ids);
    }
}

void book(std::span<const transfer> ts) {
    auto r = pgl::book_transfers(g->db, ts);
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    if (!g->model.apply_all(ts)) {
        throw std::runtime_error("model refused a transfer");
    }
    note_batch(ts);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct created_at per transaction
}

void fill_database() {
    exec_ok("INSERT INTO accounts (name, kind) VALUES ('alice', 'user'), ('bob', 'user'), ('carol', 'user')");
    exec_ok(
        "INSERT INTO wallets (account, currency, address, share_ppm) VALUES"
        " ('alice', 'LTC', 'mxAliceOne', 600000), ('alice', 'LTC', 'mxAliceTwo', 400000),"
        " ('alice', 'BMM', '0xAlice\"quote', 1000000)");
    for (const auto& m : k_minutes) {
        exec_ok("INSERT INTO share_minutes (coin, account, worker, minute, accepted, rejected, work) VALUES ('" +
                m.coin + "', '" + m.account + "', '" + m.worker + "', date_trunc('minute', now()) - interval '" +
                std::to_string(m.minutes_ago) + " minutes', " + std::to_string(m.accepted) + ", " +
                std::to_string(m.rejected) + ", " + std::to_string(m.work) + ")");
    }

    book(genesis_transfers());

    accounting_config cfg;
    cfg.coins["LTC"] = coin_rules{10000, 200000, payout_scheme::pp, 1000000, 2000000};
    cfg.coins["BTC"] = coin_rules{20000, 200000, payout_scheme::solo, 1000000, 2000000};
    cfg.halving_period = 3;
    std::map<std::string, std::uint32_t> streaks;
    amount carried = 0;
    // Epoch 0: alice and bob mine; 1: alice only, a block by alice; 2: both, a block by bob.
    const std::vector<std::map<std::string, std::map<std::string, amount>>> work = {
        {{"alice", {{"LTC", amount(3) << 200}}}, {"bob", {{"LTC", amount(1) << 200}}}},
        {{"alice", {{"LTC", amount(12345678901234567ULL)}}}},
        {{"alice", {{"LTC", amount(5)}}}, {"bob", {{"BTC", (amount(1) << 250) + 17}}}},
    };
    for (std::uint64_t k = 0; k < work.size(); ++k) {
        if (auto e = epoch_store::ensure_epoch(g->db, k, day(k), day(k + 1)); !e) {
            throw std::runtime_error(e.error_message());
        }
        epoch_close_input in;
        in.k = k;
        in.config = cfg;
        in.work = work[k];
        in.previous_streaks = streaks;
        in.bmm_holdings = g->model.bmm_holdings();
        in.carried_emission = carried;
        if (k >= 1) {
            block_input b;
            b.hash = k == 1 ? "00aa01" : "00bb02";
            b.coin = k == 1 ? "LTC" : "BTC";
            b.height = 1000 + k;
            b.reward = amount(k == 1 ? 2500000000ULL : 625000001ULL);
            b.finder = k == 1 ? "alice" : "bob";
            b.found_epoch = k;
            const std::string found = k == 1 ? "2026-01-02 12:00:00+00" : "2026-01-03 06:30:00+00";
            if (auto r = block_store::record_block(g->db, {b.hash, b.coin, b.height, b.reward, b.finder, found, k, k});
                !r) {
                throw std::runtime_error(r.error_message());
            }
            in.blocks.push_back(b);
            g->block_hashes.push_back(b.hash);
        }
        auto out = close_epoch(in);
        if (!out) {
            throw std::runtime_error(out.error_message());
        }
        auto r = epoch_store::book_epoch_close(g->db, *out);
        if (!r) {
            throw std::runtime_error(r.error_message());
        }
        if (!g->model.apply_all(out->transfers)) {
            throw std::runtime_error("model refused the close");
        }
        note_batch(out->transfers);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        for (const auto& [u, a] : out->accounts) {
            streaks[u] = a.streak;
        }
        carried = out->carried_emission;
        g->closes.push_back(*out);
    }
    // alice's block matures; bob's stays immature.
    auto stored = pgl::load_transfers(g->db, "block:00aa01");
    if (!stored) {
        throw std::runtime_error(stored.error_message());
    }
    auto ts = block_maturity_transfers("00aa01", *stored);
    if (!ts) {
        throw std::runtime_error(ts.error_message());
    }
    auto r = block_store::book_block_status(g->db, "00aa01", "mature", *ts);
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    if (!g->model.apply_all(*ts)) {
        throw std::runtime_error("model refused the maturity");
    }
    note_batch(*ts);
}

class api_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g = new world;
        g->db = test::db();
        g->port = free_port(32000);
        g->config = write_config("api", g->port);
        test::migrate_accountd(g->config, st().dir() + "/api/migrate.log");
        fill_database();
        g->api = std::make_unique<test::child_process>(
            std::vector<std::string>{bin("bmm-accountd"), "api", "--config", g->config}, st().dir() + "/api/api.log");
        for (int i = 0; i < 250; ++i) {  // up to 5 s
            if (request(g->port, "GET", "/api/v1/pool").status == 200) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("bmm-accountd api did not answer: " + test::read_text(st().dir() + "/api/api.log"));
    }
    static void TearDownTestSuite() {
        if (!g) {
            return;
        }
        if (g->api) {
            EXPECT_EQ(g->api->stop(SIGTERM, 10000), 0) << "bmm-accountd api should exit 0 on SIGTERM";
        }
        delete g;
        g = nullptr;
    }

    // GET `target`, expect `status`, parse the body.
    simdjson::dom::element get_json(const std::string& target, int status = 200) {
        auto r = request(g->port, "GET", target);
        EXPECT_EQ(r.status, status) << target << " -> " << r.body;
        EXPECT_EQ(r.header("Content-Type"), "application/json; charset=utf-8") << target;
        bodies_.push_back(std::make_unique<std::string>(r.body));
        auto doc = parser_.emplace_back(std::make_unique<simdjson::dom::parser>())->parse(*bodies_.back());
        if (doc.error()) {
            throw std::runtime_error(target + ": not JSON: " + r.body);
        }
        return doc.value();
    }
    std::string error_of(const std::string& target, int status) {
        auto e = get_json(target, status);
        std::string_view msg;
        if (e["error"].get(msg)) {
            return "<no error field>";
        }
        return std::string(msg);
    }

    std::vector<std::unique_ptr<std::string>> bodies_;
    std::vector<std::unique_ptr<simdjson::dom::parser>> parser_;
};

std::string s(simdjson::dom::element e) { return std::string(std::string_view(e)); }
long long n(simdjson::dom::element e) { return std::int64_t(e); }
std::size_t count(simdjson::dom::element e) { return simdjson::dom::array(e).size(); }

window_sum sums(const std::string& account, const std::string& worker, const std::string& coin) {
    window_sum w;
    for (const auto& m : k_minutes) {
        if ((!account.empty() && m.account != account) || (!worker.empty() && m.worker != worker) ||
            (!coin.empty() && m.coin != coin)) {
            continue;
        }
        if (m.minutes_ago <= 9) {
            w.work10 += m.work, w.in10 = true;
        }
        if (m.minutes_ago <= 59) {
            w.work60 += m.work, w.acc60 += m.accepted, w.rej60 += m.rejected;
        }
        if (m.minutes_ago <= 1439) {
            w.acc24 += m.accepted, w.rej24 += m.rejected, w.in24 = true;
        }
    }
    return w;
}

// The page's hashrate history: every 10-minute bucket of the last 24 h, the
// last one ending with the current minute; computed here from the inserted rows.
TEST_F(api_test, hashrate_history_from_the_minute_rollups) {
    for (const std::string account : {"alice", ""}) {
        auto h = get_json(account.empty() ? "/api/v1/pool/hashrate" : "/api/v1/accounts/" + account + "/hashrate");
        EXPECT_EQ(s(h["window"]), "24h");
        EXPECT_EQ(n(h["bucket_seconds"]), 600);
        std::map<std::string, std::vector<unsigned long long>> want;
        for (const auto& m : k_minutes) {
            if ((!account.empty() && m.account != account) || m.minutes_ago > 1439) {
                continue;
            }
            auto& v = want[m.coin];
            v.resize(144);
            v[143 - static_cast<std::size_t>(m.minutes_ago / 10)] += m.work;
        }
        std::map<std::string, std::vector<unsigned long long>> got;
        long long previous = -1;
        for (auto c : h["coins"].get_array()) {
            auto& v = got[s(c["coin"])];
            for (auto pt : c["points"].get_array()) {
                v.push_back(static_cast<unsigned long long>(n(pt.at(1))) * 600);
                if (previous >= 0 && v.size() > 1) {
                    EXPECT_EQ(n(pt.at(0)) - previous, 600);
                }
                previous = n(pt.at(0));
            }
            previous = -1;
        }
        for (auto& [coin, v] : want) {
            for (auto& x : v) {
                x = x / 600 * 600;  // truncated to whole hashes per second
            }
        }
        EXPECT_EQ(got, want) << (account.empty() ? "the pool" : account);
    }
    auto month = get_json("/api/v1/pool/hashrate?window=30d");
    EXPECT_EQ(n(month["bucket_seconds"]), 21600);
    EXPECT_EQ(count(month["coins"].at(0)["points"]), 120u);
    EXPECT_NE(error_of("/api/v1/pool/hashrate?window=1y", 400).find("24h or 30d"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/accounts/nobody/hashrate", 404).find("no account"), std::string::npos);
    // miners_active: accounts with an accepted share in the last 10 minutes.
    std::set<std::string> miners;
    for (const auto& m : k_minutes) {
        if (m.minutes_ago <= 9 && m.accepted > 0) {
            miners.insert(m.account);
        }
    }
    EXPECT_EQ(n(get_json("/api/v1/pool")["miners_active"]), static_cast<long long>(miners.size()));
}

TEST_F(api_test, pool_stats_match_the_data) {
    auto p = get_json("/api/v1/pool");
    EXPECT_EQ(n(p["accounts"]), 6);  // alice, bob, carol and the foundation's three (sql/0017)
    std::vector<std::string> foundation;
    for (auto f : p["foundation"].get_array()) {
        foundation.push_back(s(f["name"]));
        amount held = 0;
        for (const auto& [key, v] : g->model.balances()) {
            if (key.first == s(f["name"]) && key.second == "BMM") {
                held = v;
            }
        }
        EXPECT_EQ(s(f["bmm_held"]["amount"]), to_decimal(held)) << s(f["name"]);
        EXPECT_GT(held, amount(0)) << "the premine gives each foundation account BMM";
    }
    EXPECT_EQ(foundation,
              (std::vector<std::string>{"foundation:airdrop", "foundation:developers", "foundation:ecosystem"}));
    std::set<std::pair<std::string, std::string>> active;
    for (const auto& m : k_minutes) {
        if (m.minutes_ago <= 9) {
            active.insert({m.account, m.worker});
        }
    }
    EXPECT_EQ(n(p["workers_active"]), static_cast<long long>(active.size()));
    const auto all = sums("", "", "");
    EXPECT_EQ(n(p["shares_1h"]["accepted"]), all.acc60);
    EXPECT_EQ(n(p["shares_1h"]["rejected"]), all.rej60);
    std::vector<std::string> coins;
    for (auto c : p["coins"].get_array()) {
        const std::string coin = s(c["coin"]);
        coins.push_back(coin);
        const auto w = sums("", "", coin);
        EXPECT_EQ(n(c["hashrate_10m"]), static_cast<long long>(w.work10 / 600)) << coin;
        EXPECT_EQ(n(c["hashrate_1h"]), static_cast<long long>(w.work60 / 3600)) << coin;
    }
    EXPECT_EQ(coins, (std::vector<std::string>{"BTC", "LTC"}));
    EXPECT_EQ(n(p["blocks"]["immature"]), 1);
    EXPECT_EQ(n(p["blocks"]["mature"]), 1);
    EXPECT_EQ(n(p["blocks"]["orphaned"]), 0);
    EXPECT_EQ(n(p["last_closed_epoch"]["k"]), 2);
    EXPECT_EQ(s(p["last_closed_epoch"]["emission_paid"]), to_decimal(g->closes.back().emission_paid));
    EXPECT_EQ(s(p["bmm"]["issued"]), to_decimal(g->model.bmm_issued()));
    EXPECT_EQ(s(p["bmm"]["premine"]), to_decimal(bmm_premine_total()));
    EXPECT_EQ(s(p["bmm"]["supply"]), to_decimal(bmm_total_supply()));
    EXPECT_EQ(n(p["bmm"]["decimals"]), 18);
}

TEST_F(api_test, account_balances_to_the_base_unit_wallets_and_hashrate) {
    for (const std::string name : {"alice", "bob", "carol"}) {
        SCOPED_TRACE(name);
        auto a = get_json("/api/v1/accounts/" + name);
        EXPECT_EQ(s(a["name"]), name);
        EXPECT_EQ(s(a["kind"]), "user");
        std::map<std::string, std::pair<std::string, std::string>> got, want;
        for (auto b : a["balances"].get_array()) {
            got[s(b["currency"])] = {s(b["available"]), s(b["immature"])};
            EXPECT_EQ(n(b["decimals"]), s(b["currency"]) == "BMM" ? 18 : 8);
        }
        for (const auto& [key, v] : g->model.balances()) {
            if (key.first == user_available(name)) {
                want[key.second].first = to_decimal(v);
            }
            if (key.first == user_immature(name)) {
                want[key.second].second = to_decimal(v);
            }
        }
        for (auto& [cur, v] : want) {
            if (v.first.empty()) {
                v.first = "0";
            }
            if (v.second.empty()) {
                v.second = "0";
            }
        }
        EXPECT_EQ(got, want);
        for (auto h : a["hashrate"].get_array()) {
            const auto w = sums(name, "", s(h["coin"]));
            EXPECT_EQ(n(h["hashrate_10m"]), static_cast<long long>(w.work10 / 600));
            EXPECT_EQ(n(h["hashrate_1h"]), static_cast<long long>(w.work60 / 3600));
        }
    }
    // alice: LTC available (her block matured), BMM (emission), BTC immature (dividend of bob's block).
    auto a = get_json("/api/v1/accounts/alice");
    std::vector<std::string> shape;
    for (auto x : a["balances"].get_array()) {
        shape.push_back(s(x["currency"]) + (s(x["available"]) == "0" ? " -" : " A") +
                        (s(x["immature"]) == "0" ? "-" : "I"));
    }
    EXPECT_EQ(shape, (std::vector<std::string>{"BMM A-", "BTC -I", "LTC A-"}));
    std::vector<std::string> wallets;
    for (auto w : a["wallets"].get_array()) {
        wallets.push_back(s(w["currency"]) + " " + s(w["address"]) + " " + std::to_string(n(w["share_ppm"])));
    }
    EXPECT_EQ(wallets, (std::vector<std::string>{"BMM 0xAlice\"quote 1000000", "LTC mxAliceOne 600000",
                                                 "LTC mxAliceTwo 400000"}));
    EXPECT_EQ(count(a["hashrate"]), 2u);  // BTC and LTC in the last hour
    auto b = get_json("/api/v1/accounts/bob");
    EXPECT_EQ(count(b["hashrate"]), 0u);  // bob's shares are older than an hour
    bool bob_btc_immature = false;
    for (auto x : b["balances"].get_array()) {
        if (s(x["currency"]) == "BTC" && s(x["immature"]) != "0") {
            bob_btc_immature = true;
        }
    }
    EXPECT_TRUE(bob_btc_immature);
}

TEST_F(api_test, foundation_accounts_have_balances_bmm_held_and_a_ledger_in_both_spellings) {
    for (const std::string name : {"foundation:airdrop", "foundation:developers", "foundation:ecosystem"}) {
        SCOPED_TRACE(name);
        std::map<std::string, std::pair<std::string, std::string>> want;
        for (const auto& [key, v] : g->model.balances()) {
            if (key.first == name) {
                want[key.second].first = to_decimal(v);
            }
            if (key.first == name + ":immature") {
                want[key.second].second = to_decimal(v);
            }
        }
        for (auto& [cur, v] : want) {
            if (v.first.empty()) {
                v.first = "0";
            }
            if (v.second.empty()) {
                v.second = "0";
            }
        }
        ASSERT_TRUE(want.count("BMM")) << "the premine and dividends";
        const std::string escaped = "foundation%3A" + name.substr(11);
        for (const std::string& spelled : {name, escaped}) {
            auto a = get_json("/api/v1/accounts/" + spelled);
            EXPECT_EQ(s(a["name"]), name);
            EXPECT_EQ(s(a["kind"]), "foundation");
            std::map<std::string, std::pair<std::string, std::string>> got;
            for (auto b : a["balances"].get_array()) {
                got[s(b["currency"])] = {s(b["available"]), s(b["immature"])};
            }
            EXPECT_EQ(got, want);
            EXPECT_EQ(s(a["bmm_held"]["amount"]), want["BMM"].first);
            EXPECT_EQ(n(a["bmm_held"]["decimals"]), 18);
        }
        // Its ledger: every transfer touching it or its :immature, each once.
        std::set<std::string> want_ids;
        for (const auto& t : g->model.transfers()) {
            if (t.debit == name || t.credit == name || t.debit == name + ":immature" ||
                t.credit == name + ":immature") {
                want_ids.insert(t.id);
            }
        }
        std::set<std::string> got_ids;
        auto l = get_json("/api/v1/accounts/" + escaped + "/ledger?limit=1000");
        for (auto t : l["transfers"].get_array()) {
            got_ids.insert(s(t["id"]));
        }
        EXPECT_EQ(got_ids, want_ids);
        EXPECT_FALSE(want_ids.empty());
    }
    EXPECT_EQ(error_of("/api/v1/accounts/foundation:nobody", 404), "no account \"foundation:nobody\"");
    EXPECT_NE(error_of("/api/v1/accounts/foundation:", 400).find("foundation:ecosystem"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/accounts/foundation:a:b", 400).find("not a foundation account"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/accounts/user:alice:available", 400).find("only letters"), std::string::npos);
}

TEST_F(api_test, workers_hashrate_counts_and_last_share) {
    auto w = get_json("/api/v1/accounts/alice/workers");
    std::vector<std::string> seen;
    for (auto x : w["workers"].get_array()) {
        const std::string worker = s(x["worker"]), coin = s(x["coin"]);
        seen.push_back(worker + "/" + coin);
        const auto sum = sums("alice", worker, coin);
        EXPECT_EQ(n(x["hashrate_10m"]), static_cast<long long>(sum.work10 / 600)) << worker;
        EXPECT_EQ(n(x["hashrate_1h"]), static_cast<long long>(sum.work60 / 3600)) << worker;
        EXPECT_EQ(n(x["accepted_1h"]), sum.acc60);
        EXPECT_EQ(n(x["rejected_1h"]), sum.rej60);
        EXPECT_EQ(n(x["accepted_24h"]), sum.acc24);
        EXPECT_EQ(n(x["rejected_24h"]), sum.rej24);
        EXPECT_EQ(s(x["last_share_minute"]),
                  scalar("SELECT bmm_api_time(max(minute)) FROM share_minutes WHERE account = 'alice' AND worker = '" +
                         worker + "' AND coin = '" + coin + "'"));
        // Online: a share in the last [web] offline_after_minutes (10 by default).
        EXPECT_EQ(x["online"].get_bool().value() ? "t" : "f",
                  scalar("SELECT max(minute) > date_trunc('minute', now()) - interval '10 minutes' FROM share_minutes"
                         " WHERE account = 'alice' AND worker = '" +
                         worker + "' AND coin = '" + coin + "'"))
            << worker;
    }
    EXPECT_EQ(n(w["offline_after_minutes"]), 10);
    EXPECT_EQ(seen, (std::vector<std::string>{"rig1/BTC", "rig1/LTC", "rig2/LTC"}));
    // LTC rig1: (600000000 + 1200000000) / 600 in 10 min, written out once as a check on sums().
    EXPECT_EQ(sums("alice", "rig1", "LTC").work10 / 600, 3000000u);
    EXPECT_TRUE(w["next_after"].is_null()) << "one page holds every worker";

    // Pages of one worker each: rig1 whole (both coins), then rig2, then the end.
    auto p1 = get_json("/api/v1/accounts/alice/workers?limit=1");
    ASSERT_EQ(count(p1["workers"]), 2u) << "a worker's coins stay on one page";
    EXPECT_EQ(s(p1["workers"].at(0)["worker"]), "rig1");
    EXPECT_EQ(s(p1["workers"].at(1)["worker"]), "rig1");
    ASSERT_EQ(s(p1["next_after"]), "rig1");
    auto p2 = get_json("/api/v1/accounts/alice/workers?limit=1&after=rig1");
    ASSERT_EQ(count(p2["workers"]), 1u);
    EXPECT_EQ(s(p2["workers"].at(0)["worker"]), "rig2");
    EXPECT_EQ(s(p2["next_after"]), "rig2");
    auto p3 = get_json("/api/v1/accounts/alice/workers?limit=1&after=rig2");
    EXPECT_EQ(count(p3["workers"]), 0u);
    EXPECT_TRUE(p3["next_after"].is_null());
    EXPECT_NE(error_of("/api/v1/accounts/alice/workers?limit=0", 400).find("limit"), std::string::npos);

    // bob: rigA (2 h ago) is listed with zero hashrate; rigB (33 h ago) is not.
    auto b = get_json("/api/v1/accounts/bob/workers");
    ASSERT_EQ(count(b["workers"]), 1u);
    EXPECT_EQ(s(b["workers"].at(0)["worker"]), "rigA");
    EXPECT_EQ(n(b["workers"].at(0)["hashrate_1h"]), 0);
    EXPECT_EQ(n(b["workers"].at(0)["accepted_24h"]), 4);
    EXPECT_FALSE(b["workers"].at(0)["online"].get_bool().value()) << "its last share is 2 h old";
    EXPECT_EQ(count(get_json("/api/v1/accounts/carol/workers")["workers"]), 0u);
}

TEST_F(api_test, account_epochs_are_the_closes_dpp_streak_e_and_pp) {
    auto e = get_json("/api/v1/accounts/alice/epochs");
    std::vector<long long> ks;
    for (auto x : e["epochs"].get_array()) {
        const auto k = static_cast<std::size_t>(n(x["k"]));
        ks.push_back(n(x["k"]));
        const auto& out = g->closes.at(k);
        const auto& mine = out.accounts.at("alice");
        EXPECT_EQ(s(x["dpp"]), to_decimal(mine.dpp));
        EXPECT_EQ(n(x["streak"]), mine.streak);
        EXPECT_EQ(n(x["e_bp"]), mine.e_bp);
        EXPECT_EQ(s(x["pp"]), to_decimal(mine.pp));
        amount total = 0;
        for (const auto& [u, a] : out.accounts) {
            total += a.pp;
        }
        EXPECT_EQ(s(x["pp_total"]), to_decimal(total));
        // No transfer when alice's share of E(k) rounds down to zero (epoch 2: bob's PP dwarfs hers).
        const transfer* t = g->model.find("epoch:" + std::to_string(k) + ":emission:alice");
        EXPECT_EQ(s(x["bmm_emission"]["amount"]), t ? to_decimal(t->value) : "0") << "epoch " << k;
        if (k == 0) {
            EXPECT_NE(t, nullptr);
        }
        EXPECT_EQ(s(x["start"]), scalar("SELECT bmm_api_time('" + day(k) + "'::timestamptz)"));
    }
    EXPECT_EQ(ks, (std::vector<long long>{2, 1, 0}));
    EXPECT_TRUE(e["next_before"].is_null());
    // Pages of one: 2, then 1 (before=2), then 0.
    auto p1 = get_json("/api/v1/accounts/alice/epochs?limit=1");
    EXPECT_EQ(n(p1["epochs"].at(0)["k"]), 2);
    EXPECT_EQ(n(p1["next_before"]), 2);
    auto p2 = get_json("/api/v1/accounts/alice/epochs?limit=1&before=2");
    EXPECT_EQ(n(p2["epochs"].at(0)["k"]), 1);
    auto p3 = get_json("/api/v1/accounts/alice/epochs?limit=5&before=1");
    EXPECT_EQ(count(p3["epochs"]), 1u);
    EXPECT_TRUE(p3["next_before"].is_null());
    // bob missed epoch 1 (streak 0 there), and starts again at 1 in epoch 2.
    auto b = get_json("/api/v1/accounts/bob/epochs");
    std::vector<std::string> got, want;
    for (auto x : b["epochs"].get_array()) {
        got.push_back(std::to_string(n(x["k"])) + ":" + std::to_string(n(x["streak"])) + ":" + s(x["pp"]));
    }
    for (auto it = g->closes.rbegin(); it != g->closes.rend(); ++it) {
        if (auto f = it->accounts.find("bob"); f != it->accounts.end()) {
            want.push_back(std::to_string(it->k) + ":" + std::to_string(f->second.streak) + ":" +
                           to_decimal(f->second.pp));
        }
    }
    EXPECT_EQ(got, want);
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(want.front(), "2:1:" + to_decimal(g->closes[2].accounts.at("bob").pp));
}

TEST_F(api_test, ledger_pages_newest_first_and_every_transfer_once) {
    std::vector<std::string> want;
    for (auto it = g->alice_batches.rbegin(); it != g->alice_batches.rend(); ++it) {
        auto ids = *it;
        std::sort(ids.rbegin(), ids.rend());  // bytewise, newest batch first, ids descending
        want.insert(want.end(), ids.begin(), ids.end());
    }
    ASSERT_GE(want.size(), 5u);

    auto whole = get_json("/api/v1/accounts/alice/ledger?limit=1000");
    std::vector<std::string> got;
    std::map<std::string, amount> net;  // currency -> available + immature, from the deltas
    for (auto x : whole["transfers"].get_array()) {
        got.push_back(s(x["id"]));
        const transfer* t = g->model.find(s(x["id"]));
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(s(x["amount"]), to_decimal(t->value));
        EXPECT_EQ(s(x["debit"]), t->debit);
        EXPECT_EQ(s(x["credit"]), t->credit);
        EXPECT_EQ(s(x["kind"]), std::string(to_string(t->kind)));
        net[s(x["currency"])] += *parse_amount(s(x["available"])) + *parse_amount(s(x["immature"]));
    }
    EXPECT_EQ(got, want);
    for (const auto& [cur, v] : net) {
        EXPECT_EQ(v, g->model.balance(user_available("alice"), cur) + g->model.balance(user_immature("alice"), cur))
            << cur;
    }

    // Pages of 2 following next_before give the same list.
    std::vector<std::string> paged;
    std::string target = "/api/v1/accounts/alice/ledger?limit=2";
    for (int page = 0; page < 100; ++page) {
        auto p = get_json(target);
        for (auto x : p["transfers"].get_array()) {
            paged.push_back(s(x["id"]));
        }
        if (p["next_before"].is_null()) {
            break;
        }
        std::string cursor = s(p["next_before"]), enc;
        for (char c : cursor) {
            if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_') {
                enc += c;
            } else {
                char b[4];
                std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(c));
                enc += b;
            }
        }
        target = "/api/v1/accounts/alice/ledger?limit=2&before=" + enc;
    }
    EXPECT_EQ(paged, want);
}

TEST_F(api_test, blocks_and_epochs_newest_first) {
    auto b = get_json("/api/v1/blocks");
    std::vector<std::string> got;
    for (auto x : b["blocks"].get_array()) {
        got.push_back(s(x["hash"]) + " " + s(x["status"]) + " " + s(x["reward"]) + " " +
                      std::to_string(n(x["decimals"])));
    }
    EXPECT_EQ(got, (std::vector<std::string>{"00bb02 immature 625000001 8", "00aa01 mature 2500000000 8"}));
    EXPECT_EQ(s(b["blocks"].at(1)["found_at"]), "2026-01-02T12:00:00.000000Z");
    EXPECT_EQ(count(get_json("/api/v1/blocks?limit=1")["blocks"]), 1u);
    // No shares here, so no chain tip: confirmations unknown, none left once mature.
    EXPECT_TRUE(b["blocks"].at(0)["confirmations"].is_null());
    EXPECT_TRUE(b["blocks"].at(0)["confirmations_left"].is_null());
    EXPECT_EQ(n(b["blocks"].at(1)["confirmations_left"]), 0);
    EXPECT_TRUE(b["blocks"].at(1)["maturity"].is_null()) << "api_test's configuration has no [coins.LTC]";
    // Paged: the first page's next_before gives the second block.
    auto p1 = get_json("/api/v1/blocks?limit=1");
    const std::string next{std::string_view(p1["next_before"])};
    std::string enc;
    for (char c : next) {
        if (c == ':' || c == '/') {
            char e[4];
            std::snprintf(e, sizeof e, "%%%02X", static_cast<unsigned char>(c));
            enc += e;
        } else {
            enc += c;
        }
    }
    auto p2 = get_json("/api/v1/blocks?limit=1&before=" + enc);
    EXPECT_EQ(s(p2["blocks"].at(0)["hash"]), "00aa01");

    auto e = get_json("/api/v1/epochs?limit=2");
    ASSERT_EQ(count(e["epochs"]), 2u);
    for (auto x : e["epochs"].get_array()) {
        const auto& out = g->closes.at(static_cast<std::size_t>(n(x["k"])));
        EXPECT_EQ(s(x["emission"]), to_decimal(out.emission));
        EXPECT_EQ(s(x["emission_paid"]), to_decimal(out.emission_paid));
        EXPECT_EQ(s(x["emission_carried"]), to_decimal(out.carried_emission));
        EXPECT_EQ(n(x["accounts"]), static_cast<long long>(out.accounts.size()));
        amount pp = 0;
        for (const auto& [u, a] : out.accounts) {
            pp += a.pp;
        }
        EXPECT_EQ(s(x["pp_total"]), to_decimal(pp));
        EXPECT_EQ(n(x["blocks"]), 1);
    }
    EXPECT_EQ(n(e["next_before"]), 1);
    EXPECT_EQ(n(get_json("/api/v1/epochs?before=1")["epochs"].at(0)["k"]), 0);
}

TEST_F(api_test, bad_requests_get_clear_errors) {
    EXPECT_EQ(error_of("/api/v1/accounts/nobody", 404), "no account \"nobody\"");
    EXPECT_EQ(error_of("/api/v1/accounts/nobody/ledger", 404), "no account \"nobody\"");
    EXPECT_NE(error_of("/api/v1/accounts/bad%21name", 400).find("only letters, digits"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/accounts/" + std::string(129, 'a'), 400).find("1 to 128"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=0", 400).find("from 1 to 1000"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=1001", 400).find("from 1 to 1000"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=-1", 400).find("from 1 to 1000"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=1e3", 400).find("from 1 to 1000"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=99999999999999999999", 400).find("from 1 to 1000"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=", 400).find("has no value"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/blocks?limit=1&limit=2", 400).find("given twice"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/pool?x=1", 400).find("unknown parameter \"x\""), std::string::npos);
    EXPECT_NE(error_of("/api/v1/accounts/alice/ledger?before=yesterday", 400).find("next_before"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/accounts/alice/ledger?before=2026-01-01T00:00:00.000000Z/", 400).find("next_before"),
              std::string::npos);
    EXPECT_NE(error_of("/api/v1/epochs?before=x", 400).find("\"before\""), std::string::npos);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/nothing").status, 404);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/accounts/alice/nothing").status, 404);
    EXPECT_EQ(request(g->port, "GET", "/etc/passwd").status, 404);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/pool/").status, 404);

    auto post = raw_request(
        g->port, "POST /api/v1/pool HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.header("Allow"), "GET, HEAD");
    EXPECT_EQ(request(g->port, "DELETE", "/api/v1/accounts/alice").status, 405);

    auto head = request(g->port, "HEAD", "/api/v1/pool");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());

    // Malformed HTTP: a 400 or a closed connection, never a hang; the server serves on.
    for (const std::string& bad : std::vector<std::string>{
             "GARBAGE\r\n\r\n", "GET /api/v1/pool HTTP/9.9\r\n\r\n", "GET\r\n\r\n",
             "GET /api/v1/pool HTTP/1.1\r\nHost: x\r\nBad header line\r\n\r\n",
             std::string("GET /api/v1/pool HTTP/1.1\r\nHost: x\r\nX: ") + std::string(200000, 'a') + "\r\n\r\n"}) {
        auto r = raw_request(g->port, bad);
        std::printf("malformed request %s... -> %d\n", bad.substr(0, bad.find('\r')).substr(0, 40).c_str(), r.status);
        EXPECT_TRUE(r.status == 0 || (r.status >= 400 && r.status < 600)) << bad.substr(0, 40) << " -> " << r.status;
    }
    // A client that connects and sends nothing does not hold up others, and is dropped.
    const int idle = connect_to(g->port);
    ASSERT_GE(idle, 0);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/pool").status, 200);
    char c = 0;
    EXPECT_EQ(::recv(idle, &c, 1, 0), 0) << "an idle client is dropped after [api] connection_timeout_s (3 s here)";
    ::close(idle);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/pool").status, 200);
}

TEST_F(api_test, the_web_page_is_served_and_uses_the_api) {
    auto r = request(g->port, "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(r.header("Content-Security-Policy").find("connect-src 'self'"), std::string::npos);
    EXPECT_NE(r.header("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
    std::ifstream f(st().source_dir() + "/accounting/web/index.html");
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(r.body, ss.str());  // served exactly as written
    EXPECT_EQ(request(g->port, "GET", "/?account=alice").status, 200);
    auto js = request(g->port, "GET", "/static/app.js");
    EXPECT_EQ(js.status, 200);
    EXPECT_EQ(js.header("Content-Type"), "text/javascript; charset=utf-8");
    for (const char* needle :
         {"const API = \"/api/v1/\"", "\"accounts/\"", "/workers?limit=1000\"", "/epochs?limit=30\"", "get(\"pool\")",
          "get(\"pool/facts\")", "/hashrate?window=24h\""}) {
        EXPECT_NE(js.body.find(needle), std::string::npos) << needle;
    }
    std::ifstream jf(st().source_dir() + "/accounting/web/app.js");
    std::stringstream jss;
    jss << jf.rdbuf();
    EXPECT_EQ(js.body, jss.str());
    EXPECT_EQ(request(g->port, "GET", "/static/app.css").header("Content-Type"), "text/css; charset=utf-8");
}

// Base units as the page shows them: "1,234.5" (decimals places, trailing zeros cut).
std::string shown(const std::string& base_units, int decimals) {
    std::string d = base_units;
    while (d.size() < static_cast<std::size_t>(decimals) + 1) {
        d.insert(0, "0");
    }
    std::string whole = d.substr(0, d.size() - static_cast<std::size_t>(decimals));
    std::string frac = d.substr(d.size() - static_cast<std::size_t>(decimals));
    while (!frac.empty() && frac.back() == '0') {
        frac.pop_back();
    }
    for (int i = static_cast<int>(whole.size()) - 3; i > 0; i -= 3) {
        whole.insert(static_cast<std::size_t>(i), ",");
    }
    return frac.empty() ? whole : whole + "." + frac;
}

TEST_F(api_test, the_page_in_a_headless_browser_shows_the_account) {
    if (!test::have_chromium()) {
        GTEST_SKIP() << "chromium is not installed (deploy/install-deps.sh installs it)";
    }
    // An old link (?account=) opens the miner view (#/accounts/alice).
    const std::string dom =
        test::chromium_dump_dom(st().dir() + "/api/chromium", "http://127.0.0.1:" + std::to_string(g->port) +
                                                                  "/?account=alice&from=2000-01-01&to=2100-01-01");
    EXPECT_NE(dom.find("<span id=\"acc-name\">alice (user)</span>"), std::string::npos) << dom.substr(0, 4000);
    // Every balance, formatted from the model's base units.
    for (const auto& [key, v] : g->model.balances()) {
        if (key.first != user_available("alice") || v == 0) {
            continue;
        }
        const std::string cell = "<td class=\"n\">" + shown(to_decimal(v), currency_decimals(key.second)) + "</td>";
        EXPECT_NE(dom.find(cell), std::string::npos) << key.second << ": " << cell;
    }
    for (const char* text : {"<td>rig1</td>", "<td>rig2</td>", "<span class=\"mono\">mxAliceOne</span>",
                             "<span class=\"mono\">0xAlice\"quote</span>"}) {
        EXPECT_NE(dom.find(text), std::string::npos) << text;
    }
    EXPECT_NE(dom.find("<section id=\"view-account\" class=\"view\">"), std::string::npos)
        << "the account view stayed hidden";
    EXPECT_NE(dom.find("<p id=\"error\" role=\"alert\"></p>"), std::string::npos) << "the page shows an error";

    // The holder view: the statement of the period in the URL, each section's opening,
    // closing and transfer count as the statement API gives them, and its three downloads.
    const std::string held = test::chromium_dump_dom(
        st().dir() + "/api/chromium-holder",
        "http://127.0.0.1:" + std::to_string(g->port) + "/?from=2000-01-01&to=2100-01-01#/accounts/alice/holder");
    const std::string q = "/api/v1/accounts/alice/statement?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";
    auto st = get_json(q + "&format=json");
    std::size_t sections = 0;
    for (auto sec : st["sections"].get_array()) {
        ++sections;
        const int decimals = static_cast<int>(std::int64_t(sec["decimals"]));
        const std::string cur{std::string_view(sec["currency"])};
        const std::string kind{std::string_view(sec["balance"])};
        const std::string cells = "<td>" + cur + "</td><td>" + kind + "</td><td class=\"n\">" +
                                  shown(std::string(std::string_view(sec["opening"])), decimals) + "</td>";
        EXPECT_NE(held.find(cells), std::string::npos) << cells;
        const std::string closing = "<td class=\"n\">" +
                                    shown(std::string(std::string_view(sec["closing"])), decimals) +
                                    "</td><td class=\"n\">" + std::to_string(sec["rows"].get_array().size()) + "</td>";
        EXPECT_NE(held.find(closing), std::string::npos) << cur << " " << kind << ": " << closing;
    }
    EXPECT_GE(sections, 2u) << "alice holds LTC and BMM";
    for (const char* f : {"csv", "pdf", "json"}) {
        const std::string href =
            "href=\"/api/v1/accounts/alice/statement?from=2000-01-01T00:00:00Z&amp;"
            "to=2100-01-01T00:00:00Z&amp;format=" +
            std::string(f) + "\"";
        EXPECT_NE(held.find(href), std::string::npos) << href;
    }
    EXPECT_NE(held.find("<section id=\"view-holder\" class=\"view\">"), std::string::npos)
        << "the holder view stayed hidden";
}

TEST_F(api_test, the_page_in_a_headless_browser_shows_a_foundation_account) {
    if (!test::have_chromium()) {
        GTEST_SKIP() << "chromium is not installed (deploy/install-deps.sh installs it)";
    }
    const std::string dom = test::chromium_dump_dom(
        st().dir() + "/api/chromium-foundation",
        "http://127.0.0.1:" + std::to_string(g->port) + "/#/accounts/foundation%3Aecosystem/holder");
    EXPECT_NE(dom.find("<span id=\"hold-name\">foundation:ecosystem (foundation)</span>"), std::string::npos)
        << dom.substr(0, 4000);
    amount held = 0;
    for (const auto& [key, v] : g->model.balances()) {
        if (key.first == "foundation:ecosystem" && key.second == "BMM") {
            held = v;
        }
    }
    EXPECT_NE(dom.find("<dd id=\"hold-bmm-held\">" + shown(to_decimal(held), 18) + " BMM (no wallet bound"),
              std::string::npos)
        << dom.substr(0, 4000);
    EXPECT_NE(dom.find("<section id=\"view-holder\" class=\"view\">"), std::string::npos)
        << "the holder view stayed hidden";
}

TEST_F(api_test, concurrent_clients_get_the_same_answers) {
    // 8 clients x 25 requests over 2 server threads and their connection pool.
    const std::vector<std::string> targets = {"/api/v1/accounts/alice", "/api/v1/accounts/alice/ledger?limit=3",
                                              "/api/v1/epochs", "/api/v1/accounts/bob/epochs"};
    std::vector<std::string> first;
    for (const auto& t : targets) {
        first.push_back(request(g->port, "GET", t).body);
    }
    std::atomic<int> bad{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
        clients.emplace_back([&, c] {
            for (int i = 0; i < 25; ++i) {
                const std::size_t k = static_cast<std::size_t>(c + i) % targets.size();
                auto r = request(g->port, "GET", targets[k]);
                if (r.status != 200 || r.body != first[k]) {
                    bad.fetch_add(1);
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(bad.load(), 0);
}

TEST_F(api_test, a_slow_database_answers_503_and_the_next_request_is_served) {
    // A second server with a 300 ms statement timeout; the test holds a lock on
    // blocks, so reading it waits until the timeout cancels the query.
    const int port = free_port(g->port + 100);
    test::child_process api({bin("bmm-accountd"), "api", "--config", write_config("slow", port, 300)},
                            st().dir() + "/api/slow.log");
    int status = 0;
    for (int i = 0; i < 250 && status != 200; ++i) {
        status = request(port, "GET", "/api/v1/blocks").status;
        if (status != 200) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ASSERT_EQ(status, 200);
    exec_ok("BEGIN; LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE");
    auto slow = request(port, "GET", "/api/v1/blocks");
    exec_ok("ROLLBACK");
    EXPECT_EQ(slow.status, 503);
    EXPECT_NE(slow.body.find("statement_timeout_ms"), std::string::npos) << slow.body;
    EXPECT_EQ(request(port, "GET", "/api/v1/blocks").status, 200);
    EXPECT_EQ(api.stop(SIGTERM, 10000), 0);
}

// logrotate moves the log file away and sends SIGHUP: the daemon goes on
// serving and writes its next lines to a new file at the old path.
TEST_F(api_test, sighup_reopens_the_log_file_and_does_not_stop_the_daemon) {
    const int port = free_port(g->port + 200);
    const std::string log_file = st().dir() + "/api/rotated.log";
    test::child_process api(
        {bin("bmm-accountd"), "api", "--config", write_config("rotate", port, 5000), "--log-file", log_file},
        st().dir() + "/api/rotate.out");
    int status = 0;
    for (int i = 0; i < 250 && status != 200; ++i) {
        status = request(port, "GET", "/api/v1/pool").status;
        if (status != 200) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    ASSERT_EQ(status, 200);
    std::filesystem::rename(log_file, log_file + ".1");
    api.signal(SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(api.running());
    EXPECT_EQ(request(port, "GET", "/api/v1/pool").status, 200);
    EXPECT_EQ(api.stop(SIGTERM, 10000), 0);
    const std::string before = test::read_text(log_file + ".1");
    const std::string after = test::read_text(log_file);
    EXPECT_NE(before.find("api: serving http://"), std::string::npos) << before;
    EXPECT_EQ(before.find("api: stopped"), std::string::npos) << before;
    EXPECT_NE(after.find("api: stopped"), std::string::npos) << after;
    EXPECT_EQ(test::read_text(st().dir() + "/api/rotate.out").find("api: serving"), std::string::npos);
}

// The value of the sample `series` on a Prometheus page; 0 when it is not there.
double sample_of(const std::string& page, const std::string& series) {
    const std::string at = "\n" + series + " ";
    const auto i = page.find(at);
    return i == std::string::npos ? 0 : std::stod(page.substr(i + at.size(), page.find('\n', i + 1) - i - at.size()));
}

bool has_series(const std::string& page, const std::string& series) {
    return page.find("\n" + series + " ") != std::string::npos;
}

TEST_F(api_test, metrics_report_blocks_epochs_redis_and_the_requests_by_route) {
    auto m = request(g->port, "GET", "/metrics");
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(m.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    // Every line is a comment or "series value".
    std::size_t lines = 0;
    for (std::size_t at = 0; at < m.body.size(); at = m.body.find('\n', at) + 1) {
        const std::string line = m.body.substr(at, m.body.find('\n', at) - at);
        ++lines;
        const bool ours = line.rfind("bmm_accountd_", 0) == 0 || line.rfind("process_", 0) == 0;
        EXPECT_TRUE(line.rfind("# HELP bmm_accountd_", 0) == 0 || line.rfind("# TYPE bmm_accountd_", 0) == 0 ||
                    line.rfind("# HELP process_", 0) == 0 || line.rfind("# TYPE process_", 0) == 0 ||
                    (ours && line.find(' ') != std::string::npos))
            << line;
    }
    EXPECT_GT(lines, 20u);
    // The data of fill_database (see pool_stats_match_the_data).
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_blocks{state=\"immature\"}"), 1);
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_blocks{state=\"mature\"}"), 1);
    EXPECT_TRUE(has_series(m.body, "bmm_accountd_blocks{state=\"orphaned\"}"));
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_blocks{state=\"orphaned\"}"), 0);
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_epoch_last_closed"), 2);
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_postgres_up"), 1);
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_redis_up"), 1);
    EXPECT_TRUE(has_series(m.body, "bmm_accountd_ingest_pending_entries{stream=\"api-test\",group=\"accountd\"}"))
        << m.body;
    // The alert rules' gauges (deploy/monitoring/): the audit's count is
    // ledger_audit()'s, the open payout batches are the table's.
    EXPECT_EQ(sample_of(m.body, "bmm_accountd_audit_problems"),
              std::stod(scalar("SELECT count(*) FROM ledger_audit()")))
        << m.body;
    EXPECT_GT(sample_of(m.body, "bmm_accountd_audit_last_run_timestamp_seconds"), 1.7e9);
    EXPECT_NE(m.body.find("# TYPE bmm_accountd_payout_batches_open gauge"), std::string::npos);
    for (const std::string st : {"planned", "approved", "broadcast", "exported"}) {
        const std::string n =
            scalar("SELECT count(*) FROM payout_batches WHERE currency = 'LTC' AND state = '" + st + "'");
        EXPECT_EQ(sample_of(m.body, "bmm_accountd_payout_batches_open{currency=\"LTC\",state=\"" + st + "\"}"),
                  std::stod(n))
            << st;
    }
    // process_*: the daemon's own descriptors and memory.
    EXPECT_GT(sample_of(m.body, "process_open_fds"), 3);
    EXPECT_GT(sample_of(m.body, "process_max_fds"), sample_of(m.body, "process_open_fds"));
    EXPECT_GT(sample_of(m.body, "process_resident_memory_bytes"), 1e6);
    EXPECT_TRUE(has_series(m.body, "process_cpu_seconds_total"));
    EXPECT_TRUE(has_series(m.body, "process_start_time_seconds"));
    // `bmm-accountd api` runs no ingest and no ledger: their counters are left out.
    EXPECT_EQ(m.body.find("bmm_accountd_ingest_rounds_total"), std::string::npos);
    EXPECT_EQ(m.body.find("bmm_accountd_epoch_closes_total"), std::string::npos);

    // Requests by route and status: one more of each is seen.
    const std::string pool = "bmm_accountd_api_requests_total{route=\"/api/v1/pool\",code=\"200\"}";
    const std::string workers =
        "bmm_accountd_api_requests_total{route=\"/api/v1/accounts/{name}/workers\",code=\"404\"}";
    const std::string unknown = "bmm_accountd_api_requests_total{route=\"\",code=\"404\"}";
    const std::string wrong = "bmm_accountd_api_requests_total{route=\"/api/v1/pool\",code=\"405\"}";
    EXPECT_EQ(request(g->port, "GET", "/api/v1/pool").status, 200);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/accounts/nobody/workers").status, 404);
    EXPECT_EQ(request(g->port, "GET", "/api/v1/nothing").status, 404);
    EXPECT_EQ(request(g->port, "DELETE", "/api/v1/pool").status, 405);
    auto m2 = request(g->port, "GET", "/metrics");
    ASSERT_EQ(m2.status, 200);
    EXPECT_EQ(sample_of(m2.body, pool), sample_of(m.body, pool) + 1);
    EXPECT_EQ(sample_of(m2.body, workers), sample_of(m.body, workers) + 1);
    EXPECT_EQ(sample_of(m2.body, unknown), sample_of(m.body, unknown) + 1);
    EXPECT_EQ(sample_of(m2.body, wrong), sample_of(m.body, wrong) + 1);
    EXPECT_GE(sample_of(m2.body, "bmm_accountd_api_requests_total{route=\"/metrics\",code=\"200\"}"), 1);
    EXPECT_EQ(error_of("/metrics?x=1", 400), "unknown parameter \"x\"; /metrics takes none");
}

TEST(api_config, the_api_section) {
    const std::string base = "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n";
    auto none = parse_accountd_config(base, "a.toml");
    ASSERT_TRUE(none.ok()) << none.error_message();
    EXPECT_FALSE(none->api.present);  // `run` serves no API without the section
    EXPECT_EQ(none->api.host, "127.0.0.1");
    EXPECT_EQ(none->api.max_connections_per_address, 32);
    auto some = parse_accountd_config(
        base + "[api]\nport = 9000\nthreads = 3\ncors = true\nmax_connections_per_address = 5\n", "a.toml");
    ASSERT_TRUE(some.ok()) << some.error_message();
    EXPECT_TRUE(some->api.present && some->api.enabled && some->api.cors);
    EXPECT_EQ(some->api.port, 9000);
    EXPECT_EQ(some->api.threads, 3);
    EXPECT_EQ(some->api.max_connections_per_address, 5);
    EXPECT_FALSE(parse_accountd_config(base + "[api]\nmax_connections_per_address = 0\n", "a.toml").ok());
    auto bad = parse_accountd_config(base + "[api]\nport = 70000\n", "a.toml");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error_message().find("port"), std::string::npos) << bad.error_message();
    auto unknown = parse_accountd_config(base + "[api]\nlisten = \"x\"\n", "a.toml");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error_message().find("listen"), std::string::npos) << unknown.error_message();
    auto empty_host = parse_accountd_config(base + "[api]\nhost = \"\"\n", "a.toml");
    ASSERT_FALSE(empty_host.ok());
}

TEST_F(api_test, run_serves_the_api_next_to_the_ingest) {
    const int port = free_port(g->port + 1);
    const std::string cfg = write_config("run", port);
    test::child_process run({bin("bmm-accountd"), "run", "--config", cfg}, st().dir() + "/api/run.log");
    int status = 0;
    for (int i = 0; i < 500 && status != 200; ++i) {  // up to 10 s
        status = request(port, "GET", "/api/v1/accounts/alice").status;
        if (status != 200) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    EXPECT_EQ(status, 200) << test::read_text(st().dir() + "/api/run.log");

    // /metrics of `run` has the ingest's counters: one unreadable record
    // appended to the stream is one round and one record in ingest_errors.
    const auto page = [&] { return request(port, "GET", "/metrics").body; };
    const std::string first = page();
    EXPECT_TRUE(has_series(first, "bmm_accountd_ingest_rounds_total")) << first;
    EXPECT_TRUE(has_series(first, "bmm_accountd_epoch_closes_total")) << first;
    EXPECT_TRUE(has_series(first, "bmm_accountd_epoch_close_last_seconds")) << first;
    {
        redisContext* c = bmm::test::stack_redis();
        ASSERT_TRUE(c && !c->err);
        auto* r = static_cast<redisReply*>(redisCommand(c, "XADD api-test * v not-a-record"));
        ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING);
        freeReplyObject(r);
        redisFree(c);
    }
    // The counters never run ahead of the page's snapshot; XACK follows the
    // commit, so the pending count may lag a moment behind.
    const std::string pending = "bmm_accountd_ingest_pending_entries{stream=\"api-test\",group=\"accountd\"}";
    std::string after;
    for (int i = 0; i < 1500; ++i) {  // up to 30 s (the ingest connects and makes partitions first)
        after = page();
        if (sample_of(after, "bmm_accountd_ingest_bad_records_total") >= 1 && has_series(after, pending) &&
            sample_of(after, pending) == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(sample_of(after, "bmm_accountd_ingest_bad_records_total"),
              sample_of(first, "bmm_accountd_ingest_bad_records_total") + 1)
        << after << test::read_text(st().dir() + "/api/run.log");
    EXPECT_GE(sample_of(after, "bmm_accountd_ingest_rounds_total"),
              sample_of(first, "bmm_accountd_ingest_rounds_total") + 1);
    EXPECT_TRUE(has_series(after, "bmm_accountd_ingest_last_entry_age_seconds{stream=\"api-test\",consumer=\"run\"}"))
        << after;
    EXPECT_EQ(sample_of(after, pending), 0);
    EXPECT_EQ(run.stop(SIGTERM, 15000), 0) << test::read_text(st().dir() + "/api/run.log");
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
