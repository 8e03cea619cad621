// Voting power (issue 15, docs/accounting.md "Voting power") against the real
// stack: a migrated database with the genesis premine and three epochs closed
// by the rules library and booked by epoch_store::book_epoch_close (what the
// ledger thread runs), a fourth epoch left open. Checked:
//  - each close's snapshot is the holders' available BMM before its emission,
//    with ledger_seq, and audit_voting_power() recomputes it from the ledger;
//  - the snapshot refuses UPDATE, DELETE and TRUNCATE;
//  - faults planted in a snapshot (with the triggers off) are named by the
//    audit and make `bmm-accountd audit` exit 1;
//  - a close whose holdings no longer match the ledger books nothing;
//  - GET /api/v1/voting-power (default, ?epoch, pages, 400/404), the account
//    view's voting_power, /api/v1/pool's coins with algorithm and weight;
//  - `bmm-accountd voting-power --format csv` prints the snapshot exactly.

#include "../support/accountd.hpp"
#include "../support/process.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/pg/connection.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <thread>

namespace bmm::accounting {
namespace {

using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

using test::bin;
using test::free_port;

std::string write_config(int api_port) {
    return test::write_stack_file("vote", "accountd.toml",
                                  test::postgres_toml() + test::redis_toml("vote-test", "vote") +
                                      "[coins.LTC]\nresource_weight_ppm = 65536000000\n" +
                                      "[coins.BTC]\nresource_weight_ppm = 1000000\n" +
                                      "[api]\nhost = \"127.0.0.1\"\nport = " + std::to_string(api_port) +
                                      "\nthreads = 2\nconnection_timeout_s = 3\n" + "[log]\nlevel = \"info\"\n");
}

// One GET over a fresh connection (5 s per read or write): status and body.
std::pair<int, std::string> get(int port, const std::string& target) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return {0, ""};
    }
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string in;
    char buf[16384];
    while (in.size() < (8U << 20U)) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto end = in.find("\r\n\r\n");
    if (in.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) {
        return {0, ""};
    }
    return {std::atoi(in.c_str() + 9), in.substr(end + 4)};
}

std::string day(std::uint64_t k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-02-%02u 00:00:00+00", static_cast<unsigned>(k + 1));
    return buf;
}

// base units -> "<int>.<18 digits>", computed here on its own.
std::string with_decimals(const amount& v) {
    const amount unit("1000000000000000000");
    std::string frac = to_decimal(v % unit);
    frac.insert(0, 18 - frac.size(), '0');
    return to_decimal(v / unit) + "." + frac;
}

// The holder name of a ledger holder account, as the docs define it.
std::string name_of(const std::string& holder) {
    return holder.rfind("user:", 0) == 0 ? holder.substr(5, holder.size() - 15) : holder;
}

struct world {
    pg::connection db;
    ledger model;
    std::vector<std::map<std::string, amount>> snapshots;  // per closed epoch: the holdings before its close
    std::string config;
    int port = 0;
    std::unique_ptr<test::child_process> api;
};
world* g = nullptr;

void must(const result<bool>& r, const std::string& what) {
    if (!r) {
        throw std::runtime_error(what + ": " + r.error_message());
    }
}

std::string scalar(const std::string& sql) {
    auto r = g->db.exec(sql);
    if (!r) {
        throw std::runtime_error(r.error_message() + " in " + sql);
    }
    return r->rows() == 1 ? r->text(0, 0) : "<" + std::to_string(r->rows()) + " rows>";
}

std::vector<std::string> audit_lines() {
    auto r = g->db.exec("SELECT * FROM audit_voting_power() ORDER BY 1");
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    std::vector<std::string> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(r->text(i, 0));
    }
    return out;
}

accounting_config rules() {
    accounting_config cfg;
    cfg.coins["LTC"] = coin_rules{10000, 200000, payout_scheme::pp, 1000000, 2000000};
    cfg.halving_period = 3;
    return cfg;
}

