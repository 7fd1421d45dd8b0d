/* ref_eltwise.c - double-precision references of the element-wise forward kernels (see .h). */
#include "ref_eltwise.h"

#include <math.h>

double ref_activation(double t, int act, double param, double slope)
{
    switch (act) {
    case LSUV_K_ACT_RELU: return t > 0 ? t : 0;
    case LSUV_K_ACT_LEAKY: return t >= 0 ? t : param * t;
    case LSUV_K_ACT_PRELU: return t >= 0 ? t : slope * t;
    case LSUV_K_ACT_TANH: return tanh(t);
    case LSUV_K_ACT_SIGMOID: return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t));
    case LSUV_K_ACT_ELU: return t > 0 ? t : param * expm1(t);
    case LSUV_K_ACT_GELU: return 0.5 * t * erfc(-t / sqrt(2.0));
    case LSUV_K_ACT_SILU: return t >= 0 ? t / (1 + exp(-t)) : t * exp(t) / (1 + exp(t));
    default: return t;
    }
}

void ref_affine_act(const double *x, double *y, size_t count, int channels, size_t spatial,
                    double alpha, const double *scale, const double *shift, int act, double param,
                    const double *slopes)
{
    for (size_t i = 0; i < count; i++) {
        size_t c = (i / spatial) % (size_t)channels;
        double t = x[i] * alpha * (scale ? scale[c] : 1.0) + (shift ? shift[c] : 0.0);
        y[i] = ref_activation(t, act, param, act == LSUV_K_ACT_PRELU ? slopes[c] : 0.0);
    }
}

void ref_maxout(const double *x, double *y, size_t batch, int channels, size_t spatial, int k)
{
    size_t groups = batch * (size_t)(channels / k);
    for (size_t r = 0; r < groups; r++)
        for (size_t s = 0; s < spatial; s++) {
            double m = x[r * k * spatial + s];
            for (int j = 1; j < k; j++)
                m = fmax(m, x[(r * k + j) * spatial + s]);
            y[r * spatial + s] = m;
        }
}

void ref_pool2d(const lsuv_pool2d_params *p, const double *x, double *y)
{
    size_t planes = (size_t)p->batch * p->channels;
    for (size_t pl = 0; pl < planes; pl++) {
        const double *in = x + pl * p->in_h * p->in_w;
        double *out = y + pl * p->out_h * p->out_w;
        for (long oh = 0; oh < (long)p->out_h; oh++)
            for (long ow = 0; ow < (long)p->out_w; ow++) {
                double acc = p->max ? -INFINITY : 0.0;
                for (long i = 0; i < (long)p->kernel_h; i++)
                    for (long j = 0; j < (long)p->kernel_w; j++) {
                        long h = oh * p->stride_h - (long)p->pad_h + i;
                        long w = ow * p->stride_w - (long)p->pad_w + j;
                        if (h < 0 || w < 0 || h >= (long)p->in_h || w >= (long)p->in_w)
                            continue; /* padding: skipped by max, zero for average */
                        double v = in[h * p->in_w + w];
                        acc = p->max ? fmax(acc, v) : acc + v;
                    }
                out[oh * p->out_w + ow] = p->max ? acc : acc / ((double)p->kernel_h * p->kernel_w);
            }
    }
}

void ref_add(const double *a, const double *b, double *y, size_t count)
{
    for (size_t i = 0; i < count; i++)
        y[i] = a[i] + b[i];
}

void ref_copy_channels(const double *src, double *dst, size_t batch, int src_channels,
                       int dst_channels, int channel_offset, size_t spatial)
{
    size_t row = (size_t)src_channels * spatial;
    for (size_t n = 0; n < batch; n++)
        for (size_t j = 0; j < row; j++)
            dst[(n * dst_channels + channel_offset) * spatial + j] = src[n * row + j];
}
