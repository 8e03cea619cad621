#pragma once
// TLS for Stratum ports (`[[port]] tls = true`): OpenSSL driven through
// memory BIOs, so that the libuv loop keeps owning the socket and nothing
// ever blocks. Ciphertext read from the socket is fed in, plaintext comes
// out; plaintext to send goes in, ciphertext to write comes out.
//
// Each loop builds its own server context per TLS port at start-up and only
// reads it afterwards (SSL_new), so loops share no TLS state.

#include "bmm/result.hpp"

#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace bmm::stratum::tls {

struct context_deleter {
    void operator()(SSL_CTX* c) const noexcept;
};
using context = std::unique_ptr<SSL_CTX, context_deleter>;

// A server context for the PEM certificate chain `cert` and private key
// `key` (TLS 1.2 and later, no renegotiation, no server-side session cache).
// Errors name the file and what is wrong with it: unreadable, not PEM,
// encrypted (not supported: the server has no one to ask for a passphrase),
// or a key that does not belong to the certificate.
result<context> make_server_context(const std::string& cert, const std::string& key);

// One connection's TLS state on the server side.
class connection {
public:
    explicit connection(SSL_CTX* ctx);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Takes `n` bytes of ciphertext from the socket, advances the handshake
    // and appends any plaintext to `plain`. False on a TLS failure or the
    // peer's close_notify; error() then says which.
    bool feed(const char* data, std::size_t n, std::string& plain);
    // Encrypts `plain` (after the handshake). False on failure.
    bool write(std::string_view plain);
    // Moves out the ciphertext waiting for the socket (handshake messages,
    // alerts, records); empty when there is none.
    std::string take_output();

    bool established() const noexcept { return established_; }
    const std::string& error() const noexcept { return error_; }

private:
    bool fail(int rc, const char* what);

    SSL* ssl_ = nullptr;
    BIO* in_ = nullptr;   // ciphertext from the miner (owned by ssl_)
    BIO* out_ = nullptr;  // ciphertext to the miner (owned by ssl_)
    bool established_ = false;
    std::string error_;
};

}  // namespace bmm::stratum::tls
