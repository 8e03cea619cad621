// Fuzzes the stream record, the seam between bmm-stratum and bmm-accountd
// (bmm/record/stream_record.hpp): a journal line as the publisher reads it
// back (fields_from_json_line), then decode() as the ingest runs it on every
// entry. Properties: fields that read back encode to a line that reads back
// to the same fields; decode() either refuses with one clean line or gives
// a record whose text points into the fields and whose version it knows; a
// decoded share or block encodes again to a line that decodes to the same
// values.

#include "fuzz_check.hpp"

#include "bmm/record/stream_record.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using namespace bmm::record;

std::vector<field> as_fields(const text_fields& t) {
    std::vector<field> f;
    f.reserve(t.size());
    for (const auto& [k, v] : t) {
        f.emplace_back(k, v);
    }
    return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bmm::fuzz::check;
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const auto fields = fields_from_json_line(line);
    if (!fields) {
        return 0;
    }
    const std::string again = fields_to_json_line(*fields);
    check(!again.empty() && again.back() == '\n', "a journal line ends with a newline", again);
    const auto back = fields_from_json_line(std::string_view(again).substr(0, again.size() - 1));
    bool text = true;
    for (const auto& [k, v] : *fields) {
        text = text && is_text(k) && is_text(v);
    }
    if (text) {
        check(back.has_value() && *back == *fields, "text fields survive a journal line unchanged", again);
    }

    const auto view = as_fields(*fields);
    const auto d = decode(view);
    if (!d) {
        check(bmm::fuzz::is_one_clean_line(d.error_message()), "a refused record is named in one clean line",
              d.error_message());
        return 0;
    }
    check(d->version >= k_unversioned && d->version <= k_version, "a decoded record's version is known");
    if (const auto* s = std::get_if<share_view>(&d->body)) {
        check(is_text(s->account) && is_text(s->worker), "a decoded share's names are text");
        check(!s->block_hash || s->block, "only a block share names a block");
    }
    return 0;
}
