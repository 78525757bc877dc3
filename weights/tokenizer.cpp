#include "weights/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "weights/bpe.h"
#include "weights/chat.h"
#include "weights/error.h"
#include "weights/model_files.h"
#include "weights/tokenizer_added.h"
#include "weights/tokenizer_pretokenizer.h"
#include "weights/unicode.h"

namespace dsv4 {

using Json = nlohmann::json;

namespace {

std::string read_file(const std::filesystem::path& path) {
  check_model_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path.string() + ": cannot open the tokenizer file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string type_of(const Json& j) { return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : ""; }

[[noreturn]] void unsupported(const std::string& source, const std::string& what) {
  throw ModelError(source + ": unsupported tokenizer: " + what);
}

bool flag(const Json& j, const char* key) { return j.contains(key) && j[key].is_boolean() && j[key].get<bool>(); }

void check_normalizer(const Json& j, const std::string& source) {
  if (!j.contains("normalizer") || j["normalizer"].is_null()) return;
  const Json& n = j["normalizer"];
  if (type_of(n) == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array() && n["normalizers"].empty())
    return;
  unsupported(source, "normalizer " + n.dump() + " (only none or an empty Sequence)");
}

// The regexes of the Split steps; checks the rest of the pre_tokenizer is a final ByteLevel
// without prefix space or its own regex (all our BPE does).
std::vector<std::string> split_patterns(const Json& j, const std::string& source) {
  if (!j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null()) unsupported(source, "no pre_tokenizer");
  const Json& pt = j["pre_tokenizer"];
  std::vector<Json> steps;
  if (type_of(pt) == "Sequence" && pt.contains("pretokenizers") && pt["pretokenizers"].is_array())
    steps.assign(pt["pretokenizers"].begin(), pt["pretokenizers"].end());
  else
    steps.push_back(pt);
  if (steps.empty() || type_of(steps.back()) != "ByteLevel") unsupported(source, "pre_tokenizer must end with ByteLevel");
  const Json& bl = steps.back();
  if (flag(bl, "add_prefix_space") || flag(bl, "use_regex"))
    unsupported(source, "ByteLevel pre_tokenizer with add_prefix_space or use_regex");
  std::vector<std::string> patterns;
  for (size_t k = 0; k + 1 < steps.size(); ++k) {
    const Json& s = steps[k];
    if (type_of(s) != "Split") unsupported(source, "pre_tokenizer step " + type_of(s) + " (only Split)");
    if (s.value("behavior", "") != "Isolated" || flag(s, "invert"))
      unsupported(source, "Split behavior " + s.value("behavior", "?") + " (only Isolated, not inverted)");
    const Json& p = s.contains("pattern") ? s["pattern"] : Json();
    if (p.contains("Regex") && p["Regex"].is_string()) {
      patterns.push_back(p["Regex"].get<std::string>());
    } else if (p.contains("String") && p["String"].is_string()) {
      patterns.push_back("\\Q" + p["String"].get<std::string>() + "\\E");
    } else {
      unsupported(source, "Split pattern " + p.dump());
    }
  }
  return patterns;
}

void check_model(const Json& m, const std::string& source) {
  if (type_of(m) != "BPE" && !(m.is_object() && !m.contains("type") && m.contains("merges")))
    unsupported(source, "model type '" + type_of(m) + "' (only BPE)");
  if (m.contains("dropout") && !m["dropout"].is_null()) unsupported(source, "BPE dropout");
  if (flag(m, "byte_fallback") || flag(m, "ignore_merges")) unsupported(source, "BPE byte_fallback/ignore_merges");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty())
      unsupported(source, std::string("BPE ") + key);
}

// model.vocab and model.merges (~256k entries) go straight into these tables while the JSON is
// parsed instead of into the DOM: that halves the load time of a 7.8 MB tokenizer.json.
struct ModelTables {
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  bool has_vocab = false, has_merges = false;
};

class ModelTableCapture {
 public:
  ModelTableCapture(ModelTables& t, const std::string& source) : t_(t), source_(source) {}

  bool operator()(int depth, nlohmann::json::parse_event_t event, Json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (depth == 1) {
        in_model_ = key == "model";
        section_ = kOther;
      }
      if (depth == 2) section_ = !in_model_ ? kOther : key == "vocab" ? kVocab : key == "merges" ? kMerges : kOther;
      if (depth == 3 && section_ == kVocab) {
        token_ = key;
        return false;  // keeps the key out of the DOM; the value callback still comes
      }
      return true;
    }
    if (section_ == kVocab && depth == 2 && event == E::object_start) t_.has_vocab = true;
    if (section_ == kMerges && depth == 2 && event == E::array_start) t_.has_merges = true;
    if (depth != 3) return true;
    if (section_ == kVocab && event == E::value) {
      add_vocab(parsed);
      return false;
    }
    if (section_ == kMerges && (event == E::value || event == E::array_end)) {
      add_merge(parsed);
      return false;
    }
    return true;
  }

 private:
  enum Section { kOther, kVocab, kMerges };

