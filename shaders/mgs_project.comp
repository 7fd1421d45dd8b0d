#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_project.comp - removes the projection of a panel on the rows before it:
// P[i][k] -= sum_j C[i][j] * Q[j][k], P = rows row0 .. row0+pb-1, Q = rows 0 .. row0-1,
// C = pb x row0. A thread holds all 16 panel rows for NC columns, so every Q element is
// read once per workgroup; C comes through shared memory 64 columns at a time, as vec4.
// NC (specialization constant): 1 gives GPUs many workgroups; CPU drivers want 4, to
// share each C load among more arithmetic.
#include "common.glsl"

#define WG 256
#define PB 16
#define JT 64

layout(constant_id = 0) const uint NC = 1;
layout(local_size_x = WG) in;
layout(push_constant) uniform P { uvec2 v, c; uint m, row0, pb; } p;

shared vec4 cs[JT * PB / 4]; // cs[jj * 4 + i / 4][i % 4] = C[i][j0 + jj]

void main()
{
    Floats a = Floats(p.v), cm = Floats(p.c);
    uint t = gl_LocalInvocationID.x;
    uint tiles = (p.m + WG * NC - 1) / (WG * NC);
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        float acc[NC][PB];
        for (int c = 0; c < NC; c++)
            for (int i = 0; i < PB; i++)
                acc[c][i] = 0.0;
        for (uint j0 = 0; j0 < p.row0; j0 += JT) {
            for (uint r = 0; r < JT * PB / WG; r++) {
                uint e = t + r * WG, i = e / JT, jj = e % JT;
                float val = 0.0;
                if (i < p.pb && j0 + jj < p.row0) // a branch: never load outside C
                    val = cm.v[i * p.row0 + j0 + jj];
                cs[jj * 4 + i / 4][i % 4] = val;
            }
            barrier();
            uint jn = min(uint(JT), p.row0 - j0);
            for (uint jj = 0; jj < jn; jj++) {
                float q[NC];
                for (int c = 0; c < NC; c++) {
                    uint k = (tile * NC + c) * WG + t;
                    q[c] = 0.0;
                    if (k < p.m)
                        q[c] = a.v[(j0 + jj) * p.m + k];
                }
                for (int b = 0; b < PB / 4; b++) {
                    vec4 cv = cs[jj * 4 + b];
                    for (int c = 0; c < NC; c++) {
                        acc[c][4 * b + 0] = fma(cv.x, q[c], acc[c][4 * b + 0]);
                        acc[c][4 * b + 1] = fma(cv.y, q[c], acc[c][4 * b + 1]);
                        acc[c][4 * b + 2] = fma(cv.z, q[c], acc[c][4 * b + 2]);
                        acc[c][4 * b + 3] = fma(cv.w, q[c], acc[c][4 * b + 3]);
                    }
                }
            }
            barrier();
        }
        for (int c = 0; c < NC; c++) {
            uint k = (tile * NC + c) * WG + t;
            if (k < p.m)
                for (int i = 0; i < PB; i++)
                    if (uint(i) < p.pb)
                        a.v[(p.row0 + uint(i)) * p.m + k] -= acc[c][i];
        }
    }
}
