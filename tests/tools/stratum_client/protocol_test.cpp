// bmm_stratum_client's protocol part (tools/stratum_client/src/protocol.cpp):
// the requests are the lines bmm-stratum's own parser reads back, the pool's
// lines are parsed as the server writes them, framing survives any split,
// and the share search finds shares the verifier accepts (and misses on
// demand).

#include "bmm/stratum/protocol.hpp"
#include "bmm/hex.hpp"
#include "bmm/stratum_client/protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bmm::stratum_client {
namespace {

// A real job as bmm-stratum sends it (Litecoin regtest, empty merkle branch).
constexpr const char* k_notify =
    R"({"id":null,"method":"mining.notify","params":["1f","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000",)"
    R"("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0d0302000004",)"
    R"("0000000000000000000000000000000001ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000",)"
    R"([],"20000000","207fffff","6553f100",true]})";

TEST(stratum_client_protocol, pool_urls) {
    auto plain = parse_pool_url("stratum+tcp://127.0.0.1:3333");
    ASSERT_TRUE(plain) << plain.error_message();
    EXPECT_EQ(plain->host, "127.0.0.1");
    EXPECT_EQ(plain->port, "3333");
    EXPECT_FALSE(plain->tls);
    for (const char* tls : {"stratum+ssl://pool.example:3334", "stratum+tls://pool.example:3334"}) {
        auto u = parse_pool_url(tls);
        ASSERT_TRUE(u) << tls;
        EXPECT_TRUE(u->tls) << tls;
        EXPECT_EQ(u->host, "pool.example");
    }
    auto v6 = parse_pool_url("tcp://[::1]:3333");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    auto bare = parse_pool_url("localhost:1");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->host, "localhost");
    EXPECT_FALSE(parse_pool_url("http://127.0.0.1:3333"));
    EXPECT_FALSE(parse_pool_url("stratum+tcp://127.0.0.1"));
    EXPECT_FALSE(parse_pool_url("stratum+tcp://:3333"));
    EXPECT_FALSE(parse_pool_url("stratum+tcp://127.0.0.1:"));
}

// What the pool's own parser reads from a request: method, id and the
// parameters that are strings.
struct read_back {
    bool ok = false;
    std::string method, id_json;
    std::size_t param_count = 0;
    std::vector<std::string> strings;
};
read_back pool_reads(const std::string& line) {
    simdjson::dom::parser parser;
    std::string id;
    auto r = stratum::parse_request(parser, line, &id);
    read_back out;
    if (!r) {
        ADD_FAILURE() << line << ": " << r.error_message();
        return out;
    }
    out.ok = true;
    out.method = r->method;
    out.id_json = r->id_json;
    out.param_count = r->has_params ? r->params.size() : 0;
    for (std::size_t i = 0; i < out.param_count; ++i) {
        std::string_view v;
        out.strings.emplace_back(stratum::param_string(*r, i, v) ? std::string(v) : std::string());
    }
    return out;
}

// Every request reads back through the pool's own parser with its fields.
TEST(stratum_client_protocol, requests_read_back_by_the_pool) {
    auto sub = pool_reads(subscribe_request(2, "bmm-test/1.0"));
    EXPECT_EQ(sub.method, "mining.subscribe");
    EXPECT_EQ(sub.id_json, "2");
    ASSERT_EQ(sub.param_count, 1u);
    EXPECT_EQ(sub.strings[0], "bmm-test/1.0");

    auto auth = pool_reads(authorize_request(3, "alice.rig\"1", "d=0.5"));
    EXPECT_EQ(auth.method, "mining.authorize");
    ASSERT_EQ(auth.param_count, 2u);
    EXPECT_EQ(auth.strings[0], "alice.rig\"1") << "a quote in a name is escaped, not injected";
    EXPECT_EQ(auth.strings[1], "d=0.5");

    auto cfg = pool_reads(configure_request(1));
    EXPECT_EQ(cfg.method, "mining.configure");
    EXPECT_EQ(cfg.param_count, 2u);

    auto sug = pool_reads(suggest_difficulty_request(4, 0.25));
    EXPECT_EQ(sug.method, "mining.suggest_difficulty");
    EXPECT_EQ(sug.param_count, 1u);

    auto plain = pool_reads(submit_request(9, "a.w", {"1f", "00000001", "6553f100", "0000abcd", ""}));
    EXPECT_EQ(plain.method, "mining.submit");
    EXPECT_EQ(plain.param_count, 5u) << "no version bits: five parameters";
    EXPECT_EQ(plain.strings, (std::vector<std::string>{"a.w", "1f", "00000001", "6553f100", "0000abcd"}));
    auto rolled = pool_reads(submit_request(10, "a.w", {"1f", "00000001", "6553f100", "0000abcd", "00002000"}));
    ASSERT_EQ(rolled.param_count, 6u);
    EXPECT_EQ(rolled.strings[5], "00002000");
}

