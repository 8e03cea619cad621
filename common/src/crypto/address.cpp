#include "bmm/crypto/address.hpp"

#include "bmm/crypto/sha256.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace bmm::crypto {
namespace {

constexpr std::string_view k_base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view k_bech32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::uint32_t k_bech32_const = 1;
constexpr std::uint32_t k_bech32m_const = 0x2bc830a3;

std::string quoted(std::string_view s) {
    std::string q = "\"";
    q.append(s.substr(0, 100));
    q += '"';
    return q;
}

std::array<std::uint8_t, 4> checksum4(const std::vector<std::uint8_t>& payload) {
    const auto d = sha256d_once(std::span<const unsigned char>(payload.data(), payload.size()));
    return {d[0], d[1], d[2], d[3]};
}

std::uint32_t polymod(const std::vector<std::uint8_t>& values) {
    constexpr std::array<std::uint32_t, 5> gen = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu, 0x2a1462b3u};
    std::uint32_t chk = 1;
    for (std::uint8_t v : values) {
        const std::uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffffu) << 5) ^ v;
        for (int i = 0; i < 5; ++i) {
            if ((top >> i) & 1u) {
                chk ^= gen[static_cast<std::size_t>(i)];
            }
        }
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
    std::vector<std::uint8_t> out;
    out.reserve(hrp.size() * 2 + 1);
    for (char c : hrp) {
        out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
    }
    out.push_back(0);
    for (char c : hrp) {
        out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
    }
    return out;
}

std::vector<std::uint8_t> script_of_version(address_kind kind, const std::vector<std::uint8_t>& hash) {
    std::vector<std::uint8_t> s;
    if (kind == address_kind::p2pkh) {
        s = {0x76, 0xa9, 0x14};
        s.insert(s.end(), hash.begin(), hash.end());
        s.push_back(0x88);
        s.push_back(0xac);
    } else {
        s = {0xa9, 0x14};
        s.insert(s.end(), hash.begin(), hash.end());
        s.push_back(0x87);
    }
    return s;
}

result<decoded_address> decode_base58_address(std::string_view text, const address_network& net) {
    auto payload = base58check_decode(text);
    if (!payload) {
        return error{payload.error_message()};
    }
    if (payload->size() != 21) {
        return error{quoted(text) + " is not a " + std::string(net.coin) + " address: it holds " +
                     std::to_string(payload->size()) + " bytes, an address 21"};
    }
    const std::uint8_t version = (*payload)[0];
    const std::vector<std::uint8_t> hash(payload->begin() + 1, payload->end());
    decoded_address out;
    out.network = &net;
    if (std::find(net.p2pkh_versions.begin(), net.p2pkh_versions.end(), version) != net.p2pkh_versions.end()) {
        out.kind = address_kind::p2pkh;
    } else if (std::find(net.p2sh_versions.begin(), net.p2sh_versions.end(), version) != net.p2sh_versions.end()) {
        out.kind = address_kind::p2sh;
    } else {
        return error{quoted(text) + " is not a " + std::string(net.coin) + " " + std::string(net.name) +
                     " address: version byte " + std::to_string(version) + " belongs to another network"};
    }
    out.script_pubkey = script_of_version(out.kind, hash);
    return out;
}

result<decoded_address> decode_segwit_address(std::string_view text, const address_network& net) {
    auto b = bech32_decode(text);
    if (!b) {
        return error{b.error_message()};
    }
    if (b->hrp != net.bech32_hrp) {
        return error{quoted(text) + " is not a " + std::string(net.coin) + " " + std::string(net.name) +
                     " address: its prefix \"" + b->hrp + "\" is not \"" + std::string(net.bech32_hrp) + "\""};
    }
    if (b->data.empty() || b->data[0] > 16) {
        return error{quoted(text) + ": no valid witness version"};
    }
    const std::uint8_t wv = b->data[0];
    auto program = convert_bits(std::vector<std::uint8_t>(b->data.begin() + 1, b->data.end()), 5, 8, false);
    if (!program || program->size() < 2 || program->size() > 40) {
        return error{quoted(text) + ": the witness program is not 2 to 40 bytes"};
    }
    if ((wv == 0) != (b->variant == bech32_variant::bech32)) {
        return error{quoted(text) + ": witness version " + std::to_string(wv) + " needs the " +
                     (wv == 0 ? "Bech32" : "Bech32m") + " checksum (BIP 350)"};
    }
    decoded_address out;
    out.network = &net;
    if (wv == 0) {
        if (program->size() == 20) {
            out.kind = address_kind::witness_v0_keyhash;
        } else if (program->size() == 32) {
            out.kind = address_kind::witness_v0_scripthash;
        } else {
            return error{quoted(text) + ": a version 0 witness program is 20 or 32 bytes"};
        }
    } else if (wv == 1 && program->size() == 32) {
        out.kind = address_kind::witness_v1_taproot;
    } else {
        out.kind = address_kind::witness_unknown;
    }
    out.script_pubkey.push_back(static_cast<std::uint8_t>(wv == 0 ? 0 : 0x50 + wv));
    out.script_pubkey.push_back(static_cast<std::uint8_t>(program->size()));
    out.script_pubkey.insert(out.script_pubkey.end(), program->begin(), program->end());
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

}  // namespace

