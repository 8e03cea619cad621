#pragma once
// CPU feature probing for kernel dispatch.
//
// Features are read at run time with CPUID and XGETBV (the OS must have enabled
// the register state a kernel needs), never from the build host: a binary
// built on one machine runs on any x86-64 machine and picks what that machine
// has. The probe can be overridden for tests by masking features off.

#include <string>

namespace bmm::crypto {

struct cpu_features {
    bool sse41 = false;
    bool ssse3 = false;
    bool sha = false;     // SHA-NI (SHA256RNDS2, SHA256MSG1/2)
    bool avx2 = false;    // AVX2 with YMM state enabled by the OS
    bool avx512 = false;  // AVX-512 F+BW+VL with ZMM state enabled by the OS

    // A short human-readable list, e.g. "sse4.1 ssse3 sha avx2".
    std::string describe() const;
};

// Probes the CPU once; later calls return the cached answer.
const cpu_features& detect_cpu_features();

}  // namespace bmm::crypto
