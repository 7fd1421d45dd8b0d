#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_project_sg.comp - removes the projection of a panel on the rows before it, for CPU
// devices: P[i][k] -= sum_j C[i][j] * Q[j][k], P = rows row0 .. row0+pb-1, Q = rows
// 0 .. row0-1, C = sum over chunks of part[ch] (pb x row0, from mgs_coeffs_sg).
// A workgroup is one subgroup owning SG*8 columns, lane l the 8 columns from 8l, read
// as one 64-bit quadruple (on a CPU device every per-lane access is a loop over the
// lanes, one per component). Per slice of 2*SG Q rows, lane l reads C[i][j0 + 2l .. 2l+1]
// for the TM panel rows; then, pair h of the slice at a time (a rolled loop: a small
// body keeps LLVM's time down), subgroupShuffle hands lane h's C values to every lane.
// Q rows are read once per workgroup; no shared memory, no barrier.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

layout(buffer_reference, scalar, buffer_reference_align = 8) buffer Pairs { uint64_t v[]; };
layout(buffer_reference, scalar, buffer_reference_align = 16) buffer Octets { u64vec4 v[]; };

layout(constant_id = 0) const uint TM = 32; // panel rows (pb <= TM)
layout(constant_id = 1) const uint TN = 8;  // columns per lane (8: one quadruple)
layout(constant_id = 2) const uint SG = 8;  // subgroup = workgroup size
layout(local_size_x_id = 2) in;
layout(push_constant) uniform P {
    uvec2 v;       // the matrix
    uvec2 part;    // [nchunks][pb][row0], row0 even
    uint ld4;      // row length in vec4
    uint row0;
    uint pb;
    uint nchunks;
} p;

const uint JS = 2 * SG;   // Q rows per slice

vec2 pair(uint64_t u) { return uintBitsToFloat(unpackUint2x32(u)); }
uint64_t pack(vec2 x) { return packUint2x32(floatBitsToUint(x)); }

void main()
{
    Pairs part = Pairs(p.part);
    Octets a = Octets(p.v);
    uint lane = gl_SubgroupInvocationID;
    uint ld8 = p.ld4 / 2;
    uint tiles = (ld8 + SG - 1) / SG;
    uint cstride = p.pb * p.row0 / 2;
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint k8 = tile * SG + lane;
        bool live = k8 < ld8;
        vec4 acc[TM][2];
        for (uint i = 0; i < TM; i++)
            acc[i][0] = acc[i][1] = vec4(0.0);
        for (uint j0 = 0; j0 < p.row0; j0 += JS) {
            uint j = j0 + 2 * lane;
            vec2 cv[TM];
            for (uint i = 0; i < TM; i++) {
                vec2 s = vec2(0.0);
                if (i < p.pb && j < p.row0) // a branch: never read outside part
                    for (uint ch = 0; ch < p.nchunks; ch++)
                        s += pair(part.v[ch * cstride + (i * p.row0 + j) / 2]);
                cv[i] = s;
            }
            // Q rows past row0 (C is zero there) read row row0-1: valid, not written here
            for (uint jp = 0; jp < SG; jp++) {
                [[unroll]] for (uint jj = 0; jj < 2; jj++) {
                    u64vec4 u = u64vec4(0);
                    if (live)
                        u = a.v[min(j0 + 2 * jp + jj, p.row0 - 1) * ld8 + k8];
                    vec4 q0 = vec4(pair(u.x), pair(u.y)), q1 = vec4(pair(u.z), pair(u.w));
                    for (uint i = 0; i < TM; i++) {
                        float c = subgroupShuffle(cv[i][jj], jp);
                        acc[i][0] = fma(vec4(c), q0, acc[i][0]);
                        acc[i][1] = fma(vec4(c), q1, acc[i][1]);
                    }
                }
            }
        }
        for (uint i = 0; i < TM; i++)
            if (i < p.pb && live) {
                uint at = (p.row0 + i) * ld8 + k8;
                u64vec4 u = a.v[at];
                vec4 y0 = vec4(pair(u.x), pair(u.y)) - acc[i][0];
                vec4 y1 = vec4(pair(u.z), pair(u.w)) - acc[i][1];
                a.v[at] = u64vec4(pack(y0.xy), pack(y0.zw), pack(y1.xy), pack(y1.zw));
            }
    }
}
