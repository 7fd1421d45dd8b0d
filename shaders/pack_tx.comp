#version 460
// pack_tx.comp - lays operands out for gemm_tx.comp (K-contiguous rows of whole rgba32f
// texels), zero-padded, written with 16-byte stores (texel.c). The source is read through an
// r32f view (one 4-byte load per lane on lavapipe, where a device-address load is a loop
// over the lanes). One invocation writes one texel; MODE says what a texel holds:
//   0 rows:   dst[row][c4] = src[row * k + 4 c4 + q]                         x: c4, y: row
//   1 input:  dst[b][ihp][iwp][g][c4] = x[b][g cg + 4 c4 + q][ihp - ph][iwp - pw]
//             (NCHW input; x: (iwp, g, c4), so that the writes are contiguous across
//             lanes, which ran 3x faster than contiguous reads; y: ihp, z: b)
//   2 filter: dst[co][rs][c4] = w[co][4 c4 + q][rs]     (OIHW weights; x: c4, y: rs, z: co)
//   3 (unused: was the K-major form of dense layers)
//   4 input, one group, rows of whole texels (w % 4 == 0): as 1, but an invocation reads
//             4 texels (4 columns of 4 channels, rgba32f view S4) and writes the 4 texels
//             of their transpose, 16-byte accesses both ways (x: (column / 4, c4), y: the
//             source row, z: b); positions no source pixel reaches are zeroed beforehand
//             by the host.
//   5 filter, cg % 4 == 0, RS taps: an invocation reads the 4 RS floats of 4 input
//             channels (RS texels of S4, neighbouring lanes neighbouring blocks) and writes
//             the RS texels of their transpose, dst[co][rs][c4], with constant indices
//             (x: c4, z: co). Mode 2 reads 4 floats a texel, each a lane-by-lane gather
//             36 floats from the next lane's: resnet18's filters packed at ~1 GB/s.
// with zeros past the row, the group's channels or the image's border. Only x varies
// across the lanes of a workgroup, y and z are the workgroup's: lanes divide nothing
// (a vector integer division is a scalar loop on CPUs; with divisions per texel this
// kernel ran at 1 GB/s).
#extension GL_EXT_control_flow_attributes : require
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const uint RS = 1; // mode 5: taps per filter (host: at most 16)
layout(local_size_x = 64) in;
layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer S;
layout(set = 0, binding = 1, rgba32f) uniform writeonly imageBuffer T;
layout(set = 0, binding = 2, rgba32f) uniform readonly imageBuffer S4;

layout(push_constant) uniform P {
    uint s0, t0, nx, ny, nz;  // first texels of source and destination; grid extent
    uint t, k;                // texels per row (per pixel and group); source row length (mode 0)
    uint g, cg, c, h, w, hp, wp, ph, pw, rs;
    uint s4;                  // mode 4: the source's first texel in S4
} p;

// a / b for a < 2^24 with float arithmetic: a vector integer division is a scalar loop
uint udiv(uint a, uint b)
{
    uint q = uint((float(a) + 0.5) / float(b));
    q -= q * b > a ? 1u : 0u;
    return q + ((q + 1) * b <= a ? 1u : 0u);
}

// Mode 4 (see above).
void input_by_blocks()
{
    uint w4 = p.w / 4u;
    for (uint z = gl_WorkGroupID.z; z < p.nz; z += gl_NumWorkGroups.z)
    for (uint y = gl_WorkGroupID.y; y < p.ny; y += gl_NumWorkGroups.y) {
        if (y + p.ph >= p.hp)
            continue; // a row no tap reaches
        uint src_row = p.s4 + (z * p.c * p.h + y) * w4, plane = p.h * w4;
        uint dst_row = p.t0 + (z * p.hp + y + p.ph) * p.wp * p.t;
        for (uint x = gl_LocalInvocationID.x + gl_WorkGroupID.x * 64; x < p.nx; x += gl_NumWorkGroups.x * 64) {
            uint x4 = udiv(x, p.t), c4 = x - x4 * p.t, c0 = 4u * c4;
            uint n = p.c - min(c0, p.c);
            int f = int(src_row + c0 * plane + x4), d = int(p.s4);
            vec4 a0 = imageLoad(S4, n > 0 ? f : d), a1 = imageLoad(S4, n > 1 ? f + int(plane) : d);
            vec4 a2 = imageLoad(S4, n > 2 ? f + 2 * int(plane) : d), a3 = imageLoad(S4, n > 3 ? f + 3 * int(plane) : d);
            bvec4 keep = lessThan(uvec4(0, 1, 2, 3), uvec4(n)); // mix, not a product: 0 * inf
            uint col = 4u * x4 + p.pw;
            int at = int(dst_row + col * p.t + c4);
            if (col < p.wp)
                imageStore(T, at, mix(vec4(0.0), vec4(a0.x, a1.x, a2.x, a3.x), keep));
            if (col + 1u < p.wp)
                imageStore(T, at + int(p.t), mix(vec4(0.0), vec4(a0.y, a1.y, a2.y, a3.y), keep));
            if (col + 2u < p.wp)
                imageStore(T, at + 2 * int(p.t), mix(vec4(0.0), vec4(a0.z, a1.z, a2.z, a3.z), keep));
            if (col + 3u < p.wp)
                imageStore(T, at + 3 * int(p.t), mix(vec4(0.0), vec4(a0.w, a1.w, a2.w, a3.w), keep));
        }
    }
}

