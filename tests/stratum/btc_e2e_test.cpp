// Bitcoin for real (issue 14): bmm-stratum with algorithm sha256d against
// bcoin, a full node with its own consensus code, in regtest (the stack
// starts it and mines past segwit activation). bmm-miner --algo sha256d with
// version rolling mines through the pool, and the node accepts the blocks:
//  - its height grows; each new block's coinbase starts with the BIP34 height,
//    carries the pool's tag, pays the pool's address and commits to the
//    witnesses (the node checks all of it before it takes the block);
//  - a segwit transaction waiting in the node's mempool is mined into a
//    block made by the pool, so the witness commitment over a real witness is
//    checked by the node;
//  - bmm-accountd ([coins.BTC] on bcoin) books the pool's BTC blocks, and a
//    block then invalidated on bcoin is orphaned and its rewards reversed by
//    new transfers; the audit is clean and the pool mines on.
// In regtest nearly every share also meets the network target.

#include "../support/pool_process.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/stack_pg.hpp"
#include "../support/wait.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace bmm::stratum {
namespace {

using test::stack_environment;

test::pool_process* g_pool = nullptr;
std::int64_t g_genesis = 0;                            // epoch 0 of the ledger test starts before the first share
const std::string k_tag_hex = "2f424d4d20706f6f6c2f";  // "/BMM pool/"

// The result of a bcoin RPC call as JSON text; fails the test on an error.
std::string btc(const std::string& method, const std::string& params = "[]", bool wallet = false) {
    const std::string answer = stack_environment::get().btc_rpc(method, params, wallet);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(answer).get(doc) || !doc["error"].is_null()) {
        ADD_FAILURE() << "bcoin " << method << " " << params << ": " << answer;
        return "";
    }
    return simdjson::minify(doc["result"]);
}

// A string result without its quotes.
std::string btc_string(const std::string& method, const std::string& params = "[]", bool wallet = false) {
    const std::string r = btc(method, params, wallet);
    return r.size() >= 2 && r.front() == '"' ? r.substr(1, r.size() - 2) : r;
}

long block_count() { return std::stol(btc("getblockcount")); }

// BIP34: the coinbase script starts with the height as a minimal script number push.
std::string bip34_push_hex(long height) {
    std::vector<unsigned char> n;
    for (long h = height; h > 0; h >>= 8) {
        n.push_back(static_cast<unsigned char>(h & 0xff));
    }
    if (!n.empty() && (n.back() & 0x80)) {
        n.push_back(0);
    }
    static const char* digits = "0123456789abcdef";
    std::string out;
    auto put = [&](unsigned char b) {
        out += digits[b >> 4];
        out += digits[b & 15];
    };
    put(static_cast<unsigned char>(n.size()));
    for (unsigned char b : n) {
        put(b);
    }
    return out;
}

// Runs bmm-miner --algo sha256d --version-rolling until the node reaches
// `target_height` or `done` says so. Bounded: 8 rounds of at most 60 s.
template <class Done>
void mine_until(long target_height, const std::string& user, Done done) {
    const std::string log = g_pool->dir + "/miner-" + user + ".log";
    for (int round = 0; round < 8 && (block_count() < target_height || !done()); ++round) {
        test::child_process miner(
            {test::bin("bmm-miner"), "--url", "stratum+tcp://127.0.0.1:" + std::to_string(g_pool->port), "--user", user,
             "--algo", "sha256d", "--version-rolling", "--shares", "3", "--seconds", "60", "--quiet"},
            log);
        ASSERT_EQ(miner.wait(90000), 0) << test::read_text(log);
        const std::string text = test::read_text(log);
        const auto at = text.rfind("accepted ");
        ASSERT_NE(at, std::string::npos) << text;
        EXPECT_GE(std::stoi(text.substr(at + 9)), 3) << text;
    }
}

// Block `height` with its transactions (bcoin: getblock hash verbose details).
simdjson::dom::element block_at(simdjson::dom::parser& parser, long height, std::string& keep) {
    const std::string hash = btc_string("getblockhash", "[" + std::to_string(height) + "]");
    keep = btc("getblock", "[\"" + hash + "\",true,true]");
    simdjson::dom::element b;
    EXPECT_EQ(parser.parse(keep).get(b), simdjson::SUCCESS) << keep;
    return b;
}

