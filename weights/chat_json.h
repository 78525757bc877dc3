// JSON text exactly as Python's json.dumps(value, ensure_ascii=False) writes it (RULES.md §6 of
// tests/data/encoding): the DeepSeek-V4 prompt encoder embeds tool schemas, response formats
// and tool-call arguments this way, so the bytes must match the reference.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace dsv4 {

// Object members keep their input order, as Python dicts do.
using ChatJson = nlohmann::ordered_json;

// `", "` and `": "` separators, non-ASCII as is, floats in Python repr form.
std::string python_json_dumps(const ChatJson& value);
// Python repr() of a float: shortest round-trip digits, always with '.' or an exponent.
std::string python_float_repr(double v);

}  // namespace dsv4