TEST(stratum_client_protocol, lines_survive_any_split) {
    const std::string stream = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n{\"partial";
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        line_buffer b;
        std::vector<std::string> got;
        auto keep = [&](std::string_view l) {
            got.emplace_back(l);
            return true;
        };
        EXPECT_TRUE(b.feed(std::string_view(stream).substr(0, cut), keep));
        EXPECT_TRUE(b.feed(std::string_view(stream).substr(cut), keep));
        ASSERT_EQ(got.size(), 4u) << "cut at " << cut;
        EXPECT_EQ(got[0], "{\"a\":1}");
        EXPECT_EQ(got[1], "{\"b\":2}\r");
        EXPECT_EQ(got[2], "");
        EXPECT_EQ(got[3], "{\"c\":3}");
        EXPECT_EQ(b.partial_bytes(), std::string("{\"partial").size());
    }
    line_buffer b;
    int seen = 0;
    EXPECT_FALSE(b.feed("x\ny\nz\n", [&](std::string_view) { return ++seen < 2; }));
    EXPECT_EQ(seen, 2) << "stops at the line that said so";
    EXPECT_EQ(b.partial_bytes(), 0u);
}

TEST(stratum_client_protocol, replies_by_id) {
    message_parser p;
    auto ok = p.parse(R"({"id":7,"result":true,"error":null})");
    EXPECT_EQ(ok.kind, message_kind::reply);
    ASSERT_TRUE(ok.id);
    EXPECT_EQ(*ok.id, 7);
    EXPECT_TRUE(ok.ok);
    EXPECT_TRUE(authorized(ok));

    auto low = p.parse(R"({"id":8,"result":null,"error":[23,"low difficulty share",null]})");
    EXPECT_EQ(low.kind, message_kind::reply);
    EXPECT_FALSE(low.ok);
    EXPECT_EQ(low.error_code, 23);
    EXPECT_EQ(low.reason(), "low difficulty share");
    EXPECT_FALSE(authorized(low));

    auto odd = p.parse(R"({"id":9,"result":null,"error":"nope"})");
    EXPECT_FALSE(odd.ok);
    EXPECT_EQ(odd.error_code, 0);
    EXPECT_EQ(odd.reason(), "unknown");

    auto null_id = p.parse(R"({"id":null,"result":null,"error":[20,"malformed",null]})");
    EXPECT_EQ(null_id.kind, message_kind::reply);
    EXPECT_FALSE(null_id.id);

    EXPECT_EQ(p.parse("not json").kind, message_kind::invalid);
    EXPECT_EQ(p.parse("[1,2]").kind, message_kind::invalid);
    EXPECT_EQ(p.parse(R"({"id":null,"method":"client.reconnect","params":[]})").kind, message_kind::reconnect);
    EXPECT_EQ(p.parse(R"({"id":null,"method":"client.show_message","params":["hi"]})").kind, message_kind::other);
}

