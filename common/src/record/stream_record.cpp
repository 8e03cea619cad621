#include "bmm/record/stream_record.hpp"

#include "bmm/node/rpc.hpp"

#include <simdjson.h>

#include <charconv>

namespace bmm::record {
namespace {

// ---------------------------------------------------------------------------
// Text and JSON
// ---------------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence at s[i], 0 when there is none.
std::size_t utf8_sequence_at(std::string_view s, std::size_t i) {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = at(i);
    if (c < 0x80) {
        return 1;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) {
            lo = 0xa0;  // no overlong forms
        }
        if (c == 0xed) {
            hi = 0x9f;  // no surrogates
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) {
            lo = 0x90;
        }
        if (c == 0xf4) {
            hi = 0x8f;  // nothing past U+10FFFF
        }
    } else {
        return 0;
    }
    if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < n; ++k) {
        if (at(i + k) < 0x80 || at(i + k) > 0xbf) {
            return 0;
        }
    }
    return n;
}

// Writes a JSON object of text fields, one field at a time.
class json_line {
public:
    void add(std::string_view key, std::string_view value) {
        s_ += s_.size() == 1 ? "\"" : ",\"";
        s_ += json_text(key);
        s_ += "\":\"";
        s_ += json_text(value);
        s_ += '"';
    }
    void add(std::string_view key, std::int64_t value) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, value);
        add(key, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    void add_flag(std::string_view key, bool value) { add(key, std::string_view(value ? "1" : "0")); }
    std::string finish() && {
        s_ += "}\n";
        return std::move(s_);
    }

private:
    std::string s_ = "{";
};

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

// Field lookup by name over the (short) field list. The search starts after
// the last field found: looked up in the order to_json_line writes them, each
// is found in one compare instead of a scan of twenty.
struct fields_cursor {
    field_span f;
    std::size_t next = 0;
    const std::string_view* get(std::string_view k) {
        const std::size_t n = f.size();
        for (std::size_t i = 0, at = next; i < n; ++i, at = at + 1 == n ? 0 : at + 1) {
            if (f[at].first == k) {
                next = at + 1 == n ? 0 : at + 1;
                return &f[at].second;
            }
        }
        return nullptr;
    }
};

// Fields every record of a type must have: the first one missing is reported.
struct required {
    fields_cursor& f;
    std::string missing;
    std::string_view operator()(const char* k) {
        const std::string_view* v = f.get(k);
        if (!v && missing.empty()) {
            missing = std::string("no ") + k + " field";
        }
        return v ? *v : std::string_view();
    }
};