std::string pool_script() {
    const std::string info =
        btc("validateaddress", "[\"" + stack_environment::get().setting("BMM_BTC_POOL_ADDRESS") + "\"]");
    simdjson::dom::parser parser;
    std::string_view script;
    EXPECT_EQ(parser.parse(info)["scriptPubKey"].get(script), simdjson::SUCCESS) << info;
    return std::string(script);
}

struct coinbase_facts {
    bool bip34 = false, tagged = false, pays_pool = false, witness_commitment = false;
};

coinbase_facts check_coinbase(simdjson::dom::element block, long height, const std::string& script) {
    coinbase_facts f;
    simdjson::dom::element cb = block["tx"].at(0);
    std::string_view sig;
    if (cb["vin"].at(0)["coinbase"].get(sig) == simdjson::SUCCESS) {
        f.bip34 = sig.substr(0, bip34_push_hex(height).size()) == bip34_push_hex(height);
        f.tagged = sig.find(k_tag_hex) != std::string_view::npos;
    }
    for (simdjson::dom::element out : cb["vout"].get_array()) {
        std::string_view hex;
        if (out["scriptPubKey"]["hex"].get(hex) != simdjson::SUCCESS) {
            continue;
        }
        if (hex == script) {
            f.pays_pool = true;
        }
        if (hex.substr(0, 12) == "6a24aa21a9ed") {
            f.witness_commitment = true;  // BIP141 commitment
        }
    }
    return f;
}

class btc_e2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g_genesis =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count() -
            1;
        g_pool = new test::pool_process;
        test::pool_options o;
        o.name = "btc-pool";
        o.stream = "bmm:shares:btc-e2e";
        o.instance_id = 12;
        o.btc = true;
        o.ports = {test::free_port_near(20000)};
        // Difficulty 0.0001 (about 430 000 sha256d hashes a share): bcoin's
        // regtest target is easier still, so every share is a block.
        o.port_sections = "[[port]]\nhost = \"127.0.0.1\"\nport = " + std::to_string(o.ports[0]) +
                          "\nstart_difficulty = 0.0001\nmin_difficulty = 0.0001\nmax_difficulty = 1000\n"
                          "target_share_seconds = 5\nretarget_seconds = 600\n";
        g_pool->start(o);
    }
    static void TearDownTestSuite() {
        if (g_pool) {
            g_pool->stop();
        }
        delete g_pool;
        g_pool = nullptr;
    }
    void TearDown() override {
        if (HasFailure() && g_pool) {
            std::cerr << "---- bmm-stratum log (tail) ----\n" << g_pool->log_tail() << "\n";
        }
    }
};

TEST_F(btc_e2e, the_stack_runs_bcoin_past_segwit_activation) {
    const std::string info = btc("getblockchaininfo");
    EXPECT_NE(info.find("\"chain\":\"regtest\""), std::string::npos) << info;
    EXPECT_NE(info.find("\"segwit\":{\"status\":\"active\""), std::string::npos) << info;
    EXPECT_GE(block_count(), 432);
    // The pool's address is the wallet's own, bech32 on bcoin's regtest (rb1q...).
    const std::string addr = stack_environment::get().setting("BMM_BTC_POOL_ADDRESS");
    EXPECT_EQ(addr.substr(0, 4), "rb1q") << addr;
    EXPECT_EQ(btc_string("getaccount", "[\"" + addr + "\"]", /*wallet=*/true), "default");
}

