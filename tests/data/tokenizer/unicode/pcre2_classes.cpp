#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <cstdio>
#include <string>
int main() {
  const char* names[] = {"L", "M", "N", "P", "S", "s"};
  const char* rx[] = {"\\p{L}", "\\p{M}", "\\p{N}", "\\p{P}", "\\p{S}", "\\s"};
  std::printf("{");
  for (int k = 0; k < 6; k++) {
    int err; PCRE2_SIZE off;
    auto* re = pcre2_compile((PCRE2_SPTR)rx[k], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    auto* md = pcre2_match_data_create_from_pattern(re, nullptr);
    std::printf("%s\"%s\":[", k ? "," : "", names[k]);
    bool first = true;
    for (unsigned c = 0; c < 0x110000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      char buf[4]; int n;
      if (c < 0x80) { buf[0] = c; n = 1; }
      else if (c < 0x800) { buf[0] = 0xc0 | (c >> 6); buf[1] = 0x80 | (c & 63); n = 2; }
      else if (c < 0x10000) { buf[0] = 0xe0 | (c >> 12); buf[1] = 0x80 | ((c >> 6) & 63); buf[2] = 0x80 | (c & 63); n = 3; }
      else { buf[0] = 0xf0 | (c >> 18); buf[1] = 0x80 | ((c >> 12) & 63); buf[2] = 0x80 | ((c >> 6) & 63); buf[3] = 0x80 | (c & 63); n = 4; }
      if (pcre2_match(re, (PCRE2_SPTR)buf, n, 0, PCRE2_ANCHORED, md, nullptr) > 0) { std::printf("%s%u", first ? "" : ",", c); first = false; }
    }
    std::printf("]");
  }
  std::printf("}\n");
}
