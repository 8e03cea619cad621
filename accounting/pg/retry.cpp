#include "bmm/pg/retry.hpp"

#include "bmm/log.hpp"

#include <algorithm>
#include <thread>

namespace bmm::pg {

bool failover_retry::again(bool failover, std::string_view message, const std::atomic<bool>* stop) {
    if (!failover) {
        return false;
    }
    const auto now = std::chrono::steady_clock::now();
    if (attempts_ == 0) {
        first_failure_ = now;
        delay_ = p_.first_delay;
    }
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(now - first_failure_);
    if (p_.give_up_after.count() > 0 && spent >= p_.give_up_after) {
        log::error("postgres",
                   "{}: PostgreSQL has been away or read-only for {} ms ({} attempts); giving up: {}. Check that a "
                   "primary runs and is among [postgres] hosts, then run it again",
                   what_, spent.count(), attempts_ + 1, message);
        return false;
    }
    ++attempts_;
    log::warn("postgres",
              "{} failed because PostgreSQL went away or is read-only (a failover?): {}; reconnecting (to the "
              "primary among [postgres] hosts) and running it again from the start in {} ms (attempt {})",
              what_, message, delay_.count(), attempts_ + 1);
    const auto until = std::chrono::steady_clock::now() + delay_;
    while (std::chrono::steady_clock::now() < until && !(stop && stop->load())) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    delay_ = std::min(delay_ * 2, p_.max_delay);
    return !(stop && stop->load());
}

void failover_retry::succeeded() {
    if (attempts_ > 0) {
        const auto spent =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - first_failure_);
        log::info("postgres", "{}: done on a new connection after {} retries ({} ms after the first failure)", what_,
                  attempts_, spent.count());
    }
    attempts_ = 0;
}

}  // namespace bmm::pg
