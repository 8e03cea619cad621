// TLS over memory BIOs; see tls.hpp.

#include "bmm/stratum/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace bmm::stratum::tls {
namespace {

// The oldest error on this thread's OpenSSL queue, as text; clears the queue.
std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "no detail from OpenSSL";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

result<bool> readable(const std::string& path, const char* what) {
    std::ifstream f(path);
    if (!f) return error{std::string(what) + " " + path + " cannot be read: " + std::strerror(errno)};
    return true;
}

}  // namespace

void context_deleter::operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }

result<context> make_server_context(const std::string& cert, const std::string& key) {
    if (cert.empty()) return error{"tls_cert is required when tls = true (a PEM certificate chain file)"};
    if (key.empty()) return error{"tls_key is required when tls = true (a PEM private key file)"};
    if (auto r = readable(cert, "tls_cert"); !r) return error{r.error_message()};
    if (auto r = readable(key, "tls_key"); !r) return error{r.error_message()};
    ERR_clear_error();
    context c(SSL_CTX_new(TLS_server_method()));
    if (!c) return error{"cannot create a TLS context: " + openssl_error()};
    SSL_CTX_set_min_proto_version(c.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(c.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Idle connections give their buffers back: a farm keeps thousands open.
    SSL_CTX_set_mode(c.get(), SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(c.get(), SSL_SESS_CACHE_OFF);
    // An encrypted key would make OpenSSL ask on the terminal; refuse instead.
    SSL_CTX_set_default_passwd_cb(c.get(), [](char*, int, int, void*) { return 0; });
    if (SSL_CTX_use_certificate_chain_file(c.get(), cert.c_str()) != 1)
        return error{"tls_cert " + cert + " is not a PEM certificate chain: " + openssl_error()};
    // Read the key apart from installing it, so that an unreadable key and a
    // key of another certificate get different messages.
    EVP_PKEY* pkey = nullptr;
    if (BIO* b = BIO_new_file(key.c_str(), "r")) {
        pkey = PEM_read_bio_PrivateKey(
            b, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
        BIO_free(b);
    }
    if (!pkey) return error{"tls_key " + key + " is not an unencrypted PEM private key: " + openssl_error()};
    const int used = SSL_CTX_use_PrivateKey(c.get(), pkey);
    EVP_PKEY_free(pkey);
    if (used != 1 || SSL_CTX_check_private_key(c.get()) != 1)
        return error{"tls_key " + key + " does not belong to the certificate in tls_cert " + cert + ": " +
                     openssl_error()};
    return c;
}

connection::connection(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    // An empty input BIO means "wait for more", not end of file.
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_accept_state(ssl_);
}

connection::~connection() { SSL_free(ssl_); }

bool connection::fail(int rc, const char* what) {
    const int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
    if (e == SSL_ERROR_ZERO_RETURN) {
        error_ = "closed by the miner (TLS close_notify)";
    } else {
        error_ = std::string(what) + ": ";
        error_ += e == SSL_ERROR_SSL ? openssl_error() : "OpenSSL error " + std::to_string(e);
    }
    ERR_clear_error();
    return false;
}

bool connection::feed(const char* data, std::size_t n, std::string& plain) {
    if (n && BIO_write(in_, data, static_cast<int>(n)) != static_cast<int>(n)) {
        error_ = "cannot buffer TLS input";
        return false;
    }
    ERR_clear_error();
    if (!established_) {
        const int rc = SSL_do_handshake(ssl_);
        if (rc != 1) return fail(rc, "TLS handshake failed");
        established_ = true;
    }
    char buf[16 * 1024];
    while (true) {
        const int r = SSL_read(ssl_, buf, sizeof buf);
        if (r <= 0) return fail(r, "TLS read failed");
        plain.append(buf, static_cast<std::size_t>(r));
    }
}

bool connection::write(std::string_view plain) {
    if (plain.empty()) return true;
    ERR_clear_error();
    const int r = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (r == static_cast<int>(plain.size())) return true;
    if (r <= 0 && !fail(r, "TLS write failed")) return false;
    error_ = "TLS write incomplete";
    return false;
}

std::string connection::take_output() {
    std::string out;
    const std::size_t n = BIO_ctrl_pending(out_);
    if (!n) return out;
    out.resize(n);
    const int r = BIO_read(out_, out.data(), static_cast<int>(n));
    out.resize(r > 0 ? static_cast<std::size_t>(r) : 0);
    return out;
}

}  // namespace bmm::stratum::tls
