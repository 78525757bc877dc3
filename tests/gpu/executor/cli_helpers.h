// Running the built dsv4 binary from a test, as a user would: environment assignments, arguments,
// stdout and stderr captured together, the exit status.
#pragma once
#include <array>
#include <cstdio>
#include <sstream>
#include <string>

namespace dsv4::test {

struct CliResult {
  int status = -1;
  std::string out;  // stdout + stderr
};

// `env`: "NAME=value NAME2=value2" (may be empty).
inline CliResult run_dsv4(const std::string& env, const std::string& args) {
  std::ostringstream cmd;  // a stream, not operator+: GCC 12's -Wrestrict misfires on long chains
  cmd << env << " " << DSV4_BINARY << " " << args << " 2>&1";
  CliResult r;
  FILE* p = popen(cmd.str().c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

}  // namespace dsv4::test
