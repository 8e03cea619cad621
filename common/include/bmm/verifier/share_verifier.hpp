#pragma once
// The share verifier: turns Stratum shares into block headers and
// proof-of-work hashes, a batch at a time.
//
// A job (what mining.notify carries) is decoded once and shared by every share
// on it. A share is what mining.submit carries: extranonce2, ntime, nonce and
// optional BIP310 version bits, as hex. For each share the verifier builds the
// coinbase (coinb1 + extranonce1 + extranonce2 + coinb2), hashes it, folds the
// merkle branch, builds the 80-byte header and hashes it (sha256d, or scrypt
// for Litecoin). All shares of a batch go through each step together, so the
// hash kernels run lane by lane across shares.
//
// Bad input is reported per share and never stops the batch. The verifier
// judges only what hashing can judge; staleness, duplicates, ntime windows and
// authorisation are the Stratum session's business.

#include "bmm/crypto/scrypt.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/result.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::verifier {

using hash256 = std::array<unsigned char, 32>;

inline constexpr std::size_t k_max_extranonce2_size = 8;  // larger breaks common firmware
inline constexpr std::size_t k_max_extranonce1_size = 8;
inline constexpr std::size_t k_max_coinbase_size = 16 * 1024;
inline constexpr std::size_t k_max_merkle_depth = 32;  // 2^32 transactions

// A job's parts, decoded once per job.
struct job_data {
    pow_algorithm algorithm = pow_algorithm::sha256d;
    std::vector<unsigned char> coinb1;
    std::vector<unsigned char> coinb2;
    std::vector<hash256> merkle_branch;  // internal byte order, coinbase side first
    std::uint32_t version = 0;
    hash256 prevhash{};  // header byte order (internal)
    std::uint32_t nbits = 0;
    std::size_t extranonce2_size = 4;
    std::uint32_t version_mask = 0;  // bits a miner may roll (BIP310)
    uint256 network_target;          // from nbits

    // Decodes mining.notify's fields: prevhash in Stratum's word-swapped hex,
    // coinb1/coinb2 and branch hashes as plain hex, version and nbits as
    // 8-digit big-endian hex. Errors name the field.
    static result<job_data> from_stratum(pow_algorithm algorithm, std::string_view prevhash_hex,
                                         std::string_view coinb1_hex, std::string_view coinb2_hex,
                                         std::span<const std::string_view> branch_hex, std::string_view version_hex,
                                         std::string_view nbits_hex, std::size_t extranonce2_size,
                                         std::uint32_t version_mask = 0);
};

// Stratum's mining.notify prevhash form: the header's 32 bytes with each
// 4-byte word reversed. Both directions are the same permutation.
hash256 stratum_prevhash_swap(const hash256& h) noexcept;

// One share to check: a job, the session's extranonce1, and mining.submit's
// fields as the miner sent them.
struct share {
    const job_data* job = nullptr;
    std::span<const unsigned char> extranonce1;
    std::string_view extranonce2_hex;
    std::string_view ntime_hex;
    std::string_view nonce_hex;
    std::string_view version_bits_hex;  // empty when the miner sent none
    uint256 target;                     // the share's difficulty target
};

enum class share_status : std::uint8_t {
    ok,                    // hashed; see meets_target
    missing_job,           // share.job was null
    bad_extranonce2,       // not hex, or not extranonce2_size bytes
    bad_extranonce1,       // longer than k_max_extranonce1_size
    bad_ntime,             // not 8 hex digits
    bad_nonce,             // not 8 hex digits
    bad_version_bits,      // not 8 hex digits
    version_outside_mask,  // rolled bits outside the job's version mask
    coinbase_too_large,    // the assembled coinbase exceeds k_max_coinbase_size
    merkle_too_deep,       // the branch exceeds k_max_merkle_depth
};

// A short English reason for a status, for logs and Stratum error messages.
std::string_view describe(share_status s) noexcept;

struct verdict {
    share_status status = share_status::missing_job;
    hash256 pow_hash{};    // sha256d or scrypt of the header, internal byte order
    hash256 block_hash{};  // sha256d of the header: the block id, internal byte order
    std::array<unsigned char, 80> header{};
    hash256 coinbase_txid{};    // sha256d of the coinbase (no witness), internal byte order
    std::uint32_t version = 0;  // the header version after rolling
    std::uint32_t ntime = 0;
    std::uint32_t nonce = 0;
    bool meets_target = false;          // pow hash <= share target
    bool meets_network_target = false;  // pow hash <= the job's network target: a block

    bool ok() const noexcept { return status == share_status::ok; }
};

// Verifies batches. Holds scratch memory (scrypt needs 128 KiB a lane), so
// one object per thread.
class batch_verifier {
public:
    batch_verifier();  // the process-wide default kernels
    batch_verifier(const crypto::sha256_selection& sha, const crypto::scrypt_selection& scrypt);
    ~batch_verifier();
    batch_verifier(const batch_verifier&) = delete;
    batch_verifier& operator=(const batch_verifier&) = delete;

    // out[i] receives the verdict on shares[i]; out.size() must equal shares.size().
    void verify(std::span<const share> shares, std::span<verdict> out);

    std::string describe_kernels() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The coinbase as the verifier assembles it, for block assembly by the caller.
std::vector<unsigned char> assemble_coinbase(const job_data& job, std::span<const unsigned char> extranonce1,
                                             std::span<const unsigned char> extranonce2);

}  // namespace bmm::verifier
