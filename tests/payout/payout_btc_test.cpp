// BTC payouts through bcoin end to end: the real bmm-payout against the real
// stack with bcoin regtest ([payout.coins.BTC] node = "bcoin": no PSBT, the
// transaction is a raw one signed by bcoin's wallet). The coins are real:
// blocks are mined to the pool's bcoin wallet address and booked as mature
// BTC blocks of the ledger under their hashes (book_mature_block), then
// matured on the chain (100 more blocks), so the wallet spends those coinbases.
//  - plan, approve, execute killed right after the store (BMM_PAYOUT_FAULT
//    after_store): the node has not seen the transaction; execute again sends
//    the stored hex; 2 blocks; reconcile books it: the node's UTXO set holds
//    each planned address's output of exactly its amount, and all the pool
//    wallet's sends together pay each address exactly once; audit clean;
//  - a second batch killed right after the broadcast (after_broadcast): the
//    rerun finds it in bcoin's mempool (-27) and marks it broadcast, paid once;
//  - a bump is refused on bcoin (its mempool takes no replacements);
//  - a third batch whose marked transaction bcoin's wallet sent beside
//    bmm-payout (a lost store) is adopted, not paid again;
//  - a fourth batch dropped (abandoned in the wallet, bcoin restarted with an
//    empty mempool) is sent again by reconcile, then booked;
//  - wallet-check --coin BTC reads bcoin's wallet.

#include "../support/payout_db.hpp"

#include "bmm/payout/wallet_tx.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

