// The share verdict (stratum/src/share_verdict.cpp), without sockets: the
// order of the Stratum errors, the ntime window, the version mask, the
// difficulty a share counts at after a change, duplicates, stale shares and
// blocks (a stale share that meets the network target is still a block).

#include "share_verdict.hpp"

#include "bmm/hex.hpp"
#include "bmm/stratum/protocol.hpp"
#include "bmm/target.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <string>

namespace bmm::stratum {
namespace {

constexpr std::uint32_t k_mintime = 1'700'000'000;
constexpr std::uint32_t k_now = 1'700'001'000;
const std::string k_now_hex = be32_hex(k_now);

int code_of(stratum_error e) { return static_cast<int>(e); }

// A job as the loops hold it; only what the verdict reads is filled in.
std::shared_ptr<job> make_test_job(std::string id, unsigned char prev, pow_algorithm a = pow_algorithm::scrypt) {
    auto t = std::make_shared<block_template>();
    t->mintime = k_mintime;
    t->prevhash[0] = prev;
    auto j = std::make_shared<job>();
    j->id = std::move(id);
    j->tmpl = t;
    j->data.algorithm = a;
    return j;
}

// A well-formed submit on `j` from a subscribed, authorised session at
// difficulty 16 that never changed, rolling no version bits.
submit_context good_submit(const job& j) {
    submit_context c;
    c.subscribed = true;
    c.well_formed = true;
    c.authorized = true;
    c.j = &j;
    c.job_id = j.id;
    c.extranonce1_hex = "01000002";
    c.fields = {"0000000a", k_now_hex, "deadbeef", ""};
    c.now_unix = k_now;
    c.difficulty = {16, 16, 0};
    return c;
}

TEST(share_verdict, a_good_share_passes_with_its_difficulty_and_target) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    const auto r = judge_submit(good_submit(*j), seen);
    EXPECT_TRUE(r.early.accepted());
    EXPECT_EQ(r.early.reason, "");
    EXPECT_EQ(r.early.ban_reason, nullptr);
    EXPECT_TRUE(r.on_job);
    EXPECT_EQ(r.difficulty, 16);
    EXPECT_EQ(r.target, *target_from_difficulty(16, pow_algorithm::scrypt));
    EXPECT_EQ(seen.count("1f"), 1u);
}

TEST(share_verdict, the_target_follows_the_jobs_algorithm) {
    const auto j = make_test_job("1f", 1, pow_algorithm::sha256d);
    seen_shares seen;
    const auto r = judge_submit(good_submit(*j), seen);
    EXPECT_EQ(r.target, *target_from_difficulty(16, pow_algorithm::sha256d));
    EXPECT_NE(r.target, *target_from_difficulty(16, pow_algorithm::scrypt));
}

TEST(share_verdict, session_checks_come_first_in_the_order_of_the_errors) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;

    auto c = good_submit(*j);
    c.subscribed = false;
    c.well_formed = false;
    c.authorized = false;
    c.j = nullptr;
    auto r = judge_submit(c, seen);
    EXPECT_EQ(r.early.code, code_of(stratum_error::not_subscribed));
    EXPECT_EQ(r.early.reason, "not subscribed");
    EXPECT_EQ(r.early.ban_reason, nullptr);
    EXPECT_FALSE(r.on_job);

    c.subscribed = true;
    r = judge_submit(c, seen);
    EXPECT_EQ(r.early.code, code_of(stratum_error::other));
    EXPECT_EQ(r.early.reason,
              "malformed parameters: expected [worker, job_id, extranonce2, ntime, nonce, (version_bits)]");
    ASSERT_NE(r.early.ban_reason, nullptr);  // a malformed submit is a ban point
    EXPECT_STREQ(r.early.ban_reason, "malformed mining.submit");
    EXPECT_FALSE(r.on_job);

    c.well_formed = true;
    r = judge_submit(c, seen);
    EXPECT_EQ(r.early.code, code_of(stratum_error::unauthorized));
    EXPECT_EQ(r.early.reason, "unauthorized worker");
    EXPECT_EQ(r.early.ban_reason, nullptr);
    EXPECT_FALSE(r.on_job);

