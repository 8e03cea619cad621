#include "bmm/config/toml_reader.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace bmm::config {

std::string where(const std::string& file, const toml::source_region& r) {
    if (!r.begin) return file;
    return file + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

std::string expand_env(const std::string& s, const std::string& at, const std::string& key) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        if (s.compare(i, 2, "${") == 0) {
            const std::size_t end = s.find('}', i + 2);
            if (end == std::string::npos) throw config_error{at + ": " + key + ": unterminated ${ in \"" + s + "\""};
            const std::string var = s.substr(i + 2, end - i - 2);
            const char* v = std::getenv(var.c_str());
            if (!v) throw config_error{at + ": " + key + ": environment variable " + var + " is not set"};
            out += v;
            i = end + 1;
        } else {
            out += s[i++];
        }
    }
    return out;
}

std::string toml_reader::name(const char* key) const {
    if (section_.empty()) return key;
    std::string s = "[";
    s += section_;
    s += "] ";
    s += key;
    return s;
}

std::string toml_reader::at(const char* key) const {
    const toml::node* n = t_.get(key);
    return where(file_, n ? n->source() : t_.source());
}

void toml_reader::string(const char* key, std::string& out, bool required) const {
    const toml::node* n = t_.get(key);
    if (!n) {
        if (required) throw config_error{where(file_, t_.source()) + ": " + name(key) + " is required"};
        return;
    }
    auto v = n->value<std::string>();
    if (!v) throw config_error{at(key) + ": " + name(key) + " must be a string"};
    out = expand_env(*v, at(key), name(key));
}

void toml_reader::integer(const char* key, std::int64_t& out, std::int64_t lo, std::int64_t hi) const {
    const toml::node* n = t_.get(key);
    if (!n) return;
    std::optional<std::int64_t> v;
    if (n->is_integer()) {
        v = n->value<std::int64_t>();
    } else if (auto str = n->value<std::string>()) {
        // "${NAME}" references give integers as strings.
        const std::string text = expand_env(*str, at(key), name(key));
        char* end = nullptr;
        const long long parsed = std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && end && *end == '\0') v = parsed;
    }
    if (!v || *v < lo || *v > hi)
        throw config_error{at(key) + ": " + name(key) + " must be an integer from " + std::to_string(lo) + " to " +
                           std::to_string(hi)};
    out = *v;
}

void toml_reader::number(const char* key, double& out, double lo, double hi) const {
    const toml::node* n = t_.get(key);
    if (!n) return;
    auto v = n->value<double>();
    if (!v || !std::isfinite(*v) || *v < lo || *v > hi) {
        std::ostringstream m;
        m << at(key) << ": " << name(key) << " must be a number from " << lo << " to " << hi;
        throw config_error{m.str()};
    }
    out = *v;
}

void toml_reader::strings(const char* key, std::vector<std::string>& out) const {
    const toml::node* n = t_.get(key);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) throw config_error{at(key) + ": " + name(key) + " must be an array of strings"};
    out.clear();
    for (const auto& e : *a) {
        auto v = e.value<std::string>();
        if (!v) throw config_error{at(key) + ": " + name(key) + " must be an array of strings"};
        out.push_back(*v);
    }
}

void toml_reader::boolean(const char* key, bool& out) const {
    const toml::node* n = t_.get(key);
    if (!n) return;
    auto v = n->value<bool>();
    if (!v) throw config_error{at(key) + ": " + name(key) + " must be true or false"};
    out = *v;
}

void toml_reader::only(std::initializer_list<const char*> keys) const { only(std::vector<const char*>(keys)); }

void toml_reader::only(const std::vector<const char*>& keys) const {
    for (const auto& [k, v] : t_) {
        bool known = false;
        for (const char* key : keys) known = known || k.str() == key;
        if (!known)
            throw config_error{where(file_, v.source()) + ": unknown setting " + name(std::string(k.str()).c_str())};
    }
}

const toml::table& section(const toml::table& root, const char* name, const std::string& file, bool required) {
    static const toml::table empty;
    const toml::node* n = root.get(name);
    if (!n) {
        if (required) throw config_error{file + ": section [" + std::string(name) + "] is required"};
        return empty;
    }
    const toml::table* t = n->as_table();
    if (!t) throw config_error{where(file, n->source()) + ": " + name + " must be a section ([" + name + "])"};
    return *t;
}

}  // namespace bmm::config
