#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_copy_sg.comp - mgs_transpose.comp for CPU devices, where shared memory and barriers
// cost more than they save: a workgroup makes a 32 x 32 tile of
//   dst[y][x] = x < cols ? (transpose ? src[x][y] : src[y][x]) : 0
// for y < rows, x < dst_ld (dst rows padded with zeros to dst_ld), src rows src_ld long,
// four consecutive elements per invocation and step; the tile's source lines stay in
// the cache while it is made.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(push_constant) uniform P {
    uvec2 src, dst;
    uint rows, cols;   // of dst: rows, and columns taken from src (the rest are zero)
    uint src_ld, dst_ld;
    uint transpose;
} p;

void main()
{
    Floats s = Floats(p.src), d = Floats(p.dst);
    uint tr = (p.rows + 31) / 32, tc = (p.dst_ld + 31) / 32, count = tr * tc;
    for (uint tl = gl_WorkGroupID.x; tl < count; tl += gl_NumWorkGroups.x) {
        uint y0 = tl / tc * 32, x0 = tl % tc * 32;
        for (uint q = gl_LocalInvocationID.x; q < 256; q += 64) {
            uint y = y0 + q / 8;
            for (uint t = 0; t < 4; t++) {
                uint x = x0 + q % 8 * 4 + t;
                float v = 0.0;
                if (x < p.cols && y < p.rows)
                    v = s.v[p.transpose != 0 ? x * p.src_ld + y : y * p.src_ld + x];
                if (x < p.dst_ld && y < p.rows)
                    d.v[y * p.dst_ld + x] = v;
            }
        }
    }
}
