// activation.glsl - the activations of affine_act.comp and affine_act_tx.comp: the
// including shader declares the specialization constant ACT (an lsuv_act_kind) first.
// Transcendentals come from mathf.glsl (~1e-7 relative on any device, no inf/inf or 0/0
// for large |t|). param: leaky slope, ELU/SELU alpha, HardSigmoid alpha, Clip min;
// param2: SELU gamma, HardSigmoid beta, Clip max; slope: PReLU's, per channel.
// lsuv_act_kind values
const uint A_NONE = 0, A_RELU = 1, A_LEAKY = 2, A_PRELU = 3, A_TANH = 4, A_SIGMOID = 5, A_ELU = 6,
           A_GELU = 7, A_SILU = 8, A_SELU = 9, A_HARDSIGMOID = 10, A_HARDSWISH = 11,
           A_SOFTPLUS = 12, A_CLIP = 13, A_ERF = 14;
float activate_with(float t, float slope, float param, float param2)
{
    if (ACT == A_RELU)
        return max(t, 0.0);
    if (ACT == A_LEAKY)
        return t >= 0.0 ? t : param * t;
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
        return t > 0.0 ? t : param * expm1_neg(t);
    if (ACT == A_GELU)
        return t * normal_cdf(t);
    if (ACT == A_SELU)
        return param2 * (t > 0.0 ? t : param * expm1_neg(t));
    if (ACT == A_HARDSIGMOID)
        return clamp(param * t + param2, 0.0, 1.0);
    if (ACT == A_HARDSWISH)
        return t * clamp(t * (1.0 / 6.0) + 0.5, 0.0, 1.0);
    if (ACT == A_SOFTPLUS)  // max(t, 0) + log1p(exp(-|t|)): exp never overflows
        return max(t, 0.0) + log1p_pos(exp_f(-abs(t)));
    if (ACT == A_CLIP)      // min after max: ONNX gives max when min > max
        return min(max(t, param), param2);
    if (ACT == A_ERF)
        return erf_f(t);
    return t;
}

