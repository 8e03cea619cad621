// Statements (accounting/statement) against a real PostgreSQL (tests/support/
// stack.hpp): a ledger booked as the daemon books it (the genesis premine,
// epochs closed by the rules library and booked by epoch_store, blocks that
// mature or are orphaned, a payout batch with its transaction), then
// statements over random periods (seeded, a bounded number): opening + rows =
// closing, periods that meet chain, the same bytes twice; dividend rows carry
// the weights their amount is split by; the PDF shows the CSV's totals and
// passes qpdf --check; the read API serves the library's bytes; bad input is
// refused with one clear line.

#include "../support/raw_http.hpp"
#include "../support/stack_pg.hpp"

#include "bmm/accounting/api.hpp"
#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/accounting/epoch_close.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/statement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace bmm::accounting {
namespace {

using test::stack_environment;
namespace stm = bmm::accounting::statement;

// What the test booked, to check the statements against.
struct booked_ledger {
    // epoch -> holder -> BMM held when the epoch closed (the dividend weights).
    std::map<std::uint64_t, std::map<std::string, amount>> holdings;
    std::uint64_t unrecorded_epoch = 0;  // its snapshot is removed: "weight not recorded"
    std::int64_t first_us = 0, last_us = 0;
    std::vector<std::int64_t> times;  // every distinct booking time, microseconds
};

void must(const result<bool>& r, const std::string& what) {
    if (!r) {
        throw std::runtime_error(what + ": " + r.error_message());
    }
}
template <class T>
T must(result<T> r, const std::string& what) {
    if (!r) {
        throw std::runtime_error(what + ": " + r.error_message());
    }
    return std::move(*r);
}

std::string day(std::uint64_t k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-03-%02u 00:00:00+00", static_cast<unsigned>(k + 1));
    return buf;
}

// Books the ledger once per test binary, in the stack's database.
const booked_ledger& ledger_once() {
    static std::optional<booked_ledger> built;
    if (built) {
        return *built;
    }
    booked_ledger out;
    auto& st = stack_environment::get();
    auto db = test::db();
    must(migrate(db, st.source_dir() + "/sql"), "migrate");
    for (const char* name : {"alice", "bob"}) {
        must(db.exec(std::string("INSERT INTO accounts (name, kind) VALUES ('") + name + "', 'user')"), "account");
    }
    must(ledger_store::book_transfers(db, genesis_transfers()), "genesis");

    std::mt19937_64 rng(20261202);
    accounting_config cfg;
    cfg.coins["LTC"] = coin_rules{10000, 200000, payout_scheme::pp, 1000000, 2000000};
    cfg.coins["BTC"] = coin_rules{20000, 200000, payout_scheme::solo, 1000000, 2000000};
    std::map<std::string, std::uint32_t> streaks;
    std::vector<std::string> immature;
    int blocks = 0;
    for (std::uint64_t k = 0; k < 6; ++k) {
        must(epoch_store::ensure_epoch(db, k, day(k), day(k + 1)), "epoch");
        epoch_close_input in;
        in.k = k;
        in.config = cfg;
        in.work["alice"]["LTC"] = amount(1000 + rng() % 1000);
        if (k % 2 == 0) {
            in.work["bob"][k % 4 == 0 ? "BTC" : "LTC"] = amount(500 + rng() % 500);
        }
        in.previous_streaks = streaks;
        in.bmm_holdings = must(ledger_store::load_bmm_holdings(db), "holdings");
        out.holdings[k] = in.bmm_holdings;
        if (k > 0) {
            in.carried_emission = must(epoch_store::load_epoch(db, k - 1), "epoch").emission_carried;
        }
        for (int b = 0; b < 2; ++b) {
            block_input bi;
            bi.hash = "00ab" + std::to_string(k) + "f" + std::to_string(blocks++);
            bi.coin = b == 0 ? "LTC" : "BTC";
            bi.height = 1000 + static_cast<std::uint64_t>(blocks);
            bi.reward = amount(1250000000ULL + rng() % 100000000ULL);
            bi.finder = b == 0 ? "alice" : "bob";
            bi.found_epoch = k;
            must(block_store::record_block(db, {bi.hash, bi.coin, bi.height, bi.reward, bi.finder, day(k), k, k}),
                 "block");
            in.blocks.push_back(bi);
            immature.push_back(bi.hash);
        }
        auto closed = must(close_epoch(in), "close");
        must(epoch_store::book_epoch_close(db, closed), "book close");
        for (const auto& [u, a] : closed.accounts) {
            streaks[u] = a.streak;
        }
        // Earlier blocks: one matures, one is orphaned, each epoch after the first.
        if (k > 0) {
            for (int fate = 0; fate < 2 && !immature.empty(); ++fate) {
                const std::string hash = immature.front();
                immature.erase(immature.begin());
                auto stored = must(ledger_store::load_transfers(db, "block:" + hash), "load");
                auto ts = must(
                    fate == 0 ? block_maturity_transfers(hash, stored) : block_orphan_transfers(hash, stored), "fate");
                must(block_store::book_block_status(db, hash, fate == 0 ? "mature" : "orphaned", ts), "status");
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // A payout of alice's LTC: batch 1, line 1, one transaction, reserved and sent.
    const std::string txid(64, 'c');
    must(db.exec("INSERT INTO payout_batches (id, currency, state, min_amount, digest, total, approved_by) "
                 "VALUES (1, 'LTC', 'confirmed', 0, '" +
                 std::string(64, 'a') + "', 1000, 'test')"),
         "batch");
    must(db.exec("INSERT INTO payout_txs (batch, tx, state, confirmed_attempt) VALUES (1, 1, 'confirmed', 1)"), "tx");
    must(db.exec("INSERT INTO payout_lines (batch, line, account, address, amount, tx, state) "
                 "VALUES (1, 1, 'alice', 'rltc1qalice', 1000, 1, 'sent')"),
         "line");
    must(db.exec("INSERT INTO payout_attempts (batch, tx, attempt, txid, hex, inputs, outputs, fee, vsize, state) "
                 "VALUES (1, 1, 1, '" +
                 txid + "', '00', '[]', '{\"rltc1qalice\": \"1000\"}', 10, 100, 'confirmed')"),
         "attempt");
    std::vector<transfer> pay{{"payout:1:reserve:1", user_available("alice"), std::string(k_payout_in_flight_account),
                               "LTC", 1000, transfer_kind::payout_reserve, "payout:1"}};
    must(ledger_store::book_transfers(db, pay), "reserve");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<transfer> sent{{"payout:1:sent:1", std::string(k_payout_in_flight_account), paid_out_account("LTC"),
                                "LTC", 1000, transfer_kind::payout_sent, "payout:1"}};
    must(ledger_store::book_transfers(db, sent), "sent");
    // Epoch 0 as if closed before sql/0018: its weights were never recorded. The
    // snapshot is immutable (sql/0023): its triggers are set aside for this.
    out.unrecorded_epoch = 0;
    must(
        db.exec("ALTER TABLE epoch_bmm_holdings DISABLE TRIGGER USER; ALTER TABLE epoch_bmm_totals DISABLE TRIGGER "
                "USER; DELETE FROM epoch_bmm_holdings WHERE epoch = 0; DELETE FROM epoch_bmm_totals WHERE epoch = 0; "
                "ALTER TABLE epoch_bmm_holdings ENABLE TRIGGER USER; ALTER TABLE epoch_bmm_totals ENABLE TRIGGER USER"),
        "unrecord");

    auto times = must(db.exec("SELECT DISTINCT (extract(epoch FROM created_at) * 1000000)::bigint AS us "
                              "FROM ledger_transfers ORDER BY us"),
                      "times");
    for (int i = 0; i < times.rows(); ++i) {
        out.times.push_back(times.integer(i, 0));
    }
    out.first_us = out.times.front();
    out.last_us = out.times.back();
    built = std::move(out);
    return *built;
}

stm::statement build(const std::string& account, std::int64_t from, std::int64_t to,
                     std::optional<std::string> currency = std::nullopt) {
    auto db = test::db();
    stm::request r;
    r.account = account;
    r.from_us = from;
    r.to_us = to;
    r.currency = std::move(currency);
    auto s = stm::build(db, r);
    if (!s) {
        throw std::runtime_error("statement of " + account + ": " + s.error_message());
    }
    return std::move(*s);
}

const std::vector<std::string> k_holders{"alice", "bob", "foundation:ecosystem"};

// ---------------------------------------------------------------------------

TEST(statement_time, reads_iso_and_unix_seconds_and_refuses_the_rest) {
    EXPECT_EQ(*stm::parse_time("2026-12-01T00:00:00Z"), 1796083200LL * 1000000);
    EXPECT_EQ(*stm::parse_time("1796083200"), 1796083200LL * 1000000);
    EXPECT_EQ(*stm::parse_time("1970-01-01T00:00:00.5Z"), 500000);
    EXPECT_EQ(*stm::parse_time("2024-02-29T23:59:59.000001Z"), (1709251199LL) * 1000000 + 1);
    EXPECT_EQ(stm::time_text(1796083200LL * 1000000), "2026-12-01T00:00:00Z");
    EXPECT_EQ(stm::time_text(1709251199LL * 1000000 + 1), "2024-02-29T23:59:59.000001Z");
    for (const char* bad :
         {"", "yesterday", "2026-12-01", "2026-12-01T00:00:00", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z",
          "2026-12-01T00:00:00.1234567Z", "-5", "1e9", "2026-12-01 00:00:00Z"}) {
        auto t = stm::parse_time(bad);
        ASSERT_FALSE(t.ok()) << bad;
        EXPECT_NE(t.error_message().find("ISO 8601"), std::string::npos) << t.error_message();
    }
    EXPECT_EQ(stm::decimal_text(amount(-12345), 8), "-0.00012345");
    EXPECT_EQ(stm::decimal_text(amount(0), 8), "0.00000000");
    EXPECT_EQ(stm::decimal_text(amount(139) * amount("1000000000000000000000000"), 18), "139000000.000000000000000000");
}

TEST(statement_model, verify_refuses_a_statement_that_does_not_add_up) {
    stm::statement s;
    s.account = "alice";
    stm::section sec;
    sec.currency = "LTC";
    sec.balance = "available";
    sec.opening = 10;
    stm::row r;
    r.transfer_id = "t1";
    r.amount_signed = 5;
    r.balance = 15;
    sec.rows.push_back(r);
    sec.credits = 5;
    sec.closing = 15;
    s.sections.push_back(sec);
    EXPECT_TRUE(stm::verify(s).ok());
    s.sections[0].closing = 16;  // a closing read that the rows do not reach
    auto bad = stm::verify(s);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error_message().find("opening 10 + rows 5 != closing 16"), std::string::npos) << bad.error_message();
    s.sections[0].closing = 15;
    s.sections[0].rows[0].balance = 14;  // a running balance off by one
    EXPECT_FALSE(stm::verify(s).ok());
}

TEST(statement_db, random_periods_add_up_chain_and_render_the_same_bytes) {
    const auto& booked = ledger_once();
    std::mt19937_64 rng(7);
    // Candidate bounds: every booking time, one microsecond after it, and
    // times before and after the whole ledger.
    std::vector<std::int64_t> bounds{booked.first_us - 3600000000LL, booked.last_us + 3600000000LL};
    for (auto t : booked.times) {
        bounds.push_back(t);
        bounds.push_back(t + 1);
    }
    std::sort(bounds.begin(), bounds.end());
    int checked_rows = 0;
    for (int n = 0; n < 24; ++n) {
        std::int64_t a = bounds[rng() % bounds.size()], c = bounds[rng() % bounds.size()];
        if (a == c) {
            continue;
        }
        if (a > c) {
            std::swap(a, c);
        }
        const std::int64_t b = a + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(c - a));
        const std::string& who = k_holders[n % k_holders.size()];
        SCOPED_TRACE(who + " [" + stm::time_text(a) + ", " + stm::time_text(c) + ") split at " + stm::time_text(b));
        auto whole = build(who, a, c);
        ASSERT_TRUE(stm::verify(whole).ok());
        for (const auto& sec : whole.sections) {
            amount sum = 0;
            for (const auto& r : sec.rows) {
                sum += r.amount_signed;
            }
            EXPECT_EQ(sec.opening + sum, sec.closing) << sec.currency << " " << sec.balance;
            checked_rows += static_cast<int>(sec.rows.size());
        }
        // [a, b) and [b, c) chain into [a, c).
        if (b > a) {
            auto left = build(who, a, b), right = build(who, b, c);
            for (const auto& sec : whole.sections) {
                auto find = [&](const stm::statement& s) -> const stm::section* {
                    for (const auto& x : s.sections) {
                        if (x.currency == sec.currency && x.balance == sec.balance) {
                            return &x;
                        }
                    }
                    return nullptr;
                };
                const stm::section* l = find(left);
                const stm::section* r = find(right);
                ASSERT_NE(r, nullptr) << sec.currency;  // [b, c) knows every currency held before c
                const amount left_closing = l ? l->closing : amount(0);
                EXPECT_EQ(left_closing, r->opening);
                EXPECT_EQ(sec.opening, l ? l->opening : amount(0));
                EXPECT_EQ(sec.closing, r->closing);
                EXPECT_EQ(sec.rows.size(), (l ? l->rows.size() : 0) + r->rows.size());
            }
        }
        // The same bytes from a second, separate build.
        auto again = build(who, a, c);
        EXPECT_EQ(stm::render_csv(whole), stm::render_csv(again));
        EXPECT_EQ(stm::render_json(whole), stm::render_json(again));
    }
    EXPECT_GT(checked_rows, 50);

    // Over the whole ledger, the closings are the balances PostgreSQL keeps.
    for (const auto& who : k_holders) {
        auto s = build(who, booked.first_us - 1, booked.last_us + 1);
        const auto acc = *holder_ledger_accounts(who);
        for (const auto& sec : s.sections) {
            const std::string expected = test::scalar(
                "SELECT coalesce(sum(balance), 0)::text FROM balances WHERE account = $1 AND currency = $2",
                {sec.ledger_account, sec.currency});
            EXPECT_EQ(to_decimal(sec.closing), expected) << who << " " << sec.currency << " " << sec.balance;
            EXPECT_TRUE(sec.ledger_account == acc.available || sec.ledger_account == acc.immature);
        }
    }
}

TEST(statement_db, dividend_rows_carry_the_weights_that_split_them) {
    const auto& booked = ledger_once();
    int recorded = 0, unrecorded = 0;
    for (const auto& who : {std::string("alice"), std::string("foundation:ecosystem")}) {
        auto s = build(who, booked.first_us, booked.last_us + 1);
        const std::string holder = holder_ledger_accounts(who)->available;
        for (const auto& sec : s.sections) {
            for (const auto& r : sec.rows) {
                if (r.kind != "block_dividend") {
                    EXPECT_FALSE(r.dividend.has_value()) << r.transfer_id;
                    continue;
                }
                SCOPED_TRACE(r.transfer_id);
                ASSERT_TRUE(r.dividend.has_value());
                const auto& d = *r.dividend;
                ASSERT_TRUE(r.block_hash && r.block_height && r.epoch);
                EXPECT_EQ(d.epoch, *r.epoch);
                if (d.epoch == booked.unrecorded_epoch) {
                    EXPECT_FALSE(d.recorded);
                    ++unrecorded;
                    continue;
                }
                ASSERT_TRUE(d.recorded);
                ++recorded;
                const auto& held = booked.holdings.at(d.epoch);
                amount total = 0;
                for (const auto& [h, v] : held) {
                    total += v;
                }
                EXPECT_EQ(d.weight, held.at(holder));
                EXPECT_EQ(d.total_weight, total);
                // The split rule: floor(D x w / W), or one unit more (largest remainder).
                const amount share = d.block_dividend * d.weight / d.total_weight;
                EXPECT_TRUE(r.amount_signed == share || r.amount_signed == share + 1)
                    << to_decimal(r.amount_signed) << " vs floor " << to_decimal(share);
                // The block's dividend is its holders' ppm of the reward.
                const std::string reward =
                    test::scalar("SELECT reward::text FROM blocks WHERE hash = $1", {*r.block_hash});
                EXPECT_EQ(d.block_dividend, amount(reward) * 200000 / 1000000);
            }
        }
        // The CSV says "not recorded" where the weight is unknown (the
        // foundation held BMM at epoch 0's close; alice did not yet).
        const std::string csv = stm::render_csv(s);
        EXPECT_EQ(csv.find(",not recorded,not recorded,") != std::string::npos, who != "alice") << who;
    }
    EXPECT_GT(recorded, 10);
    EXPECT_GT(unrecorded, 0);
}

TEST(statement_db, payout_rows_name_the_batch_and_the_txid) {
    const auto& booked = ledger_once();
    auto s = build("alice", booked.first_us, booked.last_us + 1, "LTC");
    ASSERT_EQ(s.sections.size(), 2u);
    const stm::row* reserve = nullptr;
    for (const auto& r : s.sections[0].rows) {
        if (r.kind == "payout_reserve") {
            reserve = &r;
        }
    }
    ASSERT_NE(reserve, nullptr);
    EXPECT_EQ(reserve->reference, "payout:1");
    EXPECT_EQ(reserve->payout_batch.value_or(""), "1");
    EXPECT_EQ(reserve->payout_line.value_or(""), "1");
    EXPECT_EQ(reserve->payout_txid.value_or(""), std::string(64, 'c'));
    EXPECT_EQ(reserve->amount_signed, amount(-1000));
    EXPECT_NE(stm::render_json(s).find("\"payout\":{\"batch\":1,\"line\":1,\"address\":\"rltc1qalice\",\"txid\":\"" +
                                       std::string(64, 'c') + "\"}"),
              std::string::npos);
}

std::string shell(const std::string& cmd, int* rc = nullptr) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) {
        return out;
    }
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    const int status = ::pclose(p);
    if (rc) {
        *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    return out;
}

// Base units as a decimal of `decimals` places, written here apart from the library.
std::string as_decimal(std::string units, int decimals) {
    const bool neg = !units.empty() && units[0] == '-';
    if (neg) {
        units.erase(0, 1);
    }
    while (units.size() <= static_cast<std::size_t>(decimals)) {
        units.insert(0, "0");
    }
    units.insert(units.size() - static_cast<std::size_t>(decimals), ".");
    return (neg ? "-" : "") + units;
}

std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                out.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.emplace_back();
        } else if (c != '\r') {
            out.back() += c;
        }
    }
    return out;
}

