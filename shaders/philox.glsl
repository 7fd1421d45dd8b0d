// philox.glsl - Philox4x32-10 (Salmon et al., SC'11) and an accurate float Box-Muller.
//
// Convention (tests/ref_philox.c computes the same thing in double):
//   global index g = offset + i (64-bit); block b = g / 4, lane = g % 4;
//   counter = (lo(b), hi(b), 0, 0), key = (lo(seed), hi(seed));
//   x0..x3 = Philox4x32-10(counter, key), 10 rounds, multipliers 0xD2511F53 / 0xCD9E8D57,
//   key increments 0x9E3779B9 / 0xBB67AE85 (Random123's philox4x32_R(10, ...));
//   u_j = (float(x_j >> 9) + 0.5) * 2^-23 = m_j * 2^-24 with m_j = 2 * (x_j >> 9) + 1 odd:
//     exact in float and strictly inside (0,1). (With x >> 8 and 2^-24, k + 0.5 needs
//     25 bits and rounds for k >= 2^23; u could even round to 1.0.)
//   z0 = sqrt(-2 ln u0) cos(2 pi u1), z1 = sqrt(-2 ln u0) sin(2 pi u1); (u2, u3) -> z2, z3;
//   value g = z_lane.
// GPU built-in log/sin/cos are too loose (Vulkan allows 2^-11 absolute for sin/cos), so
// the transcendental parts are computed here as float pairs (hi + lo) from the integers
// m_j: the result is within about 0.5 ulp of the exact value (|error| < 3e-7).

const uint PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;

uvec4 philox4x32_10(uvec4 c, uvec2 k)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0)
            k += uvec2(PHILOX_W0, PHILOX_W1);
        uint hi0, lo0, hi1, lo1;
        umulExtended(PHILOX_M0, c.x, hi0, lo0);
        umulExtended(PHILOX_M1, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// -2 ln(m * 2^-24) for odd m < 2^24, as hi + lo with |lo| <= ulp(hi)/2.
// ln(1+f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2+f) (the fdlibm arrangement: the
// exact f leads, the rounded s only enters a small correction).
void philox_neg2log(uint m, out float hi, out float lo)
{
    const float LN2_HI = 6.931152344e-01;  // 12 significant bits: e * LN2_HI is exact
    const float LN2_LO = 3.194618330e-05;
    const float L3 = 6.666666865e-01, L5 = 4.000000060e-01, L7 = 2.857142985e-01;
    const float L9 = 2.222222239e-01, L11 = 1.818181872e-01;
    uint bits = floatBitsToUint(float(m));  // exact: m < 2^24
    int e = int(bits >> 23) - 127;
    float mm = uintBitsToFloat((bits & 0x7fffffu) | 0x3f800000u);  // [1, 2)
    if (mm > 1.414213538) {
        mm *= 0.5;
        e += 1;
    }
    float f = mm - 1.0;  // exact (Sterbenz)
    float ef = float(e - 24);
    float den = 2.0 + f;
    float rc = 1.0 / den;
    precise float s = f * rc;
    s = fma(fma(-s, den, f), rc, s);  // one correction: division is 2.5 ulp in Vulkan
    float z = s * s;
    float R = z * (L3 + z * (L5 + z * (L7 + z * (L9 + z * L11))));
    float hfsq = 0.5 * f * f;
    float corr = ef * LN2_LO - (hfsq - s * (hfsq + R));
    // TwoSum of the exact terms e*ln2_hi + f, then fold the correction in.
    precise float a = ef * LN2_HI;
    precise float sh = a + f;
    precise float bb = sh - a;
    precise float sl = (a - (sh - bb)) + (f - bb) + corr;
    precise float h2 = sh + sl;
    precise float l2 = sl - (h2 - sh);
    hi = -2.0 * h2;
    lo = -2.0 * l2;
}

// sqrt(hi + lo) as rh + rl (Newton steps from the built-in inverse square root).
void philox_sqrt2(float hi, float lo, out float rh, out float rl)
{
    float y = inversesqrt(hi);
    float hy = 0.5 * y;
    float s0 = hi * y;
    precise float r = fma(fma(-s0, s0, hi) + lo, hy, s0);
    rh = r;
    rl = (fma(-r, r, hi) + lo) * hy;
}

// cos(2 pi u) and sin(2 pi u), u = m * 2^-24 (m odd), each as (hi, lo).
// Quadrant reduction is exact in integers: 4u = j + t with t = m/2^22 - j, |t| <= 1/2;
// then sin/cos(pi/2 t) by Taylor polynomials in t (|pi/2 t| <= pi/4), leading terms in
// double-float so the result carries ~2^-28 absolute error before the final product.
void philox_sincos2pi(uint m, out vec2 c, out vec2 s)
{
    const float C1 = 1.570796371e+00, A1_LO = -4.371138829e-08;
    const float C2 = -1.233700514e+00, B2_LO = -3.629644851e-08;
    const float C3 = -6.459640861e-01, C4 = 2.536695004e-01, C5 = 7.969262451e-02;
    const float C6 = -2.086348087e-02, C7 = -4.681753926e-03, C8 = 9.192602593e-04;
    const float C9 = 1.604411809e-04, C10 = -2.520204180e-05, C11 = -3.598843250e-06;
    uint j = (m + (1u << 21)) >> 22;
    float t = float(int(m - (j << 22))) * (1.0 / 4194304.0);  // exact
    precise float t2 = t * t;
    precise float t2l = fma(t, t, -t2);
    float ps = C3 + t2 * (C5 + t2 * (C7 + t2 * (C9 + t2 * C11)));
    precise float p = t * C1;
    precise float pl = fma(t, C1, -p);
    precise float tail = fma(t, A1_LO, pl) + (t * t2) * ps;
    precise float sh = p + tail;
    precise float sl = tail - (sh - p);
    float pc = C4 + t2 * (C6 + t2 * (C8 + t2 * C10));
    precise float q = t2 * C2;
    precise float ql = fma(t2, C2, -q) + (t2l * C2 + t2 * (B2_LO + t2 * pc));
    precise float ch = 1.0 + q;
    precise float cl = ql - ((ch - 1.0) - q);
    switch (j & 3u) {
    case 0u: c = vec2(ch, cl); s = vec2(sh, sl); break;
    case 1u: c = vec2(-sh, -sl); s = vec2(ch, cl); break;
    case 2u: c = vec2(-ch, -cl); s = vec2(-sh, -sl); break;
    default: c = vec2(sh, sl); s = vec2(-ch, -cl); break;
    }
}

// Two normals from two Philox words (Box-Muller).
vec2 philox_box_muller(uint x0, uint x1)
{
    float lh, ll, rh, rl;
    philox_neg2log(((x0 >> 9) << 1) | 1u, lh, ll);
    philox_sqrt2(lh, ll, rh, rl);
    vec2 c, s;
    philox_sincos2pi(((x1 >> 9) << 1) | 1u, c, s);
    return vec2(fma(rh, c.x, fma(rh, c.y, rl * c.x)), fma(rh, s.x, fma(rh, s.y, rl * s.x)));
}

vec4 philox_normal4(uvec4 x)
{
    return vec4(philox_box_muller(x.x, x.y), philox_box_muller(x.z, x.w));
}
