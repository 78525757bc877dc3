#include "weights/bpe.h"

#include <algorithm>
#include <array>
#include <queue>

#include "weights/error.h"
#include "weights/unicode.h"

namespace dsv4 {
namespace {

// bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes are
// shifted to U+0100.. in byte order, so every byte has a visible, non-space character.
bool is_self_mapped(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct ByteLevelTables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // the characters are all below U+0144
  ByteLevelTables() {
    to_byte.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = is_self_mapped(b) ? static_cast<char32_t>(b) : next++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

char32_t byte_level_char(uint8_t byte) { return tables().to_char[byte]; }

int byte_level_byte(char32_t c) { return c < tables().to_byte.size() ? tables().to_byte[c] : -1; }

bool byte_level_to_bytes(std::string_view token, std::string* out) {
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const int b = byte_level_byte(unicode::next_code_point(token, i));
    if (b < 0) return false;
    bytes += static_cast<char>(b);
  }
  *out += bytes;
  return true;
}

BpeModel::BpeModel(const std::unordered_map<std::string, int32_t>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, const std::string& source) {
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    unicode::append_utf8(ch, byte_level_char(static_cast<uint8_t>(b)));
    const auto it = vocab.find(ch);
    if (it == vocab.end())
      throw ModelError(source + ": model.vocab lacks the byte-level token for byte " + std::to_string(b));
    byte_ids_[b] = it->second;
  }
  merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto ia = vocab.find(a), ib = vocab.find(b), inew = vocab.find(a + b);
    if (ia == vocab.end() || ib == vocab.end() || inew == vocab.end())
      throw ModelError(source + ": model.merges[" + std::to_string(rank) + "] \"" + a + " " + b +
                       "\" uses a token that is not in model.vocab");
    // A repeated pair keeps its first (lowest) rank, as in HF.
    merges_.try_emplace(pair_key(ia->second, ib->second), Merge{static_cast<int32_t>(rank), inew->second});
  }
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::encode_word(std::string_view bytes, std::vector<int32_t>& out) const {
  const int n = static_cast<int>(bytes.size());
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_ids_[static_cast<uint8_t>(bytes[0])]);
    return;
  }
  // Symbols form a doubly linked list; candidate merges wait in a min-heap ordered by
  // (rank, position). An entry is stale once either of its symbols has changed.
  std::vector<int32_t> id(n), prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_ids_[static_cast<uint8_t>(bytes[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank, pos, left_id, right_pos, right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const int right = next[left];
    if (const Merge* m = find_merge(id[left], id[right])) heap.push({m->rank, left, id[left], right, id[right]});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    if (id[c.pos] != c.left_id || next[c.pos] != c.right_pos || id[c.right_pos] != c.right_id) continue;
    id[c.pos] = find_merge(c.left_id, c.right_id)->new_id;
    id[c.right_pos] = -1;  // removed
    next[c.pos] = next[c.right_pos];
    if (next[c.pos] >= 0) prev[next[c.pos]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  for (int i = 0; i >= 0; i = next[i]) out.push_back(id[i]);
}

}  // namespace dsv4
