// The Prometheus text writer (see prometheus.hpp).

#include "bmm/http/prometheus.hpp"

#include <charconv>
#include <cmath>

namespace bmm::prometheus {

void histogram_data::merge(const histogram_data& o) {
    if (bounds.empty() && counts.empty()) {
        *this = o;
        return;
    }
    for (std::size_t i = 0; i < counts.size() && i < o.counts.size(); ++i) counts[i] += o.counts[i];
    sum += o.sum;
    count += o.count;
}

namespace {

// Backslash and newline as \\ and \n; the double quote as \" only inside
// label values (HELP text keeps it as it is).
std::string escape(std::string_view v, bool quote) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quote) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::string escape_label_value(std::string_view v) { return escape(v, true); }

std::string escape_help(std::string_view v) { return escape(v, false); }

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) return std::to_string(static_cast<std::int64_t>(v));
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);  // like %g: 0.0001, 1e-05
    return std::string(buf, r.ptr);
}

void text_writer::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void text_writer::series(std::string_view name, const labels& l, const std::pair<std::string, std::string>* extra) {
    out_ += name;
    bool first = true;
    auto put = [&](const std::string& k, const std::string& v) {
        out_ += first ? '{' : ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
    };
    for (const auto& [k, v] : constant_) put(k, v);
    for (const auto& [k, v] : l) put(k, v);
    if (extra) put(extra->first, extra->second);
    if (!first) out_ += '}';
    out_ += ' ';
}

void text_writer::sample(std::string_view name, const labels& l, double v) {
    series(name, l, nullptr);
    out_ += format_value(v);
    out_ += '\n';
}

void text_writer::sample(std::string_view name, const labels& l, std::uint64_t v) {
    series(name, l, nullptr);
    out_ += std::to_string(v);
    out_ += '\n';
}

void text_writer::histogram(std::string_view name, const labels& l, const histogram_data& h) {
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        const std::pair<std::string, std::string> le{"le", format_value(h.bounds[i])};
        series(bucket, l, &le);
        out_ += std::to_string(cumulative);
        out_ += '\n';
    }
    const std::pair<std::string, std::string> inf{"le", "+Inf"};
    series(bucket, l, &inf);
    out_ += std::to_string(h.count);
    out_ += '\n';
    sample(std::string(name) + "_sum", l, h.sum);
    sample(std::string(name) + "_count", l, h.count);
}

}  // namespace bmm::prometheus