TEST(statement_db, pdf_shows_the_csv_totals_and_passes_qpdf) {
    const auto& booked = ledger_once();
    for (const auto& who : {std::string("alice"), std::string("foundation:ecosystem")}) {
        SCOPED_TRACE(who);
        auto s = build(who, booked.first_us, booked.last_us + 1);
        auto pdf = stm::render_pdf(s);
        ASSERT_TRUE(pdf.ok()) << pdf.error_message();
        auto pdf2 = stm::render_pdf(build(who, booked.first_us, booked.last_us + 1));
        ASSERT_TRUE(pdf2.ok());
        EXPECT_EQ(*pdf, *pdf2) << "the PDF is the same bytes twice";
        const std::string path = stack_environment::get().dir() + "/statement.pdf";
        {
            std::ofstream f(path, std::ios::binary);
            f << *pdf;
        }
        int rc = -1;
        const std::string check = shell("qpdf --check '" + path + "' 2>&1", &rc);
        EXPECT_EQ(rc, 0) << check;
        const std::string text = shell("pdftotext -layout '" + path + "' - 2>&1", &rc);
        ASSERT_EQ(rc, 0) << text;
        EXPECT_NE(text.find("account statement of " + who), std::string::npos);
        EXPECT_NE(text.find(stm::time_text(booked.first_us)), std::string::npos);
        // Every page says "page N of M".
        const std::size_t pages = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\f'));
        ASSERT_GE(pages, 1u);
        for (std::size_t n = 1; n <= pages; ++n) {
            EXPECT_NE(text.find("page " + std::to_string(n) + " of " + std::to_string(pages)), std::string::npos) << n;
        }
        // The CSV's totals, as decimals, in the PDF's text.
        std::istringstream csv(stm::render_csv(s));
        std::string line;
        int totals = 0;
        while (std::getline(csv, line)) {
            const auto f = csv_fields(line);
            ASSERT_EQ(f.size(), 21u) << line;
            const std::string& kind = f[4];
            if (kind != "opening" && kind != "credits" && kind != "debits" && kind != "closing") {
                continue;
            }
            const std::string units = kind == "opening" || kind == "closing" ? f[17] : f[16];
            const std::string shown = as_decimal(units, std::stoi(f[2]));
            EXPECT_NE(text.find(kind.substr(0, 5)), std::string::npos);
            EXPECT_NE(text.find(shown), std::string::npos) << f[1] << " " << f[3] << " " << kind << " " << shown;
            ++totals;
        }
        EXPECT_GE(totals, 8);  // two currencies at least, two balances, four totals
    }
}

