#include "bmm/stratum/job_manager.hpp"

#include "bmm/hex.hpp"
#include "bmm/log.hpp"
#include "bmm/stratum/protocol.hpp"

#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace bmm::stratum {
namespace {

using namespace std::chrono_literals;

node::rpc_endpoint endpoint(const server_config& c) { return {c.node_url, c.node_user, c.node_password, ""}; }

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string job_id_hex(std::uint64_t n) {
    char b[20];
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(n));
    return b;
}

}  // namespace

job_manager::job_manager(const server_config& cfg, job_callback on_job, block_callback on_block_result)
    : cfg_(cfg), on_job_(std::move(on_job)), on_block_(std::move(on_block_result)) {
    params_.pool_tag = cfg.tag;
    params_.extranonce1_size = 4;
    params_.extranonce2_size = cfg.extranonce2_size;
    std::string rules;
    for (const auto& r : cfg.rules) {
        if (!rules.empty()) rules += ',';
        rules += json_string(r);
    }
    gbt_params_ = "[{\"rules\":[" + rules + "]";
}

job_manager::~job_manager() { stop(); }

result<std::shared_ptr<const job>> job_manager::fetch(node::rpc_client& c, const std::string& longpollid,
                                                      std::chrono::milliseconds timeout, node::rpc_failure* failure) {
    std::string params = gbt_params_;
    if (!longpollid.empty()) params += ",\"longpollid\":" + json_string(longpollid);
    params += "}]";
    auto reply = c.call("getblocktemplate", params, timeout, failure);
    if (!reply) return error{reply.error_message()};
    auto tmpl = block_template::from_json(*reply);
    if (!tmpl) return error{tmpl.error_message()};
    bool clean = true;
    {
        std::lock_guard lock(mu_);
        if (current_ && current_->tmpl->prevhash == tmpl->prevhash) clean = false;
    }
    return make_job(std::make_shared<block_template>(std::move(*tmpl)), params_, job_id_hex(next_job_++),
                    cfg_.algorithm, cfg_.version_mask, clean);
}

