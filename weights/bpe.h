// Byte-level BPE, the model of Hugging Face `tokenizers` used by DeepSeek (model-spec §5.1):
// each byte of a pre-token becomes one of 256 printable "byte-level" characters (GPT-2's
// bytes_to_unicode table), then adjacent symbols are merged, always the pair of lowest merge
// rank first and the leftmost of equal ranks, until no listed merge applies.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dsv4 {

// GPT-2's reversible byte <-> printable character map (the ByteLevel pre-tokenizer/decoder).
char32_t byte_level_char(uint8_t byte);
// The byte a byte-level character stands for, or -1 if `c` is not one of the 256.
int byte_level_byte(char32_t c);
// A token's byte-level spelling -> raw bytes; false (out untouched) if a character is not one
// of the 256, in which case HF's ByteLevel decoder keeps the token's UTF-8 as is.
bool byte_level_to_bytes(std::string_view token, std::string* out);

class BpeModel {
 public:
  // `vocab`: byte-level token -> id; `merges`: pairs of byte-level tokens in rank order.
  // `source` names the file for error messages. Throws ModelError on an inconsistent table.
  BpeModel(const std::unordered_map<std::string, int32_t>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, const std::string& source);

  // Appends the ids of one pre-token given as raw bytes.
  void encode_word(std::string_view bytes, std::vector<int32_t>& out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const Merge* find_merge(int32_t left, int32_t right) const;

  int32_t byte_ids_[256];
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace dsv4
