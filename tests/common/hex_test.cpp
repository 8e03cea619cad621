#include "bmm/hex.hpp"

#include <gtest/gtest.h>

namespace bmm {
namespace {

TEST(hex, round_trips_every_byte) {
    std::vector<unsigned char> all(256);
    for (int i = 0; i < 256; ++i) all[i] = static_cast<unsigned char>(i);
    const std::string h = to_hex(all);
    EXPECT_EQ(h.substr(0, 8), "00010203");
    EXPECT_EQ(h.substr(h.size() - 4), "feff");
    auto back = from_hex(h);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all);
}

TEST(hex, accepts_upper_case) {
    auto v = from_hex("ABcd");
    ASSERT_TRUE(v);
    EXPECT_EQ((*v)[0], 0xab);
    EXPECT_EQ((*v)[1], 0xcd);
}

TEST(hex, rejects_odd_length_and_non_hex) {
    EXPECT_FALSE(from_hex("abc"));
    EXPECT_FALSE(from_hex("zz"));
    EXPECT_FALSE(from_hex("0x00"));
    EXPECT_FALSE(from_hex("0 "));
    EXPECT_FALSE(is_hex("a"));
    EXPECT_TRUE(is_hex(""));
    unsigned char out[2];
    EXPECT_FALSE(from_hex_into("001", out));
    EXPECT_FALSE(from_hex_into("0011aa", out));
    EXPECT_TRUE(from_hex_into("0011", out));
    EXPECT_EQ(out[1], 0x11);
}

}  // namespace
}  // namespace bmm
