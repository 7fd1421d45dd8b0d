// mathf.glsl - float transcendentals written out (exp, expm1, log, log1p, normal CDF, erf),
// so that they hold ~1e-7 relative accuracy on any GPU, not just within Vulkan's loose
// bounds for the built-ins, and never produce inf/inf or 0/0 for large arguments.
// Shared by affine_act.comp (activations) and reduce.comp (softmax).

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

// ---- logarithms through atanh: log((1 + s) / (1 - s)) = 2 (s + s^3/3 + s^5/5 + ...).
// For |s| <= 1/3 the terms up to s^19 leave a truncation below 1e-9 relative.
float atanh2_series(float s)
{
    float v = s * s;
    float q = 1.0 / 19.0;
    q = q * v + 1.0 / 17.0;
    q = q * v + 1.0 / 15.0;
    q = q * v + 1.0 / 13.0;
    q = q * v + 1.0 / 11.0;
    q = q * v + 1.0 / 9.0;
    q = q * v + 1.0 / 7.0;
    q = q * v + 1.0 / 5.0;
    q = q * v + 1.0 / 3.0;
    return 2.0 * (s + s * v * q);
}

// log1p(e) for e >= 0: 1 + e = (1 + s) / (1 - s) with s = e / (2 + e). Relative accuracy
// holds for tiny e (no 1 + e is formed); for e > 1 the exponent is split off as in log_f.
float log1p_pos(float e)
{
    if (e <= 1.0)
        return atanh2_series(e / (2.0 + e));
    float u = 1.0 + e;
    int k = int((floatBitsToUint(u) >> 23) & 0xffu) - 127;
    float f = uintBitsToFloat((floatBitsToUint(u) & 0x007fffffu) | 0x3f800000u); // [1, 2)
    if (f > 1.41421356) {
        f *= 0.5;
        k++;
    }
    return float(k) * LN2_HI + (float(k) * LN2_LO + atanh2_series((f - 1.0) / (f + 1.0)));
}

// log(u) for finite u > 0 (normal numbers): u = 2^k f, f in [1/sqrt2, sqrt2).
float log_f(float u)
{
    int k = int((floatBitsToUint(u) >> 23) & 0xffu) - 127;
    float f = uintBitsToFloat((floatBitsToUint(u) & 0x007fffffu) | 0x3f800000u);
    if (f > 1.41421356) {
        f *= 0.5;
        k++;
    }
    return float(k) * LN2_HI + (float(k) * LN2_LO + atanh2_series((f - 1.0) / (f + 1.0)));
}

// ---- Normal CDF Phi(t) = (1 + erf(t / sqrt 2)) / 2, relative error ~1e-7 in both tails.
// |t| <= 1: Phi = 1/2 + t A(t^2), A the Taylor series of erf (9 terms, < 1e-8): phi_center.
// |t| > 1: upper tail Q(u) = exp(-u^2/2) B(u), u = |t|, B a 12-term Chebyshev series in
// v = 1/(1 + u/2) over u in [1, 15] (fit error 2e-10); u^2/2 is formed exactly by splitting u.
float phi_center(float t) // Phi(t) - 1/2 for |t| <= 1
{
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
    return t * a;
}

float phi_tail(float u) // Q(u) = 1 - Phi(u) for u >= 1
{
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
    return exp_f(-0.5 * (uh * uh)) * exp_f(-0.5 * (ul * (u + uh))) * b;
}

float normal_cdf(float t)
{
    if (abs(t) <= 1.0)
        return 0.5 + phi_center(t);
    float q = phi_tail(abs(t));
    return t < 0.0 ? q : 1.0 - q;
}

// erf(x) = 2 Phi(x sqrt2) - 1, written so that no 1/2 is added and taken away again
// (relative accuracy near 0 and in the tails).
float erf_f(float x)
{
    float t = x * 1.41421356;
    if (abs(t) <= 1.0)
        return 2.0 * phi_center(t);
    float e = 1.0 - 2.0 * phi_tail(abs(t));
    return x < 0.0 ? -e : e;
}
