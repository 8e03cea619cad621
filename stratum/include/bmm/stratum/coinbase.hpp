#pragma once
// The pool's coinbase transaction, split around the extranonce for Stratum.
//
// Layout (non-witness serialisation, which is what the txid and so the merkle
// root commit to):
//   version 2 | 1 input: null prevout, scriptSig, sequence 0xfffffffe |
//   outputs: pool payout (coinbasevalue) [, witness commitment (0)] |
//   lock time = height - 1
// scriptSig = BIP34 height push | push(extranonce1 + extranonce2) | push(pool tag)
// coinb1 ends just before extranonce1; coinb2 starts just after extranonce2.
//
// Choices real pools have got wrong, made on purpose here:
//  - heights 1..16 are OP_1..OP_16 (BIP34's minimal push; matters on regtest);
//  - the scriptSig is 2..100 bytes (consensus), checked when the pool starts;
//  - lock time height - 1 with a non-final sequence: valid now and BIP54-ready;
//  - when the template carries a witness commitment, the block's coinbase gets
//    the 32-byte witness reserved value (zero) as its witness.

#include "bmm/result.hpp"
#include "bmm/stratum/block_template.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bmm::stratum {

inline constexpr std::size_t k_max_script_sig = 100;

struct coinbase_params {
    std::vector<unsigned char> payout_script;  // scriptPubKey of the pool's address
    std::string pool_tag;                      // e.g. "/BMM pool/"; may be empty
    std::size_t extranonce1_size = 4;
    std::size_t extranonce2_size = 4;
};

struct coinbase_parts {
    std::vector<unsigned char> coinb1;
    std::vector<unsigned char> coinb2;
    bool has_witness = false;  // the block serialises the coinbase with its witness
};

// The minimal BIP34 push of a block height (CScript() << height).
std::vector<unsigned char> bip34_height_push(std::int64_t height);

// Builds the coinbase for a template. Errors when the scriptSig would fall
// outside 2..100 bytes or the payout script is empty.
result<coinbase_parts> build_coinbase(const block_template& tmpl, const coinbase_params& params);

// The coinbase with its witness (marker, flag, one 32-byte zero item), from
// its non-witness serialisation.
std::vector<unsigned char> with_coinbase_witness(std::span<const unsigned char> coinbase);

// Bitcoin's variable-length integer ("CompactSize").
void put_compact_size(std::vector<unsigned char>& out, std::uint64_t n);

}  // namespace bmm::stratum
