// bmm-accountd's configuration: values, ${ENV}, and errors that name the place.
#include "bmm/accounting/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace bmm::accounting {
namespace {

constexpr const char* k_minimal = R"(
[postgres]
user = "bmm"
dbname = "bmm"
[redis]
port = 6380
)";

TEST(accountd_config, minimal_file_gets_the_defaults) {
    auto c = parse_accountd_config(k_minimal, "a.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->postgres.host, "127.0.0.1");
    EXPECT_EQ(c->postgres.port, 5432);
    EXPECT_EQ(c->redis.port, 6380);
    EXPECT_EQ(c->redis.stream, "bmm:shares");
    EXPECT_EQ(c->redis.all_streams(), std::vector<std::string>{"bmm:shares"});
    EXPECT_EQ(c->redis.group, "bmm-accountd");
    EXPECT_EQ(c->ingest.batch_size, 10000);
    EXPECT_EQ(c->ingest.claim_idle_ms, 300000);
    EXPECT_TRUE(c->node.url.empty());
}

// [redis] password_file, sentinels and master_name (bmm/config/redis_section.hpp):
// read, and refused with the key named when they cannot work.
TEST(accountd_config, redis_password_file_and_sentinels) {
    char dir[] = "/tmp/bmm-redis-cfg-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string pw = std::string(dir) + "/redis.password";
    {
        FILE* f = std::fopen(pw.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs("s3cret\n", f);
        std::fclose(f);
    }
    const std::string base = "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n";
    auto c =
        parse_accountd_config(base + "password_file = \"" + pw +
                                  "\"\nsentinels = [\"10.77.0.21:26379\", \"[::1]:26380\"]\nmaster_name = \"bmm\"\n",
                              "r.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->redis.password_file, pw);
    ASSERT_EQ(c->redis.sentinels.size(), 2u);
    EXPECT_EQ(c->redis.sentinels[1], "[::1]:26380");
    EXPECT_EQ(c->redis.master_name, "bmm");
    EXPECT_EQ(redis::describe(c->redis), "Redis primary bmm (Sentinels 10.77.0.21:26379, [::1]:26380)");

    auto missing = parse_accountd_config(base + "password_file = \"" + std::string(dir) + "/nope\"\n", "r.toml");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error_message().find("r.toml:5:17: [redis] password_file " + std::string(dir) +
                                           "/nope: cannot read it"),
              std::string::npos)
        << missing.error_message();

    auto bad_sentinel = parse_accountd_config(base + "sentinels = [\"10.77.0.21\"]\n", "r.toml");
    ASSERT_FALSE(bad_sentinel.ok());
    EXPECT_NE(bad_sentinel.error_message().find("r.toml:5:13: [redis] sentinels: \"10.77.0.21\" is not host:port"),
              std::string::npos)
        << bad_sentinel.error_message();

    auto no_name = parse_accountd_config(base + "sentinels = [\"127.0.0.1:26379\"]\nmaster_name = \"\"\n", "r.toml");
    ASSERT_FALSE(no_name.ok());
    EXPECT_NE(no_name.error_message().find("[redis] master_name must not be empty with sentinels"), std::string::npos)
        << no_name.error_message();
    std::remove(pw.c_str());
    ::rmdir(dir);
}

// [redis] wait_replicas and wait_timeout_ms (issue 17): a round is stored only
// once that many replicas have it; absent, no WAIT; out of range, refused with
// the key and its place named.
TEST(accountd_config, redis_wait_replicas_and_timeout) {
    const std::string base = "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n";
    auto c = parse_accountd_config(base + "wait_replicas = 2\nwait_timeout_ms = 750\n", "w.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->redis.wait.replicas, 2);
    EXPECT_EQ(c->redis.wait.timeout_ms, 750);

    auto d = parse_accountd_config(base, "w.toml");
    ASSERT_TRUE(d.ok()) << d.error_message();
    EXPECT_EQ(d->redis.wait.replicas, 0) << "no WAIT unless asked for";

    auto many = parse_accountd_config(base + "wait_replicas = 17\n", "w.toml");
    ASSERT_FALSE(many.ok());
    EXPECT_NE(many.error_message().find("w.toml:5:17: [redis] wait_replicas must be an integer from 0 to 16"),
              std::string::npos)
        << many.error_message();
    auto zero = parse_accountd_config(base + "wait_replicas = 1\nwait_timeout_ms = 0\n", "w.toml");
    ASSERT_FALSE(zero.ok());
    EXPECT_NE(zero.error_message().find("[redis] wait_timeout_ms must be an integer from 1 to 60000"),
              std::string::npos)
        << zero.error_message();
}

TEST(accountd_config, environment_references_and_integers_as_strings) {
    ::setenv("BMM_TEST_PG_PORT", "41234", 1);
    ::setenv("BMM_TEST_PG_PASSWORD", "s3cret", 1);
    auto c = parse_accountd_config(R"(
[postgres]
port = "${BMM_TEST_PG_PORT}"
user = "bmm"
dbname = "bmm"
password = "${BMM_TEST_PG_PASSWORD}"
[redis]
[ingest]
batch_size = 500
claim_idle_ms = 0
)",
                                   "b.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->postgres.port, 41234);
    EXPECT_EQ(c->postgres.password, "s3cret");
    EXPECT_EQ(c->ingest.batch_size, 500);
    EXPECT_EQ(c->ingest.claim_idle_ms, 0) << "0: never take entries over";
}

TEST(accountd_config, errors_name_file_line_column_and_setting) {
    auto unknown = parse_accountd_config("[postgres]\nuser = \"u\"\ndbname = \"d\"\nhots = \"x\"\n[redis]\n", "c.toml");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error_message(), "c.toml:4:8: unknown setting [postgres] hots");

    auto range = parse_accountd_config("[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\nport = 70000\n", "c.toml");
    ASSERT_FALSE(range.ok());
    EXPECT_EQ(range.error_message(), "c.toml:5:8: [redis] port must be an integer from 1 to 65535");

    auto missing = parse_accountd_config("[postgres]\nuser = \"u\"\n[redis]\n", "c.toml");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error_message().find("[postgres] dbname is required"), std::string::npos)
        << missing.error_message();

    auto no_env = parse_accountd_config(
        "[postgres]\nuser = \"u\"\ndbname = \"d\"\npassword = \"${BMM_TEST_NOT_SET_ANYWHERE}\"\n[redis]\n", "c.toml");
    ASSERT_FALSE(no_env.ok());
    EXPECT_NE(no_env.error_message().find("environment variable BMM_TEST_NOT_SET_ANYWHERE is not set"),
              std::string::npos);

    auto url = parse_accountd_config("[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n[node]\nurl = \"https://x\"\n",
                                     "c.toml");
    ASSERT_FALSE(url.ok());
    EXPECT_NE(url.error_message().find("[node] url must start with http://"), std::string::npos);

    auto syntax = parse_accountd_config("[postgres\n", "c.toml");
    ASSERT_FALSE(syntax.ok());
    EXPECT_EQ(syntax.error_message().rfind("c.toml:1:", 0), 0u) << syntax.error_message();
}

TEST(accountd_config, epochs_and_coins) {
    auto none = parse_accountd_config(k_minimal, "a.toml");
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->epochs.enabled) << "without [epochs] the daemon only ingests";
    EXPECT_TRUE(none->coins.empty());

    const std::string base =
        "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n"
        "[node]\nurl = \"http://127.0.0.1:1/\"\nuser = \"n\"\npassword = \"p\"\ncurrency = \"LTC\"\n";
    auto c = parse_accountd_config(base + "[epochs]\ngenesis = 1767225600\n[coins.LTC]\n", "e.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_TRUE(c->epochs.enabled);
    EXPECT_EQ(c->epochs.genesis, 1767225600);
    EXPECT_EQ(c->epochs.length_seconds, 86400);
    EXPECT_EQ(c->epochs.genesis, 1767225600);
    EXPECT_EQ(c->epochs.halving_period, 1461u);
    EXPECT_EQ(c->epochs.persistence.e_step_bp, 100u);
    EXPECT_EQ(c->epochs.persistence.e_max_bp, 15000u);
    EXPECT_EQ(c->epochs.persistence.min_epoch_dpp, 1);
    ASSERT_EQ(c->coins.count("LTC"), 1u);
    const auto& ltc = c->coins.at("LTC");
    EXPECT_EQ(ltc.rules.fee_ppm, 10000u);
    EXPECT_EQ(ltc.rules.holders_ppm, 200000u);
    EXPECT_EQ(ltc.rules.scheme, payout_scheme::pp);
    EXPECT_EQ(ltc.rules.resource_weight_ppm, 1000000u);
    EXPECT_EQ(ltc.maturity, 100);
    EXPECT_EQ(ltc.node.url, "http://127.0.0.1:1/") << "the coin's node defaults to [node] of the same currency";
    EXPECT_EQ(ltc.node.user, "n");

    auto set = parse_accountd_config(
        base +
            "[epochs]\ngenesis = 10\nlength_seconds = 5\nhalving_period = 7\n"
            "e_step_bp = 50\ne_max_bp = 12000\nmin_epoch_dpp = \"123456789012345678901234567890\"\n"
            "close_grace_ms = 250\nstep_ms = 100\n"
            "[coins.LTC]\nfee_ppm = 0\nholders_ppm = 1000000\nscheme = \"solo\"\n"
            "resource_weight_ppm = 2500000\nmaturity = 6\nnode_url = \"http://10.0.0.1:9332/\"\n"
            "[coins.BTC]\nscheme = \"pp\"\n",
        "s.toml");
    ASSERT_TRUE(set.ok()) << set.error_message();
    EXPECT_EQ(set->epochs.length_seconds, 5);
    EXPECT_EQ(set->epochs.halving_period, 7u);
    EXPECT_EQ(set->epochs.persistence.min_epoch_dpp, amount("123456789012345678901234567890"));
    EXPECT_EQ(set->epochs.close_grace_ms, 250);
    EXPECT_EQ(set->coins.at("LTC").rules.scheme, payout_scheme::solo);
    EXPECT_EQ(set->coins.at("LTC").rules.resource_weight_ppm, 2500000u);
    EXPECT_EQ(set->coins.at("LTC").maturity, 6);
    EXPECT_EQ(set->coins.at("LTC").node.url, "http://10.0.0.1:9332/");
    EXPECT_TRUE(set->coins.at("BTC").node.url.empty()) << "[node] is an LTC node";
    const auto rules = rules_of(*set);
    EXPECT_EQ(rules.halving_period, 7u);
    EXPECT_EQ(rules.coins.size(), 2u);
    EXPECT_TRUE(validate_config(rules).ok());

    auto expect_error = [&](const std::string& text, const std::string& part) {
        auto r = parse_accountd_config(base + text, "x.toml");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.error_message().find(part), std::string::npos) << r.error_message();
    };
    expect_error("[epochs]\nlength_seconds = 5\n[coins.LTC]\n", "[epochs] genesis");
    expect_error("[epochs]\ngenesis = 1\n", "at least one [coins.<COIN>]");
    expect_error("[epochs]\ngenesis = 1\nlength_seconds = 0\n[coins.LTC]\n", "[epochs] length_seconds must be");
    expect_error("[epochs]\ngenesis = 1\nmin_epoch_dpp = \"1.5\"\n[coins.LTC]\n",
                 "min_epoch_dpp must be a positive integer");
    expect_error("[epochs]\ngenesis = 1\nlenght = 1\n[coins.LTC]\n", "unknown setting [epochs] lenght");
    expect_error("[coins.LTC]\nfee_ppm = 900000\nholders_ppm = 200000\n", "fee_ppm + holders_ppm must not exceed");
    expect_error("[coins.LTC]\nscheme = \"prop\"\n", "scheme must be pp, pplns, pps or solo");
    for (const char* scheme : {"pp", "pplns", "pps", "solo"}) {
        auto r =
            parse_accountd_config(base + "[coins.LTC]\nscheme = \"" + scheme + "\"\npplns_n_ppm = 3000000\n", "x.toml");
        ASSERT_TRUE(r.ok()) << scheme << ": " << r.error_message();
        EXPECT_EQ(to_string(r->coins.at("LTC").rules.scheme), scheme);
        EXPECT_EQ(r->coins.at("LTC").rules.pplns_n_ppm, 3000000u);
    }
    expect_error("[coins.LTC]\nscheme = \"pplns\"\npplns_n_ppm = 0\n", "pplns_n_ppm");
    expect_error("[coins.ltc]\n", "capital letters");
    expect_error("[coins.LTC]\nmaturity = 0\n", "[coins.LTC] maturity must be");
    expect_error("[coins.LTC]\nnode_url = \"https://x/\"\n", "node_url must start with http://");
}

