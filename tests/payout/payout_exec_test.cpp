// bmm-payout's coin side end to end: the real program against the real stack
// (PostgreSQL, two litecoind regtest nodes; node A's wallet "pool" pays
// addresses of node B's wallet "recv"). Balances come from ledger transfers
// booked in SQL (pps credits), the way a closed epoch books them.
//  - plan, approve, execute, mine 6, reconcile: every address receives its
//    lines to the litoshi (two accounts paying one address included), the
//    ledger audit is clean, payout:in-flight is back to zero;
//  - SIGKILL at every fault point, then reruns: every recipient paid once;
//    random kills of execute and reconcile (BMM_PAYOUT_KILLS, default 5);
//  - a marked wallet transaction the store never got is adopted;
//  - a node restart between store and broadcast (the stored inputs are locked
//    again: another batch cannot take them); a dropped transaction
//    (-persistmempool=0 -walletbroadcast=0) sent again; a fee bump mined;
//    a conflicting spend of a stored input (the lines return to available);
//    an encrypted wallet (refused without --passphrase-file, paid with it);
//    wallet-check against the ledger.

#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"
#include "../support/webhook_receiver.hpp"

#include "bmm/accounting/migrations.hpp"
#include "bmm/payout/wallet_tx.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

namespace bmm::payout {
namespace {

using test::query;
using test::scalar;
using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

std::string bin_dir() {
    const char* b = std::getenv("BMM_BIN_DIR");
    return b && *b ? b : "./bin";
}

// The configuration bmm-payout reads; `extra` goes into [payout].
std::string write_config(const std::string& name, const std::string& payout_extra = "") {
    const std::string dir = st().dir() + "/payout";
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/" + name + ".toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_PG_PORT") << "\nuser = \""
      << st().setting("BMM_PG_USER") << "\"\ndbname = \"" << st().setting("BMM_PG_DB") << "\"\npassword = \""
      << st().setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st().source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st().setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\n"
      << "[node]\nurl = \"" << st().setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st().setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st().setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << "[payout]\nconfirmations = 6\nfee_rate = 2\nmax_fee_rate = 100\n"
      << (payout_extra.find("wallet") == std::string::npos ? "wallet = \"pool\"\n" : "") << payout_extra;
    return path;
}

std::string& config() {
    static std::string path;
    return path;
}

struct run_result {
    int code = -1;
    std::string out;
};

// Runs bmm-payout to its end (bounded: 120 s) with extra environment.
run_result payout(std::vector<std::string> args, const std::map<std::string, std::string>& env = {},
                  const std::string& cfg = "") {
    static int n = 0;
    const std::string log = st().dir() + "/payout/run-" + std::to_string(++n) + ".log";
    std::vector<std::string> argv{bin_dir() + "/bmm-payout"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("-c");
    argv.push_back(cfg.empty() ? config() : cfg);
    test::child_process p(argv, log, env);
    run_result r;
    r.code = p.wait(120000);
    r.out = test::read_text(log);
    return r;
}

int g_seq = 0;

// A fresh account (user) with `litoshi` available, bound to `address`.
std::string account_with(std::int64_t litoshi, const std::string& address) {
    const std::string name = "u" + std::to_string(::getpid()) + "x" + std::to_string(++g_seq);
    query("INSERT INTO accounts (name, kind) VALUES ($1, 'user')", {name});
    query("INSERT INTO wallets (account, currency, address, share_ppm) VALUES ($1, 'LTC', $2, 1000000)",
          {name, address});
    query(
        "INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof) "
        "VALUES ($1, 'bind', 'LTC', $2, 1000000, 'admin')",
        {name, address});
    query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES "
        "($1, 'pool:pps:LTC', $2, 'LTC', $3, 'pps_credit', 'epoch:1')",
        {"epoch:1:pps:LTC:" + name, "user:" + name + ":available", std::to_string(litoshi)});
    return name;
}

// The pool's fee balance, which pays the network fees.
void fund_fees(std::int64_t litoshi) {
    query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES "
        "($1, 'pool:pps:LTC', 'pool:fees:LTC', 'LTC', $2, 'pps_credit', 'epoch:1')",
        {"epoch:1:pps:LTC:fees" + std::to_string(++g_seq), std::to_string(litoshi)});
}

std::string recv_address() {
    static bool made = false;
    if (!made) {
        st().cli("createwallet recv false false \"\" false false true", true);  // loaded on start
        made = true;
    }
    return trim(st().cli("-rpcwallet=recv getnewaddress", true));
}

// What node B's wallet received at `address` (any depth), in litoshi.
std::int64_t received(const std::string& address) {
    auto v = parse_coins(trim(st().cli("-rpcwallet=recv getreceivedbyaddress " + address + " 0", true)));
    return v ? *v : -1;
}

void wait_b_synced() {
    for (int i = 0; i < 200; ++i) {
        if (trim(st().cli("getbestblockhash")) == trim(st().cli("getbestblockhash", true))) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void mine(int n) {
    st().cli("-rpcwallet=pool generatetoaddress " + std::to_string(n) + " " + st().setting("BMM_POOL_ADDRESS"));
    wait_b_synced();
}

// Node A always accepts replacements (fee bumps); litecoind's default is not to.
constexpr const char* k_node_a_args = "-mempoolreplacement=1";

// Stops node A (or B) and waits until it no longer answers (bounded).
void stop_node(bool node_b = false) {
    st().cli("stop", node_b);
    for (int i = 0; i < 150 && st().cli("getblockcount", node_b).find("error") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

// Starts what is stopped, node A with `extra` options this once.
bool start_nodes(const std::string& extra = "") {
    ::setenv("BMM_STACK_NODE_A_ARGS", (std::string(k_node_a_args) + " " + extra).c_str(), 1);
    const bool ok = st().up_again();
    ::setenv("BMM_STACK_NODE_A_ARGS", k_node_a_args, 1);
    st().cli("loadwallet recv", true);  // loaded already when load_on_startup took
    wait_b_synced();
    return ok;
}

// Plans an LTC batch and approves it; its number.
std::int64_t plan_and_approve(const std::string& cfg = "") {
    auto p = payout({"plan", "--coin", "LTC"}, {}, cfg);
    std::smatch m;
    if (p.code != 0 || !std::regex_search(p.out, m, std::regex("batch ([0-9]+) planned"))) {
        ADD_FAILURE() << "plan failed: " << p.out;
        return 0;
    }
    const std::int64_t id = std::stoll(m[1]);
    const std::string digest = scalar("SELECT digest FROM payout_batches WHERE id = $1", {std::to_string(id)});
    auto a = payout({"approve", std::to_string(id), "--by", "test", "--digest", digest}, {}, cfg);
    EXPECT_EQ(a.code, 0) << a.out;
    return id;
}

std::string batch_state(std::int64_t id) {
    return scalar("SELECT state FROM payout_batches WHERE id = $1", {std::to_string(id)});
}

// Each address's lines in the batch, summed.
std::map<std::string, std::int64_t> lines_by_address(std::int64_t id) {
    std::map<std::string, std::int64_t> out;
    for (const auto& r : query("SELECT address, sum(amount)::text FROM payout_lines WHERE batch = $1 GROUP BY address",
                               {std::to_string(id)})) {
        out[r[0]] = std::stoll(r[1]);
    }
    return out;
}

void expect_audit_clean() {
    const auto rows = query("SELECT * FROM ledger_audit()");
    EXPECT_TRUE(rows.empty()) << (rows.empty() ? "" : rows[0][0]);
}

std::string in_flight() {
    const std::string v = scalar(
        "SELECT coalesce(sum(balance), 0)::text FROM balances WHERE account = 'payout:in-flight' AND "
        "currency = 'LTC'");
    return v;
}

// Reconciles until the batch is finished (bounded), mining one block between runs.
void reconcile_until_finished(std::int64_t id, const std::string& cfg = "") {
    for (int i = 0; i < 12 && batch_state(id) != "confirmed" && batch_state(id) != "failed"; ++i) {
        auto r = payout({"reconcile", std::to_string(id)}, {}, cfg);
        EXPECT_NE(r.code, 1) << r.out;
        if (batch_state(id) == "confirmed" || batch_state(id) == "failed") {
            break;
        }
        mine(1);
    }
}

// A batch paying `n` new addresses of node B (amounts distinct), planned and approved.
struct paid_batch {
    std::int64_t id = 0;
    std::vector<std::string> addresses;
};
paid_batch new_batch(int n, const std::string& cfg = "") {
    paid_batch b;
    for (int i = 0; i < n; ++i) {
        b.addresses.push_back(recv_address());
        account_with(10000000 + 1000 * (g_seq + 1) + i, b.addresses.back());
    }
    fund_fees(10000000);
    b.id = plan_and_approve(cfg);
    return b;
}

// Every address received exactly its lines (in this batch only: the addresses are new).
void expect_paid_once(const paid_batch& b) {
    const auto want = lines_by_address(b.id);
    ASSERT_EQ(want.size(), b.addresses.size());
    for (const auto& a : b.addresses) {
        ASSERT_TRUE(want.count(a)) << a;
        EXPECT_EQ(received(a), want.at(a)) << a;
    }
}

class payout_exec : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        auto db = test::db();
        auto m = accounting::migrate(db, st().source_dir() + "/sql");
        ASSERT_TRUE(m) << m.error_message();
        // Small transactions (a few outputs each) so that batches have several.
        config() = write_config("small", "max_tx_weight = 41000\n");
    }
};

// ------------------------------------------------------------------ tests --

TEST_F(payout_exec, end_to_end_two_accounts_one_address) {
    const std::string shared = recv_address();
    std::vector<std::string> addrs{recv_address(), recv_address(), shared};
    account_with(123456789, addrs[0]);
    account_with(100000001, addrs[1]);
    account_with(50000000, shared);
    account_with(70000003, shared);
    fund_fees(10000000);
    const std::string fees_before =
        scalar("SELECT coalesce(sum(amount), 0)::text FROM ledger_transfers WHERE credit = 'system:network-fees:LTC'");
    const std::int64_t id = plan_and_approve();
    ASSERT_GT(id, 0);
    auto e = payout({"execute", std::to_string(id)});
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_EQ(batch_state(id), "broadcast");
    // Executing again sends nothing new: the same stored transactions.
    const std::string attempts = scalar("SELECT count(*) FROM payout_attempts WHERE batch = $1", {std::to_string(id)});
    auto again = payout({"execute", std::to_string(id)});
    EXPECT_EQ(again.code, 0) << again.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM payout_attempts WHERE batch = $1", {std::to_string(id)}), attempts);
    // Not final before `confirmations`.
    mine(5);
    auto early = payout({"reconcile", std::to_string(id)});
    EXPECT_EQ(early.code, 0) << early.out;
    EXPECT_EQ(batch_state(id), "broadcast");
    mine(1);
    auto r = payout({"reconcile"});
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(batch_state(id), "confirmed") << r.out;
    const auto want = lines_by_address(id);
    EXPECT_EQ(want.at(shared), 120000003);
    for (const auto& a : addrs) {
        EXPECT_EQ(received(a), want.at(a)) << a;
    }
    expect_audit_clean();
    EXPECT_EQ(in_flight(), "0");
    // The fees booked are the confirmed attempts' fees.
    const std::string fees_after =
        scalar("SELECT coalesce(sum(amount), 0)::text FROM ledger_transfers WHERE credit = 'system:network-fees:LTC'");
    const std::string attempt_fees = scalar(
        "SELECT sum(fee)::text FROM payout_attempts WHERE batch = $1 AND state = 'confirmed'", {std::to_string(id)});
    EXPECT_EQ(std::stoll(fees_after) - std::stoll(fees_before), std::stoll(attempt_fees));
    auto w = payout({"wallet-check", "--coin", "LTC"});
    EXPECT_EQ(w.code, 0) << w.out;
    EXPECT_NE(w.out.find("gap:"), std::string::npos) << w.out;
}

// Webhooks (issue 16): execute's first broadcast sends payout_sent with the
// batch's txids (once: executing again sends none), and a run that fails
// (the node unreachable) sends payout_failed with the error; both as JSON
// POSTs to a receiver on loopback, the first one after a 503 and a retry.
TEST_F(payout_exec, webhooks_on_payout_sent_and_failed) {
    test::webhook_receiver hooks({503});
    const std::string notify =
        "[notify]\nwebhook_urls = [\"" + hooks.url("/payouts") + "\"]\nattempts = 3\nbackoff_ms = 100\n";
    const std::string cfg = write_config("notify", "max_tx_weight = 41000\n" + notify);
    auto b = new_batch(2, cfg);
    ASSERT_GT(b.id, 0);
    const std::string batch_field = "\"batch\":" + std::to_string(b.id) + ",";
    auto e = payout({"execute", std::to_string(b.id)}, {}, cfg);
    ASSERT_EQ(e.code, 0) << e.out;
    // bmm-payout waited for the delivery before it exited.
    const auto all = hooks.requests();
    ASSERT_EQ(all.size(), 2u) << e.out;  // the 503, then the retry
    EXPECT_EQ(all[0].body, all[1].body);
    const auto& sent = all[1];
    EXPECT_EQ(sent.method, "POST");
    EXPECT_EQ(sent.path, "/payouts");
    EXPECT_EQ(sent.content_type, "application/json");
    EXPECT_NE(sent.body.find("\"event\":\"payout_sent\""), std::string::npos) << sent.body;
    EXPECT_NE(sent.body.find("\"source\":\"bmm-payout\""), std::string::npos) << sent.body;
    EXPECT_NE(sent.body.find(batch_field), std::string::npos) << sent.body;
    EXPECT_NE(sent.body.find("\"currency\":\"LTC\""), std::string::npos) << sent.body;
    const auto txids = query("SELECT txid FROM payout_attempts WHERE batch = $1", {std::to_string(b.id)});
    ASSERT_FALSE(txids.empty());
    for (const auto& t : txids) {
        EXPECT_NE(sent.body.find("\"" + t[0] + "\""), std::string::npos) << t[0] << " not in " << sent.body;
    }
    // Executing again broadcasts the stored transactions again: not a new payout.
    auto again = payout({"execute", std::to_string(b.id)}, {}, cfg);
    EXPECT_EQ(again.code, 0) << again.out;
    EXPECT_EQ(hooks.requests().size(), 2u);

    // The node unreachable: reconcile fails, and says so.
    std::string text = test::read_text(cfg);
    const std::string url = st().setting("BMM_NODE_RPC_URL");
    std::string closed_url;  // a loopback port nobody listens on any more
    {
        test::webhook_receiver gone;
        closed_url = gone.url("/");
    }
    text.replace(text.find(url), url.size(), closed_url);
    const std::string down = st().dir() + "/payout/notify-down.toml";
    std::ofstream(down) << text;
    auto r = payout({"reconcile", std::to_string(b.id)}, {}, down);
    EXPECT_NE(r.code, 0) << r.out;
    const auto failed = hooks.wait_for_body("\"event\":\"payout_failed\"", std::chrono::seconds(10));
    EXPECT_NE(failed.body.find(batch_field), std::string::npos) << failed.body;
    EXPECT_NE(failed.body.find("\"error\":\""), std::string::npos) << failed.body;
    EXPECT_NE(failed.body.find("\"command\":\"reconcile\""), std::string::npos) << failed.body;

    mine(6);
    reconcile_until_finished(b.id, cfg);
    EXPECT_EQ(batch_state(b.id), "confirmed");
    expect_paid_once(b);
}

TEST_F(payout_exec, kill_at_every_fault_point_pays_once) {
    const std::vector<std::string> exec_points{"before_store", "after_store", "after_broadcast",
                                               "after_mark_broadcast"};
    const std::vector<std::string> book_points{"before_confirm_book", "after_confirm_book"};
    for (const auto& point : exec_points) {
        SCOPED_TRACE(point);
        auto b = new_batch(7);  // two transactions at max_tx_weight 41000
        auto k = payout({"execute", std::to_string(b.id)}, {{"BMM_PAYOUT_FAULT", point}});
        EXPECT_EQ(k.code, 128 + SIGKILL) << k.out;
        for (int i = 0; i < 3 && batch_state(b.id) != "broadcast"; ++i) {
            (void)payout({"execute", std::to_string(b.id)}, {{"BMM_PAYOUT_FAULT", point}});
        }
        auto e = payout({"execute", std::to_string(b.id)});
        ASSERT_EQ(e.code, 0) << e.out;
        EXPECT_GE(std::stoi(scalar("SELECT count(*) FROM payout_txs WHERE batch = $1", {std::to_string(b.id)})), 2);
        mine(6);
        reconcile_until_finished(b.id);
        EXPECT_EQ(batch_state(b.id), "confirmed");
        expect_paid_once(b);
    }
    for (const auto& point : book_points) {
        SCOPED_TRACE(point);
        auto b = new_batch(7);
        ASSERT_EQ(payout({"execute", std::to_string(b.id)}).code, 0);
        mine(6);
        auto k = payout({"reconcile", std::to_string(b.id)}, {{"BMM_PAYOUT_FAULT", point}});
        EXPECT_EQ(k.code, 128 + SIGKILL) << k.out;
        reconcile_until_finished(b.id);
        EXPECT_EQ(batch_state(b.id), "confirmed");
        expect_paid_once(b);
    }
    expect_audit_clean();
    EXPECT_EQ(in_flight(), "0");
}

TEST_F(payout_exec, random_kills_pay_once) {
    int kills = 5;
    if (const char* k = std::getenv("BMM_PAYOUT_KILLS"); k && *k) {
        kills = std::max(1, std::atoi(k));
    }
    auto b = new_batch(14);  // several transactions
    std::mt19937 rng(static_cast<unsigned>(::getpid()));
    int killed = 0;
    for (int i = 0; i < kills; ++i) {
        const bool exec_phase = batch_state(b.id) != "broadcast" || i % 2 == 0;
        if (!exec_phase) {
            mine(1);
        }
        const std::string log = st().dir() + "/payout/kill-" + std::to_string(i) + ".log";
        test::child_process p(
            {bin_dir() + "/bmm-payout", exec_phase ? "execute" : "reconcile", std::to_string(b.id), "-c", config()},
            log);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 900)(rng)));
        if (p.running()) {
            p.signal(SIGKILL);
            ++killed;
        }
        (void)p.wait(10000);
    }
    std::printf("random kills: %d of %d runs killed mid-way\n", killed, kills);
    for (int i = 0; i < 3 && batch_state(b.id) == "approved"; ++i) {
        (void)payout({"execute", std::to_string(b.id)});
    }
    auto e = payout({"execute", std::to_string(b.id)});
    EXPECT_EQ(e.code, 0) << e.out;
    mine(6);
    reconcile_until_finished(b.id);
    EXPECT_EQ(batch_state(b.id), "confirmed");
    expect_paid_once(b);
    expect_audit_clean();
}

