// The HTTP server (see server.hpp). Contents:
//   1. routing
//   2. the libmicrohttpd side: checks, dispatch, responses
//   3. listening, the accept thread and the client limit

#include "bmm/http/server.hpp"

#include "bmm/log.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bmm::http {

std::string_view request::path_param(std::string_view name) const noexcept {
    for (const auto& [k, v] : path_params) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

std::string_view status_text(int status) noexcept {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Error";
    }
}

// ---------------------------------------------------------------------------
// 1. Routing
// ---------------------------------------------------------------------------

namespace {

// A client's address without its port: what the per-address limit counts by.
std::string address_key(const sockaddr* a) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->sa_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, text, sizeof text);
    } else if (a->sa_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, text, sizeof text);
    }
    return text;
}

}  // namespace

namespace {

// "/a/b/" -> {"a", "b", ""}; "/" -> {""}.
std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    if (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    while (true) {
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) {
            return out;
        }
        path.remove_prefix(slash + 1);
    }
}

bool is_param(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

response plain(int status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace

router::router()
    : not_found_([](const request& r) { return plain(404, "no such page: " + r.path + "\n"); }),
      method_not_allowed_([](const request& r) { return plain(405, r.method + " is not served here\n"); }) {}

router& router::add(std::string method, std::string_view pattern, handler h) {
    route r{std::move(method), std::string(pattern), {}, std::move(h)};
    for (auto s : split_path(pattern)) {
        r.segments.emplace_back(s);
    }
    routes_.push_back(std::move(r));
    return *this;
}

router& router::on_not_found(handler h) {
    not_found_ = std::move(h);
    return *this;
}

router& router::on_method_not_allowed(handler h) {
    method_not_allowed_ = std::move(h);
    return *this;
}

router::match router::find(std::string_view method, std::string_view path) const {
    const auto segments = split_path(path);
    match m;
    for (const auto& r : routes_) {
        if (r.segments.size() != segments.size()) {
            continue;
        }
        std::vector<std::pair<std::string, std::string>> params;
        bool ok = true;
        for (std::size_t i = 0; i < segments.size() && ok; ++i) {
            const std::string& want = r.segments[i];
            if (is_param(want)) {
                ok = !segments[i].empty();
                params.emplace_back(want.substr(1, want.size() - 2), segments[i]);
            } else {
                ok = want == segments[i];
            }
        }
        if (!ok) {
            continue;
        }
        if (r.method == method || (r.method == "GET" && method == "HEAD")) {
            m.h = &r.h;
            m.status = 200;
            m.route = r.pattern;
            m.params = std::move(params);
            m.allow.clear();
            return m;
        }
        // The path is served, under other methods: remember them for Allow.
        if (m.allow.find(r.method) == std::string::npos) {
            m.allow += m.allow.empty() ? "" : ", ";
            m.allow += r.method;
            if (r.method == "GET") {
                m.allow += ", HEAD";
            }
        }
        m.route = r.pattern;
    }
    if (!m.allow.empty()) {
        m.h = &method_not_allowed_;
        m.status = 405;
    } else {
        m.h = &not_found_;
        m.status = 404;
    }
    return m;
}

response router::dispatch(request& r) const {
    match m = find(r.method, r.path);
    r.route = m.route;
    r.path_params = std::move(m.params);
    response out = (*m.h)(r);
    if (m.status == 405) {
        out.status = 405;
        out.headers.emplace_back("Allow", m.allow);
    } else if (m.status == 404 && out.status == 200) {
        out.status = 404;
    }
    return out;
}

// ---------------------------------------------------------------------------
// 2. The libmicrohttpd side
// ---------------------------------------------------------------------------

struct server::impl {
    MHD_Daemon* daemon = nullptr;

    // Per connection: the request target as sent (before percent-decoding).
    struct pending {
        std::string raw_target;
    };

    static void* on_uri(void* cls, const char* uri, MHD_Connection*) {
        (void)cls;
        return new pending{uri ? uri : ""};
    }

    static void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
        delete static_cast<pending*>(*con_cls);
        *con_cls = nullptr;
    }

    static void on_connection(void* cls, MHD_Connection* c, void**, MHD_ConnectionNotificationCode code) {
        auto* s = static_cast<server*>(cls);
        const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const std::string key = info && info->client_addr ? address_key(info->client_addr) : std::string();
        std::lock_guard lock(s->per_address_mu_);
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
            s->open_connections_.fetch_add(1);
            ++s->per_address_[key];
        } else {
            s->open_connections_.fetch_sub(1);
            auto it = s->per_address_.find(key);
            if (it != s->per_address_.end() && --it->second == 0) {
                s->per_address_.erase(it);
            }
        }
    }

    static MHD_Result collect_arg(void* cls, MHD_ValueKind, const char* key, const char* value) {
        auto* q = static_cast<request*>(cls);
        q->query.emplace_back(key ? key : "", value ? std::optional<std::string>(value) : std::nullopt);
        return MHD_YES;
    }

    static MHD_Result add_header_size(void* cls, MHD_ValueKind, const char* key, const char* value) {
        *static_cast<std::size_t*>(cls) += std::strlen(key ? key : "") + std::strlen(value ? value : "") + 4;
        return MHD_YES;
    }

    static MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method,
                                 const char* version, const char*, size_t*, void** con_cls) {
        auto* s = static_cast<server*>(cls);
        const auto* p = static_cast<pending*>(*con_cls);
        const std::string_view target = p ? std::string_view(p->raw_target) : std::string_view(url ? url : "");
        std::size_t header_bytes = std::strlen(method) + target.size() + std::strlen(version) + 4;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, &impl::add_header_size, &header_bytes);

        request req;
        req.method = method;
        req.path = url ? url : "";
        if (const auto* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            info && info->client_addr) {
            req.client = address_key(info->client_addr);
        }
        response res;
        std::string route = "-";
        // The request line passed the gate (accept_loop); the headers are checked here.
        if (header_bytes > s->opt_.max_header_bytes) {
            res = plain(
                431, "request line and headers longer than " + std::to_string(s->opt_.max_header_bytes) + " bytes\n");
        } else {
            MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &impl::collect_arg, &req);
            try {
                res = s->router_.dispatch(req);
            } catch (const std::exception& e) {
                log::error("http", "{} {}: {}", req.method, req.path, e.what());
                res = plain(500, "internal error; the server's log says more\n");
            }
            route = req.route;
        }
        s->count(route, res.status);
        return queue(s->opt_, conn, res);
    }

    static MHD_Result queue(const server_options& o, MHD_Connection* conn, const response& res) {
        MHD_Response* r =
            MHD_create_response_from_buffer(res.body.size(), const_cast<char*>(res.body.data()), MHD_RESPMEM_MUST_COPY);
        if (!r) {
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res.content_type.c_str());
        if (!o.keep_alive) {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        }
        for (const auto& [k, v] : o.headers) {
            MHD_add_response_header(r, k.c_str(), v.c_str());
        }
        for (const auto& [k, v] : res.headers) {
            MHD_add_response_header(r, k.c_str(), v.c_str());
        }
        const MHD_Result q = MHD_queue_response(conn, static_cast<unsigned>(res.status), r);
        MHD_destroy_response(r);
        return q;
    }

    // libmicrohttpd answers some malformed requests itself (400, 414, 431,
    // 505) and says so only here: such answers are counted under route "-".
    static void on_mhd_log(void* cls, const char* fmt, va_list ap) {
        char buf[512];
        std::vsnprintf(buf, sizeof buf, fmt, ap);
        std::string s = buf;
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
            s.pop_back();
        }
        constexpr std::string_view k_answered = "Error processing request (HTTP response code is ";
        if (s.rfind(k_answered, 0) == 0 && s.size() >= k_answered.size() + 3) {
            const int status = std::atoi(s.c_str() + k_answered.size());
            static_cast<server*>(cls)->count("-", status);
            log::debug("http", "libmicrohttpd answered {} to a malformed request", status);
            return;
        }
        log::warn("http", "libmicrohttpd: {}", s);
    }
};