TEST(accountd_config, payout_defaults) {
    auto c = parse_accountd_config(k_minimal, "a.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->payout.wallet, "");
    EXPECT_EQ(c->payout.confirmations, 6);
    EXPECT_EQ(c->payout.fee_rate, 10);
    EXPECT_EQ(c->payout.max_fee_rate, 100);
    EXPECT_EQ(c->payout.max_tx_weight, 360000);
    EXPECT_TRUE(c->payout.min_amount.empty());
    EXPECT_EQ(payout_min_amount(c->payout, "LTC"), amount(1000000)) << "0.01 of an 8-decimal coin";
    EXPECT_EQ(payout_min_amount(c->payout, "BMM"), amount("1000000000000000000")) << "1 BMM";
}

TEST(accountd_config, payout_section_and_thresholds) {
    const std::string base = std::string(k_minimal);
    auto c = parse_accountd_config(base + R"(
[payout]
wallet = "pool"
confirmations = 3
fee_rate = 2
max_fee_rate = 50
max_tx_weight = 100000
[payout.min_amount]
LTC = "10000000"
BTC = 50000
BMM = "2500000000000000000000000000"
)",
                                   "p.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->payout.wallet, "pool");
    EXPECT_EQ(c->payout.confirmations, 3);
    EXPECT_EQ(c->payout.fee_rate, 2);
    EXPECT_EQ(c->payout.max_fee_rate, 50);
    EXPECT_EQ(c->payout.max_tx_weight, 100000);
    EXPECT_EQ(payout_min_amount(c->payout, "LTC"), amount(10000000));
    EXPECT_EQ(payout_min_amount(c->payout, "BTC"), amount(50000)) << "an integer works too";
    EXPECT_EQ(to_decimal(payout_min_amount(c->payout, "BMM")), "2500000000000000000000000000")
        << "beyond 64 bits as decimal text";
    EXPECT_EQ(payout_min_amount(c->payout, "DOGE"), amount(1000000)) << "unlisted: the default";

    auto expect_error = [&](const std::string& text, const std::string& part) {
        auto r = parse_accountd_config(base + text, "p.toml");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.error_message().find(part), std::string::npos) << r.error_message();
    };
    expect_error("[payout]\nfee_rate = 20\nmax_fee_rate = 10\n", "max_fee_rate (10) must not be below fee_rate (20)");
    expect_error("[payout]\nmax_tx_weight = 500000\n", "[payout] max_tx_weight must be an integer from 4000 to 400000");
    expect_error("[payout]\nconfirmations = 0\n", "[payout] confirmations must be");
    expect_error("[payout]\nwalet = \"x\"\n", "unknown setting [payout] walet");
    expect_error("[payout.min_amount]\nLTC = \"0.1\"\n", "[payout.min_amount] LTC must be a whole number");
    expect_error("[payout.min_amount]\nLTC = -5\n", "[payout.min_amount] LTC must be a whole number");
    expect_error("[payout.min_amount]\nltc = 5\n", "capital letters");
    expect_error("[payout]\nmin_amount = 5\n", "[payout] min_amount must be a table");
}

