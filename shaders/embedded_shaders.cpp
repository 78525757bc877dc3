#include "embedded_shaders.h"

namespace dsv4::shaders {

const Spirv* find(std::string_view name) {
  for (const Spirv* s : all())
    if (s->name == name) return s;
  return nullptr;
}

}  // namespace dsv4::shaders
