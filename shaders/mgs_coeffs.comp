#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_coeffs.comp - projection coefficients of a panel on the rows before it, split over
// chunks of the row length: part[ch][i][j] = sum_{k in chunk ch} P[i][k] * Q[j][k], with
// P = rows row0 .. row0+pb-1 and Q = rows 0 .. row0-1 of the same n x m matrix.
// A workgroup makes a 16 x 64 tile of C from 32-wide k tiles kept row-major in shared
// memory as vec4 along k (few wide loads: what CPU drivers need, conflict-free on GPUs).
// Its KG groups of 64 threads each take a share of every k tile (4 x 4 outputs per
// thread) and are added pairwise at the end, so each serial sum is 1/KG chunk long.
// WG = 64 * KG (specialization constant): 256 on GPUs; 64 on CPU drivers, which run a
// workgroup on one core and pay per invocation at each barrier (~15% on lavapipe).
#include "common.glsl"

layout(constant_id = 0) const uint WG = 256; // 64, 128 or 256
const uint KG = WG / 64;
#define TM 16   // panel rows (all of them)
#define TN 64   // Q rows per workgroup
#define TK4 8   // k tile, in vec4
#define RS 9    // row stride of the tiles in vec4 (padded)
#define QOFF (TM * RS)

layout(local_size_x_id = 0) in;
layout(push_constant) uniform P {
    uvec2 v;     // the matrix
    uvec2 part;  // output [nchunks][pb][row0]
    uint m;
    uint row0;
    uint pb;     // 1..16
    uint chunk;  // k per chunk, a multiple of 4 * TK4
} p;

shared vec4 sh[3 * TN * 4]; // the tiles (QOFF + TN * RS vec4), then the group sums

// Four consecutive elements of row `row` from column k on, zero past kend.
vec4 load4(Floats a, uint row, uint k, uint kend)
{
    uint at = row * p.m + k;
    if (k + 3 < kend)
        return vec4(a.v[at], a.v[at + 1], a.v[at + 2], a.v[at + 3]);
    vec4 x = vec4(0.0);
    for (uint c = 0; c < 4; c++)
        if (k + c < kend) // a branch, not a select: never load outside the matrix
            x[c] = a.v[at + c];
    return x;
}

void main()
{
    Floats a = Floats(p.v);
    uint t = gl_LocalInvocationID.x;
    uint g = t / 64, tt = t % 64, ri = tt / 16, ci = tt % 16;
    uint jt = gl_WorkGroupID.x * TN;
    uint ch = gl_WorkGroupID.y;
    uint kbeg = ch * p.chunk;
    uint kend = min(p.m, kbeg + p.chunk);
    vec4 acc[4]; // acc[r][c]: panel row 4 ri + r, Q row jt + ci + 16 c
    for (int r = 0; r < 4; r++)
        acc[r] = vec4(0.0);

    for (uint k0 = kbeg; k0 < kend; k0 += 4 * TK4) {
        for (uint e = t; e < TN * TK4; e += WG) {
            uint row = e / TK4, k4 = e % TK4, j = jt + row;
            vec4 x = vec4(0.0);
            if (j < p.row0)
                x = load4(a, j, k0 + 4 * k4, kend);
            sh[QOFF + row * RS + k4] = x;
        }
        for (uint e = t; e < TM * TK4; e += WG) {
            uint row = e / TK4, k4 = e % TK4;
            vec4 x = vec4(0.0);
            if (row < p.pb)
                x = load4(a, p.row0 + row, k0 + 4 * k4, kend);
            sh[row * RS + k4] = x;
        }
        barrier();
        for (uint k4 = g * (TK4 / KG); k4 < (g + 1) * (TK4 / KG); k4++) {
            vec4 pv[4], qv[4];
            for (int r = 0; r < 4; r++)
                pv[r] = sh[(ri * 4 + r) * RS + k4];
            for (int c = 0; c < 4; c++)
                qv[c] = sh[QOFF + (ci + 16 * c) * RS + k4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    float s = acc[r][c];
                    s = fma(pv[r].x, qv[c].x, s);
                    s = fma(pv[r].y, qv[c].y, s);
                    s = fma(pv[r].z, qv[c].z, s);
                    s = fma(pv[r].w, qv[c].w, s);
                    acc[r][c] = s;
                }
        }
        barrier();
    }

    if (g > 0)
        for (int r = 0; r < 4; r++)
            sh[(g - 1) * (TN * 4) + tt * 4 + r] = acc[r];
    barrier();
    if (g == 0) {
        Floats out_ = Floats(p.part);
        for (int r = 0; r < 4; r++) {
            uint e = tt * 4 + r;
            vec4 s = acc[r];
            if (KG == 2)
                s += sh[e];
            if (KG == 4)
                s = (s + sh[e]) + (sh[TN * 4 + e] + sh[2 * TN * 4 + e]);
            uint i = ri * 4 + r;
            for (int c = 0; c < 4; c++) {
                uint j = jt + ci + 16 * c;
                if (i < p.pb && j < p.row0)
                    out_.v[(ch * p.pb + i) * p.row0 + j] = s[c];
            }
        }
    }
}