TEST(accountd_config, min_bmm_to_mine_per_coin) {
    const std::string base = "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n";
    auto off = parse_accountd_config(base + "[coins.LTC]\n", "g.toml");
    ASSERT_TRUE(off.ok()) << off.error_message();
    EXPECT_EQ(off->coins.at("LTC").min_bmm_to_mine, 0);
    auto on = parse_accountd_config(base +
                                        "[coins.LTC]\nmin_bmm_to_mine = \"1000000000000000000000\"\n"
                                        "[coins.BTC]\nmin_bmm_to_mine = 5\n",
                                    "g.toml");
    ASSERT_TRUE(on.ok()) << on.error_message();
    EXPECT_EQ(to_decimal(on->coins.at("LTC").min_bmm_to_mine), "1000000000000000000000");
    EXPECT_EQ(on->coins.at("BTC").min_bmm_to_mine, 5);
    EXPECT_EQ(on->coins.at("LTC").algorithm, "scrypt") << "LTC's default";
    EXPECT_EQ(on->coins.at("BTC").algorithm, "sha256d") << "BTC's default";
    {
        auto unknown = parse_accountd_config(base + "[coins.XMR]\n", "a.toml");
        ASSERT_FALSE(unknown.ok());
        EXPECT_NE(unknown.error_message().find("algorithm must be sha256d or scrypt"), std::string::npos)
            << unknown.error_message();
        auto given = parse_accountd_config(base + "[coins.DGB]\nalgorithm = \"sha256d\"\n", "a.toml");
        ASSERT_TRUE(given.ok()) << given.error_message();
        EXPECT_EQ(given->coins.at("DGB").algorithm, "sha256d");
        auto wrong = parse_accountd_config(base + "[coins.LTC]\nalgorithm = \"x11\"\n", "a.toml");
        ASSERT_FALSE(wrong.ok());
        EXPECT_NE(wrong.error_message().find("algorithm"), std::string::npos) << wrong.error_message();
    }
    for (const char* bad : {"\"-1\"", "\"1.5\"", "\"lots\"", "-3"}) {
        auto r = parse_accountd_config(base + "[coins.LTC]\nmin_bmm_to_mine = " + bad + "\n", "g.toml");
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error_message().find("min_bmm_to_mine"), std::string::npos) << r.error_message();
    }
}

