#version 460
#extension GL_GOOGLE_include_directive : require
// affine_act.comp - fused per-channel affine + activation over one chunk of an NCHW tensor:
//   t = x[i] * alpha * scale[c] + shift[c];  y[i] = act(t)   (y may equal x).
// The activation is a specialization constant, so each pipeline is branch-free on it.
// Transcendentals are evaluated with our own float code (exp, expm1, normal CDF) so that
// they hold ~1e-7 relative accuracy on any GPU, not just within Vulkan's loose bounds for
// the built-ins, and never produce inf/inf or 0/0 for large |t|.
#include "common.glsl"
layout(local_size_x = 256) in;

// lsuv_act_kind values
const uint A_NONE = 0, A_RELU = 1, A_LEAKY = 2, A_PRELU = 3, A_TANH = 4, A_SIGMOID = 5, A_ELU = 6,
           A_GELU = 7, A_SILU = 8;
layout(constant_id = 0) const uint ACT = 0;
layout(constant_id = 1) const bool HAS_SCALE = false;
layout(constant_id = 2) const bool HAS_SHIFT = false;
// ROWS: workgroups walk whole rows of `spatial` elements (y: rows, x: within the row), so the
// channel is uniform per row and its parameters are loaded once; for spatial >= 256.
// Otherwise a flat grid-stride loop tracks each element's channel incrementally.
layout(constant_id = 3) const bool ROWS = false;
const bool PER_CHANNEL = HAS_SCALE || HAS_SHIFT || ACT == A_PRELU;

layout(push_constant) uniform P {
    uvec2 x, y, scale, shift, slopes;
    uint n;              // elements (ROWS: rows) in this chunk; chunks hold < 2^31 elements
    uint spatial, channels;
    uint s0, c0;         // spatial index and channel of the chunk's first element
    uint dr, dqc;        // flat grid stride T: T % spatial and (T / spatial) % channels
    float alpha, param;  // param: leaky slope or ELU alpha
} p;

// ---- exp and expm1: Cody-Waite reduction t = k ln2 + r, |r| <= ln2/2, Taylor of expm1(r).
const float LOG2E = 1.44269504;
const float LN2_HI = 0.693145751953125;     // 16 significant bits: k * LN2_HI is exact
const float LN2_LO = 1.42860677e-06;

// 2^k for -252 <= k <= 127 as a product of two normal powers (a single one would overflow
// the exponent field; the product rounds to a denormal or 0 like a true exp would).
float pow2(int k, float v)
{
    int k1 = max(k, -126);
    int k2 = k - k1;
    v *= uintBitsToFloat(uint(k1 + 127) << 23);
    if (k2 != 0)
        v *= uintBitsToFloat(uint(max(k2 + 127, 1)) << 23);
    return v;
}

// expm1(r) for |r| <= 0.35: r + r^2 (1/2 + r/6 + ...), truncation < 1e-9 relative.
float expm1_small(float r)
{
    float q = 2.48015873e-05;
    q = q * r + 1.98412698e-04;
    q = q * r + 1.38888889e-03;
    q = q * r + 8.33333333e-03;
    q = q * r + 4.16666667e-02;
    q = q * r + 1.66666667e-01;
    q = q * r + 0.5;
    return r + (r * r) * q;
}

// Reduces t (clamped to [-104, 88]) to k and r; precise keeps the driver from refactoring
// the two-part subtraction that carries the reduction's accuracy.
void reduce_exp(float t, out int k, out float r)
{
    precise float tc = clamp(t, -104.0, 88.0);
    precise float kf = roundEven(tc * LOG2E);
    precise float rr = (tc - kf * LN2_HI) - kf * LN2_LO;
    k = int(kf);
    r = rr;
}

float exp_f(float t)
{
    int k;
    float r;
    reduce_exp(t, k, r);
    return pow2(k, 1.0 + expm1_small(r));
}

// expm1(t) for t <= 0 (all we need): 2^k expm1(r) + (2^k - 1), exact where expm1 is tiny.
float expm1_neg(float t)
{
    if (t > -0.34)
        return expm1_small(t);
    int k;
    float r;
    reduce_exp(max(t, -87.0), k, r);
    float s = uintBitsToFloat(uint(k + 127) << 23);
    return s * expm1_small(r) + (s - 1.0);
}

