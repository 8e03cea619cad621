// bmm-payout end to end: the real program against the real stack
// (PostgreSQL, litecoind regtest for address checks). Each test has a schema
// of its own with every migration; balances are booked the way the ledger
// books them, and ledger_audit() (with 0016's payout checks) is clean after
// every step.
#include "bmm/accounting/deposit_store.hpp"
#include "bmm/accounting/rules.hpp"
#include "bmm/crypto/keccak.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"
#include "bmm/pg/locks.hpp"

#include "../support/payout_db.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <regex>
#include <set>

namespace {

namespace acc = bmm::accounting;
using namespace bmm::test::payout;
using bmm::test::stack_environment;

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// A new address of the node wallet "pool" of `type` (bech32, legacy, p2sh-segwit, mweb).
std::string node_address(const std::string& type) {
    const std::string a = trim(stack_environment::get().cli("-rpcwallet=pool getnewaddress \"\" " + type));
    if (a.empty() || a.find(' ') != std::string::npos) {
        throw std::runtime_error("getnewaddress " + type + ": " + a);
    }
    return a;
}

std::string sha256_text(const std::string& s) {
    return bmm::to_hex(bmm::crypto::sha256_once(
        std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(s.data()), s.size())));
}

std::string read_file(const std::string& path) { return bmm::test::read_text(path); }

std::string match(const std::string& text, const std::string& re) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(re)) || m.size() < 2) {
        return "";
    }
    return m[1];
}

struct shown_line {
    int line;
    std::string account, address, amount, state;
};
struct shown {
    std::string state, digest, total, export_sha256, settle_txid, settled_by, approved_by;
    std::vector<shown_line> lines;
};

// `bmm-payout show BATCH --json`, read back.
shown show(const std::string& cfg, const std::string& id) {
    auto r = run_payout({"show", id, "-c", cfg, "--json"});
    if (r.code != 0) {
        throw std::runtime_error("show " + id + ": " + r.out);
    }
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(r.out);
    shown s;
    auto text = [](simdjson::dom::element e) {
        return e.is_null() ? std::string() : std::string(e.get_string().value());
    };
    s.state = text(doc["state"]);
    s.digest = text(doc["digest"]);
    s.total = text(doc["total"]);
    s.export_sha256 = text(doc["export_sha256"]);
    s.settle_txid = text(doc["settle_txid"]);
    s.settled_by = text(doc["settled_by"]);
    s.approved_by = text(doc["approved_by"]);
    for (simdjson::dom::element l : doc["lines"].get_array()) {
        s.lines.push_back({static_cast<int>(l["line"].get_int64().value()), text(l["account"]), text(l["address"]),
                           text(l["amount"]), text(l["state"])});
    }
    return s;
}

// What a refused command must leave as it was: every payout row and the ledger.
std::string snapshot(bmm::pg::connection& db) {
    auto r = db.exec(
        "SELECT (SELECT count(*) FROM ledger_transfers) || '|' || "
        "coalesce((SELECT string_agg(id || state || coalesce(approved_by, '') || coalesce(export_sha256, '') || "
        "coalesce(settle_txid, ''), ',' ORDER BY id) FROM payout_batches), '') || '|' || "
        "coalesce((SELECT string_agg(batch || ':' || line || state, ',' ORDER BY batch, line) FROM payout_lines), '')");
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    return r->text(0, 0);
}