// ---------------------------------------------------------------------------
// The read API serves the same bytes.

using test::http_answer;

http_answer http_get(std::uint16_t port, const std::string& target) {
    const std::string raw =
        test::http_exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", false);
    return test::parse_http_answer(raw);
}

accountd_config api_config(int port) {
    auto& st = stack_environment::get();
    std::ostringstream t;
    t << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_PG_PORT") << "\nuser = \""
      << st.setting("BMM_PG_USER") << "\"\ndbname = \"" << st.setting("BMM_PG_DB") << "\"\npassword = \""
      << st.setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st.source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st.setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\n"
      << "[api]\nhost = \"127.0.0.1\"\nport = " << port << "\nthreads = 2\n";
    auto c = parse_accountd_config(t.str(), "statement_test.toml");
    if (!c) {
        throw std::runtime_error(c.error_message());
    }
    return *c;
}

int free_port() {
    for (int p = 20000 + static_cast<int>(::getpid() % 5000); p < 30000; ++p) {
        if (test::port_free(p)) {
            return p;
        }
    }
    throw std::runtime_error("no free loopback port");
}

std::string header_value(const std::string& headers, const std::string& name) {
    std::string lower = headers;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    auto p = lower.find("\r\n" + name + ":");
    if (p == std::string::npos) {
        return "";
    }
    p += 3 + name.size();
    while (p < headers.size() && headers[p] == ' ') {
        ++p;
    }
    return headers.substr(p, headers.find("\r\n", p) - p);
}

