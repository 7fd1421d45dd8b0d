/* data.c - the public data API: load (.npy / IDX, told by content; conversion notes kept
 * for the caller), Gaussian noise, standardize. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vk/context.h"
#include "formats/formats.h"

/* Values per sample, or -1 if a dimension is not positive or the total overflows. */
static int64_t sample_size(int ndim, const int64_t *dims)
{
    int64_t s = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0 || s > INT64_MAX / dims[i])
            return -1;
        s *= dims[i];
    }
    return s;
}

static int64_t data_count(const lsuv_data *d)
{
    int64_t s = sample_size(d->ndim, d->dims);
    if (s < 0 || d->n <= 0 || d->n > INT64_MAX / s)
        return -1;
    return s * d->n;
}

lsuv_status lsuv_data_load(lsuv_context *ctx, const char *path, lsuv_data **out)
{
    if (!path || !out)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_data_load: %s is NULL",
                         path ? "out" : "path");
    *out = NULL;

    /* Tell the kind by the first bytes: "\x93NUMPY" .npy, 1f 8b gzip (IDX inside),
     * 00 00 <type> <dims> plain IDX. */
    FILE *f = fopen(path, "rb");
    if (!f)
        return lsuv_fail(ctx, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[6];
    size_t got = fread(head, 1, sizeof head, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error)
        return lsuv_fail(ctx, LSUV_ERROR_IO, "%s: cannot read: %s", path, strerror(errno));

    lsuv_host_array a;
    char err[1024] = "";
    lsuv_status st;
    if (got == 6 && !memcmp(head, "\x93NUMPY", 6)) {
        st = lsuv_npy_read(path, &a, err, sizeof err);
    } else if ((got >= 2 && head[0] == 0x1f && head[1] == 0x8b) ||
               (got >= 4 && head[0] == 0 && head[1] == 0)) {
        st = lsuv_idx_read(path, &a, err, sizeof err);
    } else {
        char hex[32];
        lsuv_hex_text(hex, sizeof hex, head, got < 4 ? got : 4);
        return lsuv_fail(ctx, LSUV_ERROR_FORMAT, "%s: neither .npy nor IDX (plain or gzip): %s%s", path,
                         got ? "starts with " : "the file is empty", hex);
    }
    if (st != LSUV_OK)
        return lsuv_fail(ctx, st, "%s", err);

    /* Samples must be N x F or N x C x H x W; the readers accept more. */
    if (a.ndim != 2 && a.ndim != 4) {
        char shape[160];
        lsuv_shape_text(shape, sizeof shape, a.ndim, a.shape, 1);
        free(a.data);
        return lsuv_fail(ctx, LSUV_ERROR_FORMAT,
                         "%s: shape %s has %d dimensions; expected N x F or N x C x H x W", path, shape,
                         a.ndim);
    }
    for (int i = 0; i < a.ndim; i++) {
        if (a.shape[i] == 0) {
            free(a.data);
            return lsuv_fail(ctx, LSUV_ERROR_FORMAT, "%s: dimension %d of the data is 0: %s", path, i,
                             i == 0 ? "the file holds no samples" : "the samples are empty");
        }
    }
    /* the note lives in the same allocation, so lsuv_data_free stays one free() */
    struct data_with_note {
        lsuv_data d;
        char note[sizeof a.note];
    } *dn = calloc(1, sizeof *dn);
    if (!dn) {
        free(a.data);
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    }
    lsuv_data *d = &dn->d;
    if (a.note[0]) {
        memcpy(dn->note, a.note, sizeof a.note);
        d->note = dn->note;
    }
    d->n = a.shape[0];
    d->ndim = a.ndim - 1;
    for (int i = 0; i < d->ndim; i++)
        d->dims[i] = a.shape[i + 1];
    d->values = a.data;
    *out = d;
    return LSUV_OK;
}

