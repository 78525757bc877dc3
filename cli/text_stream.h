// Streams generated ids to stdout as text: complete UTF-8 only (StreamDecoder), and stop strings
// held back until it is clear they do not match, so a stop string is never printed.
#pragma once
#include <string>
#include <vector>

#include "weights/tokenizer.h"

namespace dsv4::cli {

class TextStream {
 public:
  TextStream(const Tokenizer& tok, std::vector<std::string> stop) : decoder_(tok), stop_(std::move(stop)) {}
  // Prints what is safe to print; false once a stop string appeared (the text before it printed).
  bool push(int32_t id);
  void finish();  // prints what is held back (unless a stop string ended it)
  const std::string& text() const { return text_; }

 private:
  void emit(size_t upto);
  StreamDecoder decoder_;
  std::vector<std::string> stop_;
  std::string text_;   // everything decoded (before any stop string)
  size_t printed_ = 0;
  bool stopped_ = false;
};

}  // namespace dsv4::cli