// One line on stderr for a refusal: "bmm-payout: ...".
void expect_refused(const run_result& r, const std::string& part) {
    EXPECT_NE(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("bmm-payout: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(part), std::string::npos) << "expected \"" << part << "\" in: " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line: " << r.out;
}

const acc::amount k_bmm = acc::amount("1000000000000000000");

TEST(payout, bmm_plan_approve_export_settle) {
    auto db = fresh_schema(test_schema());
    const std::string cfg = write_config("bmm", "[payout.min_amount]\nBMM = \"1000000000000000000\"\n");
    book_premine(db);
    for (const char* a : {"foundation:airdrop", "foundation:developers", "foundation:ecosystem", "carol", "dan"}) {
        add_account(db, a);
    }
    const std::string eco1 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    const std::string eco2_lower = eth_address(1);
    const std::string eco2 = *bmm::crypto::check_eth_address(eco2_lower);
    ASSERT_NE(eco2, eco2_lower) << "the checksummed spelling has capitals";
    bind_wallets(db, "foundation:ecosystem", "BMM", {{eco1, 700000}, {eco2_lower, 300000}});
    bind_wallets(db, "foundation:developers", "BMM", {{eth_address(2), 1000000}});
    bind_wallets(db, "carol", "BMM", {{eth_address(3), 1000000}});
    bind_wallets(db, "dan", "BMM", {{eth_address(4), 1000000}});
    book_bmm_emission(db, {{"carol", k_bmm * 25 / 2}, {"dan", k_bmm / 2}});
    ASSERT_TRUE(audit(db).empty());

    auto plan = run_payout({"plan", "-c", cfg, "--coin", "BMM"});
    ASSERT_EQ(plan.code, 0) << plan.out;
    const std::string id = match(plan.out, "batch (\\d+) planned");
    const std::string digest = match(plan.out, "\ndigest ([0-9a-f]{64})\n");
    ASSERT_FALSE(id.empty()) << plan.out;
    ASSERT_FALSE(digest.empty()) << plan.out;
    EXPECT_NE(plan.out.find("skipped\tfoundation:airdrop\t27800000000000000000000000\tno BMM wallet bound"),
              std::string::npos)
        << plan.out;
    EXPECT_EQ(plan.out.find("dan"), std::string::npos) << "0.5 BMM is below the 1 BMM threshold: " << plan.out;

    shown s = show(cfg, id);
    EXPECT_EQ(s.state, "planned");
    EXPECT_EQ(s.digest, digest);
    ASSERT_EQ(s.lines.size(), 4u);
    // By holder, then address; the ecosystem's 83.4 M BMM split 70/30 exactly.
    const acc::amount eco = acc::amount("83400000000000000000000000");
    std::vector<shown_line> want = {
        {1, "carol", *bmm::crypto::check_eth_address(eth_address(3)), "12500000000000000000", "open"},
        {2, "foundation:developers", *bmm::crypto::check_eth_address(eth_address(2)), "27800000000000000000000000",
         "open"},
    };
    // A holder's lines go by the address as bound (bytewise).
    std::vector<std::pair<std::string, acc::amount>> eco_parts = {{eco1, eco * 7 / 10}, {eco2_lower, eco * 3 / 10}};
    std::sort(eco_parts.begin(), eco_parts.end());
    for (const auto& [a, v] : eco_parts) {
        want.push_back({static_cast<int>(want.size()) + 1, "foundation:ecosystem", *bmm::crypto::check_eth_address(a),
                        acc::to_decimal(v), "open"});
    }
    std::string canonical = "batch:" + id + "\ncurrency:BMM\n";
    acc::amount total = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(s.lines[i].line, want[i].line);
        EXPECT_EQ(s.lines[i].account, want[i].account);
        EXPECT_EQ(s.lines[i].address, want[i].address);
        EXPECT_EQ(s.lines[i].amount, want[i].amount);
        EXPECT_EQ(s.lines[i].state, "open");
        canonical +=
            std::to_string(want[i].line) + "," + want[i].account + "," + want[i].address + "," + want[i].amount + "\n";
        total += acc::amount(want[i].amount);
    }
    EXPECT_EQ(digest, sha256_text(canonical)) << "the digest is the SHA-256 of the canonical line list";
    EXPECT_EQ(s.total, acc::to_decimal(total));
    EXPECT_EQ(balance(db, "payout:in-flight", "BMM"), acc::to_decimal(total));
    EXPECT_EQ(balance(db, "foundation:ecosystem", "BMM"), "0");
    EXPECT_EQ(balance(db, "user:carol:available", "BMM"), "0");
    EXPECT_EQ(balance(db, "user:dan:available", "BMM"), acc::to_decimal(k_bmm / 2));
    EXPECT_EQ(balance(db, "foundation:airdrop", "BMM"), "27800000000000000000000000");
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // Refusals change nothing.
    std::string before = snapshot(db);
    std::string wrong = digest;
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    expect_refused(run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", wrong}),
                   "is not the batch's digest");
    expect_refused(run_payout({"export", id, "-c", cfg, "--format", "csv"}), "is planned; export needs approved");
    expect_refused(run_payout({"settle", id, "-c", cfg, "--by", "olga", "--txid", "0x" + std::string(64, 'a')}),
                   "is planned; settle needs exported");
    expect_refused(run_payout({"approve", "999", "-c", cfg, "--by", "olga", "--digest", digest}),
                   "batch 999 does not exist");
    EXPECT_EQ(snapshot(db), before);

    auto ok = run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", digest});
    ASSERT_EQ(ok.code, 0) << ok.out;
    EXPECT_EQ(show(cfg, id).state, "approved");
    EXPECT_EQ(show(cfg, id).approved_by, "olga");
    expect_refused(run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", digest}),
                   "batch " + id + " is approved; approve needs planned");
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // Export twice: the same bytes, and their SHA-256 stored.
    const std::string dir = stack_environment::get().dir() + "/payout";
    for (const char* f : {"/one.csv", "/two.csv"}) {
        auto e = run_payout({"export", id, "-c", cfg, "--format", "csv", "-o", dir + f});
        ASSERT_EQ(e.code, 0) << e.out;
    }
    const std::string csv = read_file(dir + "/one.csv");
    EXPECT_EQ(csv, read_file(dir + "/two.csv"));
    s = show(cfg, id);
    EXPECT_EQ(s.state, "exported");
    EXPECT_EQ(s.export_sha256, sha256_text(csv));
    EXPECT_EQ(csv.substr(0, csv.find('\n')), "line,address,base_units,amount");
    EXPECT_NE(csv.find("\n1," + want[0].address + ",12500000000000000000,12.500000000000000000\n"), std::string::npos)
        << csv;
    EXPECT_NE(csv.find("\n2," + want[1].address + ",27800000000000000000000000,27800000.000000000000000000\n"),
              std::string::npos)
        << csv;
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
    before = snapshot(db);
    expect_refused(run_payout({"export", id, "-c", cfg, "--format", "json", "-o", dir + "/x.json"}),
                   "was exported as csv");
    EXPECT_FALSE(std::filesystem::exists(dir + "/x.json"));
    expect_refused(run_payout({"settle", id, "-c", cfg, "--by", "olga", "--txid", "0x12"}),
                   "must be 0x and 64 hex digits");
    expect_refused(run_payout({"settle", id, "-c", cfg, "--by", "olga", "--txid", std::string(64, 'a')}),
                   "must be 0x and 64 hex digits");
    EXPECT_EQ(snapshot(db), before);
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    const std::string txid = "0x" + std::string(62, 'b') + "Cd";
    auto settled = run_payout({"settle", id, "-c", cfg, "--by", "pavel", "--txid", txid});
    ASSERT_EQ(settled.code, 0) << settled.out;
    s = show(cfg, id);
    EXPECT_EQ(s.state, "settled");
    EXPECT_EQ(s.settle_txid, "0x" + std::string(62, 'b') + "cd");
    EXPECT_EQ(s.settled_by, "pavel");
    for (const auto& l : s.lines) {
        EXPECT_EQ(l.state, "sent") << l.line;
    }
    EXPECT_EQ(balance(db, "payout:in-flight", "BMM"), "0");
    EXPECT_EQ(balance(db, "system:paid-out:BMM", "BMM"), acc::to_decimal(total));
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    expect_refused(run_payout({"settle", id, "-c", cfg, "--by", "pavel", "--txid", txid}),
                   "is settled; settle needs exported");
    // After the batch is settled, the same bytes still come out (for the record) and nothing changes.
    before = snapshot(db);
    expect_refused(run_payout({"export", id, "-c", cfg, "--format", "csv"}), "is settled; export needs approved");
    EXPECT_EQ(snapshot(db), before);

    // The tokens are out there now. dan buys 5 BMM and sends them to the pool:
    // booked once per token transfer, never more than ever left the pool
    // (bmm-accountd bmm deposit; sql/0019, audit checks 16 and 17 of 0020).
    const std::string dep = "0x" + std::string(63, 'e') + "1";
    auto d1 = acc::deposit_store::book_bmm_deposit(db, "dan", k_bmm * 5, dep, "olga");
    ASSERT_TRUE(d1) << d1.error_message();
    EXPECT_TRUE(d1->booked);
    EXPECT_EQ(d1->transfer_id, "bmm-deposit:" + dep);
    EXPECT_EQ(balance(db, "user:dan:available", "BMM"), acc::to_decimal(k_bmm / 2 + k_bmm * 5));
    auto again = acc::deposit_store::book_bmm_deposit(db, "dan", k_bmm * 5, dep, "olga");
    ASSERT_TRUE(again) << again.error_message();
    EXPECT_FALSE(again->booked) << "the same transfer again books nothing";
    before = snapshot(db);
    auto other = acc::deposit_store::book_bmm_deposit(db, "carol", k_bmm * 5, dep, "olga");
    ASSERT_FALSE(other);
    EXPECT_NE(other.error_message().find("was booked before"), std::string::npos) << other.error_message();
    auto huge = acc::deposit_store::book_bmm_deposit(db, "dan", total, "0x" + std::string(64, 'f'), "olga");
    ASSERT_FALSE(huge);
    EXPECT_NE(huge.error_message().find("have left the pool"), std::string::npos) << huge.error_message();
    EXPECT_EQ(snapshot(db), before);
    EXPECT_EQ(balance(db, "system:paid-out:BMM", "BMM"), acc::to_decimal(total - k_bmm * 5));
    EXPECT_EQ(audit(db), std::vector<std::string>{});
}

TEST(payout, ltc_plan_rules) {
    auto db = fresh_schema(test_schema());
    const std::string cfg =
        write_config("ltc", "[payout]\nwallet = \"pool\"\n[payout.min_amount]\nLTC = \"10000000\"\n");
    const std::string a1 = node_address("bech32"), a2 = node_address("legacy");
    const std::string e1 = node_address("bech32"), e2 = node_address("bech32");
    const std::string k1 = node_address("bech32"), k2 = node_address("legacy");
    const std::string l1 = node_address("bech32"), l2 = node_address("bech32");
    const std::string mweb = node_address("mweb"), shared = node_address("bech32");
    const std::string m1 = node_address("p2sh-segwit"), i1 = node_address("bech32");
    const std::map<std::string, acc::amount> balances = {
        {"alice", 100000007}, {"bob", 50000000},  {"dave", 9999999},  {"erin", 30000000},
        {"frank", 15000000},  {"gina", 12000000}, {"hank", 13000000}, {"ivan", 600000000},
        {"kate", 10010000},   {"lena", 20000000}, {"mike", 11000000},
    };
    std::map<std::string, acc::amount> parts;
    for (const auto& [name, v] : balances) {
        add_account(db, name);
        parts[acc::user_available(name)] = v;
    }
    parts[acc::fees_account("LTC")] = 1000000;
    book_mature_block(db, "LTC", std::string(64, '1'), parts);
    bind_wallets(db, "alice", "LTC", {{a1, 333333}, {a2, 666667}});
    bind_wallets(db, "bob", "BMM", {{eth_address(9), 1000000}});
    bind_wallets(db, "dave", "LTC", {{node_address("bech32"), 1000000}});
    bind_wallets(db, "erin", "LTC", {{e1, 800000}, {e2, 200000}});
    bind_wallets(db, "frank", "LTC", {{mweb, 1000000}});
    bind_wallets(db, "gina", "LTC", {{shared, 1000000}});
    bind_wallets(db, "hank", "LTC", {{shared, 1000000}});
    bind_wallets(db, "ivan", "LTC", {{i1, 1000000}});
    bind_wallets(db, "kate", "LTC", {{k1, 999600}, {k2, 400}});
    bind_wallets(db, "lena", "LTC", {{l1, 999900}, {l2, 100}});
    bind_wallets(db, "mike", "LTC", {{m1, 1000000}});
    ASSERT_EQ(audit(db), std::vector<std::string>{});

    // A first batch for the biggest balance only (--min), so that ivan has an open line.
    auto first = run_payout({"plan", "-c", cfg, "--coin", "LTC", "--min", "500000000"});
    ASSERT_EQ(first.code, 0) << first.out;
    const std::string first_id = match(first.out, "batch (\\d+) planned");
    ASSERT_EQ(show(cfg, first_id).lines.size(), 1u) << first.out;
    EXPECT_EQ(show(cfg, first_id).lines[0].account, "ivan");
    EXPECT_EQ(audit(db), std::vector<std::string>{});
    // ivan earns again while that line is open: his new balance waits for the next batch.
    book_mature_block(db, "LTC", std::string(64, '2'), {{"user:ivan:available", 20000000}});

    auto plan = run_payout({"plan", "-c", cfg, "--coin", "LTC"});
    ASSERT_EQ(plan.code, 0) << plan.out;
    const std::string id = match(plan.out, "batch (\\d+) planned");
    const std::string digest = match(plan.out, "\ndigest ([0-9a-f]{64})\n");
    ASSERT_FALSE(id.empty()) << plan.out;
    auto skipped = [&](const std::string& who, const std::string& why) {
        EXPECT_NE(plan.out.find("skipped\t" + who), std::string::npos) << who << " not skipped in:\n" << plan.out;
        const auto at = plan.out.find("skipped\t" + who);
        if (at != std::string::npos) {
            const std::string line = plan.out.substr(at, plan.out.find('\n', at) - at);
            EXPECT_NE(line.find(why), std::string::npos) << line;
        }
    };
    skipped("bob\t50000000", "no LTC wallet bound");
    skipped("ivan\t20000000", "has an open line in an open LTC batch (no line in two open batches)");
    skipped("frank -> " + mweb,
            "MWEB address: Litecoin Core 0.21.2 writes MWEB addresses into raw/PSBT transactions "
            "as an empty-script output and allows one MWEB recipient per wallet transaction");
    skipped("erin -> " + e2 + "\t6000000", "below the threshold 10000000");
    skipped("kate -> " + k2, "below the dust threshold 5460");
    skipped("lena -> " + l2 + "\t2000", "below the dust threshold 2940");
    EXPECT_EQ(plan.out.find("dave"), std::string::npos) << "below the threshold as a whole: not a candidate";

    shown s = show(cfg, id);
    EXPECT_EQ(s.digest, digest);
    std::map<std::pair<std::string, std::string>, acc::amount> got;
    std::string canonical = "batch:" + id + "\ncurrency:LTC\n";
    for (std::size_t i = 0; i < s.lines.size(); ++i) {
        const auto& l = s.lines[i];
        EXPECT_EQ(l.line, static_cast<int>(i) + 1);
        if (i > 0) {
            EXPECT_LT(std::tie(s.lines[i - 1].account, s.lines[i - 1].address), std::tie(l.account, l.address))
                << "lines by holder, then address";
        }
        got[{l.account, l.address}] = acc::amount(l.amount);
        canonical += std::to_string(l.line) + "," + l.account + "," + l.address + "," + l.amount + "\n";
    }
    EXPECT_EQ(digest, sha256_text(canonical));
    auto part = [&](const std::string& account, const std::string& address) { return got[{account, address}]; };
    // alice: 100000007 over 333333 / 666667 ppm, largest remainder: the parts add up exactly.
    const acc::amount q1 = acc::amount(100000007) * 333333 / 1000000, q2 = acc::amount(100000007) * 666667 / 1000000;
    const acc::amount r1 = acc::amount(100000007) * 333333 % 1000000, r2 = acc::amount(100000007) * 666667 % 1000000;
    ASSERT_EQ(q1 + q2 + 1, 100000007) << "one unit left over for the larger remainder";
    EXPECT_EQ(part("alice", a1), q1 + (r1 > r2 ? 1 : 0));
    EXPECT_EQ(part("alice", a2), q2 + (r2 > r1 ? 1 : 0));
    EXPECT_EQ(part("alice", a1) + part("alice", a2), 100000007);
    EXPECT_EQ(part("erin", e1), 24000000);
    EXPECT_EQ(part("gina", shared), 12000000) << "two holders to one address: one line each";
    EXPECT_EQ(part("hank", shared), 13000000);
    EXPECT_EQ(part("kate", k1), 10005996);
    EXPECT_EQ(part("lena", l1), 19998000);
    EXPECT_EQ(part("mike", m1), 11000000) << "P2SH";
    EXPECT_EQ(got.size(), 8u);
    // What was skipped stays in the balances.
    EXPECT_EQ(balance(db, "user:alice:available", "LTC"), "0");
    EXPECT_EQ(balance(db, "user:bob:available", "LTC"), "50000000");
    EXPECT_EQ(balance(db, "user:dave:available", "LTC"), "9999999");
    EXPECT_EQ(balance(db, "user:erin:available", "LTC"), "6000000");
    EXPECT_EQ(balance(db, "user:frank:available", "LTC"), "15000000");
    EXPECT_EQ(balance(db, "user:kate:available", "LTC"), "4004");
    EXPECT_EQ(balance(db, "user:lena:available", "LTC"), "2000");
    EXPECT_EQ(balance(db, "user:ivan:available", "LTC"), "20000000");
    acc::amount open = 600000000;
    for (const auto& [k, v] : got) {
        open += v;
    }
    EXPECT_EQ(balance(db, "payout:in-flight", "LTC"), acc::to_decimal(open));
    EXPECT_EQ(audit(db), std::vector<std::string>{});

    // Bad input: one line, nothing changed.
    const std::string before = snapshot(db);
    std::string wrong = digest;
    wrong[63] = wrong[63] == 'a' ? 'b' : 'a';
    expect_refused(run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", wrong}),
                   "is not the batch's digest");
    expect_refused(run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", "xyz"}),
                   "the digest must be 64 hex digits");
    expect_refused(run_payout({"export", id, "-c", cfg, "--format", "csv"}), "export is for BMM (ERC-20) batches");
    expect_refused(run_payout({"show", "424242", "-c", cfg}), "batch 424242 does not exist");
    expect_refused(run_payout({"plan", "-c", cfg, "--coin", "BTC"}), "no node is configured for BTC");
    expect_refused(run_payout({"plan", "-c", cfg, "--coin", "ltc"}), "capital letters");
    expect_refused(run_payout({"plan", "-c", cfg, "--coin", "LTC", "--min", "1.5"}), "--min 1.5");
    EXPECT_EQ(snapshot(db), before);
    auto bad_cli = run_payout({"show", "seven", "-c", cfg});
    EXPECT_EQ(bad_cli.code, 2) << bad_cli.out;
    EXPECT_NE(bad_cli.out.find("a batch is a positive number"), std::string::npos) << bad_cli.out;

    // Another run holds the LTC payout lock: refused, nothing changed; BMM is not held up by it.
    {
        auto other = bmm::test::db();
        auto lock = bmm::pg::advisory_lock::take(other, bmm::pg::payout_lock("LTC"));
        ASSERT_TRUE(lock.ok()) << lock.error_message();
        expect_refused(run_payout({"plan", "-c", cfg, "--coin", "LTC"}),
                       "another bmm-payout run holds the payout lock of LTC");
        expect_refused(run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", digest}),
                       "another bmm-payout run holds the payout lock of LTC");
        EXPECT_EQ(snapshot(db), before);
        auto bmm_plan = run_payout({"plan", "-c", cfg, "--coin", "BMM"});
        EXPECT_EQ(bmm_plan.code, 0) << bmm_plan.out;
        EXPECT_NE(bmm_plan.out.find("nothing to pay in BMM"), std::string::npos) << bmm_plan.out;
    }
    // Lock released: a third plan finds nothing left to pay (what remains is skipped or below the
    // threshold) and stores nothing.
    auto again = run_payout({"plan", "-c", cfg, "--coin", "LTC"});
    EXPECT_EQ(again.code, 0) << again.out;
    EXPECT_NE(again.out.find("nothing to pay in LTC"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("skipped\tbob\t50000000\tno LTC wallet bound"), std::string::npos) << again.out;
    EXPECT_EQ(snapshot(db), before);

    auto ok = run_payout({"approve", id, "-c", cfg, "--by", "olga", "--digest", digest});
    EXPECT_EQ(ok.code, 0) << ok.out;
    EXPECT_EQ(show(cfg, id).state, "approved");
    EXPECT_EQ(audit(db), std::vector<std::string>{});
}

TEST(payout, help_and_version) {
    auto v = run_payout({"--version"});
    EXPECT_EQ(v.code, 0);
    EXPECT_EQ(v.out.rfind("bmm-payout ", 0), 0u) << v.out;
    for (const char* sub : {"plan", "show", "approve", "export", "settle"}) {
        auto h = run_payout({sub, "--help"});
        EXPECT_EQ(h.code, 0) << sub;
        EXPECT_NE(h.out.find("--config"), std::string::npos) << sub << ": " << h.out;
    }
    auto none = run_payout({});
    EXPECT_EQ(none.code, 2) << none.out;
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