TEST(statement_api, serves_the_librarys_bytes_and_refuses_bad_input) {
    const auto& booked = ledger_once();
    const int port = free_port();
    api_server server(api_config(port));
    ASSERT_TRUE(server.start().ok());
    const auto p = static_cast<std::uint16_t>(port);
    const std::string from = stm::time_text(booked.first_us), to = stm::time_text(booked.last_us + 1);
    for (const auto& [who, in_path] : {std::pair<std::string, std::string>{"alice", "alice"},
                                       {"foundation:ecosystem", "foundation:ecosystem"},
                                       {"foundation:ecosystem", "foundation%3Aecosystem"}}) {
        SCOPED_TRACE(in_path);
        const auto s = build(who, booked.first_us, booked.last_us + 1);
        const std::string base = "/api/v1/accounts/" + in_path + "/statement?from=" + from + "&to=" + to;
        auto json = http_get(p, base);
        EXPECT_EQ(json.status, 200) << json.body;
        EXPECT_EQ(header_value(json.headers, "content-type"), "application/json; charset=utf-8");
        EXPECT_EQ(json.body, stm::render_json(s));
        auto csv = http_get(p, base + "&format=csv");
        EXPECT_EQ(csv.status, 200);
        EXPECT_EQ(header_value(csv.headers, "content-type"), "text/csv; charset=utf-8");
        EXPECT_NE(header_value(csv.headers, "content-disposition").find("attachment; filename="), std::string::npos);
        EXPECT_EQ(csv.body, stm::render_csv(s));
        auto pdf = http_get(p, base + "&format=pdf");
        EXPECT_EQ(pdf.status, 200);
        EXPECT_EQ(header_value(pdf.headers, "content-type"), "application/pdf");
        EXPECT_EQ(pdf.body, *stm::render_pdf(s));
    }
    // One currency, unix seconds.
    const auto ltc =
        build("alice", booked.first_us / 1000000 * 1000000, (booked.last_us / 1000000 + 1) * 1000000, "LTC");
    auto one = http_get(p, "/api/v1/accounts/alice/statement?from=" + std::to_string(booked.first_us / 1000000) +
                               "&to=" + std::to_string(booked.last_us / 1000000 + 1) + "&currency=LTC&format=csv");
    EXPECT_EQ(one.status, 200);
    EXPECT_EQ(one.body, stm::render_csv(ltc));

    struct bad_case {
        std::string target;
        int status;
        std::string says;
    };
    const std::string ok_period = "from=" + from + "&to=" + to;
    for (const auto& c : std::vector<bad_case>{
             {"/api/v1/accounts/alice/statement?from=" + to + "&to=" + from, 400, "the period is empty"},
             {"/api/v1/accounts/alice/statement?from=" + from + "&to=" + from, 400, "the period is empty"},
             {"/api/v1/accounts/nobody/statement?" + ok_period, 404, "no account \\\"nobody\\\""},
             {"/api/v1/accounts/foundation:treasury/statement?" + ok_period, 404, "no account"},
             {"/api/v1/accounts/alice/statement?" + ok_period + "&currency=DOGE", 400, "currency DOGE is unknown"},
             {"/api/v1/accounts/alice/statement?" + ok_period + "&currency=ltc", 400, "not a currency code"},
             {"/api/v1/accounts/alice/statement?" + ok_period + "&format=xls", 400, "must be json, csv or pdf"},
             {"/api/v1/accounts/alice/statement?to=" + to, 400, "\\\"from\\\" is required"},
             {"/api/v1/accounts/alice/statement?from=tomorrow&to=" + to, 400, "ISO 8601"},
             {"/api/v1/accounts/alice/statement?" + ok_period + "&limit=5", 400, "unknown parameter"},
             {"/api/v1/accounts/a:b:c/statement?" + ok_period, 400, "not a holder account"},
         }) {
        SCOPED_TRACE(c.target);
        auto a = http_get(p, c.target);
        EXPECT_EQ(a.status, c.status) << a.body;
        EXPECT_EQ(header_value(a.headers, "content-type"), "application/json; charset=utf-8");
        EXPECT_EQ(a.body.rfind("{\"error\":", 0), 0u) << a.body;
        EXPECT_NE(a.body.find(c.says), std::string::npos) << a.body;
    }
    server.stop();
}

