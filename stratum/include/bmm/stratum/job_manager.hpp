#pragma once
// The node side of bmm-stratum: templates in, blocks out.
//
// Threads:
//  - template thread: getblocktemplate with long polling (the node answers when
//    the tip or its mempool changes); one request always outstanding. When the
//    node has no long polling, plain polling every poll_seconds. Each template
//    becomes a job, handed to `on_job`; a new previous block makes a clean job
//    (clean_jobs = true).
//  - refresh thread: a fresh template at least every template_refresh_seconds
//    (fees), and at once on refresh() (SIGUSR1, -blocknotify, a found block).
//  - submit thread: for each block queued, reports it through
//    `on_block_result` with answer record::k_block_answer_pending (the caller
//    makes its record durable then), sends submitblock, logs the node's answer
//    and reports it through `on_block_result` again.
// Each uses its own blocking RPC client, so a long poll never delays a block.
// The node needs rpcthreads >= 4 for these three plus its other clients.

#include "bmm/node/rpc.hpp"
#include "bmm/record/stream_record.hpp"
#include "bmm/stratum/config.hpp"
#include "bmm/stratum/job.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace bmm::stratum {

struct found_block {
    std::string hash_hex;  // display order
    std::int64_t height = 0;
    std::string account, worker;
    std::string job_id;
    std::int64_t reward = 0;  // the template's coinbase value
    std::vector<unsigned char> bytes;
};

// The stream record of a submitted block and the node's answer to it
// (bmm/record/stream_record.hpp), stamped now.
::bmm::record::block_record block_record(const server_config& cfg, const found_block& b, std::string node_answer,
                                         bool accepted);

// Counters and times for the metrics endpoint; any thread.
struct job_manager_stats {
    std::int64_t height = 0;                   // of the current template (0: none yet)
    std::int64_t template_unix_ms = 0;         // when the current template was published
    std::int64_t longpoll_answer_unix_ms = 0;  // when a long poll last answered (0: never)
    std::uint64_t templates_poll = 0;          // published by the template thread (start-up, long poll, polling)
    std::uint64_t templates_refresh = 0;       // published by the refresh thread
    std::uint64_t template_errors = 0;         // failed getblocktemplate calls
    std::uint64_t blocks_submitted = 0, blocks_accepted = 0, blocks_rejected = 0;
};

class job_manager {
public:
    using job_callback = std::function<void(std::shared_ptr<const job>)>;
    using block_callback = std::function<void(const found_block&, const std::string& node_answer, bool accepted)>;

    job_manager(const server_config& cfg, job_callback on_job, block_callback on_block_result);
    ~job_manager();

    // Checks the node (reachable, right chain rules, the pool address valid
    // for it), fetches the first template and starts the threads. The pool
    // address's script comes from the node's validateaddress.
    result<bool> start(unsigned wait_for_template_seconds = 60);
    void stop();

    void refresh();                  // fetch a template now
    void submit(found_block block);  // queue a block; sent at once

    std::shared_ptr<const job> current() const;
    job_manager_stats stats() const;
    const std::vector<unsigned char>& payout_script() const { return params_.payout_script; }

private:
    result<std::shared_ptr<const job>> fetch(node::rpc_client& c, const std::string& longpollid,
                                             std::chrono::milliseconds timeout, node::rpc_failure* failure);
    void template_loop();
    void refresh_loop();
    void submit_loop();
    void publish(std::shared_ptr<const job> j, bool authoritative);

    const server_config cfg_;
    job_callback on_job_;
    block_callback on_block_;
    coinbase_params params_;
    std::string gbt_params_;
    std::atomic<std::uint64_t> next_job_{1};

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::shared_ptr<const job> current_;
    std::deque<found_block> blocks_;
    bool stopping_ = false;
    bool refresh_ = false;
    std::atomic<bool> interrupt_{false};  // ends the long poll in progress: shutdown only

    // For stats(): the current template's publication time is guarded by mu_.
    std::int64_t template_unix_ms_ = 0;
    std::atomic<std::int64_t> longpoll_answer_unix_ms_{0};
    std::atomic<std::uint64_t> templates_poll_{0}, templates_refresh_{0}, template_errors_{0};
    std::atomic<std::uint64_t> blocks_submitted_{0}, blocks_accepted_{0}, blocks_rejected_{0};
    std::thread template_thread_, refresh_thread_, submit_thread_;
};

}  // namespace bmm::stratum
