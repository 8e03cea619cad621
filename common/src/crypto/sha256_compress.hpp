#pragma once
// Private: SHA-256's compression function (FIPS 180-4 section 6.2.2), written
// once over a word type W: std::uint32_t in the portable kernel
// (sha256_scalar.cpp), a GCC vector of 32-bit lanes in scrypt's lane-parallel
// PBKDF2 (scrypt_lanes.hpp). Everything here has internal linkage, so each
// translation unit, whatever its ISA flags, gets its own instance.

#include "sha256_constants.hpp"

namespace bmm::crypto {
namespace {

// Compresses the 16-word block `m` (SHA-256's big-endian words, as numbers)
// into the eight-word state `s`. The message schedule rolls over 16 words.
template <class W>
[[gnu::always_inline]] inline void sha256_compress_words(W* s, const W* m) noexcept {
    const auto rotr = [](const W& x, int n) -> W { return (x >> n) | (x << (32 - n)); };
    W w[16];
    for (int i = 0; i < 16; ++i) {
        w[i] = m[i];
    }
    W a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma GCC unroll 16
    for (int i = 0; i < 64; ++i) {
        if (i >= 16) {
            const W w15 = w[(i - 15) & 15], w2 = w[(i - 2) & 15];
            w[i & 15] += (rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3)) + w[(i - 7) & 15] +
                         (rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10));
        }
        const W t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + (g ^ (e & (f ^ g))) + k_sha256_round[i] + w[i & 15];
        const W t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) | (c & (a | b)));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d;
    s[4] += e;
    s[5] += f;
    s[6] += g;
    s[7] += h;
}

}  // namespace
}  // namespace bmm::crypto
