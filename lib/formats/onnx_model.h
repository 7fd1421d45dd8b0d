/* onnx_model.h - ONNX files in and out (internal). Host memory only, no Vulkan.
 *
 * The model is parsed with protobuf-c from Debian's onnx.proto (compiled by protoc-c at
 * build time: onnx/onnx.pb-c.h). Fields this proto does not know survive a read/write
 * (protobuf-c keeps them). Errors go to err (err_size bytes) and say what was wrong and
 * where ("model.onnx: initializer conv1.weight: external file 'w.bin' is missing").
 *
 * Owned by formats/onnx_model.c (reading, tensor values, writing). The importer
 * (nn/onnx_import.c) reads the graph through proto; the exporter (nn/onnx_export.c)
 * turns the network's new values into lsuv_onnx_edits. */
#ifndef LSUV_ONNX_MODEL_H
#define LSUV_ONNX_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "formats/formats.h"
#include "onnx/onnx.pb-c.h"

typedef struct lsuv_onnx_model {
    Onnx__ModelProto *proto; /* unpacked model */
    char *base_dir;          /* folder external data paths are relative to */
    int64_t opset;           /* opset of the default ("" or "ai.onnx") domain */
    size_t file_bytes;       /* size of the serialized model */
} lsuv_onnx_model;

lsuv_status lsuv_onnx_read_file(const char *path, lsuv_onnx_model **out, char *err, size_t err_size);
/* base_dir may be NULL (the current folder). The bytes are not kept. */
lsuv_status lsuv_onnx_read_memory(const void *bytes, size_t size, const char *base_dir, lsuv_onnx_model **out,
                                  char *err, size_t err_size);
void lsuv_onnx_free(lsuv_onnx_model *model);

/* Element count of a tensor from its dims (checked for overflow; -1 if invalid). */
int64_t lsuv_onnx_numel(const Onnx__TensorProto *t);
/* A tensor's values (raw_data little-endian and possibly unaligned, typed fields, or
 * external data) converted to float32 / int64. *values is malloc'ed (free it); a tensor
 * of 0 elements gives a non-NULL 1-element buffer. FLOAT, DOUBLE, FLOAT16, BFLOAT16,
 * INT8..INT64, UINT8..UINT64 and BOOL convert; strings and complex are refused. */
lsuv_status lsuv_onnx_tensor_f32(const lsuv_onnx_model *m, const Onnx__TensorProto *t, float **values,
                                 int64_t *numel, char *err, size_t err_size);
lsuv_status lsuv_onnx_tensor_i64(const lsuv_onnx_model *m, const Onnx__TensorProto *t, int64_t **values,
                                 int64_t *numel, char *err, size_t err_size);

/* What a write changes; everything else of the model is written as it was read. */
typedef struct lsuv_onnx_tensor_out {
    const char *name;     /* an existing initializer (its data replaced, keeping its data
                             type, dims and storage: inline or external) or a new one
                             (float32, appended to the graph's initializers) */
    int ndim;
    int64_t dims[LSUV_MAX_DIMS];
    const float *values;  /* in the file's layout; NULL: asked of edits->fetch while writing */
} lsuv_onnx_tensor_out;

typedef struct lsuv_onnx_input_rename {
    int node;             /* index in graph->node */
    int input;            /* index in that node's inputs */
    const char *name;     /* the new input name */
} lsuv_onnx_input_rename;

typedef struct lsuv_onnx_edits {
    const lsuv_onnx_tensor_out *tensors;
    size_t tensor_count;
    const lsuv_onnx_input_rename *renames;
    size_t rename_count;
    const int *drop_nodes; /* indices in graph->node of nodes to leave out (Identity
                              aliases replaced by an unshared initializer) */
    size_t drop_count;
    /* For tensors whose values is NULL: fills dst with tensors[index]'s numel values (the
     * file's layout) just before they are written, so that one tensor at a time is in host
     * memory (a network's weights may be most of a large model). Returns LSUV_OK or an
     * error with a message in err. */
    lsuv_status (*fetch)(void *user, size_t index, float *dst, char *err, size_t err_size);
    void *fetch_user;
} lsuv_onnx_edits;

/* Writes the model with the edits applied to path atomically (temporary file, fsync,
 * rename). External-data tensors are written to external files beside path (a
 * "<basename>.data" file, locations rewritten). The model itself is left as it was
 * (a second write gives the same bytes). */
lsuv_status lsuv_onnx_write(const lsuv_onnx_model *m, const lsuv_onnx_edits *edits, const char *path,
                            char *err, size_t err_size);

#endif