// ---------------------------------------------------------------------------
// bmm-payout statement writes the same bytes, and refuses bad input in one line.

std::string payout_config() {
    auto& st = stack_environment::get();
    const std::string path = st.dir() + "/statement-payout.toml";
    std::ofstream f(path);
    f << "[postgres]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_PG_PORT") << "\nuser = \""
      << st.setting("BMM_PG_USER") << "\"\ndbname = \"" << st.setting("BMM_PG_DB") << "\"\npassword = \""
      << st.setting("BMM_PG_PASSWORD") << "\"\nmigrations_dir = \"" << st.source_dir() << "/sql\"\n"
      << "[redis]\nhost = \"127.0.0.1\"\nport = " << st.setting("BMM_REDIS_PORT") << "\npassword_file = \""
      << st.setting("BMM_REDIS_PASSWORD_FILE") << "\""
      << "\n";
    return path;
}

std::string payout_bin() {
    const char* d = std::getenv("BMM_BIN_DIR");
    return std::string(d && *d ? d : "build/bin") + "/bmm-payout";
}

TEST(statement_cli, bmm_payout_statement_writes_the_librarys_bytes) {
    const auto& booked = ledger_once();
    const std::string cfg = payout_config(), dir = stack_environment::get().dir();
    const std::string from = stm::time_text(booked.first_us), to = stm::time_text(booked.last_us + 1);
    const std::string base = "'" + payout_bin() + "' statement -c '" + cfg + "' ";
    for (const auto& who : {std::string("alice"), std::string("foundation:ecosystem")}) {
        const auto s = build(who, booked.first_us, booked.last_us + 1);
        int rc = -1;
        EXPECT_EQ(shell(base + who + " --from " + from + " --to " + to + " --format csv 2>/dev/null", &rc),
                  stm::render_csv(s));
        EXPECT_EQ(rc, 0);
        const std::string file = dir + "/cli-statement.pdf";
        shell(base + who + " --from " + from + " --to " + to + " --format pdf -o '" + file + "' 2>&1", &rc);
        EXPECT_EQ(rc, 0);
        std::ifstream f(file, std::ios::binary);
        std::stringstream got;
        got << f.rdbuf();
        EXPECT_EQ(got.str(), *stm::render_pdf(s));
    }
    struct bad_case {
        std::string args, says;
    };
    for (const auto& c : std::vector<bad_case>{
             {"alice --from " + to + " --to " + from + " --format csv", "the period is empty"},
             {"alice --from " + from + " --to " + from + " --format json", "the period is empty"},
             {"nobody --from " + from + " --to " + to + " --format csv", "no account \"nobody\""},
             {"alice --from " + from + " --to " + to + " --currency DOGE --format csv", "currency DOGE is unknown"},
             {"alice --from yesterday --to " + to + " --format csv", "--from: time \"yesterday\""},
             {"alice --from " + from + " --to " + to + " --format xls", "xls"},
         }) {
        SCOPED_TRACE(c.args);
        int rc = 0;
        const std::string out = shell(base + c.args + " 2>&1 >/dev/null", &rc);
        EXPECT_NE(rc, 0);
        EXPECT_NE(out.find(c.says), std::string::npos) << out;
        EXPECT_LE(std::count(out.begin(), out.end(), '\n'), 2) << out;  // one line (CLI11 may add a hint)
    }
}

