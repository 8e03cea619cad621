// The web page (accounting/web/) in headless Chromium, driven over WebDriver
// (Debian's chromium and chromium-driver), against the real stack: a scrypt
// bmm-stratum on litecoind, `bmm-accountd run` with its API, and miners
// mining through it (alice with two workers, bob, carol), then a real BMM
// payout (plan, approve, export, settle) so that a payment has a txid.
// Each view (pool, miner, holder, blocks, payments) must show the figures the
// API answers (read here over HTTP and formatted here on their own), its
// charts must have data points, hash navigation must work, a new miner must
// change the pool's figures without a reload, and the browser's console must
// stay free of errors. A screenshot of each view is kept in
// <build>/test-artifacts/web_test/.

#include "../support/accountd.hpp"
#include "../support/browser.hpp"
#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace bmm::accounting {
namespace {

using test::scalar;
using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

constexpr std::int64_t k_epoch_seconds = 4;
const std::string k_bmm_wallet = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const std::string k_settle_txid = "0x" + std::string(60, 'a') + "beef";

std::string artifacts_dir() {
    const char* d = std::getenv("BMM_BIN_DIR");
    return std::string(d && *d ? d : "build/bin") + "/../test-artifacts/web_test";
}

// Base units as the page shows them: "1,234.5" (trailing zeros cut), written
// here independently of the page's script.
std::string shown(std::string base_units, int decimals) {
    const bool neg = !base_units.empty() && base_units[0] == '-';
    if (neg) {
        base_units.erase(0, 1);
    }
    while (base_units.size() < static_cast<std::size_t>(decimals) + 1) {
        base_units.insert(0, "0");
    }
    const std::size_t n = base_units.size() - static_cast<std::size_t>(decimals);
    std::string out = neg ? "-" : "";
    for (std::size_t i = 0; i < n; ++i) {
        if (i > 0 && (n - i) % 3 == 0) {
            out += ',';
        }
        out += base_units[i];
    }
    std::string frac = base_units.substr(n);
    while (!frac.empty() && frac.back() == '0') {
        frac.pop_back();
    }
    return frac.empty() ? out : out + "." + frac;
}

struct world {
    int api_port = 0;
    std::string cfg, acc_log;
    test::pool_process pool;
    std::unique_ptr<test::child_process> accountd;
};
world* g = nullptr;

std::string write_config(int api_port, int stratum_port, std::int64_t genesis) {
    return test::write_stack_file(
        "web", "accountd.toml",
        test::postgres_toml() + test::redis_toml("bmm:test:web") + test::node_toml() + test::ingest_toml() +
            test::epochs_toml(k_epoch_seconds, genesis) +
            "[coins.LTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\n" +
            "[api]\nhost = \"127.0.0.1\"\nport = " + std::to_string(api_port) + "\nthreads = 2\n" +
            "[web]\npayout_schedule = \"every hour, from the threshold up\"\noffline_after_minutes = 10\n" +
            "[web.stratum.LTC]\nalgorithm = \"scrypt\"\nurls = [\"stratum+tcp://127.0.0.1:" +
            std::to_string(stratum_port) + "\"]\n" + "[log]\nlevel = \"info\"\n");
}

int run(const std::vector<std::string>& args, const std::string& log) {
    test::child_process p(args, log);
    return p.wait(60000);
}

// An API answer, parsed (the parser is kept with the document).
struct api_doc {
    std::unique_ptr<simdjson::dom::parser> parser = std::make_unique<simdjson::dom::parser>();
    simdjson::dom::element root;
    std::string text;
    simdjson::dom::element operator[](const char* k) const {
        simdjson::dom::element e;
        if (root[k].get(e)) {
            throw std::runtime_error(std::string("no \"") + k + "\" in " + text.substr(0, 500));
        }
        return e;
    }
};
api_doc api(const std::string& path) {
    const auto r = test::http_call(g->api_port, "GET", path, "", 10);
    if (r.status != 200) {
        throw std::runtime_error(path + " answered " + std::to_string(r.status) + ": " + r.body);
    }
    api_doc d;
    d.text = r.body;
    if (d.parser->parse(d.text).get(d.root)) {
        throw std::runtime_error(path + ": not JSON: " + r.body.substr(0, 200));
    }
    return d;
}
std::string str(simdjson::dom::element e) {
    if (e.is_string()) {
        return std::string(std::string_view(e));
    }
    return simdjson::minify(e);
}

class web_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g = new world;
        g->api_port = test::free_port_near(32000 + 2200);
        const int stratum_port = test::free_port_near(28000 + 1100);
        const std::int64_t genesis = test::unix_seconds() + 2;
        g->cfg = write_config(g->api_port, stratum_port, genesis);
        const std::string dir = st().dir() + "/web";
        ASSERT_EQ(run({test::bin("bmm-accountd"), "migrate", "--config", g->cfg}, dir + "/migrate.log"), 0)
            << test::read_text(dir + "/migrate.log");
        // alice binds a BMM wallet before she mines: her BMM is paid out below.
        for (const std::vector<std::string>& a : {std::vector<std::string>{"create", "alice"},
                                                  std::vector<std::string>{"bind", "alice", "BMM", k_bmm_wallet}}) {
            std::vector<std::string> args = {test::bin("bmm-accountd"), "account"};
            args.insert(args.end(), a.begin(), a.end());
            args.insert(args.end(), {"--config", g->cfg});
            ASSERT_EQ(run(args, dir + "/account.log"), 0) << test::read_text(dir + "/account.log");
        }
        test::pool_options o;
        o.name = "web-pool";
        o.stream = "bmm:test:web";
        o.instance_id = 3;
        o.ports = {stratum_port};
        ASSERT_NO_THROW(g->pool.start(o));
        g->acc_log = dir + "/accountd-run.log";
        g->accountd = std::make_unique<test::child_process>(
            std::vector<std::string>{test::bin("bmm-accountd"), "run", "--config", g->cfg}, g->acc_log);