// [coins.X] pool_address: the address the audit checks the wallet's coinbases for; unset by default.
TEST(accountd_config, pool_address_per_coin) {
    const std::string base = "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n";
    auto off = parse_accountd_config(base + "[coins.LTC]\n", "g.toml");
    ASSERT_TRUE(off.ok()) << off.error_message();
    EXPECT_EQ(off->coins.at("LTC").pool_address, "");
    auto on = parse_accountd_config(base + "[coins.LTC]\npool_address = \"rltc1qpool\"\n", "g.toml");
    ASSERT_TRUE(on.ok()) << on.error_message();
    EXPECT_EQ(on->coins.at("LTC").pool_address, "rltc1qpool");
    auto bad = parse_accountd_config(base + "[coins.LTC]\npool_address = 5\n", "g.toml");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error_message().find("pool_address"), std::string::npos) << bad.error_message();
}

TEST(accountd_config, web_section_for_the_page) {
    auto d = parse_accountd_config(k_minimal, "a.toml");
    ASSERT_TRUE(d.ok()) << d.error_message();
    EXPECT_EQ(d->web.offline_after_minutes, 10);
    EXPECT_TRUE(d->web.stratum.empty());
    auto c = parse_accountd_config(std::string(k_minimal) + R"(
[web]
payout_schedule = "hourly"
offline_after_minutes = 5
[web.stratum.LTC]
algorithm = "scrypt"
urls = ["stratum+tcp://pool.example.com:3333", "stratum+ssl://pool.example.com:3443"]
[web.stratum.BTC]
algorithm = "sha256d"
)",
                                   "w.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->web.payout_schedule, "hourly");
    EXPECT_EQ(c->web.offline_after_minutes, 5);
    ASSERT_EQ(c->web.stratum.size(), 2u);
    EXPECT_EQ(c->web.stratum.at("LTC").algorithm, "scrypt");
    EXPECT_EQ(c->web.stratum.at("LTC").urls.size(), 2u);
    EXPECT_TRUE(c->web.stratum.at("BTC").urls.empty());
    for (const auto& [bad, says] : std::vector<std::pair<std::string, std::string>>{
             {"[web]\noffline_after_minutes = 0\n", "offline_after_minutes"},
             {"[web.stratum.LTC]\nalgorithm = \"scrypt\"\nurls = [\"http://x:1\"]\n", "is not a Stratum URL"},
             {"[web.stratum.ltc]\nalgorithm = \"scrypt\"\n", "must be a table named by a coin"},
             {"[web.stratum.LTC]\nurls = []\n", "algorithm"},
             {"[web]\ncolour = \"red\"\n", "colour"}}) {
        auto r = parse_accountd_config(std::string(k_minimal) + bad, "w.toml");
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error_message().find(says), std::string::npos) << r.error_message();
        EXPECT_NE(r.error_message().find("w.toml:"), std::string::npos) << r.error_message();
    }
}

