// Keccak-256 (Ethereum's) against published vectors, and EIP-55 checksums
// against the examples of the EIP itself.
#include "bmm/crypto/keccak.hpp"
#include "bmm/hex.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <set>

namespace bmm::crypto {
namespace {

std::string k(std::string_view s) { return to_hex(keccak256(s)); }

TEST(keccak256, known_vectors) {
    EXPECT_EQ(k(""), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    EXPECT_EQ(k("abc"), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    EXPECT_EQ(k("The quick brown fox jumps over the lazy dog"),
              "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
    // 200 bytes of 0xa3 (the Keccak team's long-message style vector): crosses
    // the 136-byte rate, so two blocks are absorbed.
    EXPECT_EQ(k(std::string(200, '\xa3')), "3a57666b048777f2c953dc4456f45a2588e1cb6f2da760122d530ac2ce607d4a");
}

TEST(keccak256, every_length_around_the_rate_differs_and_is_stable) {
    // Lengths 134..138 hit the padding edge cases (pad byte in the last, the
    // first or a new block); each must give a distinct digest, twice the same.
    std::set<std::string> seen;
    for (std::size_t n = 130; n <= 140; ++n) {
        const std::string msg(n, 'x');
        const std::string a = k(msg), b = k(msg);
        EXPECT_EQ(a, b);
        EXPECT_TRUE(seen.insert(a).second) << n;
    }
}

TEST(eip55, examples_from_the_eip) {
    for (const char* a : {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                          "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
                          "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
                          "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26"}) {
        std::string lower = a;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto sum = eip55_checksum(std::string_view(lower).substr(2));
        ASSERT_TRUE(sum.ok());
        EXPECT_EQ(*sum, a);
        auto checked = check_eth_address(a);
        ASSERT_TRUE(checked.ok()) << checked.error_message();
        EXPECT_EQ(*checked, a);
    }
}

TEST(eip55, refuses_bad_addresses_with_a_reason) {
    // One letter's case flipped: the checksum catches it and names the right spelling.
    auto r = check_eth_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error_message().find("EIP-55"), std::string::npos);
    EXPECT_NE(r.error_message().find("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), std::string::npos);
    EXPECT_FALSE(check_eth_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe").ok());    // 39 digits
    EXPECT_FALSE(check_eth_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd").ok());  // 41 digits
    EXPECT_FALSE(check_eth_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg").ok());   // not hex
    EXPECT_FALSE(check_eth_address("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00").ok());   // no 0x
    // All lower case carries no checksum and is accepted, returned checksummed.
    auto lower = check_eth_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
    ASSERT_TRUE(lower.ok());
    EXPECT_EQ(*lower, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
}

}  // namespace
}  // namespace bmm::crypto
