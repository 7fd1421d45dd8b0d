/* support.c - see support.h */
#include "support.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

lsuv_context *test_context(void)
{
    lsuv_context *ctx = NULL;
    char err[512] = "";
    lsuv_status st = lsuv_context_create(NULL, &ctx, err, sizeof err);
    cr_assert_eq(st, LSUV_OK, "no test device: %s: %s", lsuv_status_string(st), err);
    return ctx;
}

uint64_t test_rng_u64(test_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double test_rng_uniform(test_rng *r) { return (double)(test_rng_u64(r) >> 11) * 0x1.0p-53; }

double test_rng_normal(test_rng *r)
{
    double u1 = ((double)(test_rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = test_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int test_rng_int(test_rng *r, int lo, int hi)
{
    return lo + (int)(test_rng_u64(r) % (uint64_t)(hi - lo + 1));
}

void test_fill_normal(test_rng *r, float *x, size_t n, double mean, double std)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(mean + std * test_rng_normal(r));
}

float *test_random_floats(test_rng *r, size_t n, double mean, double std)
{
    float *x = malloc(n * sizeof *x + 1);
    cr_assert_not_null(x);
    test_fill_normal(r, x, n, mean, std);
    return x;
}

double *test_to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d + 1);
    cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

lsuv_buffer test_alloc_poisoned(lsuv_context *ctx, size_t n)
{
    lsuv_buffer b;
    lsuv_status st = lsuv_buffer_alloc(ctx, n * sizeof(float), &b);
    cr_assert_eq(st, LSUV_OK, "alloc %zu floats: %s", n, lsuv_context_last_error(ctx));
    st = lsuv_buffer_fill(ctx, &b, 0x7fc00000u);
    cr_assert_eq(st, LSUV_OK, "poison: %s", lsuv_context_last_error(ctx));
    return b;
}

lsuv_buffer test_upload(lsuv_context *ctx, const float *x, size_t n)
{
    lsuv_buffer b;
    lsuv_status st = lsuv_buffer_alloc(ctx, n * sizeof(float), &b);
    cr_assert_eq(st, LSUV_OK, "alloc %zu floats: %s", n, lsuv_context_last_error(ctx));
    st = lsuv_buffer_upload(ctx, &b, 0, x, n * sizeof(float));
    cr_assert_eq(st, LSUV_OK, "upload: %s", lsuv_context_last_error(ctx));
    return b;
}

float *test_download(lsuv_context *ctx, const lsuv_buffer *buf, size_t n)
{
    float *x = malloc(n * sizeof *x + 1);
    cr_assert_not_null(x);
    lsuv_status st = lsuv_buffer_download(ctx, buf, 0, x, n * sizeof *x);
    cr_assert_eq(st, LSUV_OK, "download: %s", lsuv_context_last_error(ctx));
    return x;
}

double test_rel_error(const float *got, const double *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        double d = (double)got[i] - want[i];
        num += d * d;
        den += want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

double test_max_abs_error(const float *got, const double *want, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        double d = fabs((double)got[i] - want[i]);
        if (d > m)
            m = d;
    }
    return m;
}