// Mode 5 (see above): float q RS + r of a block is channel q's tap r.
void filter_by_blocks()
{
    for (uint z = gl_WorkGroupID.z; z < p.nz; z += gl_NumWorkGroups.z)
        for (uint x = gl_LocalInvocationID.x + gl_WorkGroupID.x * 64; x < p.nx; x += gl_NumWorkGroups.x * 64) {
            int src = int(p.s4 + (z * p.t + x) * RS), dst = int(p.t0 + z * RS * p.t + x);
            vec4 v[RS];
            [[unroll]] for (uint j = 0; j < RS; j++)
                v[j] = imageLoad(S4, src + int(j));
            [[unroll]] for (uint r = 0; r < RS; r++)
                imageStore(T, dst + int(r * p.t),
                           vec4(v[r / 4][r % 4], v[(RS + r) / 4][(RS + r) % 4], v[(2 * RS + r) / 4][(2 * RS + r) % 4],
                                v[(3 * RS + r) / 4][(3 * RS + r) % 4]));
        }
}

void main()
{
    if (MODE == 4) {
        input_by_blocks();
        return;
    }
    if (MODE == 5) {
        filter_by_blocks();
        return;
    }
    for (uint z = gl_WorkGroupID.z; z < p.nz; z += gl_NumWorkGroups.z)
    for (uint y = gl_WorkGroupID.y; y < p.ny; y += gl_NumWorkGroups.y) {
        // per workgroup: the source of the row's first texel, and the layout of the rest
        uint base, xstep, cstep, dst, dstep, cn;
        if (MODE == 0) {
            base = y * p.k;  xstep = 4; cstep = 1;
            dst = y * p.t;   dstep = 1;
            cn = p.k;
        } else if (MODE == 1) {
            uint ih = y - p.ph;  // wraps to huge in the padding
            base = (z * p.c * p.h + ih) * p.w - p.pw;  // channel 0 at column iwp = 0
            xstep = 0;       cstep = p.h * p.w;
            dst = (z * p.hp + y) * p.wp * p.g * p.t;  dstep = 1;
            cn = ih < p.h ? p.cg : 0;
        } else {
            base = z * p.cg * p.rs + y;  xstep = 4 * p.rs; cstep = p.rs;
            dst = (z * p.rs + y) * p.t;  dstep = 1;
            cn = p.cg;
        }
        for (uint x = gl_LocalInvocationID.x + gl_WorkGroupID.x * 64; x < p.nx; x += gl_NumWorkGroups.x * 64) {
            uint first = base + x * xstep, c0 = 4 * x;
            if (MODE == 1) {
                // x = (iwp, group, texel of the group): split without vector divisions
                uint gt = p.g * p.t, iwp = udiv(x, gt), gc = x - iwp * gt, gg = udiv(gc, p.t);
                c0 = 4 * (gc - gg * p.t);
                first += (gg * p.cg + c0) * cstep + iwp;
                if (iwp - p.pw >= p.w)
                    c0 = cn;  // in the padding: no valid channel
            }
            uint n = cn - min(c0, cn);  // valid channels of this texel
            // no branch per lane: past the valid channels read the first float and drop it;
            // components named, not indexed (an indexed vector may live in memory)
            int s0 = int(p.s0), f0 = s0 + int(first), cs = int(cstep);
            vec4 v = vec4(imageLoad(S, n > 0 ? f0 : s0).x, imageLoad(S, n > 1 ? f0 + cs : s0).x,
                          imageLoad(S, n > 2 ? f0 + 2 * cs : s0).x, imageLoad(S, n > 3 ? f0 + 3 * cs : s0).x);
            v = mix(vec4(0.0), v, lessThan(uvec4(0, 1, 2, 3), uvec4(n)));
            imageStore(T, int(p.t0 + dst + x * dstep), v);
        }
    }
}