        // Three miners, four workers, a few shares each (on regtest nearly every share is a block).
        std::this_thread::sleep_for(std::chrono::seconds(std::max<std::int64_t>(0, genesis - test::unix_seconds())));
        std::vector<std::unique_ptr<test::child_process>> miners;
        std::vector<std::string> logs;
        for (const char* user : {"alice.r1", "alice.r2", "bob.r1", "carol.s1"}) {
            logs.push_back(dir + "/miner-" + user + ".log");
            miners.push_back(std::make_unique<test::child_process>(
                std::vector<std::string>{test::bin("bmm-miner"), "--url",
                                         "stratum+tcp://127.0.0.1:" + std::to_string(stratum_port), "--user", user,
                                         "--algo", "scrypt", "--suggest-difficulty", "0.01", "--shares", "4",
                                         "--seconds", "60", "--quiet"},
                logs.back()));
        }
        for (std::size_t i = 0; i < miners.size(); ++i) {
            ASSERT_EQ(miners[i]->wait(90000), 0) << test::read_text(logs[i]);
        }
        // Every block booked in a closed epoch, and alice paid BMM for her PP.
        ASSERT_TRUE(test::wait_until(
            [] {
                return scalar("SELECT count(*) FROM blocks") != "0" &&
                       scalar(
                           "SELECT count(*) FROM blocks b LEFT JOIN epochs e ON e.k = b.epoch"
                           " WHERE e.closed_at IS NULL") == "0" &&
                       scalar(
                           "SELECT count(*) FROM ledger_transfers WHERE kind = 'emission' AND credit LIKE "
                           "'%alice%'") != "0";
            },
            60))
            << test::read_text(g->acc_log);
        // A real BMM payout to alice's wallet: plan, approve, export, settle.
        const std::string plog = dir + "/payout.log";
        auto payout = [&](std::vector<std::string> a) {
            std::filesystem::remove(plog);
            a.insert(a.begin(), test::bin("bmm-payout"));
            a.insert(a.end(), {"--config", g->cfg});
            const int rc = run(a, plog);
            return std::pair{rc, test::read_text(plog)};
        };
        auto [rc, out] = payout({"plan", "--coin", "BMM"});
        ASSERT_EQ(rc, 0) << out;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(out, m, std::regex("batch (\\d+) planned"))) << out;
        const std::string id = m[1];
        ASSERT_TRUE(std::regex_search(out, m, std::regex("\ndigest ([0-9a-f]{64})\n"))) << out;
        const std::string digest = m[1];
        ASSERT_EQ(payout({"approve", id, "--by", "web_test", "--digest", digest}).first, 0);
        ASSERT_EQ(payout({"export", id, "--format", "csv", "-o", dir + "/bmm.csv"}).first, 0);
        auto settled = payout({"settle", id, "--by", "web_test", "--txid", k_settle_txid});
        ASSERT_EQ(settled.first, 0) << settled.second;
    }
    static void TearDownTestSuite() {
        if (g) {
            if (g->accountd) {
                g->accountd->stop(SIGTERM, 20000);
            }
            if (g->pool.proc) {
                g->pool.proc->stop(SIGTERM, 20000);
            }
            delete g;
            g = nullptr;
        }
    }
};

