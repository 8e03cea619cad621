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

// The keys read_replica_wait reads ("wait_replicas", "wait_timeout_ms"), for
// the sections of the programs that WAIT.
inline constexpr const char* k_wait_replicas_key = "wait_replicas";
inline constexpr const char* k_wait_timeout_key = "wait_timeout_ms";

// Reads wait_replicas (0 to 16) and wait_timeout_ms (1 to 60000) into `out`
// (absent ones keep their value); throws config_error.
void read_replica_wait(const toml_reader& r, redis::replica_wait& out);

}  // namespace bmm::config
