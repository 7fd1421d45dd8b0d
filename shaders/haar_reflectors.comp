#version 460
#extension GL_GOOGLE_include_directive : require
// haar_reflectors.comp - the Householder vectors of a Haar-distributed orthogonal matrix
// (Stewart 1980; orthonormalize.c, lsuv_k_orthogonal_from_gaussian): row k of the n x ld
// matrix V holds Gaussian values; its tail x = V[k][k..m-1] becomes
//   v = x + sign(x_0) |x| e_0   (zeros before column k),  tau[k] = 2 / (v . v),
// and row k of Q^T starts as d_k e_k with d_k = -sign(x_0): H_k x = -sign(x_0)|x| e_0, so
// Q = H_0 ... H_{n-1} [I; 0] D is the Q of a QR factorization with diag(R) > 0.
// One invocation per row, V and Q^T through rgba32f texel views (CPU devices: one 16-byte
// access per lane; vk/texel.c). Rows are ld4 texels apart, padded with zeros past m.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(set = 0, binding = 0, rgba32f) uniform imageBuffer V;
layout(set = 0, binding = 1, rgba32f) uniform writeonly imageBuffer QT;
layout(push_constant) uniform P {
    uvec2 tau;
    uint n, ld4, v0, q0; // rows; texels per row; first texels in the views
} p;

void main()
{
    Floats T = Floats(p.tau);
    for (uint k = gl_GlobalInvocationID.x; k < p.n; k += gl_NumWorkGroups.x * 64u) {
        int rv = int(p.v0 + k * p.ld4), rq = int(p.q0 + k * p.ld4);
        uint k4 = k / 4u, kr = k % 4u;
        vec4 head = imageLoad(V, rv + int(k4));
        vec4 keep = vec4(greaterThanEqual(uvec4(0u, 1u, 2u, 3u), uvec4(kr))); // 1 from column k on
        head *= keep;
        float s2 = dot(head, head);
        for (uint t = k4 + 1u; t < p.ld4; t++) {
            vec4 x = imageLoad(V, rv + int(t));
            s2 += dot(x, x);
        }
        float nrm = sqrt(s2), x0 = head[kr];
        float sgn = x0 >= 0.0 ? 1.0 : -1.0;
        float vv = 2.0 * nrm * (nrm + abs(x0));
        for (uint t = 0u; t < k4; t++)
            imageStore(V, rv + int(t), vec4(0.0));
        head[kr] = x0 + sgn * nrm;
        imageStore(V, rv + int(k4), head);
        // the rest of the row: zeros the host filled in (a memset, not texel stores)
        imageStore(QT, rq + int(k4), vec4(equal(uvec4(0u, 1u, 2u, 3u), uvec4(kr))) * -sgn);
        T.v[k] = vv > 0.0 ? 2.0 / vv : 0.0; // a zero tail: H_k = I
    }
}
