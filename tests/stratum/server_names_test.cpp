// What the server takes from mining.authorize: the "account.worker" username
// and the d=<difficulty> option of the password.

#include "bmm/stratum/server.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bmm::stratum {
namespace {

constexpr const char* k_bad_characters = "username may only hold letters, digits, '.', '_' and '-'";

void expect_name(std::string_view username, const std::string& account, const std::string& worker) {
    auto w = parse_worker_name(username);
    ASSERT_TRUE(w) << username << ": " << w.error_message();
    EXPECT_EQ(w->account, account) << username;
    EXPECT_EQ(w->worker, worker) << username;
}

std::string name_error(std::string_view username) {
    auto w = parse_worker_name(username);
    if (w) {
        ADD_FAILURE() << username << ": accepted as " << w->account << " / " << w->worker;
        return {};
    }
    return w.error_message();
}

TEST(worker_name, account_and_worker) {
    expect_name("acct.rig1", "acct", "rig1");
    expect_name("acct", "acct", "default");
    expect_name("acct.", "acct", "default");
    expect_name("a.b", "a", "b");
    expect_name("Acct_1-x.Rig_2-y", "Acct_1-x", "Rig_2-y");
    // Only the first dot separates: the rest belongs to the worker.
    expect_name("acct.rack3.rig7", "acct", "rack3.rig7");
    expect_name("acct..rig", "acct", ".rig");
}

TEST(worker_name, addresses_as_accounts) {
    expect_name("ltc1qg82tdf4dgc9nuj8fz7xyrl3u0cv9arqh7gke5k.rig1", "ltc1qg82tdf4dgc9nuj8fz7xyrl3u0cv9arqh7gke5k",
                "rig1");
    expect_name("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "default");
    expect_name("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297.s9",
                "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "s9");
    expect_name("LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9.gpu0", "LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9", "gpu0");
    expect_name("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "default");
    expect_name("rltc1qpoolpayoutaddress.w", "rltc1qpoolpayoutaddress", "w");
}

TEST(worker_name, empty_parts) {
    EXPECT_EQ(name_error(".rig"), "empty account name before the '.'");
    EXPECT_EQ(name_error("."), "empty account name before the '.'");
    EXPECT_EQ(name_error(""), "empty username (use account.worker)");
}

TEST(worker_name, bad_characters) {
    const std::vector<std::string> bad = {
        "acct rig",      "acct.rig 1", " acct",           "acct\t",
        "\"acct\".rig",  "acct'.rig",  "acct.r\xc3\xafg", "\xe7\x9f\xbf",
        "acct/rig",      "acct:rig",   "acct@pool",       "acct,rig",
        "acct+rig",      "acct\\rig",  "acct\n",          std::string("acct\0rig", 8),
        "acct.rig;DROP", "<acct>",     "acct\x7f",
    };
    for (const auto& name : bad) EXPECT_EQ(name_error(name), k_bad_characters) << name;
}

TEST(worker_name, length_limit) {
    const std::string longest = std::string(64, 'a') + "." + std::string(63, 'w');
    ASSERT_EQ(longest.size(), 128u);
    expect_name(longest, std::string(64, 'a'), std::string(63, 'w'));
    EXPECT_EQ(name_error(longest + "w"), "username longer than 128 characters");
    EXPECT_EQ(name_error(std::string(129, 'a')), "username longer than 128 characters");
    EXPECT_EQ(name_error(std::string(10000, 'a')), "username longer than 128 characters");
}

// password_difficulty's result, or -1 when it found none (and left `out` alone).
double difficulty_of(std::string_view password) {
    double d = -1;
    const bool found = password_difficulty(password, d);
    EXPECT_EQ(found, d != -1) << password;
    return d;
}

TEST(password_difficulty, options) {
    EXPECT_EQ(difficulty_of("x"), -1);
    EXPECT_EQ(difficulty_of(""), -1);
    EXPECT_EQ(difficulty_of("d=2048"), 2048);
    EXPECT_EQ(difficulty_of("x,d=0.5"), 0.5);
    EXPECT_EQ(difficulty_of("foo,d=1e3,bar"), 1000);
    EXPECT_EQ(difficulty_of("d=16,"), 16);
    EXPECT_EQ(difficulty_of(",,d=3"), 3);
    EXPECT_EQ(difficulty_of("d=0.0001"), 0.0001);
    // The first usable d= counts.
    EXPECT_EQ(difficulty_of("d=4,d=8"), 4);
    EXPECT_EQ(difficulty_of("d=abc,d=8"), 8);
}

TEST(password_claim, the_secret_of_claim_option) {
    auto none = password_claim("x,d=16");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    auto one = password_claim("x,claim=my-farm-secret-7,d=16");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->value_or(""), "my-farm-secret-7");
    auto first = password_claim("claim=abcdefghijklm");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->value_or(""), "abcdefghijklm");
    for (const char* p : {"claim=short", "x,claim=", "claim=" /* empty */}) {
        auto bad = password_claim(p);
        ASSERT_FALSE(bad) << p;
        EXPECT_NE(bad.error_message().find("12 to 128 characters"), std::string::npos) << p;
    }
    EXPECT_FALSE(password_claim("claim=" + std::string(129, 'a')));
    // Not an option named claim: "xclaim=..." and "claims=..." are other words.
    auto other = password_claim("xclaim=abcdefghijklmnop,claims=abcdefghijklmnop");
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->has_value());
}

TEST(password_difficulty, unusable_values) {
    for (const char* p : {"d=abc", "d=-1", "d=0", "d=", "d", "d=0.0", "d=-0", "d=12abc", "d=inf", "d=nan", "d=1e400",
                          "x,d=", "dd=5", "xd=5", "d:5", "difficulty=5"}) {
        double d = 7;
        EXPECT_FALSE(password_difficulty(p, d)) << p;
        EXPECT_EQ(d, 7) << p;
    }
}

// Found by fuzz_stratum_fields: strtod skipped the space in "d= 16" and read
// hex floats; a NUL inside the option ended the number early.
TEST(password_difficulty, the_value_must_be_a_plain_decimal_throughout) {
    for (std::string_view p : {std::string_view("d= 16"), std::string_view("d=16 "), std::string_view("d=0x1p4"),
                               std::string_view("d=+16"), std::string_view("d=8\0junk", 9)}) {
        double d = 7;
        EXPECT_FALSE(password_difficulty(p, d)) << p;
        EXPECT_EQ(d, 7) << p;
    }
    EXPECT_EQ(difficulty_of("d= 16,d=32"), 32);
}

}  // namespace
}  // namespace bmm::stratum
