#version 460
#extension GL_GOOGLE_include_directive : require
// affine_act.comp - fused per-channel affine + activation over one chunk of an NCHW tensor:
//   t = x[i] * alpha * scale[c] + shift[c];  y[i] = act(t)   (y may equal x).
// The activation is a specialization constant, so each pipeline is branch-free on it
// (activation.glsl: our own transcendentals, ~1e-7 relative on any GPU).
#include "common.glsl"
#include "mathf.glsl"
layout(local_size_x = 256) in;

layout(constant_id = 0) const uint ACT = 0; // lsuv_act_kind
#include "activation.glsl"
layout(constant_id = 1) const bool HAS_SCALE = false;
layout(constant_id = 2) const bool HAS_SHIFT = false;
// ROWS: workgroups walk whole rows of `spatial` elements (y: rows, x: within the row), so the
// channel is uniform per row and its parameters are loaded once; for spatial >= 256.
// Otherwise a flat grid-stride loop tracks each element's channel incrementally.
layout(constant_id = 3) const bool ROWS = false;
const bool PER_CHANNEL = HAS_SCALE || HAS_SHIFT || ACT == A_PRELU;

layout(push_constant) uniform P {
    uvec2 x, y, scale, shift, slopes;
    uint n;              // elements (ROWS: rows) in this chunk; chunks hold < 2^31 elements
    uint spatial, channels;
    uint s0, c0;         // spatial index and channel of the chunk's first element
    uint dr, dqc;        // flat grid stride T: T % spatial and (T / spatial) % channels
    float alpha, param;  // param: leaky slope, ELU/SELU alpha, HardSigmoid alpha, Clip min
    float param2;        // SELU gamma, HardSigmoid beta, Clip max
} p;

float activate(float t, uint c, float slope) { return activate_with(t, slope, p.param, p.param2); }

// a + b mod m for a, b < m, without overflowing 32 bits
uint add_mod(uint a, uint b, uint m) { return a >= m - b ? a - (m - b) : a + b; }

float load_channel(uvec2 a, uint c) { return Floats(a).v[c]; }

void rows()
{
    Floats x = Floats(p.x), y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint row = gl_WorkGroupID.y; row < p.n; row += gl_NumWorkGroups.y) {
        uint c = add_mod(p.c0, row % p.channels, p.channels);
        float sc = HAS_SCALE ? load_channel(p.scale, c) * p.alpha : p.alpha;
        float sh = HAS_SHIFT ? load_channel(p.shift, c) : 0.0;
        float slope = ACT == A_PRELU ? load_channel(p.slopes, c) : 0.0;
        uint first = row * p.spatial;
        for (uint j = gl_GlobalInvocationID.x; j < p.spatial; j += stride)
            y.v[first + j] = activate(x.v[first + j] * sc + sh, c, slope);
    }
}

void main()
{
    if (ROWS) {
        rows();
        return;
    }
    Floats x = Floats(p.x), y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint i = gl_GlobalInvocationID.x;
    // (r, c): spatial index and channel of element i, advanced by the stride incrementally
    // so that the loop needs no integer division.
    uint r = 0, c = 0;
    if (PER_CHANNEL) {
        uint q = i / p.spatial, rr = i % p.spatial;
        bool carry = rr >= p.spatial - p.s0;
        r = carry ? rr - (p.spatial - p.s0) : rr + p.s0;
        c = add_mod(p.c0, q % p.channels, p.channels);
        if (carry)
            c = c + 1 == p.channels ? 0 : c + 1;
    }
    for (; i < p.n; i += stride) {
        float t = x.v[i] * p.alpha;
        if (HAS_SCALE)
            t *= load_channel(p.scale, c);
        if (HAS_SHIFT)
            t += load_channel(p.shift, c);
        y.v[i] = activate(t, c, ACT == A_PRELU ? load_channel(p.slopes, c) : 0.0);
        if (PER_CHANNEL) {
            bool carry = r >= p.spatial - p.dr;
            r = carry ? r - (p.spatial - p.dr) : r + p.dr;
            c = add_mod(c, p.dqc, p.channels);
            if (carry)
                c = c + 1 == p.channels ? 0 : c + 1;
        }
    }
}