// ---------------------------------------------------------------------------
// 3. Listening, the accept thread and the client limit
// ---------------------------------------------------------------------------

server::server(server_options o, router r)
    : opt_(std::move(o)), router_(std::move(r)), impl_(std::make_unique<impl>()) {}

server::~server() {
    stop();
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
    }
    if (wake_fd_ >= 0) {
        ::close(wake_fd_);
    }
}

result<bool> server::start() {
    const std::string where = (opt_.host.find(':') != std::string::npos ? "[" + opt_.host + "]" : opt_.host) + ":" +
                              std::to_string(opt_.port);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE | (opt_.names_allowed ? 0 : AI_NUMERICHOST);
    addrinfo* ai = nullptr;
    if (int rc = ::getaddrinfo(opt_.host.c_str(), std::to_string(opt_.port).c_str(), &hints, &ai); rc != 0 || !ai) {
        if (!opt_.names_allowed) {
            return error{opt_.setting + " host " + opt_.host + " is not an IP address; use one such as \"127.0.0.1\""};
        }
        return error{opt_.setting + " host \"" + opt_.host + "\" does not resolve (" + ::gai_strerror(rc) +
                     "); use an address such as \"127.0.0.1\""};
    }
    listen_fd_ = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        ::freeaddrinfo(ai);
        return error{opt_.setting + " cannot make a socket: " + std::strerror(errno)};
    }
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const int bound = ::bind(listen_fd_, ai->ai_addr, ai->ai_addrlen);
    ::freeaddrinfo(ai);
    if (bound != 0 || ::listen(listen_fd_, 64) != 0) {
        return error{"cannot listen on " + where + ": " + std::strerror(errno) +
                     " (is another program on that port? change " + opt_.setting + " host/port or stop it)"};
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    bound_port_ = ntohs(addr.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                                                  : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        return error{opt_.setting + " cannot make an eventfd: " + std::strerror(errno)};
    }

    // The connection timeout is whole seconds in libmicrohttpd: round up.
    const auto timeout_s = static_cast<unsigned>((opt_.request_timeout.count() + 999) / 1000);
    // The memory a connection may use bounds what it can send before
    // libmicrohttpd refuses it itself; the exact header limit is checked in
    // on_request. The slack holds the response headers.
    const std::size_t memory = opt_.max_header_bytes + 1024;
    // MHD_USE_AUTO: epoll (or poll) rather than select, so clients may pass FD_SETSIZE.
    // MHD_USE_ITC: connections come from our accept thread (MHD_add_connection).
    const unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    // The logger is passed first of all, before MHD_OPTION_ARRAY (which
    // libmicrohttpd counts as an option of its own: inside the array the
    // logger would be the second and draw a start-up warning).
    std::vector<MHD_OptionItem> options = {
        // A backstop: the accept thread keeps to max_clients and says 503 beyond.
        {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(opt_.max_clients + 4), nullptr},
        {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(std::max(1u, timeout_s)), nullptr},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(memory), nullptr},
        {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&impl::on_uri), nullptr},
        {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&impl::on_completed), nullptr},
        {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&impl::on_connection), this},
    };
    if (opt_.threads > 1) {
        options.push_back({MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(opt_.threads), nullptr});
    }
    options.push_back({MHD_OPTION_END, 0, nullptr});
    impl_->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &impl::on_request, this, MHD_OPTION_EXTERNAL_LOGGER,
                                     &impl::on_mhd_log, this, MHD_OPTION_ARRAY, options.data(), MHD_OPTION_END);
    if (!impl_->daemon) {
        return error{"cannot start the HTTP server on " + where + " (libmicrohttpd refused; see the log above)"};
    }
    accept_thread_ = std::thread([this] { accept_loop(); });
    return true;
}