  void add_vocab(const Json& id) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw ModelError(source_ + ": model.vocab[\"" + token_ + "\"] is not a valid id");
    t_.vocab.emplace(token_, id.get<int32_t>());
  }

  void add_merge(const Json& e) {
    const std::string where = source_ + ": model.merges[" + std::to_string(t_.merges.size()) + "]";
    if (e.is_string()) {  // legacy "a b"
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
        throw ModelError(where + " is not \"a b\"");
      t_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      t_.merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      throw ModelError(where + " is malformed");
    }
  }

  ModelTables& t_;
  const std::string& source_;
  bool in_model_ = false;
  Section section_ = kOther;
  std::string token_;
};

std::vector<AddedToken> read_added_tokens(const Json& j, const std::string& source) {
  std::vector<AddedToken> out;
  if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return out;
  if (!j["added_tokens"].is_array()) throw ModelError(source + ": added_tokens is not a list");
  for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
    const Json& t = j["added_tokens"][i];
    const std::string where = source + ": added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
        !t["content"].is_string())
      throw ModelError(where + " needs an integer id and a string content");
    const int64_t id = t["id"].get<int64_t>();
    if (id < 0 || id > INT32_MAX) throw ModelError(where + ": id out of range");
    std::string content = t["content"].get<std::string>();
    // single_word needs Unicode word boundaries; DeepSeek's files never set it.
    if (flag(t, "single_word")) unsupported(source, "added token \"" + content + "\" with single_word");
    out.push_back({static_cast<int32_t>(id), std::move(content), flag(t, "special"), flag(t, "normalized"),
                   flag(t, "lstrip"), flag(t, "rstrip")});
  }
  return out;
}

// HF ignores the "id" written beside an added token: it gives the token the vocabulary's id when
// the content is a vocabulary entry, else the next id after the largest so far (at least the
// vocabulary size), in file order. Well-formed files (DeepSeek's) agree with their "id" fields;
// doing what HF does keeps every id identical to the reference even when a file does not.
void assign_added_token_ids(std::vector<AddedToken>& tokens, const std::unordered_map<std::string, int32_t>& vocab) {
  const int64_t model_size = static_cast<int64_t>(vocab.size());
  std::unordered_map<std::string, int32_t> assigned;
  int64_t max_id = -1;
  for (AddedToken& t : tokens) {
    if (const auto it = vocab.find(t.content); it != vocab.end()) {
      t.id = it->second;
    } else if (const auto a = assigned.find(t.content); a != assigned.end()) {
      t.id = a->second;
    } else {
      const int64_t id = max_id >= 0 && (max_id >= model_size || model_size == 0) ? max_id + 1 : model_size;
      t.id = static_cast<int32_t>(std::min<int64_t>(id, INT32_MAX));
    }
    assigned.emplace(t.content, t.id);
    max_id = std::max<int64_t>(max_id, t.id);
  }
}

void check_decoder(const Json& j, const std::string& source) {
  if (!j.contains("decoder") || j["decoder"].is_null()) return;
  if (type_of(j["decoder"]) != "ByteLevel") unsupported(source, "decoder " + type_of(j["decoder"]) + " (only ByteLevel)");
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  AddedVocabulary added;
  PreTokenizer pre_tokenizer;
  BpeModel bpe;
  std::vector<std::string> id_bytes;  // decoded bytes per id
  std::vector<uint8_t> id_known;      // 1 where id_bytes holds a token
  std::vector<uint8_t> id_special;

  // Pre-token -> ids. Text repeats words a lot; the cache is bounded so memory stays small.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;
  static constexpr size_t kMaxCacheEntries = 1 << 18;
  static constexpr size_t kMaxCachedPieceBytes = 64;

  Impl(std::string src, AddedVocabulary a, PreTokenizer p, BpeModel b)
      : source(std::move(src)), added(std::move(a)), pre_tokenizer(std::move(p)), bpe(std::move(b)) {}

  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
};

void Tokenizer::Impl::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() > kMaxCachedPieceBytes) {
    bpe.encode_word(piece, out);
    return;
  }
  const std::string key(piece);
  {
    std::lock_guard lock(cache_mutex);
    const auto it = cache.find(key);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  bpe.encode_word(piece, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard lock(cache_mutex);
  if (cache.size() >= kMaxCacheEntries) cache.clear();
  cache.emplace(key, std::move(ids));
}

void Tokenizer::Impl::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<ByteRange> pieces;
  pre_tokenizer.split(text, pieces);
  for (const ByteRange& p : pieces) encode_piece(text.substr(p.begin, p.end - p.begin), out);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = path / "tokenizer.json";
  if (!std::filesystem::exists(file, ec))
    throw ModelError(file.string() + ": no such tokenizer file");
  return from_json(read_file(file), file.string());
}

