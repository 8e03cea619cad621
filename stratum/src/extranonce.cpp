// The extranonce1 counter allocator (see extranonce.hpp).

#include "extranonce.hpp"

namespace bmm::stratum {

extranonce_allocator::extranonce_allocator(unsigned bits)
    : mask_(bits >= 32 ? 0xffffffffu : (std::uint32_t{1} << bits) - 1) {}

void extranonce_allocator::seed(std::uint32_t start) {
    std::lock_guard lock(mu_);
    next_ = start & mask_;
}

std::optional<std::uint32_t> extranonce_allocator::take() {
    std::lock_guard lock(mu_);
    // Every value held: the search below would never end.
    if (held_.size() > mask_) {
        return std::nullopt;
    }
    while (true) {
        const std::uint32_t v = next_;
        next_ = (next_ + 1) & mask_;
        if (held_.insert(v).second) {
            return v;
        }
    }
}

void extranonce_allocator::give_back(std::uint32_t value) {
    std::lock_guard lock(mu_);
    held_.erase(value & mask_);
}

std::size_t extranonce_allocator::held() const {
    std::lock_guard lock(mu_);
    return held_.size();
}

}  // namespace bmm::stratum