void server::stop() {
    if (accept_thread_.joinable()) {
        stopping_ = true;
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
        accept_thread_.join();
    }
    if (impl_->daemon) {
        MHD_stop_daemon(impl_->daemon);
        impl_->daemon = nullptr;
    }
}

void server::count(const std::string& route, int status) {
    std::lock_guard lock(stats_mu_);
    ++stats_[{route, status}];
}

std::vector<route_status_count> server::stats() const {
    std::lock_guard lock(stats_mu_);
    std::vector<route_status_count> out;
    out.reserve(stats_.size());
    for (const auto& [k, n] : stats_) {
        out.push_back({k.first, k.second, n});
    }
    return out;
}

std::uint64_t server::responses(int status) const {
    std::lock_guard lock(stats_mu_);
    std::uint64_t n = 0;
    for (const auto& [k, c] : stats_) {
        n += k.second == status ? c : 0;
    }
    return n;
}

namespace {

// Writes a whole small response on a socket the gate owns, after reading
// what the client sent (unread bytes would turn the close into a reset that
// can destroy the answer), and closes it.
void answer_and_close(int fd, int status, std::string_view body) {
    char sink[4096];
    while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(status_text(status)) +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n\r\n";
    r += body;
    [[maybe_unused]] const auto sent = ::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    ::close(fd);
}

// "METHOD /target HTTP/1.x": what libmicrohttpd is handed (it would answer
// other versions 505, a long target 414, and close on non-HTTP bytes).
bool request_line_ok(std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        return false;
    }
    const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                           version = line.substr(sp2 + 1);
    if (method.empty() || method.size() > 16 || target.empty() || target.front() != '/' || target.size() > 2048) {
        return false;
    }
    for (char c : method) {
        if (c < 'A' || c > 'Z') {
            return false;
        }
    }
    for (char c : target) {
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return version == "HTTP/1.0" || version == "HTTP/1.1";
}

}  // namespace

