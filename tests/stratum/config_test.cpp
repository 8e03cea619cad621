// bmm-stratum's TOML configuration: the shipped file loads, defaults apply,
// ${NAME} references expand, and every mistake is reported with the file,
// line and column and the setting's name, never silently accepted.

#include "bmm/stratum/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
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
#define EXPECT_CONFIG_ERROR(text, where, what)                 \
    do {                                                       \
        const std::string message_ = error_of(text);           \
        EXPECT_EQ(message_.rfind(where, 0), 0u) << message_;   \
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
    EXPECT_EQ(cfg.redis_host, "10.0.0.7");
    EXPECT_EQ(cfg.redis_port, 6380);
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
    EXPECT_EQ(cfg.redis_host, "127.0.0.1");
    EXPECT_EQ(cfg.redis_port, 6379);
    EXPECT_EQ(cfg.stream, "bmm:shares");
    EXPECT_EQ(cfg.spool_dir, "/tmp/spool");
    EXPECT_EQ(cfg.log_level, "info");
    ASSERT_EQ(cfg.ports.size(), 1u);
    EXPECT_EQ(cfg.ports[0].host, "127.0.0.1");
    EXPECT_EQ(cfg.ports[0].port, 3333);
    EXPECT_DOUBLE_EQ(cfg.ports[0].start_difficulty, 1);
    EXPECT_DOUBLE_EQ(cfg.ports[0].min_difficulty, 0.001);
    EXPECT_DOUBLE_EQ(cfg.ports[0].max_difficulty, 1e12);
    EXPECT_DOUBLE_EQ(cfg.ports[0].target_share_seconds, 10);
    EXPECT_DOUBLE_EQ(cfg.ports[0].retarget_seconds, 30);
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
    EXPECT_EQ(cfg.redis_host, "redis");
    EXPECT_EQ(cfg.redis_port, 65535);
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
    EXPECT_EQ(s->redis_port, 6390);
}

TEST(config, load_reads_a_file_and_names_it) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("bmm_config_test_" + std::to_string(::getpid()) + ".toml");
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
    EXPECT_EQ(error_of(with_after(13, "start_dificulty = 5")), "test.toml:14:19: unknown setting [port] start_dificulty");
    EXPECT_EQ(error_of(with_after(7, "passwd = \"p\"")), "test.toml:8:10: unknown setting [node] passwd");
    EXPECT_EQ(error_of(std::string(k_minimal) + "[poool]\nx = 1\n"), "test.toml:14:1: unknown setting poool");
}

TEST(config, wrong_types) {
    EXPECT_CONFIG_ERROR(with_line(2, "address = 5"), "test.toml:2:11: ", "[pool] address must be a string");
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = \"one\""), "test.toml:2:15: ",
                        "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = 1.0"), "test.toml:2:15: ",
                        "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(13, "tls = \"yes\""), "test.toml:14:7: ", "[port] tls must be true or false");
    EXPECT_CONFIG_ERROR(with_after(7, "rules = \"mweb\""), "test.toml:8:9: ", "[node] rules must be an array of strings");
    EXPECT_CONFIG_ERROR(with_after(7, "rules = [\"mweb\", 1]"), "test.toml:8:9: ",
                        "[node] rules must be an array of strings");
    EXPECT_CONFIG_ERROR(with_after(13, "start_difficulty = \"high\""), "test.toml:14:20: ",
                        "[port] start_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(7, "poll_seconds = true"), "test.toml:8:16: ",
                        "[node] poll_seconds must be a number from 0.05 to 60");
    EXPECT_CONFIG_ERROR(with_line(13, "port = \"3333x\""), "test.toml:13:8: ",
                        "[port] port must be an integer from 1 to 65535");
    EXPECT_CONFIG_ERROR(with_after(1, "version_mask = 536862720"), "test.toml:2:16: ",
                        "[pool] version_mask must be a string");
    std::string pool_not_a_section = k_minimal;
    pool_not_a_section.replace(0, pool_not_a_section.find("[node]"), "pool = 5\n\n");
    EXPECT_CONFIG_ERROR(pool_not_a_section, "test.toml:1:8: ", "pool must be a section ([pool])");
    EXPECT_CONFIG_ERROR(std::string(k_minimal) + "[log]\nlevel = 3\n", "test.toml:15:9: ",
                        "[log] level must be a string");
}

