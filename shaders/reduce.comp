#version 460
#extension GL_GOOGLE_include_directive : require
// reduce.comp - reductions along the middle axis of x viewed as (outer, n, inner): one
// invocation per column (o, j), columns j adjacent across invocations so that the reads
// of a step are contiguous. MEAN/SUM: y[o][j] = sum_k x[o][k][j] (/ n), Kahan-compensated;
// MAX: the maximum; SOFTMAX / LOG_SOFTMAX: y[o][k][j] normalized along k, stable form
// (x - max first, so exp never overflows and the sum is >= 1). The host keeps each
// dispatch's input below 2^31 elements: 32-bit index math.
#include "common.glsl"
#include "mathf.glsl"
layout(local_size_x = 256) in;
// lsuv_k_reduce_op values
const uint R_MEAN = 0, R_MAX = 1, R_SUM = 2, R_SOFTMAX = 3, R_LOG_SOFTMAX = 4;
layout(constant_id = 0) const uint OP = 0;

layout(push_constant) uniform P {
    uvec2 x, y;
    uint cols;       // outer * inner in this dispatch
    uint n, inner;
} p;

#define NEG_INF uintBitsToFloat(0xff800000u)

void main()
{
    Floats X = Floats(p.x), Y = Floats(p.y);
    uint T = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint col = gl_GlobalInvocationID.x; col < p.cols; col += T) {
        uint o = col / p.inner, j = col - o * p.inner;
        uint base = o * p.n * p.inner + j;
        float m = NEG_INF;
        if (OP != R_MEAN && OP != R_SUM)
            for (uint k = 0; k < p.n; k++)
                m = max(m, X.v[base + k * p.inner]);
        if (OP == R_MAX) {
            Y.v[col] = m;
            continue;
        }
        precise float s = 0.0, comp = 0.0;  // Kahan: comp carries the low bits s lost
        for (uint k = 0; k < p.n; k++) {
            float v = X.v[base + k * p.inner];
            if (OP == R_SOFTMAX || OP == R_LOG_SOFTMAX)
                v = exp_f(v - m);
            precise float yk = v - comp;
            precise float t = s + yk;
            comp = (t - s) - yk;
            s = t;
        }
        if (OP == R_SUM) {
            Y.v[col] = s;
        } else if (OP == R_MEAN) {
            Y.v[col] = s / float(p.n);
        } else if (OP == R_SOFTMAX) {
            float inv = 1.0 / s;
            for (uint k = 0; k < p.n; k++)
                Y.v[base + k * p.inner] = exp_f(X.v[base + k * p.inner] - m) * inv;
        } else {
            float ls = log_f(s);
            for (uint k = 0; k < p.n; k++)
                Y.v[base + k * p.inner] = (X.v[base + k * p.inner] - m) - ls;
        }
    }
}