// A transaction the wallet signed and sent for the batch, but that the store
// never got (here: built and broadcast beside bmm-payout), is adopted by its
// marker, not paid a second time.
TEST_F(payout_exec, a_marked_wallet_transaction_is_adopted) {
    auto b = new_batch(2);
    auto k = payout({"execute", std::to_string(b.id)}, {{"BMM_PAYOUT_FAULT", "before_store"}});
    ASSERT_EQ(k.code, 128 + SIGKILL) << k.out;
    ASSERT_EQ(scalar("SELECT count(*) FROM payout_attempts WHERE batch = $1", {std::to_string(b.id)}), "0");
    tx_request req;
    req.batch = b.id;
    req.tx = 1;
    for (const auto& r : query("SELECT line, address, amount::text FROM payout_lines WHERE batch = $1 AND tx = 1 "
                               "ORDER BY line",
                               {std::to_string(b.id)})) {
        req.outputs.push_back({std::stoi(r[0]), r[1], std::stoll(r[2])});
    }
    req.outputs = merge_by_address(req.outputs);
    req.fee_rate = 2;
    req.max_fee_rate = 100;
    req.fee_budget = 1000000;
    node_wallet w({st().setting("BMM_NODE_RPC_URL"), st().setting("BMM_NODE_RPC_USER"),
                   st().setting("BMM_NODE_RPC_PASSWORD"), "pool"},
                  "regtest");
    auto t = w.build(req);
    ASSERT_TRUE(t) << t.error_message();
    ASSERT_EQ(w.broadcast(t->hex)->outcome, send_outcome::sent);
    auto e = payout({"execute", std::to_string(b.id)});
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_NE(e.out.find("adopted"), std::string::npos) << e.out;
    EXPECT_EQ(scalar("SELECT txid FROM payout_attempts WHERE batch = $1 AND tx = 1", {std::to_string(b.id)}), t->txid);
    mine(6);
    reconcile_until_finished(b.id);
    EXPECT_EQ(batch_state(b.id), "confirmed");
    expect_paid_once(b);
    expect_audit_clean();
}