TEST(statement_db, check_request_names_what_is_wrong) {
    const auto& booked = ledger_once();
    auto db = test::db();
    auto check = [&](const std::string& account, std::int64_t from, std::int64_t to,
                     std::optional<std::string> cur = std::nullopt) {
        stm::request r;
        r.account = account;
        r.from_us = from;
        r.to_us = to;
        r.currency = std::move(cur);
        auto c = stm::check_request(db, r);
        if (!c) {
            throw std::runtime_error(c.error_message());
        }
        return *c;
    };
    EXPECT_EQ(check("alice", booked.first_us, booked.last_us).why, stm::refusal::none);
    EXPECT_EQ(check("foundation:airdrop", booked.first_us, booked.last_us).why, stm::refusal::none);
    EXPECT_EQ(check("alice", booked.first_us, booked.last_us, "BMM").why, stm::refusal::none);
    EXPECT_EQ(check("alice", booked.last_us, booked.first_us).why, stm::refusal::bad_input);
    EXPECT_EQ(check("nobody", booked.first_us, booked.last_us).why, stm::refusal::unknown_account);
    EXPECT_EQ(check("alice", booked.first_us, booked.last_us, "XYZ").why, stm::refusal::unknown_currency);
    // build() refuses the same, with the same line.
    stm::request r;
    r.account = "nobody";
    r.from_us = booked.first_us;
    r.to_us = booked.last_us;
    auto b = stm::build(db, r);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error_message(), check("nobody", booked.first_us, booked.last_us).message);
}

}  // namespace
}  // namespace bmm::accounting

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new bmm::test::stack_environment);
    return RUN_ALL_TESTS();
}
