#include "bmm/pg/text.hpp"

#include <cstdio>
#include <ctime>

namespace bmm::pg {

void append_timestamp(std::string& out, std::int64_t ms) {
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    out += buf;
}

std::string timestamp_text(std::int64_t ms) {
    std::string s;
    append_timestamp(s, ms);
    return s;
}

void text_array::add(std::string_view v) {
    if (n_++) s_ += ',';
    s_ += '"';
    for (char c : v) {
        if (c == '"' || c == '\\') s_ += '\\';
        s_ += c;
    }
    s_ += '"';
}

}  // namespace bmm::pg
