# cmake -P script: turns one .spv file into a C++ source holding its words.
file(READ ${SPV} hex HEX)
string(LENGTH "${hex}" nchars)
math(EXPR rem "${nchars} % 8")
if(NOT rem EQUAL 0 OR nchars EQUAL 0)
  message(FATAL_ERROR "${SPV}: not a whole number of 32-bit SPIR-V words")
endif()
# SPIR-V is little-endian on disk; each 8 hex chars "aabbccdd" become the word 0xddccbbaa.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x........u,){8})" "\\1\n" words "${words}")
math(EXPR nwords "${nchars} / 8")
file(WRITE ${OUT} "// Generated from ${NAME}.comp by shaders/embed_spirv.cmake.
#include \"embedded_shaders.h\"
namespace dsv4::shaders {
namespace { const uint32_t kWords[${nwords}] = {
${words}
}; }
extern const Spirv spirv_${IDENT};
const Spirv spirv_${IDENT} = {\"${NAME}\", kWords, ${nwords}};
}  // namespace dsv4::shaders
")