TEST_F(payout_exec, node_restart_between_store_and_broadcast_relocks_inputs) {
    auto x = new_batch(2);
    auto k = payout({"execute", std::to_string(x.id)}, {{"BMM_PAYOUT_FAULT", "after_store"}});
    ASSERT_EQ(k.code, 128 + SIGKILL) << k.out;
    const std::string inputs =
        scalar("SELECT inputs::text FROM payout_attempts WHERE batch = $1", {std::to_string(x.id)});
    ASSERT_FALSE(inputs.empty());
    stop_node();
    ASSERT_TRUE(start_nodes());
    EXPECT_EQ(trim(st().cli("-rpcwallet=pool listlockunspent")), "[\n]");  // locks are gone after a restart
    auto stored = parse_outpoints_json(inputs);
    ASSERT_TRUE(stored && !stored->empty());
    EXPECT_NE(st().cli("-rpcwallet=pool listunspent").find(stored->front().txid), std::string::npos);
    // Another batch built now must not take the stored inputs: they are locked again.
    auto y = new_batch(2);
    auto e = payout({"execute", std::to_string(y.id)});
    ASSERT_EQ(e.code, 0) << e.out;
    EXPECT_NE(st().cli("-rpcwallet=pool listlockunspent").find(stored->front().txid), std::string::npos);
    for (const auto& row : query("SELECT inputs::text FROM payout_attempts WHERE batch = $1", {std::to_string(y.id)})) {
        auto ins = parse_outpoints_json(row[0]);
        ASSERT_TRUE(ins);
        for (const auto& o : *ins) {
            EXPECT_EQ(std::count(stored->begin(), stored->end(), o), 0) << o.txid << ":" << o.vout;
        }
    }
    // The first batch sends what it stored.
    const std::string txid = scalar("SELECT txid FROM payout_attempts WHERE batch = $1", {std::to_string(x.id)});
    auto ex = payout({"execute", std::to_string(x.id)});
    ASSERT_EQ(ex.code, 0) << ex.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM payout_attempts WHERE batch = $1", {std::to_string(x.id)}), "1");
    EXPECT_NE(ex.out.find(txid), std::string::npos) << ex.out;
    mine(6);
    reconcile_until_finished(x.id);
    reconcile_until_finished(y.id);
    EXPECT_EQ(batch_state(x.id), "confirmed");
    EXPECT_EQ(batch_state(y.id), "confirmed");
    expect_paid_once(x);
    expect_paid_once(y);
}

