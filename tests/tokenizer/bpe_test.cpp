// Byte-level alphabet and the BPE merge order on toy vocabularies whose results are worked out
// by hand.
#include "weights/bpe.h"

#include <gtest/gtest.h>

#include "weights/error.h"
#include "weights/unicode.h"

namespace dsv4 {
namespace {

TEST(ByteLevel, MapsBytesToGpt2Alphabet) {
  EXPECT_EQ(byte_level_char('A'), U'A');
  EXPECT_EQ(byte_level_char('~'), U'~');
  EXPECT_EQ(byte_level_char(0x00), U'\u0100');
  EXPECT_EQ(byte_level_char(' '), U'\u0120');   // 'Ġ': the 33rd non-printable byte
  EXPECT_EQ(byte_level_char('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(byte_level_char(0x7F), U'\u0121');
  EXPECT_EQ(byte_level_char(0xA0), U'\u0142');
  EXPECT_EQ(byte_level_char(0xAD), U'\u0143');  // soft hyphen, the last shifted byte
  EXPECT_EQ(byte_level_char(0xE9), U'\u00E9');
}

TEST(ByteLevel, IsABijection) {
  for (int b = 0; b < 256; ++b) EXPECT_EQ(byte_level_byte(byte_level_char(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(byte_level_byte(U'\u0144'), -1);
  EXPECT_EQ(byte_level_byte(U' '), -1);
  EXPECT_EQ(byte_level_byte(U'\uFF5C'), -1);
  std::string bytes;
  EXPECT_TRUE(byte_level_to_bytes("\u0120hi\u010A", &bytes));
  EXPECT_EQ(bytes, " hi\n");
  EXPECT_FALSE(byte_level_to_bytes("<\uFF5CUser\uFF5C>", &bytes));
  EXPECT_EQ(bytes, " hi\n");  // untouched on failure
}

// A vocabulary of the 256 byte tokens (id = byte) plus the given multi-byte tokens.
struct ToyBpe {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  ToyBpe() {
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, byte_level_char(static_cast<uint8_t>(b)));
      vocab[s] = b;
    }
  }
  ToyBpe& merge(const std::string& a, const std::string& b, int32_t id) {
    vocab[a + b] = id;
    merges.emplace_back(a, b);
    return *this;
  }
  std::vector<int32_t> encode(std::string_view word) const {
    std::vector<int32_t> out;
    BpeModel(vocab, merges, "toy").encode_word(word, out);
    return out;
  }
};

TEST(Bpe, LowestRankMergesFirst) {
  // "abcd" with ranks cd < bc < ab: cd merges first, which blocks bc; then ab.
  ToyBpe t;
  t.merge("c", "d", 300).merge("b", "c", 301).merge("a", "b", 302);
  EXPECT_EQ(t.encode("abcd"), (std::vector<int32_t>{302, 300}));
  // The same pairs in the opposite rank order: ab first, then nothing else applies but c d.
  ToyBpe u;
  u.merge("a", "b", 300).merge("b", "c", 301).merge("c", "d", 302);
  EXPECT_EQ(u.encode("abcd"), (std::vector<int32_t>{300, 302}));
}

TEST(Bpe, EqualRanksMergeLeftmostFirst) {
  ToyBpe t;
  t.merge("a", "a", 300).merge("aa", "aa", 301);
  EXPECT_EQ(t.encode("aaa"), (std::vector<int32_t>{300, 'a'}));
  EXPECT_EQ(t.encode("aaaa"), (std::vector<int32_t>{301}));
  EXPECT_EQ(t.encode("aaaaa"), (std::vector<int32_t>{301, 'a'}));
}

TEST(Bpe, MergedTokensMergeFurther) {
  ToyBpe t;
  t.merge("\u0120", "t", 300).merge("h", "e", 301).merge("\u0120t", "he", 302);
  EXPECT_EQ(t.encode(" the"), (std::vector<int32_t>{302}));
  EXPECT_EQ(t.encode(" them"), (std::vector<int32_t>{302, 'm'}));
  EXPECT_EQ(t.encode("the"), (std::vector<int32_t>{'t', 301}));
}

TEST(Bpe, BytesWithoutMergesStaySingle) {
  ToyBpe t;
  EXPECT_EQ(t.encode("\xF0\x9F\x98\x80"), (std::vector<int32_t>{0xF0, 0x9F, 0x98, 0x80}));
  EXPECT_EQ(t.encode(""), std::vector<int32_t>{});
}

TEST(Bpe, RejectsInconsistentTables) {
  ToyBpe t;
  t.merges.emplace_back("x", "q");  // "xq" is not in the vocabulary
  EXPECT_THROW(t.encode("xq"), ModelError);
  ToyBpe u;
  u.vocab.erase("\u0120");
  try {
    u.encode("a");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("byte 32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsv4
