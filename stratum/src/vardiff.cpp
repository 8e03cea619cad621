#include "bmm/stratum/vardiff.hpp"

#include <algorithm>
#include <cmath>

namespace bmm::stratum {
namespace {

std::optional<double> change(vardiff_state& s, const port_config& port, double wanted, double now) {
    wanted = vardiff_clamp(port, std::clamp(wanted, s.difficulty / 4, s.difficulty * 4));
    s.window_start = now;
    s.shares = 0;
    if (std::fabs(wanted - s.difficulty) <= 0.1 * s.difficulty) return std::nullopt;
    s.difficulty = wanted;
    return wanted;
}

}  // namespace

double vardiff_clamp(const port_config& port, double difficulty) {
    if (!std::isfinite(difficulty) || difficulty <= 0) return port.start_difficulty;
    return std::clamp(difficulty, port.min_difficulty, port.max_difficulty);
}

vardiff_state vardiff_start(const port_config& port, double difficulty, double now) {
    return {vardiff_clamp(port, difficulty), now, 0};
}

std::optional<double> vardiff_on_share(vardiff_state& s, const port_config& port, double now) {
    ++s.shares;
    const double elapsed = std::max(now - s.window_start, 1e-3);
    const double expected = port.retarget_seconds / port.target_share_seconds;
    const bool window_over = elapsed >= port.retarget_seconds;
    const bool flooding = s.shares >= std::max(8.0, 4 * expected) && elapsed >= 0.5;
    if (!window_over && !flooding) return std::nullopt;
    const double observed_interval = elapsed / s.shares;
    return change(s, port, s.difficulty * port.target_share_seconds / observed_interval, now);
}

std::optional<double> vardiff_on_tick(vardiff_state& s, const port_config& port, double now) {
    const double elapsed = now - s.window_start;
    if (elapsed < 2 * port.retarget_seconds) return std::nullopt;
    if (s.shares == 0) return change(s, port, s.difficulty / 2, now);
    // Shares early in the window, then silence for a window or more: lower on
    // the rate so far rather than wait for a share that may not come.
    return change(s, port, std::min(s.difficulty, s.difficulty * port.target_share_seconds * s.shares / elapsed), now);
}

}  // namespace bmm::stratum
