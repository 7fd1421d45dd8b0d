#version 460
#extension GL_GOOGLE_include_directive : require
// add.comp - residual add: y[i] = a[i] + b[i] (y may alias a or b).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform P { uvec2 a, b, y; uint count; } p;

void main()
{
    Floats a = Floats(p.a), b = Floats(p.b), y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride)
        y.v[i] = a.v[i] + b.v[i];
}
