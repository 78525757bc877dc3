// `dsv4 tokenize` and `dsv4 encode-chat` as a user runs them: byte-exact output against the
// golden ids and the official prompt-encoder outputs, and one-line errors with exit status 1.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer_helpers.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string out, err;
};

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsv4_cli_tok_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& contents) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << contents;
    return p.string();
  }

  // Runs the dsv4 binary with `args` (already shell-quoted), capturing stdout and stderr.
  Result run(const std::string& args) {
    const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
    const std::string cmd = std::string("'") + DSV4_BINARY + "' " + args + " > '" + out + "' 2> '" + err + "'";
    const int raw = std::system(cmd.c_str());
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, test::read_file(out), test::read_file(err)};
  }

  static std::string quoted(const std::string& path) {
    std::string q = "'";
    q += path;
    q += '\'';
    return q;
  }
  static std::string tokenizer() { return quoted(test::data_path("tokenizer/tokenizer.json")); }

  void expect_one_line_error(const Result& r, const std::string& fragment) {
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err.rfind("dsv4: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  fs::path dir_;
};

std::string joined(const std::vector<int32_t>& ids, const char* separator = " ") {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += separator;
    s += std::to_string(ids[i]);
  }
  return s;
}

TEST_F(TokenizeCli, JsonlMatchesEveryGoldenFile) {
  for (const char* golden : {"tokenizer/golden.jsonl", "tokenizer/golden_extra.jsonl", "tokenizer/golden_large.jsonl"}) {
    const Result r = run("tokenize --tokenizer " + tokenizer() + " --jsonl '" + test::data_path(golden) + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    std::string expected;
    for (const auto& c : test::read_golden(golden)) expected += joined(c.ids) + "\n";
    EXPECT_TRUE(r.out == expected) << golden;  // (not EXPECT_EQ: the diff would be megabytes)
  }
}

TEST_F(TokenizeCli, TextArgumentAndFile) {
  EXPECT_EQ(run("tokenize --tokenizer " + tokenizer() + " 'Hello world'").out, "19923 2058\n");
  const Result empty = run("tokenize --tokenizer " + tokenizer() + " ''");
  EXPECT_EQ(empty.status, 0);
  EXPECT_EQ(empty.out, "\n");
  EXPECT_EQ(run("tokenize --tokenizer " + tokenizer() + " --file - < " + quoted(file("in.txt", "Hello world"))).out,
            "19923 2058\n");
  // Files are taken byte for byte (trailing newlines included); the model directory works too.
  // (A few cases only: each run loads the 7.8 MB tokenizer.json.)
  int tried = 0;
  for (const auto& c : test::read_golden("tokenizer/golden.jsonl")) {
    if (c.text.find_first_of("\r\n\t") == std::string::npos || ++tried > 4) continue;
    const Result r = run("tokenize --tokenizer '" + test::data_path("tokenizer") + "' --file '" + file("t.txt", c.text) + "'");
    EXPECT_EQ(r.out, joined(c.ids) + "\n") << c.id;
  }
}

TEST_F(TokenizeCli, DecodeIsTheInverse) {
  EXPECT_EQ(run("tokenize --tokenizer " + tokenizer() + " --decode 19923 2058 128803").out, "Hello world<｜User｜>\n");
  const auto cases = test::read_golden("tokenizer/golden_extra.jsonl");
  std::string lines;
  for (const auto& c : cases) lines += "{\"id\": \"" + c.id + "\", \"ids\": [" + joined(c.ids, ", ") + "]}\n";
  const Result r = run("tokenize --tokenizer " + tokenizer() + " --decode --jsonl '" + file("ids.jsonl", lines) + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream out(r.out);
  std::string line;
  size_t n = 0;
  while (std::getline(out, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_LT(n, cases.size());
    EXPECT_EQ(j["id"], cases[n].id);
    EXPECT_EQ(j["text"], cases[n].text);
    ++n;
  }
  EXPECT_EQ(n, cases.size());
}

TEST_F(TokenizeCli, ErrorsAreOneLineAndExitOne) {
  expect_one_line_error(run("tokenize --tokenizer '" + (dir_ / "missing.json").string() + "' x"), "missing.json");
  expect_one_line_error(run("tokenize --tokenizer '" + file("bad.json", "{\"model\": [") + "' x"), "not valid JSON");
  const std::string jsonl = file("in.jsonl", "{\"id\": 1, \"text\": \"Hello world\"}\n{\"id\": 2, \"text\": \"a\xff\"}\n");
  const Result bad_utf8 = run("tokenize --tokenizer " + tokenizer() + " --jsonl '" + jsonl + "'");
  expect_one_line_error(bad_utf8, "in.jsonl:2: invalid UTF-8");
  EXPECT_EQ(bad_utf8.out, "19923 2058\n");  // line 1 was done before line 2 failed
  expect_one_line_error(run("tokenize --tokenizer " + tokenizer() + " --jsonl '" + file("j.jsonl", "{oops\n") + "'"),
                        "j.jsonl:1");
  expect_one_line_error(run("tokenize --tokenizer " + tokenizer() + " --file '" + file("b.txt", "\xC0\xAF") + "'"),
                        "invalid UTF-8 at byte 0");
  expect_one_line_error(run("tokenize --tokenizer " + tokenizer() + " --decode 5 128815"), "unknown token id 128815");
  expect_one_line_error(run("encode-chat --messages '" + file("m.json", "[{\"role\": \"user\"") + "'"), "not valid JSON");
  expect_one_line_error(run("encode-chat --messages '" + file("r.json", "[{\"role\": \"robot\"}]") + "'"), "robot");
}

TEST_F(TokenizeCli, EncodeChatReproducesTheOfficialOutputs) {
  for (int n = 1; n <= 4; ++n) {
    const std::string in = test::data_path("encoding/test_input_" + std::to_string(n) + ".json");
    const Result r = run("encode-chat --messages '" + in + "' --mode " + (n == 4 ? "chat" : "think"));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, test::read_file(test::data_path("encoding/test_output_" + std::to_string(n) + ".txt"))) << n;
  }
}

TEST_F(TokenizeCli, EncodeChatPromptAndIds) {
  EXPECT_EQ(run("encode-chat --prompt 'Hi' --mode chat").out, "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜></think>");
  // With --ids the template tokens are single ids while the same literal typed by the user is not.
  const Result r = run("encode-chat --prompt '<｜User｜>' --mode chat --ids --tokenizer " + tokenizer());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("0 128803 ", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("128803", 2), r.out.find("128803"));  // only once
}

}  // namespace
}  // namespace dsv4
