#include "bmm/stratum/config.hpp"

#include "bmm/config/redis_section.hpp"
#include "bmm/config/toml_reader.hpp"
#include "bmm/stratum/protocol.hpp"
#include "bmm/stratum/tls.hpp"

#include <arpa/inet.h>
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

bool is_ip_address(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}


server_config parse(const toml::table& root, const std::string& file) {
    server_config c;
    c.file = file;
    reader top(root, file, "");
    top.only({"pool", "node", "redis", "log", "limits", "metrics", "port"});

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
        throw config_error{p.at("version_mask") +
                           ": [pool] version_mask must be up to 8 hex digits, e.g. \"1fffe000\""};
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
    r.only(config::with_redis_connection_keys({"stream", "spool_dir", "journal_sync", "journal_sync_interval_ms",
                                               config::k_wait_replicas_key, config::k_wait_timeout_key}));
    config::read_redis_connection(r, c.redis);
    config::read_replica_wait(r, c.wait);
    r.string("stream", c.stream);
    if (c.stream.empty()) {
        throw config_error{r.at("stream") +
                           ": [redis] stream must not be empty, e.g. \"bmm:shares\" or, one per "
                           "instance, \"bmm:shares:{1}\""};
    }
    r.string("spool_dir", c.spool_dir, true);
    r.string("journal_sync", c.journal_sync);
    if (c.journal_sync != "batch" && c.journal_sync != "interval" && c.journal_sync != "none") {
        throw config_error{r.at("journal_sync") +
                           ": [redis] journal_sync must be \"batch\", \"interval\" or \"none\" (docs/operations.md, "
                           "Durability)"};
    }
    r.integer("journal_sync_interval_ms", c.journal_sync_interval_ms, 1, 10000);

    const auto& log = section(root, "log", file, false);
    reader l(log, file, "log");
    l.only({"level"});
    l.string("level", c.log_level);
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error")
        throw config_error{l.at("level") + ": [log] level must be debug, info, warn or error"};

    const auto& limits = section(root, "limits", file, false);
    reader lm(limits, file, "limits");
    lm.only({"max_connections", "max_connections_per_ip", "max_line_bytes", "max_pending_requests",
             "max_workers_per_connection", "max_write_queue_bytes", "idle_timeout_seconds", "half_open_timeout_seconds",
             "tls_handshake_timeout_seconds", "ban_threshold", "ban_half_life_seconds", "ban_seconds",
             "max_shares_per_second", "free_rejects_per_minute"});
    limits_config& lim = c.limits;
    lm.integer("max_connections", lim.max_connections, 1, 10000000);
    lm.integer("max_connections_per_ip", lim.max_connections_per_ip, 1, 10000000);
    lm.integer("max_line_bytes", lim.max_line_bytes, 256, static_cast<std::int64_t>(k_max_line));
    lm.integer("max_pending_requests", lim.max_pending_requests, 1, 1000000);
    lm.integer("max_workers_per_connection", lim.max_workers_per_connection, 1, 100000);
    lm.integer("max_write_queue_bytes", lim.max_write_queue_bytes, 4096, std::int64_t{1} << 32);
    lm.number("idle_timeout_seconds", lim.idle_timeout_seconds, 1, 86400 * 7);
    lm.number("half_open_timeout_seconds", lim.half_open_timeout_seconds, 1, 86400);
    lm.number("tls_handshake_timeout_seconds", lim.tls_handshake_timeout_seconds, 0.5, 3600);
    lm.number("ban_threshold", lim.ban_threshold, 0, 1e9);
    lm.number("ban_half_life_seconds", lim.ban_half_life_seconds, 1, 86400 * 7);
    lm.number("ban_seconds", lim.ban_seconds, 1, 86400 * 365);
    lm.number("max_shares_per_second", lim.max_shares_per_second, 0, 1e6);
    lm.number("free_rejects_per_minute", lim.free_rejects_per_minute, 0, 1e6);
    if (lim.max_connections_per_ip > lim.max_connections)
        throw config_error{lm.at("max_connections_per_ip") +
                           ": [limits] max_connections_per_ip must not exceed max_connections"};

    const auto& metrics = section(root, "metrics", file, false);
    reader mt(metrics, file, "metrics");
    mt.only({"host", "port", "worker_series", "hashrate_window_seconds"});
    mt.string("host", c.metrics_host);
    mt.integer("port", c.metrics_port, 0, 65535);
    mt.integer("worker_series", c.metrics_worker_series, 0, 100000);
    mt.number("hashrate_window_seconds", c.metrics_hashrate_window_seconds, 10, 86400);
    if (!is_ip_address(c.metrics_host))
        throw config_error{mt.at("host") + ": [metrics] host must be an IP address, e.g. \"127.0.0.1\" (got \"" +
                           c.metrics_host + "\")"};

    const toml::node* ports = root.get("port");
    const toml::array* pa = ports ? ports->as_array() : nullptr;
    if (!pa || pa->empty())
        throw config_error{file + ": at least one [[port]] section is required (host, port, start_difficulty, ...)"};
    for (const auto& e : *pa) {
        const toml::table* t = e.as_table();
        if (!t) throw config_error{where(file, e.source()) + ": [[port]] entries must be sections"};
        reader q(*t, file, "port");
        q.only({"host", "port", "tls", "tls_cert", "tls_key", "start_difficulty", "min_difficulty", "max_difficulty",
                "target_share_seconds", "retarget_seconds"});
        port_config pc;
        pc.min_difficulty = default_min_difficulty(c.algorithm);
        q.string("host", pc.host);
        q.integer("port", pc.port, 1, 65535);
        q.boolean("tls", pc.tls);
        q.string("tls_cert", pc.tls_cert);
        q.string("tls_key", pc.tls_key);
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
        if (pc.tls) {
            // Load the pair now so that a wrong file stops the start, with its line here.
            auto ctx = tls::make_server_context(pc.tls_cert, pc.tls_key);
            if (!ctx) {
                // The message starts with the setting it is about.
                const std::string& msg = ctx.error_message();
                const char* key = msg.rfind("tls_cert", 0) == 0  ? "tls_cert"
                                  : msg.rfind("tls_key", 0) == 0 ? "tls_key"
                                                                 : "tls";
                if (!t->get(key)) key = "tls";
                throw config_error{q.at(key) + ": [[port]] " + msg};
            }
        } else if (!pc.tls_cert.empty() || !pc.tls_key.empty()) {
            throw config_error{q.at(pc.tls_cert.empty() ? "tls_key" : "tls_cert") +
                               ": [[port]] tls_cert and tls_key are only used with tls = true"};
        }
        c.ports.push_back(pc);
    }
    return c;
}

}  // namespace

double miner_hashes_per_share(pow_algorithm a, double difficulty) noexcept {
    return difficulty * (a == pow_algorithm::sha256d ? 4294967296.0 : 65536.0);
}

// Measured on one core of this project's 2-core machine (docs/operations.md,
// "Free shares"): about 150 us of the pool's CPU per share from the socket to
// its database row, against 37 us per scrypt hash and 3 us per sha256d hash on
// the same core.
double pool_hashes_per_share(pow_algorithm a) noexcept { return a == pow_algorithm::sha256d ? 50 : 4; }

double share_cost_floor(pow_algorithm a) noexcept {
    const double wanted = k_share_cost_ratio * pool_hashes_per_share(a) / miner_hashes_per_share(a, 1);
    return std::exp2(std::ceil(std::log2(wanted)));
}

double default_min_difficulty(pow_algorithm a) noexcept { return std::max(0.001, share_cost_floor(a)); }

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