TEST_F(payout_exec, dropped_transaction_is_sent_again) {
    auto b = new_batch(2);
    ASSERT_EQ(payout({"execute", std::to_string(b.id)}).code, 0);
    const std::string txid = scalar("SELECT txid FROM payout_attempts WHERE batch = $1", {std::to_string(b.id)});
    // Node A restarts without its mempool and without wallet rebroadcasts
    // (node B is stopped meanwhile: a peer does not announce its older
    // mempool transactions to a new connection, but keep the test plain).
    stop_node(true);
    stop_node();
    // With node A down, reconcile cannot learn anything: an error, nothing changed.
    auto down = payout({"reconcile", std::to_string(b.id)});
    EXPECT_NE(down.code, 0) << down.out;
    EXPECT_EQ(batch_state(b.id), "broadcast");
    EXPECT_EQ(scalar("SELECT string_agg(state, ',') FROM payout_txs WHERE batch = $1", {std::to_string(b.id)}),
              "broadcast");
    ASSERT_TRUE(start_nodes("-persistmempool=0 -walletbroadcast=0"));
    EXPECT_NE(st().cli("getmempoolentry " + txid).find("not in mempool"), std::string::npos);
    auto r = payout({"reconcile", std::to_string(b.id)});
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("sent again"), std::string::npos) << r.out;
    EXPECT_EQ(st().cli("getmempoolentry " + txid).find("not in mempool"), std::string::npos);
    mine(6);
    reconcile_until_finished(b.id);
    EXPECT_EQ(batch_state(b.id), "confirmed");
    expect_paid_once(b);
    // Node A back to its usual options (wallet broadcasts on).
    stop_node();
    ASSERT_TRUE(start_nodes());
}

