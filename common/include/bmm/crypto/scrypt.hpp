#pragma once
// scrypt with N = 1024, r = 1, p = 1 and a 32-byte result, password = salt =
// the 80-byte block header: Litecoin's proof of work.
//
// Kernels (one translation unit per ISA, each built with only its own flags):
//   scalar        1 lane,  portable C++
//   avx2-8way     8 lanes, AVX2, eight headers' Salsa20/8 side by side
//   avx2-2x8way  16 lanes, AVX2, two 8-lane groups taking turns, so that each
//                group's reads of the 128 KiB table are prefetched meanwhile
//   avx2-16way   16 lanes, AVX2 build of the AVX-512 kernel's code: slower,
//                there so that machines without AVX-512 test that code
//   avx512-16way 16 lanes, AVX-512
// Same dispatch, forcing (BMM_SCRYPT_KERNEL) and self-test as SHA-256.

#include "bmm/crypto/cpu_features.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/result.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace bmm::crypto {

inline constexpr std::size_t k_scrypt_lane_scratch = 128 * 1024 + 256;  // V (N * 128 bytes) plus X

struct scrypt_kernel {
    std::string_view name;    // e.g. "avx2-8way"
    std::string_view family;  // e.g. "avx2"
    unsigned lanes;
    // For each lane i < lanes: out[i] = scrypt(headers[i]). Headers and
    // outputs may be unaligned; a header pointer may repeat. `scratch` is
    // lanes * k_scrypt_lane_scratch bytes, 64-byte aligned.
    void (*hash)(const unsigned char* const* headers, unsigned char* const* out, void* scratch) noexcept;
    bool (*supported)(const cpu_features&) noexcept;
};

std::span<const scrypt_kernel> scrypt_all_kernels() noexcept;

// Compares the kernel with the scalar kernel on fixed pseudo-random,
// misaligned headers: one call with a different header in every lane, one
// with a single header pointer in all of them (as idle lanes get), and lane 0
// of the first against Litecoin's genesis proof-of-work hash, so the scalar
// kernel is checked too. Each call costs what a full batch does (about a
// millisecond at 16 lanes), hence two calls, not one per lane count: every
// lane runs the same code, so lane counts add no coverage.
bool scrypt_self_test(const scrypt_kernel& kernel) noexcept;

struct scrypt_selection {
    const scrypt_kernel* wide = nullptr;
    const scrypt_kernel* narrow = nullptr;
    std::string describe() const;
};

// As sha256_select, with BMM_SCRYPT_KERNEL.
result<scrypt_selection> scrypt_select(std::string_view family = {});
const scrypt_selection& scrypt_default_selection();

// Batch hashing. Owns its scratch memory, so one object per thread. Full
// groups go to the wide kernel; the rest to the narrow kernel, or to one
// more wide call with idle lanes when that costs less.
class scrypt_batch {
public:
    explicit scrypt_batch(const scrypt_selection& selection);
    scrypt_batch() : scrypt_batch(scrypt_default_selection()) {}
    ~scrypt_batch();
    scrypt_batch(const scrypt_batch&) = delete;
    scrypt_batch& operator=(const scrypt_batch&) = delete;

    const scrypt_selection& selection() const noexcept { return sel_; }

    // out[i] = scrypt(headers[i]) for i < n; headers are 80 bytes each.
    void hash(const unsigned char* const* headers, digest32* out, std::size_t n);

private:
    scrypt_selection sel_;
    void* scratch_ = nullptr;
};

// One-shot scrypt of an 80-byte header on the scalar kernel. Keeps one lane's
// scratch (129 KiB) per calling thread.
digest32 scrypt_once(std::span<const unsigned char, 80> header) noexcept;

}  // namespace bmm::crypto
