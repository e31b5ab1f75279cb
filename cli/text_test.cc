#include "cli/text.h"

#include <string>

#include "gtest/gtest.h"

namespace berth::cli {
namespace {

TEST(PrintableTest, PlainTextAndUtf8AreKept) {
  EXPECT_EQ(Printable(""), "");
  EXPECT_EQ(Printable("train-llama 8×1×1, café, 模型 \\n"), "train-llama 8×1×1, café, 模型 \\n");
}

TEST(PrintableTest, ControlsAreSpelledOut) {
  EXPECT_EQ(Printable("a\x1b[31mred\x1b[0m"), "a\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(Printable("one\ntwo\r\tthree"), "one\\ntwo\\r\\tthree");
  EXPECT_EQ(Printable(std::string("nul\0bel\a del\x7f", 13)), "nul\\x00bel\\x07 del\\x7f");
}

TEST(PrintableTest, C1ControlsAndBrokenUtf8AreSpelledOut) {
  // U+009B is CSI, which some terminals take like "ESC [".
  EXPECT_EQ(Printable("\xc2\x9b"
                      "31m"),
            "\\u009b31m");
  EXPECT_EQ(Printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable
  EXPECT_EQ(Printable("cut \xe6\xa8"), "cut \\xe6\\xa8");
  EXPECT_EQ(Printable("\xc0\xaf \xff \xed\xa0\x80"), "\\xc0\\xaf \\xff \\xed\\xa0\\x80");
}

TEST(PrintableTest, EscapingTwiceChangesNothing) {
  const std::string once = Printable("a\x1b[2J\nb\xc2\x9b\xff");
  EXPECT_EQ(Printable(once), once);
}

}  // namespace
}  // namespace berth::cli
