#include "weights/tokenizer_added.h"

#include <algorithm>

#include "weights/unicode.h"

namespace dsv4 {

void AddedVocabulary::Trie::insert(std::string_view s, int32_t token) {
  int32_t node = 0;
  for (const char ch : s) {
    const uint8_t b = static_cast<uint8_t>(ch);
    auto& kids = nodes[node].children;
    auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t{-1}));
    if (it == kids.end() || it->first != b) {
      const int32_t child = static_cast<int32_t>(nodes.size());
      it = kids.insert(it, {b, child});
      nodes.emplace_back();  // invalidates `kids`; `child` is kept by value
    }
    node = nodes[node].children[static_cast<size_t>(it - nodes[node].children.begin())].second;
  }
  if (nodes[node].token < 0) nodes[node].token = token;  // the first of duplicate contents wins
  first_byte[static_cast<uint8_t>(s[0])] = true;
}

std::pair<size_t, int32_t> AddedVocabulary::Trie::longest(std::string_view text, size_t pos, size_t limit) const {
  std::pair<size_t, int32_t> best{0, -1};
  int32_t node = 0;
  for (size_t i = pos; i < limit; ++i) {
    const uint8_t b = static_cast<uint8_t>(text[i]);
    const auto& kids = nodes[node].children;
    const auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t{-1}));
    if (it == kids.end() || it->first != b) break;
    node = it->second;
    if (nodes[node].token >= 0) best = {i + 1 - pos, nodes[node].token};
  }
  return best;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    id_by_content_.try_emplace(tokens_[i].content, tokens_[i].id);
    index_by_id_.try_emplace(tokens_[i].id, i);
    if (tokens_[i].content.empty()) continue;  // HF never matches an empty token
    (tokens_[i].normalized ? normalized_ : raw_).insert(tokens_[i].content, static_cast<int32_t>(i));
  }
}

namespace {

// Rust's char::is_whitespace (Unicode White_Space), which HF uses for lstrip/rstrip.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Start of the whitespace run that ends at `pos`, not going below `floor`.
size_t whitespace_before(std::string_view text, size_t pos, size_t floor) {
  while (pos > floor) {
    size_t start = pos - 1;
    while (start > floor && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!is_white_space(unicode::next_code_point(text, i))) break;
    pos = start;
  }
  return pos;
}

size_t whitespace_after(std::string_view text, size_t pos, size_t limit) {
  while (pos < limit) {
    size_t i = pos;
    if (!is_white_space(unicode::next_code_point(text, i)) || i > limit) break;
    pos = i;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::find_in(const Trie& trie, std::string_view text, ByteRange range,
                              std::vector<AddedTokenMatch>& out) const {
  size_t pos = range.begin;
  while (pos < range.end) {
    if (!trie.first_byte[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [len, token] = trie.longest(text, pos, range.end);
    if (token < 0) {
      ++pos;
      continue;
    }
    const AddedToken& t = tokens_[static_cast<size_t>(token)];
    const size_t floor = out.empty() || out.back().end < range.begin ? range.begin : out.back().end;
    const size_t begin = t.lstrip ? whitespace_before(text, pos, floor) : pos;
    const size_t end = t.rstrip ? whitespace_after(text, pos + len, range.end) : pos + len;
    out.push_back({begin, end, t.id});
    pos = end;
  }
}

std::vector<AddedTokenMatch> AddedVocabulary::find(std::string_view text, std::span<const ByteRange> searchable) const {
  std::vector<AddedTokenMatch> first;
  for (const ByteRange& r : searchable) find_in(raw_, text, r, first);
  // Second pass: normalized tokens, in the searchable gaps the first pass left.
  std::vector<AddedTokenMatch> all;
  size_t next_first = 0;
  for (const ByteRange& r : searchable) {
    size_t pos = r.begin;
    while (next_first < first.size() && first[next_first].begin < r.end) {
      find_in(normalized_, text, {pos, first[next_first].begin}, all);
      all.push_back(first[next_first]);
      pos = first[next_first].end;
      ++next_first;
    }
    find_in(normalized_, text, {pos, r.end}, all);
  }
  return all;
}

std::optional<int32_t> AddedVocabulary::id_of(std::string_view content) const {
  const auto it = id_by_content_.find(std::string(content));
  return it == id_by_content_.end() ? std::nullopt : std::optional<int32_t>(it->second);
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  const auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace dsv4
