#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_sweep_sg.comp - one step of modified Gram-Schmidt over a panel of at most PB rows
// too long for mgs_panel_sg, for CPU devices: one dispatch per step, each workgroup (one
// subgroup: no barrier) sweeps its chunks of the row in memory. Rows may be unpadded.
// Step s >= 1 normalizes row i = s-1 with the dots of the previous step (per chunk in
// part_in, added in the same order by every workgroup) and removes it from the later
// rows; every step s < pb then writes the dots of row s with rows s.. per chunk to
// part_out. On a CPU device each per-lane access is a loop over the lanes and an `if`
// runs both sides under a mask, while a loop stops when no lane is left: so the work is
// shaped by loop bounds, never by branches around memory, and later rows go by pairs
// (row i and row s are read once per pair).
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#define PB 32

layout(constant_id = 0) const uint SG = 8; // subgroup = workgroup size
layout(local_size_x_id = 0) in;
layout(push_constant) uniform P {
    uvec2 v;        // n x ld matrix, row-major; the panel: rows row0 .. row0+pb-1
    uvec2 part_in;  // the previous step's dots, [nchunks][PB]
    uvec2 part_out; // this step's dots, [nchunks][PB]
    uint m, ld;     // row length, row stride
    uint row0;
    uint pb;        // 1..PB
    uint step;      // 0: dots of row 0 only; s >= 1: normalize row s-1, then dots of row s
    uint chunk;     // columns per chunk
    uint nchunks;
} p;

// <v_{s-1}, v_j> from the previous step: the chunks' parts in a fixed order.
float gathered(uint j)
{
    Floats part = Floats(p.part_in);
    float s = 0.0;
    for (uint ch = gl_SubgroupInvocationID; ch < p.nchunks; ch += SG)
        s += part.v[ch * PB + j];
    return subgroupAdd(s);
}

void put(uint w, uint j, float acc)
{
    acc = subgroupAdd(acc);
    if (gl_SubgroupInvocationID == 0)
        Floats(p.part_out).v[w * PB + j] = acc;
}

void main()
{
    Floats a = Floats(p.v);
    uint lane = gl_SubgroupInvocationID;
    uint s = p.step, pb = p.pb;
    // 1/|v_i| (0 for a row with no norm left: it stays zero and removes nothing) and the
    // coefficient of row s
    float inv_r = 0.0, cs = 0.0;
    if (s > 0) {
        float di = gathered(s - 1);
        inv_r = di >= 1.17549435e-38 ? 1.0 / sqrt(di) : 0.0;
        cs = s < pb ? gathered(s) * inv_r : 0.0;
    }
    uint irow = (p.row0 + max(s, 1u) - 1) * p.ld, srow = (p.row0 + s) * p.ld;
    uint npairs = s + 1 < pb ? (pb - s - 1) / 2 : 0;
    float cj[PB];
    for (uint j = 0; j < PB; j++)
        cj[j] = 0.0;
    for (uint j = s + 1; j < pb && s > 0; j++)
        cj[j] = gathered(j) * inv_r;
    for (uint w = gl_WorkGroupID.x; w < p.nchunks; w += gl_NumWorkGroups.x) {
        uint kbeg = w * p.chunk, kend = min(p.m, kbeg + p.chunk);
        // row i normalized, row s updated (steps >= 1); the dot of row s with itself
        float acc = 0.0;
        for (uint k = kbeg + lane; k < kend && s > 0; k += SG) {
            float q = a.v[irow + k] * inv_r;
            a.v[irow + k] = q;
            if (s < pb) {
                float y = fma(-cs, q, a.v[srow + k]);
                a.v[srow + k] = y;
                acc = fma(y, y, acc);
            }
        }
        for (uint k = kbeg + lane; k < kend && s == 0; k += SG) {
            float y = a.v[srow + k];
            acc = fma(y, y, acc);
        }
        if (s < pb)
            put(w, s, acc);
        // later rows by pairs, then the last one if their number is odd
        for (uint t = 0; t < npairs; t++) {
            uint j = s + 1 + 2 * t;
            uint r1 = (p.row0 + j) * p.ld, r2 = r1 + p.ld;
            float c1 = cj[j], c2 = cj[j + 1], acc1 = 0.0, acc2 = 0.0;
            for (uint k = kbeg + lane; k < kend; k += SG) {
                float q = a.v[irow + k], u = a.v[srow + k];
                float y1 = fma(-c1, q, a.v[r1 + k]), y2 = fma(-c2, q, a.v[r2 + k]);
                a.v[r1 + k] = y1;
                a.v[r2 + k] = y2;
                acc1 = fma(u, y1, acc1);
                acc2 = fma(u, y2, acc2);
            }
            put(w, j, acc1);
            put(w, j + 1, acc2);
        }
        for (uint j = s + 1 + 2 * npairs; j < pb; j++) {
            uint r1 = (p.row0 + j) * p.ld;
            float c1 = cj[j], acc1 = 0.0;
            for (uint k = kbeg + lane; k < kend; k += SG) {
                float y1 = fma(-c1, a.v[irow + k], a.v[r1 + k]);
                a.v[r1 + k] = y1;
                acc1 = fma(a.v[srow + k], y1, acc1);
            }
            put(w, j, acc1);
        }
    }
}
