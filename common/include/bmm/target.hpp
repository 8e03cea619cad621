#pragma once
// Targets and difficulty.
//
// A share or block meets target T when its proof-of-work hash, read as a
// little-endian 256-bit number, is <= T. Difficulty d means target
// floor(diff1 / d) where diff1 depends on the algorithm:
//   sha256d: 0xFFFF * 2^208 (Bitcoin's "pool difficulty 1", as in bdiff/pdiff
//            conventions used by Stratum pools)
//   scrypt:  0xFFFF * 2^224, 65536 times easier: the convention scrypt
//            miners and pools use for Stratum difficulty.

#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <cstdint>
#include <string_view>

namespace bmm {

enum class pow_algorithm { sha256d, scrypt };

std::string_view to_string(pow_algorithm a) noexcept;
result<pow_algorithm> parse_pow_algorithm(std::string_view name);

// The target of Stratum difficulty 1 for the algorithm.
uint256 diff1_target(pow_algorithm a) noexcept;

// The target for a (possibly fractional) Stratum difficulty: floor(diff1 / d),
// computed exactly from the double's binary value, capped at 2^256 - 1.
// Errors for d that is not a finite number greater than zero.
result<uint256> target_from_difficulty(double difficulty, pow_algorithm a);

// diff1 / target as a double, for display and vardiff only (never for money).
double difficulty_from_target(const uint256& target, pow_algorithm a) noexcept;

// The target encoded by a block header's nbits. Errors for negative,
// overflowing or zero targets.
result<uint256> target_from_nbits(std::uint32_t nbits);

// Expected hashes per share at target T: floor(2^256 / (T + 1)).
// ACCOUNTING.md defines work this way. A zero target (never met by any hash)
// saturates at 2^256 - 1.
uint256 work_from_target(const uint256& target) noexcept;

}  // namespace bmm
