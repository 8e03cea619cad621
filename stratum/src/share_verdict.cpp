// The share verdict (see share_verdict.hpp): pure functions, no I/O.

#include "share_verdict.hpp"

#include "bmm/hex.hpp"
#include "bmm/stratum/protocol.hpp"
#include "bmm/target.hpp"

#include <algorithm>
#include <cstdlib>

namespace bmm::stratum {

namespace {

share_verdict refuse(stratum_error code, std::string reason, const char* ban_reason = nullptr) {
    return {static_cast<int>(code), std::move(reason), ban_reason};
}

}  // namespace

std::uint64_t job_seq(const std::string& job_id) { return std::strtoull(job_id.c_str(), nullptr, 16); }

double share_difficulty(const difficulty_state& d, std::uint64_t seq) noexcept {
    const bool before_change = seq <= d.changed_after;
    return before_change ? std::min(d.previous, d.current) : d.current;
}

std::string duplicate_key(std::string_view extranonce1_hex, const submitted_fields& f, const verifier::job_data& j) {
    unsigned char en2[verifier::k_max_extranonce2_size];
    const std::size_t en2_size = j.extranonce2_size;
    std::uint32_t ntime = 0, nonce = 0, bits = 0;
    const bool en2_ok = en2_size <= verifier::k_max_extranonce2_size && from_hex_into(f.extranonce2, {en2, en2_size});
    const bool bits_ok = f.version_bits.empty() || (parse_be32_hex(f.version_bits, bits) && !(bits & ~j.version_mask));
    if (!en2_ok || !parse_be32_hex(f.ntime, ntime) || !parse_be32_hex(f.nonce, nonce) || !bits_ok) {
        // No header: keyed by the text, with a prefix no readable key has.
        std::string key = "unreadable:";
        key.append(extranonce1_hex).append(1, ':').append(f.extranonce2).append(1, ':').append(f.ntime);
        key.append(1, ':').append(f.nonce).append(1, ':').append(f.version_bits);
        return key;
    }
    const std::uint32_t version =
        f.version_bits.empty() ? j.version : (j.version & ~j.version_mask) | (bits & j.version_mask);
    std::string key(extranonce1_hex);  // the server's own, one spelling
    key.append(1, ':').append(to_hex({en2, en2_size})).append(1, ':').append(be32_hex(ntime));
    key.append(1, ':').append(be32_hex(nonce)).append(1, ':').append(be32_hex(version));
    return key;
}

bool seen_shares::first(const std::string& job_id, std::string key) {
    return keys_[job_id].insert(std::move(key)).second;
}

void seen_shares::forget(const std::string& job_id) { keys_.erase(job_id); }

std::size_t seen_shares::count(const std::string& job_id) const {
    const auto it = keys_.find(job_id);
    return it == keys_.end() ? 0 : it->second.size();
}

submit_judgement judge_submit(const submit_context& c, seen_shares& seen) {
    submit_judgement out;
    if (!c.subscribed) {
        out.early = refuse(stratum_error::not_subscribed, "not subscribed");
        return out;
    }
    if (!c.well_formed) {
        out.early = refuse(stratum_error::other,
                           "malformed parameters: expected [worker, job_id, extranonce2, ntime, nonce, (version_bits)]",
                           "malformed mining.submit");
        return out;
    }
    if (!c.authorized) {
        out.early = refuse(stratum_error::unauthorized, "unauthorized worker");
        return out;
    }
    if (!c.j) {
        out.early = refuse(stratum_error::stale_job, "job not found");
        return out;
    }
    // The share names a job: whatever follows, its difficulty and target go
    // into the record.
    out.on_job = true;
    out.difficulty = share_difficulty(c.difficulty, job_seq(c.job_id));
    auto t = target_from_difficulty(out.difficulty, c.j->data.algorithm);
    out.target = t ? *t : uint256();

    std::uint32_t ntime = 0;
    if (parse_be32_hex(c.fields.ntime, ntime) && (ntime < c.j->tmpl->mintime || ntime > c.now_unix + k_ntime_future)) {
        out.early = refuse(stratum_error::other, "ntime out of range");
        return out;
    }
    std::uint32_t bits = 0;
    if (!c.fields.version_bits.empty() && parse_be32_hex(c.fields.version_bits, bits) && (bits & ~c.version_mask)) {
        out.early = refuse(stratum_error::other, "version bits outside the negotiated mask");
        return out;
    }
    if (!seen.first(c.job_id, duplicate_key(c.extranonce1_hex, c.fields, c.j->data))) {
        out.early = refuse(stratum_error::duplicate, "duplicate share");
    }
    return out;
}

share_verdict judge_hashed(const verifier::verdict& v, const job& j, const job* current) {
    if (!v.ok()) {
        return refuse(stratum_error::other, std::string(verifier::describe(v.status)), "invalid shares");
    }
    if (!current || j.tmpl->prevhash != current->tmpl->prevhash) {
        return refuse(stratum_error::stale_job, "stale share");
    }
    if (!v.meets_target) {
        return refuse(stratum_error::low_difficulty, "low difficulty share");
    }
    return {};
}

bool is_block_candidate(const verifier::verdict& v) noexcept { return v.ok() && v.meets_network_target; }

}  // namespace bmm::stratum
