// The stream record (common/src/record/stream_record.cpp): what bmm-stratum
// writes reads back field for field, every optional field may be absent,
// records without a version read as version 1, a newer version and malformed
// fields are refused with the message the ingest stores in ingest_errors.

#include "bmm/record/stream_record.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bmm::record {
namespace {

const std::string k_target = "00000000ffff0000000000000000000000000000000000000000000000000000";
const std::string k_network = "0000000000000fffff0000000000000000000000000000000000000000000000";
const std::string k_hash = "00000000000000000000000000000000000000000000000000000000000000ab";
const std::string k_block = "0000000000000000000000000000000000000000000000000000000000000c0d";

// A share judged against a known job that found a block: every field set.
share_record full_share() {
    share_record r;
    r.instance = 7;
    r.coin = "LTC";
    r.algorithm = "scrypt";
    r.account = "alice";
    r.worker = "alice.rig\t1 \"quoted\" \xc3\xaf";
    r.ip = "127.0.0.1";
    r.job = "5f";
    r.height = 432;
    r.difficulty = 0.001;
    r.target = *uint256::from_hex(k_target);
    r.accepted = true;
    r.code = 0;
    r.reason = "";
    r.time_ms = 1700000000123;
    r.network_target = *uint256::from_hex(k_network);
    r.reward = 1250000000;
    r.hash = k_hash;
    r.block_hash = k_block;
    return r;
}

// A record as the wire carries it: fields owned here, viewed for decode().
struct wire {
    text_fields owned;
    std::vector<field> views;
    explicit wire(text_fields f) : owned(std::move(f)) {
        for (const auto& [k, v] : owned) views.emplace_back(k, v);
    }
    // The views point into this wire: keep it alive while they are used.
    result<decoded> decode() const { return record::decode(views); }
};

// The journal line of a record, read back as the publisher reads it.
wire through_journal(const std::string& line) {
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one record, one line";
    auto fields = fields_from_json_line(std::string_view(line).substr(0, line.size() - 1));
    EXPECT_TRUE(fields.has_value()) << line;
    return wire(fields ? *fields : text_fields{});
}

// A version 1 share, field for field as bmm-stratum wrote it before the
// version existed (uid last, as the sink added it).
text_fields version1_share() {
    return {{"type", "share"},    {"instance", "7"},
            {"coin", "LTC"},      {"algorithm", "scrypt"},
            {"account", "alice"}, {"worker", "alice.rig1"},
            {"ip", "127.0.0.1"},  {"job", "5f"},
            {"height", "432"},    {"difficulty", "0.001"},
            {"target", k_target}, {"accepted", "1"},
            {"code", "0"},        {"reason", ""},
            {"block", "0"},       {"time_ms", "1700000000123"},
            {"hash", k_hash},     {"uid", "7:1700000000000:1"}};
}

text_fields with(text_fields f, const std::string& key, const std::string& value) {
    for (auto& [k, v] : f) {
        if (k == key) {
            v = value;
            return f;
        }
    }
    f.emplace_back(key, value);
    return f;
}

text_fields without(text_fields f, const std::string& key) {
    std::erase_if(f, [&](const auto& kv) { return kv.first == key; });
    return f;
}

std::string refusal(const text_fields& f) {
    auto d = wire(f).decode();
    return d ? std::string("<accepted>") : d.error_message();
}

TEST(stream_record, share_round_trips_through_the_journal_line) {
    const share_record r = full_share();
    const wire w = through_journal(to_json_line(r, "7:1700000000000:42"));
    EXPECT_EQ(w.owned.front(), (std::pair<std::string, std::string>{"v", std::to_string(k_version)}));
    auto d = w.decode();
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->version, k_version);
    const auto* s = std::get_if<share_view>(&d->body);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->uid, "7:1700000000000:42");
    EXPECT_EQ(s->instance, 7);
    EXPECT_EQ(s->coin, r.coin);
    EXPECT_EQ(s->algorithm, r.algorithm);
    EXPECT_EQ(s->account, r.account);
    EXPECT_EQ(s->worker, r.worker);
    EXPECT_EQ(s->ip, r.ip);
    EXPECT_EQ(s->job, r.job);
    EXPECT_EQ(s->height, r.height);
    EXPECT_EQ(s->difficulty, r.difficulty);
    EXPECT_EQ(s->difficulty_text, "0.001") << "the shortest text that reads back exactly";
    EXPECT_EQ(s->target, k_target);
    EXPECT_TRUE(s->accepted);
    EXPECT_EQ(s->code, 0);
    EXPECT_EQ(s->reason, "");
    EXPECT_TRUE(s->block);
    EXPECT_EQ(s->time_ms, r.time_ms);
    EXPECT_EQ(s->hash, std::optional<std::string_view>(k_hash));
    EXPECT_EQ(s->network_target, std::optional<std::string_view>(k_network));
    EXPECT_EQ(s->reward, std::optional<std::int64_t>(1250000000));
    EXPECT_EQ(s->block_hash, std::optional<std::string_view>(k_block));
}