TEST_F(payout_exec, bump_then_mine_pays_once) {
    auto b = new_batch(2);
    ASSERT_EQ(payout({"execute", std::to_string(b.id)}).code, 0);
    const std::string before =
        scalar("SELECT fee::text FROM payout_attempts WHERE batch = $1 AND attempt = 1", {std::to_string(b.id)});
    auto over = payout({"bump", std::to_string(b.id), "--fee-rate", "1000"});
    EXPECT_EQ(over.code, 1) << over.out;
    EXPECT_NE(over.out.find("max_fee_rate"), std::string::npos) << over.out;
    auto bump = payout({"bump", std::to_string(b.id), "--fee-rate", "20"});
    ASSERT_EQ(bump.code, 0) << bump.out;
    EXPECT_EQ(scalar("SELECT state FROM payout_attempts WHERE batch = $1 AND attempt = 1", {std::to_string(b.id)}),
              "replaced");
    const std::string after =
        scalar("SELECT fee::text FROM payout_attempts WHERE batch = $1 AND attempt = 2", {std::to_string(b.id)});
    EXPECT_GT(std::stoll(after), std::stoll(before));
    mine(6);
    reconcile_until_finished(b.id);
    EXPECT_EQ(batch_state(b.id), "confirmed");
    EXPECT_EQ(scalar("SELECT confirmed_attempt FROM payout_txs WHERE batch = $1", {std::to_string(b.id)}), "2");
    EXPECT_EQ(scalar("SELECT amount::text FROM ledger_transfers WHERE id = $1",
                     {"payout:" + std::to_string(b.id) + ":fee:1"}),
              after);
    expect_paid_once(b);
    expect_audit_clean();
}

