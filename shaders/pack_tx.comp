#version 460
// pack_tx.comp - lays operands out for gemm_tx.comp (conv: K-contiguous rows of whole
// rgba32f texels) and gemm_txk.comp (dense: K-major), zero-padded, written with 16-byte
// stores (texel.c). The source is read through an
// r32f view (one 4-byte load per lane on lavapipe, where a device-address load is a loop
// over the lanes). One invocation writes one texel; MODE says what a texel holds:
//   0 rows:   dst[row][c4] = src[row * k + 4 c4 + q]                         x: c4, y: row
//   1 input:  dst[b][ihp][iwp][g][c4] = x[b][g cg + 4 c4 + q][ihp - ph][iwp - pw]
//             (NCHW input; x: iwp, y: ihp, z: b * g * t + g * t + c4)
//   2 filter: dst[co][rs][c4] = w[co][4 c4 + q][rs]     (OIHW weights; x: c4, y: rs, z: co)
//   3 k-major: dst[k][j] = src[4 j + q][k]   (rows of length k, c of them; x: j, y: k:
//             the writes contiguous across lanes ran 3x faster than the reads so)
// with zeros past the row, the group's channels or the image's border. Only x varies
// across the lanes of a workgroup, y and z are the workgroup's: lanes divide nothing
// (a vector integer division is a scalar loop on CPUs; with divisions per texel this
// kernel ran at 1 GB/s).
layout(constant_id = 0) const uint MODE = 0;
layout(local_size_x = 64) in;
layout(set = 0, binding = 0, r32f) uniform readonly imageBuffer S;
layout(set = 0, binding = 1, rgba32f) uniform writeonly imageBuffer T;

layout(push_constant) uniform P {
    uint s0, t0, nx, ny, nz;  // first texels of source and destination; grid extent
    uint t, k;                // texels per row (per pixel and group); source row length (mode 0)
    uint g, cg, c, h, w, hp, wp, ph, pw, rs;
} p;

void main()
{
    for (uint z = gl_WorkGroupID.z; z < p.nz; z += gl_NumWorkGroups.z)
    for (uint y = gl_WorkGroupID.y; y < p.ny; y += gl_NumWorkGroups.y) {
        // per workgroup: the source of the row's first texel, and the layout of the rest
        uint base, xstep, cstep, dst, dstep, cfirst, cn;
        if (MODE == 0) {
            base = y * p.k;  xstep = 4; cstep = 1;
            dst = y * p.t;   dstep = 1;
            cfirst = 0;      cn = p.k;
        } else if (MODE == 1) {
            uint gt = p.g * p.t, gc = z % gt, b = z / gt, gg = gc / p.t, c4 = gc % p.t;
            uint ih = y - p.ph;  // wraps to huge in the padding
            base = ((b * p.c + gg * p.cg + 4 * c4) * p.h + ih) * p.w - p.pw;
            xstep = 1;       cstep = p.h * p.w;
            dst = (b * p.hp + y) * p.wp * gt + gc;  dstep = gt;
            cfirst = 4 * c4;
            cn = ih < p.h ? p.cg : 0;
        } else if (MODE == 3) {
            base = y;        xstep = 4 * p.k; cstep = p.k;
            dst = y * p.t;   dstep = 1;
            cfirst = 0;      cn = p.c;
        } else {
            base = z * p.cg * p.rs + y;  xstep = 4 * p.rs; cstep = p.rs;
            dst = (z * p.rs + y) * p.t;  dstep = 1;
            cfirst = 0;      cn = p.cg;
        }
        for (uint x = gl_LocalInvocationID.x + gl_WorkGroupID.x * 64; x < p.nx; x += gl_NumWorkGroups.x * 64) {
            uint first = base + x * xstep;
            // valid channels of this texel: mode 1 counts from the texel's first channel
            // and also needs the column inside the image
            uint c0 = MODE == 1 ? cfirst : 4 * x;
            uint n = cn - min(c0, cn);
            if (MODE == 1 && x - p.pw >= p.w)
                n = 0;
            // no branch per lane: past the valid channels read the first float and drop it
            vec4 v;
            for (uint q = 0; q < 4; q++) {
                float f = imageLoad(S, int(p.s0 + (q < n ? first + q * cstep : 0))).x;
                v[q] = q < n ? f : 0.0;
            }
            imageStore(T, int(p.t0 + dst + x * dstep), v);
        }
    }
}