TEST(accountd_config, the_sample_in_deploy_parses) {
    const char* src = std::getenv("BMM_SOURCE_DIR");
    const std::string path = std::string(src && *src ? src : ".") + "/deploy/config/bmm-accountd.toml";
    for (const char* v : {"BMM_PG_HOST", "BMM_PG_USER", "BMM_PG_DB", "BMM_PG_PASSWORD", "BMM_REDIS_HOST",
                          "BMM_NODE_RPC_USER", "BMM_NODE_RPC_PASSWORD"})
        ::setenv(v, "x", 1);
    ::setenv("BMM_PG_PORT", "5432", 1);
    ::setenv("BMM_REDIS_PORT", "6379", 1);
    ::setenv("BMM_NODE_RPC_URL", "http://127.0.0.1:19443/", 1);
    ::setenv("BMM_BTC_RPC_URL", "http://127.0.0.1:19408/", 1);
    ::setenv("BMM_BTC_RPC_USER", "x", 1);
    ::setenv("BMM_BTC_RPC_PASSWORD", "x", 1);
    ::setenv("BMM_BTC_WALLET_RPC_URL", "http://127.0.0.1:19409/", 1);
    ::setenv("BMM_EPOCH_GENESIS", "1767225600", 1);
    const std::string password_file = "/tmp/bmm-accountd-config-test-" + std::to_string(::getpid()) + ".password";
    if (FILE* f = std::fopen(password_file.c_str(), "w")) {
        std::fputs("x\n", f);
        std::fclose(f);
    }
    ::setenv("BMM_REDIS_PASSWORD_FILE", password_file.c_str(), 1);
    auto c = load_accountd_config(path);
    std::remove(password_file.c_str());
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_TRUE(c->epochs.enabled);
    EXPECT_EQ(c->coins.at("LTC").node.url, "http://127.0.0.1:19443/");
    // Both coins of deploy/up.sh: BTC's blocks are followed on bcoin.
    EXPECT_EQ(c->coins.at("BTC").node.url, "http://127.0.0.1:19408/");
    EXPECT_EQ(c->coins.at("BTC").maturity, 100);
    // Resource weights (docs/accounting.md): a difficulty-1 share is as much DPP on either
    // coin: 2^16 scrypt hashes x LTC's weight = 2^32 sha256d hashes x BTC's.
    EXPECT_EQ(c->coins.at("LTC").algorithm, "scrypt");
    EXPECT_EQ(c->coins.at("BTC").algorithm, "sha256d");
    EXPECT_EQ(amount(1ULL << 16U) * c->coins.at("LTC").rules.resource_weight_ppm,
              amount(1ULL << 32U) * c->coins.at("BTC").rules.resource_weight_ppm);
    EXPECT_TRUE(validate_config(rules_of(*c)).ok());
    EXPECT_EQ(c->payout.wallet, "pool");
    EXPECT_EQ(payout_min_amount(c->payout, "LTC"), amount(10000000));
    // BTC is paid through bcoin's wallet, a server of its own.
    EXPECT_EQ(c->payout.coins.at("BTC").node, "bcoin");
    EXPECT_EQ(c->payout.coins.at("BTC").wallet_url, "http://127.0.0.1:19409/");
    EXPECT_FALSE(c->payout.coins.contains("LTC"));
}

