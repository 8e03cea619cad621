#pragma once
// Test support: synthetic stream records, field for field as bmm-stratum's
// share sink writes them (an accepted LTC scrypt share of instance 3, a
// block it found), for the tests that XADD records themselves; a test sets
// whatever differs (accepted, code, worker, ...) on the map it gets.

#include "stack_pg.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace bmm::test {

// An accepted share of `account` (worker w) at `time_ms`, its target in hex;
// its hash test::fake_pow(uid).
inline std::map<std::string, std::string> share_record(const std::string& account, const std::string& target,
                                                       std::int64_t time_ms, const std::string& uid) {
    return {{"type", "share"},       {"instance", "3"},   {"coin", "LTC"},     {"algorithm", "scrypt"},
            {"account", account},    {"worker", "w"},     {"ip", "127.0.0.1"}, {"job", "1"},
            {"height", "500"},       {"difficulty", "1"}, {"target", target},  {"accepted", "1"},
            {"code", "0"},           {"reason", ""},      {"block", "0"},      {"time_ms", std::to_string(time_ms)},
            {"hash", fake_pow(uid)}, {"uid", uid}};
}

// An accepted block `hash` at `height` found by `account` (worker w) at
// `time_ms`, its reward in base units.
inline std::map<std::string, std::string> block_record(const std::string& hash, const std::string& height,
                                                       const std::string& account, const std::string& reward,
                                                       std::int64_t time_ms, const std::string& uid) {
    return {{"type", "block"},  {"instance", "3"},    {"coin", "LTC"},    {"height", height},
            {"hash", hash},     {"account", account}, {"worker", "w"},    {"job", "1"},
            {"reward", reward}, {"accepted", "1"},    {"answer", "null"}, {"time_ms", std::to_string(time_ms)},
            {"uid", uid}};
}

}  // namespace bmm::test
