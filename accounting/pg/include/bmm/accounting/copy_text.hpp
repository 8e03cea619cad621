#pragma once
// PostgreSQL COPY's text format, shared by the ingest (pg.hpp) and the
// ledger (ledger_store.cpp): a field with backslash, tab, newline and carriage
// return escaped, appended to `out`.

#include <string>
#include <string_view>

namespace bmm::accounting {

inline void copy_escape(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            default: out += c;
        }
    }
}

}  // namespace bmm::accounting
