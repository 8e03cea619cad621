#pragma once
// The ERC-20 distribution of a BMM batch (bmm-payout export): one row per
// line, in line order, with the EIP-55 address, the amount in base units (wei)
// and as an 18-decimal token string ("12.500000000000000000"). Pure functions
// of the batch: the same bytes on every run (no time, no locale), so the
// SHA-256 stored with the batch identifies what was handed out.
//
// CSV (RFC 4180, "\n" line ends, no field needs quoting):
//   line,address,base_units,amount
//   1,0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed,12500000000000000000,12.500000000000000000
// JSON (one line, then "\n"):
//   {"batch":7,"currency":"BMM","digest":"<hex>","total":"<base units>","recipients":
//    [{"line":1,"address":"0x...","base_units":"...","amount":"12.500000000000000000"}]}

#include "bmm/accounting/amount.hpp"
#include "bmm/payout/batch_store.hpp"

#include <string>
#include <string_view>

namespace bmm::payout {

enum class distribution_format { csv, json };

// Base units as a token amount with exactly 18 decimals: 1 -> "0.000000000000000001".
std::string token_amount(const amount& base_units);

// The distribution file of `b` in `format`.
std::string distribution_text(const batch& b, distribution_format format);

// SHA-256 of `bytes`, 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace bmm::payout