bool parse_int(std::string_view s, std::int64_t& out) {
    if (s.empty()) {
        return false;
    }
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// 64 hex digits (a target or hash as bmm-stratum writes it).
bool hex64(std::string_view s) {
    if (s.size() != 64) {
        return false;
    }
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

// "0" or "1".
bool parse_flag(std::string_view s, bool& out) {
    if (s != "0" && s != "1") {
        return false;
    }
    out = s == "1";
    return true;
}

// The fields every record starts with, checked in the order their messages
// have always come: uid, time_ms, instance, height.
struct head_numbers {
    std::int64_t time_ms = 0, instance = 0, height = 0;
};

result<head_numbers> read_head(std::string_view uid, std::string_view time_ms, std::string_view instance,
                               std::string_view height) {
    head_numbers h;
    if (uid.empty()) {
        return error{"empty uid"};
    }
    if (!parse_int(time_ms, h.time_ms) || h.time_ms <= 0) {
        return error{"time_ms is not a positive integer"};
    }
    if (!parse_int(instance, h.instance)) {
        return error{"instance is not an integer"};
    }
    if (!parse_int(height, h.height)) {
        return error{"height is not an integer"};
    }
    return h;
}

result<decoded> decode_share(fields_cursor& f, int version) {
    required need{f, {}};
    share_view s;
    s.uid = need("uid");
    const std::string_view instance = need("instance");
    s.coin = need("coin");
    s.algorithm = need("algorithm");
    s.account = need("account");
    s.worker = need("worker");
    s.ip = need("ip");
    s.job = need("job");
    const std::string_view height = need("height");
    s.difficulty_text = need("difficulty");
    s.target = need("target");
    const std::string_view accepted = need("accepted"), code = need("code");
    s.reason = need("reason");
    const std::string_view block = need("block"), time_ms = need("time_ms");
    const std::string_view* hash = f.get("hash");
    const std::string_view* network_target = f.get("network_target");
    const std::string_view* reward = f.get("reward");
    const std::string_view* block_hash = f.get("block_hash");
    const std::string_view* claim = f.get("claim");
    if (!need.missing.empty()) {
        return error{std::move(need.missing)};
    }
    const auto head = read_head(s.uid, time_ms, instance, height);
    if (!head) {
        return error{head.error_message()};
    }
    s.time_ms = head->time_ms;
    s.instance = head->instance;
    s.height = head->height;
    if (!parse_int(code, s.code)) {
        return error{"code is not an integer"};
    }
    if (!parse_flag(accepted, s.accepted)) {
        return error{"accepted is not 0 or 1"};
    }
    if (!parse_flag(block, s.block)) {
        return error{"block is not 0 or 1"};
    }
    const std::string_view d = s.difficulty_text;
    double dv = -1;
    const auto dr = std::from_chars(d.data(), d.data() + d.size(), dv);
    if (d.empty() || dr.ec != std::errc() || dr.ptr != d.data() + d.size() || !(dv >= 0)) {
        return error{"difficulty is not a number"};
    }
    s.difficulty = dv;
    if (!s.target.empty() && !hex64(s.target)) {
        return error{"target is not 64 hex digits"};
    }
    if (s.accepted && s.target.empty()) {
        return error{"an accepted share without a target"};
    }
    if (s.account.empty()) {
        return error{"empty account"};
    }
    if (network_target && !hex64(*network_target)) {
        return error{"network_target is not 64 hex digits"};
    }
    if (reward) {
        std::int64_t rw = 0;
        if (!parse_int(*reward, rw) || rw < 0) {
            return error{"reward is not a non-negative integer"};
        }
        s.reward = rw;
    }
    if (block_hash && (!s.block || !hex64(*block_hash))) {
        return error{!s.block ? "block_hash on a share with block 0" : "block_hash is not 64 hex digits"};
    }
    if (claim && !hex64(*claim)) {
        return error{"claim is not 64 hex digits (sha256 of the password's claim secret)"};
    }
    // What version 2 promises on top of version 1.
    if (version >= 2 && !s.target.empty() && (!network_target || !reward)) {
        return error{std::string("a version ") + std::to_string(version) + " share with a target and no " +
                     (!network_target ? "network_target" : "reward")};
    }
    if (version >= 2 && s.block && !block_hash) {
        return error{"a version " + std::to_string(version) + " share with block 1 and no block_hash"};
    }
    if (hash) {
        s.hash = *hash;
    }
    if (network_target) {
        s.network_target = *network_target;
    }
    if (block_hash) {
        s.block_hash = *block_hash;
    }
    if (claim) {
        s.claim = *claim;
    }
    return decoded{version, s};
}

result<decoded> decode_block(fields_cursor& f, int version) {
    required need{f, {}};
    block_view b;
    b.uid = need("uid");
    const std::string_view instance = need("instance");
    b.coin = need("coin");
    const std::string_view height = need("height");
    b.hash = need("hash");
    b.account = need("account");
    b.worker = need("worker");
    b.job = need("job");
    const std::string_view reward = need("reward"), accepted = need("accepted");
    b.answer = need("answer");
    const std::string_view time_ms = need("time_ms");
    if (!need.missing.empty()) {
        return error{std::move(need.missing)};
    }
    const auto head = read_head(b.uid, time_ms, instance, height);
    if (!head) {
        return error{head.error_message()};
    }
    b.time_ms = head->time_ms;
    b.instance = head->instance;
    b.height = head->height;
    if (!parse_int(reward, b.reward) || b.reward < 0) {
        return error{"reward is not a non-negative integer"};
    }
    if (!parse_flag(accepted, b.accepted)) {
        return error{"accepted is not 0 or 1"};
    }
    return decoded{version, b};
}

}  // namespace

bool is_text(std::string_view s) {
    bool ascii = true;
    for (char c : s) {
        if (c == '\0') {
            return false;
        }
        ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    }
    return ascii || simdjson::validate_utf8(s.data(), s.size());
}

std::string json_text(std::string_view s) {
    if (simdjson::validate_utf8(s.data(), s.size())) {
        return node::json_escape(s);
    }
    std::string clean;
    clean.reserve(s.size() + 8);
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_at(s, i);
        if (n == 0) {
            clean += "\xef\xbf\xbd";
            ++i;
        } else {
            clean.append(s.substr(i, n));
            i += n;
        }
    }
    return node::json_escape(clean);
}