namespace bmm::payout {
namespace {

using namespace bmm::test::payout;
using test::stack_environment;

stack_environment& st() { return stack_environment::get(); }

// A bcoin RPC call's result as JSON text; fails the test on an error.
std::string btc(const std::string& method, const std::string& params = "[]", bool wallet = false) {
    const std::string answer = st().btc_rpc(method, params, wallet);
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(answer).get(doc) || !doc["error"].is_null()) {
        ADD_FAILURE() << method << " " << params << ": " << answer.substr(0, 400);
        return "";
    }
    return std::string(simdjson::minify(doc["result"]));
}

bool btc_ok(const std::string& method, const std::string& params) {
    return st().btc_rpc(method, params).find("\"error\":null") != std::string::npos;
}

std::vector<std::string> mine(int n) {
    const std::string r =
        btc("generatetoaddress", "[" + std::to_string(n) + ",\"" + st().setting("BMM_BTC_POOL_ADDRESS") + "\"]");
    std::vector<std::string> hashes;
    simdjson::dom::parser p;
    simdjson::dom::array arr;
    if (!p.parse(r).get(arr)) {
        for (auto h : arr) {
            hashes.emplace_back(std::string_view(h));
        }
    }
    EXPECT_EQ(static_cast<int>(hashes.size()), n) << r;
    return hashes;
}

// The coinbase reward of a block (its first transaction's first output).
std::int64_t coinbase_value(const std::string& hash) {
    const std::string b = btc("getblock", "[\"" + hash + "\",true,true]");
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    simdjson::dom::array txs, vout;
    if (p.parse(b).get(doc) || doc["tx"].get(txs) || txs.size() == 0 || txs.at(0)["vout"].get(vout) ||
        vout.size() == 0) {
        ADD_FAILURE() << "getblock " << hash << ": " << b.substr(0, 300);
        return 0;
    }
    auto v = parse_coins(simdjson::minify(vout.at(0)["value"]));
    return v ? *v : 0;
}

// Waits (bounded) until bcoin's wallet sees `txid` at least `depth` deep:
// the wallet follows the chain a moment after generatetoaddress answers.
void wait_wallet_depth(const std::string& txid, int depth) {
    for (int i = 0; i < 300; ++i) {
        const std::string g = st().btc_rpc("gettransaction", "[\"" + txid + "\"]", true);
        simdjson::dom::parser p;
        std::int64_t conf = 0;
        if (!p.parse(g)["result"]["confirmations"].get(conf) && conf >= depth) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "bcoin's wallet does not see " << txid << " " << depth << " deep";
}

std::string hex_of(std::string_view text) {
    static const char* k_digits = "0123456789abcdef";
    std::string h;
    for (unsigned char c : text) {
        h += k_digits[c >> 4];
        h += k_digits[c & 15];
    }
    return h;
}

// Sends, through bcoin's wallet and beside bmm-payout, a transaction paying
// `outputs` with the OP_RETURN `marker` from one mature wallet coin (change
// back to the wallet, a fee of 10,000 satoshis). Its txid.
std::string send_marked_by_hand(const std::string& marker, const std::map<std::string, std::int64_t>& outputs) {
    std::int64_t total = 0;
    std::string outs;
    for (const auto& [address, amount] : outputs) {
        outs += "\"" + address + "\":" + format_coins(amount) + ",";
        total += amount;
    }
    const std::string coins = btc("listunspent", "[100]", true);
    simdjson::dom::parser p;
    simdjson::dom::array arr;
    std::string_view txid;
    std::int64_t vout = -1, value = 0;
    if (!p.parse(coins).get(arr)) {
        for (auto c : arr) {
            auto v = parse_coins(simdjson::minify(c["amount"]));
            bool spendable = false;
            if (!c["spendable"].get(spendable) && spendable && v && *v > total + 100000 && !c["txid"].get(txid) &&
                !c["vout"].get(vout)) {
                value = *v;
                break;
            }
        }
    }
    if (value == 0) {
        ADD_FAILURE() << "no wallet coin above " << total << ": " << coins.substr(0, 300);
        return "";
    }
    const std::string marker_hex = hex_of(marker);
    simdjson::dom::parser cp;
    std::string_view change;
    const std::string ca = btc("getrawchangeaddress", "[]", true);
    EXPECT_FALSE(cp.parse(ca).get(change)) << ca;
    outs += "\"data\":\"" + marker_hex + "\",\"" + std::string(change) + "\":" + format_coins(value - total - 10000);
    const std::string raw =
        btc("createrawtransaction",
            "[[{\"txid\":\"" + std::string(txid) + "\",\"vout\":" + std::to_string(vout) + "}],{" + outs + "}]");
    simdjson::dom::parser sp;
    std::string_view hex;
    const std::string signed_tx = btc("signrawtransactionwithwallet", "[" + raw + "]", true);
    EXPECT_FALSE(sp.parse(signed_tx)["hex"].get(hex)) << signed_tx;
    const std::string sent = btc("sendrawtransaction", "[\"" + std::string(hex) + "\"]");
    return sent.size() == 66 ? sent.substr(1, 64) : "";
}

// Stops the stack's bcoin (SIGTERM to the pid its start wrote: this test's
// own stack) and starts it again through deploy/stack.sh up.
void restart_bcoin() {
    std::ifstream f(st().dir() + "/bcoin/bcoin.pid");
    pid_t pid = 0;
    ASSERT_TRUE(f >> pid) << "no bcoin pid file";
    ASSERT_GT(pid, 1);
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    for (int i = 0; i < 300 && ::kill(pid, 0) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_NE(::kill(pid, 0), 0) << "bcoin did not stop";
    ASSERT_TRUE(st().up_again()) << "deploy/stack.sh up did not start bcoin again";
}

// A regtest address of nobody's wallet (bech32 "rb", bcoin's regtest prefix).
std::string outside_address(std::uint8_t n) {
    std::vector<std::uint8_t> program(20, 0x5a);
    program[0] = n;
    program[19] = static_cast<std::uint8_t>(::getpid());
    return segwit_v0_address("rb", program);
}

std::string config_path() {
    static const std::string path = write_config(
        "btc", "[coins.BTC]\nnode_url = \"" + st().setting("BMM_BTC_RPC_URL") + "\"\nnode_user = \"" +
                   st().setting("BMM_BTC_RPC_USER") + "\"\nnode_password = \"" + st().setting("BMM_BTC_RPC_PASSWORD") +
                   "\"\n[payout]\nconfirmations = 2\nfee_rate = 2\nmax_fee_rate = 100\n"
                   "[payout.coins.BTC]\nnode = \"bcoin\"\nwallet_url = \"" +
                   st().setting("BMM_BTC_WALLET_RPC_URL") + "\"\n");
    return path;
}

// `program` (bmm-payout, bmm-accountd) with `args` and this test's config.
run_result run_with_config(const std::string& program, std::vector<std::string> args,
                           const std::map<std::string, std::string>& env = {}) {
    static int n = 0;
    const std::string log = st().dir() + "/payout/btc-run-" + std::to_string(++n) + ".log";
    std::vector<std::string> argv{test::bin(program)};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--config");
    argv.push_back(config_path());
    test::child_process p(argv, log, env);
    run_result r;
    r.code = p.wait(120000);
    r.out = test::read_text(log);
    return r;
}

run_result payout(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    return run_with_config("bmm-payout", std::move(args), env);
}

std::string scalar(pg::connection& db, const std::string& sql, const std::vector<std::optional<std::string>>& p = {}) {
    auto r = p.empty() ? db.exec(sql) : db.exec(sql, p);
    if (!r || r->rows() < 1) {
        ADD_FAILURE() << sql << ": " << (r ? "no row" : r.error_message());
        return "";
    }
    return r->text(0, 0);
}

std::int64_t plan_and_approve(pg::connection& db) {
    auto p = payout({"plan", "--coin", "BTC"});
    std::smatch m;
    if (p.code != 0 || !std::regex_search(p.out, m, std::regex("batch ([0-9]+) planned"))) {
        ADD_FAILURE() << "plan failed: " << p.out;
        return 0;
    }
    const std::string id = m[1];
    const std::string digest = scalar(db, "SELECT digest FROM payout_batches WHERE id = $1", {id});
    auto a = payout({"approve", id, "--by", "test", "--digest", digest});
    EXPECT_EQ(a.code, 0) << a.out;
    return std::stoll(id);
}

std::map<std::string, std::int64_t> lines_by_address(pg::connection& db, std::int64_t id) {
    std::map<std::string, std::int64_t> out;
    auto r = db.exec("SELECT address, sum(amount)::text FROM payout_lines WHERE batch = $1 GROUP BY address",
                     {std::to_string(id)});
    EXPECT_TRUE(r) << r.error_message();
    for (int i = 0; r && i < r->rows(); ++i) {
        out[r->text(i, 0)] = std::stoll(r->text(i, 1));
    }
    return out;
}

struct decoded_output {
    std::string address;
    std::int64_t amount = 0;
};

// The outputs of a transaction, decoded by the node.
std::vector<decoded_output> outputs_of(const std::string& hex) {
    std::vector<decoded_output> out;
    const std::string d = btc("decoderawtransaction", "[\"" + hex + "\"]");
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    simdjson::dom::array vout;
    if (p.parse(d).get(doc) || doc["vout"].get(vout)) {
        ADD_FAILURE() << "decoderawtransaction: " << d.substr(0, 300);
        return out;
    }
    for (auto o : vout) {
        decoded_output x;
        auto v = parse_coins(simdjson::minify(o["value"]));
        x.amount = v ? *v : -1;
        simdjson::dom::array addrs;
        if (!o["scriptPubKey"]["addresses"].get(addrs) && addrs.size() > 0) {
            x.address = std::string(std::string_view(addrs.at(0)));
        }
        out.push_back(x);
    }
    return out;
}

// What every send of the pool's bcoin wallet (mempool and chain) pays to
// each address: a payout sent twice would show here.
std::map<std::string, std::int64_t> wallet_sends_by_address() {
    std::map<std::string, std::int64_t> paid;
    const std::string list = btc("listtransactions", "[\"*\",100000000]", true);
    simdjson::dom::parser p;
    simdjson::dom::array txs;
    if (p.parse(list).get(txs)) {
        ADD_FAILURE() << "listtransactions: " << list.substr(0, 300);
        return paid;
    }
    std::set<std::string> ids;
    for (auto t : txs) {
        std::string_view category, id;
        if (!t["category"].get(category) && category == "send" && !t["txid"].get(id)) {
            ids.emplace(id);
        }
    }
    for (const auto& id : ids) {
        simdjson::dom::parser gp;
        std::string_view hex;
        const std::string g = btc("gettransaction", "[\"" + id + "\"]", true);
        if (gp.parse(g)["hex"].get(hex)) {
            ADD_FAILURE() << "gettransaction " << id << ": " << g.substr(0, 300);
            continue;
        }
        for (const auto& o : outputs_of(std::string(hex))) {
            paid[o.address] += o.amount;
        }
    }
    return paid;
}

// The stored attempt of tx 1 of the batch: txid and hex.
std::pair<std::string, std::string> stored_attempt(pg::connection& db, std::int64_t id) {
    auto r = db.exec("SELECT txid, hex FROM payout_attempts WHERE batch = $1 AND tx = 1 ORDER BY attempt DESC LIMIT 1",
                     {std::to_string(id)});
    if (!r || r->rows() != 1) {
        ADD_FAILURE() << "no stored attempt for batch " << id;
        return {};
    }
    return {r->text(0, 0), r->text(0, 1)};
}

// Every planned address has, in the node's UTXO set (not the mempool), an
// output of the payout transaction with exactly its amount, at least 2 deep.
void expect_paid_on_chain(const std::string& txid, const std::string& hex,
                          const std::map<std::string, std::int64_t>& want) {
    const auto outs = outputs_of(hex);
    std::map<std::string, std::int64_t> found;
    for (std::size_t n = 0; n < outs.size(); ++n) {
        if (!want.contains(outs[n].address)) {
            continue;
        }
        const std::string u = btc("gettxout", "[\"" + txid + "\"," + std::to_string(n) + ",false]");
        simdjson::dom::parser p;
        simdjson::dom::element doc;
        std::int64_t conf = 0;
        ASSERT_FALSE(p.parse(u).get(doc) || doc.is_null() || doc["confirmations"].get(conf))
            << "gettxout " << txid << ":" << n << " = " << u;
        EXPECT_GE(conf, 2);
        auto v = parse_coins(simdjson::minify(doc["value"]));
        ASSERT_TRUE(v) << u;
        simdjson::dom::array addrs;
        ASSERT_FALSE(doc["scriptPubKey"]["addresses"].get(addrs)) << u;
        EXPECT_EQ(std::string(std::string_view(addrs.at(0))), outs[n].address);
        found[outs[n].address] += *v;
    }
    EXPECT_EQ(found, want);
}

// `bmm-accountd account bind NAME BTC ADDRESS`, the operator's way to give a
// BTC payout address, asks bcoin ([coins.BTC] node_url: [node] is the LTC
// node here) and stores the address; a Litecoin address is refused by bcoin
// and nothing is stored; a coin without a node is refused with what to set.
TEST(payout_btc, account_bind_checks_a_btc_address_on_bcoin) {
    auto db = fresh_schema(test_schema());
    add_account(db, "dave");
    auto accountd = [](std::vector<std::string> args) { return run_with_config("bmm-accountd", std::move(args)); };
    const std::string a = outside_address(9);
    auto ok = accountd({"account", "bind", "dave", "BTC", a});
    ASSERT_EQ(ok.code, 0) << ok.out;
    EXPECT_NE(ok.out.find("dave: BTC wallet " + a + " bound with 1000000 ppm"), std::string::npos) << ok.out;
    EXPECT_EQ(scalar(db, "SELECT address || ' ' || share_ppm FROM wallets WHERE account = 'dave' AND currency = 'BTC'"),
              a + " 1000000");

    auto ltc = accountd({"account", "bind", "dave", "BTC", "rltc1qzyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3p937dx"});
    EXPECT_NE(ltc.code, 0) << ltc.out;
    EXPECT_NE(ltc.out.find("is not a valid BTC address"), std::string::npos) << ltc.out;
    auto doge = accountd({"account", "bind", "dave", "DOGE", "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L"});
    EXPECT_NE(doge.code, 0) << doge.out;
    EXPECT_NE(doge.out.find("no node for DOGE is configured"), std::string::npos) << doge.out;
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM wallets WHERE account = 'dave'"), "1")
        << "a refused bind stores nothing";
}

TEST(payout_btc, bcoin_plan_execute_kill_reconcile_pays_once) {
    auto db = fresh_schema(test_schema());
    // Three real blocks of the pool's bcoin wallet, booked as the ledger
    // books mature blocks: each block's real reward, split among holders and
    // the pool's fees.
    const auto hashes = mine(5);
    ASSERT_EQ(hashes.size(), 5U);
    std::vector<std::int64_t> reward;
    for (const auto& h : hashes) {
        reward.push_back(coinbase_value(h));
        ASSERT_GE(reward.back(), 100000000 / 8) << h;  // regtest halves every 150 blocks
    }
    const std::int64_t alice0 = reward[0] * 2 / 5 + 12345, fees0 = reward[0] / 50, bob0 = reward[0] - alice0 - fees0;
    const std::int64_t carol1 = reward[1] / 7 + 1, fees1 = reward[1] - carol1;
    const std::int64_t alice2 = reward[2] * 3 / 5, fees2 = reward[2] - alice2;
    const std::int64_t carol3 = reward[3] / 3, fees3 = reward[3] - carol3;
    const std::int64_t alice4 = reward[4] / 4 + 7, fees4 = reward[4] - alice4;
    const std::string a1 = outside_address(1), a2 = outside_address(2), a3 = outside_address(3);
    for (const char* u : {"alice", "bob", "carol"}) {
        add_account(db, u);
    }
    bind_wallets(db, "alice", "BTC", {{a1, 1000000}});
    bind_wallets(db, "bob", "BTC", {{a2, 600000}, {a3, 400000}});
    bind_wallets(db, "carol", "BTC", {{a3, 1000000}});  // two holders, one address
    book_mature_block(db, "BTC", hashes[0],
                      {{"user:alice:available", alice0}, {"user:bob:available", bob0}, {"pool:fees:BTC", fees0}});
    book_mature_block(db, "BTC", hashes[1], {{"user:carol:available", carol1}, {"pool:fees:BTC", fees1}});
    mine(100);  // the three coinbases mature (bcoin: 100 confirmations)

    const std::int64_t id = plan_and_approve(db);
    ASSERT_GT(id, 0);
    const auto want = lines_by_address(db, id);
    ASSERT_EQ(want.size(), 3U);
    EXPECT_EQ(want.at(a1), alice0);
    EXPECT_EQ(want.at(a2) + want.at(a3), bob0 + carol1);

    // Killed right after the store: the transaction is signed and stored,
    // the node has not seen it.
    auto killed = payout({"execute", std::to_string(id)}, {{"BMM_PAYOUT_FAULT", "after_store"}});
    EXPECT_NE(killed.code, 0) << killed.out;
    EXPECT_NE(killed.out.find("fault point after_store"), std::string::npos) << killed.out;
    const auto [txid, hex] = stored_attempt(db, id);
    ASSERT_EQ(txid.size(), 64U);
    EXPECT_EQ(
        scalar(db, "SELECT state FROM payout_attempts WHERE batch = $1 AND txid = $2", {std::to_string(id), txid}),
        "stored");
    EXPECT_FALSE(btc_ok("getmempoolentry", "[\"" + txid + "\"]")) << "broadcast before the store committed";
    // The stored transaction pays the plan exactly, one marker, no replaceable inputs.
    {
        std::map<std::string, std::int64_t> planned;
        int markers = 0;
        for (const auto& o : outputs_of(hex)) {
            if (want.contains(o.address)) {
                planned[o.address] += o.amount;
            }
            markers += o.address.empty() && o.amount == 0;
        }
        EXPECT_EQ(planned, want);
        EXPECT_EQ(markers, 1);
        EXPECT_NE(hex.find(marker_script_hex(marker_text(id, 1))), std::string::npos)
            << "the marker bmm:" << id << ":1";
    }

    auto rerun = payout({"execute", std::to_string(id)});
    EXPECT_EQ(rerun.code, 0) << rerun.out;
    EXPECT_NE(rerun.out.find(txid + " broadcast"), std::string::npos) << rerun.out;
    EXPECT_TRUE(btc_ok("getmempoolentry", "[\"" + txid + "\"]"));

    auto early = payout({"reconcile", std::to_string(id)});
    EXPECT_EQ(early.code, 0) << early.out;
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_batches WHERE id = $1", {std::to_string(id)}), "broadcast");
    mine(2);
    wait_wallet_depth(txid, 2);
    auto rec = payout({"reconcile", std::to_string(id)});
    EXPECT_EQ(rec.code, 0) << rec.out;
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_batches WHERE id = $1", {std::to_string(id)}), "confirmed");

    expect_paid_on_chain(txid, hex, want);
    const auto paid = wallet_sends_by_address();
    for (const auto& [address, amount] : want) {
        EXPECT_EQ(paid.contains(address) ? paid.at(address) : 0, amount) << address << " paid more or less than once";
    }
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    EXPECT_EQ(balance(db, "payout:in-flight", "BTC"), "0");
    EXPECT_EQ(balance(db, "user:alice:available", "BTC"), "0");
    const std::string fee = scalar(db, "SELECT fee::text FROM payout_attempts WHERE txid = $1", {txid});
    EXPECT_EQ(balance(db, "pool:fees:BTC", "BTC"), std::to_string(fees0 + fees1 - std::stoll(fee)));
    EXPECT_LE(std::stoll(fee), 100 * 1000);  // max_fee_rate 100 sat/vB on a small transaction

    // A second batch, killed right after the broadcast: the rerun finds it in
    // bcoin's mempool and marks it broadcast; nothing is sent twice.
    book_mature_block(db, "BTC", hashes[2], {{"user:alice:available", alice2}, {"pool:fees:BTC", fees2}});
    const std::int64_t id2 = plan_and_approve(db);
    ASSERT_GT(id2, id);
    auto k2 = payout({"execute", std::to_string(id2)}, {{"BMM_PAYOUT_FAULT", "after_broadcast"}});
    EXPECT_NE(k2.code, 0) << k2.out;
    const auto [txid2, hex2] = stored_attempt(db, id2);
    EXPECT_TRUE(btc_ok("getmempoolentry", "[\"" + txid2 + "\"]"));
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_attempts WHERE txid = $1", {txid2}), "stored");
    auto r2 = payout({"execute", std::to_string(id2)});
    EXPECT_EQ(r2.code, 0) << r2.out;
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_attempts WHERE txid = $1", {txid2}), "broadcast");
    auto bump2 = payout({"bump", std::to_string(id2), "--fee-rate", "5"});
    EXPECT_NE(bump2.code, 0) << bump2.out;
    EXPECT_NE(bump2.out.find("no replacements"), std::string::npos) << bump2.out;
    mine(2);
    wait_wallet_depth(txid2, 2);
    auto rec2 = payout({"reconcile"});
    EXPECT_EQ(rec2.code, 0) << rec2.out;
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_batches WHERE id = $1", {std::to_string(id2)}), "confirmed");
    expect_paid_on_chain(txid2, hex2, {{a1, alice2}});
    const auto paid2 = wallet_sends_by_address();
    EXPECT_EQ(paid2.contains(a1) ? paid2.at(a1) : 0, alice0 + alice2);
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // A third batch: a transaction carrying its marker, made and sent by
    // bcoin's wallet beside bmm-payout (as if a run had lost its store), is
    // adopted by execute: nothing else is built, the lines are paid once.
    book_mature_block(db, "BTC", hashes[3], {{"user:carol:available", carol3}, {"pool:fees:BTC", fees3}});
    const std::int64_t id3 = plan_and_approve(db);
    ASSERT_GT(id3, id2);
    const auto want3 = lines_by_address(db, id3);
    ASSERT_EQ(want3.size(), 1U);
    const std::string hand = send_marked_by_hand("bmm:" + std::to_string(id3) + ":1", want3);
    ASSERT_EQ(hand.size(), 64U);
    wait_wallet_depth(hand, 0);  // the wallet has taken it in
    auto e3 = payout({"execute", std::to_string(id3)});
    EXPECT_EQ(e3.code, 0) << e3.out;
    EXPECT_NE(e3.out.find(hand + " with marker bmm:" + std::to_string(id3) + ":1: adopted"), std::string::npos)
        << e3.out;
    EXPECT_EQ(stored_attempt(db, id3).first, hand);
    mine(2);
    wait_wallet_depth(hand, 2);
    auto rec3 = payout({"reconcile", std::to_string(id3)});
    EXPECT_EQ(rec3.code, 0) << rec3.out;
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_batches WHERE id = $1", {std::to_string(id3)}), "confirmed");
    expect_paid_on_chain(hand, stored_attempt(db, id3).second, want3);
    const auto paid3 = wallet_sends_by_address();
    EXPECT_EQ(paid3.contains(a3) ? paid3.at(a3) : 0, want.at(a3) + want3.at(a3));
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // A fourth batch, dropped: sent, then gone from the wallet
    // (abandontransaction) and from the mempool (bcoin restarted: its mempool
    // is not kept); reconcile finds it nowhere and sends the stored hex again.
    book_mature_block(db, "BTC", hashes[4], {{"user:alice:available", alice4}, {"pool:fees:BTC", fees4}});
    const std::int64_t id4 = plan_and_approve(db);
    ASSERT_GT(id4, id3);
    auto e4 = payout({"execute", std::to_string(id4)});
    EXPECT_EQ(e4.code, 0) << e4.out;
    const auto [txid4, hex4] = stored_attempt(db, id4);
    wait_wallet_depth(txid4, 0);
    EXPECT_EQ(btc("abandontransaction", "[\"" + txid4 + "\"]", true), "null");
    restart_bcoin();
    EXPECT_FALSE(btc_ok("getmempoolentry", "[\"" + txid4 + "\"]")) << "still in the mempool after the restart";
    auto rec4 = payout({"reconcile", std::to_string(id4)});
    EXPECT_EQ(rec4.code, 0) << rec4.out;
    EXPECT_NE(rec4.out.find(txid4 + " was in neither mempool nor chain: sent again"), std::string::npos) << rec4.out;
    EXPECT_TRUE(btc_ok("getmempoolentry", "[\"" + txid4 + "\"]"));
    mine(2);
    wait_wallet_depth(txid4, 2);
    auto rec4b = payout({"reconcile", std::to_string(id4)});
    EXPECT_EQ(rec4b.code, 0) << rec4b.out;
    EXPECT_EQ(scalar(db, "SELECT state FROM payout_batches WHERE id = $1", {std::to_string(id4)}), "confirmed");
    expect_paid_on_chain(txid4, hex4, {{a1, alice4}});
    const auto paid4 = wallet_sends_by_address();
    EXPECT_EQ(paid4.contains(a1) ? paid4.at(a1) : 0, alice0 + alice2 + alice4);
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    auto check = payout({"wallet-check", "--coin", "BTC"});
    EXPECT_EQ(check.code, 0) << check.out;
    EXPECT_NE(check.out.find("wallet primary:"), std::string::npos) << check.out;
}

}  // namespace
}  // namespace bmm::payout

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment(/*activate_mweb=*/true, /*with_bcoin=*/true));
    return RUN_ALL_TESTS();
}