void fill() {
    auto b = ledger_store::book_transfers(g->db, genesis_transfers());
    if (!b) {
        throw std::runtime_error(b.error_message());
    }
    if (!g->model.apply_all(genesis_transfers())) {
        throw std::runtime_error("model refused the premine");
    }
    // Epoch 0: alice, a-b and zed mine (the first close: only the premine is held);
    // 1: alice alone; 2: nobody (the emission is carried). Epoch 3 stays open.
    const std::vector<std::map<std::string, std::map<std::string, amount>>> work = {
        {{"alice", {{"LTC", amount(3) << 100}}},
         {"a-b", {{"LTC", amount(1) << 100}}},
         {"zed", {{"LTC", amount(1) << 98}}}},
        {{"alice", {{"LTC", amount(5)}}}},
        {},
    };
    std::map<std::string, std::uint32_t> streaks;
    amount carried = 0;
    for (std::uint64_t k = 0; k < work.size(); ++k) {
        must(epoch_store::ensure_epoch(g->db, k, day(k), day(k + 1)), "epoch");
        epoch_close_input in;
        in.k = k;
        in.config = rules();
        in.work = work[k];
        in.previous_streaks = streaks;
        auto held = ledger_store::load_bmm_holdings(g->db);
        if (!held) {
            throw std::runtime_error(held.error_message());
        }
        if (*held != g->model.bmm_holdings()) {
            throw std::runtime_error("the database's holdings differ from the model's");
        }
        in.bmm_holdings = *held;
        in.carried_emission = carried;
        auto out = close_epoch(in);
        if (!out) {
            throw std::runtime_error(out.error_message());
        }
        auto booked = epoch_store::book_epoch_close(g->db, *out);
        if (!booked) {
            throw std::runtime_error(booked.error_message());
        }
        if (!g->model.apply_all(out->transfers)) {
            throw std::runtime_error("model refused the close");
        }
        g->snapshots.push_back(*held);
        for (const auto& [u, a] : out->accounts) {
            streaks[u] = a.streak;
        }
        carried = out->carried_emission;
    }
    must(epoch_store::ensure_epoch(g->db, 3, day(3), day(4)), "open epoch");
}

class voting_power_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g = new world;
        g->db = test::db();
        g->port = free_port(33500);
        g->config = write_config(g->port);
        test::migrate_accountd(g->config, st().dir() + "/vote/migrate.log");
        fill();
        g->api = std::make_unique<test::child_process>(
            std::vector<std::string>{bin("bmm-accountd"), "api", "--config", g->config}, st().dir() + "/vote/api.log");
        for (int i = 0; i < 250; ++i) {  // up to 5 s
            if (get(g->port, "/api/v1/pool").first == 200) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("bmm-accountd api did not answer: " + test::read_text(st().dir() + "/vote/api.log"));
    }
    static void TearDownTestSuite() {
        if (g && g->api) {
            EXPECT_EQ(g->api->stop(SIGTERM, 10000), 0);
        }
        delete g;
        g = nullptr;
    }

    simdjson::dom::element json(const std::string& target, int status = 200) {
        auto [code, body] = get(g->port, target);
        EXPECT_EQ(code, status) << target << " -> " << body;
        bodies_.push_back(std::make_unique<std::string>(body));
        auto doc = parsers_.emplace_back(std::make_unique<simdjson::dom::parser>())->parse(*bodies_.back());
        if (doc.error()) {
            throw std::runtime_error(target + ": not JSON: " + body);
        }
        return doc.value();
    }
    std::string error_of(const std::string& target, int status) {
        std::string_view m;
        if (json(target, status)["error"].get(m)) {
            return "<no error>";
        }
        return std::string(m);
    }

    std::vector<std::unique_ptr<std::string>> bodies_;
    std::vector<std::unique_ptr<simdjson::dom::parser>> parsers_;
};

std::string s(simdjson::dom::element e) { return std::string(std::string_view(e)); }

// The snapshot of epoch k as (name, ledger account, bmm), in bytewise name order.
std::vector<std::tuple<std::string, std::string, amount>> expected_rows(std::size_t k) {
    std::vector<std::tuple<std::string, std::string, amount>> out;
    for (const auto& [holder, v] : g->snapshots[k]) {
        out.emplace_back(name_of(holder), holder, v);
    }
    std::sort(out.begin(), out.end());
    return out;
}

amount expected_total(std::size_t k) {
    amount t = 0;
    for (const auto& [h, v] : g->snapshots[k]) {
        t += v;
    }
    return t;
}

