#version 460
#extension GL_GOOGLE_include_directive : require
// binary.comp - y[i] = a[ia] op b[ib] with numpy broadcasting: for the coordinates c of
// output element i (C order over ext), ia = sum c_d sa_d, ib = sum c_d sb_d (a stride of 0
// broadcasts that axis). One dispatch covers a box of < 2^30 outputs whose operand spans
// are < 2^31 elements (the host splits larger ones and passes each box's first elements'
// addresses), so all index math here is 32-bit. The op is a specialization constant.
#include "common.glsl"
#include "strided.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;  // lsuv_k_binary_op: add, sub, mul, div

layout(push_constant) uniform P {
    uvec2 a, b, y;
    uint total;
    uint ext[AXES];
    uint sa[AXES], sb[AXES];
} p;

float apply(float u, float v)
{
    if (OP == 0)
        return u + v;
    if (OP == 1)
        return u - v;
    if (OP == 2)
        return u * v;
    return u / v;
}

void main()
{
    Floats A = Floats(p.a), B = Floats(p.b), Y = Floats(p.y);
    uint T = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint i = gl_GlobalInvocationID.x;
    if (i >= p.total)
        return;
    uint ext[AXES] = p.ext, sa[AXES] = p.sa, sb[AXES] = p.sb;
    uint c[AXES], step[AXES];
    split_index(i, ext, c);
    split_index(T, ext, step);
    for (;;) {
        uint ia = 0, ib = 0;
        for (uint d = 0; d < AXES; d++) {
            ia += c[d] * sa[d];
            ib += c[d] * sb[d];
        }
        Y.v[i] = apply(A.v[ia], B.v[ib]);
        if (T >= p.total - i)  // i + T >= total, without overflowing (i < total)
            break;
        i += T;
        advance(c, step, ext);
    }
}
