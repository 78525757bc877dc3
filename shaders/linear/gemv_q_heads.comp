#version 450
// Attention's wq_b in decode with the query heads finished by each head's last workgroup:
// gemv_q_main.glsl with Q_HEADS.
#extension GL_GOOGLE_include_directive : require
#define Q_HEADS
#include "gemv_q_main.glsl"
