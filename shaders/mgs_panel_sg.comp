#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_panel_sg.comp - modified Gram-Schmidt over a panel of at most PB rows in one
// workgroup, for CPU devices (lavapipe, SwiftShader): a subgroup is one SIMD vector there
// and each per-lane memory access a loop over the lanes, while private arrays with
// constant indices are whole vectors. So each invocation loads its CPT vec4 columns of
// the panel once (rows padded to 16 floats, 16-byte aligned), runs `passes` passes of
// MGS on them in private memory and stores them once.
// The live rows are kept in x[0..]: step i normalizes x[0] into q_i, removes it from the
// later rows while shifting them down by one slot and puts q_i in the last slot, so no
// index is dynamic; a rotation puts q_0..q_{pb-1} back in slots 0..pb-1. Loads, stores
// and rotations go through rolled loops that shift x by one slot: code size (LLVM time
// on first use) then grows with CPT only through the arithmetic of a step.
// One barrier per step: the dots of each subgroup are reduced over its lanes by a
// butterfly (lane l ends with the sums for dots l*VPL .. l*VPL+VPL-1), written to shared
// memory, and every subgroup adds the subgroups' sums in the same order.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require

layout(buffer_reference, scalar, buffer_reference_align = 16) buffer Vec4s { vec4 v[]; };

#define PB 32

layout(constant_id = 0) const uint WG = 64;  // a multiple of the subgroup size
layout(constant_id = 1) const uint SG = 8;   // the subgroup size: 4, 8 or 16 (the host checks)
layout(constant_id = 2) const uint CPT = 2;  // vec4 columns per invocation
const uint NSG = WG / SG;
const uint VPL = PB / SG;                    // dots per lane after the butterfly

layout(local_size_x_id = 0) in;
layout(push_constant) uniform P {
    uvec2 v;        // n x ld matrix, row-major; the panel: rows row0 .. row0+pb-1
    uint ld4;       // row length in vec4 (WG * CPT or fewer)
    uint row0;
    uint pb;        // 1..PB
    uint passes;    // MGS passes (1 or 2)
} p;

shared float red[2][NSG][PB]; // per-subgroup dot sums, double-buffered by step parity
shared float fin[2][PB];      // many subgroups: the totals

// Sums acc[j] over the workgroup into d[j] (the same values in every invocation).
void reduce(uint par, float acc[PB], out float d[PB])
{
    uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    // butterfly: the upper half of the live dots goes to the lanes with bit h set
    float s[PB];
    [[unroll]] for (uint j = 0; j < PB; j++)
        s[j] = acc[j];
    uint len = PB;
    [[unroll]] for (uint h = SG / 2; h > 0; h /= 2) {
        len /= 2;
        bool upper = (lane & h) != 0;
        [[unroll]] for (uint j = 0; j < len; j++) {
            float keep = upper ? s[j + len] : s[j];
            float give = upper ? s[j] : s[j + len];
            s[j] = keep + subgroupShuffleXor(give, h);
        }
    }
    [[unroll]] for (uint r = 0; r < VPL; r++)
        red[par][sg][lane * VPL + r] = s[r];
    barrier();
    float tot[VPL];
    if (NSG <= SG) { // every subgroup adds all the subgroups' sums
        [[unroll]] for (uint r = 0; r < VPL; r++) {
            float t = 0.0;
            for (uint g = 0; g < NSG; g++)
                t += red[par][g][lane * VPL + r];
            tot[r] = t;
        }
    } else { // subgroup g adds dots g, g + NSG, ... once for all, then a second barrier
        for (uint j = sg; j < PB; j += NSG) {
            float t = 0.0;
            for (uint g = lane; g < NSG; g += SG)
                t += red[par][g][j];
            t = subgroupAdd(t);
            if (lane == 0)
                fin[par][j] = t;
        }
        barrier();
        [[unroll]] for (uint r = 0; r < VPL; r++)
            tot[r] = fin[par][lane * VPL + r];
    }
    [[unroll]] for (uint j = 0; j < PB; j++)
        d[j] = subgroupShuffle(tot[j % VPL], j / VPL);
}

// x[c][j] <- x[c][j + 1], x[c][PB - 1] <- what was x[c][0]
void rotate1(inout vec4 x[CPT][PB])
{
    [[unroll]] for (uint c = 0; c < CPT; c++) {
        vec4 first = x[c][0];
        [[unroll]] for (uint j = 0; j + 1 < PB; j++)
            x[c][j] = x[c][j + 1];
        x[c][PB - 1] = first;
    }
}

void main()
{
    Vec4s a = Vec4s(p.v);
    uint t = gl_LocalInvocationID.x;
    uint pb = p.pb;
    vec4 x[CPT][PB];
    [[unroll]] for (uint c = 0; c < CPT; c++)
        [[unroll]] for (uint j = 0; j < PB; j++)
            x[c][j] = vec4(0.0);
    // row j enters at the last slot; after pb rows and PB - pb more shifts, x[.][j] = row j
    [[dont_unroll]] for (uint j = 0; j < pb; j++) {
        rotate1(x);
        [[unroll]] for (uint c = 0; c < CPT; c++) {
            uint k = t + c * WG;
            if (k < p.ld4)
                x[c][PB - 1] = a.v[(p.row0 + j) * p.ld4 + k];
        }
    }
    [[dont_unroll]] for (uint j = pb; j < PB; j++)
        rotate1(x);

    float acc[PB], d[PB];
    uint par = 0;
    for (uint pass = 0; pass < p.passes; pass++) {
        [[unroll]] for (uint j = 0; j < PB; j++) {
            float s = 0.0;
            [[unroll]] for (uint c = 0; c < CPT; c++)
                s += dot(x[c][0], x[c][j]);
            acc[j] = s;
        }
        [[dont_unroll]] for (uint i = 0; i < pb; i++) {
            reduce(par, acc, d);
            par ^= 1u;
            bool ok = d[0] >= 1.17549435e-38; // else a row with no norm left: it stays zero
            float inv_r = ok ? 1.0 / sqrt(d[0]) : 0.0;
            uint live = pb - i; // slots 0 .. live-1 hold rows still to do
            float cj[PB];
            [[unroll]] for (uint j = 1; j < PB; j++)
                cj[j] = (ok && j < live) ? -d[j] * inv_r : 0.0;
            [[unroll]] for (uint c = 0; c < CPT; c++) {
                vec4 q = x[c][0] * inv_r;
                [[unroll]] for (uint j = 1; j < PB; j++)
                    x[c][j - 1] = fma(vec4(cj[j]), q, x[c][j]);
                x[c][PB - 1] = q;
            }
            [[unroll]] for (uint j = 0; j < PB; j++) {
                float s = 0.0;
                [[unroll]] for (uint c = 0; c < CPT; c++)
                    s += dot(x[c][0], x[c][j]);
                acc[j] = s;
            }
        }
        // q_i sits in slot PB - pb + i
        [[dont_unroll]] for (uint j = pb; j < PB; j++)
            rotate1(x);
    }
    [[dont_unroll]] for (uint j = 0; j < pb; j++) {
        [[unroll]] for (uint c = 0; c < CPT; c++) {
            uint k = t + c * WG;
            if (k < p.ld4)
                a.v[(p.row0 + j) * p.ld4 + k] = x[c][0];
        }
        rotate1(x);
    }
}
