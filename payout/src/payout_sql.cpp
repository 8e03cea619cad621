#include "payout_sql.hpp"

namespace bmm::payout::sql {

result<pg::row_set> run(pg::connection& db, std::string_view what, std::string_view sql, const params& p) {
    auto r = p.empty() ? db.exec(sql) : db.exec(sql, p);
    if (!r) {
        return error{std::string(what) + ": " + r.error_message()};
    }
    return r;
}

result<accounting::amount> read_amount(const pg::row_set& r, int row, int col, std::string_view what) {
    auto a = accounting::parse_amount(r.get(row, col));
    if (!a) {
        return error{"PostgreSQL: " + std::string(what) + ": " + a.error_message()};
    }
    return a;
}

std::string one_of(std::initializer_list<std::string_view> states) {
    std::string out;
    std::size_t i = 0;
    for (auto s : states) {
        if (i > 0) {
            out += i + 1 == states.size() ? " or " : ", ";
        }
        out += s;
        ++i;
    }
    return out;
}

result<locked_batch> lock_batch(pg::connection& db, std::int64_t id, std::string_view verb,
                                std::initializer_list<std::string_view> allowed) {
    auto r = run(db, "reading the batch", "SELECT currency, state FROM payout_batches WHERE id = $1 FOR UPDATE",
                 {std::to_string(id)});
    if (!r) {
        return error{r.error_message()};
    }
    const std::string name = "batch " + std::to_string(id);
    if (r->rows() == 0) {
        return error{name + " does not exist (bmm-payout show lists nothing for it; check the number)"};
    }
    locked_batch b{id, r->text(0, 0), r->text(0, 1)};
    for (auto s : allowed) {
        if (b.state == s) {
            return b;
        }
    }
    return error{name + " is " + b.state + "; " + std::string(verb) + " needs " + one_of(allowed)};
}

}  // namespace bmm::payout::sql