TEST_F(payout_exec, conflicting_spend_returns_the_lines) {
    auto b = new_batch(2);
    auto k = payout({"execute", std::to_string(b.id)}, {{"BMM_PAYOUT_FAULT", "after_store"}});
    ASSERT_EQ(k.code, 128 + SIGKILL) << k.out;
    const auto accounts =
        query("SELECT account, amount::text FROM payout_lines WHERE batch = $1", {std::to_string(b.id)});
    auto ins = parse_outpoints_json(
        scalar("SELECT inputs::text FROM payout_attempts WHERE batch = $1", {std::to_string(b.id)}));
    ASSERT_TRUE(ins && !ins->empty());
    // Spend the stored transaction's first input elsewhere.
    const auto& in = ins->front();
    const std::string op = "[{\"txid\":\"" + in.txid + "\",\"vout\":" + std::to_string(in.vout) + "}]";
    st().cli("-rpcwallet=pool lockunspent true '" + op + "'");
    const std::string self = trim(st().cli("-rpcwallet=pool getnewaddress"));
    const std::string raw =
        trim(st().cli("-rpcwallet=pool createrawtransaction '" + op + "' '[{\"" + self + "\":0.001}]'"));
    const std::string funded = st().cli("-rpcwallet=pool fundrawtransaction " + raw);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(funded, m, std::regex("\"hex\": \"([0-9a-f]+)\""))) << funded;
    const std::string signed_out = st().cli("-rpcwallet=pool signrawtransactionwithwallet " + m[1].str());
    ASSERT_TRUE(std::regex_search(signed_out, m, std::regex("\"hex\": \"([0-9a-f]+)\""))) << signed_out;
    st().cli("sendrawtransaction " + m[1].str());
    mine(1);
    // One confirmation of the conflict is not enough to give up.
    auto r1 = payout({"reconcile", std::to_string(b.id)});
    EXPECT_EQ(r1.code, 0) << r1.out;
    EXPECT_EQ(batch_state(b.id), "approved");
    mine(5);
    auto r2 = payout({"reconcile", std::to_string(b.id)});
    EXPECT_EQ(r2.code, 0) << r2.out;
    EXPECT_EQ(batch_state(b.id), "failed") << r2.out;
    for (const auto& row : accounts) {
        EXPECT_EQ(scalar("SELECT balance::text FROM balances WHERE account = $1 AND currency = 'LTC'",
                         {"user:" + row[0] + ":available"}),
                  row[1]);
    }
    for (const auto& a : b.addresses) {
        EXPECT_EQ(received(a), 0) << a;
    }
    expect_audit_clean();
    // Return the balances' money to the pool so later plans do not pay them.
    for (const auto& row : accounts) {
        query(
            "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES "
            "($1, $2, 'pool:pps:LTC', 'LTC', $3, 'pps_credit', 'epoch:2')",
            {"epoch:2:pps:LTC:" + row[0], "user:" + row[0] + ":available", row[1]});
    }
}

