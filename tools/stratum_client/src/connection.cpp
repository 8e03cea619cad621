// A blocking miner connection, plain TCP or TLS (see connection.hpp).

#include "bmm/stratum_client/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace bmm::stratum_client {

namespace {

// `text`, with OpenSSL's first queued error appended when there is one.
std::string with_openssl_error(std::string text) {
    const unsigned long e = ERR_get_error();
    if (e) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        text += " (";
        text += buf;
        text += ")";
    }
    return text;
}

bool is_ip_address(const std::string& host) {
    in6_addr a6{};
    in_addr a4{};
    return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// Binds `fd` to the source address `source` (family `family`); errno on failure.
bool bind_source(int fd, int family, const std::string& source) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        if (inet_pton(AF_INET, source.c_str(), &a->sin_addr) != 1) {
            errno = EINVAL;
            return false;
        }
        len = sizeof(sockaddr_in);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, source.c_str(), &a->sin6_addr) != 1) {
            errno = EINVAL;
            return false;
        }
        len = sizeof(sockaddr_in6);
    }
    return ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0;
}

}  // namespace

result<blocking_connection> blocking_connection::open(const std::string& host, const std::string& port,
                                                      const connect_options& o) {
    const std::string where = host + ":" + port;
    addrinfo hints{};
    addrinfo* res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        return error{"cannot resolve " + where + ": " + gai_strerror(rc)};
    }
    blocking_connection c;
    std::string why = "no address";
    for (addrinfo* a = res; a && c.fd_ < 0; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            why = std::string("socket: ") + std::strerror(errno);
            continue;
        }
        if (o.receive_buffer > 0) {
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.receive_buffer, sizeof o.receive_buffer);
        }
        if (!o.source.empty() && !bind_source(fd, a->ai_family, o.source)) {
            why = "cannot bind to source address " + o.source + ": " + std::strerror(errno);
            ::close(fd);
            continue;
        }
        if (o.connect_timeout_ms > 0) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            if (o.connect_timeout_ms <= 0 || errno != EINPROGRESS) {
                why = std::strerror(errno);
                ::close(fd);
                continue;
            }
            pollfd p{fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            if (::poll(&p, 1, o.connect_timeout_ms) <= 0) {
                why = "no answer within " + std::to_string(o.connect_timeout_ms) + " ms";
                ::close(fd);
                continue;
            }
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
                why = std::strerror(err ? err : errno);
                ::close(fd);
                continue;
            }
        }
        if (o.connect_timeout_ms > 0) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        }
        c.fd_ = fd;
    }
    freeaddrinfo(res);
    if (c.fd_ < 0) {
        return error{"cannot connect to " + where + ": " + why};
    }
    if (o.tls) {
        if (std::string failed = c.tls_handshake(host, o.ca); !failed.empty()) {
            return error{"TLS to " + where + " failed: " + failed};
        }
    }
    return c;
}

// The handshake on the connected socket, which is non-blocking afterwards.
// Returns what failed, or nothing.
std::string blocking_connection::tls_handshake(const std::string& host, const std::string& ca) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    if (!ca.empty()) {
        if (SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr) != 1) {
            return with_openssl_error("cannot load --ca " + ca);
        }
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    const bool ip = is_ip_address(host);
    if (!ip) {
        SSL_set_tlsext_host_name(ssl_, host.c_str());
    }
    if (!ca.empty()) {
        if (ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
        } else {
            SSL_set1_host(ssl_, host.c_str());
        }
    }
    if (SSL_connect(ssl_) != 1) {
        const long v = SSL_get_verify_result(ssl_);
        return with_openssl_error(v != X509_V_OK
                                      ? std::string("certificate check failed: ") + X509_verify_cert_error_string(v)
                                      : std::string("TLS handshake failed"));
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    return {};
}

blocking_connection::blocking_connection(blocking_connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ctx_(std::exchange(other.ctx_, nullptr)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      lines_(std::move(other.lines_)),
      chunk_(std::move(other.chunk_)),
      chunk_size_(other.chunk_size_) {}

blocking_connection& blocking_connection::operator=(blocking_connection&& other) noexcept {
    // The other side takes this one's resources and frees them when it goes.
    std::swap(fd_, other.fd_);
    std::swap(ctx_, other.ctx_);
    std::swap(ssl_, other.ssl_);
    std::swap(lines_, other.lines_);
    std::swap(chunk_, other.chunk_);
    std::swap(chunk_size_, other.chunk_size_);
    return *this;
}

blocking_connection::~blocking_connection() {
    if (ssl_) {
        SSL_free(ssl_);
    }
    if (ctx_) {
        SSL_CTX_free(ctx_);
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool blocking_connection::send(std::string_view bytes, bool dont_wait) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        if (ssl_) {
            const int n = SSL_write(ssl_, bytes.data() + off, static_cast<int>(bytes.size() - off));
            if (n > 0) {
                off += static_cast<std::size_t>(n);
                continue;
            }
            const int e = SSL_get_error(ssl_, n);
            if (dont_wait || (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)) {
                return false;
            }
            pollfd p{fd_, static_cast<short>(e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
            if (::poll(&p, 1, 5000) <= 0) {
                return false;
            }
            continue;
        }
        const ssize_t n =
            ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | (dont_wait ? MSG_DONTWAIT : 0));
        if (n <= 0) {
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

bool blocking_connection::send_line(std::string_view line) {
    std::string l(line);
    l += '\n';
    return send(l);
}

read_status blocking_connection::read_some(int timeout_ms) {
    chunk_size_ = 0;
    pollfd p{fd_, POLLIN, 0};
    // OpenSSL may hold decrypted data the socket no longer shows.
    const bool buffered = ssl_ && SSL_pending(ssl_) > 0;
    if (!buffered && ::poll(&p, 1, timeout_ms) <= 0) {
        return read_status::timeout;
    }
    if (ssl_) {
        const int n = SSL_read(ssl_, chunk_.data(), static_cast<int>(chunk_.size()));
        if (n > 0) {
            chunk_size_ = static_cast<std::size_t>(n);
            return read_status::data;
        }
        const int e = SSL_get_error(ssl_, n);
        // A record not complete yet, or only a session ticket: nothing to read now.
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? read_status::timeout : read_status::closed;
    }
    const ssize_t n = ::recv(fd_, chunk_.data(), chunk_.size(), 0);
    if (n <= 0) {
        return read_status::closed;
    }
    chunk_size_ = static_cast<std::size_t>(n);
    return read_status::data;
}

}  // namespace bmm::stratum_client
