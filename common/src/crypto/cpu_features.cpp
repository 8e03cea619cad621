// CPU feature probing: CPUID for what the CPU implements, XGETBV for what the
// operating system has enabled (AVX and AVX-512 registers are unusable unless
// the OS saves them on context switches).

#include "bmm/crypto/cpu_features.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdint>

namespace bmm::crypto {
namespace {

#if defined(__x86_64__) || defined(__i386__)
std::uint64_t read_xcr0() {
    std::uint32_t eax = 0;
    std::uint32_t edx = 0;
    // XGETBV with ECX = 0 reads XCR0. Encoded as bytes so that this file needs
    // no -mxsave flag.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<std::uint64_t>(edx) << 32) | eax;
}

cpu_features probe() {
    cpu_features f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_max(0, nullptr) < 7) return f;
    __cpuid_count(1, 0, a, b, c, d);
    f.ssse3 = (c >> 9) & 1;
    f.sse41 = (c >> 19) & 1;
    const bool osxsave = (c >> 27) & 1;
    const bool avx = (c >> 28) & 1;
    std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
    const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // plus opmask, ZMM hi256, hi16 ZMM
    __cpuid_count(7, 0, a, b, c, d);
    f.sha = (b >> 29) & 1;
    f.avx2 = avx && ymm_state && ((b >> 5) & 1);
    const bool avx512f = (b >> 16) & 1;
    const bool avx512bw = (b >> 30) & 1;
    const bool avx512vl = (b >> 31) & 1;
    f.avx512 = f.avx2 && zmm_state && avx512f && avx512bw && avx512vl;
    return f;
}
#else
cpu_features probe() { return {}; }
#endif

}  // namespace

std::string cpu_features::describe() const {
    std::string s;
    auto add = [&s](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(ssse3, "ssse3");
    add(sse41, "sse4.1");
    add(sha, "sha");
    add(avx2, "avx2");
    add(avx512, "avx512");
    return s.empty() ? std::string("none") : s;
}

const cpu_features& detect_cpu_features() {
    static const cpu_features features = probe();
    return features;
}

}  // namespace bmm::crypto
