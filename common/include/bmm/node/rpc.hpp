#pragma once
// JSON-RPC to a coin node (Bitcoin Core, Litecoin Core) over HTTP with basic
// authentication, on libcurl.
//
// rpc_client is blocking and owns one curl handle (connections are reused), so
// one client per thread. Errors say which call failed against which node and,
// where it helps, what to check.

#include "bmm/json/writer.hpp"
#include "bmm/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::node {

struct rpc_endpoint {
    std::string url;  // e.g. http://127.0.0.1:19402/
    std::string user;
    std::string password;
    std::string wallet;  // calls go to /wallet/<name> when set (wallet RPCs)
};

// What a failed call says. `code` is the node's JSON-RPC error code when the
// node answered with one (e.g. -9 not connected, -10 in initial download),
// otherwise 0 for transport, HTTP and decoding failures.
struct rpc_failure {
    int code = 0;
    std::string message;
    bool timed_out = false;  // the call ran past its timeout
    bool aborted = false;    // the abort flag was raised during the call
};

class rpc_client {
public:
    explicit rpc_client(rpc_endpoint endpoint);
    ~rpc_client();
    rpc_client(const rpc_client&) = delete;
    rpc_client& operator=(const rpc_client&) = delete;

    // Calls `method` with `params_json` (a JSON array, e.g. "[]" or
    // "[{\"rules\":[\"segwit\"]}]"). On success returns the "result" member as
    // JSON text; on failure, *failure (if given) receives the details and the
    // error's message names method, node and cause.
    result<std::string> call(std::string_view method, std::string_view params_json = "[]",
                             std::chrono::milliseconds timeout = std::chrono::seconds(30),
                             rpc_failure* failure = nullptr);

    // Calls `method` once per element of `params_jsons` in one HTTP request (a
    // JSON-RPC batch), for thousands of cheap calls (validateaddress): one
    // request instead of one round trip each. One answer per call, in order:
    // the call's "result" JSON text or that call's error. Errors as a whole on
    // a transport failure or a reply that is not an answer to the batch.
    result<std::vector<result<std::string>>> call_batch(std::string_view method,
                                                        const std::vector<std::string>& params_jsons,
                                                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

    const rpc_endpoint& endpoint() const noexcept { return endpoint_; }

    // While *flag is true, calls in progress stop within about 100 ms (for
    // long polls that must end on shutdown or on a forced refresh).
    void set_abort_flag(const std::atomic<bool>* flag) noexcept { abort_ = flag; }

private:
    struct http_reply {
        std::string body;
        long status = 0;
        std::string url;
    };
    result<http_reply> post(std::string_view what, const std::string& body, std::chrono::milliseconds timeout,
                            rpc_failure* failure);
    const std::atomic<bool>* abort_ = nullptr;
    rpc_endpoint endpoint_;
    void* curl_ = nullptr;
    std::uint64_t next_id_ = 1;
};

// Escapes a string for inclusion in JSON text (quotes not included): the
// project's one escaper, bmm::json::escape, under the name its callers use.
inline std::string json_escape(std::string_view s) { return json::escape(s); }

// Decodes a JSON-RPC reply body (what the node sends back over HTTP). On
// success returns the "result" member as JSON text ("null" for calls such as
// submitblock that return nothing). On failure the error says what was wrong:
// the node's "error <code>: <message>", a body that is not JSON (quoted, cut
// to 200 bytes, control characters escaped), or a reply without a result; and
// *code, if given, receives the node's JSON-RPC error code, or 0 when the node
// sent none. Pure (no I/O), so rpc_client::call and the fuzzer share it.
result<std::string> parse_rpc_reply(std::string_view body, int* code = nullptr);
// Decodes the reply to a JSON-RPC batch of `calls` calls whose ids were
// first_id, first_id + 1, ...: one answer per call in the order sent (each the
// call's result as JSON text, or its error as parse_rpc_reply words it), or an
// error when the body is no answer to the batch. Pure, like parse_rpc_reply.
result<std::vector<result<std::string>>> parse_rpc_batch_reply(std::string_view body, std::uint64_t first_id,
                                                               std::size_t calls);

}  // namespace bmm::node
