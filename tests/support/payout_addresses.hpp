#pragma once
// Test support: payout addresses without a wallet. Bech32 segwit v0 addresses
// (BIP-173) made from any 20-byte program, so that a test can have thousands
// of valid regtest addresses (rltc1...) in a moment (the node's getnewaddress
// takes ~30 ms each), and ERC-20 addresses from any 20 bytes.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bmm::test::payout {

namespace bech32_detail {

inline std::uint32_t polymod(const std::vector<std::uint8_t>& values) {
    constexpr std::uint32_t k_gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    std::uint32_t chk = 1;
    for (std::uint8_t v : values) {
        const std::uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i) {
            if ((top >> i) & 1) {
                chk ^= k_gen[i];
            }
        }
    }
    return chk;
}

}  // namespace bech32_detail

// The bech32 segwit v0 address of `program` (20 bytes: P2WPKH, 32: P2WSH)
// with human-readable part `hrp` ("rltc" on regtest, "ltc" on mainnet).
inline std::string segwit_v0_address(const std::string& hrp, const std::vector<std::uint8_t>& program) {
    static const char* k_charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    std::vector<std::uint8_t> data = {0};  // witness version 0
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::uint8_t b : program) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            data.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
        }
    }
    if (bits > 0) {
        data.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));
    }
    std::vector<std::uint8_t> values;
    for (char c : hrp) {
        values.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
    }
    values.push_back(0);
    for (char c : hrp) {
        values.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
    }
    values.insert(values.end(), data.begin(), data.end());
    values.insert(values.end(), 6, 0);
    const std::uint32_t mod = bech32_detail::polymod(values) ^ 1;  // bech32 (not bech32m) for v0
    std::string out = hrp + "1";
    for (std::uint8_t d : data) {
        out += k_charset[d];
    }
    for (int i = 0; i < 6; ++i) {
        out += k_charset[(mod >> (5 * (5 - i))) & 31];
    }
    return out;
}

// A regtest P2WPKH address that differs for every `n`.
inline std::string regtest_p2wpkh(std::uint32_t n) {
    std::vector<std::uint8_t> program(20, 0x5a);
    for (int i = 0; i < 4; ++i) {
        program[static_cast<std::size_t>(16 + i)] = static_cast<std::uint8_t>(n >> (8 * i));
    }
    return segwit_v0_address("rltc", program);
}

// An all-lower-case ERC-20 address (carries no checksum, so it is valid) that differs for every `n`.
inline std::string eth_address(std::uint32_t n) {
    static const char* k_hex = "0123456789abcdef";
    std::string out = "0x";
    for (int i = 0; i < 32; ++i) {
        out += k_hex[(i * 7 + 3) % 16];
    }
    for (int i = 7; i >= 0; --i) {
        out += k_hex[(n >> (4 * i)) & 15];
    }
    return out;
}

}  // namespace bmm::test::payout
