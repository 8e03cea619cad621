#pragma once
// What `bmm-accountd run`'s threads count for its /metrics page. Each field
// has one writer (the ingest's storing thread, or the ledger thread) and is
// read by the API's threads with relaxed loads: a scrape sees values at most
// a moment old, and the writers never wait for a reader.

#include "bmm/accounting/ingest.hpp"

#include <atomic>
#include <cstdint>

namespace bmm::accounting {

struct process_counters {
    // The ingest (storing thread), since the process started.
    std::atomic<std::uint64_t> rounds{0};       // committed transactions
    std::atomic<std::uint64_t> share_rows{0};   // share rows stored
    std::atomic<std::uint64_t> block_rows{0};   // block rows stored
    std::atomic<std::uint64_t> duplicates{0};   // records left out as already stored
    std::atomic<std::uint64_t> bad_records{0};  // records kept in ingest_errors
    // The ledger thread: epochs this process closed, and how long they took.
    std::atomic<std::uint64_t> epochs_closed{0};
    std::atomic<double> epoch_close_seconds_sum{0};
    std::atomic<double> last_epoch_close_seconds{0};

    // Called by the storing thread after each commit.
    void publish(const ingest_stats& s) noexcept {
        rounds.store(s.batches, std::memory_order_relaxed);
        share_rows.store(s.shares, std::memory_order_relaxed);
        block_rows.store(s.blocks, std::memory_order_relaxed);
        duplicates.store(s.duplicates, std::memory_order_relaxed);
        bad_records.store(s.bad, std::memory_order_relaxed);
    }
    // Called by the ledger thread after a call that closed `n` > 0 epochs in `seconds`.
    void closed_epochs(std::uint64_t n, double seconds) noexcept {
        epochs_closed.store(epochs_closed.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        epoch_close_seconds_sum.store(epoch_close_seconds_sum.load(std::memory_order_relaxed) + seconds,
                                      std::memory_order_relaxed);
        last_epoch_close_seconds.store(seconds / static_cast<double>(n), std::memory_order_relaxed);
    }
};

}  // namespace bmm::accounting
