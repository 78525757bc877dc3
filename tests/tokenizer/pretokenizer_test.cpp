// The Split pre-tokenizer with DeepSeek's three regexes (read from the committed tokenizer.json):
// pieces worked out by hand from Oniguruma semantics; each also checked against HF's
// pre_tokenizer (npm tokenizers 0.23.2, preTokenizeString) when it was written.
#include "weights/tokenizer_pretokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_helpers.h"
#include "weights/error.h"
#include "weights/unicode_tables.h"

namespace dsv4 {
namespace {

std::vector<std::string> deepseek_patterns() {
  const auto j = nlohmann::json::parse(test::read_file(test::data_path("tokenizer/tokenizer.json")));
  std::vector<std::string> out;
  for (const auto& step : j["pre_tokenizer"]["pretokenizers"])
    if (step["type"] == "Split") out.push_back(step["pattern"]["Regex"].get<std::string>());
  return out;
}

std::vector<std::string> pieces(std::string_view text) {
  static const PreTokenizer pre(deepseek_patterns(), "tokenizer.json");
  std::vector<ByteRange> ranges;
  pre.split(text, ranges);
  std::vector<std::string> out;
  for (const ByteRange& r : ranges) out.emplace_back(text.substr(r.begin, r.end - r.begin));
  return out;
}

using P = std::vector<std::string>;

TEST(PreTokenizer, FileHasTheThreeDeepSeekSplits) { EXPECT_EQ(deepseek_patterns().size(), 3u); }

TEST(PreTokenizer, WordsTakeOneLeadingSpace) {
  EXPECT_EQ(pieces("Hello world"), (P{"Hello", " world"}));
  EXPECT_EQ(pieces("a  b"), (P{"a", " ", " b"}));
  EXPECT_EQ(pieces("don't"), (P{"don", "'t"}));
  EXPECT_EQ(pieces(""), P{});
}

TEST(PreTokenizer, DigitsSplitInThreesBeforeAnythingElse) {
  EXPECT_EQ(pieces("12345"), (P{"123", "45"}));
  EXPECT_EQ(pieces("abc123def"), (P{"abc", "123", "def"}));
  EXPECT_EQ(pieces("\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4"), (P{"\xD9\xA1\xD9\xA2\xD9\xA3", "\xD9\xA4"}));  // ١٢٣٤
  EXPECT_EQ(pieces("\xC2\xBD\xC2\xB2"), (P{"\xC2\xBD\xC2\xB2"}));  // ½² are \p{N}
}

TEST(PreTokenizer, CjkAndKanaRunsAreIsolated) {
  EXPECT_EQ(pieces("\xE4\xBD\xA0\xE5\xA5\xBDworld"), (P{"\xE4\xBD\xA0\xE5\xA5\xBD", "world"}));  // 你好world
}

TEST(PreTokenizer, PunctuationKeepsTrailingNewlines) {
  EXPECT_EQ(pieces("Hello!!!\n\n"), (P{"Hello", "!!!\n\n"}));
}

TEST(PreTokenizer, WhitespaceIsOnigurumaWhitespace) {
  // U+0085 NEL is whitespace: the first of two is a piece of its own.
  EXPECT_EQ(pieces("x\xC2\x85\xC2\x85y"), (P{"x", "\xC2\x85", "\xC2\x85y"}));
  // U+180E is not (PCRE2's \s says it is): the space cannot take it along.
  EXPECT_EQ(pieces("a \xE1\xA0\x8E"), (P{"a", " ", "\xE1\xA0\x8E"}));
  // U+FEFF is not whitespace either; it prefixes the next word like any non-letter.
  EXPECT_EQ(pieces("a \xEF\xBB\xBF" "b"), (P{"a", " ", "\xEF\xBB\xBF" "b"}));
}

TEST(PreTokenizer, UsesUnicode16Classes) {
  // U+1FA77 PINK HEART (Unicode 15) is \p{S}: it joins the space like other symbols.
  EXPECT_EQ(pieces("hi \xF0\x9F\xA9\xB7\xF0\x9F\xA9\xB7"), (P{"hi", " \xF0\x9F\xA9\xB7\xF0\x9F\xA9\xB7"}));
  // U+1E5D0, U+1E5D1 OL ONAL letters (Unicode 16) form one word.
  EXPECT_EQ(pieces("\xF0\x9E\x97\x90\xF0\x9E\x97\x91"), (P{"\xF0\x9E\x97\x90\xF0\x9E\x97\x91"}));
}

TEST(PreTokenizer, LongWhitespaceRunsDoNotBlowUp) {
  const std::string spaces(200000, ' ');
  EXPECT_EQ(pieces(spaces + "x"), (P{std::string(199999, ' '), " x"}));
}

TEST(OnigurumaToPcre2, SpellsOutWhitespaceAndWidensProperties) {
  const std::string space = unicode::kOnigurumaSpace;
  EXPECT_EQ(oniguruma_to_pcre2("\\s+", "t"), "[" + space + "]+");
  EXPECT_EQ(oniguruma_to_pcre2("(?!\\S)", "t"), "(?![^" + space + "])");
  EXPECT_EQ(oniguruma_to_pcre2("[^\\s]", "t"), "[^" + space + "]");
  EXPECT_EQ(oniguruma_to_pcre2("\\p{N}{1,3}", "t"), std::string("[\\p{N}") + unicode::kUnicode16ExtraN + "]{1,3}");
  EXPECT_EQ(oniguruma_to_pcre2("[\\p{L}x]", "t"), std::string("[\\p{L}") + unicode::kUnicode16ExtraL + "x]");
  EXPECT_EQ(oniguruma_to_pcre2("[\\]a-z\\\\]", "t"), "[\\]a-z\\\\]");
}

TEST(OnigurumaToPcre2, RejectsWhatItCannotTranslate) {
  EXPECT_THROW(oniguruma_to_pcre2("[\\S]", "t"), ModelError);
  EXPECT_THROW(oniguruma_to_pcre2("\\d+", "t"), ModelError);
  EXPECT_THROW(oniguruma_to_pcre2("[a", "t"), ModelError);
  EXPECT_THROW(oniguruma_to_pcre2("abc\\", "t"), ModelError);
  EXPECT_THROW(PreTokenizer({"(unclosed"}, "t"), ModelError);
}

}  // namespace
}  // namespace dsv4