TEST(accountd_config, payout_coins_name_the_wallet_node) {
    const std::string base = std::string(k_minimal);
    auto ok =
        parse_accountd_config(base + "[payout.coins.BTC]\nnode = \"bcoin\"\nwallet_url = \"http://w:1/\"\n", "p.toml");
    ASSERT_TRUE(ok.ok()) << ok.error_message();
    EXPECT_EQ(ok->payout.coins.at("BTC").node, "bcoin");
    auto core = parse_accountd_config(base + "[payout.coins.LTC]\nnode = \"core\"\n", "p.toml");
    ASSERT_TRUE(core.ok()) << core.error_message();
    for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
             {"[payout.coins.BTC]\nnode = \"electrum\"\n", "node must be"},
             {"[payout.coins.BTC]\nnode = \"bcoin\"\n", "wallet_url"},
             {"[payout.coins.BTC]\nnode = \"bcoin\"\nwallet_url = \"w:1\"\n", "wallet_url"},
             {"[payout.coins.BTC]\nnode = \"bcoin\"\nwallet = \"x\"\n", "wallet"},
             {"[payout.coins.btc]\nnode = \"core\"\n", "payout.coins.btc"}}) {
        auto r = parse_accountd_config(base + text, "p.toml");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.error_message().find(what), std::string::npos) << r.error_message();
    }
}