TEST(config, out_of_range_numbers) {
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = 256"), "test.toml:2:15: ",
                        "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(1, "instance_id = -1"), "test.toml:2:15: ",
                        "[pool] instance_id must be an integer from 0 to 255");
    EXPECT_CONFIG_ERROR(with_after(2, "extranonce2_size = 9"), "test.toml:3:20: ",
                        "[pool] extranonce2_size must be an integer from 2 to 8");
    EXPECT_CONFIG_ERROR(with_after(2, "extranonce2_size = 1"), "test.toml:3:20: ",
                        "[pool] extranonce2_size must be an integer from 2 to 8");
    EXPECT_CONFIG_ERROR(with_after(2, "threads = 257"), "test.toml:3:11: ", "[pool] threads must be an integer from 0 to 256");
    EXPECT_CONFIG_ERROR(with_line(13, "port = 0"), "test.toml:13:8: ", "[port] port must be an integer from 1 to 65535");
    EXPECT_CONFIG_ERROR(with_after(10, "port = 65536"), "test.toml:11:8: ", "[redis] port must be an integer from 1 to 65535");
    // A setting this build does not have is refused, not ignored.
    EXPECT_CONFIG_ERROR(with_after(2, "stale_grace_seconds = 5"), "test.toml:3:23: ",
                        "unknown setting [pool] stale_grace_seconds");
    EXPECT_CONFIG_ERROR(with_after(7, "poll_seconds = 0"), "test.toml:8:16: ",
                        "[node] poll_seconds must be a number from 0.05 to 60");
    EXPECT_CONFIG_ERROR(with_after(13, "max_difficulty = inf"), "test.toml:14:18: ",
                        "[port] max_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(13, "min_difficulty = nan"), "test.toml:14:18: ",
                        "[port] min_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(13, "min_difficulty = 0"), "test.toml:14:18: ",
                        "[port] min_difficulty must be a number from 1e-12 to 1e+15");
    EXPECT_CONFIG_ERROR(with_after(13, "target_share_seconds = 0"), "test.toml:14:24: ",
                        "[port] target_share_seconds must be a number from 0.01 to 3600");
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
        EXPECT_CONFIG_ERROR(with_after(1, std::string("version_mask = \"") + bad + "\""), "test.toml:2:16: ",
                            "[pool] version_mask must be up to 8 hex digits");
    }
}

TEST(config, other_bad_values) {
    EXPECT_CONFIG_ERROR(with_line(5, "url = \"https://127.0.0.1:9332/\""), "test.toml:5:7: ",
                        "[node] url must start with http://");
    EXPECT_CONFIG_ERROR(with_line(5, "url = \"127.0.0.1:9332\""), "test.toml:5:7: ", "[node] url must start with http://");
    EXPECT_CONFIG_ERROR(with_after(1, "algorithm = \"x11\""), "test.toml:2:13: ",
                        "[pool] algorithm: unknown proof-of-work algorithm 'x11'");
    EXPECT_CONFIG_ERROR(with_after(1, "tag = \"" + std::string(41, 't') + "\""), "test.toml:2:7: ",
                        "[pool] tag must be at most 40 bytes");
    EXPECT_CONFIG_ERROR(std::string(k_minimal) + "[log]\nlevel = \"verbose\"\n", "test.toml:15:9: ",
                        "[log] level must be debug, info, warn or error");
    EXPECT_CONFIG_ERROR(with_after(13, "tls = true"), "test.toml:14:7: ",
                        "[[port]] tls is not supported by this build yet");
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
    EXPECT_EQ(error_of(no_port), "test.toml: at least one [[port]] section is required (host, port, start_difficulty, ...)");
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

}  // namespace
}  // namespace bmm::stratum