TEST_F(voting_power_test, each_close_records_the_holdings_before_its_emission_with_its_ledger_position) {
    ASSERT_EQ(g->snapshots.size(), 3U);
    EXPECT_EQ(g->snapshots[0].size(), 3U) << "epoch 0: only the three foundation allocations hold BMM";
    EXPECT_TRUE(g->snapshots[1].contains("user:alice:available")) << "epoch 0's emission is held at epoch 1";
    EXPECT_TRUE(g->snapshots[1].contains("user:a-b:available"));
    for (std::size_t k = 0; k < 3; ++k) {
        SCOPED_TRACE(k);
        const std::string ks = std::to_string(k);
        for (const auto& [holder, v] : g->snapshots[k]) {
            EXPECT_EQ(scalar("SELECT bmm::text FROM epoch_bmm_holdings WHERE epoch = " + ks + " AND account = '" +
                             holder + "'"),
                      to_decimal(v));
        }
        EXPECT_EQ(scalar("SELECT holders || ' ' || total FROM epoch_bmm_totals WHERE epoch = " + ks),
                  std::to_string(g->snapshots[k].size()) + " " + to_decimal(expected_total(k)));
        // The snapshot covers exactly the transfers booked before the close.
        EXPECT_EQ(scalar("SELECT count(*) FROM ledger_transfers WHERE seq <= (SELECT ledger_seq FROM "
                         "epoch_bmm_totals WHERE epoch = " +
                         ks + ") AND reference = 'epoch:" + ks + "'"),
                  "0");
    }
    // The total is all BMM issued before the close, as every BMM issued is held by a holder here.
    amount premine = 0;
    for (const auto& t : genesis_transfers()) {
        premine += t.value;
    }
    EXPECT_EQ(expected_total(0), premine);
    EXPECT_TRUE(audit_lines().empty());
}

TEST_F(voting_power_test, snapshots_refuse_update_delete_and_truncate) {
    for (const std::string sql :
         {"UPDATE epoch_bmm_holdings SET bmm = bmm + 1 WHERE epoch = 1",
          "DELETE FROM epoch_bmm_holdings WHERE epoch = 1", "TRUNCATE epoch_bmm_holdings",
          "UPDATE epoch_bmm_totals SET total = total + 1 WHERE epoch = 1",
          "DELETE FROM epoch_bmm_totals WHERE epoch = 2", "TRUNCATE epoch_bmm_totals CASCADE"}) {
        auto r = g->db.exec(sql);
        ASSERT_FALSE(r.ok()) << sql;
        EXPECT_NE(r.error_message().find("voting-power snapshot and never changes"), std::string::npos)
            << r.error_message();
    }
    EXPECT_EQ(scalar("SELECT total::text FROM epoch_bmm_totals WHERE epoch = 1"), to_decimal(expected_total(1)));
    EXPECT_TRUE(audit_lines().empty());
}

TEST_F(voting_power_test, a_close_whose_holdings_changed_meanwhile_books_nothing) {
    // Epoch 3's close computed with holdings that are not the ledger's (a BMM
    // transfer booked between reading and booking): refused, nothing recorded.
    epoch_close_input in;
    in.k = 3;
    in.config = rules();
    in.bmm_holdings = g->model.bmm_holdings();
    in.bmm_holdings["user:alice:available"] += 1;
    in.carried_emission = amount(scalar("SELECT emission_carried::text FROM epochs WHERE k = 2"));
    auto out = close_epoch(in);
    ASSERT_TRUE(out.ok()) << out.error_message();
    auto r = epoch_store::book_epoch_close(g->db, *out);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error_message().find("BMM holdings changed"), std::string::npos) << r.error_message();
    EXPECT_EQ(scalar("SELECT closed_at IS NULL FROM epochs WHERE k = 3"), "t");
    EXPECT_EQ(scalar("SELECT count(*) FROM epoch_bmm_totals WHERE epoch = 3"), "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger_transfers WHERE reference = 'epoch:3'"), "0");
}

