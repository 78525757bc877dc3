#include "cli/text_stream.h"

#include <algorithm>
#include <cstdio>

namespace dsv4::cli {

void TextStream::emit(size_t upto) {
  if (upto <= printed_) return;
  std::fwrite(text_.data() + printed_, 1, upto - printed_, stdout);
  std::fflush(stdout);
  printed_ = upto;
}

bool TextStream::push(int32_t id) {
  if (stopped_) return false;
  text_ += decoder_.push(id);
  for (const std::string& s : stop_) {
    const size_t at = s.empty() ? std::string::npos : text_.find(s);
    if (at != std::string::npos) {
      text_.resize(at);
      emit(at);
      stopped_ = true;
      return false;
    }
  }
  // Hold back the longest tail that could still become a stop string.
  size_t hold = 0;
  for (const std::string& s : stop_)
    for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), text_.size()); k > hold; --k)
      if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  emit(text_.size() - hold);
  return true;
}

void TextStream::finish() {
  if (!stopped_) {
    text_ += decoder_.flush();
    emit(text_.size());
  }
}

}  // namespace dsv4::cli
