#include "tokenizer/tokenizer_helpers.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace dsv4::test {

std::string data_path(const std::string& relative) { return std::string(DSV4_TEST_DATA_DIR) + "/" + relative; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing test file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Tokenizer& deepseek_tokenizer() {
  static const Tokenizer tok = Tokenizer::load(data_path("tokenizer/tokenizer.json"));
  return tok;
}

int32_t byte_token(const Tokenizer& tok, uint8_t byte) {
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    try {
      const std::string_view b = tok.token_bytes(id);
      if (b.size() == 1 && static_cast<uint8_t>(b[0]) == byte) return id;
    } catch (const std::out_of_range&) {
    }
  }
  throw std::runtime_error("no single-byte token for byte " + std::to_string(byte));
}

std::vector<GoldenCase> read_golden(const std::string& relative) {
  std::istringstream in(read_file(data_path(relative)));
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j["id"].get<std::string>(), j["text"].get<std::string>(), j["ids"].get<std::vector<int32_t>>()});
  }
  if (cases.empty()) throw std::runtime_error("no cases in " + relative);
  return cases;
}

}  // namespace dsv4::test
