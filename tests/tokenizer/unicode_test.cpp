// UTF-8 validation, the lossy repair HF's decode applies, and the streaming boundary rule.
#include "weights/unicode.h"

#include <gtest/gtest.h>

namespace dsv4::unicode {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Unicode, AcceptsWellFormedText) {
  EXPECT_EQ(find_invalid_utf8(""), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("abc"), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"), std::nullopt);
}

TEST(Unicode, ReportsTheFirstIllFormedByte) {
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);                 // lone continuation
  EXPECT_EQ(find_invalid_utf8("ab\xC0\xAF"), 2u);           // overlong '/'
  EXPECT_EQ(find_invalid_utf8("ab\xED\xA0\x80"), 2u);       // UTF-16 surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);     // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("x\xE2\x82"), 1u);            // truncated at the end
  EXPECT_EQ(find_invalid_utf8("ok\xFF"), 2u);
}

TEST(Unicode, LossyRepairReplacesMaximalSubparts) {
  // Examples worked out from Unicode §3.9 "U+FFFD substitution of maximal subparts".
  EXPECT_EQ(to_valid_utf8_lossy("Hello \xF0\x90\x80World"), "Hello " + kReplacement + "World");
  EXPECT_EQ(to_valid_utf8_lossy("\xC3\x28"), kReplacement + "(");
  EXPECT_EQ(to_valid_utf8_lossy("\xE0\x80\x80"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(to_valid_utf8_lossy("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(to_valid_utf8_lossy("\xF0\x9F\x98"), kReplacement);
  EXPECT_EQ(to_valid_utf8_lossy("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
}

TEST(Unicode, CompletePrefixHoldsBackOnlyAnUnfinishedCharacter) {
  EXPECT_EQ(complete_utf8_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(complete_utf8_prefix("ab\xC3"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\x80"), 3u);    // can never complete: not held back
  EXPECT_EQ(complete_utf8_prefix("\xE0\x80"), 2u);  // E0 80 is already ill-formed
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
}

TEST(Unicode, EncodesAndDecodesCodePoints) {
  for (const char32_t cp : {U'\u0041', U'\u00E9', U'\u4E2D', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    append_utf8(s, cp);
    EXPECT_EQ(find_invalid_utf8(s), std::nullopt);
    size_t i = 0;
    EXPECT_EQ(next_code_point(s, i), cp);
    EXPECT_EQ(i, s.size());
  }
}

}  // namespace
}  // namespace dsv4::unicode
