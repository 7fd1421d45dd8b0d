#version 460
#extension GL_GOOGLE_include_directive : require
// pool2d.comp - max / average 2D pooling, PyTorch/ONNX semantics: max ignores the padding;
// average divides by the window clipped to the padded input (kernel_h * kernel_w except
// where a ceil-mode window runs past the end padding; count_include_pad=True) or, with
// EXCLUDE_PAD, by the taps inside the input (count_include_pad=False, ONNX's default).
// Begin pads are ph/pw; the padded input ends at eh/ew (in + end pad, asymmetric pads).
// Two shapes of the same kernel (specialization constant REDUCE):
//  - one invocation per output for small windows;
//  - one workgroup per output for large windows (global pooling): the window is shared among
//    the invocations (compensated sums) and combined by a tree in shared memory.
// Output index o < 2^31; each input plane is < 2^31 elements; plane offsets are 64-bit.
#include "common.glsl"
layout(local_size_x_id = 2) in;
layout(constant_id = 0) const bool MAXPOOL = true;
layout(constant_id = 1) const bool REDUCE = false;
layout(constant_id = 3) const bool EXCLUDE_PAD = false;
// TEXEL (CPU devices, small windows): x and y through r32f texel views, one 4-byte access
// per lane, where a device-address access is a loop over the lanes (vk/texel.c)
layout(constant_id = 4) const bool TEXEL = false;
layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer XS;
layout(set = 0, binding = 1, r32f) uniform writeonly imageBuffer YS;
layout(push_constant) uniform P {
    uvec2 x, y;
    uint total;                     // N * C * out_h * out_w
    uint in_h, in_w, out_h, out_w;
    uint kh, kw, sh, sw, ph, pw;
    uint eh, ew;                    // in_h + end pad, in_w + end pad
    uint x0, y0;                    // TEXEL: the first texels of x and y in their views
} p;

#define NEG_INF uintBitsToFloat(0xff800000u)
shared float red[256];

struct Window { Floats x; uint h0, h1, w0, w1; float count; };

// input plane and clamped window [h0, h1) x [w0, w1) of output (plane, oh, ow)
Window window_at(uint plane, uint oh, uint ow)
{
    uint hi, lo, carry;
    umulExtended(plane, p.in_h * p.in_w, hi, lo);
    uint blo = uaddCarry(p.x.x, lo << 2, carry);
    Window w;
    w.x = Floats(uvec2(blo, p.x.y + ((hi << 2) | (lo >> 30)) + carry));
    int hs = int(oh * p.sh) - int(p.ph), ws = int(ow * p.sw) - int(p.pw);
    w.h0 = uint(max(hs, 0));
    w.h1 = uint(min(hs + int(p.kh), int(p.in_h)));
    w.w0 = uint(max(ws, 0));
    w.w1 = uint(min(ws + int(p.kw), int(p.in_w)));
    if (EXCLUDE_PAD)
        w.count = float((w.h1 - w.h0) * (w.w1 - w.w0));
    else
        w.count = float((min(hs + int(p.kh), int(p.eh)) - hs) * (min(ws + int(p.kw), int(p.ew)) - ws));
    return w;
}

Window window_of(uint o)
{
    uint plane_size = p.out_h * p.out_w;
    uint plane = o / plane_size, rem = o - plane * plane_size;
    uint oh = rem / p.out_w;
    return window_at(plane, oh, rem - oh * p.out_w);
}

float finish(float acc, float count) { return MAXPOOL ? acc : acc / count; }

// One output per invocation, grid-stride; (plane, oh, ow) advance by the stride with
// carries instead of three divisions per output (integer division is slow on CPU devices).
void per_output()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, plane_size = p.out_h * p.out_w;
    uint s_plane = stride / plane_size, s_rem = stride - s_plane * plane_size;
    uint s_oh = s_rem / p.out_w, s_ow = s_rem - s_oh * p.out_w;
    uint o = gl_GlobalInvocationID.x;
    uint plane = o / plane_size, rem = o - plane * plane_size;
    uint oh = rem / p.out_w, ow = rem - oh * p.out_w;
    for (; o < p.total; o += stride) {
        Window w = window_at(plane, oh, ow);
        uint at = p.x0 + plane * (p.in_h * p.in_w); // TEXEL: all of x fits one view
        float acc = MAXPOOL ? NEG_INF : 0.0;
        for (uint h = w.h0; h < w.h1; h++)
            for (uint c = w.w0; c < w.w1; c++) {
                float v = TEXEL ? imageLoad(XS, int(at + h * p.in_w + c)).x : w.x.v[h * p.in_w + c];
                acc = MAXPOOL ? max(acc, v) : acc + v;
            }
        if (TEXEL)
            imageStore(YS, int(p.y0 + o), vec4(finish(acc, w.count)));
        else
            Floats(p.y).v[o] = finish(acc, w.count);
        ow += s_ow;
        oh += s_oh;
        plane += s_plane;
        if (ow >= p.out_w) {
            ow -= p.out_w;
            oh++;
        }
        if (oh >= p.out_h) {
            oh -= p.out_h;
            plane++;
        }
    }
}

void per_workgroup()
{
    uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    // o is uniform over the workgroup, so the barriers below are in uniform control flow
    for (uint o = gl_WorkGroupID.x; o < p.total; o += gl_NumWorkGroups.x) {
        Window w = window_of(o);
        uint wlen = w.w1 - w.w0, count = (w.h1 - w.h0) * wlen;
        // whole rows form one contiguous run: no division per element
        bool rows = wlen == p.in_w;
        uint first = w.h0 * p.in_w + w.w0;
        precise float acc = MAXPOOL ? NEG_INF : 0.0;
        precise float comp = 0.0;  // Kahan compensation of acc (average only)
        for (uint j = t; j < count; j += wg) {
            uint idx;
            if (rows) {
                idx = first + j;
            } else {
                uint r = j / wlen;
                idx = first + r * p.in_w + (j - r * wlen);
            }
            float v = w.x.v[idx];
            if (MAXPOOL) {
                acc = max(acc, v);
            } else {
                precise float yk = v - comp;
                precise float s = acc + yk;
                comp = (s - acc) - yk;
                acc = s;
            }
        }
        red[t] = acc;
        barrier();
        for (uint h = wg >> 1; h > 0; h >>= 1) {
            if (t < h)
                red[t] = MAXPOOL ? max(red[t], red[t + h]) : red[t] + red[t + h];
            barrier();
        }
        if (t == 0)
            Floats(p.y).v[o] = finish(red[0], w.count);
        barrier();  // red is reused by the next output
    }
}

void main()
{
    if (REDUCE)
        per_workgroup();
    else
        per_output();
}