// The claim digest (issue 15): optional, checked as 64 hex digits, and a
// record that carries it still decodes for a reader that ignores it (the
// field is simply another one it does not know): the version stays 2.
TEST(stream_record, a_share_may_carry_a_claim_digest) {
    share_record r = full_share();
    r.claim = k_hash;
    const wire w = through_journal(to_json_line(r, "7:1700000000000:43"));
    auto d = w.decode();
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->version, 2);
    const auto* s = std::get_if<share_view>(&d->body);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->claim, std::optional<std::string_view>(k_hash));
    const wire plain = through_journal(to_json_line(full_share(), "7:1700000000000:44"));
    auto d2 = plain.decode();
    ASSERT_TRUE(d2);
    EXPECT_FALSE(std::get<share_view>(d2->body).claim.has_value());
    // A version 1 record with a claim: read, claim and all.
    const wire v1_wire(with(version1_share(), "claim", k_hash));
    auto v1 = v1_wire.decode();
    ASSERT_TRUE(v1) << v1.error_message();
    EXPECT_EQ(std::get<share_view>(v1->body).claim, std::optional<std::string_view>(k_hash));
    EXPECT_NE(refusal(with(version1_share(), "claim", "s3cret")).find("claim is not 64 hex digits"), std::string::npos);
}

TEST(stream_record, every_optional_field_of_a_share_may_be_absent) {
    // A share naming an unknown job: no target, network target, reward, hash
    // or block; rejected.
    share_record r = full_share();
    r.target.reset();
    r.network_target.reset();
    r.reward.reset();
    r.hash.reset();
    r.block_hash.reset();
    r.accepted = false;
    r.code = 21;
    r.reason = "job not found";
    r.height = 0;
    const wire w = through_journal(to_json_line(r, "u1"));
    for (const char* k : {"network_target", "reward", "hash", "block_hash"}) {
        for (const auto& f : w.owned) EXPECT_NE(f.first, k) << "absent fields are not written";
    }
    auto d = w.decode();
    ASSERT_TRUE(d) << d.error_message();
    const auto& s = std::get<share_view>(d->body);
    EXPECT_EQ(s.target, "");
    EXPECT_FALSE(s.accepted);
    EXPECT_EQ(s.code, 21);
    EXPECT_EQ(s.reason, "job not found");
    EXPECT_FALSE(s.block);
    EXPECT_FALSE(s.hash || s.network_target || s.reward || s.block_hash);

    // Each optional field alone, in a version 1 record (version 2 ties some together).
    const text_fields base = without(version1_share(), "hash");
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"hash", k_hash}, {"network_target", k_network}, {"reward", "625000000"}}) {
        const wire w1(with(base, k, v));
        auto one = w1.decode();
        ASSERT_TRUE(one) << k << ": " << one.error_message();
        const auto& sv = std::get<share_view>(one->body);
        EXPECT_EQ(sv.hash.has_value(), k == "hash");
        EXPECT_EQ(sv.network_target.has_value(), k == "network_target");
        EXPECT_EQ(sv.reward.has_value(), k == "reward");
        EXPECT_FALSE(sv.block_hash.has_value());
    }
    const wire wf(with(with(base, "block", "1"), "block_hash", k_block));
    auto found = wf.decode();
    ASSERT_TRUE(found) << found.error_message();
    EXPECT_EQ(std::get<share_view>(found->body).block_hash, std::optional<std::string_view>(k_block));
}