Tokenizer Tokenizer::from_json(std::string_view json, const std::string& source) {
  ModelTables tables;
  ModelTableCapture capture(tables, source);
  Json j = Json::parse(json, std::ref(capture), /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ModelError(source + ": not valid JSON");
  if (!j.is_object() || !j.contains("model")) throw ModelError(source + ": no \"model\" (not a tokenizer.json)");
  check_normalizer(j, source);
  check_decoder(j, source);
  const Json& m = j["model"];
  check_model(m, source);
  if (!tables.has_vocab) throw ModelError(source + ": model.vocab is missing");
  if (!tables.has_merges) throw ModelError(source + ": model.merges is missing");
  const auto& vocab = tables.vocab;
  BpeModel bpe(vocab, tables.merges, source);
  std::vector<AddedToken> added_tokens = read_added_tokens(j, source);
  assign_added_token_ids(added_tokens, vocab);
  AddedVocabulary added(std::move(added_tokens));
  PreTokenizer pre(split_patterns(j, source), source);
  auto impl = std::make_unique<Impl>(source, std::move(added), std::move(pre), std::move(bpe));

  int32_t size = 0;
  for (const auto& [token, id] : vocab) size = std::max(size, id + 1);
  for (const AddedToken& t : impl->added.tokens()) size = std::max(size, t.id + 1);
  constexpr int32_t kMaxIds = 1 << 24;  // far above any real vocabulary; guards the tables below
  if (size > kMaxIds) throw ModelError(source + ": token id " + std::to_string(size - 1) + " is implausibly large");
  impl->id_bytes.resize(static_cast<size_t>(size));
  impl->id_known.assign(static_cast<size_t>(size), 0);
  impl->id_special.assign(static_cast<size_t>(size), 0);
  // HF's ByteLevel decoder maps a token's characters back to bytes when all of them are
  // byte-level characters and keeps its UTF-8 otherwise; added tokens go through it too and
  // take precedence over the vocabulary entry of the same id.
  auto set_bytes = [&](int32_t id, const std::string& token) {
    std::string bytes;
    if (!byte_level_to_bytes(token, &bytes)) bytes = token;
    impl->id_bytes[static_cast<size_t>(id)] = std::move(bytes);
    impl->id_known[static_cast<size_t>(id)] = 1;
  };
  for (const auto& [token, id] : vocab) set_bytes(id, token);
  for (const AddedToken& t : impl->added.tokens()) {
    set_bytes(t.id, t.content);
    impl->id_special[static_cast<size_t>(t.id)] = t.special;
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  const TextSegment whole{text, true};
  return encode_segments({&whole, 1});
}

std::vector<int32_t> Tokenizer::encode_segments(std::span<const TextSegment> segments) const {
  std::string text;
  std::vector<ByteRange> searchable;
  for (const TextSegment& s : segments) {
    if (s.match_added_tokens && !s.text.empty()) {
      if (!searchable.empty() && searchable.back().end == text.size())
        searchable.back().end += s.text.size();
      else
        searchable.push_back({text.size(), text.size() + s.text.size()});
    }
    text += s.text;
  }
  if (const auto bad = unicode::find_invalid_utf8(text))
    throw std::invalid_argument("invalid UTF-8 at byte " + std::to_string(*bad) + " of the text to tokenize");
  std::vector<int32_t> ids;
  size_t pos = 0;
  for (const AddedTokenMatch& m : impl_->added.find(text, searchable)) {
    impl_->encode_text(std::string_view(text).substr(pos, m.begin - pos), ids);
    ids.push_back(m.id);
    pos = m.end;
  }
  impl_->encode_text(std::string_view(text).substr(pos), ids);
  return ids;
}

std::vector<int32_t> Tokenizer::encode_prompt(const Prompt& prompt) const {
  std::vector<TextSegment> segments;
  segments.reserve(prompt.segments.size());
  for (const PromptSegment& s : prompt.segments)
    segments.push_back({s.text, s.kind != PromptSegment::Kind::kContent});
  return encode_segments(segments);
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !impl_->id_known[static_cast<size_t>(id)])
    throw std::out_of_range("unknown token id " + std::to_string(id) + " (the tokenizer " + impl_->source +
                            " has no such token)");
  return impl_->id_bytes[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (const int32_t id : ids) bytes += token_bytes(id);
  return unicode::to_valid_utf8_lossy(bytes);
}

std::optional<int32_t> Tokenizer::added_token_id(std::string_view content) const { return impl_->added.id_of(content); }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->id_special[static_cast<size_t>(id)];
}

std::string Tokenizer::decode_generated(std::span<const int32_t> ids) const {
  std::string bytes;
  for (const int32_t id : ids)
    if (has_token(id)) bytes += impl_->id_bytes[static_cast<size_t>(id)];
  return unicode::to_valid_utf8_lossy(bytes);
}

bool Tokenizer::has_token(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->id_known[static_cast<size_t>(id)];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_bytes.size()); }

std::string StreamDecoder::push(int32_t id) {
  if (!tokenizer_->has_token(id)) return {};
  pending_ += tokenizer_->token_bytes(id);
  const size_t complete = unicode::complete_utf8_prefix(pending_);
  std::string out = unicode::to_valid_utf8_lossy(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = unicode::to_valid_utf8_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace dsv4
