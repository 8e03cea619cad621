// Fuzzes one Stratum line as a miner sends it: parse_request, every
// parameter accessor the server's methods use (subscribe, authorize,
// configure, suggest_difficulty, submit), and the replies built from what was
// read. Properties: nothing crashes or leaks; every reply is one line of valid
// JSON that echoes the request's id exactly; error texts are clean lines; a
// number read from the parameters is the whole parameter.

#include "fuzz_check.hpp"

#include "bmm/hex.hpp"
#include "bmm/stratum/protocol.hpp"
#include "bmm/stratum/server.hpp"
#include "bmm/target.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace bmm;
using namespace bmm::stratum;
using bmm::fuzz::check;

void check_reply(const std::string& reply, const std::string& id_json) {
    check(!reply.empty() && reply.back() == '\n', "a reply ends in a newline", reply);
    const std::string_view body(reply.data(), reply.size() - 1);
    check(body.find('\n') == std::string_view::npos, "a reply is one line", reply);
    check(fuzz::is_json(body), "a reply is valid JSON", reply);
    simdjson::dom::parser p;
    simdjson::dom::element doc, id;
    check(p.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS && doc["id"].get(id) == simdjson::SUCCESS,
          "a reply has an id", reply);
    check(simdjson::to_string(id) == id_json, "a reply echoes the id as parsed", reply);
}

// A number taken from a parameter must be the whole of it: what from_chars
// reads from all of the text (when it came as a string).
void check_number_param(const request& r, std::size_t i) {
    double d = 0;
    if (!param_number(r, i, d)) return;
    std::string_view s;
    if (param_string(r, i, s)) {
        double whole = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), whole);
        check(ec == std::errc() && end == s.data() + s.size(), "a numeric string parameter is a number throughout", s);
        check(whole == d || (std::isnan(whole) && std::isnan(d)), "a numeric string parameter reads as from_chars", s);
    }
    if (std::isfinite(d) && d > 0) {
        check(static_cast<bool>(target_from_difficulty(d, pow_algorithm::scrypt)),
              "a positive difficulty has a target");
        const std::string text = format_difficulty(d);
        double back = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), back);
        check(ec == std::errc() && end == text.data() + text.size() && back == d, "format_difficulty round-trips",
              text);
    }
}

void check_authorize(const request& r) {
    std::string_view user, pass;
    if (param_string(r, 0, user)) {
        auto w = parse_worker_name(user);
        if (w) {
            check(!w->account.empty() && !w->worker.empty(), "a parsed username has account and worker", user);
            check(user.substr(0, w->account.size()) == w->account, "the account is the username's start", user);
        } else {
            check(fuzz::is_one_clean_line(w.error_message()), "a username error is a clean line");
        }
    }
    if (param_string(r, 1, pass)) {
        double d = 0;
        if (password_difficulty(pass, d)) {
            check(std::isfinite(d) && d > 0, "a password difficulty is finite and positive", pass);
            check(static_cast<bool>(target_from_difficulty(d, pow_algorithm::scrypt)),
                  "a password difficulty has a target", pass);
        }
    }
}

void check_submit(const request& r) {
    // handle_submit: [worker, job_id, extranonce2, ntime, nonce, (version_bits)].
    std::string_view f[6];
    bool have[6];
    for (std::size_t i = 0; i < 6; ++i) have[i] = param_string(r, i, f[i]);
    for (std::size_t i : {std::size_t{3}, std::size_t{4}, std::size_t{5}}) {
        std::uint32_t v = 0;
        if (have[i] && parse_be32_hex(f[i], v))
            check(be32_hex(v) == fuzz::lower(f[i]), "ntime, nonce and version bits round-trip", f[i]);
    }
    if (have[2]) {
        auto en2 = from_hex(f[2]);
        if (en2) check(to_hex(*en2) == fuzz::lower(f[2]), "extranonce2 round-trips", f[2]);
    }
}

void check_configure(const request& r) {
    // handle_configure: [[extensions...], {options}].
    if (!r.has_params) return;
    simdjson::dom::array exts;
    simdjson::dom::object opts;
    if (r.params.at(0).get(exts) || r.params.at(1).get(opts)) return;
    for (simdjson::dom::element e : exts) {
        std::string_view name;
        if (e.get(name) == simdjson::SUCCESS) check(fuzz::is_json(json_string(name)), "json_string gives JSON", name);
    }
    std::string_view mask;
    if (opts["version-rolling.mask"].get(mask) == simdjson::SUCCESS) (void)fuzz::lower(mask);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static simdjson::dom::parser parser;  // reused line after line, as each server loop does
    std::string_view line(reinterpret_cast<const char*>(data), size);
    // handle_line drops a trailing CR and spaces, and ignores empty lines.
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.find('\n') != std::string_view::npos) return 0;  // the reader splits at newlines

    std::string id = "null";
    auto r = parse_request(parser, line, &id);
    if (!r) {
        check(fuzz::is_one_clean_line(r.error_message()), "a parse error is a clean line", r.error_message());
        check_reply(reply_error(id, stratum_error::other, r.error_message()), id);
        return 0;
    }
    check(r->id_json == id, "the id reported on success is the request's");
    check_reply(reply_result(r->id_json, "true"), r->id_json);
    std::string unknown = "unknown method ";
    unknown += r->method;
    check_reply(reply_error(r->id_json, stratum_error::other, unknown), r->id_json);
    check(fuzz::is_json(json_string(r->method)), "json_string gives JSON", r->method);

    std::string_view s;
    for (std::size_t i = 0; i < 8; ++i) {
        (void)param_string(*r, i, s);
        check_number_param(*r, i);
    }
    check_authorize(*r);
    check_submit(*r);
    check_configure(*r);
    return 0;
}
