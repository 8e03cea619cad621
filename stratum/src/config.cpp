#include "bmm/stratum/config.hpp"

#include "bmm/config/toml_reader.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

namespace bmm::stratum {
namespace {

// The generic TOML helpers (file:line:col errors, ${ENV}, unknown keys
// refused) live in common/ (bmm/config/toml_reader.hpp), shared with bmm-accountd.
using config::config_error;
using config::section;
using config::where;
using reader = config::toml_reader;

server_config parse(const toml::table& root, const std::string& file) {
    server_config c;
    c.file = file;
    reader top(root, file, "");
    top.only({"pool", "node", "redis", "log", "port"});

    const auto& pool = section(root, "pool", file, true);
    reader p(pool, file, "pool");
    p.only({"instance_id", "algorithm", "coin", "address", "tag", "extranonce2_size", "version_mask", "threads"});
    p.integer("instance_id", c.instance_id, 0, 255);
    std::string algorithm = "scrypt";
    p.string("algorithm", algorithm);
    auto a = parse_pow_algorithm(algorithm);
    if (!a) throw config_error{p.at("algorithm") + ": [pool] algorithm: " + a.error_message()};
    c.algorithm = *a;
    p.string("coin", c.coin);
    p.string("address", c.address, true);
    if (c.address.empty()) throw config_error{p.at("address") + ": [pool] address must not be empty"};
    p.string("tag", c.tag);
    if (c.tag.size() > 40) throw config_error{p.at("tag") + ": [pool] tag must be at most 40 bytes"};
    p.integer("extranonce2_size", c.extranonce2_size, 2, 8);
    std::string mask = "1fffe000";
    p.string("version_mask", mask);
    // Hex digits only: strtoul alone would take "-1", "+f", " f" and "0x1f".
    const bool hex = std::all_of(mask.begin(), mask.end(), [](unsigned char ch) { return std::isxdigit(ch) != 0; });
    const unsigned long m = std::strtoul(mask.c_str(), nullptr, 16);
    if (mask.empty() || mask.size() > 8 || !hex)
        throw config_error{p.at("version_mask") + ": [pool] version_mask must be up to 8 hex digits, e.g. \"1fffe000\""};
    c.version_mask = static_cast<std::uint32_t>(m);
    p.integer("threads", c.threads, 0, 256);

    const auto& node = section(root, "node", file, true);
    reader n(node, file, "node");
    n.only({"url", "user", "password", "rules", "template_refresh_seconds", "poll_seconds"});
    n.string("url", c.node_url, true);
    if (c.node_url.rfind("http://", 0) != 0)
        throw config_error{n.at("url") + ": [node] url must start with http://, e.g. \"http://127.0.0.1:9332/\""};
    n.string("user", c.node_user, true);
    n.string("password", c.node_password, true);
    n.strings("rules", c.rules);
    n.number("template_refresh_seconds", c.template_refresh_seconds, 1, 3600);
    n.number("poll_seconds", c.poll_seconds, 0.05, 60);

    const auto& redis = section(root, "redis", file, false);
    reader r(redis, file, "redis");
    r.only({"host", "port", "stream", "spool_dir"});
    r.string("host", c.redis_host);
    r.integer("port", c.redis_port, 1, 65535);
    r.string("stream", c.stream);
    r.string("spool_dir", c.spool_dir, true);

    const auto& log = section(root, "log", file, false);
    reader l(log, file, "log");
    l.only({"level"});
    l.string("level", c.log_level);
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
        throw config_error{l.at("level") + ": [log] level must be debug, info, warn or error"};

    const toml::node* ports = root.get("port");
    const toml::array* pa = ports ? ports->as_array() : nullptr;
    if (!pa || pa->empty())
        throw config_error{file + ": at least one [[port]] section is required (host, port, start_difficulty, ...)"};
    for (const auto& e : *pa) {
        const toml::table* t = e.as_table();
        if (!t) throw config_error{where(file, e.source()) + ": [[port]] entries must be sections"};
        reader q(*t, file, "port");
        q.only({"host", "port", "tls", "start_difficulty", "min_difficulty", "max_difficulty", "target_share_seconds",
                "retarget_seconds"});
        port_config pc;
        q.string("host", pc.host);
        q.integer("port", pc.port, 1, 65535);
        q.boolean("tls", pc.tls);
        q.number("min_difficulty", pc.min_difficulty, 1e-12, 1e15);
        q.number("max_difficulty", pc.max_difficulty, 1e-12, 1e15);
        pc.start_difficulty = std::max(pc.min_difficulty, std::min(pc.start_difficulty, pc.max_difficulty));
        q.number("start_difficulty", pc.start_difficulty, 1e-12, 1e15);
        q.number("target_share_seconds", pc.target_share_seconds, 0.01, 3600);
        q.number("retarget_seconds", pc.retarget_seconds, 0.1, 86400);
        if (pc.min_difficulty > pc.max_difficulty)
            throw config_error{where(file, t->source()) + ": [[port]] min_difficulty is above max_difficulty"};
        if (pc.start_difficulty < pc.min_difficulty || pc.start_difficulty > pc.max_difficulty)
            throw config_error{q.at("start_difficulty") +
                               ": [[port]] start_difficulty must lie between min_difficulty and max_difficulty"};
        if (pc.tls) throw config_error{q.at("tls") + ": [[port]] tls is not supported by this build yet"};
        c.ports.push_back(pc);
    }
    return c;
}

}  // namespace

result<server_config> parse_server_config(std::string_view text, const std::string& name) {
    try {
        toml::table root = toml::parse(text, name);
        return parse(root, name);
    } catch (const toml::parse_error& e) {
        return error{where(name, e.source()) + ": " + std::string(e.description())};
    } catch (const config_error& e) {
        return error{e.message};
    }
}

result<server_config> load_server_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) return error{path + ": cannot read the configuration file"};
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_server_config(ss.str(), path);
}

}  // namespace bmm::stratum
