#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_transpose.comp - copies a matrix between the caller's layout and the working one:
//   dst[y][x] = x < cols ? (transpose ? src[x][y] : src[y][x]) : 0
// for y < rows, x < dst_ld (dst rows padded with zeros to dst_ld), src rows src_ld long.
// Through 32 x 32 tiles in shared memory so that both the reads and the writes are
// contiguous when transposing.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform P {
    uvec2 src, dst;
    uint rows, cols;   // of dst: rows, and columns taken from src (the rest are zero)
    uint src_ld, dst_ld;
    uint transpose;
} p;

shared float tile[32][33];

void main()
{
    Floats s = Floats(p.src), d = Floats(p.dst);
    uint t = gl_LocalInvocationID.x, tx = t % 32, ty = t / 32;
    uint tr = (p.rows + 31) / 32, tc = (p.dst_ld + 31) / 32, count = tr * tc;
    for (uint tl = gl_WorkGroupID.x; tl < count; tl += gl_NumWorkGroups.x) {
        uint r0 = (tl / tc) * 32, c0 = (tl % tc) * 32;
        // tile[a][b]: transpose: src[c0 + a][r0 + b]; copy: src[r0 + a][c0 + b]
        for (uint y = ty; y < 32; y += 8) {
            float x = 0.0;
            if (p.transpose != 0) {
                if (c0 + y < p.cols && r0 + tx < p.rows)
                    x = s.v[(c0 + y) * p.src_ld + r0 + tx];
            } else if (r0 + y < p.rows && c0 + tx < p.cols) {
                x = s.v[(r0 + y) * p.src_ld + c0 + tx];
            }
            tile[y][tx] = x;
        }
        barrier();
        for (uint y = ty; y < 32; y += 8)
            if (r0 + y < p.rows && c0 + tx < p.dst_ld)
                d.v[(r0 + y) * p.dst_ld + c0 + tx] = p.transpose != 0 ? tile[tx][y] : tile[y][tx];
        barrier();
    }
}
