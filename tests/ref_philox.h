/* ref_philox.h - CPU reference of the Gaussian fill: the same integer Philox4x32-10 and
 * the same uniforms as shaders/philox.glsl, with Box-Muller evaluated in double. */
#ifndef LSUV_REF_PHILOX_H
#define LSUV_REF_PHILOX_H

#include <stddef.h>
#include <stdint.h>

/* Philox4x32-10 (Random123 philox4x32_R(10, ctr, key)). */
void ref_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* The uniform of one Philox word: (x >> 9) + 0.5) * 2^-23, in (0,1). */
double ref_philox_uniform(uint32_t x);
/* Value number g of the stream keyed by seed (block g / 4, lane g % 4). */
double ref_philox_normal(uint64_t seed, uint64_t g);
/* out[i] = ref_philox_normal(seed, offset + i), i < n. */
void ref_fill_normal(uint64_t seed, uint64_t offset, double *out, size_t n);

#endif
