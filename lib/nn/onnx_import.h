/* onnx_import.h - the ONNX importer's private state (internal to onnx_import*.c and
 * onnx_shape.c): a table of every tensor name of the graph and what it stands for at load
 * time, either a value computed on the device (a node of the network, with a batch axis
 * on top) or a constant known on the host (an initializer, or folded shape arithmetic). */
#ifndef LSUV_ONNX_IMPORT_H
#define LSUV_ONNX_IMPORT_H

#include "nn/onnx_net.h"

typedef enum imp_kind {
    IMP_UNDEF = 0, /* named by some node input, not (yet) defined */
    IMP_VALUE,     /* the output of network node `node` */
    IMP_CONST      /* a host constant (initializer `init`, or folded) */
} imp_kind;

/* Integer constants may hold the batch size N symbolically: element i is
 * ib[i] * N + iv[i] (ib NULL: no batch term anywhere). Shapes of values read through
 * Shape have ib = 1 at the batch axis, so Reshape(x, [N, -1]) keeps the batch axis. */
typedef struct imp_tensor {
    const char *name;   /* points into the model */
    imp_kind kind;
    int node;           /* IMP_VALUE: network node */
    int init;           /* IMP_CONST from an initializer (or an alias of one): its index, else -1 */
    int alias_node;     /* an Identity over an initializer: that ONNX node's index, else -1 */
    int is_int;         /* IMP_CONST: integer (iv/ib) rather than float (f) */
    int ndim;
    int64_t dims[LSUV_MAX_DIMS];
    float *f;           /* float constant values, NULL until loaded */
    int64_t *iv, *ib;   /* integer constant values; ib may be NULL */
    int param;          /* network parameter holding this constant for non-LSUV use, or -1 */
    int readers;        /* node inputs and graph outputs naming this tensor */
    int producer;       /* ONNX node defining it, -1 (graph input, initializer, or none) */
    int dropped;        /* an alias whose Identity node the output leaves out */
} imp_tensor;

typedef struct imp {
    lsuv_context *ctx;
    lsuv_net *net;
    lsuv_onnx_model *model;
    Onnx__GraphProto *g;
    int64_t opset;
    imp_tensor *t;
    int nt, t_cap;
    int *hash;           /* open addressing over t, -1 empty */
    size_t hash_cap;
    int *init_readers;   /* per initializer: readers through any of its names */
    int *init_param;     /* per initializer: the parameter named like it, or -1 */
    int64_t fixed_batch; /* the input's batch size when fixed in the file, else 0 */
    lsuv_onnx_source *src;
    int *rename_params;  /* per rename: the parameter whose name it takes (names set at the end) */
    int src_param_cap, rename_cap, rename_param_cap, drop_cap;
    int cur;             /* ONNX node being converted, -1 outside the walk */
    char *done;          /* per ONNX node: converted (or absorbed by another) */
} imp;

/* ---- onnx_import.c: the table, errors, parameters */
/* Fails with "node 'NAME' (OP, opset K): message" for the node being converted. */
lsuv_status imp_fail(imp *im, lsuv_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The node's display name: its ONNX name, or its first output's name when unnamed. */
const char *imp_node_name(const Onnx__NodeProto *n);
/* The tensor named `name` (created IMP_UNDEF when new); NULL only when out of memory. */
imp_tensor *imp_lookup(imp *im, const char *name);
/* The input slot i of the current node as a defined tensor; NULL (with an error) when the
 * slot is missing or empty and required, or the tensor is undefined. */
imp_tensor *imp_input(imp *im, int i, int required, lsuv_status *st);
/* Integer / float attribute of the current node, with a default. */
int64_t imp_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def);
float imp_attr_f(const Onnx__NodeProto *n, const char *name, float def);
const Onnx__AttributeProto *imp_attr(const Onnx__NodeProto *n, const char *name);
/* Loads a constant's values (float or int) from its initializer if not yet done. */
lsuv_status imp_const_load(imp *im, imp_tensor *t);
/* Frees an initializer's host copy once it is on the device (folded constants stay). */
void imp_const_unload(imp_tensor *t);
int64_t imp_numel(int ndim, const int64_t *dims);
/* FLOAT, DOUBLE, FLOAT16, BFLOAT16: computed in float32 here. */
int imp_is_float_type(int32_t data_type);
/* A network parameter holding constant t (non-LSUV use: BN statistics, slopes, operands);
 * initializers keep their names, folded constants are named after their tensor. */
lsuv_status imp_const_param(imp *im, imp_tensor *t, int *param);
/* The parameter an LSUV layer's weight or bias slot reads: its own copy when the tensor
 * is read by anything else too (or must change shape), else the initializer itself.
 * values/ndim/dims: the device layout (already transposed/scaled by the caller);
 * transposed/file_scale/file dims say how the file holds it. */
typedef struct imp_layer_param {
    const char *role;         /* "weight" or "bias": names an unshared copy */
    int slot;                 /* input index of the current node (or of fuse_node) */
    int onnx_node;            /* the ONNX node whose input slot it is */
    const float *values;
    int ndim;
    int64_t dims[4];
    int transposed;
    double file_scale;
    int force_copy;           /* file shape differs (Gemm's broadcast C expanded) */
    int file_ndim;
    int64_t file_dims[LSUV_MAX_DIMS];
} imp_layer_param;
lsuv_status imp_layer_param_add(imp *im, imp_tensor *t, const imp_layer_param *lp, int *param);
/* Pushes node proto as the output of the current node's output slot `out` (binding that
 * tensor name to it); the node's name is set by the caller. */
lsuv_status imp_push(imp *im, lsuv_node *proto, int out);
/* Binds output slot `out` of the current node to an existing network node (aliases). */
lsuv_status imp_bind_value(imp *im, int out, int node);

/* ---- onnx_import_ops.c: ops on values (network nodes) */
/* Converts the current node, whose inputs include a value. */
lsuv_status imp_convert_value_op(imp *im);
/* Reads a constant as a list of int64 (shape inputs, axes): ib must be zero. */
lsuv_status imp_const_ints(imp *im, imp_tensor *t, const char *what, int64_t **out, int64_t *count);

/* ---- onnx_shape.c: host-side folding of ops whose inputs are all constants */
lsuv_status imp_fold(imp *im);
/* Shape: a constant even when its input is a value. */
lsuv_status imp_fold_shape(imp *im, imp_tensor *x);
/* One Slice axis of size dim clamped as the ONNX spec says: *start becomes the first
 * index taken; returns the count (0: empty). */
int64_t imp_slice_axis(int64_t dim, int64_t *start, int64_t end, int64_t step);
/* Sets output slot `out` of the current node to an integer / float constant (takes the
 * arrays, which must be malloc'ed). */
lsuv_status imp_set_const_int(imp *im, int out, int ndim, const int64_t *dims, int64_t *iv, int64_t *ib);
lsuv_status imp_set_const_f32(imp *im, int out, int ndim, const int64_t *dims, float *f);

#endif
