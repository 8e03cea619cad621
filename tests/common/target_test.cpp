#include "bmm/target.hpp"

#include <gtest/gtest.h>

namespace bmm {
namespace {

TEST(target, diff1_conventions) {
    EXPECT_EQ(diff1_target(pow_algorithm::sha256d).to_hex(),
              "00000000ffff0000000000000000000000000000000000000000000000000000");
    EXPECT_EQ(diff1_target(pow_algorithm::scrypt).to_hex(),
              "0000ffff00000000000000000000000000000000000000000000000000000000");
}

TEST(target, integer_difficulty_is_exact_division) {
    for (double d : {1.0, 2.0, 3.0, 1000.0, 65536.0, 1e12}) {
        auto t = target_from_difficulty(d, pow_algorithm::sha256d);
        ASSERT_TRUE(t);
        EXPECT_EQ(*t, diff1_target(pow_algorithm::sha256d) / uint256(static_cast<std::uint64_t>(d))) << d;
    }
}

TEST(target, fractional_difficulty) {
    auto half = target_from_difficulty(0.5, pow_algorithm::sha256d);
    ASSERT_TRUE(half);
    EXPECT_EQ(*half, diff1_target(pow_algorithm::sha256d) * uint256(2));
    auto tiny = target_from_difficulty(1.0 / 65536, pow_algorithm::scrypt);
    ASSERT_TRUE(tiny);
    EXPECT_EQ(*tiny, uint256(0xffff) << 240);
    // 0.1 is not exact in binary: the target is floor(diff1 / 0.1000000000000000055...),
    // computed independently with Python's integers from math.frexp(0.1).
    auto tenth = target_from_difficulty(0.1, pow_algorithm::sha256d);
    ASSERT_TRUE(tenth);
    EXPECT_EQ(tenth->to_hex(), "00000009fff5ffffffffd80028000000009fff5ffffffffd80028000000009ff");
    // Easier than 1/2^32 of diff1 the scrypt target no longer fits: capped.
    auto easy = target_from_difficulty(1e-9, pow_algorithm::scrypt);
    ASSERT_TRUE(easy);
    EXPECT_EQ(*easy, uint256::max());
    // Absurdly easy difficulties cap at the largest target.
    auto capped = target_from_difficulty(1e-80, pow_algorithm::scrypt);
    ASSERT_TRUE(capped);
    EXPECT_EQ(*capped, uint256::max());
}

TEST(target, bad_difficulty_is_an_error) {
    EXPECT_FALSE(target_from_difficulty(0, pow_algorithm::sha256d));
    EXPECT_FALSE(target_from_difficulty(-1, pow_algorithm::sha256d));
    EXPECT_FALSE(target_from_difficulty(std::numeric_limits<double>::infinity(), pow_algorithm::sha256d));
    EXPECT_FALSE(target_from_difficulty(std::numeric_limits<double>::quiet_NaN(), pow_algorithm::sha256d));
}

TEST(target, difficulty_round_trip_for_display) {
    auto t = target_from_difficulty(1234.5, pow_algorithm::scrypt);
    ASSERT_TRUE(t);
    EXPECT_NEAR(difficulty_from_target(*t, pow_algorithm::scrypt), 1234.5, 1e-9);
}

TEST(target, nbits) {
    auto t = target_from_nbits(0x1d00ffff);
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, diff1_target(pow_algorithm::sha256d));
    EXPECT_FALSE(target_from_nbits(0x04923456));  // negative
    EXPECT_FALSE(target_from_nbits(0xff123456));  // overflow
    EXPECT_FALSE(target_from_nbits(0x01000000));  // zero
    // Litecoin regtest: powLimit 0x207fffff.
    auto reg = target_from_nbits(0x207fffff);
    ASSERT_TRUE(reg);
    EXPECT_EQ(reg->to_hex(), "7fffff0000000000000000000000000000000000000000000000000000000000");
}

TEST(target, work_is_floor_two_to_256_over_target_plus_one) {
    EXPECT_EQ(work_from_target(uint256::max()), uint256(1));
    EXPECT_EQ(work_from_target(uint256::max() >> 1), uint256(2));
    // Bitcoin's difficulty-1 block proof: 0x100010001.
    EXPECT_EQ(work_from_target(diff1_target(pow_algorithm::sha256d)), uint256(0x100010001ULL));
    EXPECT_EQ(work_from_target(uint256(0)), uint256::max());  // 2^256 does not fit: saturates
}

}  // namespace
}  // namespace bmm
