// Golden ids made by Hugging Face tokenizers (npm tokenizers@0.23.2) with DeepSeek-V3's
// tokenizer.json: README's 63 cases, ~560 more across scripts/whitespace/special literals/fuzz
// (golden_extra.jsonl) and ~400 KB of random mixed text (golden_large.jsonl). Every id must
// match and decode(encode(x)) must give x back.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_helpers.h"
#include "weights/unicode.h"

namespace dsv4 {
namespace {

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, EveryIdMatchesAndRoundTrips) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  const auto cases = test::read_golden(GetParam());
  size_t mismatches = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c.text);
    if (ids != c.ids && ++mismatches <= 5) ADD_FAILURE() << c.id << ": ids differ";
    EXPECT_EQ(tok.decode(ids), c.text) << c.id;
  }
  EXPECT_EQ(mismatches, 0u) << "of " << cases.size();
}

INSTANTIATE_TEST_SUITE_P(Files, Golden,
                         ::testing::Values("tokenizer/golden.jsonl", "tokenizer/golden_extra.jsonl",
                                           "tokenizer/golden_large.jsonl"),
                         [](const auto& info) {
                           std::string s = info.param;
                           return s.substr(10, s.find('.') - 10);
                         });

TEST(Golden, StreamingDecodeNeverSplitsACharacter) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  for (const auto& c : test::read_golden("tokenizer/golden_extra.jsonl")) {
    StreamDecoder stream(tok);
    std::string text;
    for (const int32_t id : c.ids) {
      const std::string piece = stream.push(id);
      EXPECT_EQ(unicode::find_invalid_utf8(piece), std::nullopt) << c.id;
      text += piece;
    }
    text += stream.flush();
    EXPECT_EQ(text, c.text) << c.id;
  }
}

}  // namespace
}  // namespace dsv4