result<bool> job_manager::start(unsigned wait_for_template_seconds) {
    node::rpc_client c(endpoint(cfg_));
    auto info = c.call("getblockchaininfo", "[]", 10s);
    if (!info) return error{info.error_message() + " (check [node] url, user and password in " + cfg_.file + ")"};
    std::string address_param = "[";
    address_param += json_string(cfg_.address);
    address_param += ']';
    auto v = c.call("validateaddress", address_param, 10s);
    if (!v) return error{v.error_message()};
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    bool valid = false;
    std::string_view script;
    if (parser.parse(*v).get(doc) || doc["isvalid"].get(valid) || !valid || doc["scriptPubKey"].get(script))
        return error{"[pool] address " + cfg_.address + " in " + cfg_.file +
                     " is not a valid address for this node's chain (validateaddress said " + *v + ")"};
    params_.payout_script = *from_hex(script);

    // The first template. A node still in initial download (-10) or without
    // peers (-9) is waited for, with one clear line about why.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_for_template_seconds);
    std::string last_error;
    while (true) {
        auto j = fetch(c, "", 30s, nullptr);
        if (j) {
            publish(*j, true);
            break;
        }
        if (j.error_message() != last_error) {
            log::warn("node", "no block template yet: {}; retrying", j.error_message());
            last_error = j.error_message();
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return error{"no block template from the node within " + std::to_string(wait_for_template_seconds) +
                         " s: " + last_error};
        std::this_thread::sleep_for(1s);
    }
    template_thread_ = std::thread([this] { template_loop(); });
    refresh_thread_ = std::thread([this] { refresh_loop(); });
    submit_thread_ = std::thread([this] { submit_loop(); });
    return true;
}

void job_manager::publish(std::shared_ptr<const job> j, bool authoritative) {
    {
        std::lock_guard lock(mu_);
        if (!authoritative && current_ && current_->tmpl->prevhash != j->tmpl->prevhash &&
            j->tmpl->height <= current_->tmpl->height)
            return;  // built on a tip that is no longer the newest
        // Whether miners get clean_jobs is decided by each loop from the tip
        // it last saw (server.cpp, take_job), not here.
        current_ = j;
        template_unix_ms_ = unix_ms();
    }
    ++(authoritative ? templates_poll_ : templates_refresh_);
    log::debug("node", "job {} height {} txs {}", j->id, j->tmpl->height, j->tmpl->transactions.size());
    on_job_(std::move(j));
}

std::shared_ptr<const job> job_manager::current() const {
    std::lock_guard lock(mu_);
    return current_;
}

job_manager_stats job_manager::stats() const {
    job_manager_stats s;
    {
        std::lock_guard lock(mu_);
        if (current_) s.height = current_->tmpl->height;
        s.template_unix_ms = template_unix_ms_;
    }
    s.longpoll_answer_unix_ms = longpoll_answer_unix_ms_.load();
    s.templates_poll = templates_poll_.load();
    s.templates_refresh = templates_refresh_.load();
    s.template_errors = template_errors_.load();
    s.blocks_submitted = blocks_submitted_.load();
    s.blocks_accepted = blocks_accepted_.load();
    s.blocks_rejected = blocks_rejected_.load();
    return s;
}

// The long poll: one request always outstanding, never abandoned except at
// shutdown. (A long poll the client gives up on keeps one of the node's RPC
// threads waiting until the next block; abandoning one per refresh starves
// the node's RPC work queue.) Its answers are authoritative: a new tip.
void job_manager::template_loop() {
    node::rpc_client c(endpoint(cfg_));
    c.set_abort_flag(&interrupt_);
    std::string last_error;
    const auto poll_every = std::chrono::milliseconds(static_cast<long long>(cfg_.poll_seconds * 1000));
    while (true) {
        std::string longpollid;
        {
            std::lock_guard lock(mu_);
            if (stopping_) return;
            if (current_) longpollid = current_->tmpl->longpollid;
        }
        node::rpc_failure f;
        // Without long polling on the node: plain polling every poll_seconds.
        const auto t0 = std::chrono::steady_clock::now();
        auto j = fetch(c, longpollid, longpollid.empty() ? 30000ms : std::chrono::milliseconds(3600 * 1000), &f);
        const bool quick = std::chrono::steady_clock::now() - t0 < 1s;
        if (!j) {
            if (f.aborted) return;
            ++template_errors_;
            if (j.error_message() != last_error) log::warn("node", "getblocktemplate failed: {}", j.error_message());
            last_error = j.error_message();
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, poll_every, [this] { return stopping_; });
            continue;
        }
        if (!longpollid.empty()) longpoll_answer_unix_ms_ = unix_ms();
        if (!last_error.empty()) log::info("node", "getblocktemplate works again");
        last_error.clear();
        // A long poll that answers at once with nothing new is not waiting
        // (litecoind does this after a restart until its next block): poll at
        // the plain-polling pace instead, and publish nothing.
        const bool unchanged = !longpollid.empty() && (*j)->tmpl->longpollid == longpollid;
        if (unchanged && quick) {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, poll_every, [this] { return stopping_; });
            continue;
        }
        publish(*j, true);
        if (longpollid.empty() && (*j)->tmpl->longpollid.empty()) {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, poll_every, [this] { return stopping_; });
        }
    }
}

// Fresh templates on their own connection: at least every
// template_refresh_seconds (new fees), and at once on refresh(). A refreshed
// template is published only when it builds on the current tip or a newer
// one, so it can never take miners back to an older block.
void job_manager::refresh_loop() {
    node::rpc_client c(endpoint(cfg_));
    const auto refresh_every = std::chrono::milliseconds(static_cast<long long>(cfg_.template_refresh_seconds * 1000));
    while (true) {
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, refresh_every, [this] { return stopping_ || refresh_; });
            if (stopping_) return;
            refresh_ = false;
        }
        auto j = fetch(c, "", 30000ms, nullptr);
        if (!j) {
            ++template_errors_;
            log::warn("node", "template refresh failed: {}", j.error_message());
            continue;
        }
        publish(*j, false);
    }
}

