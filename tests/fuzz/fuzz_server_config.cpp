// Fuzzes bmm-stratum's TOML configuration: parse_server_config. The file is
// the operator's, not an attacker's, but a typo must give an error, never a
// crash. Properties: an error is non-empty and names the file; an accepted
// configuration has at least one port, each with min <= start <= max.

#include "fuzz_check.hpp"

#include "bmm/stratum/config.hpp"

#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bmm::fuzz::check;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto c = bmm::stratum::parse_server_config(text, "fuzz.toml");
    if (!c) {
        check(c.error_message().rfind("fuzz.toml", 0) == 0, "a configuration error starts with the file name",
              c.error_message());
        return 0;
    }
    check(!c->ports.empty(), "a configuration has a port");
    for (const auto& p : c->ports) {
        check(p.port >= 1, "a port number is 1..65535");
        check(p.min_difficulty <= p.start_difficulty && p.start_difficulty <= p.max_difficulty,
              "min_difficulty <= start_difficulty <= max_difficulty");
    }
    check(c->instance_id <= 255, "instance_id fits extranonce1's first byte");
    check(c->extranonce2_size >= 1 && c->extranonce2_size <= 8, "extranonce2_size is 1..8");
    return 0;
}
