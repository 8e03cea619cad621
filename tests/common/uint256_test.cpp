#include "bmm/uint256.hpp"

#include <gtest/gtest.h>

#include <random>

namespace bmm {
namespace {

__extension__ using u128 = unsigned __int128;

uint256 from_u128(u128 v) {
    return (uint256(static_cast<std::uint64_t>(v >> 64)) << 64) + uint256(static_cast<std::uint64_t>(v));
}

TEST(uint256, hex_round_trip_and_byte_order) {
    auto v = uint256::from_hex("00000000000000000000000000000000000000000000000000000000000001ff");
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, uint256(0x1ff));
    const auto le = v->to_le_bytes();
    EXPECT_EQ(le[0], 0xff);
    EXPECT_EQ(le[1], 0x01);
    EXPECT_EQ(uint256::from_le_bytes(le), *v);
    EXPECT_EQ(uint256::from_hex("0x1ff"), *v);
    EXPECT_FALSE(uint256::from_hex(std::string(65, '1')));
    EXPECT_FALSE(uint256::from_hex("12g"));
    EXPECT_FALSE(uint256::from_hex(""));
    EXPECT_EQ(uint256::max().to_hex(), std::string(64, 'f'));
}

TEST(uint256, arithmetic_agrees_with_128_bit_integers) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 2000; ++i) {
        const u128 a = (static_cast<u128>(rng()) << 64) | rng();
        const u128 b = (static_cast<u128>(rng() >> (rng() % 64)) << (rng() % 64)) | 1;
        EXPECT_EQ(from_u128(a) + from_u128(b), from_u128(a) + from_u128(b));
        EXPECT_EQ(from_u128(a) / from_u128(b), from_u128(a / b));
        EXPECT_EQ(from_u128(a) % from_u128(b), from_u128(a % b));
        const std::uint64_t x = rng(), y = rng();
        EXPECT_EQ(uint256(x) * uint256(y), from_u128(static_cast<u128>(x) * y));
        if (a >= b) {
            EXPECT_EQ(from_u128(a) - from_u128(b), from_u128(a - b));
        }
    }
}

TEST(uint256, division_identity_on_wide_numbers) {
    std::mt19937_64 rng(8);
    for (int i = 0; i < 500; ++i) {
        uint256 n = (uint256(rng()) << 192) + (uint256(rng()) << 128) + (uint256(rng()) << 64) + uint256(rng());
        uint256 d = ((uint256(rng()) << 128) + uint256(rng())) >> static_cast<unsigned>(rng() % 190);
        if (d.is_zero()) d = uint256(3);
        uint256 q, r;
        uint256::divmod(n, d, q, r);
        EXPECT_LT(r, d);
        EXPECT_EQ(q * d + r, n);
    }
    EXPECT_THROW(uint256(1) / uint256(0), std::domain_error);
}

TEST(uint256, shifts_and_bits) {
    EXPECT_EQ(uint256(1) << 255 >> 255, uint256(1));
    EXPECT_EQ((uint256(1) << 255).bits(), 256u);
    EXPECT_EQ(uint256(0).bits(), 0u);
    EXPECT_EQ(uint256(1) << 256, uint256(0));
    EXPECT_EQ((uint256(0xabcdef) << 100) >> 100, uint256(0xabcdef));
    EXPECT_EQ(~uint256(0), uint256::max());
}

TEST(uint256, compact_matches_bitcoin_core) {
    // Cases from Bitcoin Core's arith_uint256 tests.
    bool neg = false, ovf = false;
    EXPECT_EQ(uint256::from_compact(0x01123456, &neg, &ovf), uint256(0x12));
    EXPECT_EQ(uint256::from_compact(0x05009234, &neg, &ovf), uint256(0x92340000ULL));
    EXPECT_EQ(uint256::from_compact(0x04923456, &neg, &ovf), uint256(0x12345600ULL));
    EXPECT_TRUE(neg);
    EXPECT_EQ(uint256::from_compact(0x20123456, &neg, &ovf), uint256(0x123456) << 232);
    EXPECT_FALSE(neg);
    EXPECT_FALSE(ovf);
    uint256::from_compact(0xff123456, &neg, &ovf);
    EXPECT_TRUE(ovf);
    EXPECT_EQ(uint256(0x12345600ULL).to_compact(), 0x04123456u);
    EXPECT_EQ(uint256(0x80).to_compact(), 0x02008000u);
    // Bitcoin's genesis target.
    const uint256 genesis = uint256::from_compact(0x1d00ffff);
    EXPECT_EQ(genesis, uint256(0xffff) << 208);
    EXPECT_EQ(genesis.to_compact(), 0x1d00ffffu);
}

TEST(uint256, decimal) {
    EXPECT_EQ(uint256(0).to_decimal(), "0");
    EXPECT_EQ(uint256(10000000000000000000ULL).to_decimal(), "10000000000000000000");
    EXPECT_EQ(uint256::max().to_decimal(),
              "115792089237316195423570985008687907853269984665640564039457584007913129639935");
}

}  // namespace
}  // namespace bmm
