/* onnx_export.h - writing a network loaded from ONNX back out (internal; onnx_export.c):
 * lsuv_net_save_onnx (lsuv.h) and the ONNX names lsuv_net_save adds to safetensors. */
#ifndef LSUV_ONNX_EXPORT_H
#define LSUV_ONNX_EXPORT_H

#include <stddef.h>

#include "nn/net.h"

/* Second names of parameters (outputs of Identity nodes over initializers) of a network
 * loaded from ONNX; 0 for any other network. */
int lsuv_onnx_alias_count(const lsuv_net *net);
/* Appends an entry per second name to t, which holds count entries, entry i being
 * parameter i (lsuv_net_save's order), and has room for lsuv_onnx_alias_count() more. The
 * new entries share their parameter's data. A name already among the entries is left out.
 * Returns the new count. */
size_t lsuv_onnx_append_aliases(const lsuv_net *net, lsuv_st_tensor *t, size_t count);

#endif
