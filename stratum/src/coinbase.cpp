#include "bmm/stratum/coinbase.hpp"

#include <algorithm>
#include <iterator>

namespace bmm::stratum {
namespace {

void put_le(std::vector<unsigned char>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

void put_push(std::vector<unsigned char>& out, std::span<const unsigned char> data) {
    // Pushes of up to 75 bytes are a single length opcode; that is all a
    // coinbase scriptSig of at most 100 bytes needs here.
    out.push_back(static_cast<unsigned char>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
}

}  // namespace

void put_compact_size(std::vector<unsigned char>& out, std::uint64_t n) {
    if (n < 0xfd) {
        out.push_back(static_cast<unsigned char>(n));
    } else if (n <= 0xffff) {
        out.push_back(0xfd);
        put_le(out, n, 2);
    } else if (n <= 0xffffffffULL) {
        out.push_back(0xfe);
        put_le(out, n, 4);
    } else {
        out.push_back(0xff);
        put_le(out, n, 8);
    }
}

std::vector<unsigned char> bip34_height_push(std::int64_t height) {
    if (height == 0) return {0x00};                                                       // OP_0
    if (height >= 1 && height <= 16) return {static_cast<unsigned char>(0x50 + height)};  // OP_1..OP_16
    // CScriptNum: little-endian magnitude, sign bit in the top byte.
    std::vector<unsigned char> num;
    std::uint64_t v = static_cast<std::uint64_t>(height);
    while (v) {
        num.push_back(static_cast<unsigned char>(v & 0xff));
        v >>= 8;
    }
    if (num.back() & 0x80) num.push_back(0x00);
    std::vector<unsigned char> out;
    out.push_back(static_cast<unsigned char>(num.size()));
    out.insert(out.end(), num.begin(), num.end());
    return out;
}

result<coinbase_parts> build_coinbase(const block_template& tmpl, const coinbase_params& p) {
    if (p.payout_script.empty()) return error{"the pool's payout script is empty"};
    const std::size_t extranonce = p.extranonce1_size + p.extranonce2_size;
    if (extranonce > 75) return error{"extranonce1 + extranonce2 exceed 75 bytes"};
    if (p.pool_tag.size() > 75) return error{"pool tag exceeds 75 bytes"};
    const auto height = bip34_height_push(tmpl.height);
    const std::size_t script_sig_size =
        height.size() + 1 + extranonce + (p.pool_tag.empty() ? 0 : 1 + p.pool_tag.size());
    if (script_sig_size < 2 || script_sig_size > k_max_script_sig)
        return error{"coinbase scriptSig would be " + std::to_string(script_sig_size) +
                     " bytes; consensus allows 2 to 100: shorten the pool tag"};

    coinbase_parts parts;
    auto& a = parts.coinb1;
    put_le(a, 2, 4);  // version
    a.push_back(1);   // one input
    a.insert(a.end(), 32, 0x00);
    put_le(a, 0xffffffff, 4);
    put_compact_size(a, script_sig_size);
    a.insert(a.end(), height.begin(), height.end());
    a.push_back(static_cast<unsigned char>(extranonce));  // push opcode of the extranonce

    auto& b = parts.coinb2;
    if (!p.pool_tag.empty())
        put_push(b, {reinterpret_cast<const unsigned char*>(p.pool_tag.data()), p.pool_tag.size()});
    put_le(b, 0xfffffffe, 4);  // sequence: not final, so lock time applies
    const bool commitment = !tmpl.witness_commitment.empty();
    put_compact_size(b, commitment ? 2 : 1);
    put_le(b, static_cast<std::uint64_t>(tmpl.coinbase_value), 8);
    put_compact_size(b, p.payout_script.size());
    b.insert(b.end(), p.payout_script.begin(), p.payout_script.end());
    if (commitment) {
        put_le(b, 0, 8);
        put_compact_size(b, tmpl.witness_commitment.size());
        b.insert(b.end(), tmpl.witness_commitment.begin(), tmpl.witness_commitment.end());
    }
    put_le(b, static_cast<std::uint64_t>(tmpl.height > 0 ? tmpl.height - 1 : 0), 4);  // lock time
    parts.has_witness = commitment;
    return parts;
}

std::vector<unsigned char> with_coinbase_witness(std::span<const unsigned char> cb) {
    // version | marker 00, flag 01 | inputs and outputs | one 32-byte zero witness item | lock time
    static constexpr unsigned char marker_flag[2] = {0x00, 0x01};
    static constexpr unsigned char witness[34] = {0x01, 0x20};
    std::vector<unsigned char> out(cb.size() + sizeof marker_flag + sizeof witness);
    auto it = std::copy(cb.begin(), cb.begin() + 4, out.begin());
    it = std::copy(std::begin(marker_flag), std::end(marker_flag), it);
    it = std::copy(cb.begin() + 4, cb.end() - 4, it);
    it = std::copy(std::begin(witness), std::end(witness), it);
    std::copy(cb.end() - 4, cb.end(), it);
    return out;
}

}  // namespace bmm::stratum
