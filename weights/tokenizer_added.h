// The added tokens of a tokenizer.json (`added_tokens`: BOS, EOS, <｜User｜>, <think>, ...) and
// how HF `tokenizers` finds them in text before any pre-tokenization: leftmost-longest matching,
// first for the tokens with "normalized": false over the whole text, then for those with
// "normalized": true in the gaps between the first matches (the normalizer is empty here, so
// both passes see the same bytes).
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsv4 {

struct AddedToken {
  int32_t id;
  std::string content;
  bool special;
  bool normalized;
  bool lstrip = false;  // a match also swallows the whitespace before it
  bool rstrip = false;  // ... and after it
};

// A half-open byte range [begin, end) of a text.
struct ByteRange {
  size_t begin, end;
};

struct AddedTokenMatch {
  size_t begin, end;
  int32_t id;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  explicit AddedVocabulary(std::vector<AddedToken> tokens);

  // Matches in `text`, in order, each lying entirely inside one of `searchable` (sorted,
  // disjoint); text outside them is never matched (content the caller wants encoded as text).
  std::vector<AddedTokenMatch> find(std::string_view text, std::span<const ByteRange> searchable) const;

  std::optional<int32_t> id_of(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;  // nullptr if `id` is not an added token
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // A byte trie; node 0 is the root. Children are few per node, kept in a flat sorted list.
  struct Trie {
    struct Node {
      std::vector<std::pair<uint8_t, int32_t>> children;
      int32_t token = -1;  // index into tokens_ of the token ending here
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};
    void insert(std::string_view s, int32_t token);
    // Longest token starting at text[pos] and ending by `limit`: {length, token index} or {0, -1}.
    std::pair<size_t, int32_t> longest(std::string_view text, size_t pos, size_t limit) const;
  };
  void find_in(const Trie& trie, std::string_view text, ByteRange range, std::vector<AddedTokenMatch>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, int32_t> id_by_content_;
  std::unordered_map<int32_t, size_t> index_by_id_;
  Trie raw_, normalized_;
};

}  // namespace dsv4
