// bmm-accountd's configuration: values, ${ENV}, and errors that name the place.
#include "bmm/accounting/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

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
    EXPECT_EQ(c->redis.group, "bmm-accountd");
    EXPECT_EQ(c->ingest.batch_size, 10000);
    EXPECT_TRUE(c->node.url.empty());
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
)",
                                   "b.toml");
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c->postgres.port, 41234);
    EXPECT_EQ(c->postgres.password, "s3cret");
    EXPECT_EQ(c->ingest.batch_size, 500);
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
    EXPECT_NE(missing.error_message().find("[postgres] dbname is required"), std::string::npos) << missing.error_message();

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

}  // namespace
}  // namespace bmm::accounting
