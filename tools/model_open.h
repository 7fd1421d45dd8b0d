/* model_open.h - what every command does with --model (a zoo name or an ONNX file) and
 * with --data (samples reshaped to the model's input). */
#ifndef LSUV_MODEL_OPEN_H
#define LSUV_MODEL_OPEN_H

#include "lsuv.h"

/* True when --model names an ONNX file (by its .onnx extension) rather than a zoo model. */
int model_is_onnx(const char *model);
/* True when path ends with ext (".onnx"), ignoring case. */
int path_has_ext(const char *path, const char *ext);

/* Builds --model (act: zoo models only) and gives its per-sample input shape (ndim axes,
 * up to LSUV_MAX_RANK). On failure prints "lsuv-vk: <cmd>: ..." and returns 1. */
int model_open(lsuv_context *ctx, const char *cmd, const char *model, const char *act, lsuv_net **net, int *ndim,
               int64_t *dims);

/* Loads --data and reshapes its samples to the model's input (same number of values per
 * sample: e.g. 1x28x28 images for a 784-input MLP). On failure prints and returns 1. */
int model_data_load(lsuv_context *ctx, const char *cmd, const char *path, const char *model, int ndim,
                    const int64_t *dims, lsuv_data **data);

#endif
