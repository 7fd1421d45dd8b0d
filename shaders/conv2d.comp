#version 460
#extension GL_GOOGLE_include_directive : require
// conv2d.comp - direct convolution, one output element per invocation (grid-stride), for
// groups with few output channels (depthwise and the like), where a GEMM tile would be
// mostly padding. Neighbouring invocations take neighbouring output pixels of one
// channel: input reads coalesce and the weights are the same for the whole run.
#include "common.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform P {
    uvec2 x, w, bias, y;
    uint rows, cols, k, has_bias;  // rows: batch*OH*OW, cols: K/groups, k: C/groups*R*S
    uint c, h, wd, ohw, ow, r, s, sh, sw, ph, pw, dh, dw, cg, kout;
} p;

void main()
{
    Floats X = Floats(p.x), W = Floats(p.w), Y = Floats(p.y), bias = Floats(p.bias);
    uint total = p.rows * p.kout;  // host guarantees < 2^31
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint hw = p.h * p.wd;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint q = i % p.ohw, t = i / p.ohw, ko = t % p.kout, b = t / p.kout;
        uint g = ko / p.cols;
        int ih0 = int(q / p.ow * p.sh) - int(p.ph), iw0 = int(q % p.ow * p.sw) - int(p.pw);
        uint xbase = (b * p.c + g * p.cg) * hw;
        uint wbase = ko * p.k;
        float acc = 0.0;
        for (uint c = 0; c < p.cg; c++) {
            for (uint kr = 0; kr < p.r; kr++) {
                int ih = ih0 + int(kr * p.dh);
                if (uint(ih) >= p.h)
                    continue;
                uint xrow = xbase + c * hw + uint(ih) * p.wd;
                uint wrow = wbase + (c * p.r + kr) * p.s;
                for (uint ks = 0; ks < p.s; ks++) {
                    int iw = iw0 + int(ks * p.dw);
                    if (uint(iw) < p.wd)
                        acc = fma(X.v[xrow + uint(iw)], W.v[wrow + ks], acc);
                }
            }
        }
        if (p.has_bias != 0)
            acc += bias.v[ko];
        Y.v[i] = acc;
    }
}
