/* support.h - helpers shared by the tests: a lavapipe context, seeded random numbers,
 * NaN poisoning, device<->host copies and norm-wise error against double references. */
#ifndef LSUV_TEST_SUPPORT_H
#define LSUV_TEST_SUPPORT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "vk/context.h"
#include "kernels/kernels.h"

/* A context on the test device (lavapipe under meson test); fails the test if none. */
lsuv_context *test_context(void);

/* splitmix64-seeded xoshiro-free generator: simple, fixed, reproducible. */
typedef struct test_rng { uint64_t s; } test_rng;
uint64_t test_rng_u64(test_rng *r);
double test_rng_uniform(test_rng *r);            /* [0,1) */
double test_rng_normal(test_rng *r);             /* N(0,1) */
int test_rng_int(test_rng *r, int lo, int hi);   /* inclusive */
void test_fill_normal(test_rng *r, float *x, size_t n, double mean, double std);
/* malloc'ed n floats of N(mean, std^2) (free it); fails the test when out of memory. */
float *test_random_floats(test_rng *r, size_t n, double mean, double std);
/* malloc'ed copy of x[0..n) as doubles (free it). */
double *test_to_double(const float *x, size_t n);

/* Device buffer of n floats, poisoned with NaN (the fill is recorded; submit runs it). */
lsuv_buffer test_alloc_poisoned(lsuv_context *ctx, size_t n);
/* Device buffer holding a copy of x[0..n). */
lsuv_buffer test_upload(lsuv_context *ctx, const float *x, size_t n);
/* Submits, then copies n floats back into a malloc'ed array (free it). */
float *test_download(lsuv_context *ctx, const lsuv_buffer *buf, size_t n);

/* ||got - want||_2 / ||want||_2 (want all zero: ||got||). Any NaN/Inf in got -> INFINITY. */
double test_rel_error(const float *got, const double *want, size_t n);
/* max |got - want|; INFINITY on any non-finite got. */
double test_max_abs_error(const float *got, const double *want, size_t n);

#endif
