// The JSON writer: escaping, numbers, nesting and separators.

#include "bmm/json/writer.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace bmm::json {
namespace {

TEST(json_escape, quotes_backslashes_and_controls) {
    EXPECT_EQ(escape("a\"b\\c\n\x01"), "a\\\"b\\\\c\\n\\u0001");
    EXPECT_EQ(escape("\r\t\x1f\x7f"), "\\r\\t\\u001f\\u007f");
    EXPECT_EQ(escape(std::string_view("\0", 1)), "\\u0000");
    // UTF-8 and printable ASCII pass through untouched.
    EXPECT_EQ(escape("h\xc3\xa9llo / <x>"), "h\xc3\xa9llo / <x>");
    EXPECT_EQ(quoted("say \"hi\""), "\"say \\\"hi\\\"\"");
    std::string out = "x";
    append_escaped(out, "\\");
    EXPECT_EQ(out, "x\\\\");
}

TEST(json_writer, objects_and_arrays_get_their_separators) {
    writer w;
    w.begin_object().key("a").number(1LL).key("b").begin_array();
    w.str("x").null().boolean(true).boolean(false);
    w.begin_object().end_object().begin_array().end_array();
    w.end_array().key("c").begin_object().key("d").raw_number("12345678901234567890").end_object();
    w.key("e").raw_number("").key("f").raw("{\"g\":[1]}").end_object();
    EXPECT_EQ(w.text(),
              "{\"a\":1,\"b\":[\"x\",null,true,false,{},[]],\"c\":{\"d\":12345678901234567890},"
              "\"e\":0,\"f\":{\"g\":[1]}}");
}

TEST(json_writer, keys_are_escaped_too) {
    writer w;
    w.begin_object().key("a\"b").str("c\nd").end_object();
    EXPECT_EQ(w.take(), "{\"a\\\"b\":\"c\\nd\"}");
}

TEST(json_writer, numbers_are_exact_or_shortest_and_never_invalid) {
    writer w;
    w.begin_array().number(-42LL).number(18446744073709551615ULL).number(0.1).number(2.0).number(1e300);
    w.number(std::numeric_limits<double>::quiet_NaN()).number(std::numeric_limits<double>::infinity()).end_array();
    EXPECT_EQ(w.text(), "[-42,18446744073709551615,0.1,2,1e+300,null,null]");
}

TEST(json_writer, top_level_values_stand_alone) {
    writer a;
    a.str("only");
    EXPECT_EQ(a.text(), "\"only\"");
    writer b;
    b.begin_array().begin_array().number(1LL).end_array().begin_array().number(2LL).end_array().end_array();
    EXPECT_EQ(b.text(), "[[1],[2]]");
}

}  // namespace
}  // namespace bmm::json
