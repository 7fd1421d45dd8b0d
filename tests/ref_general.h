/* ref_general.h - double-precision CPU references of the general kernels used by imported
 * graphs (lib/kernels/forward_general.c) and of the ONNX options of the older ones: the
 * extra activations, pooling with asymmetric pads / ceil mode / exclude_pad, conv with
 * asymmetric pads. Written from the ONNX operator definitions, not from the kernels. */
#ifndef LSUV_REF_GENERAL_H
#define LSUV_REF_GENERAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* act(t) for any lsuv_act_kind (the first ones through ref_activation); param/param2 as
 * lsuv_k_affine_act2 takes them; slope: PReLU. */
double ref_activation2(double t, int act, double param, double param2, double slope);

/* numpy-broadcast y = a op b over a C-order output of shape ext[0..rank) (y contiguous). */
void ref_binary(int op, int rank, const int64_t *ext, const double *a, const int64_t *a_stride, const double *b,
                const int64_t *b_stride, double *y);

/* y (contiguous, out_ext) = gather(x) as lsuv_k_gather defines it. */
void ref_gather(int rank, const int64_t *out_ext, const double *x, const int64_t *in_ext, const int64_t *in_stride,
                const int64_t *start, const int64_t *step, double pad_value, double *y);

/* x as (outer, n, inner): mean/max/sum -> (outer, inner); softmax/log-softmax keep x's shape. */
void ref_reduce(int op, size_t outer, size_t n, size_t inner, const double *x, double *y);

/* Output size of ONNX pooling along one axis (ceil mode: the last window starts inside
 * the input or the leading padding). */
long ref_pool_out(long in, long k, long s, long pad_begin, long pad_end, int ceil_mode);
/* Pooling by the ONNX definition; output size from ref_pool_out. */
void ref_pool2d_onnx(const lsuv_pool2d_params *p, const double *x, double *y);

/* Conv with asymmetric pads: pads the input explicitly (zeros) and convolves unpadded
 * (ref_conv2d). Output size follows from the padded input. */
void ref_conv2d_asym(const lsuv_conv2d_params *p, const double *x, const double *w, const double *b, double *y);

#endif
