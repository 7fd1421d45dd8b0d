/* zoo.h - the model zoo of the lsuv-vk tool: architectures and parameter names as in
 * PyTorch (shared/bench/torch_peer.py for mlp20/fitnet4, torchvision for the rest). */
#ifndef LSUV_ZOO_H
#define LSUV_ZOO_H

#include "lsuv.h"

/* Builds model `name` ("mlp20", "fitnet4", "vgg16", "resnet18", "resnet50", "resnet_tiny").
 * act: activation for mlp20/fitnet4 ("relu", "tanh", "sigmoid", "leaky_relu", "vlrelu",
 * "elu", "gelu", "silu", "prelu"), NULL for the model's default. On failure the context's
 * last error says why. */
lsuv_status zoo_build(lsuv_context *ctx, const char *name, const char *act, lsuv_net **out);
/* Per-sample input shape of a model; returns ndim (0 if unknown). */
int zoo_input_shape(const char *name, int64_t *dims);
/* Comma-separated list of model names, for help texts. */
const char *zoo_names(void);
/* Parses an activation name; returns 0 on success. */
int zoo_parse_activation(const char *name, lsuv_activation *act, float *param);

#endif
