#pragma once
// The project's one JSON writer: string escaping for every program (Stratum
// replies, node JSON-RPC, the share journal, the read API, bmm-bench reports)
// and a small streaming writer that places commas and colons for the caller.
//
// Escaping: '"' and '\' get a backslash; \n, \r and \t their short forms;
// other control bytes (below 0x20) and DEL (0x7f) become \u00XX. Every other
// byte is copied as is, so UTF-8 passes through unchanged; callers that may
// hold bytes that are not UTF-8 clean them first (the JSON is then still
// well formed, but a strict reader would refuse it).

#include <string>
#include <string_view>
#include <type_traits>

namespace bmm::json {

// Appends `s` escaped, without quotes.
void append_escaped(std::string& out, std::string_view s);
// `s` escaped, without quotes.
std::string escape(std::string_view s);
// `s` escaped, inside double quotes.
std::string quoted(std::string_view s);

// Builds one JSON text in order: every value follows a key inside an object,
// or stands alone inside an array or at the top. Nothing is checked beyond
// that (the caller closes what it opens); the writer only places separators.
class writer {
public:
    writer& begin_object();
    writer& end_object();
    writer& begin_array();
    writer& end_array();
    writer& key(std::string_view k);
    writer& str(std::string_view v);
    // A number already printed as JSON (an integer PostgreSQL returned, say):
    // written as is; empty text is written as 0.
    writer& raw_number(std::string_view v);
    // Any integer type, exactly.
    template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) writer& number(T v) {
        value_prefix();
        out_ += std::to_string(v);
        return *this;
    }
    // Integers exactly, others in the shortest form that reads back the same;
    // NaN and infinities (which JSON cannot hold) as null.
    writer& number(double v);
    writer& boolean(bool v);
    writer& null();
    // Text already encoded as one JSON value (an object from elsewhere).
    writer& raw(std::string_view json_value);

    const std::string& text() const noexcept { return out_; }
    std::string take() { return std::move(out_); }

private:
    void value_prefix();
    std::string out_;
    bool first_ = true;
    bool after_key_ = false;
};

}  // namespace bmm::json
