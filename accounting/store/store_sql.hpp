#pragma once
// Private to store/: a statement whose error names the step, amounts read
// back from numeric text, and messages joined from parts.

#include "bmm/accounting/amount.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bmm::accounting::store_sql {

inline std::string join(std::initializer_list<std::string_view> parts) {
    std::string s;
    for (auto p : parts) s += p;
    return s;
}

// One statement with text parameters; `what` names the step in the error.
inline result<pg::row_set> run(pg::connection& db, std::string_view what, std::string_view sql,
                               const std::vector<std::optional<std::string>>& params = {}) {
    auto r = params.empty() ? db.exec(sql) : db.exec(sql, params);
    if (!r) return error{join({what, ": ", r.error_message()})};
    return r;
}

inline result<amount> read_amount(const pg::row_set& r, int row, int col, std::string_view what) {
    auto a = parse_amount(r.get(row, col));
    if (!a) return error{join({"PostgreSQL: ", what, ": ", a.error_message()})};
    return a;
}

}  // namespace bmm::accounting::store_sql
