/* ref_net.h - double-precision forward of a whole lsuv_net from its current parameters
 * (downloaded from the device), for checking what LSUV achieved. */
#ifndef LSUV_REF_NET_H
#define LSUV_REF_NET_H

#include "nn/net.h"

typedef struct ref_layer_stats {
    const char *name;
    double var_pre, mean_pre; /* the dense/conv output (before any activation) */
    double var_post;          /* after the activation that reads it (var_pre when none) */
} ref_layer_stats;

/* Runs `batch` samples x (float, C order) through the network in double precision.
 * Fills stats[i] for the i-th dense/conv layer (up to max_layers) and returns the
 * number of dense/conv layers. out (may be NULL) receives the final node's output
 * (batch * numel doubles, malloc'ed; free it). */
int ref_net_forward(lsuv_net *net, const float *x, int batch, ref_layer_stats *stats, int max_layers,
                    double **out);

/* Population mean and variance of n doubles (two-pass). */
double ref_variance(const double *x, size_t n, double *mean);

#endif
