// The text rule for names and owners, and how untrusted text is shown
// (src/common/text.h, src/common/json.h): what the replicas, the CLI and
// every JSON output share.
#include "common/text.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace paxlock {
namespace {

TEST(TextRule, EveryControlCharacterIsNamedWithItsOffset) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string s = std::string("ab") + static_cast<char>(c);
    EXPECT_EQ(text_problem(s), fmt::format("cannot contain control characters (byte 0x{:02x} at "
                                           "offset 2)",
                                           c));
  }
  EXPECT_TRUE(text_problem("a\x7f").has_value());
  for (int c = 0x80; c <= 0x9F; ++c) {  // C1: U+0080..U+009F
    const std::string s = std::string("\xc2") + static_cast<char>(c);
    EXPECT_EQ(text_problem(s), "cannot contain control characters (byte 0xc2 at offset 0)");
  }
  EXPECT_FALSE(text_problem("\xc2\xa0").has_value());  // U+00A0, a no-break space, is text
}

TEST(TextRule, InvalidUtf8IsRefusedAndValidTextOfEveryLengthIsNot) {
  EXPECT_FALSE(text_problem("").has_value());
  EXPECT_FALSE(text_problem("a/b c-d_e.f:g").has_value());
  EXPECT_FALSE(text_problem("\xc3\xa4\xe2\x82\xac\xf0\x9f\x94\x92").has_value());  // ä € 🔒
  for (const char* bad : {"\xff", "\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80"}) {
    auto why = text_problem(bad);
    ASSERT_TRUE(why.has_value()) << bad;
    EXPECT_NE(why->find("must be valid UTF-8"), std::string::npos) << *why;
  }
}

TEST(Printable, ControlsAndBadBytesAreEscapedAndBackslashesDoubled) {
  EXPECT_EQ(printable("plain \xc3\xa4"), "plain \xc3\xa4");
  EXPECT_EQ(printable("a\x1b[2J\x07"), "a\\x1b[2J\\x07");
  EXPECT_EQ(printable("\x7f\xc2\x9b\xff"), "\\x7f\\xc2\\x9b\\xff");
  EXPECT_EQ(printable(std::string("n\0l\n", 4)), "n\\x00l\\x0a");
  EXPECT_EQ(printable("back\\x1b"), "back\\\\x1b");  // cannot pose as an escape
}

TEST(JsonLine, EveryControlCharacterIsEscapedAndBadBytesReplaced) {
  Json j = {{"s", "a\x1b\x7f\xc2\x9b\xc2\xa0\xff"}, {"n", 1}};
  EXPECT_EQ(to_json_line(j), "{\"s\":\"a\\u001b\\u007f\\u009b\xc2\xa0\xef\xbf\xbd\",\"n\":1}");
  EXPECT_EQ(Json::parse(to_json_line(j))["s"], "a\x1b\x7f\xc2\x9b\xc2\xa0\xef\xbf\xbd");
}

}  // namespace
}  // namespace paxlock