    c.authorized = true;
    r = judge_submit(c, seen);
    EXPECT_EQ(r.early.code, code_of(stratum_error::stale_job));
    EXPECT_EQ(r.early.reason, "job not found");
    EXPECT_FALSE(r.on_job);
    EXPECT_EQ(r.difficulty, 0);
    EXPECT_EQ(r.target, uint256());

    // None of them reached the duplicate check: nothing was remembered.
    EXPECT_EQ(seen.count("1f"), 0u);
    c.j = j.get();
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
}

TEST(share_verdict, ntime_must_lie_between_mintime_and_two_hours_ahead) {
    const auto j = make_test_job("1f", 1);
    const auto judge_ntime = [&](std::uint32_t ntime) {
        seen_shares seen;
        auto c = good_submit(*j);
        const std::string text = be32_hex(ntime);
        c.fields.ntime = text;
        return judge_submit(c, seen);
    };
    EXPECT_TRUE(judge_ntime(k_mintime).early.accepted());
    EXPECT_TRUE(judge_ntime(k_now + k_ntime_future).early.accepted());
    for (const std::uint32_t bad : {k_mintime - 1, k_now + k_ntime_future + 1, 0u, 0xffffffffu}) {
        const auto r = judge_ntime(bad);
        EXPECT_EQ(r.early.code, code_of(stratum_error::other)) << bad;
        EXPECT_EQ(r.early.reason, "ntime out of range");
        EXPECT_EQ(r.early.ban_reason, nullptr);
        // The record still says what the share was worth.
        EXPECT_TRUE(r.on_job);
        EXPECT_EQ(r.difficulty, 16);
    }
}

TEST(share_verdict, an_ntime_that_is_not_hex_is_left_to_the_verifier) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    auto c = good_submit(*j);
    for (const char* text : {"zzzzzzzz", "", "123", "0x6553f100"}) {
        c.fields.ntime = text;
        EXPECT_TRUE(judge_submit(c, seen).early.accepted()) << text;
    }
}

TEST(share_verdict, version_bits_must_stay_inside_the_negotiated_mask) {
    const auto j = make_test_job("1f", 1);
    auto c = good_submit(*j);
    c.version_mask = 0x1fffe000;
    const auto judge_bits = [&](const char* bits) {
        seen_shares seen;
        c.fields.version_bits = bits;
        return judge_submit(c, seen);
    };
    EXPECT_TRUE(judge_bits("").early.accepted());
    EXPECT_TRUE(judge_bits("00000000").early.accepted());
    EXPECT_TRUE(judge_bits("1fffe000").early.accepted());
    EXPECT_TRUE(judge_bits("00002000").early.accepted());
    for (const char* outside : {"20000000", "00001000", "1ffff000", "ffffffff", "00000001"}) {
        const auto r = judge_bits(outside);
        EXPECT_EQ(r.early.code, code_of(stratum_error::other)) << outside;
        EXPECT_EQ(r.early.reason, "version bits outside the negotiated mask");
        EXPECT_EQ(r.early.ban_reason, nullptr);
        EXPECT_TRUE(r.on_job);
    }
    // Not hex: the verifier refuses it, not this check.
    EXPECT_TRUE(judge_bits("zz").early.accepted());

    // Without mining.configure the mask is 0: any bit set is outside it.
    c.version_mask = 0;
    EXPECT_TRUE(judge_bits("00000000").early.accepted());
    EXPECT_EQ(judge_bits("00002000").early.code, code_of(stratum_error::other));
}

TEST(share_verdict, ntime_is_checked_before_version_bits) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    auto c = good_submit(*j);
    c.fields.ntime = "00000000";
    c.fields.version_bits = "ffffffff";
    EXPECT_EQ(judge_submit(c, seen).early.reason, "ntime out of range");
}

