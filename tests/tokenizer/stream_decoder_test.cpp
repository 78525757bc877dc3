// Streaming decode: a character whose bytes arrive in several tokens is printed only once it is
// complete; ill-formed bytes come out as U+FFFD exactly as in decode().
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_helpers.h"

namespace dsv4 {
namespace {

TEST(StreamDecoder, HoldsAnEmojiUntilItsLastByte) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(tok.encode("a").front()), "a");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xF0)), "");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0x9F)), "");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0x98)), "");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0x80)), "\xF0\x9F\x98\x80");
  EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, EmitsCompletedTextAndKeepsTheUnfinishedTail) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  StreamDecoder stream(tok);
  // "é" = C3 A9: the C3 arrives together with complete text before it.
  EXPECT_EQ(stream.push(tok.encode("Hi").front()), "Hi");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xC3)), "");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xA9)), "\xC3\xA9");
}

TEST(StreamDecoder, IllFormedBytesBecomeReplacementCharacters) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xF0)), "");
  // 'x' cannot continue F0: the F0 is replaced and 'x' printed.
  EXPECT_EQ(stream.push(tok.encode("x").front()), "\xEF\xBF\xBDx");
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xE4)), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");  // the stream ended inside a character
}

TEST(StreamDecoder, IdsPastTheTokenizerPrintNothing) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  StreamDecoder stream(tok);
  EXPECT_FALSE(tok.has_token(tok.vocab_size()));
  EXPECT_FALSE(tok.has_token(-1));
  EXPECT_TRUE(tok.has_token(tok.encode("a").front()));
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xC3)), "");
  EXPECT_EQ(stream.push(tok.vocab_size() + 7), "");  // a padding row of the model's vocabulary
  EXPECT_EQ(stream.push(test::byte_token(tok, 0xA9)), "\xC3\xA9");  // the character still completes
  EXPECT_THROW(tok.decode(std::vector<int32_t>{tok.vocab_size()}), std::out_of_range);  // explicit decode stays strict
  const std::vector<int32_t> generated = {tok.encode("a").front(), tok.vocab_size() + 7, tok.encode("b").front()};
  EXPECT_EQ(tok.decode_generated(generated), "ab");
}

TEST(StreamDecoder, ConcatenationEqualsDecode) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  const std::string text = "日本語 👨‍👩‍👧‍👦 🏳️‍🌈 naïve <｜User｜> 𠀋";
  const auto ids = tok.encode(text);
  StreamDecoder stream(tok);
  std::string out;
  size_t held_back = 0;
  for (const int32_t id : ids) {
    const std::string piece = stream.push(id);
    if (piece.empty()) ++held_back;
    out += piece;
  }
  out += stream.flush();
  EXPECT_EQ(out, text);
  EXPECT_EQ(out, tok.decode(ids));
  EXPECT_GT(held_back, 0u);  // some character did span several tokens
}

}  // namespace
}  // namespace dsv4
