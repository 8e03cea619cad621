// The share verifier: parse, assemble, and hash a batch of shares in stages,
// each stage one batch call into the hash kernels:
//   1. parse each share's hex fields and assemble its coinbase (per share)
//   2. sha256d of every coinbase                              (one batch)
//   3. the merkle fold, one level at a time across shares     (one batch a level)
//   4. the 80-byte headers                                    (per share)
//   5. sha256d of every header: the block id, and the proof of work on sha256d
//   6. scrypt of the scrypt shares' headers                   (one batch)
// Shares with bad input drop out at stage 1 with their status and cost nothing
// after it.

#include "bmm/verifier/share_verifier.hpp"

#include "bmm/hex.hpp"

#include <algorithm>
#include <cstring>

namespace bmm::verifier {
namespace {

void put_le32(unsigned char* p, std::uint32_t v) noexcept {
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
    p[2] = static_cast<unsigned char>(v >> 16);
    p[3] = static_cast<unsigned char>(v >> 24);
}

}  // namespace

hash256 stratum_prevhash_swap(const hash256& h) noexcept {
    hash256 r;
    for (std::size_t w = 0; w < 8; ++w)
        for (std::size_t i = 0; i < 4; ++i) r[4 * w + i] = h[4 * w + 3 - i];
    return r;
}

result<job_data> job_data::from_stratum(pow_algorithm algorithm, std::string_view prevhash_hex,
                                        std::string_view coinb1_hex, std::string_view coinb2_hex,
                                        std::span<const std::string_view> branch_hex, std::string_view version_hex,
                                        std::string_view nbits_hex, std::size_t extranonce2_size,
                                        std::uint32_t version_mask) {
    job_data j;
    j.algorithm = algorithm;
    hash256 swapped;
    if (!from_hex_into(prevhash_hex, swapped)) return error{"prevhash is not 64 hex digits"};
    j.prevhash = stratum_prevhash_swap(swapped);
    auto c1 = from_hex(coinb1_hex);
    if (!c1) return error{"coinb1 is not hex"};
    auto c2 = from_hex(coinb2_hex);
    if (!c2) return error{"coinb2 is not hex"};
    j.coinb1 = std::move(*c1);
    j.coinb2 = std::move(*c2);
    if (branch_hex.size() > k_max_merkle_depth) return error{"merkle branch is deeper than 32 levels"};
    for (std::size_t i = 0; i < branch_hex.size(); ++i) {
        hash256 h;
        if (!from_hex_into(branch_hex[i], h))
            return error{"merkle branch entry " + std::to_string(i) + " is not 64 hex digits"};
        j.merkle_branch.push_back(h);
    }
    if (!parse_be32_hex(version_hex, j.version)) return error{"version is not 8 hex digits"};
    if (!parse_be32_hex(nbits_hex, j.nbits)) return error{"nbits is not 8 hex digits"};
    auto t = target_from_nbits(j.nbits);
    if (!t) return error{"nbits " + std::string(nbits_hex) + ": " + t.error_message()};
    j.network_target = *t;
    if (extranonce2_size == 0 || extranonce2_size > k_max_extranonce2_size)
        return error{"extranonce2 size must be 1 to 8 bytes"};
    j.extranonce2_size = extranonce2_size;
    j.version_mask = version_mask;
    return j;
}

std::string_view describe(share_status s) noexcept {
    switch (s) {
        case share_status::ok:
            return "ok";
        case share_status::missing_job:
            return "unknown job";
        case share_status::bad_extranonce2:
            return "extranonce2 is not hex of the subscribed size";
        case share_status::bad_extranonce1:
            return "extranonce1 is longer than 8 bytes";
        case share_status::bad_ntime:
            return "ntime is not 8 hex digits";
        case share_status::bad_nonce:
            return "nonce is not 8 hex digits";
        case share_status::bad_version_bits:
            return "version bits are not 8 hex digits";
        case share_status::version_outside_mask:
            return "version bits outside the negotiated mask";
        case share_status::coinbase_too_large:
            return "coinbase too large";
        case share_status::merkle_too_deep:
            return "merkle branch too deep";
    }
    return "unknown status";
}

std::vector<unsigned char> assemble_coinbase(const job_data& job, std::span<const unsigned char> extranonce1,
                                             std::span<const unsigned char> extranonce2) {
    std::vector<unsigned char> cb;
    cb.reserve(job.coinb1.size() + extranonce1.size() + extranonce2.size() + job.coinb2.size());
    cb.insert(cb.end(), job.coinb1.begin(), job.coinb1.end());
    cb.insert(cb.end(), extranonce1.begin(), extranonce1.end());
    cb.insert(cb.end(), extranonce2.begin(), extranonce2.end());
    cb.insert(cb.end(), job.coinb2.begin(), job.coinb2.end());
    return cb;
}

struct batch_verifier::impl {
    crypto::sha256_batch sha;
    crypto::scrypt_batch scrypt;

