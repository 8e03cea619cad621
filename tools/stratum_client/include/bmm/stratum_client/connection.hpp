#pragma once
// A blocking connection from one miner to a pool, plain TCP or TLS (OpenSSL
// on the socket), with line framing: bmm-miner's and the tests' I/O.
// bmm-bench keeps its own (libuv, memory BIOs, thousands of connections).

#include "bmm/result.hpp"
#include "bmm/stratum_client/protocol.hpp"

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace bmm::stratum_client {

struct connect_options {
    std::string source;      // local address to connect from; empty: the system's choice
    int receive_buffer = 0;  // SO_RCVBUF in bytes; 0: the system's (small plays a miner that does not read)
    bool tls = false;
    std::string ca;              // with tls: PEM CA (or self-signed certificate) the pool's certificate must
                                 // chain to, also checked against the host name or address; empty: not checked
    int connect_timeout_ms = 0;  // > 0: give up a TCP connect after this long (a host cut off the
                                 // network never answers); 0: the system's (minutes)
};

enum class read_status { data, timeout, closed };

class blocking_connection {
public:
    // Connects (and with tls, completes the handshake); the error names the
    // address and what failed.
    static result<blocking_connection> open(const std::string& host, const std::string& port,
                                            const connect_options& o = {});

    blocking_connection(blocking_connection&& other) noexcept;
    blocking_connection& operator=(blocking_connection&& other) noexcept;
    blocking_connection(const blocking_connection&) = delete;
    blocking_connection& operator=(const blocking_connection&) = delete;
    ~blocking_connection();

    // Sends every byte (waiting for room unless dont_wait); false when the
    // pool has closed the connection, or, with dont_wait, when the socket
    // buffer is full.
    bool send(std::string_view bytes, bool dont_wait = false);
    bool send_line(std::string_view line);

    // Waits up to timeout_ms for bytes from the pool and calls
    // on_line(std::string_view) for each complete line they end.
    template <class F>
    read_status read_lines(int timeout_ms, F&& on_line) {
        const read_status s = read_some(timeout_ms);
        if (s == read_status::data) {
            lines_.feed(std::string_view(chunk_.data(), chunk_size_), on_line);
        }
        return s;
    }

    bool tls() const { return ssl_ != nullptr; }

private:
    blocking_connection() = default;
    read_status read_some(int timeout_ms);
    std::string tls_handshake(const std::string& host, const std::string& ca);

    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    line_buffer lines_;
    std::string chunk_ = std::string(65536, '\0');
    std::size_t chunk_size_ = 0;
};

}  // namespace bmm::stratum_client
