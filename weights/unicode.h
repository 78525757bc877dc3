// UTF-8 helpers shared by the tokenizer and the prompt encoder: validation with a byte position,
// code point encode/decode, and the lossy conversion the Hugging Face ByteLevel decoder applies.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsv4::unicode {

// Byte offset of the first ill-formed UTF-8 sequence in `s` (overlongs, surrogates and code
// points above U+10FFFF count as ill-formed), or nullopt when `s` is valid.
std::optional<size_t> find_invalid_utf8(std::string_view s);

// Length of the longest prefix of `s` that ends on a character boundary, treating an incomplete
// but so-far-valid sequence at the end as "not yet complete". Used by the streaming decoder so
// that half a character is never printed.
size_t complete_utf8_prefix(std::string_view s);

// Replaces every ill-formed subsequence by U+FFFD the way Rust's String::from_utf8_lossy does
// (one replacement per maximal subpart, Unicode "best practice"), which is what HF decode yields.
std::string to_valid_utf8_lossy(std::string_view s);

void append_utf8(std::string& out, char32_t cp);

// Decodes the code point starting at s[i] of VALID UTF-8 and advances i.
char32_t next_code_point(std::string_view s, size_t& i);

}  // namespace dsv4::unicode
