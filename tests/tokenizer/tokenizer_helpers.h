// Shared fixtures of the tokenizer tests: the DeepSeek-V3 tokenizer.json committed under
// tests/data/tokenizer (loaded once per process) and the golden id files made with HF tokenizers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "weights/tokenizer.h"

namespace dsv4::test {

std::string data_path(const std::string& relative);  // under DSV4_TEST_DATA_DIR
std::string read_file(const std::string& path);
const Tokenizer& deepseek_tokenizer();
// The id of the token that is exactly the single byte `byte`.
int32_t byte_token(const Tokenizer& tok, uint8_t byte);

struct GoldenCase {
  std::string id, text;
  std::vector<int32_t> ids;
};
std::vector<GoldenCase> read_golden(const std::string& relative);

}  // namespace dsv4::test
