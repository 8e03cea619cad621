#pragma once
// amount: an exact integer of base units (satoshis, BMM wei), or of work,
// DPP and PP, which outgrow 64, 128 and even 256 bits (a split's product
// A x W_i of a 2^256-scale PP and an amount of 10^27 base units needs ~350).
// Arbitrary precision, signed so that system source accounts can go below
// zero; never floating point. Stored and exchanged as decimal strings (the
// database keeps them in PostgreSQL `numeric` columns without scale).

#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <boost/multiprecision/cpp_int.hpp>

#include <string>
#include <string_view>

namespace bmm::accounting {

using amount = boost::multiprecision::cpp_int;

// A 256-bit number (a target's work) as an amount.
amount to_amount(const uint256& v);

// Decimal digits, with a leading '-' for negatives ("0" for zero).
std::string to_decimal(const amount& a);

// Parses an optionally signed decimal integer ("-12", "0", "1390000000000000000000000000").
// Errors for anything else: empty text, spaces, a fraction, an exponent, hex.
result<amount> parse_amount(std::string_view text);

}  // namespace bmm::accounting