TEST_F(payout_exec, encrypted_wallet_needs_passphrase_file) {
    st().cli("createwallet enc");
    const std::string addr = trim(st().cli("-rpcwallet=enc getnewaddress"));
    const std::string funding = trim(st().cli("-rpcwallet=pool sendtoaddress " + addr + " 20"));
    ASSERT_EQ(funding.size(), 64u) << funding;
    mine(1);
    st().cli("-rpcwallet=enc encryptwallet s3cret-phrase");
    const std::string cfg = write_config("enc", "wallet = \"enc\"\n");
    auto b = new_batch(2, cfg);
    auto refused = payout({"execute", std::to_string(b.id)}, {}, cfg);
    EXPECT_EQ(refused.code, 1) << refused.out;
    EXPECT_NE(refused.out.find("--passphrase-file"), std::string::npos) << refused.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM payout_attempts WHERE batch = $1", {std::to_string(b.id)}), "0");
    const std::string pf = st().dir() + "/payout/pass";
    std::ofstream(pf) << "s3cret-phrase\n";
    auto ok = payout({"execute", std::to_string(b.id), "--passphrase-file", pf}, {}, cfg);
    ASSERT_EQ(ok.code, 0) << ok.out;
    EXPECT_NE(st().cli("-rpcwallet=enc getwalletinfo").find("\"unlocked_until\": 0"), std::string::npos);
    mine(6);
    reconcile_until_finished(b.id, cfg);
    EXPECT_EQ(batch_state(b.id), "confirmed");
    expect_paid_once(b);
}

