#pragma once
// Private to payout/: statements whose errors name the step, amounts read
// back from numeric text, and the batch row locked and checked for a state.

#include "bmm/accounting/amount.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::payout::sql {

using params = std::vector<std::optional<std::string>>;

// One statement; `what` names the step in the error.
result<pg::row_set> run(pg::connection& db, std::string_view what, std::string_view sql, const params& p = {});

// A numeric column as an amount; the error names the column.
result<accounting::amount> read_amount(const pg::row_set& r, int row, int col, std::string_view what);

// "planned", "planned or approved", "planned, approved or broadcast".
std::string one_of(std::initializer_list<std::string_view> states);

// The batch row, locked (FOR UPDATE) until the transaction ends.
struct locked_batch {
    std::int64_t id = 0;
    std::string currency, state;
};
// Locks batch `id` and checks that its state is one of `allowed`; otherwise
// "batch 7 does not exist" or "batch 7 is broadcast; <verb> needs planned".
result<locked_batch> lock_batch(pg::connection& db, std::int64_t id, std::string_view verb,
                                std::initializer_list<std::string_view> allowed);

}  // namespace bmm::payout::sql
