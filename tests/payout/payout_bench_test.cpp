// bmm-payout execute at scale against the real stack: N recipients
// (BMM_PAYOUT_BENCH_N, default 2000; the report's figure is 10000), planned,
// approved, executed to "all broadcast", then a baseline of sendmany with the
// same outputs split into the same transactions, measured in the same run.
// Reported (not asserted: timings are never asserted): execute / sendmany,
// and the reconcile that books every line. Asserted: every address received
// exactly its lines (to the litoshi), the batch is confirmed, the audit clean.

#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/accounting/migrations.hpp"
#include "bmm/json/writer.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/payout/wallet_tx.hpp"
#include "bmm/pg/text.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

namespace bmm::payout {
namespace {

using test::query;
using test::scalar;
using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

std::string bin_dir() {
    const char* b = std::getenv("BMM_BIN_DIR");
    return b && *b ? b : "./bin";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct run_result {
    int code = -1;
    std::string out;
};

run_result payout(const std::string& cfg, std::vector<std::string> args) {
    static int n = 0;
    const std::string log = st().dir() + "/bench-" + std::to_string(++n) + ".log";
    std::vector<std::string> argv{bin_dir() + "/bmm-payout"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("-c");
    argv.push_back(cfg);
    test::child_process p(argv, log);
    run_result r;
    r.code = p.wait(600000);
    r.out = test::read_text(log);
    return r;
}

node::rpc_endpoint node_b(const std::string& wallet) {
    return {st().setting("BMM_NODE2_RPC_URL"), st().setting("BMM_NODE_RPC_USER"), st().setting("BMM_NODE_RPC_PASSWORD"),
            wallet};
}

node::rpc_endpoint node_a(const std::string& wallet) {
    return {st().setting("BMM_NODE_RPC_URL"), st().setting("BMM_NODE_RPC_USER"), st().setting("BMM_NODE_RPC_PASSWORD"),
            wallet};
}

void mine(node::rpc_client& a, int n) {
    ASSERT_TRUE(a.call("generatetoaddress",
                       "[" + std::to_string(n) + "," + json::quoted(st().setting("BMM_POOL_ADDRESS")) + "]",
                       std::chrono::seconds(120)));
    for (int i = 0; i < 300; ++i) {
        if (st().cli("getbestblockhash") == st().cli("getbestblockhash", true)) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

TEST(payout_bench, execute_vs_sendmany) {
    int n = 2000;
    if (const char* e = std::getenv("BMM_PAYOUT_BENCH_N"); e && *e) {
        n = std::max(10, std::atoi(e));
    }
    const auto t_start = std::chrono::steady_clock::now();
    auto phase = [&](const char* what) { std::printf("  [%7.2f s] %s\n", seconds_since(t_start), what); };
    auto db = test::db();
    auto m = accounting::migrate(db, st().source_dir() + "/sql");
    ASSERT_TRUE(m) << m.error_message();
    const std::string cfg = st().dir() + "/bench.toml";
    std::ofstream(cfg) << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_PG_PORT") << "\nuser = \""
                       << st().setting("BMM_PG_USER") << "\"\ndbname = \"" << st().setting("BMM_PG_DB")
                       << "\"\npassword = \"" << st().setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \""
                       << st().source_dir()
                       << "/sql\"\n[redis]\nhost = \"127.0.0.1\"\nport = " << st().setting("BMM_REDIS_PORT")
                       << "\npassword_file = \"" << st().setting("BMM_REDIS_PASSWORD_FILE") << "\""
                       << "\n[node]\nurl = \"" << st().setting("BMM_NODE_RPC_URL") << "\"\nuser = \""
                       << st().setting("BMM_NODE_RPC_USER") << "\"\npassword = \""
                       << st().setting("BMM_NODE_RPC_PASSWORD")
                       << "\"\ncurrency = \"LTC\"\n[payout]\nwallet = \"pool\"\nconfirmations = 6\nfee_rate = 2\n";

    // N addresses of a key node B's wallet "recv" holds: derived from its
    // extended key (dumpwallet), since one getnewaddress costs the wallet a
    // flush (about 50 ms: 10,000 would take minutes).
    node::rpc_client b_root(node_b(""));
    ASSERT_TRUE(b_root.call("createwallet", "[\"recv\"]"));
    node::rpc_client b(node_b("recv"));
    const std::string dump = st().dir() + "/recv.dump";
    ASSERT_TRUE(b.call("dumpwallet", "[" + json::quoted(dump) + "]"));
    std::smatch km;
    const std::string dumped = test::read_text(dump);
    ASSERT_TRUE(std::regex_search(dumped, km, std::regex("extended private masterkey: (tprv[0-9A-Za-z]+)")));
    const std::string descriptor = "wpkh(" + km[1].str() + "/7/*)";
    auto info = b.call("getdescriptorinfo", "[" + json::quoted(descriptor) + "]");
    ASSERT_TRUE(info) << info.error_message();
    ASSERT_TRUE(std::regex_search(*info, km, std::regex("\"checksum\":\"([a-z0-9]+)\"")));
    auto derived = b.call("deriveaddresses",
                          "[" + json::quoted(descriptor + "#" + km[1].str()) + ",[0," + std::to_string(n - 1) + "]]",
                          std::chrono::seconds(300));
    ASSERT_TRUE(derived) << derived.error_message();
    phase("node B: addresses made");
    std::vector<std::string> addresses;
    const std::regex quoted_word("\"([a-z0-9]+)\"");
    for (std::sregex_iterator it(derived->begin(), derived->end(), quoted_word), end; it != end; ++it) {
        addresses.push_back((*it)[1]);
    }
    ASSERT_EQ(addresses.size(), static_cast<std::size_t>(n));
    // N accounts, each bound to one address, with a balance (set-based SQL).
    test::query("INSERT INTO accounts (name, kind) SELECT 'bench' || g, 'user' FROM generate_series(1, $1::int) g",
                {std::to_string(n)});
    pg::text_array arr;
    for (const auto& a : addresses) {
        arr.add(a);
    }
    test::query(
        "INSERT INTO wallets (account, currency, address, share_ppm) SELECT 'bench' || i, 'LTC', a, 1000000 "
        "FROM unnest($1::text[]) WITH ORDINALITY AS t(a, i)",
        {arr.str()});
    test::query(  // each wallet's history row, as the admin command writes it (sql/0025)
        "INSERT INTO wallet_history (account, action, currency, address, share_ppm, proof) SELECT 'bench' || i, "
        "'bind', 'LTC', a, 1000000, 'admin' FROM unnest($1::text[]) WITH ORDINALITY AS t(a, i)",
        {arr.str()});
    test::query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) SELECT "
        "'epoch:1:pps:LTC:bench' || g, 'pool:pps:LTC', 'user:bench' || g || ':available', 'LTC', 2000000 + g, "
        "'pps_credit', 'epoch:1' FROM generate_series(1, $1::int) g",
        {std::to_string(n)});
    test::query(
        "INSERT INTO ledger_transfers (id, debit, credit, currency, amount, kind, reference) VALUES "
        "('epoch:1:pps:LTC:fees', 'pool:pps:LTC', 'pool:fees:LTC', 'LTC', 100000000, 'pps_credit', 'epoch:1')");

    phase("accounts, wallets and balances stored");
    auto plan = payout(cfg, {"plan", "--coin", "LTC"});
    phase("planned");
    std::smatch mm;
    ASSERT_TRUE(std::regex_search(plan.out, mm, std::regex("batch ([0-9]+) planned"))) << plan.out.substr(0, 2000);
    const std::string id = mm[1];
    const std::string digest = scalar("SELECT digest FROM payout_batches WHERE id = $1", {id});
    ASSERT_EQ(payout(cfg, {"approve", id, "--by", "bench", "--digest", digest}).code, 0);

    phase("approved");
    const auto t_exec = std::chrono::steady_clock::now();
    auto e = payout(cfg, {"execute", id});
    const double exec_s = seconds_since(t_exec);
    std::printf("%s\n", e.out.c_str());
    ASSERT_EQ(e.code, 0) << e.out;
    const int txs = std::stoi(scalar("SELECT count(*) FROM payout_txs WHERE batch = $1", {id}));

    node::rpc_client a(node_a("pool"));
    mine(a, 6);
    const auto t_rec = std::chrono::steady_clock::now();
    auto r = payout(cfg, {"reconcile", id});
    const double rec_s = seconds_since(t_rec);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(scalar("SELECT state FROM payout_batches WHERE id = $1", {id}), "confirmed");

    phase("reconciled");
    // What each address received, exactly: the outputs of the confirmed
    // transactions as the node decodes them, summed per address.
    node_wallet w(node_a("pool"), "regtest");
    std::map<std::string, std::int64_t> paid;
    for (const auto& row : query("SELECT hex FROM payout_attempts WHERE batch = $1 AND state = 'confirmed'", {id})) {
        auto t = w.describe(row[0]);
        ASSERT_TRUE(t) << t.error_message();
        for (const auto& o : t->outputs) {
            paid[o.address] += o.amount;
        }
    }
    int wrong = 0;
    for (const auto& row :
         query("SELECT address, sum(amount)::text FROM payout_lines WHERE batch = $1 GROUP BY address", {id})) {
        wrong += std::to_string(paid[row[0]]) != row[1];
    }
    EXPECT_EQ(wrong, 0);
    EXPECT_TRUE(query("SELECT * FROM ledger_audit()").empty());
    phase("payments checked");
    // Baseline: sendmany with the same outputs, split the same way.
    double send_s = 0;
    for (int t = 1; t <= txs; ++t) {
        json::writer outputs;
        outputs.begin_object();
        for (const auto& row :
             query("SELECT address, amount FROM payout_lines WHERE batch = $1 AND tx = $2", {id, std::to_string(t)})) {
            outputs.key(row[0]).str(format_coins(std::stoll(row[1])));
        }
        outputs.end_object();
        const auto t0 = std::chrono::steady_clock::now();
        auto s = a.call("sendmany", "[\"\"," + outputs.text() + "]", std::chrono::seconds(600));
        send_s += seconds_since(t0);
        ASSERT_TRUE(s) << s.error_message();
    }
    mine(a, 1);
    std::printf("payout bench: %d recipients in %d transactions\n", n, txs);
    std::printf("  bmm-payout execute (plan approved -> all broadcast): %.2f s\n", exec_s);
    std::printf("  sendmany baseline (same outputs, same split):         %.2f s\n", send_s);
    std::printf("  ratio execute / sendmany: %.2f\n", send_s > 0 ? exec_s / send_s : 0.0);
    std::printf("  bmm-payout reconcile booking all %d lines: %.2f s\n", n, rec_s);
}

}  // namespace
}  // namespace bmm::payout

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment());
    return RUN_ALL_TESTS();
}