TEST_F(payout_exec, wallet_check_reports_a_shortfall) {
    auto ok = payout({"wallet-check", "--coin", "LTC"});
    EXPECT_EQ(ok.code, 0) << ok.out;
    // The ledger owes far more than the wallet holds.
    query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES "
        "('epoch:3:pps:LTC:shortfall', 'system:coinbase:LTC', 'pool:undistributed:LTC', 'LTC', 9000000000000000, "
        "'pps_credit', 'epoch:3')");
    auto short_run = payout({"wallet-check", "--coin", "LTC"});
    EXPECT_EQ(short_run.code, 1) << short_run.out;
    EXPECT_NE(short_run.out.find("less than the ledger owes"), std::string::npos) << short_run.out;
    query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES "
        "('epoch:3:pps:LTC:shortfall-back', 'pool:undistributed:LTC', 'system:coinbase:LTC', 'LTC', 9000000000000000, "
        "'pps_credit', 'epoch:3')");
}

TEST_F(payout_exec, refusals_are_one_line) {
    auto none = payout({"execute", "999999"});
    EXPECT_EQ(none.code, 1) << none.out;
    EXPECT_NE(none.out.find("does not exist"), std::string::npos) << none.out;
    // More than the wallet can spend: refused before anything is stored.
    const std::string big = recv_address();
    const std::string name = account_with(900000000000000, big);
    fund_fees(1000000);
    const std::int64_t huge = plan_and_approve();
    ASSERT_GT(huge, 0);
    const std::string id = std::to_string(huge);
    auto poor = payout({"execute", id});
    EXPECT_EQ(poor.code, 1) << poor.out;
    EXPECT_NE(poor.out.find("can spend"), std::string::npos) << poor.out;
    EXPECT_EQ(std::regex_search(poor.out, std::regex("bmm-payout: .*can spend.*\\n.*bmm-payout:")), false) << poor.out;
    EXPECT_EQ(scalar("SELECT count(*) FROM payout_attempts WHERE batch = $1", {id}), "0");
    auto bump_early = payout({"bump", id, "--fee-rate", "5"});
    EXPECT_EQ(bump_early.code, 1) << bump_early.out;
    EXPECT_NE(bump_early.out.find("needs a broadcast batch"), std::string::npos) << bump_early.out;
}

}  // namespace
}  // namespace bmm::payout

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    // Node A accepts replacements (fee bumps); litecoind's default is not to.
    ::setenv("BMM_STACK_NODE_A_ARGS", bmm::payout::k_node_a_args, 1);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment());
    return RUN_ALL_TESTS();
}
