#pragma once
// Variable difficulty per connection: aims at one accepted share every
// `target_share_seconds`, bounded by the port's min and max difficulty.
//
// The controller counts accepted shares in a window. Once the window is
// `retarget_seconds` old (or it already holds many times the expected count,
// so a fast miner ramps up within seconds), the new difficulty is
// difficulty × expected interval / observed interval, limited to a factor of 4
// per step and ignored when within 10 % of the current one. A miner silent for
// two windows gets its difficulty halved (or, if it sent a few shares early in
// them, lowered to the rate those show), so a slow miner is never stuck.

#include "bmm/stratum/config.hpp"

#include <optional>

namespace bmm::stratum {

struct vardiff_state {
    double difficulty = 1;
    double window_start = 0;  // seconds, monotonic
    unsigned shares = 0;
};

// Sets up the state for a new connection at `difficulty`, clamped to the port.
vardiff_state vardiff_start(const port_config& port, double difficulty, double now);

// An accepted share at `now`; returns the new difficulty when it should change.
std::optional<double> vardiff_on_share(vardiff_state& s, const port_config& port, double now);

// A periodic check; returns a lower difficulty for a miner that has gone quiet.
std::optional<double> vardiff_on_tick(vardiff_state& s, const port_config& port, double now);

// A difficulty a miner asked for (suggest_difficulty, d= password), clamped.
double vardiff_clamp(const port_config& port, double difficulty);

}  // namespace bmm::stratum
