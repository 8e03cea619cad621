#include "bmm/crypto/keccak.hpp"

#include <cctype>
#include <cstring>

namespace bmm::crypto {
namespace {

// Keccak-f[1600], the plain reference permutation: 24 rounds of theta, rho,
// pi, chi and iota over a 5 x 5 lane state (FIPS 202, section 3).
constexpr std::uint64_t k_round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL, 0x000000000000808bULL,
    0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL, 0x0000000000000088ULL,
    0x0000000080008009ULL, 0x000000008000000aULL, 0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
constexpr unsigned k_rotations[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                      27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
constexpr unsigned k_pi_lanes[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                     15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

constexpr std::uint64_t rotl(std::uint64_t x, unsigned n) { return (x << n) | (x >> (64 - n)); }

void keccak_f1600(std::uint64_t st[25]) {
    for (int round = 0; round < 24; ++round) {
        std::uint64_t c[5];
        for (int x = 0; x < 5; ++x) c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
        for (int x = 0; x < 5; ++x) {
            const std::uint64_t d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) st[y + x] ^= d;
        }
        std::uint64_t t = st[1];
        for (int i = 0; i < 24; ++i) {
            const unsigned j = k_pi_lanes[i];
            const std::uint64_t next = st[j];
            st[j] = rotl(t, k_rotations[i]);
            t = next;
        }
        for (int y = 0; y < 25; y += 5) {
            std::uint64_t row[5];
            for (int x = 0; x < 5; ++x) row[x] = st[y + x];
            for (int x = 0; x < 5; ++x) st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        st[0] ^= k_round_constants[round];
    }
}

std::uint64_t load_le64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// `s` in double quotes (built with += : GCC 12 warns falsely on "a" + s).
std::string quoted(std::string_view s) {
    std::string q = "\"";
    q += s;
    q += '"';
    return q;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::array<unsigned char, 32> keccak256(std::span<const unsigned char> data) noexcept {
    constexpr std::size_t rate = 136;  // 1600 - 2 * 256 bits, in bytes
    std::uint64_t st[25] = {};
    std::size_t off = 0;
    for (; data.size() - off >= rate; off += rate) {
        for (std::size_t i = 0; i < rate / 8; ++i) st[i] ^= load_le64(data.data() + off + 8 * i);
        keccak_f1600(st);
    }
    unsigned char block[rate] = {};
    std::memcpy(block, data.data() + off, data.size() - off);
    block[data.size() - off] ^= 0x01;  // Keccak padding (SHA3 would be 0x06)
    block[rate - 1] ^= 0x80;
    for (std::size_t i = 0; i < rate / 8; ++i) st[i] ^= load_le64(block + 8 * i);
    keccak_f1600(st);
    std::array<unsigned char, 32> out{};
    for (std::size_t i = 0; i < 32; ++i) out[i] = static_cast<unsigned char>(st[i / 8] >> (8 * (i % 8)));
    return out;
}

std::array<unsigned char, 32> keccak256(std::string_view text) noexcept {
    return keccak256(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
}

result<std::string> eip55_checksum(std::string_view hex40) {
    if (hex40.size() != 40) return error{"an Ethereum address has 40 hex digits after 0x"};
    std::string lower(hex40);
    for (char& c : lower) {
        if (hex_value(c) < 0) return error{"an Ethereum address has only hex digits after 0x"};
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    // EIP-55: the hash is of the lower-case ASCII hex text; a letter is upper
    // case when the matching hex digit of the hash is 8 or more.
    const auto h = keccak256(lower);
    std::string out = "0x";
    for (std::size_t i = 0; i < 40; ++i) {
        const unsigned nibble = (i % 2 == 0) ? (h[i / 2] >> 4) : (h[i / 2] & 0x0f);
        char c = lower[i];
        if (c >= 'a' && nibble >= 8) c = static_cast<char>(c - 'a' + 'A');
        out += c;
    }
    return out;
}

result<std::string> check_eth_address(std::string_view address) {
    if (address.size() != 42 || address[0] != '0' || (address[1] != 'x' && address[1] != 'X'))
        return error{quoted(address) + " is not an ERC-20 address (0x and 40 hex digits)"};
    const std::string_view body = address.substr(2);
    auto sum = eip55_checksum(body);
    if (!sum) return error{quoted(address) + " is not an ERC-20 address: " + sum.error_message()};
    bool has_lower = false, has_upper = false;
    for (char c : body) {
        has_lower = has_lower || (c >= 'a' && c <= 'f');
        has_upper = has_upper || (c >= 'A' && c <= 'F');
    }
    if (has_lower && has_upper && body != std::string_view(*sum).substr(2))
        return error{quoted(address) + " fails its EIP-55 checksum (a mistyped letter?); the checksummed " +
                     "spelling of these digits is " + *sum};
    return sum;
}

}  // namespace bmm::crypto