TEST_F(btc_e2e, bmm_miner_mines_sha256d_blocks_into_bcoin_paying_the_pool) {
    const long before = block_count();
    mine_until(before + 3, "asic.rig1", [] { return true; });
    const long after = block_count();
    ASSERT_GE(after - before, 3) << "bcoin's height grew by " << (after - before);
    const std::string script = pool_script();
    int ours = 0;
    for (long h = before + 1; h <= after; ++h) {
        simdjson::dom::parser parser;
        std::string keep;
        const auto f = check_coinbase(block_at(parser, h, keep), h, script);
        EXPECT_TRUE(f.bip34) << "block " << h << ": no BIP34 height: " << keep.substr(0, 600);
        EXPECT_TRUE(f.witness_commitment) << "block " << h << ": no witness commitment";
        if (f.tagged && f.pays_pool) {
            ++ours;
        }
    }
    EXPECT_EQ(ours, after - before) << "blocks not made by the pool among " << before + 1 << ".." << after;
}

TEST_F(btc_e2e, a_segwit_transaction_in_the_mempool_is_mined_through_the_pool) {
    // Spend the pool wallet's segwit coinbase outputs to a new bech32 address:
    // a transaction with witnesses (marker 00 flag 01 after the version).
    const std::string to = btc_string("getnewaddress", "[]", /*wallet=*/true);
    ASSERT_EQ(to.substr(0, 4), "rb1q") << to;
    const std::string txid = btc_string("sendtoaddress", "[\"" + to + "\",1.25]", /*wallet=*/true);
    ASSERT_EQ(txid.size(), 64u) << txid;
    const std::string raw = btc_string("getrawtransaction", "[\"" + txid + "\"]");
    ASSERT_EQ(raw.substr(8, 4), "0001") << "not a segwit transaction: " << raw;
    ASSERT_NE(btc("getrawmempool").find(txid), std::string::npos);
    g_pool->proc->signal(SIGUSR1);  // a fresh template with the transaction
    std::this_thread::sleep_for(std::chrono::milliseconds(500));

    const long before = block_count();
    auto confirmed = [&] { return btc("getrawmempool").find(txid) == std::string::npos; };
    mine_until(before + 1, "asic.rig2", confirmed);
    ASSERT_TRUE(confirmed()) << "the transaction is still in the mempool after mining";

    // Find it in the new blocks: in a block the pool made, with the commitment.
    const std::string script = pool_script();
    bool found = false;
    for (long h = before + 1; h <= block_count() && !found; ++h) {
        simdjson::dom::parser parser;
        std::string keep;
        simdjson::dom::element b = block_at(parser, h, keep);
        for (simdjson::dom::element tx : b["tx"].get_array()) {
            std::string_view id;
            if (tx["txid"].get(id) == simdjson::SUCCESS && id == txid) {
                found = true;
            }
        }
        if (!found) {
            continue;
        }
        const auto f = check_coinbase(b, h, script);
        EXPECT_TRUE(f.tagged && f.pays_pool) << "block " << h << " with the transaction was not made by the pool";
        EXPECT_TRUE(f.witness_commitment) << "block " << h << " has no witness commitment";
        EXPECT_TRUE(f.bip34) << "block " << h;
    }
    EXPECT_TRUE(found) << "transaction " << txid << " is in no block from " << before + 1;
}

// bmm-accountd on the pool's stream (all of it, from this binary's start): epochs of 3 s, [coins.BTC] followed on
// bcoin ([node], for address checks, is the stack's litecoind).
std::string write_accountd_config(const std::string& stream) {
    auto& st = stack_environment::get();
    const std::string dir = st.dir() + "/accountd";
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/btc.toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_PG_PORT") << "\nuser = \""
      << st.setting("BMM_PG_USER") << "\"\ndbname = \"" << st.setting("BMM_PG_DB") << "\"\npassword = \""
      << st.setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st.source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st.setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\nstream = \"" << stream << "\"\ngroup = \"accountd\"\nconsumer = \"one\"\n"
      << "[node]\nurl = \"" << st.setting("BMM_NODE_RPC_URL") << "\"\nuser = \"" << st.setting("BMM_NODE_RPC_USER")
      << "\"\npassword = \"" << st.setting("BMM_NODE_RPC_PASSWORD") << "\"\ncurrency = \"LTC\"\n"
      << "[ingest]\nbatch_size = 500\nblock_ms = 100\n"
      << "[epochs]\nlength_seconds = 3\ngenesis = " << g_genesis << "\nclose_grace_ms = 1500\nstep_ms = 200\n"
      << "[coins.BTC]\nfee_ppm = 10000\nholders_ppm = 200000\nscheme = \"pp\"\nmaturity = 100\norphan_readings = "
         "1\nnode_url = \""
      << st.setting("BMM_BTC_RPC_URL") << "\"\nnode_user = \"" << st.setting("BMM_BTC_RPC_USER")
      << "\"\nnode_password = \"" << st.setting("BMM_BTC_RPC_PASSWORD") << "\"\n"
      << "[log]\nlevel = \"info\"\n";
    return path;
}