lsuv_status lsuv_data_gaussian(lsuv_context *ctx, int64_t n, int ndim, const int64_t *dims, uint64_t seed,
                               lsuv_data **out)
{
    if (!out)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_data_gaussian: out is NULL");
    *out = NULL;
    if (ndim != 1 && ndim != 3)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "lsuv_data_gaussian: ndim %d; samples are F (1) or C x H x W (3)", ndim);
    if (!dims)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_data_gaussian: dims is NULL");
    lsuv_data d = { .n = n, .ndim = ndim };
    for (int i = 0; i < ndim; i++)
        d.dims[i] = dims[i];
    int64_t count = data_count(&d);
    if (count < 0 || (uint64_t)count > SIZE_MAX / sizeof(float))
        return lsuv_fail(
            ctx, LSUV_ERROR_INVALID_ARGUMENT,
            "lsuv_data_gaussian: n = %lld with sample dims (%lld%s%lld%s%lld): every size must be "
            "positive and the total must fit in memory",
            (long long)n, (long long)dims[0], ndim == 3 ? ", " : "", ndim == 3 ? (long long)dims[1] : 0LL,
            ndim == 3 ? ", " : "", ndim == 3 ? (long long)dims[2] : 0LL);
    lsuv_data *res = malloc(sizeof *res);
    float *v = malloc((size_t)count * sizeof *v);
    if (!res || !v) {
        free(res);
        free(v);
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                         "lsuv_data_gaussian: out of host memory (%lld values)", (long long)count);
    }
    /* Counter-based: pair k of values comes from uniforms number 2k and 2k+1 of the
     * stream key + i * golden (splitmix64), so any value depends only on (seed, index). */
    const uint64_t gamma = 0x9E3779B97F4A7C15ull;
    const uint64_t key = lsuv_mix64(seed ^ 0x6A09E667F3BCC909ull);
    for (int64_t k = 0; 2 * k < count; k++) {
        uint64_t a = lsuv_mix64(key + (uint64_t)(2 * k + 1) * gamma);
        uint64_t b = lsuv_mix64(key + (uint64_t)(2 * k + 2) * gamma);
        double u1 = ((double)(a >> 11) + 0.5) * 0x1.0p-53; /* (0,1): log() stays finite */
        double u2 = (double)(b >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        double t = 6.283185307179586476925 * u2;
        v[2 * k] = (float)(r * cos(t));
        if (2 * k + 1 < count)
            v[2 * k + 1] = (float)(r * sin(t));
    }
    d.values = v;
    *res = d;
    *out = res;
    return LSUV_OK;
}

lsuv_status lsuv_data_standardize(lsuv_context *ctx, lsuv_data *data)
{
    if (!data || !data->values)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_data_standardize: no data");
    if (data->ndim != 1 && data->ndim != 3)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_data_standardize: ndim %d (1 or 3 expected)",
                         data->ndim);
    int64_t count = data_count(data);
    if (count < 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_data_standardize: bad sizes (n = %lld)",
                         (long long)data->n);
    float *x = data->values;
    int64_t per_sample = count / data->n;

    /* Two passes in double; partial sums per block of 4096 keep rounding error small
     * for large data (each block's sum is exact-ish, the block sums are few). */
    double sum = 0.0;
    for (int64_t i0 = 0; i0 < count; i0 += 4096) {
        int64_t i1 = count - i0 < 4096 ? count : i0 + 4096;
        double s = 0.0;
        for (int64_t i = i0; i < i1; i++) {
            if (!isfinite(x[i]))
                return lsuv_fail(ctx, LSUV_ERROR_BAD_DATA,
                                 "data holds %s at value %lld (sample %lld, offset %lld in the sample)",
                                 isnan(x[i]) ? "NaN" : "Inf", (long long)i, (long long)(i / per_sample),
                                 (long long)(i % per_sample));
            s += x[i];
        }
        sum += s;
    }
    double mean = sum / (double)count;
    double ss = 0.0;
    for (int64_t i0 = 0; i0 < count; i0 += 4096) {
        int64_t i1 = count - i0 < 4096 ? count : i0 + 4096;
        double s = 0.0;
        for (int64_t i = i0; i < i1; i++) {
            double dx = x[i] - mean;
            s += dx * dx;
        }
        ss += s;
    }
    double var = ss / (double)count; /* population variance, as LSUV measures it */
    if (!(var > 0.0) || !isfinite(var))
        return lsuv_fail(ctx, LSUV_ERROR_BAD_DATA,
                         "data has zero variance (all %lld values equal %g): cannot standardize",
                         (long long)count, mean);
    double inv = 1.0 / sqrt(var);
    for (int64_t i = 0; i < count; i++)
        x[i] = (float)((x[i] - mean) * inv);
    return LSUV_OK;
}

void lsuv_data_free(lsuv_data *data)
{
    if (!data)
        return;
    free(data->values);
    free(data);
}