TEST(share_verdict, the_same_share_twice_is_a_duplicate) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    const auto c = good_submit(*j);
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
    const auto again = judge_submit(c, seen);
    EXPECT_EQ(again.early.code, code_of(stratum_error::duplicate));
    EXPECT_EQ(again.early.reason, "duplicate share");
    EXPECT_EQ(again.early.ban_reason, nullptr);
    EXPECT_TRUE(again.on_job);
    EXPECT_EQ(again.difficulty, 16);

    // Any field that differs makes another share.
    auto other = c;
    other.fields.nonce = "deadbef0";
    EXPECT_TRUE(judge_submit(other, seen).early.accepted());
    other = c;
    other.fields.extranonce2 = "0000000b";
    EXPECT_TRUE(judge_submit(other, seen).early.accepted());
    other = c;
    other.extranonce1_hex = "01000003";
    EXPECT_TRUE(judge_submit(other, seen).early.accepted());
    other = c;
    const std::string later = be32_hex(k_now + 1);
    other.fields.ntime = later;
    EXPECT_TRUE(judge_submit(other, seen).early.accepted());

    // The same fields on another job are another share.
    const auto j2 = make_test_job("20", 1);
    auto on_j2 = c;
    on_j2.j = j2.get();
    on_j2.job_id = j2->id;
    EXPECT_TRUE(judge_submit(on_j2, seen).early.accepted());
    EXPECT_EQ(judge_submit(on_j2, seen).early.code, code_of(stratum_error::duplicate));
}

TEST(share_verdict, a_share_refused_before_the_duplicate_check_may_come_back) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    auto c = good_submit(*j);
    c.fields.version_bits = "00002000";
    EXPECT_EQ(judge_submit(c, seen).early.reason, "version bits outside the negotiated mask");
    EXPECT_EQ(seen.count("1f"), 0u);
    c.version_mask = 0x1fffe000;  // negotiated since
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
}

TEST(share_verdict, duplicate_keys_are_forgotten_with_their_job) {
    seen_shares seen;
    EXPECT_TRUE(seen.first("1f", "k"));
    EXPECT_FALSE(seen.first("1f", "k"));
    EXPECT_TRUE(seen.first("20", "k"));
    EXPECT_EQ(seen.count("1f"), 1u);
    seen.forget("1f");
    EXPECT_EQ(seen.count("1f"), 0u);
    EXPECT_EQ(seen.count("20"), 1u);
    EXPECT_TRUE(seen.first("1f", "k"));
    seen.forget("never seen");  // harmless
}

TEST(share_verdict, the_duplicate_key_is_the_header_values_extranonce1_extranonce2_ntime_nonce_and_version) {
    verifier::job_data d;
    d.extranonce2_size = 4;
    d.version = 0x20000000;
    d.version_mask = 0x1fffe000;
    EXPECT_EQ(duplicate_key("01000002", {"0000000a", "6553f1e8", "deadbeef", "00002000"}, d),
              "01000002:0000000a:6553f1e8:deadbeef:20002000");
    EXPECT_EQ(duplicate_key("01000002", {"0000000a", "6553f1e8", "deadbeef", ""}, d),
              "01000002:0000000a:6553f1e8:deadbeef:20000000");
}

// Regression: the key was the fields' text, so version bits left out and
// "00000000" (the same header) were two shares, both accepted. Every field
// spelled another way for the same value is now the same key.
TEST(share_verdict, missing_and_zero_version_bits_are_one_key) {
    verifier::job_data d;
    EXPECT_EQ(duplicate_key("01000002", {"0000000a", "6553f1e8", "deadbeef", ""}, d),
              duplicate_key("01000002", {"0000000a", "6553f1e8", "deadbeef", "00000000"}, d));
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    auto c = good_submit(*j);
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
    c.fields.version_bits = "00000000";
    EXPECT_EQ(judge_submit(c, seen).early.code, code_of(stratum_error::duplicate));
}

