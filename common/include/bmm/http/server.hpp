#pragma once
// The project's one HTTP server: libmicrohttpd behind a route table. Every
// endpoint is a route, (method, path pattern) -> handler: bmm-accountd's API,
// its page and its /metrics, and bmm-stratum's /metrics all go through it.
//
// Routing. A pattern is a path whose segments are literal or "{name}"
// (one non-empty segment, handed to the handler as a path parameter), for
// example "/api/v1/accounts/{name}/workers". A path no pattern matches gets
// the router's not-found handler (404); a path that matches under another
// method gets the method-not-allowed handler (405) with an Allow header
// naming the methods it has. A GET route also answers HEAD (without a body).
// Handlers answer as soon as the request line and headers are in: a request
// body is not read (every route in the project is a read).
//
// Limits (server_options), so that a slow or hostile client cannot hold the
// server: at most max_clients connections (one more is answered 503 at once
// and closed), at most max_clients_per_address from one address (429); a request line that is not "METHOD /target
// HTTP/1.x" gets 400; request line and headers at most max_header_bytes (431); a request line begun but not in within
// request_timeout gets 408 (a connection that sent nothing is closed without a word), and a connection is closed after
// request_timeout (rounded up to whole seconds) without traffic after that.
// Responses close the connection unless keep_alive is set.
//
// Threads: libmicrohttpd's internal polling thread(s) run the handlers
// (`threads` of them). One thread of ours accepts and holds each connection
// until its request line is in (the gate): libmicrohttpd alone would drop a
// connection over the limit or past its time without a word, answer 505 or
// 414 to a bad line and close on bytes that are not HTTP.

#include "bmm/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace bmm::http {

struct request {
    std::string method;  // as sent ("GET", "HEAD", ...)
    std::string path;    // without the query string, percent-decoded by libmicrohttpd
    // The query's parameters in order (a name without "=" has no value).
    std::vector<std::pair<std::string, std::optional<std::string>>> query;
    // Values of the route's "{name}" segments.
    std::vector<std::pair<std::string, std::string>> path_params;
    // The pattern of the route that matched ("" when none did).
    std::string route;
    // The client's IP address, without the port ("" when unknown); behind a
    // reverse proxy, the proxy's.
    std::string client;

    // The "{name}" segment's value; empty if the route has none by that name.
    std::string_view path_param(std::string_view name) const noexcept;
};

struct response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and Content-Length
};

using handler = std::function<response(const request&)>;

// The reason phrase of a status code ("Not Found").
std::string_view status_text(int status) noexcept;

// The route table. Built before the server starts and not changed after.
class router {
public:
    router();
    // Adds a route; `method` is "GET", "POST", ... (a GET route also serves HEAD).
    router& add(std::string method, std::string_view pattern, handler h);
    // Handlers for unmatched paths (status 404 preset) and wrong methods
    // (status 405 preset; the server adds the Allow header). The defaults
    // answer in plain text.
    router& on_not_found(handler h);
    router& on_method_not_allowed(handler h);

    struct match {
        const handler* h = nullptr;  // the route's handler, or the 404/405 one
        int status = 200;            // 200, 404 or 405
        std::string route;           // the matched pattern ("" for 404)
        std::string allow;           // for 405: "GET, HEAD", ...
        std::vector<std::pair<std::string, std::string>> params;
    };
    match find(std::string_view method, std::string_view path) const;
    // Runs the request through the table: the handler's response, with
    // 404/405 statuses and the Allow header set, and its route filled in.
    response dispatch(request& r) const;

private:
    struct route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        handler h;
    };
    std::vector<route> routes_;
    handler not_found_, method_not_allowed_;
};

struct server_options {
    std::string host = "127.0.0.1";  // an address, or a name when names_allowed
    std::uint16_t port = 0;          // 0: any free port (tests); see server::port()
    bool names_allowed = false;      // resolve host names (else only IP addresses)
    // How errors name the settings to change, e.g. "[metrics]".
    std::string setting = "[http]";
    unsigned threads = 1;
    unsigned max_clients = 16;
    // Connections one client address may hold at once (held by the gate or
    // served); one more is answered 429 and closed, so a single host cannot
    // take every slot (slowloris). 0: max_clients / 4, at least 2.
    unsigned max_clients_per_address = 0;
    std::size_t max_header_bytes = 8192;  // request line and headers
    // libmicrohttpd counts in whole seconds: a shorter time is rounded up.
    std::chrono::milliseconds request_timeout{5000};
    // Keep connections open between requests (HTTP/1.1 keep-alive) instead
    // of closing after each response.
    bool keep_alive = false;
    // Headers every response carries (Cache-Control, say).
    std::vector<std::pair<std::string, std::string>> headers;
};

// Requests served, by route pattern ("" for unmatched paths, "-" for
// requests refused before routing) and status.
struct route_status_count {
    std::string route;
    int status = 0;
    std::uint64_t count = 0;
};

class server {
public:
    server(server_options o, router r);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds and listens, then starts the threads. Errors name the address
    // and the setting to change.
    result<bool> start();
    // Stops accepting and joins the threads; idempotent.
    void stop();
    std::uint16_t port() const noexcept { return bound_port_; }
    // Responses so far, sorted by route and status.
    std::vector<route_status_count> stats() const;
    // Responses with one status, over all routes.
    std::uint64_t responses(int status) const;

    struct impl;

private:
    void accept_loop();
    void count(const std::string& route, int status);

    server_options opt_;
    router router_;
    std::unique_ptr<impl> impl_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;
    std::uint16_t bound_port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<unsigned> open_connections_{0};
    // Connections libmicrohttpd serves, per client address (IP without port).
    std::mutex per_address_mu_;
    std::map<std::string, unsigned> per_address_;  // guarded by per_address_mu_
    std::thread accept_thread_;
    mutable std::mutex stats_mu_;
    std::map<std::pair<std::string, int>, std::uint64_t> stats_;  // guarded by stats_mu_
};

}  // namespace bmm::http
