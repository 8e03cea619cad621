#pragma once
// Test support: SQL against the test stack's PostgreSQL (stack.hpp), as text.

#include "stack.hpp"

#include "bmm/pg/connection.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bmm::test {

// A connection to the stack's database. PostgreSQL may be restarting in a
// test (stopped on purpose): tries for up to 20 s.
inline pg::connection db() {
    const auto& st = stack_environment::get();
    pg::settings s;
    s.host = "127.0.0.1";
    s.port = std::stoi(st.setting("BMM_PG_PORT"));
    s.user = st.setting("BMM_PG_USER");
    s.dbname = st.setting("BMM_PG_DB");
    s.password = st.setting("BMM_PG_PASSWORD");
    std::string why;
    for (int i = 0; i < 100; ++i) {
        auto c = pg::connection::open(s);
        if (c) {
            return std::move(*c);
        }
        why = c.error_message();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + why);
}

// The rows of `sql` (with parameters $1.. from p) as text; throws on an error.
inline std::vector<std::vector<std::string>> query(const std::string& sql,
                                                   const std::vector<std::optional<std::string>>& p = {}) {
    auto c = db();
    auto r = p.empty() ? c.exec(sql) : c.exec(sql, p);
    if (!r) {
        throw std::runtime_error(r.error_message());
    }
    std::vector<std::vector<std::string>> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.emplace_back();
        for (int j = 0; j < r->columns(); ++j) {
            out.back().push_back(r->text(i, j));
        }
    }
    return out;
}

// The first column of the first row of `sql`, or "" when there is none.
inline std::string scalar(const std::string& sql, const std::vector<std::optional<std::string>>& p = {}) {
    auto rows = query(sql, p);
    return rows.empty() || rows[0].empty() ? "" : rows[0][0];
}

// A distinct stand-in proof-of-work hash for a synthetic share record (the
// audit refuses one hash credited to two accepted shares: sql/0022).
inline std::string fake_pow(const std::string& uid) {
    char h[65];
    std::snprintf(h, sizeof h, "%064zx", std::hash<std::string>{}(uid));
    return h;
}

}  // namespace bmm::test
