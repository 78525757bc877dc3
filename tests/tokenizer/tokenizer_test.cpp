// Tokenizer behaviour beyond the golden files: ids read from the file (not hard-coded), the two
// added-token passes, lstrip/rstrip, decoding, and clear errors. Expected ids of modified files were checked
// against HF tokenizers (npm 0.23.2) given the same modified JSON.
#include "weights/tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_helpers.h"
#include "weights/bpe.h"
#include "weights/error.h"
#include "weights/unicode.h"

namespace dsv4 {
namespace {

using Ids = std::vector<int32_t>;

nlohmann::json deepseek_json() {
  static const nlohmann::json j = nlohmann::json::parse(test::read_file(test::data_path("tokenizer/tokenizer.json")));
  return j;
}

// DeepSeek's file with a 256-byte vocabulary and no merges: loads in milliseconds, enough for
// the configuration errors.
nlohmann::json tiny_json() {
  static const nlohmann::json tiny = [] {
    nlohmann::json j = deepseek_json();
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      unicode::append_utf8(s, byte_level_char(static_cast<uint8_t>(b)));
      vocab[s] = b;
    }
    j["model"]["vocab"] = vocab;
    j["model"]["merges"] = {"a b", "c d", "e f", "g h", "i j", "k l"};
    vocab["ab"] = 256, vocab["cd"] = 257, vocab["ef"] = 258, vocab["gh"] = 259, vocab["ij"] = 260, vocab["kl"] = 261;
    j["model"]["vocab"] = vocab;
    return j;
  }();
  return tiny;
}

nlohmann::json added(int id, const std::string& content, bool normalized) {
  return {{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
          {"normalized", normalized}, {"special", !normalized}};
}

Tokenizer with_extra_tokens(const std::vector<nlohmann::json>& tokens) {
  nlohmann::json j = deepseek_json();
  for (const auto& t : tokens) j["added_tokens"].push_back(t);
  return Tokenizer::from_json(j.dump(), "modified tokenizer.json");
}

TEST(Tokenizer, EmptyTextHasNoIds) { EXPECT_EQ(test::deepseek_tokenizer().encode(""), Ids{}); }

TEST(Tokenizer, SpecialIdsComeFromTheFile) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  EXPECT_EQ(tok.added_token_id("<｜begin▁of▁sentence｜>"), 0);
  EXPECT_EQ(tok.added_token_id("<｜User｜>"), 128803);
  EXPECT_EQ(tok.added_token_id("<think>"), std::nullopt);  // DeepSeek-V3's file has none
  EXPECT_EQ(tok.vocab_size(), 128815);
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(128803));  // "special": false in the file
  EXPECT_EQ(tok.encode("a<｜User｜>b"), (Ids{67, 128803, 68}));
  EXPECT_EQ(tok.encode("<think>"), (Ids{30, 37947, 32}));  // plain text with this file

  // Add <think> and rename <｜User｜>: the same texts now encode differently.
  nlohmann::json j = deepseek_json();
  for (auto& t : j["added_tokens"])
    if (t["content"] == "<｜User｜>") t["content"] = "<｜Human｜>";
  j["added_tokens"].push_back(added(128815, "<think>", false));
  const Tokenizer v4like = Tokenizer::from_json(j.dump(), "modified");
  EXPECT_EQ(v4like.encode("<think>x"), (Ids{128815, 90}));
  EXPECT_EQ(v4like.encode("<｜Human｜>"), Ids{128803});
  EXPECT_NE(v4like.encode("<｜User｜>"), Ids{128803});
  EXPECT_EQ(v4like.decode(Ids{128815}), "<think>");
}

TEST(Tokenizer, NonNormalizedAddedTokensAreMatchedFirst) {
  // "y>z" (normalized: false) wins over the earlier-starting "<xy>" (normalized: true).
  const Tokenizer tok = with_extra_tokens({added(128815, "<xy>", true), added(128816, "y>z", false)});
  EXPECT_EQ(tok.encode("<xy>z"), (Ids{102377, 128816}));
  EXPECT_EQ(tok.encode("<xy>"), Ids{128815});
}

TEST(Tokenizer, AddedTokensMatchLeftmostLongest) {
  // "<a" is already a vocabulary entry (33739), so HF gives it that id and "<ab>" the next
  // free one, 128815, whatever the file says.
  const Tokenizer tok = with_extra_tokens({added(128815, "<a", false), added(128816, "<ab>", false)});
  EXPECT_EQ(tok.encode("<ab>"), Ids{128815});
  EXPECT_EQ(tok.encode("<ab"), (Ids{33739, 68}));
  EXPECT_EQ(tok.encode("x<a<ab>"), (Ids{90, 33739, 128815}));
}

TEST(Tokenizer, LstripAndRstripSwallowWhitespace) {
  nlohmann::json l = added(128815, "<L>", false), r = added(128816, "<R>", true);
  l["lstrip"] = true;
  r["rstrip"] = true;
  const Tokenizer tok = with_extra_tokens({l, r});
  EXPECT_EQ(tok.encode("a  <L>b"), (Ids{67, 128815, 68}));
  EXPECT_EQ(tok.encode("a \u3000<L>"), (Ids{67, 128815}));
  EXPECT_EQ(tok.encode("<R>  x"), (Ids{128816, 90}));
  EXPECT_EQ(tok.encode("x <R>\n\n<L>y"), (Ids{90, 223, 128816, 128815, 91}));
  EXPECT_EQ(tok.encode("a<R> <L>z"), (Ids{67, 128816, 128815, 92}));
  EXPECT_EQ(tok.encode("\u00a0\u0085<L>"), Ids{128815});
}

