#pragma once
// bmm-stratum's configuration: one TOML file (see deploy/config/bmm-stratum.toml).
//
// Every value is checked when the file is loaded; an error names the file,
// the line and column, the setting, and what was expected. String values may
// refer to environment variables as ${NAME} (secrets such as the node's RPC
// password stay out of the file); a reference to an unset variable is an
// error.

#include "bmm/result.hpp"
#include "bmm/target.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bmm::stratum {

struct port_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3333;
    bool tls = false;
    double start_difficulty = 1;
    double min_difficulty = 0.001;
    double max_difficulty = 1e12;
    double target_share_seconds = 10;   // vardiff aims at one share per this many seconds
    double retarget_seconds = 30;       // how often vardiff may change a miner's difficulty
};

struct server_config {
    std::string file;  // where it was loaded from, for messages

    // [pool]
    std::uint32_t instance_id = 0;       // 0..255: extranonce1's first byte
    pow_algorithm algorithm = pow_algorithm::scrypt;
    std::string coin = "LTC";
    std::string address;                 // the pool's payout address
    std::string tag = "/BMM pool/";
    std::size_t extranonce2_size = 4;
    std::uint32_t version_mask = 0x1fffe000;
    unsigned threads = 0;                // loops; 0 = one per core

    // [node]
    std::string node_url;
    std::string node_user;
    std::string node_password;
    std::vector<std::string> rules = {"mweb", "segwit"};
    double template_refresh_seconds = 20;  // a fresh template (fees) at least this often
    double poll_seconds = 1;               // fallback polling when long polling is unavailable

    // [redis]
    std::string redis_host = "127.0.0.1";
    std::uint16_t redis_port = 6379;
    std::string stream = "bmm:shares";
    std::string spool_dir;               // the journal of verdicts not yet in Redis

    // [log]
    std::string log_level = "info";

    std::vector<port_config> ports;
};

// Loads and checks a configuration file.
result<server_config> load_server_config(const std::string& path);
// The same from text (tests), with `name` used in messages.
result<server_config> parse_server_config(std::string_view text, const std::string& name);

}  // namespace bmm::stratum
