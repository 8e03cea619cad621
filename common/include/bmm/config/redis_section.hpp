#pragma once
// The connection keys every program's [redis] section shares (bmm-stratum,
// bmm-accountd and what reads bmm-accountd's file): host, port,
// password_file, sentinels, master_name, connect_timeout_ms. Read with the
// section's toml_reader; errors name the file, line and key.

#include "bmm/config/toml_reader.hpp"
#include "bmm/redis/connect.hpp"

#include <initializer_list>
#include <vector>

namespace bmm::config {

// `own` and the keys read_redis_connection reads, for the section's only().
std::vector<const char*> with_redis_connection_keys(std::initializer_list<const char*> own);

// Reads the keys into `out` (absent ones keep their value) and checks them
// (bmm::redis::check: Sentinel addresses, the password file readable and not
// empty); throws config_error.
void read_redis_connection(const toml_reader& r, redis::settings& out);

}  // namespace bmm::config
