#pragma once
// Test support: HTTP spoken by hand over a loopback socket, for tests of the
// HTTP server's limits and answers (tests/common/http/server_test.cpp,
// tests/stratum/metrics_test.cpp).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace bmm::test {

// A blocking connection to 127.0.0.1:port whose reads give up after 5 s (no
// read in these tests waits longer), or -1.
inline int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

inline void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Everything until the server closes (or 5 s pass).
inline std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    while (true) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// Sends `request` on a new connection (then half-closes it if asked) and
// returns all the server answered, or "connect failed".
inline std::string http_exchange(std::uint16_t port, std::string_view request, bool half_close = false) {
    const int fd = connect_to(port);
    if (fd < 0) {
        return "connect failed";
    }
    send_all(fd, request);
    if (half_close) {
        ::shutdown(fd, SHUT_WR);
    }
    std::string r = read_all(fd);
    ::close(fd);
    return r;
}

// An answer split into its status, its header lines (the status line
// first) and its body; status 0 when `raw` is no HTTP answer.
struct http_answer {
    int status = 0;
    std::string headers, body;
};
inline http_answer parse_http_answer(const std::string& raw) {
    http_answer a;
    const auto head_end = raw.find("\r\n\r\n");
    if (raw.size() < 12 || head_end == std::string::npos) {
        return a;
    }
    a.status = std::stoi(raw.substr(9, 3));
    a.headers = raw.substr(0, head_end);
    a.body = raw.substr(head_end + 4);
    return a;
}

}  // namespace bmm::test