// The page's console errors so far (SEVERE entries), as text.
std::string console_errors(test::webdriver& b) {
    simdjson::dom::parser p;
    const std::string log = b.console_log();
    simdjson::dom::array entries;
    if (p.parse(log).get_array().get(entries)) {
        return "unreadable console log: " + log;
    }
    std::string errors;
    for (auto e : entries) {
        if (str(e["level"]) == "SEVERE") {
            errors += str(e["message"]) + "\n";
        }
    }
    return errors;
}

// Opens `hash` (navigating by the address's hash, no reload) and waits for the view to load.
void open(test::webdriver& b, const std::string& hash, const std::string& view) {
    b.run("location.hash = " + test::json_text(hash) + "; return true;");
    ASSERT_TRUE(b.wait_until("return document.body.dataset.loaded === " + test::json_text(view) + ";", 30))
        << hash << ": "
        << b.text("return document.body.dataset.loaded + ' ' + document.getElementById('error').textContent;");
}

std::string text_of(test::webdriver& b, const std::string& id) {
    return b.text("return document.getElementById(" + test::json_text(id) + ").textContent;");
}

// The rows of a table body as cell texts joined by '|', one string per row.
std::vector<std::string> rows_of(test::webdriver& b, const std::string& tbody) {
    const std::string json = b.run("return [...document.getElementById(" + test::json_text(tbody) +
                                   ").rows].map(r => [...r.cells].map(c => c.textContent).join('|'));");
    simdjson::dom::parser p;
    std::vector<std::string> out;
    for (auto r : p.parse(json).get_array()) {
        out.emplace_back(std::string_view(r));
    }
    return out;
}

// The points of a chart's datasets: {label: [y, ...]}.
std::map<std::string, std::vector<std::string>> chart_points(test::webdriver& b, const std::string& id) {
    const std::string json =
        b.run("const c = window.bmmCharts[" + test::json_text(id) +
              "]; return c ? c.data.datasets.map(d => [d.label, d.data.map(p => String(p.y))]) : null;");
    simdjson::dom::parser p;
    std::map<std::string, std::vector<std::string>> out;
    simdjson::dom::array sets;
    if (p.parse(json).get_array().get(sets)) {
        return out;
    }
    for (auto s : sets) {
        auto& v = out[str(s.at(0))];
        for (auto y : s.at(1).get_array()) {
            v.emplace_back(std::string_view(y));
        }
    }
    return out;
}