    // Scratch reused across batches so that steady state allocates nothing.
    std::vector<unsigned char> arena;       // every live share's coinbase, back to back
    std::vector<std::size_t> arena_offset;  // per live share
    std::vector<std::size_t> live;          // indices of shares still being hashed
    std::vector<std::span<const unsigned char>> msgs;
    std::vector<crypto::digest32> digests;
    std::vector<hash256> root;               // running merkle root per live share
    std::vector<unsigned char> nodes;        // 64-byte merkle inputs
    std::vector<std::size_t> level_members;  // positions in `live` folded at this level
    std::vector<const unsigned char*> scrypt_headers;
    std::vector<std::size_t> scrypt_members;

    impl(const crypto::sha256_selection& s, const crypto::scrypt_selection& c) : sha(s), scrypt(c) {}

    void verify(std::span<const share> shares, std::span<verdict> out);
};

void batch_verifier::impl::verify(std::span<const share> shares, std::span<verdict> out) {
    // Stage 1: parse and assemble.
    arena.clear();
    arena_offset.clear();
    live.clear();
    for (std::size_t i = 0; i < shares.size(); ++i) {
        const share& s = shares[i];
        verdict& v = out[i];
        v = verdict{};
        if (!s.job) {
            v.status = share_status::missing_job;
            continue;
        }
        const job_data& job = *s.job;
        unsigned char en2[k_max_extranonce2_size];
        const std::size_t en2_size = job.extranonce2_size;
        if (en2_size > k_max_extranonce2_size || !from_hex_into(s.extranonce2_hex, {en2, en2_size})) {
            v.status = share_status::bad_extranonce2;
            continue;
        }
        if (s.extranonce1.size() > k_max_extranonce1_size) {
            v.status = share_status::bad_extranonce1;
            continue;
        }
        if (!parse_be32_hex(s.ntime_hex, v.ntime)) {
            v.status = share_status::bad_ntime;
            continue;
        }
        if (!parse_be32_hex(s.nonce_hex, v.nonce)) {
            v.status = share_status::bad_nonce;
            continue;
        }
        v.version = job.version;
        if (!s.version_bits_hex.empty()) {
            std::uint32_t bits = 0;
            if (!parse_be32_hex(s.version_bits_hex, bits)) {
                v.status = share_status::bad_version_bits;
                continue;
            }
            if (bits & ~job.version_mask) {
                v.status = share_status::version_outside_mask;
                continue;
            }
            v.version = (job.version & ~job.version_mask) | (bits & job.version_mask);
        }
        const std::size_t cb_size = job.coinb1.size() + s.extranonce1.size() + en2_size + job.coinb2.size();
        if (cb_size > k_max_coinbase_size) {
            v.status = share_status::coinbase_too_large;
            continue;
        }
        if (job.merkle_branch.size() > k_max_merkle_depth) {
            v.status = share_status::merkle_too_deep;
            continue;
        }
        arena_offset.push_back(arena.size());
        arena.insert(arena.end(), job.coinb1.begin(), job.coinb1.end());
        arena.insert(arena.end(), s.extranonce1.begin(), s.extranonce1.end());
        arena.insert(arena.end(), en2, en2 + en2_size);
        arena.insert(arena.end(), job.coinb2.begin(), job.coinb2.end());
        v.status = share_status::ok;
        live.push_back(i);
    }
    const std::size_t n = live.size();
    if (n == 0) return;

    // Stage 2: coinbase txids.
    msgs.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t end = k + 1 < n ? arena_offset[k + 1] : arena.size();
        msgs[k] = {arena.data() + arena_offset[k], end - arena_offset[k]};
    }
    digests.resize(n);
    sha.sha256d(msgs, digests.data());
    root.resize(n);
    std::size_t depth = 0;
    for (std::size_t k = 0; k < n; ++k) {
        root[k] = digests[k];
        out[live[k]].coinbase_txid = digests[k];
        depth = std::max(depth, shares[live[k]].job->merkle_branch.size());
    }