const std::vector<address_network>& known_address_networks() {
    static const std::vector<address_network> nets = {
        {"BTC", "main", {0}, {5}, "bc", ""},
        {"BTC", "test", {111}, {196}, "tb", ""},
        {"BTC", "regtest", {111}, {196}, "bcrt", ""},
        // bcoin's regtest (the sha256d node of the stack) spells its Bech32
        // prefix "rb" where Bitcoin Core's says "bcrt"; the same chain rules.
        {"BTC", "regtest-bcoin", {111}, {196}, "rb", ""},
        // Litecoin keeps the old P2SH version (5 on main, 196 on test) beside
        // its own (50 'M', 58 'Q'): both are valid there.
        {"LTC", "main", {48}, {50, 5}, "ltc", "ltcmweb"},
        {"LTC", "test", {111}, {58, 196}, "tltc", "tmweb"},
        {"LTC", "regtest", {111}, {58, 196}, "rltc", "tmweb"},
    };
    return nets;
}

std::vector<const address_network*> address_networks_of(std::string_view coin) {
    std::vector<const address_network*> out;
    const std::string c = lower(coin);
    for (const auto& n : known_address_networks()) {
        if (lower(n.coin) == c) {
            out.push_back(&n);
        }
    }
    return out;
}

std::string_view to_string(address_kind k) noexcept {
    switch (k) {
        case address_kind::p2pkh:
            return "p2pkh";
        case address_kind::p2sh:
            return "p2sh";
        case address_kind::witness_v0_keyhash:
            return "p2wpkh";
        case address_kind::witness_v0_scripthash:
            return "p2wsh";
        case address_kind::witness_v1_taproot:
            return "p2tr";
        case address_kind::witness_unknown:
            return "witness_unknown";
        case address_kind::mweb:
            return "mweb";
    }
    return "unknown";
}

result<std::vector<std::uint8_t>> base58check_decode(std::string_view text) {
    if (text.empty() || text.size() > 128) {
        return error{quoted(text) + " is not Base58Check: 1 to 128 characters"};
    }
    std::vector<std::uint8_t> bytes;  // big-endian, grown as digits arrive
    for (char c : text) {
        const auto pos = k_base58.find(c);
        if (pos == std::string_view::npos) {
            return error{quoted(text) + " is not Base58Check: '" + std::string(1, c) + "' is not a Base58 character"};
        }
        unsigned carry = static_cast<unsigned>(pos);
        for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
            carry += 58u * *it;
            *it = static_cast<std::uint8_t>(carry & 0xff);
            carry >>= 8;
        }
        while (carry) {
            bytes.insert(bytes.begin(), static_cast<std::uint8_t>(carry & 0xff));
            carry >>= 8;
        }
    }
    const auto zeros = static_cast<std::size_t>(
        std::find_if(text.begin(), text.end(), [](char c) { return c != '1'; }) - text.begin());
    bytes.insert(bytes.begin(), zeros, 0);
    if (bytes.size() < 5) {
        return error{quoted(text) + " is not Base58Check: too short for a checksum"};
    }
    std::vector<std::uint8_t> payload(bytes.begin(), bytes.end() - 4);
    const auto sum = checksum4(payload);
    if (!std::equal(sum.begin(), sum.end(), bytes.end() - 4)) {
        return error{quoted(text) + " is not a valid address: its Base58Check checksum is wrong (a typo?)"};
    }
    return payload;
}

std::string base58check_encode(const std::vector<std::uint8_t>& payload) {
    std::vector<std::uint8_t> bytes = payload;
    const auto sum = checksum4(payload);
    bytes.insert(bytes.end(), sum.begin(), sum.end());
    std::vector<std::uint8_t> digits;  // base 58, little-endian
    for (std::uint8_t b : bytes) {
        unsigned carry = b;
        for (auto& d : digits) {
            carry += static_cast<unsigned>(d) << 8;
            d = static_cast<std::uint8_t>(carry % 58);
            carry /= 58;
        }
        while (carry) {
            digits.push_back(static_cast<std::uint8_t>(carry % 58));
            carry /= 58;
        }
    }
    std::string out;
    for (std::uint8_t b : bytes) {
        if (b != 0) {
            break;
        }
        out += '1';
    }
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        out += k_base58[*it];
    }
    return out;
}

