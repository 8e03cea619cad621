#pragma once
// Test support: where the real chain data of tests/vectors/ is. Kept apart
// from vectors.hpp (which needs GoogleTest and simdjson) so that any test can
// find the vectors with the standard library alone.

#include <cstdlib>
#include <filesystem>

namespace bmm::test {

// tests/vectors/ of this checkout: under $BMM_SOURCE_DIR (ctest sets it to
// the source tree), else relative to the working directory (a test run by
// hand from the repository's root). Nothing outside the checkout is read.
inline std::filesystem::path vectors_dir() {
    if (const char* s = std::getenv("BMM_SOURCE_DIR"); s && *s) {
        return std::filesystem::path(s) / "tests" / "vectors";
    }
    return std::filesystem::path("tests") / "vectors";
}

}  // namespace bmm::test