TEST(Tokenizer, ControlCharactersAreOrdinaryBytes) {
  EXPECT_EQ(test::deepseek_tokenizer().encode(std::string("nul\0x\x01y", 7)), (Ids{80, 363, 191, 90, 192, 91}));
}

TEST(Tokenizer, SegmentsMatchAddedTokensOnlyWhereAllowed) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  const TextSegment template_text[] = {{"<｜User｜>", true}, {"a<｜User｜>", false}};
  const Ids ids = tok.encode_segments(template_text);
  EXPECT_EQ(ids.front(), 128803);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128803), 1);
  EXPECT_EQ(tok.decode(ids), "<｜User｜>a<｜User｜>");
  // Text across segment boundaries is pre-tokenized as one: " world" stays one piece.
  const TextSegment split_word[] = {{"Hello wo", false}, {"rld", true}};
  EXPECT_EQ(tok.encode_segments(split_word), (Ids{19923, 2058}));
}

TEST(Tokenizer, DecodesLikeHfByteLevel) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  EXPECT_EQ(tok.decode(Ids{19923, 2058}), "Hello world");
  EXPECT_EQ(tok.decode(Ids{0, 128803}), "<｜begin▁of▁sentence｜><｜User｜>");
  EXPECT_EQ(tok.decode(Ids{}), "");
  // A lone lead byte is ill-formed on its own: U+FFFD, as HF's from_utf8_lossy gives.
  EXPECT_EQ(tok.decode(Ids{test::byte_token(tok, 0xF0), 90}), "\xEF\xBF\xBDx");
}

TEST(Tokenizer, RejectsInvalidUtf8) {
  try {
    test::deepseek_tokenizer().encode("ok\xFFno");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("invalid UTF-8 at byte 2"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, RejectsUnknownIds) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  for (const int32_t id : {-1, 128815, 999999}) {
    try {
      tok.decode(Ids{id});
      FAIL() << id;
    } catch (const std::out_of_range& e) {
      EXPECT_NE(std::string(e.what()).find("unknown token id " + std::to_string(id)), std::string::npos);
    }
  }
}

void expect_model_error(const std::string& json, const std::string& fragment) {
  try {
    Tokenizer::from_json(json, "bad.json");
    FAIL() << fragment;
  } catch (const ModelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.json"), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(Tokenizer, ClearErrorsForBadFiles) {
  expect_model_error("{\"model\": ", "not valid JSON");
  expect_model_error("[1, 2]", "not a tokenizer.json");
  EXPECT_EQ(Tokenizer::from_json(tiny_json().dump(), "tiny").encode("abc"), (Ids{256, 'c'}));
  nlohmann::json j = tiny_json();
  j["model"]["type"] = "WordPiece";
  expect_model_error(j.dump(), "only BPE");
  j = tiny_json();
  j["model"]["merges"][5] = "nospace";
  expect_model_error(j.dump(), "model.merges[5]");
  j = tiny_json();
  j["model"]["merges"][2] = "x y";
  expect_model_error(j.dump(), "model.merges[2] \"x y\" uses a token that is not in model.vocab");
  j = tiny_json();
  j["model"]["vocab"]["ab"] = -4;
  expect_model_error(j.dump(), "model.vocab[\"ab\"]");
  j = tiny_json();
  j["model"].erase("vocab");
  expect_model_error(j.dump(), "model.vocab is missing");
  j = tiny_json();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  expect_model_error(j.dump(), "only Isolated");
  j = tiny_json();
  j["pre_tokenizer"]["pretokenizers"][2]["pattern"]["Regex"] = "\\d+";
  expect_model_error(j.dump(), "Split step 2");
  j = tiny_json();
  j["added_tokens"][3]["single_word"] = true;
  expect_model_error(j.dump(), "single_word");
  j = tiny_json();
  j["added_tokens"][3]["content"] = 7;
  expect_model_error(j.dump(), "added_tokens[3]");
  j = tiny_json();
  j["normalizer"] = {{"type", "NFC"}};
  expect_model_error(j.dump(), "normalizer");
  j = tiny_json();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_model_error(j.dump(), "decoder");
  try {
    Tokenizer::load("/nonexistent/dir/tokenizer.json");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/tokenizer.json"), std::string::npos);
  }
}

TEST(Tokenizer, KeyOrderOfTheFileDoesNotMatter) {
  // "model" first: the entries of lists that follow it (added_tokens...) are not vocabulary.
  const nlohmann::json j = deepseek_json();
  nlohmann::ordered_json reordered;
  for (const char* key : {"model", "added_tokens", "pre_tokenizer", "decoder", "normalizer", "version"})
    reordered[key] = j[key];
  const Tokenizer tok = Tokenizer::from_json(reordered.dump(), "reordered");
  EXPECT_EQ(tok.encode("a<｜User｜>b"), (Ids{67, 128803, 68}));
  EXPECT_EQ(tok.encode("Hello world"), (Ids{19923, 2058}));
}

TEST(Tokenizer, LoadsFromAModelDirectory) {
  const Tokenizer tok = Tokenizer::load(test::data_path("tokenizer"));
  EXPECT_EQ(tok.encode("Hello world"), (Ids{19923, 2058}));
}

}  // namespace
}  // namespace dsv4