// Fields are written in the order decode() looks them up (see fields_cursor).
std::string to_json_line(const share_record& r, std::string_view uid) {
    json_line j;
    j.add("v", std::int64_t{k_version});
    j.add("type", std::string_view("share"));
    j.add("uid", uid);
    j.add("instance", std::int64_t{r.instance});
    j.add("coin", r.coin);
    j.add("algorithm", r.algorithm);
    j.add("account", r.account);
    j.add("worker", r.worker);
    j.add("ip", r.ip);
    j.add("job", r.job);
    j.add("height", r.height);
    char d[64];
    const auto dr = std::to_chars(d, d + sizeof d, r.difficulty);  // shortest text that reads back exactly
    j.add("difficulty", std::string_view(d, static_cast<std::size_t>(dr.ptr - d)));
    j.add("target", r.target ? std::string_view(r.target->to_hex()) : std::string_view());
    j.add_flag("accepted", r.accepted);
    j.add("code", std::int64_t{r.code});
    j.add("reason", r.reason);
    j.add_flag("block", r.block_hash.has_value());
    j.add("time_ms", r.time_ms);
    if (r.hash) {
        j.add("hash", *r.hash);
    }
    if (r.network_target) {
        j.add("network_target", std::string_view(r.network_target->to_hex()));
    }
    if (r.reward) {
        j.add("reward", *r.reward);
    }
    if (r.block_hash) {
        j.add("block_hash", *r.block_hash);
    }
    if (r.claim) {
        j.add("claim", *r.claim);
    }
    return std::move(j).finish();
}

std::string to_json_line(const block_record& r, std::string_view uid) {
    json_line j;
    j.add("v", std::int64_t{k_version});
    j.add("type", std::string_view("block"));
    j.add("uid", uid);
    j.add("instance", std::int64_t{r.instance});
    j.add("coin", r.coin);
    j.add("height", r.height);
    j.add("hash", r.hash);
    j.add("account", r.account);
    j.add("worker", r.worker);
    j.add("job", r.job);
    j.add("reward", r.reward);
    j.add_flag("accepted", r.accepted);
    j.add("answer", r.answer);
    j.add("time_ms", r.time_ms);
    return std::move(j).finish();
}

result<decoded> decode(field_span fields) {
    fields_cursor f{fields};
    int version = k_unversioned;
    if (const std::string_view* v = f.get("v")) {
        std::int64_t n = 0;
        if (!parse_int(*v, n) || n < 1) {
            return error{"v (the record version) is not a positive integer"};
        }
        if (n > k_version) {
            return error{"record version " + std::to_string(n) + " is newer than this bmm-accountd reads (1 to " +
                         std::to_string(k_version) +
                         "): upgrade bmm-accountd, then replay this record from ingest_errors"};
        }
        version = static_cast<int>(n);
    }
    const std::string_view* type = f.get("type");
    if (!type) {
        return error{"no type field"};
    }
    for (const auto& [k, v] : fields) {
        if (!is_text(k) || !is_text(v)) {
            return error{"field " + json_text(k.substr(0, 40)) + " is not UTF-8 text"};
        }
    }
    if (*type == "share") {
        return decode_share(f, version);
    }
    if (*type == "block") {
        return decode_block(f, version);
    }
    return error{"unknown record type \"" + json_text(type->substr(0, 40)) + "\""};
}

std::string fields_to_json_line(const text_fields& fields) {
    json_line j;
    for (const auto& [k, v] : fields) {
        j.add(k, v);
    }
    return std::move(j).finish();
}

std::optional<text_fields> fields_from_json_line(std::string_view line) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (parser.parse(line.data(), line.size()).get(obj)) {
        return std::nullopt;
    }
    text_fields out;
    for (auto [k, v] : obj) {
        std::string_view sv;
        if (v.get(sv)) {
            return std::nullopt;
        }
        out.emplace_back(std::string(k), std::string(sv));
    }
    return out;
}

}  // namespace bmm::record
