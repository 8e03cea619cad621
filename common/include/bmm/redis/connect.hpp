#pragma once
// One way for every program to reach Redis (bmm-stratum's publisher and
// mining gate, bmm-accountd's ingest, API, audit, ledger keeper and mining
// gate, the benches): directly at host:port, or through Sentinel, which names
// the current primary and follows a failover; with the password of Redis'
// `requirepass` read from a file (never from a command line or the config
// file itself).
//
// Through Sentinel each Sentinel is asked in turn (SENTINEL
// get-master-addr-by-name), the answer is connected to, and ROLE must say
// "master": a Sentinel that has not yet seen a failover names a replica, and
// the next Sentinel is asked. A caller that loses its connection, or gets a
// reply that says the server is not the writable primary (is_failover_error:
// READONLY, LOADING, MASTERDOWN, NOREPLICAS), connects again: the primary is
// looked up afresh every time.

#include "bmm/result.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::redis {

struct context_free {
    void operator()(redisContext* c) const noexcept {
        if (c) {
            redisFree(c);
        }
    }
};
using context_ptr = std::unique_ptr<redisContext, context_free>;
struct reply_free {
    void operator()(redisReply* r) const noexcept {
        if (r) {
            freeReplyObject(r);
        }
    }
};
using reply_ptr = std::unique_ptr<redisReply, reply_free>;

// A [redis] section's connection keys (bmm/config/redis_section.hpp reads them).
struct settings {
    std::string host = "127.0.0.1";  // unused when `sentinels` is set
    int port = 6379;
    // A file whose first line is the password (AUTH); empty: no AUTH.
    std::string password_file;
    std::vector<std::string> sentinels;  // "host:port" each; non-empty: find the primary through them
    std::string master_name = "bmm";     // the name the Sentinels monitor the primary under
    int connect_timeout_ms = 2000;       // per TCP connect (each Sentinel, the primary)
};

// "Redis 127.0.0.1:6379", or "Redis primary bmm (Sentinels a:1, b:2)".
std::string describe(const settings& s);

// The first line of `path` (without its line end): an error naming the file
// and saying what to do when it cannot be read or is empty.
result<std::string> read_password(const std::string& path);

// "host:port" (an IPv6 host in brackets: "[::1]:26379").
result<std::pair<std::string, int>> parse_address(std::string_view text);

// Checks what can be checked without a network: every Sentinel address
// parses, master_name is set with sentinels, the password file is readable
// and not empty. Messages name the key ("[redis] sentinels: ...").
result<bool> check(const settings& s);

struct connection {
    context_ptr ctx;
    std::string address;  // "host:port" of the server reached
    std::string role;     // ROLE's first element: "master" or "slave"
};

// Connects (directly, or to the primary the Sentinels name), authenticates
// when a password file is set, and checks ROLE (through Sentinel it must be
// "master"). `io_timeout` becomes the socket's read/write timeout. Errors
// name the server and what to do (a wrong password: the file; NOAUTH: set
// password_file).
result<connection> connect(const settings& s, std::chrono::milliseconds io_timeout);

// One command from its arguments (binary-safe); null when the connection
// failed (the context's errstr says why).
reply_ptr command(redisContext* c, const std::vector<std::string>& args);

// True for an error reply meaning "this server is not the writable primary
// (now)": READONLY (a replica, e.g. a primary demoted by a failover), LOADING,
// MASTERDOWN, NOREPLICAS (min-replicas-to-write not met). The caller drops
// the connection and connects again.
bool is_failover_error(std::string_view error_text);
bool is_failover_reply(const redisReply* r);

// [redis] wait_replicas / wait_timeout_ms (bmm-stratum's publisher and
// bmm-accountd's ingest; bmm/config/redis_section.hpp reads them): after
// writing, WAIT until `replicas` replicas acknowledged everything this
// connection wrote, at most `timeout_ms`. 0 replicas: no WAIT.
struct replica_wait {
    int replicas = 0;
    int timeout_ms = 1000;
};

// What WAIT answered.
struct wait_answer {
    bool lost = false;         // no reply: the connection failed (`text` says why)
    bool enough = false;       // at least the replicas asked for acknowledged
    std::string acknowledged;  // for messages: the count, or the error or unexpected reply
};

// Runs WAIT w.replicas w.timeout_ms on `c` (the socket's timeout must be above
// timeout_ms). Call only with w.replicas > 0.
wait_answer wait_for_replicas(redisContext* c, const replica_wait& w);

}  // namespace bmm::redis