// ---- Normal CDF Phi(t) = (1 + erf(t / sqrt 2)) / 2, relative error ~1e-7 in both tails.
// |t| <= 1: Phi = 1/2 + t A(t^2), A the Taylor series of erf (9 terms, < 1e-8).
// |t| > 1: upper tail Q(u) = exp(-u^2/2) B(u), u = |t|, B a 12-term Chebyshev series in
// v = 1/(1 + u/2) over u in [1, 15] (fit error 2e-10); u^2/2 is formed exactly by splitting u.
float normal_cdf(float t)
{
    float u = abs(t);
    if (u <= 1.0) {
        float v = t * t;
        float a = 2.273529824e-09;
        a = a * v - 4.122667415e-08;
        a = a * v + 6.659693516e-07;
        a = a * v - 9.444656260e-06;
        a = a * v + 1.154346876e-04;
        a = a * v - 1.187328215e-03;
        a = a * v + 9.973557010e-03;
        a = a * v - 6.649038007e-02;
        a = a * v + 3.989422804e-01;
        return 0.5 + t * a;
    }
    u = min(u, 15.0);  // Q(15) underflows float anyway
    float s = (1.0 / (1.0 + 0.5 * u)) * -3.64285714 + 1.42857143;
    // Clenshaw recurrence, highest coefficient first
    const float c[12] = float[12](1.311988492e-01, -1.172945346e-01, 1.293128085e-02,
        -2.572216351e-04, -1.027717778e-04, 2.311119137e-06, 1.558178759e-06, 4.695823103e-08,
        -2.626710890e-08, -3.422498671e-09, 2.334811673e-10, 1.148533814e-10);
    float b1 = 0.0, b2 = 0.0;
    for (int j = 11; j >= 1; j--) {
        float b0 = 2.0 * s * b1 - b2 + c[j];
        b2 = b1;
        b1 = b0;
    }
    float b = s * b1 - b2 + c[0];
    // u = uh + ul with uh holding 12 significant bits: uh^2 is exact, the rest is small.
    float uh = uintBitsToFloat(floatBitsToUint(u) & 0xfffff000u);
    float ul = u - uh;
    float q = exp_f(-0.5 * (uh * uh)) * exp_f(-0.5 * (ul * (u + uh))) * b;
    return t < 0.0 ? q : 1.0 - q;
}

float activate(float t, uint c, float slope)
{
    if (ACT == A_RELU)
        return max(t, 0.0);
    if (ACT == A_LEAKY)
        return t >= 0.0 ? t : p.param * t;
    if (ACT == A_PRELU)
        return t >= 0.0 ? t : slope * t;
    if (ACT == A_TANH) {
        // tanh|t| = -m / (2 + m), m = expm1(-2|t|): no cancellation near 0, 1 for large |t|
        float m = expm1_neg(-2.0 * abs(t));
        float h = -m / (2.0 + m);
        return t < 0.0 ? -h : h;
    }
    if (ACT == A_SIGMOID || ACT == A_SILU) {
        float e = exp_f(-abs(t));  // in (0, 1]: no overflow
        float sg = t >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        return ACT == A_SILU ? t * sg : sg;
    }
    if (ACT == A_ELU)
        return t > 0.0 ? t : p.param * expm1_neg(t);
    if (ACT == A_GELU)
        return t * normal_cdf(t);
    return t;
}

// a + b mod m for a, b < m, without overflowing 32 bits
uint add_mod(uint a, uint b, uint m) { return a >= m - b ? a - (m - b) : a + b; }

float load_channel(uvec2 a, uint c) { return Floats(a).v[c]; }

void rows()
{
    Floats x = Floats(p.x), y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint row = gl_WorkGroupID.y; row < p.n; row += gl_NumWorkGroups.y) {
        uint c = add_mod(p.c0, row % p.channels, p.channels);
        float sc = HAS_SCALE ? load_channel(p.scale, c) * p.alpha : p.alpha;
        float sh = HAS_SHIFT ? load_channel(p.shift, c) : 0.0;
        float slope = ACT == A_PRELU ? load_channel(p.slopes, c) : 0.0;
        uint first = row * p.spatial;
        for (uint j = gl_GlobalInvocationID.x; j < p.spatial; j += stride)
            y.v[first + j] = activate(x.v[first + j] * sc + sh, c, slope);
    }
}

void main()
{
    if (ROWS) {
        rows();
        return;
    }
    Floats x = Floats(p.x), y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint i = gl_GlobalInvocationID.x;
    // (r, c): spatial index and channel of element i, advanced by the stride incrementally
    // so that the loop needs no integer division.
    uint r = 0, c = 0;
    if (PER_CHANNEL) {
        uint q = i / p.spatial, rr = i % p.spatial;
        bool carry = rr >= p.spatial - p.s0;
        r = carry ? rr - (p.spatial - p.s0) : rr + p.s0;
        c = add_mod(p.c0, q % p.channels, p.channels);
        if (carry)
            c = c + 1 == p.channels ? 0 : c + 1;
    }
    for (; i < p.n; i += stride) {
        float t = x.v[i] * p.alpha;
        if (HAS_SCALE)
            t *= load_channel(p.scale, c);
        if (HAS_SHIFT)
            t += load_channel(p.shift, c);
        y.v[i] = activate(t, c, ACT == A_PRELU ? load_channel(p.slopes, c) : 0.0);
        if (PER_CHANNEL) {
            bool carry = r >= p.spatial - p.dr;
            r = carry ? r - (p.spatial - p.dr) : r + p.dr;
            c = add_mod(c, p.dqc, p.channels);
            if (carry)
                c = c + 1 == p.channels ? 0 : c + 1;
        }
    }
}
