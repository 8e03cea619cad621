// The Prometheus text writer (see prometheus.hpp).

#include "bmm/http/prometheus.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

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

// ---------------------------------------------------------------------------
// process_* (the names Prometheus' client libraries use)
// ---------------------------------------------------------------------------

namespace {

std::string read_small_file(const char* path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The fields of /proc/self/stat after the command name (which may hold
// spaces): fields[0] is field 3 (state) of proc(5).
std::vector<std::string> stat_fields() {
    const std::string stat = read_small_file("/proc/self/stat");
    const auto close = stat.rfind(')');
    std::vector<std::string> f;
    if (close == std::string::npos) {
        return f;
    }
    std::istringstream in(stat.substr(close + 1));
    std::string x;
    while (in >> x) {
        f.push_back(x);
    }
    return f;
}

// The boot time (Unix seconds) from /proc/stat's btime line; 0 when absent.
double boot_time() {
    std::istringstream in(read_small_file("/proc/stat"));
    std::string key;
    while (in >> key) {
        if (key == "btime") {
            double t = 0;
            in >> t;
            return t;
        }
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return 0;
}

}  // namespace

void write_process_metrics(text_writer& w) {
    const auto f = stat_fields();
    const long ticks = ::sysconf(_SC_CLK_TCK);
    const long page = ::sysconf(_SC_PAGESIZE);
    // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (field 3 is f[0]).
    const auto field = [&f](std::size_t n) { return n - 3 < f.size() ? std::strtod(f[n - 3].c_str(), nullptr) : -1.0; };
    if (ticks > 0 && f.size() > 21) {
        w.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
        w.sample("process_cpu_seconds_total", {}, (field(14) + field(15)) / static_cast<double>(ticks));
    }
    std::uint64_t fds = 0;
    bool fds_known = false;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        fds_known = true;
        while (const dirent* e = ::readdir(d)) {
            fds += e->d_name[0] != '.' ? 1 : 0;
        }
        ::closedir(d);
        fds -= fds > 0 ? 1 : 0;  // the directory stream's own descriptor
    }
    if (fds_known) {
        w.family("process_open_fds", "gauge", "Number of open file descriptors.");
        w.sample("process_open_fds", {}, fds);
    }
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        w.family("process_max_fds", "gauge", "Maximum number of open file descriptors (the soft RLIMIT_NOFILE).");
        w.sample(
            "process_max_fds", {},
            rl.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity() : static_cast<double>(rl.rlim_cur));
    }
    if (f.size() > 21) {
        w.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        w.sample("process_virtual_memory_bytes", {}, field(23));
        if (page > 0) {
            w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
            w.sample("process_resident_memory_bytes", {}, field(24) * static_cast<double>(page));
        }
        const double boot = boot_time();
        if (ticks > 0 && boot > 0) {
            w.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
            w.sample("process_start_time_seconds", {}, boot + field(22) / static_cast<double>(ticks));
        }
    }
}

}  // namespace bmm::prometheus