TEST(stratum_client_protocol, subscribe_and_configure_replies) {
    message_parser p;
    auto s = subscription_of(p.parse(R"({"id":2,"result":[[["mining.notify","ab"]],"01000002",4],"error":null})"));
    ASSERT_TRUE(s);
    EXPECT_EQ(to_hex(s->extranonce1), "01000002");
    EXPECT_EQ(s->extranonce2_size, 4u);
    EXPECT_FALSE(subscription_of(p.parse(R"({"id":2,"result":[[],"01000002",9],"error":null})")))
        << "extranonce2 over 8 bytes";
    EXPECT_FALSE(subscription_of(p.parse(R"({"id":2,"result":[[],"0g",4],"error":null})")));
    EXPECT_FALSE(subscription_of(p.parse(R"({"id":2,"result":null,"error":[20,"no",null]})")));

    session_state st;
    EXPECT_TRUE(st.on_subscribed(p.parse(R"({"id":2,"result":[[],"0a0b0c0d",8],"error":null})")));
    EXPECT_EQ(st.extranonce2_size, 8u);
    st.on_configured(
        p.parse(R"({"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null})"));
    EXPECT_EQ(st.version_mask, 0x1fffe000u);
    EXPECT_TRUE(st.on_setting(p.parse(R"({"id":null,"method":"mining.set_version_mask","params":["00ffe000"]})")));
    EXPECT_EQ(st.version_mask, 0x00ffe000u);
    EXPECT_TRUE(st.on_setting(p.parse(R"({"id":null,"method":"mining.set_difficulty","params":[0.5]})")));
    EXPECT_EQ(st.difficulty, 0.5);
    EXPECT_TRUE(st.on_setting(p.parse(R"({"id":null,"method":"mining.set_difficulty","params":[64]})")));
    EXPECT_EQ(st.difficulty, 64.0) << "an integer difficulty";
    EXPECT_FALSE(st.on_setting(p.parse(k_notify)));
}

TEST(stratum_client_protocol, extranonce2_and_nonce_rolling) {
    EXPECT_EQ(extranonce2_hex(0x0102, 4), "02010000");
    EXPECT_EQ(extranonce2_hex(0x0102030405060708ULL, 8), "0807060504030201");
    EXPECT_EQ(extranonce2_hex(0xff, 2), "ff00");
    session_state st;
    st.extranonce2_counter = 5;
    st.nonce = 123;
    st.on_new_job();
    EXPECT_EQ(st.nonce, 0u);
    EXPECT_EQ(st.extranonce2_counter, 6u);
    st.nonce = 0xfffffff0u;
    st.advance_nonce(16);
    EXPECT_EQ(st.nonce, 0u);
    EXPECT_EQ(st.extranonce2_counter, 7u) << "a wrapped nonce space moves to the next extranonce2";
    st.advance_nonce(16);
    EXPECT_EQ(st.extranonce2_counter, 7u);
}

TEST(stratum_client_protocol, notify_decodes_and_shares_are_found) {
    message_parser p;
    const auto m = p.parse(k_notify);
    ASSERT_EQ(m.kind, message_kind::notify);
    const auto n = notify_of(m);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->id, "1f");
    EXPECT_EQ(n->ntime, "6553f100");
    EXPECT_TRUE(n->clean);
    EXPECT_TRUE(n->branch.empty());
    const notify_job kept = to_owned(*n);
    EXPECT_EQ(kept.nbits, "207fffff");

    auto j = decode_job(pow_algorithm::sha256d, kept, 4, 0);
    ASSERT_TRUE(j) << j.error_message();
    EXPECT_EQ(j->id, "1f");
    const std::vector<unsigned char> en1 = {1, 0, 0, 2};
    const std::string en2 = extranonce2_hex(1, 4);
    verifier::batch_verifier v;
    const share_work easy{&*j, en1, en2, {}, *target_from_difficulty(1.0 / (1 << 22), pow_algorithm::sha256d)};
    std::vector<std::uint32_t> hits;
    for (std::uint32_t base = 0; hits.empty() && base < 1u << 20; base += 64) hits = scan_nonces(v, easy, base, 64);
    ASSERT_FALSE(hits.empty());
    // What the search found, the verifier accepts alone; a miss is a miss.
    const std::string nonce = be32_hex(hits.front());
    const verifier::share sh{&j->data, en1, en2, j->ntime, nonce, {}, easy.target};
    verifier::verdict out;
    v.verify({&sh, 1}, {&out, 1});
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(out.meets_target);
    const auto misses = scan_nonces(v, easy, hits.front(), 1, /*want_low=*/true);
    EXPECT_TRUE(misses.empty());

    EXPECT_FALSE(decode_job(pow_algorithm::sha256d, notify_job{"x", "zz", "", "", "", "", "", {}, false}, 4, 0))
        << "bad hex is refused";
    EXPECT_FALSE(notify_of(p.parse(R"({"id":null,"method":"mining.notify","params":["1f"]})")));
}

}  // namespace
}  // namespace bmm::stratum_client
