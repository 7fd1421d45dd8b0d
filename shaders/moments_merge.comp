#version 460
#extension GL_GOOGLE_include_directive : require
// moments_merge.comp - merges each channel's partial states (moments_partial*) with
// Chan's formula and writes out[2c] = pilot + mean, out[2c + 1] = M2 / n. A workgroup
// handles 256 / lanes channels with `lanes` invocations each (lanes a power of two).
#include "common.glsl"
#include "welford.glsl"
layout(local_size_x = WF_SIZE) in;
layout(push_constant) uniform P { uvec2 part, x, out_; uint channels, parts, spatial, lanes, blocks; } p;

void main()
{
    Welfords part = Welfords(p.part);
    Floats X = Floats(p.x), o = Floats(p.out_);
    uint tid = gl_LocalInvocationIndex, g = tid / p.lanes, l = tid % p.lanes;
    uint per_group = WF_SIZE / p.lanes;
    for (uint blk = gl_WorkGroupID.x; blk < p.blocks; blk += gl_NumWorkGroups.x) {
        uint c = blk * per_group + g;
        Welford st = WELFORD_EMPTY;
        if (c < p.channels)
            for (uint i = l; i < p.parts; i += p.lanes)
                st = welford_merge(st, part.v[c * p.parts + i]);
        st = welford_reduce_segments(st, p.lanes);
        if (c < p.channels && l == 0u) {
            o.v[2u * c] = X.v[c * p.spatial] + st.mean;
            o.v[2u * c + 1u] = st.m2 / float(st.n);
        }
    }
}