TEST_F(voting_power_test, api_serves_the_snapshot_per_account_with_totals_and_pages) {
    // Default: the latest closed epoch (2; 3 is open).
    for (const std::string target : {"/api/v1/voting-power", "/api/v1/voting-power?epoch=2"}) {
        auto v = json(target);
        EXPECT_EQ(std::int64_t(v["epoch"]), 2) << target;
        EXPECT_EQ(s(v["total"]), to_decimal(expected_total(2)));
        EXPECT_EQ(std::int64_t(v["holders"]), static_cast<std::int64_t>(g->snapshots[2].size()));
        EXPECT_EQ(std::int64_t(v["decimals"]), 18);
        std::vector<std::tuple<std::string, std::string, amount>> got;
        for (auto a : v["accounts"].get_array()) {
            got.emplace_back(s(a["account"]), s(a["ledger_account"]), amount(s(a["bmm"])));
        }
        EXPECT_EQ(got, expected_rows(2));
        EXPECT_TRUE(v["next_after"].is_null());
    }
    // Pages of 2 over epoch 1, in name order, add up to the whole.
    std::vector<std::tuple<std::string, std::string, amount>> paged;
    std::string after;
    for (int page = 0; page < 10; ++page) {
        auto v = json("/api/v1/voting-power?epoch=1&limit=2" + (after.empty() ? "" : "&after=" + after));
        for (auto a : v["accounts"].get_array()) {
            paged.emplace_back(s(a["account"]), s(a["ledger_account"]), amount(s(a["bmm"])));
        }
        if (v["next_after"].is_null()) {
            break;
        }
        after = s(v["next_after"]);
    }
    EXPECT_EQ(paged, expected_rows(1));
    ASSERT_GE(paged.size(), 5U);
    EXPECT_EQ(std::get<0>(paged[0]), "a-b") << "bytewise: a-b < alice < foundation:* < zed";
    EXPECT_EQ(std::get<0>(paged.back()), "zed");

    EXPECT_NE(error_of("/api/v1/voting-power?epoch=abc", 400).find("parameter \"epoch\" must be an integer"),
              std::string::npos);
    EXPECT_NE(error_of("/api/v1/voting-power?epoch=-1", 400).find("epoch"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/voting-power?limit=0", 400).find("limit"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/voting-power?account=x", 400).find("unknown parameter"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/voting-power?epoch=99", 404).find("no epoch 99"), std::string::npos);
    EXPECT_NE(error_of("/api/v1/voting-power?epoch=3", 404).find("epoch 3 is still open"), std::string::npos);
}

TEST_F(voting_power_test, the_account_view_shows_the_latest_voting_power) {
    ASSERT_TRUE(g->db
                    .exec("INSERT INTO accounts (name, kind) VALUES ('alice', 'user'), ('nobody', 'user') "
                          "ON CONFLICT DO NOTHING")
                    .ok());
    for (const std::string name : {"alice", "foundation:ecosystem", "nobody"}) {
        auto v = json("/api/v1/accounts/" + name)["voting_power"];
        EXPECT_EQ(std::int64_t(v["epoch"]), 2) << name;
        const std::string holder = name.rfind("foundation:", 0) == 0 ? name : "user:" + name + ":available";
        auto it = g->snapshots[2].find(holder);
        EXPECT_EQ(s(v["bmm"]), it == g->snapshots[2].end() ? "0" : to_decimal(it->second)) << name;
        EXPECT_EQ(s(v["total"]), to_decimal(expected_total(2)));
    }
    // /api/v1/pool: each configured coin's algorithm and resource weight.
    auto coins = json("/api/v1/pool")["coins"];
    std::vector<std::string> seen;
    for (auto c : coins.get_array()) {
        seen.push_back(s(c["coin"]) + " " + s(c["algorithm"]) + " " +
                       std::to_string(std::uint64_t(c["resource_weight_ppm"])));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"BTC sha256d 1000000", "LTC scrypt 65536000000"}));
}

// `bmm-accountd voting-power`: stdout and exit code.
std::pair<int, std::string> cli(const std::string& args) {
    const std::string out = st().dir() + "/vote/cli.out", err = st().dir() + "/vote/cli.err";
    const std::string cmd =
        bin("bmm-accountd") + " voting-power --config " + g->config + " " + args + " >" + out + " 2>" + err;
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, test::read_text(out) + test::read_text(err)};
}

TEST_F(voting_power_test, cli_prints_the_snapshot_as_csv_with_exact_decimals) {
    for (std::size_t k : {1U, 2U}) {
        std::string want = "epoch,account,bmm,bmm_base_units\n";
        for (const auto& [name, holder, v] : expected_rows(k)) {
            want += std::to_string(k) + "," + name + "," + with_decimals(v) + "," + to_decimal(v) + "\n";
        }
        auto [rc, text] = cli((k == 2 ? std::string() : "--epoch " + std::to_string(k)) + " --format csv");
        EXPECT_EQ(rc, 0) << text;
        EXPECT_EQ(text.substr(0, want.size()), want);
        EXPECT_NE(text.find("epoch " + std::to_string(k) + ": " + std::to_string(g->snapshots[k].size()) +
                            " holders, " + with_decimals(expected_total(k)) + " BMM in total"),
                  std::string::npos)
            << text;
    }
    EXPECT_EQ(with_decimals(amount("27800000000000000000000000")), "27800000.000000000000000000");
    auto [rc_open, open] = cli("--epoch 3 --format csv");
    EXPECT_EQ(rc_open, 1);
    EXPECT_NE(open.find("epoch 3 is still open"), std::string::npos) << open;
    auto [rc_none, none] = cli("--epoch 99");
    EXPECT_EQ(rc_none, 1);
    EXPECT_NE(none.find("no epoch 99"), std::string::npos) << none;
    auto [rc_fmt, fmt] = cli("--format xml");
    EXPECT_NE(rc_fmt, 0) << fmt;
}

