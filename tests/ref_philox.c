/* ref_philox.c - see ref_philox.h. Convention (also documented in shaders/philox.glsl):
 * counter = (lo(g/4), hi(g/4), 0, 0), key = (lo(seed), hi(seed)); words x0..x3 give
 * u_j = ((x_j >> 9) + 0.5) * 2^-23; z0,z1 = sqrt(-2 ln u0) (cos, sin)(2 pi u1); likewise
 * (u2, u3) -> z2, z3; value g = z_{g % 4}. */
#include "ref_philox.h"

#include <math.h>

void ref_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

double ref_philox_uniform(uint32_t x) { return ((double)(x >> 9) + 0.5) * 0x1.0p-23; }

static void block_normals(uint64_t seed, uint64_t block, double z[4])
{
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, x[4];
    ref_philox4x32_10(ctr, key, x);
    for (int h = 0; h < 2; h++) {
        double r = sqrt(-2.0 * log(ref_philox_uniform(x[2 * h])));
        double a = 2.0 * M_PI * ref_philox_uniform(x[2 * h + 1]);
        z[2 * h] = r * cos(a);
        z[2 * h + 1] = r * sin(a);
    }
}

double ref_philox_normal(uint64_t seed, uint64_t g)
{
    double z[4];
    block_normals(seed, g / 4, z);
    return z[g % 4];
}

void ref_fill_normal(uint64_t seed, uint64_t offset, double *out, size_t n)
{
    double z[4];
    uint64_t cached = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = offset + i;
        if (g / 4 != cached) {
            cached = g / 4;
            block_normals(seed, cached, z);
        }
        out[i] = z[g % 4];
    }
}
