#version 460
#extension GL_GOOGLE_include_directive : require
#ifdef WELFORD_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
// moments_partial.comp - per-channel partial moments. Built twice (shaders/meson.build):
// moments_partial reduces in shared memory only (devices without subgroup shuffles);
// moments_partial_sg, with -DWELFORD_SUBGROUP=1, reduces within subgroups by shuffles
// first (chosen when the device supports basic + shuffle subgroup operations).
#include "common.glsl"
#include "welford.glsl"

// x is NCHW: channel c holds, for each of `batch` images, `spatial` contiguous values at
// n * rowstride + c * spatial (rowstride = channels * spatial). Each work item (one
// workgroup at a time, grid-stride) reduces a piece of one channel, with the data shifted
// by the channel's pilot value x[c * spatial] so large means do not cancel, and writes
// either a partial state (part[c * parts + piece]) or, with direct, {mean, variance}.
//  MODE 0 (spatial >= 32): the channel's batch*spatial values are cut into `parts` runs
//    of `len` values; invocations stride by 256 through a run, stepping (image, position)
//    with precomputed carries (q256 = 256 / spatial, r256 = 256 % spatial): no division
//    per value.
//  MODE 1 (spatial < 32): a workgroup takes gpc = 256 / spatial whole channels; each
//    invocation owns one column (channel, position) and walks the images of its row range
//    (parts ranges of len images): loads are coalesced even when spatial = 1 (dense
//    layers); the spatial columns of a channel are merged in shared memory.
//  MODE 2: see partial_contiguous.
//  MODE 3: see partial_texels (CPU devices).
//  MODE 4: see partial_floats (CPU devices).
layout(local_size_x = WF_SIZE) in;
layout(constant_id = 0) const uint MODE = 0u;
layout(push_constant) uniform P {
    uvec2 x, part;
    uint batch, channels, spatial, per_channel, rowstride;
    uint parts, len, items, q256, r256, gpc, direct;
    uint x0;       // MODE 3: x's first texel in the view bound to XT
} p;
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer XT;
layout(set = 0, binding = 1, r32f) uniform readonly imageBuffer XS; // MODE 4: x, float by float

void write_result(uint c, uint piece, Welford r, float pilot)
{
    if (p.direct != 0u) {
        Floats o = Floats(p.part);
        o.v[2u * c] = pilot + r.mean;
        o.v[2u * c + 1u] = r.m2 / float(r.n);
    } else {
        Welfords(p.part).v[c * p.parts + piece] = r;
    }
}

void partial_runs()
{
    Floats X = Floats(p.x);
    uint tid = gl_LocalInvocationIndex, S = p.spatial, CS = p.rowstride;
    for (uint w = gl_WorkGroupID.x; w < p.items; w += gl_NumWorkGroups.x) {
        uint c = w / p.parts, piece = w - c * p.parts;
        uint e0 = piece * p.len, e1 = min(e0 + p.len, p.per_channel);
        float pilot = X.v[c * S];
        Welford st = WELFORD_EMPTY;
        uint e = e0 + tid;
        if (e < e1) {
            uint n = e / S, s = e - n * S;
            uint addr = n * CS + c * S + s;
            uint step = p.q256 * CS + p.r256, wrap = CS - S;
            // Eight loads in flight per invocation, then one merge.
            for (; e + 7u * 256u < e1; e += 8u * 256u) {
                float v[8];
                for (int k = 0; k < 8; k++) {
                    v[k] = X.v[addr] - pilot;
                    s += p.r256;
                    addr += step;
                    if (s >= S) {
                        s -= S;
                        addr += wrap;
                    }
                }
                st = welford_push8(st, v);
            }
            for (; e < e1; e += 256u) {
                st = welford_push(st, X.v[addr] - pilot);
                s += p.r256;
                addr += step;
                if (s >= S) {
                    s -= S;
                    addr += wrap;
                }
            }
        }
        Welford r = welford_reduce_workgroup(st);
        if (tid == 0u)
            write_result(c, piece, r, pilot);
    }
}

void partial_columns()
{
    Floats X = Floats(p.x);
    uint tid = gl_LocalInvocationIndex, S = p.spatial, CS = p.rowstride;
    uint cl = tid / S, s = tid - cl * S;
    for (uint w = gl_WorkGroupID.x; w < p.items; w += gl_NumWorkGroups.x) {
        uint grp = w / p.parts, piece = w - grp * p.parts;
        uint c = grp * p.gpc + cl;
        bool live = cl < p.gpc && c < p.channels;
        Welford st = WELFORD_EMPTY;
        float pilot = 0.0;
        if (live) {
            pilot = X.v[c * S];
            uint n = piece * p.len, n1 = min(n + p.len, p.batch);
            uint addr = n * CS + c * S + s;
            for (; n + 8u <= n1; n += 8u) {
                float v[8];
                for (uint k = 0u; k < 8u; k++)
                    v[k] = X.v[addr + k * CS] - pilot;
                addr += 8u * CS;
                st = welford_push8(st, v);
            }
            for (; n < n1; n++) {
                st = welford_push(st, X.v[addr] - pilot);
                addr += CS;
            }
        }
        Welford r = welford_reduce_segments(st, S);
        if (live && s == 0u)
            write_result(c, piece, r, pilot);
    }
}

