/* ref_general.c - references of the general kernels (see ref_general.h). */
#include "ref_general.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_conv.h"
#include "ref_eltwise.h"

double ref_activation2(double t, int act, double param, double param2, double slope)
{
    switch (act) {
    case LSUV_K_ACT_SELU: return param2 * (t > 0 ? t : param * expm1(t));
    case LSUV_K_ACT_HARDSIGMOID: return fmax(0.0, fmin(1.0, param * t + param2));
    case LSUV_K_ACT_HARDSWISH: return t * fmax(0.0, fmin(1.0, t / 6 + 0.5));
    case LSUV_K_ACT_SOFTPLUS: return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
    case LSUV_K_ACT_CLIP: return fmin(fmax(t, param), param2);
    case LSUV_K_ACT_ERF: return erf(t);
    default: return ref_activation(t, act, param, slope);
    }
}

/* Offset of coordinates c under strides s. */
static int64_t offset_of(int rank, const int64_t *c, const int64_t *s)
{
    int64_t o = 0;
    for (int d = 0; d < rank; d++)
        o += c[d] * s[d];
    return o;
}

/* Next coordinates in C order; 0 after the last. */
static int next_coords(int rank, const int64_t *ext, int64_t *c)
{
    for (int d = rank - 1; d >= 0; d--) {
        if (++c[d] < ext[d])
            return 1;
        c[d] = 0;
    }
    return 0;
}

void ref_binary(int op, int rank, const int64_t *ext, const double *a, const int64_t *a_stride, const double *b,
                const int64_t *b_stride, double *y)
{
    int64_t c[8] = {0};
    size_t i = 0;
    do {
        double u = a[offset_of(rank, c, a_stride)], v = b[offset_of(rank, c, b_stride)];
        y[i++] = op == 0 ? u + v : op == 1 ? u - v : op == 2 ? u * v : u / v;
    } while (next_coords(rank, ext, c));
}

void ref_gather(int rank, const int64_t *out_ext, const double *x, const int64_t *in_ext, const int64_t *in_stride,
                const int64_t *start, const int64_t *step, double pad_value, double *y)
{
    int64_t c[8] = {0};
    size_t i = 0;
    do {
        int64_t o = 0;
        int inside = 1;
        for (int d = 0; d < rank; d++) {
            int64_t coord = start[d] + c[d] * step[d];
            inside &= coord >= 0 && coord < in_ext[d];
            o += coord * in_stride[d];
        }
        y[i++] = inside ? x[o] : pad_value;
    } while (next_coords(rank, out_ext, c));
}

void ref_reduce(int op, size_t outer, size_t n, size_t inner, const double *x, double *y)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < inner; j++) {
            const double *col = x + o * n * inner + j;
            double m = -INFINITY, s = 0;
            for (size_t k = 0; k < n; k++)
                m = fmax(m, col[k * inner]);
            for (size_t k = 0; k < n; k++)
                s += op >= LSUV_K_REDUCE_SOFTMAX ? exp(col[k * inner] - m) : col[k * inner];
            if (op < LSUV_K_REDUCE_SOFTMAX) {
                y[o * inner + j] = op == LSUV_K_REDUCE_MEAN ? s / (double)n : op == LSUV_K_REDUCE_MAX ? m : s;
                continue;
            }
            for (size_t k = 0; k < n; k++) {
                double v = col[k * inner];
                y[o * n * inner + j + k * inner] = op == LSUV_K_REDUCE_SOFTMAX ? exp(v - m) / s : v - m - log(s);
            }
        }
}

long ref_pool_out(long in, long k, long s, long pad_begin, long pad_end, int ceil_mode)
{
    long span = in + pad_begin + pad_end - k;
    long out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pad_begin)
        out--;
    return out;
}

void ref_pool2d_onnx(const lsuv_pool2d_params *p, const double *x, double *y)
{
    long H = p->in_h, W = p->in_w, kh = p->kernel_h, kw = p->kernel_w;
    long eh = p->asymmetric ? p->pad_h_end : p->pad_h, ew = p->asymmetric ? p->pad_w_end : p->pad_w;
    long OH = ref_pool_out(H, kh, p->stride_h, p->pad_h, eh, p->ceil_mode);
    long OW = ref_pool_out(W, kw, p->stride_w, p->pad_w, ew, p->ceil_mode);
    for (long plane = 0; plane < (long)p->batch * p->channels; plane++)
        for (long oh = 0; oh < OH; oh++)
            for (long ow = 0; ow < OW; ow++) {
                double acc = p->max ? -INFINITY : 0;
                long taps = 0, padded_taps = 0;
                for (long i = 0; i < kh; i++)
                    for (long j = 0; j < kw; j++) {
                        long h = oh * p->stride_h - p->pad_h + i, w = ow * p->stride_w - p->pad_w + j;
                        /* a tap of the padded input (input plus both paddings) */
                        padded_taps += h < H + eh && w < W + ew;
                        if (h < 0 || h >= H || w < 0 || w >= W)
                            continue;
                        double v = x[(plane * H + h) * W + w];
                        acc = p->max ? fmax(acc, v) : acc + v;
                        taps++;
                    }
                if (!p->max)
                    acc /= (double)(p->exclude_pad ? taps : padded_taps);
                y[(plane * OH + oh) * OW + ow] = acc;
            }
}

void ref_conv2d_asym(const lsuv_conv2d_params *p, const double *x, const double *w, const double *b, double *y)
{
    long H = p->in_h, W = p->in_w, C = p->in_channels;
    long eh = p->asymmetric ? p->pad_h_end : p->pad_h, ew = p->asymmetric ? p->pad_w_end : p->pad_w;
    long PH = H + p->pad_h + eh, PW = W + p->pad_w + ew;
    double *xp = calloc((size_t)(p->batch * C * PH * PW), sizeof *xp);
    if (!xp)
        abort(); /* tests only */
    for (long plane = 0; plane < (long)p->batch * C; plane++)
        for (long h = 0; h < H; h++)
            memcpy(xp + (plane * PH + h + p->pad_h) * PW + p->pad_w, x + (plane * H + h) * W, (size_t)W * sizeof *x);
    lsuv_conv2d_params q = *p;
    q.in_h = (uint32_t)PH;
    q.in_w = (uint32_t)PW;
    q.pad_h = q.pad_w = q.pad_h_end = q.pad_w_end = 0;
    q.asymmetric = 0;
    ref_conv2d(&q, xp, w, b, y);
    free(xp);
}
