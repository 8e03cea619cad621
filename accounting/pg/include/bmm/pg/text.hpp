#pragma once
// Values as PostgreSQL reads them in text: COPY's text format, timestamptz,
// and text[] array literals.

#include <cstdint>
#include <string>
#include <string_view>

namespace bmm::pg {

// A COPY text-format field, with backslash, tab, newline and carriage return
// escaped, appended to `out`.
inline void copy_escape(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += c;
        }
    }
}

// "2026-11-24 18:45:44.123+00" (UTC, ms since 1970) appended to `out`: a
// timestamptz PostgreSQL reads whatever the session's time zone.
void append_timestamp(std::string& out, std::int64_t ms);
// The same text on its own.
std::string timestamp_text(std::int64_t ms);

// A text[] literal ({"a","b"}) built element by element, each quoted and
// escaped, for `= ANY($1::text[])`.
class text_array {
public:
    void add(std::string_view v);
    bool empty() const noexcept { return n_ == 0; }
    std::string str() const { return s_ + '}'; }

private:
    std::string s_ = "{";
    std::size_t n_ = 0;
};

// The literal of a range of strings (or pointers to strings).
template <class Range>
std::string text_array_of(const Range& values) {
    text_array a;
    for (const auto& v : values) {
        if constexpr (requires {
                          *v;
                          std::string_view(*v);
                      }) {
            a.add(*v);
        } else {
            a.add(v);
        }
    }
    return a.str();
}

}  // namespace bmm::pg
