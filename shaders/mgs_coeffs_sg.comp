#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_coeffs_sg.comp - projection coefficients of a panel on the rows before it, for CPU
// devices: part[ch][i][j] = sum_{k in chunk ch} P[i][k] * Q[j][k], P = rows row0 ..
// row0+pb-1, Q = rows 0 .. row0-1 of the same n x ld matrix (ld a multiple of 16).
// On a CPU device a subgroup is one SIMD vector and every per-lane memory access a loop
// over the lanes, one per component: loads are the cost, so each loaded value feeds many
// multiply-adds and comes 64 bits at a time (two floats per lane and loop).
// A workgroup is one subgroup: it makes TM x SG*TN coefficients, lane l those of Q rows
// jt + l*TN .. +TN-1. Per slice of 2*SG columns, lane l reads P[i][k0 + 2l .. 2l+1] for
// the TM rows; then, pair h of the slice at a time (a rolled loop: a small body keeps
// LLVM's time and register pressure down), each lane reads its Q rows' pair h and
// subgroupShuffle hands lane h's P values to every lane. No shared memory, no barrier.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require

layout(buffer_reference, scalar, buffer_reference_align = 8) buffer Pairs { uint64_t v[]; };

layout(constant_id = 0) const uint TM = 32; // panel rows (pb <= TM)
layout(constant_id = 1) const uint TN = 8;  // Q rows per lane
layout(constant_id = 2) const uint SG = 8;  // subgroup = workgroup size: 4, 8 or 16
layout(local_size_x_id = 2) in;
layout(push_constant) uniform P {
    uvec2 v;     // the matrix
    uvec2 part;  // output [nchunks][pb][row0]
    uint ld4;    // row length in vec4
    uint row0;
    uint pb;
    uint chunk;  // columns per chunk, a multiple of 16 and of 2 * SG
} p;

const uint KS = 2 * SG;   // columns per slice

vec2 pair(uint64_t u) { return uintBitsToFloat(unpackUint2x32(u)); }

void main()
{
    Pairs a2 = Pairs(p.v);
    uint lane = gl_SubgroupInvocationID;
    uint ld = p.ld4 * 4;
    uint tiles = (p.row0 + SG * TN - 1) / (SG * TN);
    uint nchunks = (ld + p.chunk - 1) / p.chunk;
    for (uint ch = gl_WorkGroupID.y; ch < nchunks; ch += gl_NumWorkGroups.y)
    for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
        uint j0 = tile * SG * TN + lane * TN;
        uint kbeg = ch * p.chunk, kend = min(ld, kbeg + p.chunk);
        // rows past the panel or past row0 read a valid row; their results are dropped
        uint prow[TM], qrow2[TN];
        for (uint i = 0; i < TM; i++)
            prow[i] = (p.row0 + min(i, p.pb - 1)) * (ld / 2) + lane;
        for (uint j = 0; j < TN; j++)
            qrow2[j] = min(j0 + j, p.row0 - 1) * (ld / 2);
        float acc[TM][TN];
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
                acc[i][j] = 0.0;
        for (uint k0 = kbeg; k0 < kend; k0 += KS) {
            vec2 pv[TM];
            for (uint i = 0; i < TM; i++)
                pv[i] = pair(a2.v[prow[i] + k0 / 2]);
            for (uint hs = 0; hs < SG; hs++) {
                vec2 q[TN];
                for (uint j = 0; j < TN; j++)
                    q[j] = pair(a2.v[qrow2[j] + k0 / 2 + hs]);
                [[unroll]] for (uint kk = 0; kk < 2; kk++)
                    for (uint i = 0; i < TM; i++) {
                        float pk = subgroupShuffle(pv[i][kk], hs);
                        for (uint j = 0; j < TN; j++)
                            acc[i][j] = fma(pk, q[j][kk], acc[i][j]);
                    }
            }
        }
        // results leave through one store loop (dynamic index): unrolled TM x TN guarded
        // stores would multiply the shader's size and its compile time on CPU devices
        float o[TM * TN];
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
                o[i * TN + j] = acc[i][j];
        Floats out_ = Floats(p.part);
        for (uint e = 0; e < TM * TN; e++) {
            uint i = e / TN, j = j0 + e % TN;
            if (i < p.pb && j < p.row0)
                out_.v[(ch * p.pb + i) * p.row0 + j] = o[e];
        }
    }
}
