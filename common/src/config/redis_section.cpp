#include "bmm/config/redis_section.hpp"

namespace bmm::config {

std::vector<const char*> with_redis_connection_keys(std::initializer_list<const char*> own) {
    std::vector<const char*> keys(own);
    keys.insert(keys.end(), {"host", "port", "password_file", "sentinels", "master_name", "connect_timeout_ms"});
    return keys;
}

void read_redis_connection(const toml_reader& r, redis::settings& out) {
    r.string("host", out.host);
    r.integer("port", out.port, 1, 65535);
    r.string("password_file", out.password_file);
    r.strings("sentinels", out.sentinels);
    r.string("master_name", out.master_name);
    r.integer("connect_timeout_ms", out.connect_timeout_ms, 10, 60000);
    for (const auto& a : out.sentinels) {
        if (auto p = redis::parse_address(a); !p) {
            throw config_error{r.at("sentinels") + ": " + r.name("sentinels") + ": " + p.error_message()};
        }
    }
    if (!out.sentinels.empty() && out.master_name.empty()) {
        throw config_error{r.at("master_name") + ": " + r.name("master_name") +
                           " must not be empty with sentinels: the name the Sentinels monitor the primary under"};
    }
    if (!out.password_file.empty()) {
        if (auto p = redis::read_password(out.password_file); !p) {
            throw config_error{r.at("password_file") + ": " + p.error_message()};
        }
    }
}

void read_replica_wait(const toml_reader& r, redis::replica_wait& out) {
    r.integer(k_wait_replicas_key, out.replicas, 0, 16);
    r.integer(k_wait_timeout_key, out.timeout_ms, 1, 60000);
}

}  // namespace bmm::config