// Last (the ZZ): it plants faults in the snapshot, then puts it back.
TEST_F(voting_power_test, zz_audit_names_a_planted_fault_and_bmm_accountd_audit_fails) {
    auto triggers = [](bool on) {
        for (const char* t : {"epoch_bmm_holdings", "epoch_bmm_totals"}) {
            ASSERT_TRUE(
                g->db.exec(std::string("ALTER TABLE ") + t + (on ? " ENABLE" : " DISABLE") + " TRIGGER USER").ok());
        }
    };
    auto run_audit = [] {
        const std::string log = st().dir() + "/vote/audit.log";
        std::filesystem::remove(log);
        test::child_process a({bin("bmm-accountd"), "audit", "--config", g->config}, log);
        const int rc = a.wait(60000);
        return std::make_pair(rc, test::read_text(log));
    };
    {
        auto [rc, text] = run_audit();
        EXPECT_EQ(rc, 0) << text;
    }
    const amount alice = g->snapshots[2].at("user:alice:available");
    triggers(false);
    // 1. One holder's voting power raised by one base unit, and the total with it (so that
    //    the dividend-weight check, which only adds rows up, sees nothing).
    ASSERT_TRUE(g->db
                    .exec("UPDATE epoch_bmm_holdings SET bmm = bmm + 1 WHERE epoch = 2 AND account = "
                          "'user:alice:available'; UPDATE epoch_bmm_totals SET total = total + 1 WHERE epoch = 2")
                    .ok());
    triggers(true);
    auto lines = audit_lines();
    ASSERT_EQ(lines.size(), 2U) << (lines.empty() ? "" : lines[0]);
    EXPECT_EQ(lines[0], "epoch 2 voting power of user:alice:available: the snapshot records " + to_decimal(alice + 1) +
                            " BMM base units, but the ledger up to transfer " +
                            scalar("SELECT ledger_seq FROM epoch_bmm_totals WHERE epoch = 2") + " gives " +
                            to_decimal(alice));
    EXPECT_NE(lines[1].find("epoch 2 voting power total: the snapshot records " + to_decimal(expected_total(2) + 1) +
                            " BMM base units, but users and the foundation held " + to_decimal(expected_total(2))),
              std::string::npos)
        << lines[1];
    {
        auto [rc, text] = run_audit();
        EXPECT_EQ(rc, 1) << text;
        EXPECT_NE(text.find("epoch 2 voting power of user:alice:available"), std::string::npos) << text;
    }
    // 2. A holder left out of epoch 1's snapshot, its total lowered to match.
    triggers(false);
    ASSERT_TRUE(g->db
                    .exec("UPDATE epoch_bmm_holdings SET bmm = bmm - 1 WHERE epoch = 2 AND account = "
                          "'user:alice:available'; UPDATE epoch_bmm_totals SET total = total - 1 WHERE epoch = 2")
                    .ok());
    const amount zed = g->snapshots[1].at("user:zed:available");
    ASSERT_TRUE(g->db
                    .exec("DELETE FROM epoch_bmm_holdings WHERE epoch = 1 AND account = 'user:zed:available'; "
                          "UPDATE epoch_bmm_totals SET holders = holders - 1, total = total - " +
                          to_decimal(zed) + " WHERE epoch = 1")
                    .ok());
    triggers(true);
    lines = audit_lines();
    ASSERT_EQ(lines.size(), 2U);
    EXPECT_NE(lines[0].find("epoch 1 voting power of user:zed:available: the snapshot records 0 BMM base units, "
                            "but the ledger up to transfer"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find(" gives " + to_decimal(zed)), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("epoch 1 voting power total"), std::string::npos) << lines[1];
    // Back as it was: the audit is clean again.
    triggers(false);
    ASSERT_TRUE(g->db
                    .exec("INSERT INTO epoch_bmm_holdings (epoch, account, bmm) VALUES (1, 'user:zed:available', " +
                          to_decimal(zed) + "); UPDATE epoch_bmm_totals SET holders = holders + 1, total = total + " +
                          to_decimal(zed) + " WHERE epoch = 1")
                    .ok());
    triggers(true);
    EXPECT_TRUE(audit_lines().empty());
    auto [rc, text] = run_audit();
    EXPECT_EQ(rc, 0) << text;
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