// [redis] streams: one stream per bmm-stratum instance (Redis Cluster hash
// tags); stream = "x" is the one-element shorthand; both at once, an empty
// list, an empty name or one named twice are refused.
TEST(accountd_config, redis_streams_list_every_stream_read) {
    const std::string base = "[postgres]\nuser = \"u\"\ndbname = \"d\"\n[redis]\n";
    auto many = parse_accountd_config(base + "streams = [\"bmm:shares:{1}\", \"bmm:shares:{2}\", \"bmm:shares:{3}\"]\n",
                                      "s.toml");
    ASSERT_TRUE(many.ok()) << many.error_message();
    EXPECT_EQ(many->redis.all_streams(),
              (std::vector<std::string>{"bmm:shares:{1}", "bmm:shares:{2}", "bmm:shares:{3}"}));
    EXPECT_EQ(many->redis.stream, "bmm:shares:{1}");
    auto one = parse_accountd_config(base + "stream = \"bmm:shares:{7}\"\n", "s.toml");
    ASSERT_TRUE(one.ok()) << one.error_message();
    EXPECT_EQ(one->redis.all_streams(), std::vector<std::string>{"bmm:shares:{7}"});
    for (const auto& [text, what] :
         std::vector<std::pair<std::string, std::string>>{{"stream = \"a\"\nstreams = [\"b\"]\n", "not both"},
                                                          {"streams = []\n", "at least one stream"},
                                                          {"streams = [\"a\", \"\"]\n", "must not be empty"},
                                                          {"streams = [\"a\", \"b\", \"a\"]\n", "\"a\" twice"},
                                                          {"streams = \"a\"\n", "streams"}}) {
        auto r = parse_accountd_config(base + text, "s.toml");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.error_message().find(what), std::string::npos) << r.error_message();
        EXPECT_EQ(r.error_message().rfind("s.toml:", 0), 0u) << r.error_message();
    }
}