namespace {

// Fault points for tests (env BMM_STRATUM_FAULT, comma-separated): a crash at
// either side of submitblock, the node's "duplicate" answer (the block is
// sent twice and the second answer is the one recorded), and a short
// submitblock timeout. Unset in production: none applies.
struct submit_faults {
    bool kill_before = false, kill_after = false, twice = false;
    std::chrono::milliseconds timeout{60000};
};

submit_faults read_submit_faults() {
    submit_faults f;
    const char* env = std::getenv("BMM_STRATUM_FAULT");
    std::string_view rest = env ? env : "";
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        constexpr std::string_view timeout_key = "submitblock-timeout-ms=";
        if (item == "kill-before-submitblock") {
            f.kill_before = true;
        } else if (item == "kill-after-submitblock") {
            f.kill_after = true;
        } else if (item == "submitblock-twice") {
            f.twice = true;
        } else if (item.substr(0, timeout_key.size()) == timeout_key) {
            f.timeout = std::chrono::milliseconds(std::atoll(std::string(item.substr(timeout_key.size())).c_str()));
        } else {
            continue;
        }
        log::warn("block", "fault point {} is set (BMM_STRATUM_FAULT): for tests only", item);
    }
    return f;
}

void kill_here(bool armed, std::string_view where) {
    if (!armed) {
        return;
    }
    log::warn("block", "fault point {}: kill -9", where);
    ::kill(::getpid(), SIGKILL);
}

}  // namespace

void job_manager::submit_loop() {
    node::rpc_client c(endpoint(cfg_));
    const submit_faults faults = read_submit_faults();
    while (true) {
        found_block b;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !blocks_.empty(); });
            if (blocks_.empty()) return;
            b = std::move(blocks_.front());
            blocks_.pop_front();
        }
        // The block's record first, durable (or kept in memory and retried)
        // before the node hears of it: a crash or a full disk after this
        // point cannot leave a block on the chain without a record.
        on_block_(b, std::string(::bmm::record::k_block_answer_pending), false);
        kill_here(faults.kill_before, "kill-before-submitblock");
        const auto t0 = std::chrono::steady_clock::now();
        const std::string params = "[\"" + to_hex(b.bytes) + "\"]";
        auto r = c.call("submitblock", params, faults.timeout);
        if (faults.twice) {
            r = c.call("submitblock", params, faults.timeout);
        }
        kill_here(faults.kill_after, "kill-after-submitblock");
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        // submitblock answers null when the block was accepted, else a reason.
        const bool accepted = r && *r == "null";
        const std::string answer = r ? *r : r.error_message();
        if (accepted) {
            log::info("block", "block {} at height {} found by {}.{} accepted by the node ({:.1f} ms)", b.hash_hex,
                      b.height, b.account, b.worker, ms);
        } else if (answer == "\"inconclusive\"" || answer == "\"duplicate\"") {
            // Valid, but not (yet) the tip: a competing block at the same
            // height came first ("inconclusive"), or the node has it already
            // ("duplicate"). Nothing is wrong with the pool; bmm-accountd
            // records the block if it ends up in the main chain.
            log::warn("block", "block {} at height {} found by {}.{} not accepted as the tip by the node: {}",
                      b.hash_hex, b.height, b.account, b.worker, answer);
        } else {
            log::error("block", "block {} at height {} found by {}.{} REJECTED by the node: {}", b.hash_hex, b.height,
                       b.account, b.worker, answer);
        }
        on_block_(b, answer, accepted);
        // Counted once the answer is recorded, so that a reader who sees the
        // count also finds the block's record in the journal.
        ++(accepted ? blocks_accepted_ : blocks_rejected_);
        ++blocks_submitted_;
        refresh();  // the tip has (probably) moved: new work at once
    }
}

void job_manager::submit(found_block block) {
    {
        std::lock_guard lock(mu_);
        blocks_.push_back(std::move(block));
    }
    cv_.notify_all();
}

void job_manager::refresh() {
    {
        std::lock_guard lock(mu_);
        refresh_ = true;
    }
    cv_.notify_all();
}

void job_manager::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        interrupt_ = true;
    }
    cv_.notify_all();
    if (submit_thread_.joinable()) submit_thread_.join();
    if (refresh_thread_.joinable()) refresh_thread_.join();
    if (template_thread_.joinable()) template_thread_.join();
}

::bmm::record::block_record block_record(const server_config& cfg, const found_block& b, std::string node_answer,
                                         bool accepted) {
    ::bmm::record::block_record r;
    r.instance = cfg.instance_id;
    r.coin = cfg.coin;
    r.height = b.height;
    r.hash = b.hash_hex;
    r.account = b.account;
    r.worker = b.worker;
    r.job = b.job_id;
    r.reward = b.reward;
    r.accepted = accepted;
    r.answer = std::move(node_answer);
    r.time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return r;
}

}  // namespace bmm::stratum
