// The tokenizer of a model directory's tokenizer.json (Hugging Face `tokenizers` format,
// DeepSeek-V3/V4 byte-level BPE; model-spec §5.1). encode() gives the ids HF gives for
// `tokenizer.encode(text, add_special_tokens=False)`; every id, added tokens included, comes
// from the file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4 {

struct Prompt;  // weights/chat.h

// A piece of text to encode. Added-token literals are matched only in segments with
// `match_added_tokens` (template text); other text (user content) is always BPE-encoded, so a
// user who types "<｜User｜>" cannot inject a control token.
struct TextSegment {
  std::string_view text;
  bool match_added_tokens;
};

class Tokenizer {
 public:
  // `path`: a tokenizer.json file or a directory holding one. Throws ModelError naming the file.
  static Tokenizer load(const std::filesystem::path& path);
  // `json`: the contents of a tokenizer.json; `source` names it in error messages.
  static Tokenizer from_json(std::string_view json, const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Throws std::invalid_argument on invalid UTF-8 (naming the byte offset). Thread-safe.
  std::vector<int32_t> encode(std::string_view text) const;
  // Encodes the concatenation of `segments`; text runs across segment boundaries are
  // pre-tokenized as one, exactly as if the whole string were encoded.
  std::vector<int32_t> encode_segments(std::span<const TextSegment> segments) const;
  // A rendered chat prompt: template specials become their ids, content is plain text.
  std::vector<int32_t> encode_prompt(const Prompt& prompt) const;

  // As HF decode(ids, skip_special_tokens=False): bytes of every token, ill-formed UTF-8
  // replaced by U+FFFD. Throws std::out_of_range naming an unknown id.
  std::string decode(std::span<const int32_t> ids) const;
  // decode() of generated ids: an id the tokenizer lacks (a padding row of the model's vocabulary)
  // is skipped, as StreamDecoder does, instead of throwing.
  std::string decode_generated(std::span<const int32_t> ids) const;
  // The raw bytes of one token (may be part of a UTF-8 character). Throws on an unknown id.
  std::string_view token_bytes(int32_t id) const;

  std::optional<int32_t> added_token_id(std::string_view content) const;
  bool is_special(int32_t id) const;  // an added token marked "special": true
  bool has_token(int32_t id) const;   // the vocabulary or an added token defines `id`
  // 1 + the largest id of the vocabulary or of an added token.
  int32_t vocab_size() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of ids into text without ever emitting half a UTF-8 character: bytes of an
// incomplete character wait for the next token. Ill-formed bytes become U+FFFD, as in decode().
// An id the tokenizer lacks prints nothing (as HF's decode skips it): the model's vocabulary is
// padded past the tokenizer's (V4: 129,280 rows), and a sampled padding id must not end a generation.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::string push(int32_t id);  // the text that became complete with this token
  std::string flush();           // whatever is pending (incomplete bytes -> U+FFFD)

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace dsv4
