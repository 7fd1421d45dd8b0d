#version 460
#extension GL_GOOGLE_include_directive : require
// mgs_reduce.comp - c[e] = sum over chunks of part[ch][e] (e < count), blocked in groups
// of 16 chunks so that no serial sum is long.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform P { uvec2 part, c; uint count, nchunks; } p;

void main()
{
    Floats part = Floats(p.part), c = Floats(p.c);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < p.count; e += stride) {
        float total = 0.0;
        for (uint b = 0; b < p.nchunks; b += 16) {
            float s = 0.0;
            uint end = min(p.nchunks, b + 16);
            for (uint ch = b; ch < end; ch++)
                s += part.v[ch * p.count + e];
            total += s;
        }
        c.v[e] = total;
    }
}
