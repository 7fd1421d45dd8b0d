/* ref_conv.h - double-precision CPU references for the dense and conv2d kernels. */
#ifndef LSUV_TEST_REF_CONV_H
#define LSUV_TEST_REF_CONV_H

#include "kernels/kernels.h"

/* y[n][o] = sum_i x[n][i] * w[o][i] (+ b[o]; b may be NULL). */
void ref_dense(const double *x, const double *w, const double *b, double *y, int batch, int in, int out);

/* y (N,K,OH,OW) = conv(x (N,C,H,W), w (K,C/groups,R,S)) (+ b[K]; b may be NULL), NCHW.
 * The output size comes from the geometry (p->out_h/out_w are not read). */
void ref_conv2d(const lsuv_conv2d_params *p, const double *x, const double *w, const double *b, double *y);

#endif
