#pragma once
// A Stratum job: a block template, the pool's coinbase split for Stratum, and
// the coinbase's merkle branch (computed once per job, never per share), plus
// everything mining.notify sends and the verifier needs. Immutable once made,
// so every loop thread may read it without locks.

#include "bmm/result.hpp"
#include "bmm/stratum/block_template.hpp"
#include "bmm/stratum/coinbase.hpp"
#include "bmm/target.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bmm::stratum {

// The coinbase's merkle branch: at each level, the sibling of the node on the
// coinbase's path (Bitcoin's rule: an odd last node pairs with itself).
// `txids` are the template's transactions, without the coinbase.
std::vector<hash256> coinbase_merkle_branch(std::span<const hash256> txids);

// The merkle root from the coinbase txid and its branch.
hash256 merkle_root_from_branch(const hash256& coinbase_txid, std::span<const hash256> branch);

struct job {
    std::string id;  // hex, unique per process run
    std::shared_ptr<const block_template> tmpl;
    coinbase_parts coinbase;
    verifier::job_data data;           // what the verifier needs
    std::string prevhash_stratum_hex;  // mining.notify's form
    std::vector<std::string> branch_hex;
    bool clean = false;  // the first job on a new previous block

    // mining.notify's params, with clean_jobs as given.
    std::string notify_params_json(bool clean_jobs) const;
    // The whole mining.notify line (newline included), made once per job so
    // that a new block reaches ten thousand miners without ten thousand
    // hex encodings: [0] with clean_jobs false, [1] with true.
    std::string notify_line[2];
};

// Builds a job. The algorithm decides the verifier's proof of work.
result<std::shared_ptr<const job>> make_job(std::shared_ptr<const block_template> tmpl, const coinbase_params& params,
                                            std::string id, pow_algorithm algorithm, std::uint32_t version_mask,
                                            bool clean);

// The same, with coinb1/coinb2 given rather than built (fixtures and tests of
// other pools' coinbases).
result<std::shared_ptr<const job>> make_job_with_coinbase(std::shared_ptr<const block_template> tmpl,
                                                          coinbase_parts coinbase, std::size_t extranonce2_size,
                                                          std::string id, pow_algorithm algorithm,
                                                          std::uint32_t version_mask, bool clean);

// The full block for a share on `j` that meets the network target: header,
// transaction count, the coinbase (with its witness when the template has a
// witness commitment), the template's transactions as given, then, on
// Litecoin with MWEB, 0x01 and the extension block.
std::vector<unsigned char> assemble_block(const job& j, const verifier::verdict& v,
                                          std::span<const unsigned char> extranonce1,
                                          std::span<const unsigned char> extranonce2);

}  // namespace bmm::stratum
