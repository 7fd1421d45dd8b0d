#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_panel.comp - one pass of modified Gram-Schmidt over a panel of at most PB rows.
// Step i normalizes row i, removes it from the later panel rows and, in the same pass
// over memory, accumulates the dots of the new row i+1 with the rows after it, which the
// next step needs. Dots are per-thread partial sums combined by a shared-memory tree
// (and, in the chunked form, across workgroups), never one long serial sum.
// Forms: ALL_STEPS - one workgroup runs the whole pass over whole rows (short rows);
// chunked - one dispatch per step, one workgroup per chunk of the row (long rows).
#include "common.glsl"

#define PB 16
#define WG 256
#define ALL_STEPS 0xffffffffu

layout(local_size_x = WG) in;
layout(push_constant) uniform P {
    uvec2 v;        // n x m matrix, row-major; the panel is rows row0 .. row0+pb-1
    uvec2 part_in;  // chunked: the previous step's dots per chunk, [nchunks][PB]
    uvec2 part_out; // chunked: this step's dots per chunk, [nchunks][PB]
    uint m;         // row length
    uint row0;
    uint pb;        // 1..PB
    uint step;      // ALL_STEPS, or 0 (first dots only), or s >= 1: normalize row s-1
    uint chunk;     // chunked: elements per workgroup
    uint nchunks;
} p;

shared float red[PB * WG]; // red[j * WG + invocation], 16 KiB

// Sums each acc[j] over the workgroup by a pairwise tree; the sums end in red[j * WG].
void tree(float acc[PB])
{
    uint t = gl_LocalInvocationID.x;
    for (int j = 0; j < PB; j++)
        red[j * WG + t] = acc[j];
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        for (uint e = t; e < PB * h; e += WG) {
            uint j = e / h, l = e % h;
            red[j * WG + l] += red[j * WG + l + h];
        }
        barrier();
    }
}

// Chunked form: d[j] = sum over chunks of part_in (a 16-wide tree per dot).
void gather(out float d[PB])
{
    const uint lanes = WG / PB;
    uint t = gl_LocalInvocationID.x, j = t % PB, lane = t / PB;
    Floats part = Floats(p.part_in);
    float s = 0.0;
    for (uint ch = lane; ch < p.nchunks; ch += lanes)
        s += part.v[ch * PB + j];
    red[j * WG + lane] = s;
    barrier();
    for (uint h = lanes / 2; h > 0; h >>= 1) {
        if (lane < h)
            red[j * WG + lane] += red[j * WG + lane + h];
        barrier();
    }
    for (int jj = 0; jj < PB; jj++)
        d[jj] = red[jj * WG];
    barrier(); // all have read before red is reused
}

// From d[j] = <v_i, v_j>: 1/|v_i| and c[j] = <v_i, v_j>/|v_i| for j > i. A row with no
// norm left (a zero row, exact linear dependence, or a squared norm below FLT_MIN) is
// set to zero and removes nothing from the later rows: no NaN, documented behaviour.
void coeffs(int i, float d[PB], out float inv_r, out float c[PB])
{
    float di = 0.0;
    for (int j = 0; j < PB; j++)
        if (j == i)
            di = d[j];
    bool ok = di >= 1.17549435e-38;
    inv_r = ok ? 1.0 / sqrt(di) : 0.0;
    for (int j = 0; j < PB; j++)
        c[j] = (ok && j > i) ? d[j] * inv_r : 0.0;
}

// Row i (i >= 0): v_i *= inv_r; v_j -= c[j] v_i for i < j < pb. Then acc[j] gets this
// thread's part of <v_{i+1}, v_j> for j > i. i = -1: only the dots of row 0.
void sweep(int i, float inv_r, float c[PB], uint kbeg, uint kend, out float acc[PB])
{
    Floats a = Floats(p.v);
    int pb = int(p.pb);
    bool dots = i + 1 < pb;
    for (int j = 0; j < PB; j++)
        acc[j] = 0.0;
    for (uint k = kbeg + gl_LocalInvocationID.x; k < kend; k += WG) {
        float q = 0.0;
        if (i >= 0) {
            uint at = (p.row0 + uint(i)) * p.m + k;
            q = a.v[at] * inv_r;
            a.v[at] = q;
        }
        float x[PB];
        float u = 0.0;
        for (int j = 0; j < PB; j++) {
            x[j] = 0.0;
            if (j > i && j < pb) {
                uint at = (p.row0 + uint(j)) * p.m + k;
                float y = a.v[at];
                if (i >= 0) {
                    y = fma(-c[j], q, y);
                    a.v[at] = y;
                }
                x[j] = y;
            }
            if (j == i + 1)
                u = x[j];
        }
        if (dots)
            for (int j = 0; j < PB; j++)
                acc[j] = fma(u, x[j], acc[j]);
    }
}

void main()
{
    float acc[PB], d[PB], c[PB];
    float inv_r = 0.0;
    for (int j = 0; j < PB; j++)
        c[j] = 0.0;
    int pb = int(p.pb);
    if (p.step == ALL_STEPS) {
        sweep(-1, 0.0, c, 0u, p.m, acc);
        tree(acc);
        for (int i = 0; i < pb; i++) {
            for (int j = 0; j < PB; j++)
                d[j] = red[j * WG];
            barrier(); // all have read before the next tree overwrites red
            coeffs(i, d, inv_r, c);
            sweep(i, inv_r, c, 0u, p.m, acc);
            if (i + 1 < pb)
                tree(acc);
        }
        return;
    }
    uint w = gl_WorkGroupID.x;
    uint kbeg = w * p.chunk;
    uint kend = min(p.m, kbeg + p.chunk);
    int i = int(p.step) - 1;
    if (i >= 0) {
        gather(d);
        coeffs(i, d, inv_r, c);
    }
    sweep(i, inv_r, c, kbeg, kend, acc);
    if (i + 1 < pb) {
        tree(acc);
        uint t = gl_LocalInvocationID.x;
        if (t < PB)
            Floats(p.part_out).v[w * PB + t] = red[t * WG];
    }
}