TEST(share_verdict, a_field_spelled_in_another_case_is_the_same_share) {
    const auto j = make_test_job("1f", 1);
    j->data.version = 0x20000000;
    j->data.version_mask = 0x1fffe000;
    const std::string upper_now = [] {
        std::string t = k_now_hex;
        for (auto& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return t;
    }();
    auto base = good_submit(*j);
    base.version_mask = 0x1fffe000;
    base.fields = {"00ab00cd", k_now_hex, "deadbeef", "1fffe000"};
    // Each field in turn in upper case: the same header, a duplicate.
    for (int field = 0; field < 4; ++field) {
        seen_shares seen;
        ASSERT_TRUE(judge_submit(base, seen).early.accepted());
        auto again = base;
        if (field == 0) again.fields.extranonce2 = "00AB00CD";
        if (field == 1) again.fields.ntime = upper_now;
        if (field == 2) again.fields.nonce = "DEADBEEF";
        if (field == 3) again.fields.version_bits = "1FFFE000";
        EXPECT_EQ(judge_submit(again, seen).early.code, code_of(stratum_error::duplicate)) << "field " << field;
    }
}

TEST(share_verdict, the_effective_version_decides_not_the_version_bits_text) {
    // A job whose version has a bit inside the mask: version bits left out
    // keep it, "00000000" clears it (another header), "00002000" sets it
    // again (the header of the share without version bits).
    const auto j = make_test_job("1f", 1);
    j->data.version = 0x20002000;
    j->data.version_mask = 0x1fffe000;
    seen_shares seen;
    auto c = good_submit(*j);
    c.version_mask = 0x1fffe000;
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
    c.fields.version_bits = "00000000";
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
    c.fields.version_bits = "00002000";
    EXPECT_EQ(judge_submit(c, seen).early.code, code_of(stratum_error::duplicate));
    c.fields.version_bits = "00004000";
    EXPECT_TRUE(judge_submit(c, seen).early.accepted());
}

TEST(share_verdict, fields_the_verifier_cannot_read_are_keyed_apart_from_every_header) {
    // Shorter spellings (no leading zeros), a 0x prefix or a wrong
    // extranonce2 size build no header: the verifier refuses them, so they
    // must not be taken for the readable share (which would answer 22 and
    // hide the refusal), nor for each other.
    verifier::job_data d;
    d.extranonce2_size = 4;
    const std::string readable = duplicate_key("01000002", {"0000000a", "6553f1e8", "0000beef", ""}, d);
    for (const submitted_fields& f :
         {submitted_fields{"0000000a", "6553f1e8", "beef", ""},
          submitted_fields{"0000000a", "6553f1e8", "0x0000beef", ""}, submitted_fields{"a", "6553f1e8", "0000beef", ""},
          submitted_fields{"000000000a", "6553f1e8", "0000beef", ""},
          submitted_fields{"0000000a", "6553f1e8", "0000beef", "0"},
          submitted_fields{"0000000a", "6553f1e8", "0000beef", "00002000"}}) {
        const std::string key = duplicate_key("01000002", f, d);
        EXPECT_NE(key, readable) << f.extranonce2 << " " << f.nonce << " " << f.version_bits;
        EXPECT_EQ(key.rfind("unreadable:", 0), 0u) << key;
    }
    EXPECT_NE(duplicate_key("01000002", {"0000000a", "6553f1e8", "beef", ""}, d),
              duplicate_key("01000002", {"0000000a", "6553f1e8", "BEEF", ""}, d));
}

TEST(share_verdict, after_a_difficulty_change_older_jobs_count_at_the_lower_difficulty) {
    // Jobs 0x1f and before were sent before the change; 0x20 after it.
    const auto old_job = make_test_job("1f", 1);
    const auto new_job = make_test_job("20", 1);
    for (const auto& [previous, current] : {std::pair{16.0, 64.0}, std::pair{64.0, 16.0}}) {
        const difficulty_state d{current, previous, 0x1f};
        EXPECT_EQ(share_difficulty(d, 0x1f), 16);
        EXPECT_EQ(share_difficulty(d, 0x01), 16);
        EXPECT_EQ(share_difficulty(d, 0x20), current);

        seen_shares seen;
        auto c = good_submit(*old_job);
        c.difficulty = d;
        auto r = judge_submit(c, seen);
        EXPECT_EQ(r.difficulty, 16);
        EXPECT_EQ(r.target, *target_from_difficulty(16, pow_algorithm::scrypt));
        c = good_submit(*new_job);
        c.difficulty = d;
        r = judge_submit(c, seen);
        EXPECT_EQ(r.difficulty, current);
        EXPECT_EQ(r.target, *target_from_difficulty(current, pow_algorithm::scrypt));
    }
}

TEST(share_verdict, job_numbers_are_the_ids_read_as_hex) {
    EXPECT_EQ(job_seq("1f"), 0x1fu);
    EXPECT_EQ(job_seq("00ff"), 0xffu);
    EXPECT_EQ(job_seq("FF"), 0xffu);
    EXPECT_EQ(job_seq("not hex"), 0u);
    EXPECT_EQ(job_seq(""), 0u);
}

TEST(share_verdict, a_difficulty_without_a_target_gives_a_zero_target) {
    const auto j = make_test_job("1f", 1);
    seen_shares seen;
    auto c = good_submit(*j);
    c.difficulty = {0, 0, 0};
    const auto r = judge_submit(c, seen);
    EXPECT_TRUE(r.on_job);
    EXPECT_EQ(r.difficulty, 0);
    EXPECT_EQ(r.target, uint256());
}

// --- after hashing -----------------------------------------------------------

verifier::verdict hashed(bool meets_target, bool meets_network_target) {
    verifier::verdict v;
    v.status = verifier::share_status::ok;
    v.meets_target = meets_target;
    v.meets_network_target = meets_network_target;
    return v;
}

TEST(share_verdict, a_hashed_share_on_the_current_block_that_meets_its_target_is_accepted) {
    const auto j = make_test_job("1f", 1);
    const auto v = hashed(true, false);
    const auto r = judge_hashed(v, *j, j.get());
    EXPECT_TRUE(r.accepted());
    EXPECT_EQ(r.ban_reason, nullptr);
    EXPECT_FALSE(is_block_candidate(v));
    // A newer job on the same previous block: not stale.
    const auto newer = make_test_job("20", 1);
    EXPECT_TRUE(judge_hashed(v, *j, newer.get()).accepted());
}

TEST(share_verdict, a_share_the_verifier_refuses_is_invalid_and_a_ban_point) {
    const auto j = make_test_job("1f", 1);
    for (const auto status : {verifier::share_status::bad_extranonce2, verifier::share_status::bad_ntime,
                              verifier::share_status::bad_nonce, verifier::share_status::version_outside_mask}) {
        verifier::verdict v;
        v.status = status;
        v.meets_target = true;  // never looked at when the status is not ok
        v.meets_network_target = true;
        const auto r = judge_hashed(v, *j, nullptr);  // before stale
        EXPECT_EQ(r.code, code_of(stratum_error::other));
        EXPECT_EQ(r.reason, std::string(verifier::describe(status)));
        ASSERT_NE(r.ban_reason, nullptr);
        EXPECT_STREQ(r.ban_reason, "invalid shares");
        EXPECT_FALSE(is_block_candidate(v));
    }
}

TEST(share_verdict, a_share_on_an_older_block_is_stale_before_its_difficulty_is_looked_at) {
    const auto j = make_test_job("1f", 1);
    const auto next_block = make_test_job("20", 2);
    const auto r = judge_hashed(hashed(false, false), *j, next_block.get());
    EXPECT_EQ(r.code, code_of(stratum_error::stale_job));
    EXPECT_EQ(r.reason, "stale share");
    EXPECT_EQ(r.ban_reason, nullptr);
    // No current job at all: stale too.
    EXPECT_EQ(judge_hashed(hashed(true, false), *j, nullptr).code, code_of(stratum_error::stale_job));
}

TEST(share_verdict, a_share_above_its_target_is_low_difficulty) {
    const auto j = make_test_job("1f", 1);
    const auto r = judge_hashed(hashed(false, false), *j, j.get());
    EXPECT_EQ(r.code, code_of(stratum_error::low_difficulty));
    EXPECT_EQ(r.reason, "low difficulty share");
    EXPECT_EQ(r.ban_reason, nullptr);
}

TEST(share_verdict, a_stale_share_that_meets_the_network_target_is_still_a_block) {
    const auto j = make_test_job("1f", 1);
    const auto next_block = make_test_job("20", 2);
    const auto v = hashed(true, true);
    EXPECT_TRUE(is_block_candidate(v));
    // Stale for accounting, a block for the node.
    EXPECT_EQ(judge_hashed(v, *j, next_block.get()).code, code_of(stratum_error::stale_job));
    // On the current block: accepted and a block.
    EXPECT_TRUE(judge_hashed(v, *j, j.get()).accepted());
}

}  // namespace
}  // namespace bmm::stratum