    // Stage 3: the merkle fold, level by level across shares.
    for (std::size_t level = 0; level < depth; ++level) {
        level_members.clear();
        nodes.clear();
        for (std::size_t k = 0; k < n; ++k) {
            const auto& branch = shares[live[k]].job->merkle_branch;
            if (level >= branch.size()) continue;
            level_members.push_back(k);
            nodes.insert(nodes.end(), root[k].begin(), root[k].end());
            nodes.insert(nodes.end(), branch[level].begin(), branch[level].end());
        }
        digests.resize(level_members.size());
        sha.sha256d64(nodes.data(), digests.data(), level_members.size());
        for (std::size_t m = 0; m < level_members.size(); ++m) root[level_members[m]] = digests[m];
    }

    // Stage 4: headers.
    for (std::size_t k = 0; k < n; ++k) {
        verdict& v = out[live[k]];
        const job_data& job = *shares[live[k]].job;
        unsigned char* h = v.header.data();
        put_le32(h, v.version);
        std::memcpy(h + 4, job.prevhash.data(), 32);
        std::memcpy(h + 36, root[k].data(), 32);
        put_le32(h + 68, v.ntime);
        put_le32(h + 72, job.nbits);
        put_le32(h + 76, v.nonce);
        msgs[k] = {h, 80};
    }

    // Stage 5: block ids (and sha256d proof of work).
    digests.resize(n);
    sha.sha256d(msgs, digests.data());
    scrypt_headers.clear();
    scrypt_members.clear();
    for (std::size_t k = 0; k < n; ++k) {
        verdict& v = out[live[k]];
        v.block_hash = digests[k];
        if (shares[live[k]].job->algorithm == pow_algorithm::sha256d) {
            v.pow_hash = digests[k];
        } else {
            scrypt_headers.push_back(v.header.data());
            scrypt_members.push_back(k);
        }
    }

    // Stage 6: scrypt proof of work.
    if (!scrypt_members.empty()) {
        digests.resize(scrypt_members.size());
        scrypt.hash(scrypt_headers.data(), digests.data(), scrypt_members.size());
        for (std::size_t m = 0; m < scrypt_members.size(); ++m) out[live[scrypt_members[m]]].pow_hash = digests[m];
    }

    for (std::size_t k = 0; k < n; ++k) {
        verdict& v = out[live[k]];
        const share& s = shares[live[k]];
        const uint256 value = uint256::from_le_bytes(v.pow_hash);
        v.meets_target = value <= s.target;
        v.meets_network_target = value <= s.job->network_target;
    }
}

batch_verifier::batch_verifier()
    : batch_verifier(crypto::sha256_default_selection(), crypto::scrypt_default_selection()) {}

batch_verifier::batch_verifier(const crypto::sha256_selection& sha, const crypto::scrypt_selection& scrypt)
    : impl_(std::make_unique<impl>(sha, scrypt)) {}

batch_verifier::~batch_verifier() = default;

void batch_verifier::verify(std::span<const share> shares, std::span<verdict> out) {
    impl_->verify(shares, out.first(shares.size()));
}

std::string batch_verifier::describe_kernels() const {
    return "sha256: " + impl_->sha.selection().describe() + ", scrypt: " + impl_->scrypt.selection().describe();
}

}  // namespace bmm::verifier
