// Local address decoding: the BIP 173 / BIP 350 vectors, Base58Check round
// trips, the Litecoin networks, and refusals that name what is wrong.
#include "bmm/crypto/address.hpp"
#include "bmm/hex.hpp"

#include <gtest/gtest.h>

namespace bmm::crypto {
namespace {

std::string script_hex(std::string_view address, std::string_view coin) {
    auto d = decode_address_of(address, coin);
    if (!d) {
        return "error: " + d.error_message();
    }
    return to_hex(std::span<const std::uint8_t>(d->script_pubkey.data(), d->script_pubkey.size()));
}

TEST(Address, Bip173AndBip350ValidVectors) {
    EXPECT_EQ(script_hex("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "BTC"),
              "0014751e76e8199196d454941c45d1b3a323f1433bd6");
    EXPECT_EQ(script_hex("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "BTC"),
              "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262");
    EXPECT_EQ(script_hex("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "BTC"),
              "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6");
    EXPECT_EQ(script_hex("BC1SW50QGDZ25J", "BTC"), "6002751e");
    // Version 2 (a future witness version): Bech32m, 16 bytes, round trip.
    std::vector<std::uint8_t> v2 = {0x75, 0x1e, 0x76, 0xe8, 0x19, 0x91, 0x96, 0xd4,
                                    0x54, 0x94, 0x1c, 0x45, 0xd1, 0xb3, 0x23, 0xf1};
    auto v2data = convert_bits(v2, 8, 5, true);
    ASSERT_TRUE(v2data);
    v2data->insert(v2data->begin(), 2);
    EXPECT_EQ(script_hex(bech32_encode("bc", *v2data, bech32_variant::bech32m), "BTC"),
              "5210751e76e8199196d454941c45d1b323f1");
    EXPECT_FALSE(decode_address_of(bech32_encode("bc", *v2data, bech32_variant::bech32), "BTC"));
    EXPECT_EQ(script_hex("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "BTC"),
              "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    auto tr = decode_address_of("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "BTC");
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->kind, address_kind::witness_v1_taproot);
}

TEST(Address, Bip350InvalidVectorsAreRefused) {
    // Version 0 with a Bech32m checksum, version 1 with a Bech32 one, a bad
    // character, a wrong checksum, mixed case, an empty program.
    for (const char* bad : {"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
                            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
                            "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
                            "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
                            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bc1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                            "bc1gmk9yu", "BC1QR508D6QEJXTDG4C5R3ZARVARYV98GJ9P"}) {
        auto d = decode_address_of(bad, "BTC");
        EXPECT_FALSE(d) << bad;
    }
    auto wrong_variant = decode_address_of("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "BTC");
    ASSERT_FALSE(wrong_variant);
    EXPECT_NE(wrong_variant.error_message().find("needs the Bech32 checksum"), std::string::npos)
        << wrong_variant.error_message();
    auto typo = decode_address_of("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "BTC");
    ASSERT_FALSE(typo);
    EXPECT_NE(typo.error_message().find("checksum"), std::string::npos) << typo.error_message();
}

TEST(Address, Base58RoundTripsAndKnownMainnetAddresses) {
    // Genesis coinbase address and a well-known P2SH address.
    auto p2pkh = decode_address_of("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "BTC");
    ASSERT_TRUE(p2pkh) << p2pkh.error_message();
    EXPECT_EQ(p2pkh->kind, address_kind::p2pkh);
    EXPECT_EQ(to_hex(std::span<const std::uint8_t>(p2pkh->script_pubkey.data(), p2pkh->script_pubkey.size())),
              "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac");
    auto p2sh = decode_address_of("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "BTC");
    ASSERT_TRUE(p2sh) << p2sh.error_message();
    EXPECT_EQ(p2sh->kind, address_kind::p2sh);

    std::vector<std::uint8_t> payload = {48};
    for (int i = 0; i < 20; ++i) {
        payload.push_back(static_cast<std::uint8_t>(i * 7 + 1));
    }
    const std::string ltc = base58check_encode(payload);
    EXPECT_EQ(ltc[0], 'L');
    auto back = base58check_decode(ltc);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, payload);
    auto d = decode_address_of(ltc, "LTC");
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->kind, address_kind::p2pkh);
    EXPECT_EQ(d->network->name, "main");
    // The same hash with Bitcoin's version byte is not a Litecoin address.
    payload[0] = 0;
    auto btc_on_ltc = decode_address_of(base58check_encode(payload), "LTC");
    ASSERT_FALSE(btc_on_ltc);
    EXPECT_NE(btc_on_ltc.error_message().find("version byte 0"), std::string::npos) << btc_on_ltc.error_message();
    // One character changed: the checksum catches it.
    std::string typo = ltc;
    typo[5] = typo[5] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(decode_address_of(typo, "LTC"));
    EXPECT_FALSE(base58check_decode("0OIl"));
}

// bcoin's regtest writes Bech32 with "rb" (Bitcoin Core's regtest: "bcrt"):
// an address bcoin's wallet gave (POST /wallet/recv/address) is a BTC one.
TEST(Address, BcoinRegtestPrefix) {
    auto d = decode_address_of("rb1qcvu3k8alf5f6t6929lxuzeker773l0g9487vag", "BTC");
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->kind, address_kind::witness_v0_keyhash);
    EXPECT_EQ(d->network->name, "regtest-bcoin");
    EXPECT_EQ(to_hex(std::span<const std::uint8_t>(d->script_pubkey.data(), d->script_pubkey.size())),
              "0014c3391b1fbf4d13a5e8aa2fcdc166d91fbd1fbd05");
    EXPECT_FALSE(decode_address_of("rb1qcvu3k8alf5f6t6929lxuzeker773l0g9487vaq", "BTC")) << "a checksum typo";
    EXPECT_FALSE(decode_address_of("rb1qcvu3k8alf5f6t6929lxuzeker773l0g9487vag", "LTC"));
}

TEST(Address, LitecoinSegwitAndMwebPrefixes) {
    std::vector<std::uint8_t> program(20, 0x11);
    auto data = convert_bits(program, 8, 5, true);
    ASSERT_TRUE(data);
    data->insert(data->begin(), 0);
    const std::string regtest = bech32_encode("rltc", *data, bech32_variant::bech32);
    auto d = decode_address_of(regtest, "LTC");
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->kind, address_kind::witness_v0_keyhash);
    EXPECT_EQ(d->network->name, "regtest");
    EXPECT_EQ(d->script_pubkey.size(), 22u);
    EXPECT_FALSE(decode_address_of(regtest, "BTC"));
    EXPECT_FALSE(decode_address_of(bech32_encode("ltc", *data, bech32_variant::bech32m), "LTC"));

    // An MWEB address: a longer Bech32 string under its own prefix.
    std::vector<std::uint8_t> keys(66, 0x22);
    auto mweb5 = convert_bits(keys, 8, 5, true);
    ASSERT_TRUE(mweb5);
    mweb5->insert(mweb5->begin(), 0);
    const std::string mweb = bech32_encode("tmweb", *mweb5, bech32_variant::bech32);
    EXPECT_GT(mweb.size(), 90u);
    auto m = decode_address_of(mweb, "LTC");
    ASSERT_TRUE(m) << m.error_message();
    EXPECT_EQ(m->kind, address_kind::mweb);
    EXPECT_TRUE(m->script_pubkey.empty());
    std::string broken = mweb;
    broken[20] = broken[20] == 'q' ? 'p' : 'q';
    EXPECT_FALSE(decode_address_of(broken, "LTC"));
}

TEST(Address, RandomNamesAreNotAddresses) {
    for (const char* name : {"alice", "alice_rig_number_one_in_the_farm_x", "LaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaZ",
                             "rltc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"}) {
        EXPECT_FALSE(decode_address_of(name, "LTC")) << name;
    }
    EXPECT_FALSE(decode_address_of("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "DOGE"));
}

}  // namespace
}  // namespace bmm::crypto