TEST_F(btc_e2e, a_pool_block_invalidated_on_bcoin_is_reversed_in_the_ledger) {
    using test::scalar;
    auto& st = stack_environment::get();
    const std::string cfg = write_accountd_config(g_pool->stream);
    const std::string log = st.dir() + "/accountd/btc-run.log";
    {
        test::child_process m({test::bin("bmm-accountd"), "migrate", "--config", cfg}, st.dir() + "/accountd/m.log");
        ASSERT_EQ(m.wait(60000), 0) << test::read_text(st.dir() + "/accountd/m.log");
    }
    test::child_process acc({test::bin("bmm-accountd"), "run", "--config", cfg}, log);

    // Two more pool blocks; the newer one will be invalidated.
    const long before = block_count();
    mine_until(before + 2, "asic.rig3", [] { return true; });
    const long tip = block_count();
    ASSERT_GE(tip, before + 2);
    const std::string victim = btc_string("getblockhash", "[" + std::to_string(tip) + "]");
    const std::string kept = btc_string("getblockhash", "[" + std::to_string(tip - 1) + "]");
    // Booked: recorded from the stream, and its reward split at its epoch's close.
    ASSERT_TRUE(test::wait_until(
        [&] {
            return scalar("SELECT count(*) FROM ledger_transfers WHERE reference = $1", {"block:" + victim}) != "0" &&
                   scalar("SELECT count(*) FROM ledger_transfers WHERE reference = $1", {"block:" + kept}) != "0";
        },
        60))
        << test::read_text(log);
    EXPECT_EQ(scalar("SELECT coin || ' ' || status FROM blocks WHERE hash = $1", {victim}), "BTC immature");
    const std::string reward = scalar("SELECT reward FROM blocks WHERE hash = $1", {victim});
    EXPECT_EQ(reward, "1250000000") << "bcoin regtest's subsidy at height " << tip;

    // Invalidated on bcoin: the tracker reads confirmations -1 and reverses it.
    ASSERT_EQ(btc("invalidateblock", "[\"" + victim + "\"]"), "null");
    ASSERT_EQ(block_count(), tip - 1);
    ASSERT_NE(btc("getblockheader", "[\"" + victim + "\"]").find("\"confirmations\":-1"), std::string::npos);
    ASSERT_TRUE(test::wait_until(
        [&] { return scalar("SELECT status FROM blocks WHERE hash = $1", {victim}) == "orphaned"; }, 60))
        << test::read_text(log);
    EXPECT_EQ(scalar("SELECT sum(amount) FROM ledger_transfers WHERE kind = 'block_orphan' AND reference = $1",
                     {"block:" + victim}),
              reward);
    EXPECT_EQ(scalar("SELECT status FROM blocks WHERE hash = $1", {kept}), "immature");
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger_transfers WHERE kind = 'block_orphan' AND reference = $1",
                     {"block:" + kept}),
              "0");

    // The pool mines on from the new tip, and the audit is clean.
    mine_until(tip + 1, "asic.rig4", [] { return true; });
    EXPECT_GE(block_count(), tip + 1);
    EXPECT_EQ(acc.stop(SIGTERM, 20000), 0) << test::read_text(log);
    test::child_process audit({test::bin("bmm-accountd"), "audit", "--config", cfg}, st.dir() + "/accountd/audit.log");
    EXPECT_EQ(audit.wait(60000), 0) << test::read_text(st.dir() + "/accountd/audit.log");
}

}  // namespace
}  // namespace bmm::stratum

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment(/*activate_mweb=*/false, /*with_bcoin=*/true));
    return RUN_ALL_TESTS();
}
