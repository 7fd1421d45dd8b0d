/* onnx_net.h - what a network loaded from ONNX remembers about its file (internal):
 * filled by the importer (onnx_import.c), read by the exporter (onnx_export.c) to write
 * the model back and to name tensors in safetensors output. Kept in net->source. */
#ifndef LSUV_ONNX_NET_H
#define LSUV_ONNX_NET_H

#include "formats/onnx_model.h"
#include "nn/net.h"

/* How one network parameter relates to an initializer of the file. */
typedef struct lsuv_onnx_param_src {
    int param;               /* index in net->params */
    int lsuv;                /* weight or bias of an LSUV layer: written back */
    int is_new;              /* an unshared copy: a new initializer named like the param */
    int transposed;          /* device (out, in) is (in, out) in the file (MatMul, Gemm transB=0) */
    double file_scale;       /* device value = file_scale * file value (Gemm alpha, beta) */
    int file_ndim;
    int64_t file_dims[LSUV_MAX_DIMS];
} lsuv_onnx_param_src;

/* A second name of a parameter: the output of an Identity node over an initializer
 * (PyTorch merges equal tensors and names the others this way). */
typedef struct lsuv_onnx_alias {
    char name[LSUV_NAME_MAX];
    int param;
} lsuv_onnx_alias;

typedef struct lsuv_onnx_source {
    lsuv_onnx_model *model;
    lsuv_onnx_param_src *params;
    int param_count;
    lsuv_onnx_alias *aliases;
    int alias_count;
    lsuv_onnx_input_rename *renames; /* names point into params' names */
    int rename_count;
    int *drop_nodes;
    int drop_count;
} lsuv_onnx_source;

/* Frees the source and its model (net->source_free). */
void lsuv_onnx_source_free(void *source);

#endif
