// The JSON writer (see writer.hpp).

#include "bmm/json/writer.hpp"

#include <charconv>
#include <cmath>

namespace bmm::json {

void append_escaped(std::string& out, std::string_view s) {
    static constexpr char k_hex[] = "0123456789abcdef";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out += k_hex[c >> 4];
                    out += k_hex[c & 15];
                } else {
                    out += ch;
                }
        }
    }
}

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    append_escaped(out, s);
    return out;
}

std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 4);
    out += '"';
    append_escaped(out, s);
    out += '"';
    return out;
}

void writer::value_prefix() {
    if (after_key_) {
        after_key_ = false;
    } else if (!first_) {
        out_ += ',';
    }
    first_ = false;
}

writer& writer::begin_object() {
    value_prefix();
    out_ += '{';
    first_ = true;
    return *this;
}

writer& writer::end_object() {
    out_ += '}';
    first_ = false;
    return *this;
}

writer& writer::begin_array() {
    value_prefix();
    out_ += '[';
    first_ = true;
    return *this;
}

writer& writer::end_array() {
    out_ += ']';
    first_ = false;
    return *this;
}

writer& writer::key(std::string_view k) {
    if (!first_) {
        out_ += ',';
    }
    out_ += '"';
    append_escaped(out_, k);
    out_ += "\":";
    after_key_ = true;
    return *this;
}

writer& writer::str(std::string_view v) {
    value_prefix();
    out_ += '"';
    append_escaped(out_, v);
    out_ += '"';
    return *this;
}

writer& writer::raw_number(std::string_view v) {
    value_prefix();
    out_ += v.empty() ? "0" : v;
    return *this;
}

writer& writer::number(double v) {
    value_prefix();
    if (!std::isfinite(v)) {
        out_ += "null";
        return *this;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
    return *this;
}

writer& writer::boolean(bool v) {
    value_prefix();
    out_ += v ? "true" : "false";
    return *this;
}

writer& writer::null() {
    value_prefix();
    out_ += "null";
    return *this;
}

writer& writer::raw(std::string_view json_value) {
    value_prefix();
    out_ += json_value;
    return *this;
}

}  // namespace bmm::json
