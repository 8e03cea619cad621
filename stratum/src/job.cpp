#include "bmm/stratum/job.hpp"
#include "bmm/stratum/protocol.hpp"

#include "bmm/crypto/sha256.hpp"
#include "bmm/hex.hpp"

#include <cstdio>
#include <cstring>

namespace bmm::stratum {
namespace {}  // namespace

std::vector<hash256> coinbase_merkle_branch(std::span<const hash256> txids) {
    std::vector<hash256> branch;
    // Level 0: a placeholder for the coinbase, then the transactions. Node 0 of
    // every level depends on the coinbase but is never a sibling on its path,
    // so the placeholder's value does not matter.
    std::vector<hash256> level(txids.size() + 1);
    std::copy(txids.begin(), txids.end(), level.begin() + 1);
    const crypto::sha256_batch hasher;
    std::vector<unsigned char> pairs;
    std::vector<crypto::digest32> up;
    while (level.size() > 1) {
        branch.push_back(level[1]);
        if (level.size() % 2) level.push_back(level.back());
        const std::size_t n = level.size() / 2;
        pairs.resize(64 * n);
        std::memcpy(pairs.data(), level.data(), 64 * n);
        up.resize(n);
        hasher.sha256d64(pairs.data(), up.data(), n);
        level.assign(up.begin(), up.end());
    }
    return branch;
}

hash256 merkle_root_from_branch(const hash256& coinbase_txid, std::span<const hash256> branch) {
    hash256 h = coinbase_txid;
    unsigned char pair[64];
    for (const auto& b : branch) {
        std::memcpy(pair, h.data(), 32);
        std::memcpy(pair + 32, b.data(), 32);
        h = crypto::sha256d_once(pair);
    }
    return h;
}

std::string job::notify_params_json(bool clean_jobs) const {
    std::string s;
    s.reserve(256 + coinbase.coinb1.size() * 2 + coinbase.coinb2.size() * 2 + branch_hex.size() * 67);
    s += "[\"";
    s += id;
    s += "\",\"";
    s += prevhash_stratum_hex;
    s += "\",\"";
    s += to_hex(coinbase.coinb1);
    s += "\",\"";
    s += to_hex(coinbase.coinb2);
    s += "\",[";
    for (std::size_t i = 0; i < branch_hex.size(); ++i) {
        if (i) s += ',';
        s += '"';
        s += branch_hex[i];
        s += '"';
    }
    s += "],\"";
    s += be32_hex(data.version);
    s += "\",\"";
    s += be32_hex(data.nbits);
    s += "\",\"";
    s += be32_hex(tmpl->curtime);
    s += "\",";
    s += clean_jobs ? "true" : "false";
    s += ']';
    return s;
}

result<std::shared_ptr<const job>> make_job_with_coinbase(std::shared_ptr<const block_template> tmpl,
                                                          coinbase_parts coinbase, std::size_t extranonce2_size,
                                                          std::string id, pow_algorithm algorithm,
                                                          std::uint32_t version_mask, bool clean) {
    auto j = std::make_shared<job>();
    std::vector<hash256> txids;
    txids.reserve(tmpl->transactions.size());
    for (const auto& tx : tmpl->transactions) txids.push_back(tx.txid);
    const auto branch = coinbase_merkle_branch(txids);
    if (branch.size() > verifier::k_max_merkle_depth) return error{"template has too many transactions"};
    if (extranonce2_size == 0 || extranonce2_size > verifier::k_max_extranonce2_size)
        return error{"extranonce2 size must be 1 to 8 bytes"};

    auto& d = j->data;
    d.algorithm = algorithm;
    d.coinb1 = coinbase.coinb1;
    d.coinb2 = coinbase.coinb2;
    d.merkle_branch = branch;
    d.version = static_cast<std::uint32_t>(tmpl->version);
    d.prevhash = tmpl->prevhash;
    d.nbits = tmpl->bits;
    d.extranonce2_size = extranonce2_size;
    d.version_mask = version_mask;
    d.network_target = tmpl->target;

    j->id = std::move(id);
    j->coinbase = std::move(coinbase);
    j->prevhash_stratum_hex = to_hex(verifier::stratum_prevhash_swap(tmpl->prevhash));
    for (const auto& b : branch) j->branch_hex.push_back(to_hex(b));
    j->clean = clean;
    j->tmpl = std::move(tmpl);
    for (int c = 0; c < 2; ++c) j->notify_line[c] = notification("mining.notify", j->notify_params_json(c == 1));
    return std::shared_ptr<const job>(std::move(j));
}

result<std::shared_ptr<const job>> make_job(std::shared_ptr<const block_template> tmpl, const coinbase_params& params,
                                            std::string id, pow_algorithm algorithm, std::uint32_t version_mask,
                                            bool clean) {
    auto cb = build_coinbase(*tmpl, params);
    if (!cb) return error{cb.error_message()};
    return make_job_with_coinbase(std::move(tmpl), std::move(*cb), params.extranonce2_size, std::move(id), algorithm,
                                  version_mask, clean);
}

std::vector<unsigned char> assemble_block(const job& j, const verifier::verdict& v,
                                          std::span<const unsigned char> extranonce1,
                                          std::span<const unsigned char> extranonce2) {
    const auto coinbase = verifier::assemble_coinbase(j.data, extranonce1, extranonce2);
    std::size_t size = 80 + 9 + coinbase.size() + 38 + 1 + j.tmpl->mweb.size();
    for (const auto& tx : j.tmpl->transactions) size += tx.data.size();
    std::vector<unsigned char> block;
    block.reserve(size);
    block.insert(block.end(), v.header.begin(), v.header.end());
    put_compact_size(block, 1 + j.tmpl->transactions.size());
    if (j.coinbase.has_witness) {
        const auto with_witness = with_coinbase_witness(coinbase);
        block.insert(block.end(), with_witness.begin(), with_witness.end());
    } else {
        block.insert(block.end(), coinbase.begin(), coinbase.end());
    }
    for (const auto& tx : j.tmpl->transactions) block.insert(block.end(), tx.data.begin(), tx.data.end());
    if (!j.tmpl->mweb.empty()) {
        block.push_back(0x01);
        block.insert(block.end(), j.tmpl->mweb.begin(), j.tmpl->mweb.end());
    }
    return block;
}

}  // namespace bmm::stratum
