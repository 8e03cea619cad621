#pragma once
// Reading one section of a TOML configuration file with errors that name the
// file, line, column and setting ("f.toml:4:8: [redis] port must be an integer
// from 1 to 65535"). "${NAME}" in strings (and in integers given as strings)
// reads the environment. Unknown keys are refused: a typo silently ignored is
// worse than an error.
//
// The parser side throws config_error; parse functions catch it at their
// boundary and return result<T> (see accounting/src/config.cpp).
// Used by stratum/src/config.cpp and accounting/src/config.cpp.

#include <toml++/toml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace bmm::config {

struct config_error {
    std::string message;
};

// "file:line:col", or the file alone when the region is unknown.
std::string where(const std::string& file, const toml::source_region& r);

// Expands ${NAME} from the environment; throws config_error naming `at` and `key`.
std::string expand_env(const std::string& s, const std::string& at, const std::string& key);

class toml_reader {
public:
    toml_reader(const toml::table& t, std::string file, std::string section)
        : t_(t), file_(std::move(file)), section_(std::move(section)) {}

    std::string name(const char* key) const;  // "[section] key"
    std::string at(const char* key) const;    // where the key (or the section) is

    // Each reads `key` into `out` when present and leaves `out` alone when absent.
    void string(const char* key, std::string& out, bool required = false) const;
    void integer(const char* key, std::int64_t& out, std::int64_t lo, std::int64_t hi) const;
    template <class Int>
    void integer(const char* key, Int& out, std::int64_t lo, std::int64_t hi) const {
        std::int64_t v = static_cast<std::int64_t>(out);
        integer(key, v, lo, hi);
        out = static_cast<Int>(v);
    }
    void number(const char* key, double& out, double lo, double hi) const;
    void boolean(const char* key, bool& out) const;
    void strings(const char* key, std::vector<std::string>& out) const;
    void only(std::initializer_list<const char*> keys) const;
    void only(const std::vector<const char*>& keys) const;

private:
    const toml::table& t_;
    std::string file_, section_;
};

// The sub-table `name` of root (an empty table when absent and not required).
const toml::table& section(const toml::table& root, const char* name, const std::string& file, bool required);

}  // namespace bmm::config
