#pragma once
// Failover retries: work that failed because PostgreSQL went away or turned
// read-only (connection.hpp is_failover_sqlstate: a failover, a restart, a
// cut network) runs again FROM THE START on a new connection, after a growing
// back-off, logged, bounded. libpq finds the new primary among [postgres]
// hosts (target_session_attrs = read-write) when it reconnects.
//
// Only work that is safe to run again from the start goes through here: what
// it books is idempotent by id (a second run finds the first one's rows and
// books nothing twice), and nothing outside the database happens in between
// that a second run would repeat unchecked. Session advisory locks are lost
// with the old connection: the work takes the ones it needs itself, so a run
// again takes them on the new connection before it reads anything.
//
// The one helper of the daemons and bmm-payout: with_failover_retry() for a
// piece of work shaped as a function of the connection; failover_retry for a
// loop that reconnects by itself (the ingest's sessions, the ledger's steps,
// a bmm-payout command run again as a whole).

#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace bmm::pg {

struct retry_policy {
    std::chrono::milliseconds first_delay{100};
    std::chrono::milliseconds max_delay{2000};
    // Give up when the failover lasts longer ([postgres] failover_retry_seconds); 0: never (a daemon).
    std::chrono::milliseconds give_up_after{60000};
};

// The back-off, the bound and the log lines of one piece of work's retries.
class failover_retry {
public:
    explicit failover_retry(std::string what, retry_policy p = {}) : what_(std::move(what)), p_(p) {}

    // After the work failed with `message`: true when the failure was a
    // failover (`failover`; see failed_by_failover / failovers_seen) and the
    // bound is not reached: logged (what failed, that it reconnects and runs
    // again from the start), slept the back-off (cut short by *stop). False
    // otherwise: not a failover (the caller reports it), or given up (logged).
    bool again(bool failover, std::string_view message, const std::atomic<bool>* stop = nullptr);
    // The work succeeded: logs how long the failover cost when there was one,
    // and starts the next failure's back-off from the first delay.
    void succeeded();
    int attempts() const noexcept { return attempts_; }

private:
    std::string what_;
    retry_policy p_;
    int attempts_ = 0;
    std::chrono::milliseconds delay_{0};
    std::chrono::steady_clock::time_point first_failure_;
};

// Runs body(db) (returning result<T>) on `db`, opening it from `s` first when
// it is not open and healthy; when the body (or the connect) fails by a
// failover, drops the connection and runs the body again from the start on a
// new one, as failover_retry allows. Returns the body's last result.
template <class Body>
auto with_failover_retry(const settings& s, connection& db, std::string_view what, Body&& body, retry_policy p = {},
                         const std::atomic<bool>* stop = nullptr) -> decltype(body(db)) {
    failover_retry retry{std::string(what), p};
    for (;;) {
        if (!db.is_open() || !db.healthy()) {
            db = connection();
            auto c = connection::open(s);
            if (!c) {
                if (retry.again(true, c.error_message(), stop)) {
                    continue;
                }
                return error{c.error_message()};
            }
            db = std::move(*c);
        }
        const std::uint64_t seen = failovers_seen();
        auto out = body(db);
        if (out) {
            retry.succeeded();
            return out;
        }
        const bool failover = db.failed_by_failover() || failovers_seen() != seen;
        if (failover) {
            db = connection();  // a server that turned read-only keeps the session open: leave it
        }
        if (!retry.again(failover, out.error_message(), stop)) {
            return out;
        }
    }
}

}  // namespace bmm::pg
