#pragma once
// What the fuzz targets share: a check that turns a broken property into a
// crash libFuzzer reports (with the input that broke it), and the tests that
// text is valid JSON or fit for a log line.

#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace bmm::fuzz {

// Aborts with `what` when `ok` is false: libFuzzer then saves the input as a
// crash-* file and the run fails.
inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
    if (ok) return;
    std::fprintf(stderr, "fuzz property broken: %.*s [%.*s]\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// True when simdjson (strict RFC 8259, UTF-8 checked) accepts text as JSON.
inline bool is_json(std::string_view text) {
    static simdjson::dom::parser parser;  // its own: callers' parsers hold live documents
    simdjson::dom::element e;
    return parser.parse(text.data(), text.size()).get(e) == simdjson::SUCCESS;
}

// True when text is one line with no control characters: safe in a log line
// or a reply's error message, whatever the input was.
inline bool is_one_clean_line(std::string_view text) {
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return false;
    }
    return true;
}

inline std::string lower(std::string_view v) {
    std::string s(v);
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

}  // namespace bmm::fuzz