TEST_F(web_test, every_view_shows_the_apis_figures_navigates_updates_live_and_logs_no_errors) {
    if (!test::have_chromedriver()) {
        GTEST_SKIP() << "chromium or chromium-driver is not installed (deploy/install-deps.sh installs them)";
    }
    const std::string shots = artifacts_dir();
    std::filesystem::create_directories(shots);
    test::webdriver b(st().dir() + "/web/browser", test::free_port_near(32000 + 4400));
    const std::string base = "http://127.0.0.1:" + std::to_string(g->api_port) + "/?refresh=2";
    b.go(base);
    ASSERT_TRUE(b.wait_until("return document.body.dataset.loaded === 'pool';", 30))
        << b.text("return document.documentElement.outerHTML.slice(0, 3000);");
    b.run("window.__not_reloaded = 42; return true;");

    // --- Pool view -------------------------------------------------------------
    {
        auto p = api("/api/v1/pool");
        auto f = api("/api/v1/pool/facts");
        EXPECT_EQ(str(p["miners_active"]), "3") << "alice, bob and carol mined in the last 10 minutes";
        EXPECT_EQ(text_of(b, "pool-miners"), "3");
        EXPECT_EQ(text_of(b, "pool-accounts"), str(p["accounts"]));
        EXPECT_NE(text_of(b, "pool-accounts"), "0") << "accounts while miners mine (issue 16)";
        EXPECT_EQ(text_of(b, "pool-workers"), str(p["workers_active"]));
        EXPECT_EQ(str(p["workers_active"]), "4");
        EXPECT_EQ(text_of(b, "pool-shares"), str(p["shares_1h"]["accepted"]));
        EXPECT_EQ(text_of(b, "pool-blocks-states"), str(p["blocks"]["immature"]) + " immature, " +
                                                        str(p["blocks"]["mature"]) + " mature, " +
                                                        str(p["blocks"]["orphaned"]) + " orphaned");
        EXPECT_EQ(text_of(b, "bmm-issued").substr(0, text_of(b, "bmm-issued").find(" BMM")),
                  shown(str(p["bmm"]["issued"]), 18));
        EXPECT_EQ(text_of(b, "bmm-cap"), shown(str(p["bmm"]["supply"]), 18) + " BMM");
        EXPECT_EQ(text_of(b, "bmm-emission"), shown(str(f["epochs"]["current"]["emission"]), 18) + " BMM");
        // The coin's row: network height from the facts; the rules row.
        const auto coins = rows_of(b, "pool-coins");
        ASSERT_EQ(coins.size(), 1u);
        EXPECT_EQ(coins[0].rfind("LTC|scrypt|", 0), 0u) << coins[0];
        simdjson::dom::element ltc = f["coins"].at(0);
        EXPECT_NE(coins[0].find("|" + str(ltc["network_height"]) + "|"), std::string::npos) << coins[0];
        EXPECT_EQ(rows_of(b, "pool-rules"), std::vector<std::string>{"LTC|PP|1 %|20 %|100 blocks|0.01 LTC"});
        EXPECT_NE(text_of(b, "pool-connect")
                      .find("cpuminer -a scrypt -o " + str(ltc["stratum"].at(0)) + " -u YOURNAME.rig1 -p x"),
                  std::string::npos)
            << text_of(b, "pool-connect");
        EXPECT_NE(text_of(b, "pool-schedule").find("every hour, from the threshold up"), std::string::npos);
        // Latest blocks: the API's five newest, with their confirmations left.
        auto blocks = api("/api/v1/blocks?limit=5");
        const auto latest = rows_of(b, "pool-latest-blocks");
        ASSERT_EQ(latest.size(), blocks["blocks"].get_array().size());
        std::size_t i = 0;
        for (auto x : blocks["blocks"].get_array()) {
            EXPECT_NE(latest[i].find("|LTC|" + str(x["height"]) + "|" + str(x["finder"]) + "|"), std::string::npos)
                << latest[i];
            EXPECT_EQ(latest[i].substr(latest[i].rfind('|') + 1), str(x["confirmations_left"])) << latest[i];
            ++i;
        }
        // Charts: 144 ten-minute points and 120 six-hour points, the API's; the last
        // ten minutes are the pool's hashrate_10m.
        bool same = false;
        for (int attempt = 0; attempt < 3 && !same; ++attempt) {
            auto h = api("/api/v1/pool/hashrate?window=24h");
            auto p2 = api("/api/v1/pool");
            std::vector<std::string> want;
            for (auto pt : h["coins"].at(0)["points"].get_array()) {
                want.push_back(str(pt.at(1)));
            }
            ASSERT_EQ(want.size(), 144u);
            same = want.back() == str(p2["coins"].at(0)["hashrate_10m"]);
            // The page's chart holds the API's points (refreshed every 2 s).
            if (!test::wait_until([&] { return chart_points(b, "chart-pool-24h")["LTC"] == want; }, 6)) {
                same = false;
            }
        }
        EXPECT_TRUE(same) << "chart-pool-24h differs from /api/v1/pool/hashrate or its last point from hashrate_10m";
        const auto pts = chart_points(b, "chart-pool-24h")["LTC"];
        EXPECT_TRUE(std::any_of(pts.begin(), pts.end(), [](const std::string& y) { return y != "0"; }));
        EXPECT_EQ(chart_points(b, "chart-pool-30d")["LTC"].size(), 120u);
        b.screenshot(shots + "/pool.png");
        EXPECT_EQ(console_errors(b), "");
    }

    // --- Miner view: through the lookup form --------------------------------------
    {
        b.run(
            "document.getElementById('name').value = 'alice';"
            "document.querySelector('#lookup button').click(); return true;");
        ASSERT_TRUE(b.wait_until("return document.body.dataset.loaded === 'account';", 30));
        EXPECT_EQ(b.text("return location.hash;"), "#/accounts/alice");
        auto a = api("/api/v1/accounts/alice");
        auto w = api("/api/v1/accounts/alice/workers");
        auto pay = api("/api/v1/accounts/alice/payments");
        EXPECT_EQ(text_of(b, "acc-name"), "alice (user)");
        EXPECT_EQ(text_of(b, "acc-bmm-held"), shown(str(a["bmm_held"]["amount"]), 18) + " BMM");
        simdjson::dom::element vp;
        if (!a.root["voting_power"].get(vp)) {
            EXPECT_NE(text_of(b, "acc-voting").find(shown(str(vp["bmm"]), 18) + " BMM of "), std::string::npos);
        } else {
            EXPECT_EQ(text_of(b, "acc-voting"), "–");
        }
        const auto workers = rows_of(b, "acc-workers");
        ASSERT_EQ(workers.size(), 2u);
        for (std::size_t i = 0; i < 2; ++i) {
            auto x = w["workers"].at(i);
            EXPECT_EQ(workers[i].rfind(str(x["worker"]) + "|LTC|online|", 0), 0u) << workers[i];
            EXPECT_EQ(str(x["online"]), "true");
            EXPECT_NE(workers[i].find("|" + str(x["accepted_1h"]) + "|" + str(x["rejected_1h"]) + "|"),
                      std::string::npos)
                << workers[i];
        }
        // Balances: immature and available from the account, in payout and paid from its payments.
        std::map<std::string, std::string> want;
        for (auto x : a["balances"].get_array()) {
            const int d = static_cast<int>(std::int64_t(x["decimals"]));
            want[str(x["currency"])] =
                str(x["currency"]) + "|" + shown(str(x["immature"]), d) + "|" + shown(str(x["available"]), d);
        }
        std::map<std::string, std::string> paid;
        for (auto x : pay["totals"].get_array()) {
            const int d = static_cast<int>(std::int64_t(x["decimals"]));
            paid[str(x["currency"])] = "|" + shown(str(x["in_payout"]), d) + "|" + shown(str(x["paid"]), d);
        }
        ASSERT_TRUE(paid.count("BMM")) << pay.text;
        EXPECT_NE(paid["BMM"], "|0|0");
        std::vector<std::string> want_rows;
        for (auto& [cur, r] : want) {
            want_rows.push_back(r + (paid.count(cur) ? paid[cur] : "|0|0"));
        }
        EXPECT_EQ(rows_of(b, "acc-balances"), want_rows);
        // The payment and its txid.
        const auto payments = rows_of(b, "acc-payments");
        ASSERT_EQ(payments.size(), 1u);
        auto line = pay["payments"].at(0);
        EXPECT_NE(payments[0].find("|BMM|" + shown(str(line["amount"]), 18) + "|"), std::string::npos) << payments[0];
        EXPECT_NE(payments[0].find("|" + k_settle_txid), std::string::npos) << payments[0];
        EXPECT_EQ(str(line["txid"]), k_settle_txid);
        // Epochs: one row per epoch the API lists. An epoch closes every 4 s
        // and the page reads again every 2 s: compared until both have read
        // the same state (a real difference stays and fails).
        std::size_t api_epochs = 0, page_epochs = 0;
        EXPECT_TRUE(test::wait_until(
            [&] {
                api_epochs = api("/api/v1/accounts/alice/epochs?limit=30")["epochs"].get_array().size();
                page_epochs = rows_of(b, "acc-epochs").size();
                return api_epochs == page_epochs;
            },
            12))
            << page_epochs << " epoch rows on the page, " << api_epochs << " in the API";
        const auto pts = chart_points(b, "chart-account-24h")["LTC"];
        EXPECT_EQ(pts.size(), 144u);
        EXPECT_TRUE(std::any_of(pts.begin(), pts.end(), [](const std::string& y) { return y != "0"; }));
        // The wallet form (issue 15) sits in the miner view.
        EXPECT_EQ(b.run("return document.querySelector('#view-account #wallet-binding') !== null;"), "true");
        b.screenshot(shots + "/account.png");
        EXPECT_EQ(console_errors(b), "");
    }

    // --- Holder view: a foundation account's dividends and statement -------------
    {
        const std::string who = "foundation:ecosystem";
        open(b, "#/accounts/" + who + "/holder", "holder");
        EXPECT_EQ(text_of(b, "hold-name"), who + " (foundation)");
        // The page and the API compared until both read the same state (an
        // epoch closes every 4 s, the page reads again every 2 s).
        std::vector<std::string> want, got_epochs;
        std::string held, page_held, dividends;
        std::size_t api_blocks = 0, page_blocks = 0;
        EXPECT_TRUE(test::wait_until(
            [&] {
                auto a = api("/api/v1/accounts/foundation%3Aecosystem");
                auto d = api("/api/v1/accounts/foundation%3Aecosystem/dividends?limit=100");
                dividends = d.text;
                held = shown(str(a["bmm_held"]["amount"]), 18);
                want.clear();
                for (auto x : d["epochs"].get_array()) {
                    want.push_back(str(x["epoch"]) + "|" + str(x["currency"]) + "|" + str(x["blocks"]) + "|" +
                                   shown(str(x["amount"]), static_cast<int>(std::int64_t(x["decimals"]))));
                }
                api_blocks = d["blocks"].get_array().size();
                const std::string h = text_of(b, "hold-bmm-held");
                page_held = h.substr(0, h.find(" BMM"));
                got_epochs = rows_of(b, "hold-epochs");
                page_blocks = rows_of(b, "hold-blocks").size();
                return page_held == held && got_epochs == want && page_blocks == api_blocks;
            },
            12))
            << "BMM held: page " << page_held << ", API " << held << "; dividend epochs: page " << got_epochs.size()
            << " rows, API " << want.size() << "; blocks: page " << page_blocks << ", API " << api_blocks;
        ASSERT_FALSE(want.empty()) << "the foundation holds BMM, so it earns dividends: " << dividends;
        EXPECT_EQ(got_epochs, want);
        // The statement and its three downloads (the API's bytes).
        ASSERT_TRUE(
            b.wait_until("return document.querySelectorAll('#stmt-links a').length === 3 &&"
                         " !document.getElementById('statement').textContent.includes('unavailable');",
                         10));
        const std::string hrefs =
            b.run("return [...document.querySelectorAll('#stmt-links a')].map(a => a.getAttribute('href'));");
        simdjson::dom::parser hp;
        std::vector<std::string> links;
        for (auto h : hp.parse(hrefs).get_array()) {
            links.emplace_back(std::string_view(h));
        }
        ASSERT_EQ(links.size(), 3u);
        const auto stmt = api(links[2]);
        std::vector<std::string> sections;
        for (auto s : stmt["sections"].get_array()) {
            const int dd = static_cast<int>(std::int64_t(s["decimals"]));
            sections.push_back(str(s["currency"]) + "|" + str(s["balance"]) + "|" + shown(str(s["opening"]), dd) + "|" +
                               shown(str(s["credits"]), dd) + "|" + shown(str(s["debits"]), dd) + "|" +
                               shown(str(s["closing"]), dd) + "|" + std::to_string(s["rows"].get_array().size()));
        }
        EXPECT_EQ(rows_of(b, "statement"), sections);
        const auto csv = test::http_call(g->api_port, "GET", links[0], "", 10);
        EXPECT_EQ(csv.status, 200);
        EXPECT_FALSE(csv.body.empty());
        const auto pdf = test::http_call(g->api_port, "GET", links[1], "", 10);
        EXPECT_EQ(pdf.status, 200);
        EXPECT_EQ(pdf.body.rfind("%PDF", 0), 0u);
        b.screenshot(shots + "/holder.png");
        EXPECT_EQ(console_errors(b), "");
    }

    // --- Blocks list: by the nav link -------------------------------------------
    {
        b.run("document.querySelector('nav a[data-nav=blocks]').click(); return true;");
        ASSERT_TRUE(b.wait_until("return document.body.dataset.loaded === 'blocks';", 30));
        EXPECT_EQ(b.text("return location.hash;"), "#/blocks");
        auto blocks = api("/api/v1/blocks?limit=25");
        std::vector<std::string> want;
        for (auto x : blocks["blocks"].get_array()) {
            const std::string conf = x["confirmations"].is_null() ? "–" : str(x["confirmations"]);
            const std::string left = x["confirmations_left"].is_null() ? "–" : str(x["confirmations_left"]);
            want.push_back("LTC|" + str(x["height"]) + "|" + str(x["finder"]) + "|" + shown(str(x["reward"]), 8) +
                           " LTC|" + str(x["status"]) + "|" + conf + "|" + left + "|" + str(x["epoch"]));
        }
        auto got = rows_of(b, "blocks-list");
        for (auto& r : got) {  // drop the found time and the (shortened) hash
            const auto a = r.find('|');
            r = r.substr(a + 1);
            const auto h1 = r.find('|', r.find('|') + 1);
            const auto h2 = r.find('|', h1 + 1);
            r = r.substr(0, h1) + r.substr(h2);
        }
        EXPECT_EQ(got, want);
        EXPECT_FALSE(want.empty());
        b.screenshot(shots + "/blocks.png");
        EXPECT_EQ(console_errors(b), "");
    }

    // --- Payments list -----------------------------------------------------------
    {
        open(b, "#/payments", "payments");
        auto p = api("/api/v1/payments");
        const auto rows = rows_of(b, "payments-list");
        ASSERT_EQ(rows.size(), p["payments"].get_array().size());
        std::size_t i = 0;
        for (auto x : p["payments"].get_array()) {
            EXPECT_NE(
                rows[i].find("|" + str(x["account"]) + "|" + str(x["currency"]) + "|" + shown(str(x["amount"]), 18) +
                             "|" + str(x["address"]) + "|sent (settled)|" + str(x["txid"])),
                std::string::npos)
                << rows[i];
            ++i;
        }
        b.screenshot(shots + "/payments.png");
        EXPECT_EQ(console_errors(b), "");
        // Back in history: the blocks list again, without a reload.
        b.run("history.back(); return true;");
        ASSERT_TRUE(b.wait_until("return document.body.dataset.loaded === 'blocks';", 30));
    }

    // --- Live update: a fourth miner changes the pool view without a reload ---------
    {
        open(b, "#/", "pool");
        const std::string before = text_of(b, "pool-shares");
        const std::string dir = st().dir() + "/web";
        test::child_process dave(
            {test::bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(g->pool.port), "--user",
             "dave.r1", "--algo", "scrypt", "--suggest-difficulty", "0.001", "--shares", "3", "--seconds", "60",
             "--quiet"},
            dir + "/miner-dave.log");
        ASSERT_EQ(dave.wait(90000), 0) << test::read_text(dir + "/miner-dave.log");
        ASSERT_TRUE(test::wait_until([] { return str(api("/api/v1/pool")["miners_active"]) == "4"; }, 30));
        EXPECT_TRUE(b.wait_until("return document.getElementById('pool-miners').textContent === '4';", 20));
        const std::string now = str(api("/api/v1/pool")["shares_1h"]["accepted"]);
        EXPECT_TRUE(test::wait_until([&] { return text_of(b, "pool-shares") == now; }, 20)) << before << " -> " << now;
        EXPECT_NE(text_of(b, "pool-shares"), before);
        EXPECT_EQ(b.run("return window.__not_reloaded;"), "42") << "the page was reloaded";
        EXPECT_EQ(console_errors(b), "");
    }

    // --- On a phone: one column, nothing wider than the screen ------------------------
    {
        b.window_size(390, 844);
        open(b, "#/accounts/alice", "account");
        b.screenshot(shots + "/account-phone.png");
        EXPECT_EQ(b.run("return document.documentElement.scrollWidth <= window.innerWidth;"), "true")
            << b.run("return [document.documentElement.scrollWidth, window.innerWidth];");
        open(b, "#/", "pool");
        b.screenshot(shots + "/pool-phone.png");
        EXPECT_EQ(b.run("return document.documentElement.scrollWidth <= window.innerWidth;"), "true");
        EXPECT_EQ(console_errors(b), "");
    }
    for (const char* f : {"pool", "account", "holder", "blocks", "payments", "pool-phone"}) {
        EXPECT_GT(std::filesystem::file_size(shots + "/" + f + ".png"), 1000u) << f;
    }
}

