#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_transpose.comp - dst (cols x rows) = transpose of src (rows x cols), through 32 x 32
// tiles in shared memory so that both the reads and the writes are contiguous.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform P { uvec2 src, dst; uint rows, cols; } p;

shared float tile[32][33];

void main()
{
    Floats s = Floats(p.src), d = Floats(p.dst);
    uint t = gl_LocalInvocationID.x, tx = t % 32, ty = t / 32;
    uint tr = (p.rows + 31) / 32, tc = (p.cols + 31) / 32, count = tr * tc;
    for (uint tl = gl_WorkGroupID.x; tl < count; tl += gl_NumWorkGroups.x) {
        uint r0 = (tl / tc) * 32, c0 = (tl % tc) * 32;
        for (uint y = ty; y < 32; y += 8)
            if (r0 + y < p.rows && c0 + tx < p.cols)
                tile[y][tx] = s.v[(r0 + y) * p.cols + c0 + tx];
        barrier();
        for (uint y = ty; y < 32; y += 8)
            if (c0 + y < p.cols && r0 + tx < p.rows)
                d.v[(c0 + y) * p.rows + r0 + tx] = tile[tx][y];
        barrier();
    }
}
