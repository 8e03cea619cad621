#pragma once
// The share verdict: what bmm-stratum answers to a mining.submit, as pure code.
//
// No sockets, no loop, no clock: the server hands over the session's state,
// the job the share names, the submitted fields and the time, and after
// hashing the verifier's verdict; these functions decide accepted, stale,
// duplicate, low difficulty, invalid (with the Stratum error code) and block.
// The checks run in the order of the error a miner hears (README, "Errors on
// the wire"), so that order is written down once, here, and unit-tested
// (tests/stratum/share_verdict_test.cpp).
//
// Private to bmm_stratum (the loops in server_*.cpp use it); not a public header.

#include "bmm/stratum/job.hpp"
#include "bmm/uint256.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace bmm::stratum {

// Seconds past the current time a share's ntime may be.
inline constexpr std::uint32_t k_ntime_future = 7200;

// A job id's sequence number: job ids are hex counters, so a later job has a
// larger number (strtoull's reading of the id; 0 when it is not hex).
std::uint64_t job_seq(const std::string& job_id);

// A session's difficulty and its last change. Shares on jobs sent before the
// change count at the lower of the two difficulties: the miner may still be
// working on them at the old one, and it must not be paid more than it did.
struct difficulty_state {
    double current = 0;
    double previous = 0;              // before the last change (equal to current before any)
    std::uint64_t changed_after = 0;  // jobs with a sequence up to this were sent before the change
};

// The difficulty a share on job number `seq` counts at.
double share_difficulty(const difficulty_state& d, std::uint64_t seq) noexcept;

// A Stratum verdict: code 0 (accepted) or a stratum_error code, the reason
// the miner reads, and why the share adds a point to its address's ban score
// (null when it adds none: stale and low-difficulty shares are honest mining).
struct share_verdict {
    int code = 0;
    std::string reason;
    const char* ban_reason = nullptr;

    bool accepted() const noexcept { return code == 0; }
};

// The fields of a mining.submit, hex in lower case as the server keeps them.
struct submitted_fields {
    std::string_view extranonce2, ntime, nonce;
    std::string_view version_bits;  // empty when the miner sent none
};

// The key that makes a share a duplicate of an earlier one on job `j`: the
// values that build the header, never their spelling. extranonce1,
// extranonce2 as bytes, ntime and nonce as numbers, and the effective
// version: the job's version with the rolled bits applied under the job's
// mask, or the job's version when the miner sent none (so version bits left
// out and "00000000" on a job whose version has no bit in the mask are one
// header, one key). Hex case does not matter. Fields the verifier cannot
// read (not hex, not the fixed size: ntime, nonce and version bits take
// exactly 8 digits, extranonce2 exactly twice the job's extranonce2 size)
// build no header; they are keyed by their text, apart from every readable
// share, so a refused share cannot hide a readable one.
std::string duplicate_key(std::string_view extranonce1_hex, const submitted_fields& f, const verifier::job_data& j);

// The duplicate keys seen per job, for the jobs a loop still holds.
class seen_shares {
public:
    // True the first time `key` is offered for `job_id`; the key is kept.
    bool first(const std::string& job_id, std::string key);
    // Drops a job's keys (the job left the loop's table).
    void forget(const std::string& job_id);
    // Keys kept for a job (0 for a job never seen).
    std::size_t count(const std::string& job_id) const;

private:
    std::unordered_map<std::string, std::unordered_set<std::string>> keys_;
};

// What a mining.submit is judged on before any hashing.
struct submit_context {
    bool subscribed = false;
    bool well_formed = false;  // worker, job id, extranonce2, ntime and nonce are strings
    bool authorized = false;   // the worker was authorised on this connection
    const job* j = nullptr;    // the job named; null when the loop does not hold it
    std::string job_id;
    std::string_view extranonce1_hex;
    submitted_fields fields;
    std::uint32_t version_mask = 0;  // negotiated with mining.configure (0: no rolling)
    std::uint32_t now_unix = 0;      // seconds
    difficulty_state difficulty;
};

struct submit_judgement {
    share_verdict early;  // code 0: the share goes to the verifier
    // The share passed the session checks and names a job the loop holds:
    // `difficulty` and `target` are set (also when `early` rejects it).
    bool on_job = false;
    double difficulty = 0;
    uint256 target;  // from difficulty; zero when the difficulty has no target
};

// Everything that needs no hash, in this order (the first that applies wins):
//   25 not subscribed; 20 malformed parameters (a ban point); 24 unauthorized
//   worker; 21 job not found; 20 ntime before the template's mintime or more
//   than k_ntime_future past now; 20 version bits outside the negotiated mask;
//   22 duplicate share.
// An ntime or version bits that are not hex pass here: the verifier refuses
// them. The duplicate key is remembered in `seen` only for shares that reach
// that check, so a share refused for its ntime may come back corrected.
submit_judgement judge_submit(const submit_context& c, seen_shares& seen);

// The verdict on a share the verifier hashed (`j` its job, `current` the
// loop's newest job, null when it has none), in this order: 20 the verifier
// refused it (its reason; a ban point); 21 stale (its job's previous block is
// not the current job's); 23 low difficulty; else accepted.
share_verdict judge_hashed(const verifier::verdict& v, const job& j, const job* current);

// True when the hashed share meets the network target: a block, to be
// submitted whatever the accounting verdict says (a stale share can still
// be a block, and it is submitted).
bool is_block_candidate(const verifier::verdict& v) noexcept;

}  // namespace bmm::stratum