layout(buffer_reference, scalar, buffer_reference_align = 16) buffer Vec4s { vec4 v[]; };

// MODE 2: one contiguous channel (channels = 1) at a 16-byte aligned address, runs of a
// multiple of 4 values: vec4 loads (fewer, wider memory operations).
void partial_contiguous()
{
    Floats X = Floats(p.x);
    Vec4s X4 = Vec4s(p.x);
    uint tid = gl_LocalInvocationIndex;
    float pilot = X.v[0];
    for (uint w = gl_WorkGroupID.x; w < p.items; w += gl_NumWorkGroups.x) {
        uint e0 = w * p.len, e1 = min(e0 + p.len, p.per_channel);
        uint q = e0 / 4u + tid, q1 = e1 / 4u;
        Welford st = WELFORD_EMPTY;
        for (; q + 256u < q1; q += 512u) {
            vec4 a = X4.v[q] - pilot, b = X4.v[q + 256u] - pilot;
            float v[8] = float[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
            st = welford_push8(st, v);
        }
        if (q < q1) {
            vec4 a = X4.v[q] - pilot;
            st = welford_push(welford_push(welford_push(welford_push(st, a.x), a.y), a.z), a.w);
        }
        uint e = 4u * q1 + tid;  // the last e1 % 4 values
        if (e < e1)
            st = welford_push(st, X.v[e] - pilot);
        Welford r = welford_reduce_workgroup(st);
        if (tid == 0u)
            write_result(0u, w, r, pilot);
    }
}

// MODE 3 (CPU devices: a texel load is one 16-byte load per lane there, a device-address
// load a loop over lanes and components; vk/texel.c): rows of whole texels (spatial % 4 ==
// 0) read through XT, and no workgroup reduction (on lavapipe a reduction over 256
// invocations cost more than the values it merged): each invocation owns one item, a
// run of `len` texels of one channel (per_channel: the channel's texels), walks it row by
// row and writes its own partial.
void partial_texels()
{
    Floats X = Floats(p.x);
    uint s4 = p.spatial / 4u, cs4 = p.rowstride / 4u;
    for (uint w = gl_GlobalInvocationID.x; w < p.items; w += gl_NumWorkGroups.x * WF_SIZE) {
        uint c = w / p.parts, piece = w - c * p.parts;
        uint e = piece * p.len, e1 = min(e + p.len, p.per_channel);
        float pilot = X.v[c * p.spatial];
        uint n = e / s4, q = e - n * s4;
        uint at = p.x0 + c * s4 + n * cs4 + q;
        Welford st = WELFORD_EMPTY;
        for (; e + 1u < e1; e += 2u) {
            vec4 a = imageLoad(XT, int(at)) - pilot;
            at++;
            if (++q == s4) { // the next image's row of this channel
                q = 0u;
                at += cs4 - s4;
            }
            vec4 b = imageLoad(XT, int(at)) - pilot;
            at++;
            if (++q == s4) {
                q = 0u;
                at += cs4 - s4;
            }
            float v[8] = float[8](a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
            st = welford_push8(st, v);
        }
        if (e < e1) {
            vec4 a = imageLoad(XT, int(at)) - pilot;
            st = welford_push(welford_push(welford_push(welford_push(st, a.x), a.y), a.z), a.w);
        }
        write_result(c, piece, st, pilot);
    }
}

// MODE 4 (CPU devices, rows that are not whole texels: dense layers, 7x7 maps): MODE 3's
// items, read float by float through an r32f view (one 4-byte load per lane), walking
// the channel's values image by image with a carry instead of a division per value.
void partial_floats()
{
    uint S = p.spatial, CS = p.rowstride;
    for (uint w = gl_GlobalInvocationID.x; w < p.items; w += gl_NumWorkGroups.x * WF_SIZE) {
        uint c = w / p.parts, piece = w - c * p.parts;
        uint e = piece * p.len, e1 = min(e + p.len, p.per_channel);
        float pilot = imageLoad(XS, int(p.x0 + c * S)).x;
        uint n = e / S, s = e - n * S;
        uint at = p.x0 + n * CS + c * S + s;
        Welford st = WELFORD_EMPTY;
        for (; e + 7u < e1; e += 8u) {
            float v[8];
            for (uint k = 0u; k < 8u; k++) {
                v[k] = imageLoad(XS, int(at)).x - pilot;
                at++;
                if (++s == S) { // the next image's values of this channel
                    s = 0u;
                    at += CS - S;
                }
            }
            st = welford_push8(st, v);
        }
        for (; e < e1; e++) {
            st = welford_push(st, imageLoad(XS, int(at)).x - pilot);
            at++;
            if (++s == S) {
                s = 0u;
                at += CS - S;
            }
        }
        write_result(c, piece, st, pilot);
    }
}

void main()
{
    if (MODE == 0u)
        partial_runs();
    else if (MODE == 1u)
        partial_columns();
    else if (MODE == 2u)
        partial_contiguous();
    else if (MODE == 3u)
        partial_texels();
    else
        partial_floats();
}
