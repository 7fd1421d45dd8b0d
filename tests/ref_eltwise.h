/* ref_eltwise.h - double-precision CPU references of the element-wise forward kernels
 * (lib/forward_eltwise.c). Arguments mirror the lsuv_k_* functions; tensors are NCHW arrays
 * of doubles; outputs are fully written. Used by the kernel tests and the network reference. */
#ifndef LSUV_REF_ELTWISE_H
#define LSUV_REF_ELTWISE_H

#include <stddef.h>

#include "kernels/kernels.h"

/* act(t) for one value: act is an lsuv_act_kind; param is the leaky slope or the ELU alpha;
 * slope is the PReLU slope (ignored otherwise). GELU is exact: t * Phi(t). */
double ref_activation(double t, int act, double param, double slope);

/* y[i] = act(x[i] * alpha * scale[c] + shift[c]), c = (i / spatial) % channels.
 * scale, shift may be NULL (1 and 0); slopes (channels values) is read for PReLU only.
 * y may equal x. */
void ref_affine_act(const double *x, double *y, size_t count, int channels, size_t spatial,
                    double alpha, const double *scale, const double *shift, int act, double param,
                    const double *slopes);

/* x (batch, channels, spatial) -> y (batch, channels / k, spatial):
 * y[n][c][s] = max_j x[n][c*k + j][s] (consecutive groups of k channels) */
void ref_maxout(const double *x, double *y, size_t batch, int channels, size_t spatial, int k);

/* Max or average pooling, p->out_h / p->out_w filled (lsuv_pool2d_output_size).
 * PyTorch floor mode; max ignores padding, average divides by kernel_h * kernel_w. */
void ref_pool2d(const lsuv_pool2d_params *p, const double *x, double *y);

/* y[i] = a[i] + b[i] (y may equal a or b) */
void ref_add(const double *a, const double *b, double *y, size_t count);

/* Copies src (batch, src_channels, spatial) into channels [channel_offset,
 * channel_offset + src_channels) of dst (batch, dst_channels, spatial); the rest of dst
 * is left as it is. */
void ref_copy_channels(const double *src, double *dst, size_t batch, int src_channels,
                       int dst_channels, int channel_offset, size_t spatial);

#endif
