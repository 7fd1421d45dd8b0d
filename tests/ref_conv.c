/* ref_conv.c - double-precision CPU references for the dense and conv2d kernels. */
#include "ref_conv.h"

#include <stddef.h>

void ref_dense(const double *x, const double *w, const double *b, double *y, int batch, int in, int out)
{
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < out; o++) {
            const double *xr = x + (size_t)n * in, *wr = w + (size_t)o * in;
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++)
                s += xr[i] * wr[i];
            y[(size_t)n * out + o] = s;
        }
}

void ref_conv2d(const lsuv_conv2d_params *p, const double *x, const double *w, const double *b, double *y)
{
    long H = p->in_h, W = p->in_w, R = p->kernel_h, S = p->kernel_w;
    long OH = (H + 2L * p->pad_h - (long)p->dilation_h * (R - 1) - 1) / p->stride_h + 1;
    long OW = (W + 2L * p->pad_w - (long)p->dilation_w * (S - 1) - 1) / p->stride_w + 1;
    long C = p->in_channels, K = p->out_channels, G = p->groups;
    long cg = C / G, kg = K / G;
    for (long n = 0; n < p->batch; n++)
        for (long k = 0; k < K; k++) {
            long g = k / kg;
            for (long oh = 0; oh < OH; oh++)
                for (long ow = 0; ow < OW; ow++) {
                    double s = b ? b[k] : 0.0;
                    for (long c = 0; c < cg; c++)
                        for (long r = 0; r < R; r++) {
                            long ih = oh * p->stride_h - p->pad_h + r * p->dilation_h;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (long t = 0; t < S; t++) {
                                long iw = ow * p->stride_w - p->pad_w + t * p->dilation_w;
                                if (iw < 0 || iw >= W)
                                    continue;
                                s += x[((n * C + g * cg + c) * H + ih) * W + iw] *
                                     w[((k * cg + c) * R + r) * S + t];
                            }
                        }
                    y[((n * K + k) * OH + oh) * OW + ow] = s;
                }
        }
}