TEST(stream_record, block_round_trips_through_the_journal_line) {
    block_record b;
    b.instance = 3;
    b.coin = "LTC";
    b.height = 433;
    b.hash = k_block;
    b.account = "bob";
    b.worker = "bob.rig2";
    b.job = "60";
    b.reward = 1250000000;
    b.accepted = false;
    b.answer = "\"high-hash\"";
    b.time_ms = 1700000000999;
    const wire w = through_journal(to_json_line(b, "3:1:9"));
    auto d = w.decode();
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->version, k_version);
    const auto* v = std::get_if<block_view>(&d->body);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->uid, "3:1:9");
    EXPECT_EQ(v->instance, 3);
    EXPECT_EQ(v->coin, "LTC");
    EXPECT_EQ(v->height, 433);
    EXPECT_EQ(v->hash, k_block);
    EXPECT_EQ(v->account, "bob");
    EXPECT_EQ(v->worker, "bob.rig2");
    EXPECT_EQ(v->job, "60");
    EXPECT_EQ(v->reward, 1250000000);
    EXPECT_FALSE(v->accepted);
    EXPECT_EQ(v->answer, "\"high-hash\"");
    EXPECT_EQ(v->time_ms, 1700000000999);
}

TEST(stream_record, a_record_without_a_version_is_version_1) {
    const wire w(version1_share());
    auto d = w.decode();
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(d->version, 1);
    const auto& s = std::get<share_view>(d->body);
    EXPECT_EQ(s.uid, "7:1700000000000:1");
    EXPECT_EQ(s.account, "alice");
    EXPECT_TRUE(s.accepted);
    // Version 1 may lack what version 2 promises: an accepted share without
    // network_target and reward, a block share without block_hash.
    EXPECT_FALSE(s.network_target || s.reward);
    EXPECT_EQ(refusal(with(version1_share(), "block", "1")), "<accepted>");
    // "v" = "1" says the same explicitly.
    const wire w1(with(version1_share(), "v", "1"));
    auto explicit1 = w1.decode();
    ASSERT_TRUE(explicit1);
    EXPECT_EQ(explicit1->version, 1);
    // A version 1 block record, as main() wrote it.
    const text_fields blk = {{"type", "block"}, {"instance", "7"},    {"coin", "LTC"},       {"height", "433"},
                             {"hash", k_block}, {"account", "alice"}, {"worker", "alice.r"}, {"job", "5f"},
                             {"reward", "1"},   {"accepted", "1"},    {"answer", "null"},    {"time_ms", "17"},
                             {"uid", "7:1:2"}};
    const wire wb(blk);
    auto b = wb.decode();
    ASSERT_TRUE(b) << b.error_message();
    EXPECT_EQ(b->version, 1);
    EXPECT_EQ(std::get<block_view>(b->body).uid, "7:1:2");
}

TEST(stream_record, version_2_keeps_its_promises) {
    const text_fields v2 = with(with(with(version1_share(), "v", "2"), "network_target", k_network), "reward", "5");
    EXPECT_EQ(refusal(v2), "<accepted>");
    EXPECT_EQ(refusal(without(v2, "network_target")), "a version 2 share with a target and no network_target");
    EXPECT_EQ(refusal(without(v2, "reward")), "a version 2 share with a target and no reward");
    EXPECT_EQ(refusal(with(v2, "block", "1")), "a version 2 share with block 1 and no block_hash");
    // Without a target (an unknown job) there is no network target to carry.
    EXPECT_EQ(refusal(with(with(without(without(v2, "network_target"), "reward"), "target", ""), "accepted", "0")),
              "<accepted>");
}

