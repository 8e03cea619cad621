// EIP-191 personal_sign (bmm/crypto/eth_sign.hpp) against a published vector
// (web3.js's documentation of web3.eth.accounts.sign), and a fixed key's
// signatures made here with libsecp256k1: recovered to the signer, refused
// or recovered to someone else when anything is changed.
#include "bmm/crypto/eth_sign.hpp"
#include "bmm/hex.hpp"

#include <gtest/gtest.h>

#include <array>

namespace bmm::crypto {
namespace {

// web3.eth.accounts.sign('Some data', '0x4c0883a6...') in web3.js's API
// documentation: messageHash and signature as published; the key's address
// is the one web3.eth.accounts.privateKeyToAccount gives for it.
constexpr std::string_view k_web3_key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
constexpr std::string_view k_web3_address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
constexpr std::string_view k_web3_hash = "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655";
constexpr std::string_view k_web3_signature =
    "0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a"
    "5f5d4300f8e1a0291c";

std::array<unsigned char, 32> key_of(std::string_view hex) {
    auto b = from_hex(hex);
    std::array<unsigned char, 32> k{};
    if (b && b->size() == 32) {
        std::copy(b->begin(), b->end(), k.begin());
    }
    return k;
}

TEST(eth_sign, published_web3_vector) {
    EXPECT_EQ(to_hex(eip191_hash("Some data")), k_web3_hash);
    auto a = recover_personal_sign("Some data", k_web3_signature);
    ASSERT_TRUE(a) << a.error_message();
    EXPECT_EQ(*a, k_web3_address);
    const auto key = key_of(k_web3_key);
    auto from_key = eth_address_of_key(key);
    ASSERT_TRUE(from_key) << from_key.error_message();
    EXPECT_EQ(*from_key, k_web3_address);
    // RFC 6979 nonces: libsecp256k1 signs exactly as web3.js (ethereum-cryptography) did.
    auto s = personal_sign(key, "Some data");
    ASSERT_TRUE(s) << s.error_message();
    EXPECT_EQ(*s, k_web3_signature);
}

TEST(eth_sign, fixed_key_round_trip_and_tampering) {
    const auto key = key_of("0101010101010101010101010101010101010101010101010101010101010101");
    auto addr = eth_address_of_key(key);
    ASSERT_TRUE(addr) << addr.error_message();
    const std::string msg = "BMM pool wallet binding\naccount: alice\nnonce: 00112233445566778899aabbccddeeff\n";
    auto sig = personal_sign(key, msg);
    ASSERT_TRUE(sig) << sig.error_message();
    auto back = recover_personal_sign(msg, *sig);
    ASSERT_TRUE(back) << back.error_message();
    EXPECT_EQ(*back, *addr);
    // Without 0x and with v as 0/1 it is the same signature.
    std::string raw = sig->substr(2);
    raw.replace(128, 2, raw.substr(128, 2) == "1b" ? "00" : "01");
    auto back2 = recover_personal_sign(msg, raw);
    ASSERT_TRUE(back2) << back2.error_message();
    EXPECT_EQ(*back2, *addr);
    // Another message: another (or no) address, never the signer's.
    auto other = recover_personal_sign(msg + " ", *sig);
    EXPECT_TRUE(!other || *other != *addr);
    // A flipped bit in s: not the signer.
    std::string bad = *sig;
    bad[70] = bad[70] == '0' ? '1' : '0';
    auto flipped = recover_personal_sign(msg, bad);
    EXPECT_TRUE(!flipped || *flipped != *addr);
}

TEST(eth_sign, malformed_signatures_are_refused_with_a_reason) {
    auto short_sig = recover_personal_sign("x", "0x1234");
    ASSERT_FALSE(short_sig);
    EXPECT_NE(short_sig.error_message().find("130 hex digits"), std::string::npos);
    auto not_hex = recover_personal_sign("x", "0x" + std::string(130, 'z'));
    ASSERT_FALSE(not_hex);
    EXPECT_NE(not_hex.error_message().find("not hex"), std::string::npos);
    auto bad_v = recover_personal_sign("x", "0x" + std::string(128, '1') + "05");
    ASSERT_FALSE(bad_v);
    EXPECT_NE(bad_v.error_message().find("(v)"), std::string::npos);
    // r = s = 0 is no signature.
    auto zero = recover_personal_sign("x", "0x" + std::string(128, '0') + "1b");
    EXPECT_FALSE(zero);
    std::array<unsigned char, 32> zero_key{};
    EXPECT_FALSE(eth_address_of_key(zero_key));
}

}  // namespace
}  // namespace bmm::crypto
