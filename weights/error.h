// The error type of weights/: bad or unsupported model files. what() is one line that names the
// file, key or tensor at fault, ready to print after "dsv4: error: ".
#pragma once
#include <stdexcept>
#include <string>

namespace dsv4 {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dsv4