TEST(stream_record, a_newer_version_is_refused_with_what_to_do) {
    const std::string why = refusal(with(version1_share(), "v", std::to_string(k_version + 1)));
    EXPECT_NE(why.find("record version " + std::to_string(k_version + 1) + " is newer"), std::string::npos) << why;
    EXPECT_NE(why.find("upgrade bmm-accountd"), std::string::npos) << why;
    // Whatever else the newer record holds: the version is read first.
    EXPECT_NE(refusal({{"v", "9"}, {"kind", "something else"}}).find("record version 9 is newer"), std::string::npos);
    for (const char* bad : {"0", "-1", "two", "", "2.0", " 2"}) {
        EXPECT_EQ(refusal(with(version1_share(), "v", bad)), "v (the record version) is not a positive integer") << bad;
    }
}

TEST(stream_record, malformed_fields_are_refused_by_name) {
    const text_fields s = version1_share();
    const std::vector<std::pair<text_fields, std::string>> cases = {
        {without(s, "type"), "no type field"},
        {with(s, "type", "mystery"), "unknown record type \"mystery\""},
        // What the record says is quoted escaped, never as raw control bytes (fuzz_stream_record).
        {with(s, "type", "sh\x7f\nre"), "unknown record type \"sh\\u007f\\nre\""},
        {without(s, "uid"), "no uid field"},
        {without(without(s, "coin"), "time_ms"), "no coin field"},
        {without(s, "time_ms"), "no time_ms field"},
        {with(s, "worker", "bad\xff"), "field worker is not UTF-8 text"},
        {with(s, "reason", std::string("nul\0byte", 8)), "field reason is not UTF-8 text"},
        {with(s, "uid", ""), "empty uid"},
        {with(s, "time_ms", "soon"), "time_ms is not a positive integer"},
        {with(s, "time_ms", "0"), "time_ms is not a positive integer"},
        {with(s, "instance", "7a"), "instance is not an integer"},
        {with(s, "height", ""), "height is not an integer"},
        {with(s, "code", "2 3"), "code is not an integer"},
        {with(s, "accepted", "yes"), "accepted is not 0 or 1"},
        {with(s, "block", "2"), "block is not 0 or 1"},
        {with(s, "difficulty", "0x1p-3"), "difficulty is not a number"},
        {with(s, "difficulty", "-1"), "difficulty is not a number"},
        {with(s, "difficulty", "nan"), "difficulty is not a number"},
        {with(s, "target", "ff"), "target is not 64 hex digits"},
        {with(s, "target", ""), "an accepted share without a target"},
        {with(s, "account", ""), "empty account"},
        {with(s, "network_target", std::string(64, 'g')), "network_target is not 64 hex digits"},
        {with(s, "reward", "-5"), "reward is not a non-negative integer"},
        {with(s, "block_hash", k_block), "block_hash on a share with block 0"},
        {with(with(s, "block", "1"), "block_hash", "c0d"), "block_hash is not 64 hex digits"},
    };
    for (const auto& [fields, why] : cases) EXPECT_EQ(refusal(fields), why);

    const text_fields blk = {{"type", "block"}, {"instance", "7"},    {"coin", "LTC"},       {"height", "433"},
                             {"hash", k_block}, {"account", "alice"}, {"worker", "alice.r"}, {"job", "5f"},
                             {"reward", "1"},   {"accepted", "1"},    {"answer", "null"},    {"time_ms", "17"},
                             {"uid", "7:1:2"}};
    EXPECT_EQ(refusal(without(blk, "answer")), "no answer field");
    EXPECT_EQ(refusal(with(blk, "reward", "-1")), "reward is not a non-negative integer");
    EXPECT_EQ(refusal(with(blk, "accepted", "")), "accepted is not 0 or 1");
    EXPECT_EQ(refusal(with(blk, "height", "x")), "height is not an integer");
}

TEST(stream_record, text_that_is_not_utf8_still_makes_a_readable_line) {
    share_record r = full_share();
    r.worker = "bad\xff\xfe";
    const wire w = through_journal(to_json_line(r, "u"));
    auto d = w.decode();
    ASSERT_TRUE(d) << d.error_message();
    EXPECT_EQ(std::get<share_view>(d->body).worker, "bad\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_TRUE(is_text("na\xc3\xafve"));
    EXPECT_FALSE(is_text("\xc3"));
    EXPECT_FALSE(is_text(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace bmm::record
