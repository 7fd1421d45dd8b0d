/* net.h - the network graph (internal): nodes in topological order (every input id is
 * smaller than the node's own id), parameters on the device, shapes per sample. */
#ifndef LSUV_NET_H
#define LSUV_NET_H

#include "vk/context.h"
#include "formats/formats.h"
#include "kernels/kernels.h"

#define LSUV_MAX_NODE_INPUTS 16
#define LSUV_NAME_MAX 128

typedef enum lsuv_node_kind {
    LSUV_NODE_INPUT = 0,
    LSUV_NODE_DENSE,
    LSUV_NODE_CONV2D,
    LSUV_NODE_ACTIVATION,
    LSUV_NODE_MAXOUT,
    LSUV_NODE_POOL2D,
    LSUV_NODE_FLATTEN,
    LSUV_NODE_BATCHNORM,
    LSUV_NODE_ADD,
    LSUV_NODE_CONCAT
} lsuv_node_kind;

typedef struct lsuv_param {
    char name[LSUV_NAME_MAX + 32];
    lsuv_dtype dtype;        /* F32 on the device; I64 (num_batches_tracked) on the host */
    int ndim;
    int64_t shape[4];
    int64_t numel;
    lsuv_buffer buffer;      /* F32 values (unused for I64) */
    int64_t i64;             /* the I64 scalar's value */
} lsuv_param;

typedef struct lsuv_node {
    lsuv_node_kind kind;
    char name[LSUV_NAME_MAX];
    int inputs[LSUV_MAX_NODE_INPUTS];
    int input_count;
    int ndim;                /* per-sample output shape: (F) or (C, H, W) */
    int64_t dims[3];
    int weight, bias;        /* parameter indices or -1 (dense, conv2d; BN: weight/bias) */
    int running_mean, running_var, num_batches; /* batch norm */
    int slopes;              /* PReLU */
    uint32_t in_features, out_features;  /* dense */
    lsuv_conv2d_params conv; /* conv2d (batch set at run time) */
    lsuv_pool2d_params pool; /* pool2d (batch set at run time) */
    lsuv_act_kind act;
    float act_param, eps;
    uint32_t maxout_k;
} lsuv_node;

struct lsuv_net {
    lsuv_context *ctx;
    lsuv_node *nodes;
    int node_count, node_capacity;
    lsuv_param *params;
    int param_count, param_capacity;
    uint64_t init_counter;   /* advances the default-init seed per weight */
};

/* Elements per sample of a node's output. */
int64_t lsuv_node_numel(const lsuv_node *node);
/* Channels and spatial size of a node's output ((F) counts as F channels of 1). */
void lsuv_node_layout(const lsuv_node *node, uint32_t *channels, uint64_t *spatial);
/* FLOPs of one sample through a dense/conv node (2 per multiply-add); 0 for others. */
double lsuv_node_flops(const lsuv_node *node);
/* Human-readable shape "(64, 56, 56)" into buf. */
const char *lsuv_shape_string(int ndim, const int64_t *dims, char *buf, size_t size);

#endif
