#pragma once
// The counter part of extranonce1 (README: 4 bytes, the instance id then a
// 24-bit counter), handed out so that no two live connections share it.
//
// A plain counter wraps after 2^24 subscriptions onto values that long-lived
// connections may still hold; two sessions with one extranonce1 mine the
// same work and each other's shares become duplicates or double credit. The
// allocator remembers the values held and skips them.
//
// Private to bmm_stratum (server_*.cpp); not a public header. Thread-safe:
// one mutex, taken at subscribe and close only, never on the share path.

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_set>

namespace bmm::stratum {

class extranonce_allocator {
public:
    // Values are `bits` wide (1..32): 24 for extranonce1's counter; tests
    // use a few bits to see the wrap.
    explicit extranonce_allocator(unsigned bits = 24);

    // Where the next search starts (the server seeds it at random, so that
    // restarts do not hand out the same values first). Held values stay held.
    void seed(std::uint32_t start);
    // The next value from the seed on, wrapping, that no live connection
    // holds; it is held until give_back(). Nothing when every value is held.
    std::optional<std::uint32_t> take();
    // A connection holding `value` closed.
    void give_back(std::uint32_t value);
    std::size_t held() const;

private:
    const std::uint32_t mask_;
    mutable std::mutex mu_;
    std::uint32_t next_ = 0;
    std::unordered_set<std::uint32_t> held_;
};

}  // namespace bmm::stratum