result<bech32_data> bech32_decode(std::string_view text, std::size_t max_length) {
    if (text.size() < 8 || text.size() > max_length) {
        return error{quoted(text) + " is not Bech32: 8 to " + std::to_string(max_length) + " characters"};
    }
    bool has_lower = false;
    bool has_upper = false;
    for (char c : text) {
        if (c < 33 || c > 126) {
            return error{quoted(text) + " is not Bech32: a character outside printable ASCII"};
        }
        has_lower = has_lower || (c >= 'a' && c <= 'z');
        has_upper = has_upper || (c >= 'A' && c <= 'Z');
    }
    if (has_lower && has_upper) {
        return error{quoted(text) + " is not Bech32: mixed upper and lower case"};
    }
    const std::string s = lower(text);
    const auto sep = s.rfind('1');
    if (sep == std::string::npos || sep == 0 || sep + 7 > s.size()) {
        return error{quoted(text) + " is not Bech32: no '1' separating a prefix from 6+ data characters"};
    }
    bech32_data out;
    out.hrp = s.substr(0, sep);
    std::vector<std::uint8_t> values;
    for (std::size_t i = sep + 1; i < s.size(); ++i) {
        const auto pos = k_bech32.find(s[i]);
        if (pos == std::string_view::npos) {
            return error{quoted(text) + " is not Bech32: '" + std::string(1, s[i]) + "' is not a Bech32 character"};
        }
        values.push_back(static_cast<std::uint8_t>(pos));
    }
    std::vector<std::uint8_t> all = hrp_expand(out.hrp);
    all.insert(all.end(), values.begin(), values.end());
    const std::uint32_t pm = polymod(all);
    if (pm == k_bech32_const) {
        out.variant = bech32_variant::bech32;
    } else if (pm == k_bech32m_const) {
        out.variant = bech32_variant::bech32m;
    } else {
        return error{quoted(text) + " is not a valid address: its Bech32 checksum is wrong (a typo?)"};
    }
    out.data.assign(values.begin(), values.end() - 6);
    return out;
}

std::string bech32_encode(std::string_view hrp, const std::vector<std::uint8_t>& data5, bech32_variant v) {
    const std::string h = lower(hrp);
    std::vector<std::uint8_t> all = hrp_expand(h);
    all.insert(all.end(), data5.begin(), data5.end());
    all.insert(all.end(), 6, 0);
    const std::uint32_t pm = polymod(all) ^ (v == bech32_variant::bech32 ? k_bech32_const : k_bech32m_const);
    std::string out = h + "1";
    for (std::uint8_t d : data5) {
        out += k_bech32[d & 31];
    }
    for (int i = 0; i < 6; ++i) {
        out += k_bech32[(pm >> (5 * (5 - i))) & 31];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> convert_bits(const std::vector<std::uint8_t>& in, int from, int to, bool pad) {
    std::uint32_t acc = 0;
    int bits = 0;
    const std::uint32_t maxv = (1u << to) - 1;
    std::vector<std::uint8_t> out;
    for (std::uint8_t v : in) {
        if ((v >> from) != 0) {
            return std::nullopt;
        }
        acc = (acc << from) | v;
        bits += from;
        while (bits >= to) {
            bits -= to;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & maxv));
        }
    }
    if (pad) {
        if (bits > 0) {
            out.push_back(static_cast<std::uint8_t>((acc << (to - bits)) & maxv));
        }
    } else if (bits >= from || ((acc << (to - bits)) & maxv) != 0) {
        return std::nullopt;
    }
    return out;
}

result<decoded_address> decode_address(std::string_view text, const address_network& net) {
    const std::string low = lower(text);
    if (!net.mweb_hrp.empty() && low.size() > net.mweb_hrp.size() &&
        low.compare(0, net.mweb_hrp.size() + 1, std::string(net.mweb_hrp) + "1") == 0) {
        auto b = bech32_decode(text, 1023);
        if (!b) {
            return error{b.error_message()};
        }
        decoded_address out;
        out.network = &net;
        out.kind = address_kind::mweb;
        return out;
    }
    if (!net.bech32_hrp.empty() && low.size() > net.bech32_hrp.size() &&
        low.compare(0, net.bech32_hrp.size() + 1, std::string(net.bech32_hrp) + "1") == 0) {
        return decode_segwit_address(text, net);
    }
    return decode_base58_address(text, net);
}

result<decoded_address> decode_address_of(std::string_view text, std::string_view coin) {
    const auto nets = address_networks_of(coin);
    if (nets.empty()) {
        return error{"no address rules for " + std::string(coin) + " (known: BTC, LTC)"};
    }
    std::string first_error;
    for (const auto* n : nets) {
        auto d = decode_address(text, *n);
        if (d) {
            return d;
        }
        if (first_error.empty()) {
            first_error = d.error_message();
        }
    }
    return error{first_error};
}

}  // namespace bmm::crypto
