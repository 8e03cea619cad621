// EIP-191 personal_sign over libsecp256k1's recoverable ECDSA (eth_sign.hpp).

#include "bmm/crypto/eth_sign.hpp"

#include "bmm/crypto/keccak.hpp"
#include "bmm/hex.hpp"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <memory>

namespace bmm::crypto {
namespace {

struct context_free {
    void operator()(secp256k1_context* c) const noexcept { secp256k1_context_destroy(c); }
};

// One context for the process: libsecp256k1's contexts are safe to share
// between threads once made (only randomize would mutate it; we never call it).
const secp256k1_context* context() {
    static const std::unique_ptr<secp256k1_context, context_free> ctx(
        secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY));
    return ctx.get();
}

std::string address_of_pubkey(const secp256k1_pubkey& pub) {
    unsigned char raw[65];
    std::size_t len = sizeof raw;
    secp256k1_ec_pubkey_serialize(context(), raw, &len, &pub, SECP256K1_EC_UNCOMPRESSED);
    // The address: the last 20 bytes of keccak256 of the 64-byte X || Y.
    const auto h = keccak256(std::span<const unsigned char>(raw + 1, 64));
    auto checked = eip55_checksum(to_hex(std::span<const unsigned char>(h.data() + 12, 20)));
    return checked ? *checked : std::string();
}

}  // namespace

std::array<unsigned char, 32> eip191_hash(std::string_view message) noexcept {
    std::string data =
        "\x19"
        "Ethereum Signed Message:\n";
    data += std::to_string(message.size());
    data += message;
    return keccak256(std::string_view(data));
}

result<std::string> recover_personal_sign(std::string_view message, std::string_view signature) {
    std::string_view hex = signature;
    if (hex.substr(0, 2) == "0x" || hex.substr(0, 2) == "0X") {
        hex.remove_prefix(2);
    }
    if (hex.size() != 130) {
        return error{
            "an Ethereum signature is 65 bytes (130 hex digits, r s v) as personal_sign gives it; this one has " +
            std::to_string(hex.size()) + " characters"};
    }
    auto bytes = from_hex(hex);
    if (!bytes) {
        return error{"the Ethereum signature is not hex digits"};
    }
    int v = (*bytes)[64];
    if (v >= 27) {
        v -= 27;
    }
    if (v != 0 && v != 1) {
        return error{"the Ethereum signature's last byte (v) must be 27 or 28 (or 0 or 1), not " +
                     std::to_string((*bytes)[64])};
    }
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &sig, bytes->data(), v)) {
        return error{"the Ethereum signature's r or s is out of range: not a signature"};
    }
    const auto digest = eip191_hash(message);
    secp256k1_pubkey pub;
    if (!secp256k1_ecdsa_recover(context(), &pub, &sig, digest.data())) {
        return error{
            "no public key recovers from this signature over the message: it was not made by personal_sign "
            "over exactly this text"};
    }
    return address_of_pubkey(pub);
}

result<std::string> eth_address_of_key(std::span<const unsigned char, 32> key) {
    secp256k1_pubkey pub;
    if (!secp256k1_ec_pubkey_create(context(), &pub, key.data())) {
        return error{"not a secp256k1 private key (zero or not below the group order)"};
    }
    return address_of_pubkey(pub);
}

result<std::string> personal_sign(std::span<const unsigned char, 32> key, std::string_view message) {
    const auto digest = eip191_hash(message);
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), key.data(), nullptr, nullptr)) {
        return error{"cannot sign: not a secp256k1 private key"};
    }
    unsigned char out[65];
    int recid = 0;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), out, &recid, &sig);
    out[64] = static_cast<unsigned char>(27 + recid);
    return "0x" + to_hex(std::span<const unsigned char>(out, 65));
}

}  // namespace bmm::crypto