// [postgres] hosts (issue 17): libpq's multi-host conninfo, read-write by
// default; [api.read_postgres] through a transaction-pooled PgBouncer.
TEST(accountd_config, postgres_hosts_and_the_read_api_connection) {
    ::unsetenv("PGOPTIONS");
    auto c = parse_accountd_config(R"(
[postgres]
hosts = ["10.77.0.31:5432", "10.77.0.32:5433", "[::1]:5434", "db4"]
user = "bmm"
dbname = "bmm"
failover_retry_seconds = 90
[redis]
[api]
[api.read_postgres]
hosts = ["10.77.0.41:6432"]
)",
                                   "h.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    const std::string ci = c->postgres.conninfo();
    EXPECT_NE(ci.find("host='10.77.0.31,10.77.0.32,::1,db4'"), std::string::npos) << ci;
    EXPECT_NE(ci.find("port='5432,5433,5434,5432'"), std::string::npos) << ci;
    EXPECT_NE(ci.find("target_session_attrs='read-write'"), std::string::npos) << ci;
    EXPECT_NE(ci.find("options='-c TimeZone=UTC'"), std::string::npos) << ci;
    EXPECT_EQ(c->postgres.failover_retry_seconds, 90);
    EXPECT_EQ(c->postgres.describe(), "bmm@10.77.0.31:5432,10.77.0.32:5433,[::1]:5434,db4/bmm");
    ASSERT_TRUE(c->api.read_postgres.has_value());
    const auto& r = *c->api.read_postgres;
    EXPECT_TRUE(r.transaction_pooling);
    EXPECT_EQ(r.user, "bmm") << "who connects comes from [postgres]";
    const std::string rci = r.conninfo();
    EXPECT_NE(rci.find("target_session_attrs='any'"), std::string::npos) << rci;
    EXPECT_EQ(rci.find("options="), std::string::npos) << "PgBouncer refuses the options startup parameter: " << rci;
    ::setenv("PGOPTIONS", "-c search_path=t1 --work_mem=8MB", 1);
    EXPECT_EQ(r.per_transaction_sql(),
              "SELECT set_config('TimeZone', 'UTC', true), set_config('search_path', 't1', true), "
              "set_config('work_mem', '8MB', true)");
    ::unsetenv("PGOPTIONS");
    EXPECT_EQ(c->postgres.per_transaction_sql(), "") << "a direct connection sets them at connect time";

    // One server: as before, nothing about sessions unless asked.
    auto one = parse_accountd_config(k_minimal, "m.toml");
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->postgres.conninfo().find("target_session_attrs"), std::string::npos);
    EXPECT_FALSE(one->api.read_postgres.has_value());

    auto error_of = [](const std::string& postgres, const std::string& more = "") {
        auto parsed = parse_accountd_config(
            "[postgres]\nuser = \"u\"\ndbname = \"d\"\n" + postgres + "\n[redis]\n" + more, "e.toml");
        return parsed.ok() ? std::string("(accepted)") : parsed.error_message();
    };
    EXPECT_NE(error_of("host = \"a\"\nhosts = [\"b:1\"]").find("has both hosts and host/port"), std::string::npos);
    EXPECT_NE(error_of("hosts = []").find("hosts is empty"), std::string::npos);
    EXPECT_NE(error_of("hosts = [\"a:99999\"]").find("\"a:99999\" has no port from 1 to 65535"), std::string::npos)
        << error_of("hosts = [\"a:99999\"]");
    EXPECT_NE(error_of("hosts = [\"::1:5432\"]").find("IPv6 address without brackets"), std::string::npos);
    EXPECT_NE(error_of("hosts = [\":5432\"]").find("has no host"), std::string::npos);
    EXPECT_NE(error_of("hosts = [\"a:1\"]\ntarget_session_attrs = \"readwrite\"").find("is not one of any, read-write"),
              std::string::npos);
    EXPECT_NE(error_of("hosts = [\"a:1\"]\ntarget_session_attrs = \"standby\"").find("nothing can be written"),
              std::string::npos);
    EXPECT_NE(error_of("", "[api]\nread_postgres = 3\n").find("[api] read_postgres must be a table"),
              std::string::npos);
    EXPECT_NE(error_of("", "[api.read_postgres]\nuser = \"r\"\n").find("needs host (and port) or hosts"),
              std::string::npos);
    EXPECT_NE(error_of("", "[api.read_postgres]\nhost = \"p\"\nmigrations_dir = \"x\"\n").find("unknown setting"),
              std::string::npos);
    EXPECT_EQ(error_of("hosts = [\"a:1\", \"b\"]\ntarget_session_attrs = \"primary\""), "(accepted)");
}

}  // namespace
}  // namespace bmm::accounting
