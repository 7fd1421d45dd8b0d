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

layout(push_constant) uniform P {
    uvec2 x, y;
    uint total, origin;
    uint ext[AXES];
    int sx[AXES];
    uint sy[AXES];
} p;

void main()
{
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
        for (uint d = 0; d < AXES; d++) {
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
