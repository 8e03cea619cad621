// The share batch (see server_loop.hpp for the other parts): all submits of
// a loop turn are hashed together after the poll phase; for each share in
// order a block is queued first, then its verdict (share_verdict.hpp) is
// decided, every verdict of the batch is journaled (share_sink), and only
// then do the replies go out.

#include "server_loop.hpp"

#include "bmm/hex.hpp"

#include <algorithm>

namespace bmm::stratum::detail {

namespace {

// The stream record of a verdict (bmm/record/stream_record.hpp), typed until
// the journal writes it. block_hash: the block's hash (display order) when the
// share meets the network target, else empty.
::bmm::record::share_record share_record(const server_config& cfg, const pending_share& p, const verifier::verdict* v,
                                         bool accepted, int code, const std::string& reason,
                                         const std::string& block_hash) {
    ::bmm::record::share_record r;
    r.instance = cfg.instance_id;
    r.coin = cfg.coin;
    r.algorithm = std::string(to_string(cfg.algorithm));
    r.account = p.name.account;
    r.worker = p.name.worker;
    r.ip = p.s->ip;
    r.job = p.job_id;
    r.difficulty = p.difficulty;
    r.accepted = accepted;
    r.code = code;
    r.reason = reason;
    r.time_ms = unix_ms();
    if (p.j) {
        r.height = p.j->tmpl->height;
        r.target = p.target;
        // What the accounting daemon needs for pplns and pps: the job's
        // network target and its expected block reward (coinbase value).
        r.network_target = p.j->tmpl->target;
        r.reward = p.j->tmpl->coinbase_value;
    }
    if (v && v->ok()) {
        auto h = v->pow_hash;
        std::reverse(h.begin(), h.end());
        r.hash = to_hex(h);
    }
    // pplns finds the block's own share by it (the window ends there).
    if (!block_hash.empty()) {
        r.block_hash = block_hash;
    }
    if (!p.name.claim_digest.empty()) {
        r.claim = p.name.claim_digest;
    }
    return r;
}

}  // namespace

void process_batch(loop_ctx& L) {
    if (L.batch.empty()) return;
    const server_config& cfg = L.srv->config();
    std::vector<verifier::share> shares;
    std::vector<std::size_t> hashed;  // batch index of each share handed to the verifier
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        const pending_share& p = L.batch[i];
        if (p.early_code) continue;
        shares.push_back({&p.j->data, p.s->en1, p.en2, p.ntime, p.nonce, p.version_bits, p.target});
        hashed.push_back(i);
    }
    std::vector<verifier::verdict> verdicts(shares.size());
    if (!shares.empty()) {
        const auto t0 = clock_type::now();
        L.verifier->verify(shares, verdicts);
        const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        L.metrics->verify_batch_seconds.observe(seconds);
        L.metrics->verify_share_seconds.observe(seconds / static_cast<double>(shares.size()), shares.size());
        L.metrics->batch_shares.observe(static_cast<double>(shares.size()));
    }

