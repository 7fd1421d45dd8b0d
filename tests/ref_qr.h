/* ref_qr.h - double-precision references for orthonormalization: Householder QR (thin Q,
 * diag(R) > 0) and Gram-Schmidt twice for shapes too large for Householder in a test. */
#ifndef LSUV_REF_QR_H
#define LSUV_REF_QR_H

#include <stddef.h>

/* Householder QR of the m x n matrix (m >= n) whose n columns are stored one after the
 * other (w[j*m + k] = column j, row k). On return w holds the thin Q in the same layout,
 * signs chosen so that diag(R) > 0 (a column with R[j][j] == 0 is left as Householder
 * makes it). Returns 0, or -1 when out of memory. */
int ref_householder_q(double *w, size_t m, size_t n);

/* Modified Gram-Schmidt applied twice, same layout and sign convention as above; a vector
 * with no norm left becomes zero. */
void ref_gram_schmidt_q(double *w, size_t m, size_t n);

/* What lsuv_k_orthonormalize computes, for a rows x cols row-major matrix: rows <= cols:
 * the rows are orthonormalized (Q of the QR of a^T, transposed); otherwise the columns
 * (Q of the QR of a). gram_schmidt selects the second method. Returns 0 or -1. */
int ref_orthonormalize(const double *a, size_t rows, size_t cols, double *out, int gram_schmidt);

/* Dot product in double, four partial sums (used by the orthogonality checks too). */
double ref_dot(const double *x, const double *y, size_t n);

#endif
