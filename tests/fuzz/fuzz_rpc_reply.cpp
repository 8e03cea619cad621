// Fuzzes a whole JSON-RPC reply body from the node: parse_rpc_reply (what
// rpc_client::call does with every reply), then, as job_manager does with
// getblocktemplate's, the template it carries. Properties: a result is valid
// JSON; an error is a clean line (a hostile reply cannot forge log lines) with
// the node's code when it fits an int; the template's properties
// (template_check.hpp).

#include "template_check.hpp"

#include "bmm/node/rpc.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bmm::fuzz::check;
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    int code = 12345;
    auto r = bmm::node::parse_rpc_reply(body, &code);
    if (!r) {
        check(bmm::fuzz::is_one_clean_line(r.error_message()), "an RPC error is a clean line", r.error_message());
        // At most 1000 bytes of the node's message, each escaped to at most 4.
        check(r.error_message().size() <= 4 * 1000 + 100, "an RPC error quotes a bounded excerpt");
        check(code != 12345, "the error code is always set");
        return 0;
    }
    check(code == 0, "a successful reply has code 0");
    check(bmm::fuzz::is_json(*r), "an RPC result is valid JSON", *r);
    bmm::fuzz::check_template(*r);
    return 0;
}
