#version 460
#extension GL_GOOGLE_include_directive : require
// conv2d.comp - direct convolution for groups with few output channels (depthwise and the
// like), where a GEMM tile would be mostly padding. An invocation computes TW neighbouring
// outputs of one row (grid-stride over batch x channel x row x strip): every weight is
// loaded once for TW multiply-adds. Neighbouring invocations take neighbouring strips of
// one row, so input reads stay close and the weights are shared by the whole run.
#include "common.glsl"

layout(constant_id = 0) const uint TW = 4;
layout(local_size_x = 256) in;
layout(push_constant) uniform P {
    uvec2 x, w, bias, y;
    uint rows, cols, k, has_bias;  // rows: batch*OH*OW, cols: K/groups, k: C/groups*R*S
    uint c, h, wd, ohw, ow, r, s, sh, sw, ph, pw, dh, dw, cg, kout;
} p;

void main()
{
    Floats X = Floats(p.x), W = Floats(p.w), Y = Floats(p.y), bias = Floats(p.bias);
    uint strips = (p.ow + TW - 1) / TW;
    uint oh_count = p.ohw / p.ow;
    uint total = p.rows / p.ow * p.kout * strips;  // batch * OH * K * strips, < 2^31
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint hw = p.h * p.wd;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint st = i % strips, t = i / strips;
        uint oh = t % oh_count;
        t /= oh_count;
        uint ko = t % p.kout, b = t / p.kout;
        uint g = ko / p.cols;
        uint ow0 = st * TW;
        int ih0 = int(oh * p.sh) - int(p.ph), iw0 = int(ow0 * p.sw) - int(p.pw);
        uint xbase = (b * p.c + g * p.cg) * hw;
        uint wbase = ko * p.k;
        float acc[TW];
        for (uint j = 0; j < TW; j++)
            acc[j] = 0.0;
        for (uint c = 0; c < p.cg; c++) {
            for (uint kr = 0; kr < p.r; kr++) {
                int ih = ih0 + int(kr * p.dh);
                if (uint(ih) >= p.h)
                    continue;
                uint xrow = xbase + c * hw + uint(ih) * p.wd;
                uint wrow = wbase + (c * p.r + kr) * p.s;
                for (uint ks = 0; ks < p.s; ks++) {
                    float wv = W.v[wrow + ks];
                    int iw = iw0 + int(ks * p.dw);
                    for (uint j = 0; j < TW; j++) {
                        if (uint(iw) < p.wd)
                            acc[j] = fma(X.v[xrow + uint(iw)], wv, acc[j]);
                        iw += int(p.sw);
                    }
                }
            }
        }
        float bv = p.has_bias != 0 ? bias.v[ko] : 0.0;
        uint yat = ((b * p.kout + ko) * oh_count + oh) * p.ow + ow0;
        for (uint j = 0; j < TW; j++)
            if (ow0 + j < p.ow)
                Y.v[yat + j] = acc[j] + bv;
    }
}
