#include "weights/tokenizer_pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "weights/error.h"
#include "weights/unicode_tables.h"

namespace dsv4 {
namespace {

const char* unicode16_extra(std::string_view property) {
  if (property == "L") return unicode::kUnicode16ExtraL;
  if (property == "M") return unicode::kUnicode16ExtraM;
  if (property == "N") return unicode::kUnicode16ExtraN;
  if (property == "P") return unicode::kUnicode16ExtraP;
  if (property == "S") return unicode::kUnicode16ExtraS;
  return "";  // sub-categories (Lu, Nd...) keep PCRE2's tables
}

struct Translator {
  std::string_view in;
  const std::string& where;
  std::string out;
  bool in_class = false;

  [[noreturn]] void fail(const std::string& what) const {
    throw ModelError(where + ": regex \"" + std::string(in) + "\": " + what);
  }

  // Emits a class body fragment, bracketed unless already inside a class.
  void emit_class(const std::string& body, bool negated) {
    if (in_class) {
      if (negated) fail("negated escape inside a character class is not supported");
      out += body;
    } else {
      out += negated ? "[^" : "[";
      out += body;
      out += ']';
    }
  }

  size_t escape(size_t i) {
    if (i + 1 >= in.size()) fail("ends with a backslash");
    const char e = in[i + 1];
    if (e == 'p' || e == 'P') {
      const size_t close = in.find('}', i);
      if (i + 2 >= in.size() || in[i + 2] != '{' || close == std::string_view::npos) fail("malformed \\p{...}");
      const std::string_view name = in.substr(i + 3, close - i - 3);
      emit_class("\\p{" + std::string(name) + "}" + unicode16_extra(name), e == 'P');
      return close + 1;
    }
    if (e == 's' || e == 'S') {
      emit_class(unicode::kOnigurumaSpace, e == 'S');
      return i + 2;
    }
    if (std::string_view("dDwWhHbBR").find(e) != std::string_view::npos)
      fail(std::string("\\") + e + " is not supported (its Unicode meaning differs between engines)");
    if (e == 'x' && i + 2 < in.size() && in[i + 2] == '{') {
      const size_t close = in.find('}', i);
      if (close == std::string_view::npos) fail("malformed \\x{...}");
      out += in.substr(i, close + 1 - i);
      return close + 1;
    }
    out += in.substr(i, 2);
    return i + 2;
  }

  std::string run() {
    size_t i = 0;
    while (i < in.size()) {
      const char c = in[i];
      if (c == '\\') {
        i = escape(i);
      } else if (c == '[') {
        if (in_class) fail("nested character classes are not supported");
        in_class = true;
        out += '[';
        ++i;
        if (i < in.size() && in[i] == '^') out += in[i++];
        if (i < in.size() && in[i] == ']') {  // a leading ']' is literal
          out += "\\]";
          ++i;
        }
      } else if (c == ']' && in_class) {
        in_class = false;
        out += ']';
        ++i;
      } else {
        out += c;
        ++i;
      }
    }
    if (in_class) fail("unterminated character class");
    return out;
  }
};

}  // namespace

std::string oniguruma_to_pcre2(std::string_view pattern, const std::string& where) {
  return Translator{pattern, where, {}}.run();
}

struct PreTokenizer::Step {
  pcre2_code* code = nullptr;
  ~Step() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& split_patterns, const std::string& source) {
  for (size_t k = 0; k < split_patterns.size(); ++k) {
    const std::string where = source + ": pre_tokenizer Split step " + std::to_string(k);
    const std::string pcre = oniguruma_to_pcre2(split_patterns[k], where);
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    auto step = std::make_unique<Step>();
    step->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre.data()), pcre.size(), PCRE2_UTF | PCRE2_UCP, &err,
                               &err_offset, nullptr);
    if (!step->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw ModelError(where + ": PCRE2 cannot compile the regex: " + reinterpret_cast<const char*>(msg) +
                       " at offset " + std::to_string(err_offset));
    }
    pcre2_jit_compile(step->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is absent
    steps_.push_back(std::move(step));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

namespace {

// Split(behavior = Isolated): every match is a piece and so is every gap between matches.
void split_isolated(pcre2_code* code, pcre2_match_data* md, std::string_view text, ByteRange piece,
                    std::vector<ByteRange>& out) {
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
  const size_t len = piece.end - piece.begin;
  size_t start = 0, gap = 0;
  while (start < len) {
    const int rc = pcre2_match(code, subject, len, start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw std::runtime_error("PCRE2 match failed with code " + std::to_string(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    if (ov[1] == ov[0]) {  // an empty match splits nothing; step over one character
      start = ov[0] + 1;
      while (start < len && (static_cast<uint8_t>(subject[start]) & 0xC0) == 0x80) ++start;
      continue;
    }
    if (ov[0] > gap) out.push_back({piece.begin + gap, piece.begin + ov[0]});
    out.push_back({piece.begin + ov[0], piece.begin + ov[1]});
    gap = start = ov[1];
  }
  if (gap < len) out.push_back({piece.begin + gap, piece.end});
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<ByteRange>& pieces) const {
  if (text.empty()) return;
  std::vector<ByteRange> current{{0, text.size()}}, next;
  pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  try {
    for (const auto& step : steps_) {
      next.clear();
      for (const ByteRange& p : current) split_isolated(step->code, md, text, p, next);
      current.swap(next);
    }
  } catch (...) {
    pcre2_match_data_free(md);
    throw;
  }
  pcre2_match_data_free(md);
  pieces.insert(pieces.end(), current.begin(), current.end());
}

}  // namespace dsv4