// The page's files: Chart.js is Debian's, served by the daemon; unknown files 404.
TEST_F(web_test, the_daemon_serves_the_pages_files_and_chart_js) {
    const auto index = test::http_call(g->api_port, "GET", "/", "", 10);
    EXPECT_EQ(index.status, 200);
    EXPECT_NE(index.body.find("<script src=\"/static/chart.js\""), std::string::npos);
    for (const char* f : {"/static/app.js", "/static/app.css"}) {
        const auto r = test::http_call(g->api_port, "GET", f, "", 10);
        EXPECT_EQ(r.status, 200) << f;
        EXPECT_GT(r.body.size(), 1000u) << f;
    }
    const auto chart = test::http_call(g->api_port, "GET", "/static/chart.js", "", 10);
    if (std::filesystem::exists("/usr/share/javascript/chart.js/chart.min.js")) {
        EXPECT_EQ(chart.status, 200);
        std::ifstream f("/usr/share/javascript/chart.js/chart.min.js", std::ios::binary);
        const std::string want((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        EXPECT_EQ(chart.body, want);
    }
    const auto none = test::http_call(g->api_port, "GET", "/static/nothing.js", "", 10);
    EXPECT_EQ(none.status, 404);
    EXPECT_NE(none.body.find("app.js, app.css and chart.js"), std::string::npos);
    const auto bad = test::http_call(g->api_port, "GET", "/api/v1/pool/hashrate?window=1y", "", 10);
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("24h or 30d"), std::string::npos);
    const auto cursor = test::http_call(g->api_port, "GET", "/api/v1/payments?before=x", "", 10);
    EXPECT_EQ(cursor.status, 400);
    const auto unknown = test::http_call(g->api_port, "GET", "/api/v1/accounts/nobody/payments", "", 10);
    EXPECT_EQ(unknown.status, 404);
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment(/*activate_mweb=*/true));
    return RUN_ALL_TESTS();
}
