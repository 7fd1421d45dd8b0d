/* ref_qr.c - see ref_qr.h. Vectors are kept contiguous so every inner loop is a unit-
 * stride dot product or axpy; a few accumulators keep them quick in a test. */
#include "ref_qr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ref_dot(const double *x, const double *y, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; i++)
        s0 += x[i] * y[i];
    return (s0 + s1) + (s2 + s3);
}

static void axpy(double a, const double *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

int ref_householder_q(double *w, size_t m, size_t n)
{
    double *h = malloc(m * n * sizeof *h);  /* reflector k in h[k*m + k .. k*m + m) */
    double *beta = malloc(n * sizeof *beta), *diag = malloc(n * sizeof *diag);
    if (!h || !beta || !diag) {
        free(h);
        free(beta);
        free(diag);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        double *x = w + k * m + k, *v = h + k * m + k;
        size_t len = m - k;
        double norm = sqrt(ref_dot(x, x, len));
        double alpha = x[0] > 0 ? -norm : norm; /* no cancellation in v[0] */
        memcpy(v, x, len * sizeof *v);
        v[0] -= alpha;
        double vv = ref_dot(v, v, len);
        beta[k] = vv > 0 ? 2.0 / vv : 0.0;
        diag[k] = alpha;
        for (size_t j = k + 1; j < n; j++) {
            double *y = w + j * m + k;
            axpy(-beta[k] * ref_dot(v, y, len), v, y, len);
        }
    }
    /* Q = H_0 ... H_{n-1} [I_n; 0], applied backwards: H_k touches columns j >= k only */
    memset(w, 0, m * n * sizeof *w);
    for (size_t j = 0; j < n; j++)
        w[j * m + j] = 1.0;
    for (size_t k = n; k-- > 0;) {
        const double *v = h + k * m + k;
        for (size_t j = k; j < n; j++) {
            double *y = w + j * m + k;
            axpy(-beta[k] * ref_dot(v, y, m - k), v, y, m - k);
        }
    }
    for (size_t j = 0; j < n; j++)
        if (diag[j] < 0)
            for (size_t k = 0; k < m; k++)
                w[j * m + k] = -w[j * m + k];
    free(h);
    free(beta);
    free(diag);
    return 0;
}

void ref_gram_schmidt_q(double *w, size_t m, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            double *x = w + i * m;
            for (size_t j = 0; j < i; j++)
                axpy(-ref_dot(w + j * m, x, m), w + j * m, x, m);
            double norm = sqrt(ref_dot(x, x, m));
            double s = norm > 0 ? 1.0 / norm : 0.0;
            for (size_t k = 0; k < m; k++)
                x[k] *= s;
        }
}

int ref_orthonormalize(const double *a, size_t rows, size_t cols, double *out, int gram_schmidt)
{
    int columns = rows > cols;
    size_t n = columns ? cols : rows, m = columns ? rows : cols;
    double *w = out;
    if (columns) {
        if (!(w = malloc(m * n * sizeof *w)))
            return -1;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                w[c * m + r] = a[r * cols + c];
    } else {
        memcpy(w, a, m * n * sizeof *w);
    }
    int rc = 0;
    if (gram_schmidt)
        ref_gram_schmidt_q(w, m, n);
    else
        rc = ref_householder_q(w, m, n);
    if (columns) {
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                out[r * cols + c] = w[c * m + r];
        free(w);
    }
    return rc;
}
