#version 460
#extension GL_GOOGLE_include_directive : require
// add.comp - residual add: y[i] = act(a[i] + b[i]) (y may alias a or b), act the activation
// that reads the sum alone (graph_run.c applies it here instead of in a pass of its own;
// any but PReLU, whose slopes are per channel).
// TEXEL (CPU devices): the three tensors through rgba32f texel views, 4 values per access
// (on lavapipe a device-address access is a loop over the lanes; vk/texel.c); count is
// then in texels.
#include "common.glsl"
#include "mathf.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint ACT = 0; // lsuv_act_kind
#include "activation.glsl"
layout(constant_id = 1) const bool TEXEL = false;
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer AT;
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer BT;
layout(set = 0, binding = 2, rgba32f) uniform writeonly imageBuffer YT;
layout(push_constant) uniform P {
    uvec2 a, b, y;
    uint count;
    uint a0, b0, y0; // TEXEL: the first texels in the views
    float param, param2;
} p;

float act(float t) { return ACT == A_NONE ? t : activate_with(t, 0.0, p.param, p.param2); }

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (TEXEL) {
        for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
            vec4 t = imageLoad(AT, int(p.a0 + i)) + imageLoad(BT, int(p.b0 + i));
            imageStore(YT, int(p.y0 + i), vec4(act(t.x), act(t.y), act(t.z), act(t.w)));
        }
        return;
    }
    Floats a = Floats(p.a), b = Floats(p.b), y = Floats(p.y);
    for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride)
        y.v[i] = act(a.v[i] + b.v[i]);
}
