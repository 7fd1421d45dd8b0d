#version 460
#extension GL_GOOGLE_include_directive : require
// gather.comp - strided copy y[iy] = x[ix] over a box (transpose, slice, the inside of a
// pad): for the coordinates c of element i of the box (C order over ext),
// ix = origin + sum c_d sx_d (sx may be negative: reversed slices; origin keeps ix >= 0)
// and iy = sum c_d sy_d. The host passes each box's lowest addresses and keeps the box
// below 2^30 elements and both spans below 2^31, so all index math is 32-bit.
#include "common.glsl"
#include "strided.glsl"
layout(local_size_x = 256) in;
// ROWS: as in binary.comp, rows (y) by the innermost axis (x) for long innermost axes.
layout(constant_id = 2) const bool ROWS = false;

layout(push_constant) uniform P {
    uvec2 x, y;
    uint total, origin;
    uint ext[AXES];
    int sx[AXES];
    uint sy[AXES];
} p;

void rows()
{
    Floats X = Floats(p.x), Y = Floats(p.y);
    uint ext[AXES] = p.ext, sy[AXES] = p.sy;
    int sx[AXES] = p.sx;
    uint len = ext[AXES - 1], nrows = p.total / len, T = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint row = gl_WorkGroupID.y; row < nrows; row += gl_NumWorkGroups.y) {
        uint r = row, iy = 0;
        int ix = int(p.origin);
        for (uint d = AXES - 1; d > FIRST; d--) {
            uint c = r % ext[d - 1];
            r /= ext[d - 1];
            ix += int(c) * sx[d - 1];
            iy += c * sy[d - 1];
        }
        for (uint j = gl_GlobalInvocationID.x; j < len; j += T)
            Y.v[iy + j * sy[AXES - 1]] = X.v[uint(ix + int(j) * sx[AXES - 1])];
    }
}

void main()
{
    if (ROWS) {
        rows();
        return;
    }
    Floats X = Floats(p.x), Y = Floats(p.y);
    uint T = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint i = gl_GlobalInvocationID.x;
    if (i >= p.total)
        return;
    uint ext[AXES] = p.ext, sy[AXES] = p.sy;
    int sx[AXES] = p.sx;
    uint c[AXES], step[AXES];
    split_index(i, ext, c);
    split_index(T, ext, step);
    for (;;) {
        int ix = int(p.origin);
        uint iy = 0;
        for (uint d = FIRST; d < AXES; d++) {
            ix += int(c[d]) * sx[d];
            iy += c[d] * sy[d];
        }
        Y.v[iy] = X.v[uint(ix)];
        if (T >= p.total - i)  // i + T >= total
            break;
        i += T;
        advance(c, step, ext);
    }
}
