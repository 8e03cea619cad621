// bmm-stratum's TOML configuration: the shipped file loads, defaults apply,
// ${NAME} references expand, and every mistake is reported with the file,
// line and column and the setting's name, never silently accepted.

#include "bmm/stratum/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace bmm::stratum {
namespace {

// Sets (or unsets) an environment variable for one test and restores it.
class scoped_env {
public:
    scoped_env(std::string name, const char* value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        if (value) ::setenv(name_.c_str(), value, 1);
        else ::unsetenv(name_.c_str());
    }
    ~scoped_env() {
        if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
        else ::unsetenv(name_.c_str());
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

std::filesystem::path source_dir() {
    if (const char* d = std::getenv("BMM_SOURCE_DIR")) return d;
    // Run by hand rather than by ctest: this file is tests/stratum/config_test.cpp.
    return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The 1-based line of the first line of `text` that starts with `prefix`.
int line_of(const std::string& text, const std::string& prefix) {
    std::istringstream in(text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
        if (line.rfind(prefix, 0) == 0) return n;
    return 0;
}

// A Redis password file for the shipped configs' ${BMM_REDIS_PASSWORD_FILE}.
std::string test_password_file() {
    const std::string path = "/tmp/bmm-stratum-config-test-" + std::to_string(::getpid()) + ".password";
    std::ofstream(path) << "s3cret\n";
    return path;
}

// The smallest valid file: line numbers in the tests below count from here.
constexpr const char* k_minimal = R"([pool]
address = "Lpool"

[node]
url = "http://127.0.0.1:9332/"
user = "u"
password = "p"

[redis]
spool_dir = "/tmp/spool"

[[port]]
port = 3333
)";

// k_minimal with `line` (1-based) replaced by `replacement` (possibly several lines).
std::string with_line(int line, const std::string& replacement) {
    std::istringstream in(k_minimal);
    std::string out, l;
    for (int n = 1; std::getline(in, l); ++n) out += (n == line ? replacement : l) + "\n";
    return out;
}

// k_minimal with `extra` inserted after `line` (1-based).
std::string with_after(int line, const std::string& extra) {
    std::istringstream in(k_minimal);
    std::string out, l;
    for (int n = 1; std::getline(in, l); ++n) {
        out += l + "\n";
        if (n == line) out += extra + "\n";
    }
    return out;
}

// Parses `text` as test.toml and returns the error, failing when it parsed.
std::string error_of(const std::string& text) {
    auto c = parse_server_config(text, "test.toml");
    if (c) {
        ADD_FAILURE() << "expected an error for:\n" << text;
        return {};
    }
    return c.error_message();
}

// The exact "where: setting ..." prefix every error must have.
#define EXPECT_CONFIG_ERROR(text, where, what)                         \
    do {                                                               \
        const std::string message_ = error_of(text);                   \
        EXPECT_EQ(message_.rfind(where, 0), 0u) << message_;           \
        EXPECT_NE(message_.find(what), std::string::npos) << message_; \
    } while (0)

// --------------------------------------------------------------------------
// Files that load
// --------------------------------------------------------------------------

TEST(config, shipped_stack_config_parses_with_its_environment) {
    const auto path = source_dir() / "deploy" / "config" / "bmm-stratum.toml";
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    scoped_env a("BMM_POOL_ADDRESS", "rltc1qpoolpayoutaddress");
    scoped_env b("BMM_NODE_RPC_URL", "http://127.0.0.1:19443/");
    scoped_env c("BMM_NODE_RPC_USER", "bmm");
    scoped_env d("BMM_NODE_RPC_PASSWORD", "s3cret \"quoted\"");
    scoped_env e("BMM_REDIS_HOST", "10.0.0.7");
    scoped_env f("BMM_REDIS_PORT", "6380");
    scoped_env g("BMM_STACK_DIR", "/var/lib/bmm-stack");
    const std::string password_file = test_password_file();
    scoped_env h("BMM_REDIS_PASSWORD_FILE", password_file.c_str());

    auto r = load_server_config(path.string());
    ASSERT_TRUE(r) << r.error_message();
    const server_config& cfg = *r;
    EXPECT_EQ(cfg.file, path.string());
    EXPECT_EQ(cfg.instance_id, 1u);
    EXPECT_EQ(cfg.algorithm, pow_algorithm::scrypt);
    EXPECT_EQ(cfg.coin, "LTC");
    EXPECT_EQ(cfg.address, "rltc1qpoolpayoutaddress");
    EXPECT_EQ(cfg.tag, "/BMM pool/");
    EXPECT_EQ(cfg.extranonce2_size, 4u);
    EXPECT_EQ(cfg.version_mask, 0x1fffe000u);
    EXPECT_EQ(cfg.threads, 0u);
    EXPECT_EQ(cfg.node_url, "http://127.0.0.1:19443/");
    EXPECT_EQ(cfg.node_user, "bmm");
    EXPECT_EQ(cfg.node_password, "s3cret \"quoted\"");
    EXPECT_EQ(cfg.rules, (std::vector<std::string>{"mweb", "segwit"}));
    EXPECT_DOUBLE_EQ(cfg.template_refresh_seconds, 20);
    EXPECT_DOUBLE_EQ(cfg.poll_seconds, 1);
    EXPECT_EQ(cfg.redis.host, "10.0.0.7");
    EXPECT_EQ(cfg.redis.port, 6380);
    EXPECT_EQ(cfg.stream, "bmm:shares");
    EXPECT_EQ(cfg.spool_dir, "/var/lib/bmm-stack/spool");
    EXPECT_EQ(cfg.log_level, "info");
    ASSERT_EQ(cfg.ports.size(), 1u);
    const port_config& p = cfg.ports[0];
    EXPECT_EQ(p.host, "127.0.0.1");
    EXPECT_EQ(p.port, 3333);
    EXPECT_FALSE(p.tls);
    EXPECT_DOUBLE_EQ(p.start_difficulty, 0.05);
    EXPECT_DOUBLE_EQ(p.min_difficulty, 0.0001);
    EXPECT_DOUBLE_EQ(p.max_difficulty, 1000000);
    EXPECT_DOUBLE_EQ(p.target_share_seconds, 5);
    EXPECT_DOUBLE_EQ(p.retarget_seconds, 15);
    // The shipped [limits] documents the defaults: the same values as an absent section.
    const limits_config defaults;
    EXPECT_EQ(cfg.limits.max_connections, defaults.max_connections);
    EXPECT_EQ(cfg.limits.max_connections_per_ip, defaults.max_connections_per_ip);
    EXPECT_EQ(cfg.limits.max_line_bytes, defaults.max_line_bytes);
    EXPECT_EQ(cfg.limits.max_pending_requests, defaults.max_pending_requests);
    EXPECT_EQ(cfg.limits.max_workers_per_connection, defaults.max_workers_per_connection);
    EXPECT_EQ(cfg.limits.max_write_queue_bytes, defaults.max_write_queue_bytes);
    EXPECT_DOUBLE_EQ(cfg.limits.idle_timeout_seconds, defaults.idle_timeout_seconds);
    EXPECT_DOUBLE_EQ(cfg.limits.half_open_timeout_seconds, defaults.half_open_timeout_seconds);
    EXPECT_DOUBLE_EQ(cfg.limits.tls_handshake_timeout_seconds, defaults.tls_handshake_timeout_seconds);
    EXPECT_DOUBLE_EQ(cfg.limits.ban_threshold, defaults.ban_threshold);
    EXPECT_DOUBLE_EQ(cfg.limits.ban_half_life_seconds, defaults.ban_half_life_seconds);
    EXPECT_DOUBLE_EQ(cfg.limits.ban_seconds, defaults.ban_seconds);
    EXPECT_EQ(cfg.metrics_host, "127.0.0.1");
    EXPECT_EQ(cfg.metrics_port, 9310);
}

TEST(config, shipped_btc_stack_config_parses_with_its_environment) {
    // The second pool of deploy/up.sh: sha256d on bcoin, its own instance id,
    // port, spool folder and metrics port, into the scrypt pool's stream.
    const auto path = source_dir() / "deploy" / "config" / "bmm-stratum-btc.toml";
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    scoped_env a("BMM_BTC_POOL_ADDRESS", "rb1qpoolpayoutaddress");
    scoped_env b("BMM_BTC_RPC_URL", "http://127.0.0.1:19408/");
    scoped_env c("BMM_BTC_RPC_USER", "bmm");
    scoped_env d("BMM_BTC_RPC_PASSWORD", "key");
    scoped_env e("BMM_REDIS_HOST", "127.0.0.1");
    scoped_env f("BMM_REDIS_PORT", "6380");
    scoped_env g("BMM_STACK_DIR", "/var/lib/bmm-stack");
    const std::string password_file = test_password_file();
    scoped_env h("BMM_REDIS_PASSWORD_FILE", password_file.c_str());

    auto r = load_server_config(path.string());
    ASSERT_TRUE(r) << r.error_message();
    const server_config& cfg = *r;
    EXPECT_EQ(cfg.instance_id, 2u);
    EXPECT_EQ(cfg.algorithm, pow_algorithm::sha256d);
    EXPECT_EQ(cfg.coin, "BTC");
    EXPECT_EQ(cfg.address, "rb1qpoolpayoutaddress");
    EXPECT_EQ(cfg.node_url, "http://127.0.0.1:19408/");
    EXPECT_EQ(cfg.rules, (std::vector<std::string>{"segwit"}));
    EXPECT_EQ(cfg.stream, "bmm:shares");
    EXPECT_EQ(cfg.spool_dir, "/var/lib/bmm-stack/spool-btc");
    EXPECT_EQ(cfg.metrics_port, 9311);
    ASSERT_EQ(cfg.ports.size(), 1u);
    EXPECT_EQ(cfg.ports[0].port, 3334);
}

TEST(config, shipped_stack_config_names_a_missing_variable) {
    const auto path = source_dir() / "deploy" / "config" / "bmm-stratum.toml";
    const std::string text = read_text(path);
    const int line = line_of(text, "password = \"${BMM_NODE_RPC_PASSWORD}\"");
    ASSERT_GT(line, 0);
    scoped_env a("BMM_POOL_ADDRESS", "rltc1qpoolpayoutaddress");
    scoped_env b("BMM_NODE_RPC_URL", "http://127.0.0.1:19443/");
    scoped_env c("BMM_NODE_RPC_USER", "bmm");
    scoped_env d("BMM_NODE_RPC_PASSWORD", nullptr);
    auto r = load_server_config(path.string());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_message(), path.string() + ":" + std::to_string(line) +
                                     ":12: [node] password: environment variable BMM_NODE_RPC_PASSWORD is not set");
}

TEST(config, minimal_file_gets_the_defaults) {
    auto r = parse_server_config(k_minimal, "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    const server_config& cfg = *r;
    EXPECT_EQ(cfg.file, "test.toml");
    EXPECT_EQ(cfg.instance_id, 0u);
    EXPECT_EQ(cfg.algorithm, pow_algorithm::scrypt);
    EXPECT_EQ(cfg.coin, "LTC");
    EXPECT_EQ(cfg.address, "Lpool");
    EXPECT_EQ(cfg.tag, "/BMM pool/");
    EXPECT_EQ(cfg.extranonce2_size, 4u);
    EXPECT_EQ(cfg.version_mask, 0x1fffe000u);
    EXPECT_EQ(cfg.node_url, "http://127.0.0.1:9332/");
    EXPECT_EQ(cfg.node_user, "u");
    EXPECT_EQ(cfg.node_password, "p");
    EXPECT_EQ(cfg.rules, (std::vector<std::string>{"mweb", "segwit"}));
    EXPECT_EQ(cfg.redis.host, "127.0.0.1");
    EXPECT_EQ(cfg.redis.port, 6379);
    EXPECT_EQ(cfg.stream, "bmm:shares");
    EXPECT_EQ(cfg.spool_dir, "/tmp/spool");
    EXPECT_EQ(cfg.journal_sync, "batch");
    EXPECT_EQ(cfg.journal_sync_interval_ms, 50u);
    EXPECT_EQ(cfg.log_level, "info");
    ASSERT_EQ(cfg.ports.size(), 1u);
    EXPECT_EQ(cfg.ports[0].host, "127.0.0.1");
    EXPECT_EQ(cfg.ports[0].port, 3333);
    EXPECT_DOUBLE_EQ(cfg.ports[0].start_difficulty, 1);
    // scrypt: 1/16, the power of two where a share costs a miner 4,096 hashes,
    // over k_share_cost_ratio times the pool's ~4.
    EXPECT_DOUBLE_EQ(cfg.ports[0].min_difficulty, 0.0625);
    EXPECT_DOUBLE_EQ(cfg.ports[0].max_difficulty, 1e12);
    EXPECT_DOUBLE_EQ(cfg.ports[0].target_share_seconds, 10);
    EXPECT_DOUBLE_EQ(cfg.ports[0].retarget_seconds, 30);
    EXPECT_FALSE(cfg.ports[0].tls);
    // [limits] defaults.
    EXPECT_EQ(cfg.limits.max_connections, 100000u);
    EXPECT_EQ(cfg.limits.max_connections_per_ip, 1000u);
    EXPECT_EQ(cfg.limits.max_line_bytes, 16384u);
    EXPECT_EQ(cfg.limits.max_pending_requests, 1000u);
    EXPECT_EQ(cfg.limits.max_write_queue_bytes, 1048576u);
    EXPECT_DOUBLE_EQ(cfg.limits.idle_timeout_seconds, 900);
    EXPECT_DOUBLE_EQ(cfg.limits.half_open_timeout_seconds, 30);
    EXPECT_DOUBLE_EQ(cfg.limits.tls_handshake_timeout_seconds, 10);
    EXPECT_DOUBLE_EQ(cfg.limits.ban_threshold, 50);
    EXPECT_DOUBLE_EQ(cfg.limits.ban_half_life_seconds, 60);
    EXPECT_DOUBLE_EQ(cfg.limits.ban_seconds, 600);
}

TEST(config, every_setting_is_read) {
    const std::string text = R"([pool]
instance_id = 255
algorithm = "sha256d"
coin = "BTC"
address = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
tag = "/BMM pool: forty bytes is the limit, ok/"
extranonce2_size = 8
version_mask = "FFFFFFFF"
threads = 256

[node]
url = "http://node:8332"
user = "rpc"
password = "pw"
rules = ["segwit"]
template_refresh_seconds = 3600
poll_seconds = 0.05

[redis]
host = "redis"
port = 65535
stream = "s"
spool_dir = "/spool"

[log]
level = "debug"

[[port]]
host = "0.0.0.0"
port = 1
tls = false
min_difficulty = 2
max_difficulty = 1e15
target_share_seconds = 0.01
retarget_seconds = 86400

[[port]]
port = 65535
start_difficulty = 1e-12
min_difficulty = 1e-12
max_difficulty = 1
)";
    auto r = parse_server_config(text, "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    const server_config& cfg = *r;
    EXPECT_EQ(cfg.instance_id, 255u);
    EXPECT_EQ(cfg.algorithm, pow_algorithm::sha256d);
    EXPECT_EQ(cfg.coin, "BTC");
    EXPECT_EQ(cfg.address, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq");
    EXPECT_EQ(cfg.tag.size(), 40u);
    EXPECT_EQ(cfg.extranonce2_size, 8u);
    EXPECT_EQ(cfg.version_mask, 0xffffffffu);
    EXPECT_EQ(cfg.threads, 256u);
    EXPECT_EQ(cfg.node_url, "http://node:8332");
    EXPECT_EQ(cfg.rules, (std::vector<std::string>{"segwit"}));
    EXPECT_DOUBLE_EQ(cfg.template_refresh_seconds, 3600);
    EXPECT_DOUBLE_EQ(cfg.poll_seconds, 0.05);
    EXPECT_EQ(cfg.redis.host, "redis");
    EXPECT_EQ(cfg.redis.port, 65535);
    EXPECT_EQ(cfg.stream, "s");
    EXPECT_EQ(cfg.log_level, "debug");
    ASSERT_EQ(cfg.ports.size(), 2u);
    EXPECT_EQ(cfg.ports[0].host, "0.0.0.0");
    EXPECT_EQ(cfg.ports[0].port, 1);
    // No start_difficulty: the default 1 is raised to the port's minimum.
    EXPECT_DOUBLE_EQ(cfg.ports[0].start_difficulty, 2);
    EXPECT_DOUBLE_EQ(cfg.ports[0].min_difficulty, 2);
    EXPECT_DOUBLE_EQ(cfg.ports[0].max_difficulty, 1e15);
    EXPECT_DOUBLE_EQ(cfg.ports[0].target_share_seconds, 0.01);
    EXPECT_DOUBLE_EQ(cfg.ports[0].retarget_seconds, 86400);
    EXPECT_EQ(cfg.ports[1].host, "127.0.0.1");
    EXPECT_EQ(cfg.ports[1].port, 65535);
    EXPECT_DOUBLE_EQ(cfg.ports[1].start_difficulty, 1e-12);
    EXPECT_DOUBLE_EQ(cfg.ports[1].max_difficulty, 1);
}

TEST(config, redis_sentinels_password_file_and_wait) {
    const std::string pw = test_password_file();
    auto r = parse_server_config(with_line(10, "spool_dir = \"/tmp/spool\"\npassword_file = \"" + pw +
                                                   "\"\nsentinels = [\"127.0.0.1:26379\", \"127.0.0.1:26380\"]\n"
                                                   "master_name = \"pool\"\nwait_replicas = 1\nwait_timeout_ms = 250"),
                                 "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->redis.password_file, pw);
    EXPECT_EQ(r->redis.sentinels, (std::vector<std::string>{"127.0.0.1:26379", "127.0.0.1:26380"}));
    EXPECT_EQ(r->redis.master_name, "pool");
    EXPECT_EQ(r->wait.replicas, 1);
    EXPECT_EQ(r->wait.timeout_ms, 250);
    EXPECT_EQ(r->redis.connect_timeout_ms, 2000);
    // Defaults: no password, no Sentinel, no WAIT.
    auto d = parse_server_config(k_minimal, "test.toml");
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_TRUE(d->redis.password_file.empty());
    EXPECT_TRUE(d->redis.sentinels.empty());
    EXPECT_EQ(d->wait.replicas, 0);
    EXPECT_EQ(error_of(with_line(10, "spool_dir = \"/tmp/spool\"\npassword_file = \"/nonexistent/redis.password\"")),
              "test.toml:11:17: [redis] password_file /nonexistent/redis.password: cannot read it (No such file or "
              "directory): it must hold Redis' password on its first line, readable by this program's user");
    EXPECT_EQ(error_of(with_line(10, "spool_dir = \"/tmp/spool\"\nsentinels = [\"127.0.0.1\"]")),
              "test.toml:11:13: [redis] sentinels: \"127.0.0.1\" is not host:port, e.g. \"10.77.0.21:26379\"");
    EXPECT_EQ(error_of(with_line(10, "spool_dir = \"/tmp/spool\"\nwait_replicas = 17")),
              "test.toml:11:17: [redis] wait_replicas must be an integer from 0 to 16");
    std::remove(pw.c_str());
}

TEST(config, version_mask_accepts_hex_digits_only) {
    const std::vector<std::pair<std::string, std::uint32_t>> good = {
        {"1fffe000", 0x1fffe000u}, {"0", 0u}, {"ffffffff", 0xffffffffu}, {"00002000", 0x2000u}, {"aBcD", 0xabcdu}};
    for (const auto& [hex, value] : good) {
        auto r = parse_server_config(with_after(2, "version_mask = \"" + hex + "\""), "test.toml");
        ASSERT_TRUE(r) << hex << ": " << r.error_message();
        EXPECT_EQ(r->version_mask, value) << hex;
    }
}

TEST(config, environment_references_expand_inside_strings) {
    scoped_env a("BMM_TEST_CFG_HOST", "node.example");
    scoped_env b("BMM_TEST_CFG_PORT", "19332");
    scoped_env c("BMM_TEST_CFG_EMPTY", "");
    auto r = parse_server_config(
        with_line(5, "url = \"http://${BMM_TEST_CFG_HOST}:${BMM_TEST_CFG_PORT}/${BMM_TEST_CFG_EMPTY}x\""), "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->node_url, "http://node.example:19332/x");
}

TEST(config, integers_may_come_from_the_environment_as_strings) {
    scoped_env a("BMM_TEST_CFG_REDIS_PORT", "6390");
    scoped_env b("BMM_TEST_CFG_INSTANCE", "42");
    auto r = parse_server_config(with_after(1, "instance_id = \"${BMM_TEST_CFG_INSTANCE}\""), "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->instance_id, 42u);
    auto s = parse_server_config(with_after(10, "port = \"${BMM_TEST_CFG_REDIS_PORT}\""), "test.toml");
    ASSERT_TRUE(s) << s.error_message();
    EXPECT_EQ(s->redis.port, 6390);
}

TEST(config, load_reads_a_file_and_names_it) {
    const auto path =
        std::filesystem::temp_directory_path() / ("bmm_config_test_" + std::to_string(::getpid()) + ".toml");
    {
        std::ofstream out(path);
        out << with_line(13, "port = 70000");
    }
    auto r = load_server_config(path.string());
    std::filesystem::remove(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_message(), path.string() + ":13:8: [port] port must be an integer from 1 to 65535");
}

// --------------------------------------------------------------------------
// Mistakes, each named with where it is and which setting it is
// --------------------------------------------------------------------------

TEST(config, missing_file) {
    auto r = load_server_config("/nonexistent/bmm/dir/stratum.toml");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_message(), "/nonexistent/bmm/dir/stratum.toml: cannot read the configuration file");
}

TEST(config, missing_pool_address) {
    // [pool] stays, its address goes: the message points at the [pool] header.
    EXPECT_EQ(error_of(with_line(2, "coin = \"LTC\"")), "test.toml:1:1: [pool] address is required");
    EXPECT_EQ(error_of(with_line(2, "address = \"\"")), "test.toml:2:11: [pool] address must not be empty");
}

TEST(config, missing_required_sections_and_settings) {
    std::string no_pool = k_minimal;
    no_pool.replace(0, no_pool.find("[node]"), "");
    EXPECT_EQ(error_of(no_pool), "test.toml: section [pool] is required");

    std::string no_node = k_minimal;
    const auto n = no_node.find("[node]");
    no_node.erase(n, no_node.find("[redis]") - n);
    EXPECT_EQ(error_of(no_node), "test.toml: section [node] is required");

    EXPECT_EQ(error_of(with_line(7, "")), "test.toml:4:1: [node] password is required");
    EXPECT_EQ(error_of(with_line(10, "")), "test.toml:9:1: [redis] spool_dir is required");
}

TEST(config, unknown_settings_are_typos) {
    EXPECT_EQ(error_of(with_line(2, "adress = \"Lpool\"")), "test.toml:2:10: unknown setting [pool] adress");
    EXPECT_EQ(error_of(with_after(13, "start_dificulty = 5")),
              "test.toml:14:19: unknown setting [port] start_dificulty");
    EXPECT_EQ(error_of(with_after(7, "passwd = \"p\"")), "test.toml:8:10: unknown setting [node] passwd");
    EXPECT_EQ(error_of(std::string(k_minimal) + "[poool]\nx = 1\n"), "test.toml:14:1: unknown setting poool");
}

TEST(config, wrong_types) {
    EXPECT_CONFIG_ERROR(with_line(2, "address = 5"), "test.toml:2:11: ", "[pool] address must be a string");
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = \"one\""),
                        "test.toml:2:15: ", "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = 1.0"),
                        "test.toml:2:15: ", "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(13, "tls = \"yes\""), "test.toml:14:7: ", "[port] tls must be true or false");
    EXPECT_CONFIG_ERROR(with_after(7, "rules = \"mweb\""),
                        "test.toml:8:9: ", "[node] rules must be an array of strings");
    EXPECT_CONFIG_ERROR(with_after(7, "rules = [\"mweb\", 1]"),
                        "test.toml:8:9: ", "[node] rules must be an array of strings");
    EXPECT_CONFIG_ERROR(with_after(13, "start_difficulty = \"high\""),
                        "test.toml:14:20: ", "[port] start_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(7, "poll_seconds = true"),
                        "test.toml:8:16: ", "[node] poll_seconds must be a number from 0.05 to 60");
    EXPECT_CONFIG_ERROR(with_line(13, "port = \"3333x\""),
                        "test.toml:13:8: ", "[port] port must be an integer from 1 to 65535");
    EXPECT_CONFIG_ERROR(with_after(1, "version_mask = 536862720"),
                        "test.toml:2:16: ", "[pool] version_mask must be a string");
    std::string pool_not_a_section = k_minimal;
    pool_not_a_section.replace(0, pool_not_a_section.find("[node]"), "pool = 5\n\n");
    EXPECT_CONFIG_ERROR(pool_not_a_section, "test.toml:1:8: ", "pool must be a section ([pool])");
    EXPECT_CONFIG_ERROR(std::string(k_minimal) + "[log]\nlevel = 3\n",
                        "test.toml:15:9: ", "[log] level must be a string");
}

TEST(config, out_of_range_numbers) {
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = 256"),
                        "test.toml:2:15: ", "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = -1"),
                        "test.toml:2:15: ", "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(2, "extranonce2_size = 9"),
                        "test.toml:3:20: ", "[pool] extranonce2_size must be an integer from 2 to 8");
    EXPECT_CONFIG_ERROR(with_after(2, "extranonce2_size = 1"),
                        "test.toml:3:20: ", "[pool] extranonce2_size must be an integer from 2 to 8");
    EXPECT_CONFIG_ERROR(with_after(2, "threads = 257"),
                        "test.toml:3:11: ", "[pool] threads must be an integer from 0 to 256");
    EXPECT_CONFIG_ERROR(with_line(13, "port = 0"),
                        "test.toml:13:8: ", "[port] port must be an integer from 1 to 65535");
    EXPECT_CONFIG_ERROR(with_after(10, "port = 65536"),
                        "test.toml:11:8: ", "[redis] port must be an integer from 1 to 65535");
    // A setting this build does not have is refused, not ignored.
    EXPECT_CONFIG_ERROR(with_after(2, "stale_grace_seconds = 5"),
                        "test.toml:3:23: ", "unknown setting [pool] stale_grace_seconds");
    EXPECT_CONFIG_ERROR(with_after(7, "poll_seconds = 0"),
                        "test.toml:8:16: ", "[node] poll_seconds must be a number from 0.05 to 60");
    EXPECT_CONFIG_ERROR(with_after(13, "max_difficulty = inf"),
                        "test.toml:14:18: ", "[port] max_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(13, "min_difficulty = nan"),
                        "test.toml:14:18: ", "[port] min_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(13, "min_difficulty = 0"),
                        "test.toml:14:18: ", "[port] min_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(13, "target_share_seconds = 0"),
                        "test.toml:14:24: ", "[port] target_share_seconds must be a number from 0.01 to 3600");
}

TEST(config, difficulty_bounds_must_be_ordered) {
    EXPECT_EQ(error_of(with_after(13, "min_difficulty = 10\nmax_difficulty = 5")),
              "test.toml:12:1: [[port]] min_difficulty is above max_difficulty");
    EXPECT_EQ(error_of(with_after(13, "min_difficulty = 1\nmax_difficulty = 100\nstart_difficulty = 101")),
              "test.toml:16:20: [[port]] start_difficulty must lie between min_difficulty and max_difficulty");
    EXPECT_EQ(error_of(with_after(13, "min_difficulty = 1\nmax_difficulty = 100\nstart_difficulty = 0.5")),
              "test.toml:16:20: [[port]] start_difficulty must lie between min_difficulty and max_difficulty");
    // The second [[port]] is the one named.
    EXPECT_EQ(error_of(std::string(k_minimal) + "\n[[port]]\nport = 3334\nmin_difficulty = 3\nmax_difficulty = 2\n"),
              "test.toml:15:1: [[port]] min_difficulty is above max_difficulty");
}

TEST(config, bad_version_masks) {
    for (const char* bad : {"xyz", "123456789", "", "-1", "+1f", " 1f", "0x1f", "1fffe00g"}) {
        EXPECT_CONFIG_ERROR(with_after(1, std::string("version_mask = \"") + bad + "\""),
                            "test.toml:2:16: ", "[pool] version_mask must be up to 8 hex digits");
    }
}

TEST(config, other_bad_values) {
    EXPECT_CONFIG_ERROR(with_line(5, "url = \"https://127.0.0.1:9332/\""),
                        "test.toml:5:7: ", "[node] url must start with http://");
    EXPECT_CONFIG_ERROR(with_line(5, "url = \"127.0.0.1:9332\""),
                        "test.toml:5:7: ", "[node] url must start with http://");
    EXPECT_CONFIG_ERROR(with_after(1, "algorithm = \"x11\""),
                        "test.toml:2:13: ", "[pool] algorithm: unknown proof-of-work algorithm 'x11'");
    EXPECT_CONFIG_ERROR(with_after(1, "tag = \"" + std::string(41, 't') + "\""),
                        "test.toml:2:7: ", "[pool] tag must be at most 40 bytes");
    EXPECT_CONFIG_ERROR(std::string(k_minimal) + "[log]\nlevel = \"verbose\"\n",
                        "test.toml:15:9: ", "[log] level must be debug, info, warn or error");
    EXPECT_CONFIG_ERROR(with_after(10, "journal_sync = \"always\""),
                        "test.toml:11:16: ", "[redis] journal_sync must be \"batch\", \"interval\" or \"none\"");
    EXPECT_CONFIG_ERROR(with_after(10, "journal_sync_interval_ms = 0"),
                        "test.toml:11:28: ", "journal_sync_interval_ms");
    {
        auto r = parse_server_config(with_after(10, "journal_sync = \"interval\"\njournal_sync_interval_ms = 20"),
                                     "test.toml");
        ASSERT_TRUE(r) << r.error_message();
        EXPECT_EQ(r->journal_sync, "interval");
        EXPECT_EQ(r->journal_sync_interval_ms, 20u);
    }
    EXPECT_CONFIG_ERROR(with_after(13, "tls = true"),
                        "test.toml:14:7: ", "[[port]] tls_cert is required when tls = true");
    EXPECT_CONFIG_ERROR(with_after(10, "stream = \"\""), "test.toml:11:10: ", "[redis] stream must not be empty");
    {
        // One stream per instance, with a Redis Cluster hash tag (docs/operations.md, "Several streams").
        auto r = parse_server_config(with_after(10, "stream = \"bmm:shares:{2}\""), "test.toml");
        ASSERT_TRUE(r) << r.error_message();
        EXPECT_EQ(r->stream, "bmm:shares:{2}");
    }
}

// --------------------------------------------------------------------------
// [limits]
// --------------------------------------------------------------------------

// A share must cost a miner k_share_cost_ratio times what it costs the pool:
// the floor per algorithm, and the default minimum a port gets without one.
TEST(config, minimum_difficulty_makes_a_share_cost_the_miner_far_more_than_the_pool) {
    using bmm::pow_algorithm;
    for (auto a : {pow_algorithm::scrypt, pow_algorithm::sha256d}) {
        const double floor = bmm::stratum::share_cost_floor(a);
        EXPECT_GE(bmm::stratum::miner_hashes_per_share(a, floor),
                  bmm::stratum::k_share_cost_ratio * bmm::stratum::pool_hashes_per_share(a));
        // The power of two below it does not make the ratio.
        EXPECT_LT(bmm::stratum::miner_hashes_per_share(a, floor / 2),
                  bmm::stratum::k_share_cost_ratio * bmm::stratum::pool_hashes_per_share(a));
        EXPECT_GE(bmm::stratum::default_min_difficulty(a), floor);
    }
    EXPECT_DOUBLE_EQ(bmm::stratum::share_cost_floor(pow_algorithm::scrypt), 0.0625);
    EXPECT_DOUBLE_EQ(bmm::stratum::default_min_difficulty(pow_algorithm::sha256d), 0.001);
    auto r = parse_server_config(with_after(1, "algorithm = \"sha256d\""), "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_DOUBLE_EQ(r->ports[0].min_difficulty, 0.001);
}

TEST(config, every_limit_is_read) {
    auto r = parse_server_config(std::string(k_minimal) + R"([limits]
max_connections = 50000
max_connections_per_ip = 20
max_line_bytes = 4096
max_pending_requests = 64
max_write_queue_bytes = 262144
idle_timeout_seconds = 120
half_open_timeout_seconds = 5
tls_handshake_timeout_seconds = 3.5
ban_threshold = 0
ban_half_life_seconds = 30
ban_seconds = 86400
max_shares_per_second = 7.5
free_rejects_per_minute = 0
)",
                                 "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    const limits_config& l = r->limits;
    EXPECT_EQ(l.max_connections, 50000u);
    EXPECT_EQ(l.max_connections_per_ip, 20u);
    EXPECT_EQ(l.max_line_bytes, 4096u);
    EXPECT_EQ(l.max_pending_requests, 64u);
    EXPECT_EQ(l.max_write_queue_bytes, 262144u);
    EXPECT_DOUBLE_EQ(l.idle_timeout_seconds, 120);
    EXPECT_DOUBLE_EQ(l.half_open_timeout_seconds, 5);
    EXPECT_DOUBLE_EQ(l.max_shares_per_second, 7.5);
    EXPECT_DOUBLE_EQ(l.free_rejects_per_minute, 0);
    EXPECT_DOUBLE_EQ(l.tls_handshake_timeout_seconds, 3.5);
    EXPECT_DOUBLE_EQ(l.ban_threshold, 0);  // bans off
    EXPECT_DOUBLE_EQ(l.ban_half_life_seconds, 30);
    EXPECT_DOUBLE_EQ(l.ban_seconds, 86400);
}

TEST(config, max_workers_per_connection_is_read_and_checked) {
    // Absent: the default, which the shipped file documents.
    auto r = parse_server_config(std::string(k_minimal), "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->limits.max_workers_per_connection, 64u);
    EXPECT_EQ(limits_config{}.max_workers_per_connection, 64u);
    r = parse_server_config(std::string(k_minimal) + "[limits]\nmax_workers_per_connection = 3\n", "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->limits.max_workers_per_connection, 3u);
    const std::string base = std::string(k_minimal) + "[limits]\n";  // the setting is on line 15
    for (const char* bad : {"0", "-1", "100001", "\"many\"", "6.5"}) {
        EXPECT_CONFIG_ERROR(base + "max_workers_per_connection = " + bad + "\n", "test.toml:15:30: ",
                            "[limits] max_workers_per_connection must be an integer from 1 to 100000");
    }
}

TEST(config, bad_limits) {
    const std::string base = std::string(k_minimal) + "[limits]\n";  // the setting is on line 15
    EXPECT_EQ(error_of(base + "max_conections = 5\n"), "test.toml:15:18: unknown setting [limits] max_conections");
    EXPECT_CONFIG_ERROR(base + "max_connections = 0\n",
                        "test.toml:15:19: ", "[limits] max_connections must be an integer from 1 to 10000000");
    EXPECT_CONFIG_ERROR(base + "max_connections_per_ip = -1\n",
                        "test.toml:15:26: ", "[limits] max_connections_per_ip must be an integer from 1 to 10000000");
    EXPECT_CONFIG_ERROR(base + "max_line_bytes = 100\n",
                        "test.toml:15:18: ", "[limits] max_line_bytes must be an integer from 256 to 16384");
    EXPECT_CONFIG_ERROR(base + "max_line_bytes = 16385\n",
                        "test.toml:15:18: ", "[limits] max_line_bytes must be an integer from 256 to 16384");
    EXPECT_CONFIG_ERROR(base + "max_pending_requests = 0\n",
                        "test.toml:15:24: ", "[limits] max_pending_requests must be an integer from 1 to 1000000");
    EXPECT_CONFIG_ERROR(base + "max_write_queue_bytes = 1000\n", "test.toml:15:25: ",
                        "[limits] max_write_queue_bytes must be an integer from 4096 to 4294967296");
    EXPECT_CONFIG_ERROR(base + "idle_timeout_seconds = 0\n",
                        "test.toml:15:24: ", "[limits] idle_timeout_seconds must be a number from 1 to 604800");
    EXPECT_CONFIG_ERROR(base + "half_open_timeout_seconds = \"30\"\n",
                        "test.toml:15:29: ", "[limits] half_open_timeout_seconds must be a number from 1 to 86400");
    EXPECT_CONFIG_ERROR(base + "tls_handshake_timeout_seconds = 0.1\n", "test.toml:15:33: ",
                        "[limits] tls_handshake_timeout_seconds must be a number from 0.5 to 3600");
    EXPECT_CONFIG_ERROR(base + "ban_threshold = -1\n",
                        "test.toml:15:17: ", "[limits] ban_threshold must be a number from 0 to 1e+09");
    EXPECT_CONFIG_ERROR(base + "ban_seconds = 0\n",
                        "test.toml:15:15: ", "[limits] ban_seconds must be a number from 1 to 3.1536e+07");
    EXPECT_CONFIG_ERROR(base + "max_connections = 10\nmax_connections_per_ip = 11\n",
                        "test.toml:16:26: ", "[limits] max_connections_per_ip must not exceed max_connections");
    EXPECT_CONFIG_ERROR("limits = 5\n" + std::string(k_minimal),
                        "test.toml:1:10: ", "limits must be a section ([limits])");
}

// --------------------------------------------------------------------------
// TLS ports: the certificate and key are loaded and matched at load time
// --------------------------------------------------------------------------

class tls_files : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/bmm-config-tls-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        make("a");
        make("b");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    // A self-signed certificate a.pem / a.key (openssl CLI).
    void make(const std::string& name) {
        const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" +
                                path(name + ".key") + "' -out '" + path(name + ".pem") +
                                "' -days 1 -subj /CN=test > /dev/null 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    std::string path(const std::string& f) const { return dir_ + "/" + f; }
    // k_minimal's port with tls = true and the given files (lines 14-16).
    std::string tls_port(const std::string& cert, const std::string& key) const {
        return with_after(13, "tls = true\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"");
    }
    std::string dir_;
};

TEST_F(tls_files, a_matching_pair_loads) {
    auto r = parse_server_config(tls_port(path("a.pem"), path("a.key")), "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_TRUE(r->ports[0].tls);
    EXPECT_EQ(r->ports[0].tls_cert, path("a.pem"));
    EXPECT_EQ(r->ports[0].tls_key, path("a.key"));
}

TEST_F(tls_files, a_key_of_another_certificate_is_refused) {
    EXPECT_CONFIG_ERROR(
        tls_port(path("a.pem"), path("b.key")), "test.toml:16:11: ",
        "[[port]] tls_key " + path("b.key") + " does not belong to the certificate in tls_cert " + path("a.pem"));
}

TEST_F(tls_files, missing_or_unreadable_files_are_named) {
    EXPECT_CONFIG_ERROR(tls_port(path("none.pem"), path("a.key")), "test.toml:15:12: ",
                        "[[port]] tls_cert " + path("none.pem") + " cannot be read: No such file or directory");
    EXPECT_CONFIG_ERROR(tls_port(path("a.pem"), path("none.key")),
                        "test.toml:16:11: ", "[[port]] tls_key " + path("none.key") + " cannot be read");
    EXPECT_CONFIG_ERROR(with_after(13, "tls = true\ntls_cert = \"" + path("a.pem") + "\""),
                        "test.toml:14:7: ", "[[port]] tls_key is required when tls = true");
}

TEST_F(tls_files, files_that_are_not_pem_are_refused) {
    std::ofstream(path("junk.pem")) << "not a certificate\n";
    EXPECT_CONFIG_ERROR(tls_port(path("junk.pem"), path("a.key")), "test.toml:15:12: ",
                        "[[port]] tls_cert " + path("junk.pem") + " is not a PEM certificate chain");
    // The certificate given as the key.
    EXPECT_CONFIG_ERROR(tls_port(path("a.pem"), path("a.pem")), "test.toml:16:11: ",
                        "[[port]] tls_key " + path("a.pem") + " is not an unencrypted PEM private key");
}

TEST_F(tls_files, an_encrypted_key_is_refused_without_asking_for_a_passphrase) {
    const std::string cmd = "openssl pkey -in '" + path("a.key") + "' -aes256 -passout pass:secret -out '" +
                            path("enc.key") + "' > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    EXPECT_CONFIG_ERROR(tls_port(path("a.pem"), path("enc.key")), "test.toml:16:11: ",
                        "[[port]] tls_key " + path("enc.key") + " is not an unencrypted PEM private key");
}

TEST_F(tls_files, cert_and_key_without_tls_are_a_mistake) {
    EXPECT_CONFIG_ERROR(with_after(13, "tls_cert = \"" + path("a.pem") + "\""),
                        "test.toml:14:12: ", "[[port]] tls_cert and tls_key are only used with tls = true");
}

TEST(config, unset_environment_variables) {
    scoped_env a("BMM_TEST_CFG_UNSET", nullptr);
    EXPECT_EQ(error_of(with_line(2, "address = \"${BMM_TEST_CFG_UNSET}\"")),
              "test.toml:2:11: [pool] address: environment variable BMM_TEST_CFG_UNSET is not set");
    EXPECT_EQ(error_of(with_after(10, "port = \"${BMM_TEST_CFG_UNSET}\"")),
              "test.toml:11:8: [redis] port: environment variable BMM_TEST_CFG_UNSET is not set");
    EXPECT_EQ(error_of(with_line(2, "address = \"${BMM_TEST_CFG_UNSET\"")),
              "test.toml:2:11: [pool] address: unterminated ${ in \"${BMM_TEST_CFG_UNSET\"");
}

TEST(config, integers_from_the_environment_must_be_integers) {
    for (const char* bad : {"63a", "", "6379.5", "70000", "0", "-5"}) {
        scoped_env a("BMM_TEST_CFG_BAD_PORT", bad);
        EXPECT_EQ(error_of(with_after(10, "port = \"${BMM_TEST_CFG_BAD_PORT}\"")),
                  "test.toml:11:8: [redis] port must be an integer from 1 to 65535")
            << "BMM_TEST_CFG_BAD_PORT=" << bad;
    }
}

TEST(config, at_least_one_port) {
    std::string no_port = k_minimal;
    no_port.erase(no_port.find("[[port]]"));
    EXPECT_EQ(error_of(no_port),
              "test.toml: at least one [[port]] section is required (host, port, start_difficulty, ...)");
    // A single-bracket [port] is a table, not the array of ports.
    std::string single = no_port + "[port]\nport = 3333\n";
    EXPECT_CONFIG_ERROR(single, "test.toml: ", "at least one [[port]] section is required");
}

TEST(config, malformed_toml) {
    const std::string unterminated = error_of(with_line(2, "address = \"Lpool"));
    EXPECT_EQ(unterminated.rfind("test.toml:2:", 0), 0u) << unterminated;
    const std::string duplicate = error_of(with_after(2, "address = \"again\""));
    EXPECT_EQ(duplicate.rfind("test.toml:3:", 0), 0u) << duplicate;
    EXPECT_NE(duplicate.find("address"), std::string::npos) << duplicate;
    const std::string no_value = error_of(with_line(6, "user ="));
    EXPECT_EQ(no_value.rfind("test.toml:6:", 0), 0u) << no_value;
    const std::string bad_header = error_of(with_line(9, "[redis"));
    EXPECT_EQ(bad_header.rfind("test.toml:9:", 0), 0u) << bad_header;
}


// --------------------------------------------------------------------------
// [metrics]: the Prometheus endpoint
// --------------------------------------------------------------------------

TEST(config, metrics_are_off_unless_a_port_is_given) {
    auto r = parse_server_config(k_minimal, "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->metrics_port, 0);
    EXPECT_EQ(r->metrics_host, "127.0.0.1");
    EXPECT_EQ(r->metrics_worker_series, 100u);
    EXPECT_DOUBLE_EQ(r->metrics_hashrate_window_seconds, 300);
}

TEST(config, metrics_settings_are_read) {
    auto r = parse_server_config(std::string(k_minimal) +
                                     "[metrics]\nhost = \"::1\"\nport = 9310\n"
                                     "worker_series = 7\nhashrate_window_seconds = 60\n",
                                 "test.toml");
    ASSERT_TRUE(r) << r.error_message();
    EXPECT_EQ(r->metrics_host, "::1");
    EXPECT_EQ(r->metrics_port, 9310);
    EXPECT_EQ(r->metrics_worker_series, 7u);
    EXPECT_DOUBLE_EQ(r->metrics_hashrate_window_seconds, 60);
}

TEST(config, bad_metrics_settings) {
    const std::string m = std::string(k_minimal) + "[metrics]\n";
    EXPECT_EQ(error_of(m + "port = 70000\n"), "test.toml:15:8: [metrics] port must be an integer from 0 to 65535");
    EXPECT_EQ(error_of(m + "host = \"localhost\"\n"),
              "test.toml:15:8: [metrics] host must be an IP address, e.g. \"127.0.0.1\" (got \"localhost\")");
    EXPECT_EQ(error_of(m + "hashrate_window_seconds = 1\n"),
              "test.toml:15:27: [metrics] hashrate_window_seconds must be a number from 10 to 86400");
    EXPECT_EQ(error_of(m + "worker_series = -1\n"),
              "test.toml:15:17: [metrics] worker_series must be an integer from 0 to 100000");
    EXPECT_EQ(error_of(m + "path = \"/m\"\n"), "test.toml:15:8: unknown setting [metrics] path");
}

}  // namespace
}  // namespace bmm::stratum
