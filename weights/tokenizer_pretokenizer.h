// The pre-tokenizer of DeepSeek's tokenizer.json (model-spec §5.1): a sequence of
// Split(Regex, "Isolated") steps, each run on every piece the previous step made, then ByteLevel
// (done by BpeModel). The Oniguruma regexes of the file are translated to PCRE2: \s and \S are
// spelled out as Oniguruma means them, and \p{L} \p{M} \p{N} \p{P} \p{S} are widened from
// PCRE2's Unicode 14 tables to the reference's Unicode 16 (weights/unicode_tables.h).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weights/tokenizer_added.h"

namespace dsv4 {

// Oniguruma pattern -> equivalent PCRE2 pattern (for the constructs tokenizer.json files use).
// Throws ModelError naming `where` for a construct it cannot translate faithfully.
std::string oniguruma_to_pcre2(std::string_view pattern, const std::string& where);

class PreTokenizer {
 public:
  // `split_patterns`: the Oniguruma regexes of the Split steps, in order.
  PreTokenizer(const std::vector<std::string>& split_patterns, const std::string& source);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Splits `text` (valid UTF-8) into pieces; appends their byte ranges, relative to `text`.
  void split(std::string_view text, std::vector<ByteRange>& pieces) const;

 private:
  struct Step;
  std::vector<std::unique_ptr<Step>> steps_;
};

}  // namespace dsv4
