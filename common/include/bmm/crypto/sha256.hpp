#pragma once
// SHA-256 for share verification: compression kernels of several lane counts,
// run-time dispatch with a self-test, and a batch front end.
//
// Kernels (one translation unit each, each built with only its own ISA flags):
//   scalar        1 lane,  portable C++
//   shani         1 lane,  SHA-NI
//   shani-2way    2 lanes, SHA-NI, two independent streams interleaved
//   avx2-8way     8 lanes, AVX2 multi-buffer
//   avx2-16way   16 lanes, AVX2, two 8-lane streams interleaved
//   avx512-16way 16 lanes, AVX-512 multi-buffer
// A kernel's "family" (scalar, shani, avx2, avx512) is the name used to force it.
//
// The batch front end hashes many independent messages: it feeds the widest
// kernel while enough work remains, and a narrow one for the tail, so callers
// never know lane counts.

#include "bmm/crypto/cpu_features.hpp"
#include "bmm/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bmm::crypto {

using digest32 = std::array<unsigned char, 32>;

// The SHA-256 initial state (FIPS 180-4 section 5.3.3).
inline constexpr std::uint32_t k_sha256_init[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

struct sha256_kernel {
    std::string_view name;    // e.g. "avx2-8way"
    std::string_view family;  // e.g. "avx2"
    unsigned lanes;
    // For each lane i < lanes: compresses the 64-byte block blocks[i] into the
    // state states[i] (eight native-endian words in FIPS order a..h). Blocks
    // may be unaligned. States must not overlap each other; a block pointer
    // may repeat (idle lanes point at a dummy block).
    void (*transform)(std::uint32_t* const* states, const unsigned char* const* blocks) noexcept;
    // Whether this CPU can run the kernel.
    bool (*supported)(const cpu_features&) noexcept;
};

// Every kernel compiled into this binary, scalar first, whether or not the CPU
// can run it.
std::span<const sha256_kernel> sha256_all_kernels() noexcept;

// Compares the kernel with the scalar kernel on fixed pseudo-random states and
// deliberately misaligned blocks, over every lane count up to its width.
// Returns false on any mismatch. Must only be called when supported().
bool sha256_self_test(const sha256_kernel& kernel) noexcept;

// The kernels a batch uses: `wide` for the bulk, `narrow` for the tail.
struct sha256_selection {
    const sha256_kernel* wide = nullptr;
    const sha256_kernel* narrow = nullptr;
    // At most this many unfinished messages go to the narrow kernel instead of
    // a partly idle wide one. sha256_select() measures both kernels once and
    // sets it; -1 (hand-made selections) means "fewer than half the lanes".
    int tail_jobs = -1;
    std::string describe() const;  // e.g. "shani-2way (tail: shani)"
};

// Chooses kernels. With an empty `family` it reads BMM_SHA256_KERNEL from the
// environment and, if that is unset too, picks the fastest kernels this CPU
// supports that pass their self-tests. A named family uses that family's
// kernels only. Errors name the family and why it cannot be used (unknown,
// the CPU lacks the instructions, or the self-test failed).
result<sha256_selection> sha256_select(std::string_view family = {});

// The process-wide default selection (sha256_select() on first use; a failure
// of a forced family is fatal there, with the message on stderr).
const sha256_selection& sha256_default_selection();

// Batch hashing with a fixed selection. Thread-safe (no shared mutable state).
class sha256_batch {
public:
    explicit sha256_batch(const sha256_selection& selection) noexcept : sel_(selection) {}
    sha256_batch() : sel_(sha256_default_selection()) {}

    const sha256_selection& selection() const noexcept { return sel_; }

    // out[i] = SHA256(msgs[i]).
    void sha256(std::span<const std::span<const unsigned char>> msgs, digest32* out) const;
    // out[i] = SHA256(SHA256(msgs[i])).
    void sha256d(std::span<const std::span<const unsigned char>> msgs, digest32* out) const;
    // out[i] = SHA256(SHA256(in[64 i, 64 i + 64))) for i < n: merkle nodes.
    void sha256d64(const unsigned char* in, digest32* out, std::size_t n) const;

private:
    sha256_selection sel_;
};

// One-shot helpers on the scalar kernel, for cold paths and tests.
digest32 sha256_once(std::span<const unsigned char> data) noexcept;
digest32 sha256d_once(std::span<const unsigned char> data) noexcept;

}  // namespace bmm::crypto