// The gate in front of libmicrohttpd. It accepts connections, holds each
// until its request line is in (peeked, not read, so libmicrohttpd still
// sees every byte), and answers itself what libmicrohttpd would only drop
// or answer otherwise: 503 beyond max_clients (counting those it holds),
// 429 beyond max_clients_per_address from one address,
// 400 for bytes that are not an HTTP/1.x request line, 431 for a line longer
// than max_header_bytes, 408 for a line begun but not in within
// request_timeout (a connection that sent nothing is closed silently).
// A good request goes to libmicrohttpd (MHD_add_connection), which applies
// the rest of the limits.
void server::accept_loop() {
    struct waiting {
        int fd = -1;
        sockaddr_storage addr{};
        socklen_t len = 0;
        std::chrono::steady_clock::time_point deadline;
        std::string key;  // the address without the port
    };
    const std::size_t per_address_limit =
        opt_.max_clients_per_address ? opt_.max_clients_per_address : std::max(2u, opt_.max_clients / 4);
    std::vector<waiting> gate;
    std::vector<pollfd> fds;
    std::vector<char> peek(opt_.max_header_bytes + 1);
    std::chrono::steady_clock::time_point paused_until{};
    constexpr std::string_view k_not_http = "not an HTTP/1.x request; try: GET / HTTP/1.1\n";

    // What the first bytes say: 0 wait, 1 hand over, -1 gone, else a status.
    auto judge = [&](int fd) -> int {
        const ssize_t n = ::recv(fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) {
            return -1;
        }
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        }
        const std::string_view in(peek.data(), static_cast<std::size_t>(n));
        const auto nl = in.find('\n');
        const std::string_view first = in.substr(0, nl);
        const bool printable =
            std::all_of(first.begin(), first.end(), [](char ch) { return (ch >= 0x20 && ch <= 0x7e) || ch == '\r'; });
        if (!printable || first.empty() || first[0] < 'A' || first[0] > 'Z') {
            return first.empty() && nl == std::string_view::npos ? 0 : 400;
        }
        if (nl == std::string_view::npos) {
            return in.size() > opt_.max_header_bytes ? 431 : 0;
        }
        return request_line_ok(first) ? 1 : 400;
    };
    // Counted before the answer goes out, so that a client that reads it
    // finds it counted.
    auto refuse = [&](int fd, int status) {
        count("-", status);
        switch (status) {
            case 400:
                answer_and_close(fd, 400, k_not_http);
                break;
            case 408:
                answer_and_close(fd, 408, "request not complete in time\n");
                break;
            case 431:
                answer_and_close(fd, 431,
                                 "request line longer than " + std::to_string(opt_.max_header_bytes) + " bytes\n");
                break;
            case 429:
                answer_and_close(fd, 429, "too many connections from your address at once; finish one first\n");
                break;
            default:
                answer_and_close(fd, 503, "too many clients at once; try again\n");
        }
    };

    while (!stopping_) {
        auto now = std::chrono::steady_clock::now();
        std::erase_if(gate, [&](const waiting& w) {
            if (now < w.deadline) {
                return false;
            }
            // Part of a request: 408. Nothing at all (a browser's spare
            // preconnection, say): closed without a word, as it expects.
            char b;
            if (::recv(w.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
                refuse(w.fd, 408);
            } else {
                ::close(w.fd);
            }
            return true;
        });
        const bool paused = now < paused_until;
        fds.clear();
        fds.push_back({wake_fd_, POLLIN, 0});
        fds.push_back({paused ? -1 : listen_fd_, POLLIN, 0});
        auto next = now + std::chrono::seconds(1);
        for (const auto& w : gate) {
            fds.push_back({w.fd, POLLIN | POLLRDHUP, 0});
            next = std::min(next, w.deadline);
        }
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
        const int n =
            ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(wait, 1, paused ? 100 : 1000)));
        if (n < 0 && errno != EINTR) {
            log::error("http", "poll failed: {}; {} stops accepting", std::strerror(errno), opt_.setting);
            break;
        }
        if (n <= 0 || fds[0].revents) {
            continue;
        }
        // Judge the held connections that have news.
        for (std::size_t i = 0; i < gate.size(); ++i) {
            if (!fds[i + 2].revents) {
                continue;
            }
            int verdict = judge(gate[i].fd);
            if (verdict == 0 && (fds[i + 2].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                verdict = -1;  // hung up mid request line: it can never be completed
            }
            if (verdict == 0) {
                continue;
            }
            if (verdict == 1) {
                // libmicrohttpd owns the socket from here, also when it refuses it.
                if (MHD_add_connection(impl_->daemon, gate[i].fd, reinterpret_cast<sockaddr*>(&gate[i].addr),
                                       gate[i].len) != MHD_YES) {
                    log::warn("http", "{}: libmicrohttpd refused a connection ({})", opt_.setting,
                              std::strerror(errno));
                }
            } else if (verdict < 0) {
                ::close(gate[i].fd);
            } else {
                refuse(gate[i].fd, verdict);
            }
            gate[i].fd = -1;
        }
        std::erase_if(gate, [](const waiting& w) { return w.fd < 0; });
        if (!(fds[1].revents & POLLIN)) {
            continue;
        }
        while (true) {
            waiting w;
            w.len = sizeof w.addr;
            w.fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&w.addr), &w.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (w.fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    log::warn("http", "cannot accept a connection: {}; pausing for 100 ms", std::strerror(errno));
                    paused_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
                }
                break;
            }
            w.deadline = std::chrono::steady_clock::now() + opt_.request_timeout;
            if (open_connections_.load() + gate.size() >= opt_.max_clients) {
                // Full: first let go of held clients that hung up unseen (a
                // burst of connect-and-close must not shut out a real client).
                std::erase_if(gate, [](const waiting& k) {
                    char b;
                    if (::recv(k.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0) {
                        return false;
                    }
                    ::close(k.fd);
                    return true;
                });
            }
            if (open_connections_.load() + gate.size() >= opt_.max_clients) {
                refuse(w.fd, 503);
                continue;
            }
            w.key = address_key(reinterpret_cast<const sockaddr*>(&w.addr));
            std::size_t from_there = 0;
            {
                std::lock_guard lock(per_address_mu_);
                const auto it = per_address_.find(w.key);
                from_there = it == per_address_.end() ? 0 : it->second;
            }
            from_there += static_cast<std::size_t>(
                std::count_if(gate.begin(), gate.end(), [&](const waiting& k) { return k.key == w.key; }));
            if (from_there >= per_address_limit) {
                refuse(w.fd, 429);
                continue;
            }
            gate.push_back(w);
        }
    }
    for (const auto& w : gate) {
        ::close(w.fd);
    }
}

}  // namespace bmm::http
