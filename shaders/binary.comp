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
// ROWS: for a long innermost axis, workgroups walk rows (y) and the axis (x): the row's
// offsets are formed once per row, each element costs a multiply-add per operand.
layout(constant_id = 2) const bool ROWS = false;

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

void rows()
{
    Floats A = Floats(p.a), B = Floats(p.b), Y = Floats(p.y);
    uint ext[AXES] = p.ext, sa[AXES] = p.sa, sb[AXES] = p.sb;
    uint len = ext[AXES - 1], nrows = p.total / len, T = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint row = gl_WorkGroupID.y; row < nrows; row += gl_NumWorkGroups.y) {
        uint r = row, ia = 0, ib = 0;
        for (uint d = AXES - 1; d > FIRST; d--) {
            uint c = r % ext[d - 1];
            r /= ext[d - 1];
            ia += c * sa[d - 1];
            ib += c * sb[d - 1];
        }
        for (uint j = gl_GlobalInvocationID.x; j < len; j += T)
            Y.v[row * len + j] = apply(A.v[ia + j * sa[AXES - 1]], B.v[ib + j * sb[AXES - 1]]);
    }
}

void main()
{
    if (ROWS) {
        rows();
        return;
    }
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
        for (uint d = FIRST; d < AXES; d++) {
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
