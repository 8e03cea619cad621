#pragma once
// The stream record: the contract between bmm-stratum and bmm-accountd.
//
// bmm-stratum writes one record per share verdict and one per found block,
// first as a line of its journal (a JSON object of text fields), then as a
// Redis stream entry with the same fields; bmm-accountd reads the entries.
// This file is the one definition of that seam (fields, types, optional
// fields, version, encoding and decoding), used by the server, the ingest, the
// ingest bench and the tests, so that the two sides cannot drift apart.
//
// Versions (field "v"):
//   1  the records written before the version field existed: no "v" field.
//      network_target, reward, hash and block_hash are optional.
//   2  "v" = "2". The fields of version 1, plus a promise readers may rely on:
//      a share with a target (every share judged against a known job) carries
//      network_target and reward, and a share with block = 1 its block_hash.
// Optional in every version: "claim", sha256 of the claim=<secret> the
// worker's Stratum password carried (64 hex digits; the secret itself never
// leaves bmm-stratum). A reader that predates it ignores it, as it ignores
// any field it does not know, so the version stays 2.
// A reader takes every version up to k_version and refuses a newer one, whose
// meaning it cannot know: upgrade bmm-accountd before bmm-stratum. Records
// without "v" stay readable as version 1, so journals an older bmm-stratum
// left on disk, and entries it already put in the stream, lose nothing in a
// rolling upgrade.

#include "bmm/result.hpp"
#include "bmm/uint256.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bmm::record {

// The version this build writes and the newest it reads.
inline constexpr int k_version = 2;
// What a record without a "v" field is.
inline constexpr int k_unversioned = 1;

// ---------------------------------------------------------------------------
// Writing: typed records, encoded once, when the journal line is written.
// ---------------------------------------------------------------------------

// One share verdict, accepted or not.
struct share_record {
    std::uint32_t instance = 0;  // [pool] instance_id of the bmm-stratum that judged it
    std::string coin, algorithm;
    std::string account, worker;  // worker: as the miner sent it; account: "" when it names none
    std::string ip;
    std::string job;                // the job id the miner named
    std::int64_t height = 0;        // of the job's template; 0 when the job is unknown
    double difficulty = 0;          // the difficulty the share was judged at
    std::optional<uint256> target;  // its share target; absent when the job is unknown
    bool accepted = false;
    int code = 0;              // Stratum error code (0 when accepted)
    std::string reason;        // the error text the miner heard ("" when accepted)
    std::int64_t time_ms = 0;  // Unix ms of the verdict
    // The job's network target and expected block reward (coinbase value):
    // pplns and pps need them. Present exactly when the target is (version 2).
    std::optional<uint256> network_target;
    std::optional<std::int64_t> reward;
    std::optional<std::string> hash;        // proof-of-work hash, hex, display order (a hashed share)
    std::optional<std::string> block_hash;  // the block it found, hex, display order; present = block 1
    std::optional<std::string> claim;       // sha256(claim secret), hex: the worker's password had claim=<secret>
};

// One block submitted to the node, with the node's answer. bmm-stratum writes
// two per block: one before submitblock (accepted false, answer
// k_block_answer_pending), so that a block the node gets is never without a
// record, and one with the node's answer after it.
inline constexpr std::string_view k_block_answer_pending = "pending: recorded before submitblock";
struct block_record {
    std::uint32_t instance = 0;
    std::string coin;
    std::int64_t height = 0;
    std::string hash;  // hex, display order
    std::string account, worker, job;
    std::int64_t reward = 0;  // the template's coinbase value
    bool accepted = false;    // the node took it
    std::string answer;       // submitblock's answer as text
    std::int64_t time_ms = 0;
};

// The journal line (a JSON object of text fields and a newline) of a record
// of version k_version, with the uid the journal gave it. Bytes that are not
// UTF-8 become U+FFFD (JSON cannot carry them).
std::string to_json_line(const share_record& r, std::string_view uid);
std::string to_json_line(const block_record& r, std::string_view uid);

// ---------------------------------------------------------------------------
// Reading: checked views of a record's fields.
// ---------------------------------------------------------------------------

// A record's fields as they arrive (a stream entry or a journal line).
using field = std::pair<std::string_view, std::string_view>;
using field_span = std::span<const field>;

// A share as read. Text points into the fields given to decode(); numbers are
// parsed and checked; hex fields are checked to be 64 hex digits (target may
// be empty). difficulty_text is the number as sent, to be stored exactly.
struct share_view {
    std::string_view uid;
    std::int64_t instance = 0;
    std::string_view coin, algorithm, account, worker, ip, job;
    std::int64_t height = 0;
    double difficulty = 0;
    std::string_view difficulty_text;
    std::string_view target;  // "" when the job was unknown
    bool accepted = false;
    std::int64_t code = 0;
    std::string_view reason;
    bool block = false;
    std::int64_t time_ms = 0;
    std::optional<std::string_view> hash;  // not checked: stored as sent
    std::optional<std::string_view> network_target;
    std::optional<std::int64_t> reward;
    std::optional<std::string_view> block_hash;
    std::optional<std::string_view> claim;  // checked: 64 hex digits
};

struct block_view {
    std::string_view uid;
    std::int64_t instance = 0;
    std::string_view coin;
    std::int64_t height = 0;
    std::string_view hash, account, worker, job;
    std::int64_t reward = 0;
    bool accepted = false;
    std::string_view answer;
    std::int64_t time_ms = 0;
};

struct decoded {
    int version = k_unversioned;
    std::variant<share_view, block_view> body;
};

// Checks and reads a record. Every field is UTF-8 text without NUL bytes;
// "v" absent is version 1; a newer version than k_version, a missing or
// malformed field, an unknown type are refused with a message naming what is
// wrong (the ingest stores it in ingest_errors). Fields the version does not
// know are ignored.
result<decoded> decode(field_span fields);

// ---------------------------------------------------------------------------
// The journal line as text fields (what the publisher sends with XADD).
// ---------------------------------------------------------------------------

using text_fields = std::vector<std::pair<std::string, std::string>>;

// One JSON object of text fields and a newline; bytes that are not UTF-8
// become U+FFFD.
std::string fields_to_json_line(const text_fields& fields);
// A journal line (without its newline) back into fields; nullopt when it is
// not a JSON object of string values.
std::optional<text_fields> fields_from_json_line(std::string_view line);

// Text as every field must be (PostgreSQL stores it as text): UTF-8 without
// NUL bytes.
bool is_text(std::string_view s);

// The JSON string body (without quotes) of `s`, bytes that are not UTF-8
// replaced by U+FFFD.
std::string json_text(std::string_view s);

}  // namespace bmm::record
