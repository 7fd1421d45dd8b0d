/* net.h - the network graph (internal): nodes in topological order (every input id is
 * smaller than the node's own id), parameters on the device, shapes per sample. */
#ifndef LSUV_NET_H
#define LSUV_NET_H

#include "vk/context.h"
#include "formats/formats.h"
#include "kernels/kernels.h"

#define LSUV_MAX_NODE_INPUTS 64  /* densenet-style concats read many values */
#define LSUV_NAME_MAX 128
/* LSUV_MAX_RANK (lsuv.h): per-sample axes of a value; the batch axis comes on top. */
#define LSUV_MAX_AXES (LSUV_MAX_RANK + 1) /* axes including the batch axis (axis 0) */

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
    LSUV_NODE_CONCAT,
    /* general nodes, used by the ONNX importer (nn/onnx_import.c) */
    LSUV_NODE_RESHAPE,   /* an alias of its input with another per-sample shape (Reshape,
                            Flatten, Squeeze, Unsqueeze, Identity, Dropout): no memory, no work */
    LSUV_NODE_BINARY,    /* y = a op b with numpy broadcasting (lsuv_binary_desc) */
    LSUV_NODE_GATHER,    /* strided copy: Transpose, Slice, a Split piece, constant Pad */
    LSUV_NODE_REDUCE     /* ReduceMean/Max/Sum over a run of axes; Softmax, LogSoftmax */
} lsuv_node_kind;

typedef enum lsuv_binary_op { LSUV_BIN_ADD = 0, LSUV_BIN_SUB, LSUV_BIN_MUL, LSUV_BIN_DIV } lsuv_binary_op;

/* y[i] = a[ia] op b[ib] over the output's axes (axis 0 = batch): for output coordinate
 * (i_0 .. i_{rank-1}), ia = sum i_d * a_stride[d] (0 where a is broadcast), same for b.
 * An operand is a value (a node input: batch stride = its per-sample element count) or a
 * constant parameter (a_param/b_param >= 0; its batch stride is 0). Operands that are
 * values are inputs[0] (and inputs[1]) in the order a, b. */
typedef struct lsuv_binary_desc {
    lsuv_binary_op op;
    int rank;                        /* output axes including the batch axis */
    int64_t a_stride[LSUV_MAX_AXES], b_stride[LSUV_MAX_AXES];
    int a_param, b_param;            /* parameter index of a constant operand, else -1 */
} lsuv_binary_desc;

/* y = gather(x): for output coordinate (i_0 .. i_{rank-1}) (axis 0 = batch) the input
 * coordinate along output axis d is c_d = start[d] + i_d * step[d]; if any c_d is outside
 * [0, in_extent[d]) the value is pad_value, else x[sum c_d * in_stride[d]]. in_stride is
 * already permuted (Transpose), so this one form covers Transpose (batch axis fixed),
 * Slice and Split (start/step), Pad (negative start, constant mode). The batch axis
 * (d = 0) has start 0, step 1, in_stride = the input's per-sample element count; its
 * extent is the batch size, filled in at run time. */
typedef struct lsuv_gather_desc {
    int rank;
    int64_t in_stride[LSUV_MAX_AXES], start[LSUV_MAX_AXES], step[LSUV_MAX_AXES];
    int64_t in_extent[LSUV_MAX_AXES];
    float pad_value;
} lsuv_gather_desc;

typedef enum lsuv_reduce_op {
    LSUV_REDUCE_MEAN = 0, LSUV_REDUCE_MAX, LSUV_REDUCE_SUM, LSUV_REDUCE_SOFTMAX, LSUV_REDUCE_LOG_SOFTMAX
} lsuv_reduce_op;

/* The input viewed as (B * outer, n, inner): MEAN/MAX/SUM give (B * outer, inner);
 * SOFTMAX/LOG_SOFTMAX normalize along n and keep the shape. outer and inner are per
 * sample; axes to reduce must be contiguous (the importer transposes or refuses). */
typedef struct lsuv_reduce_desc {
    lsuv_reduce_op op;
    int64_t outer, n, inner;
} lsuv_reduce_desc;

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
    int ndim;                /* per-sample output shape: (F), (C, H, W), up to LSUV_MAX_RANK axes */
    int64_t dims[LSUV_MAX_RANK];
    int weight, bias;        /* parameter indices or -1 (dense, conv2d; BN: weight/bias) */
    int running_mean, running_var, num_batches; /* batch norm */
    int slopes;              /* PReLU */
    uint32_t in_features, out_features;  /* dense: over the last axis of its input */
    uint32_t rows;           /* dense: rows per sample (numel(input) / in_features; 1 for (F)) */
    lsuv_conv2d_params conv; /* conv2d (batch set at run time) */
    lsuv_pool2d_params pool; /* pool2d (batch set at run time) */
    lsuv_act_kind act;
    float act_param, act_param2, eps; /* act_param2: HardSigmoid beta, Clip max */
    int concat_axis;         /* concat: per-sample axis (0 = channels) */
    lsuv_binary_desc binary;
    lsuv_gather_desc gather;
    lsuv_reduce_desc reduce;
    uint32_t maxout_k;
} lsuv_node;

struct lsuv_net {
    lsuv_context *ctx;
    lsuv_node *nodes;
    int node_count, node_capacity;
    lsuv_param *params;
    int param_count, param_capacity;
    uint64_t init_counter;   /* advances the default-init seed per weight */
    /* The file the network came from (ONNX), kept to write it back; freed by
     * lsuv_net_destroy through source_free. */
    void *source;
    void (*source_free)(void *source);
};

/* Elements per sample of a node's output. */
int64_t lsuv_node_numel(const lsuv_node *node);
/* Channels and spatial size of a node's output ((F) counts as F channels of 1). */
void lsuv_node_layout(const lsuv_node *node, uint32_t *channels, uint64_t *spatial);
/* FLOPs of one sample through a dense/conv node (2 per multiply-add); 0 for others. */
double lsuv_node_flops(const lsuv_node *node);
/* How LSUV statistics see a dense/conv node's output for a batch of B samples:
 * (outer, channels, spatial) with outer = B * rows for dense (channels innermost),
 * B for conv (NCHW). */
void lsuv_node_stat_layout(const lsuv_node *node, uint32_t B, uint64_t *outer, uint32_t *channels,
                           uint64_t *spatial);
/* Appends a node (a copy of *proto, shapes already inferred) and returns its id. */
lsuv_status lsuv_net_push_node(lsuv_net *net, const lsuv_node *proto, int *out);
/* Initializes a node of the given kind reading node `in` (no parameters: all -1). */
void lsuv_node_init(lsuv_node *n, lsuv_node_kind kind, const char *name, int in);
/* Adds an F32 parameter named exactly `name` with values from host memory (NULL: zeros);
 * refuses a duplicate name. */
lsuv_status lsuv_net_add_param_f32(lsuv_net *net, const char *name, int ndim, const int64_t *shape,
                                   const float *values, int *index);
/* Human-readable shape "(64, 56, 56)" into buf. */
const char *lsuv_shape_string(int ndim, const int64_t *dims, char *buf, size_t size);

#endif