    std::vector<::bmm::record::share_record> records;
    std::vector<std::string> replies(L.batch.size());
    std::vector<bool> accepted_flags(L.batch.size());
    std::vector<metrics::share_result> results(L.batch.size());
    records.reserve(L.batch.size());
    std::size_t h = 0;
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        pending_share& p = L.batch[i];
        const verifier::verdict* v = nullptr;
        if (!p.early_code) v = &verdicts[h++];
        std::string block_hash;
        // A block first, whatever else is wrong with the share for accounting.
        if (v && is_block_candidate(*v)) {
            found_block b;
            auto hash = v->block_hash;
            std::reverse(hash.begin(), hash.end());
            b.hash_hex = to_hex(hash);
            block_hash = b.hash_hex;
            b.height = p.j->tmpl->height;
            b.account = p.name.account;
            b.worker = p.name.worker;
            b.job_id = p.job_id;
            b.reward = p.j->tmpl->coinbase_value;
            unsigned char en2[verifier::k_max_extranonce2_size];
            from_hex_into(p.en2, {en2, p.j->data.extranonce2_size});
            b.bytes = assemble_block(*p.j, *v, p.s->en1, {en2, p.j->data.extranonce2_size});
            log::info("block", "share from {} meets the network target: block {} at height {}, submitting", p.worker,
                      b.hash_hex, b.height);
            L.srv->job_manager_ref().submit(std::move(b));
            ++L.blocks;
            L.metrics->blocks_found.add();
        }
        // Judged early (v null), or now on its hash.
        int code = p.early_code;
        std::string reason = p.early_message;
        if (v) {
            share_verdict judged = judge_hashed(*v, *p.j, L.current.get());
            code = judged.code;
            reason = std::move(judged.reason);
            if (judged.ban_reason) penalise(p.s, judged.ban_reason);
            else {
                count_reject(p.s, code);
            }
        }
        const bool accepted = code == 0;
        accepted_flags[i] = accepted;
        results[i] = metrics::classify(code, p.early_code != 0);
        // Nothing from a connection that is not subscribed, or for a worker it has
        // not authorised, is recorded: such a submit names an account the client
        // chose, and recording it let an unauthenticated client fill the journal,
        // the stream and PostgreSQL. The miner still gets its error; metrics count it.
        const bool unauthenticated = p.early_code == static_cast<int>(stratum_error::not_subscribed) ||
                                     p.early_code == static_cast<int>(stratum_error::unauthorized);
        if (!unauthenticated) {
            records.push_back(share_record(cfg, p, v, accepted, code, reason, block_hash));
        }
        if (accepted) {
            replies[i] = reply_result(p.id_json, "true");
            ++p.s->accepted;
            ++L.accepted;
        } else {
            replies[i] = reply_error(p.id_json, static_cast<stratum_error>(code), reason);
            ++p.s->rejected;
            ++L.rejected;
            unsigned long dropped = 0;
            if (g_reject_log.allow(&dropped))
                log::info("stratum", "rejected share from {} ({}): {}{}", p.worker, p.s->ip, reason,
                          dropped ? fmt::format(" ({} more rejections not logged)", dropped) : std::string());
        }
    }
    // Journal first: a verdict the miner hears is a verdict that is kept.
    const bool recorded = L.srv->sink_ref().append(records);
    if (!recorded) {
        for (std::size_t i = 0; i < L.batch.size(); ++i)
            replies[i] = reply_error(L.batch[i].id_json, stratum_error::other, "pool cannot record shares right now");
    }
    const double now = now_seconds();
    // Metrics: the verdicts as the miners hear them; accepted work per worker
    // and port goes to the hashrate windows in one hand-over for the batch.
    std::vector<metrics::work_item> work;
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        const pending_share& p = L.batch[i];
        const std::size_t port = port_index(p.s);
        auto& counters = L.metrics->port(port);
        const auto r = recorded ? results[i] : metrics::share_result::not_recorded;
        counters.shares[static_cast<std::size_t>(r)].add();
        if (r != metrics::share_result::accepted) continue;
        const double w = L.metrics->work_of(p.target);
        counters.difficulty_accepted.add(p.difficulty);
        counters.work_accepted.add(w);
        work.push_back({p.name.account, p.name.worker, port, w});
    }
    L.metrics->add_work(work, now);
    for (std::size_t i = 0; i < L.batch.size(); ++i) {
        pending_share& p = L.batch[i];
        session* s = p.s;
        if (!s->closed) {
            send(s, std::move(replies[i]));
            const double old = s->vd.difficulty;
            if (accepted_flags[i] && vardiff_on_share(s->vd, *s->port, now)) announce_difficulty(s, old);
        }
        if (--s->pending == 0 && s->released) delete s;
    }
    L.batch.clear();
}

}  // namespace bmm::stratum::detail
