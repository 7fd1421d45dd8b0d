/* graph_run.h - runs a network graph forward (internal).
 *
 * A run holds K batches of B samples. Values (node outputs) live on the device only
 * while some node still has to read them: lsuv_graph_alloc_outputs when a node runs,
 * lsuv_graph_release_inputs after it ran. Alias nodes (flatten) own no memory: their
 * value is their input's (owner[]). Nothing here changes a parameter. */
#ifndef LSUV_GRAPH_RUN_H
#define LSUV_GRAPH_RUN_H

#include "nn/net.h"

typedef struct lsuv_graph_run {
    lsuv_net *net;
    lsuv_context *ctx;
    int K;                 /* batches */
    uint32_t B;            /* samples per batch */
    lsuv_buffer *vals;     /* node_count x K outputs (only owners hold memory) */
    int *owner;            /* node whose buffers hold this node's value (aliases) */
    int *uses;             /* remaining readers per owner */
    unsigned char *fused;  /* per node: its work was done in place by its producer (an alias now) */
    lsuv_buffer *extra;    /* per node: batch-norm scale/shift (2*C floats) */
    float **extra_host;    /* the same on the host (the LSUV engine folds it into a layer's pass) */
    int keep;              /* a node whose value must outlive its readers, or -1 */
    double flops_executed; /* dense/conv FLOPs recorded so far */
    double flops_forward;  /* one forward of every dense/conv node over all batches */
} lsuv_graph_run;

/* Prepares a run (tables, batch-norm affine forms) and uploads the K batches of B
 * samples from values (K*B samples, C order) as the input node's value. */
lsuv_status lsuv_graph_run_begin(lsuv_graph_run *r, lsuv_net *net, int K, uint32_t B, const float *values);
/* Frees every value and table (after the recorded work was submitted or abandoned). */
void lsuv_graph_run_end(lsuv_graph_run *r);

/* The value of node on batch k (its owner's buffer). */
lsuv_buffer *lsuv_graph_value(lsuv_graph_run *r, int node, int k);
/* Allocates node id's output for every batch. */
lsuv_status lsuv_graph_alloc_outputs(lsuv_graph_run *r, int id);
/* Records W x (+ bias when with_bias) of dense/conv node id on batch k into its output
 * (allocated by the caller). */
lsuv_status lsuv_graph_record_linear(lsuv_graph_run *r, int id, int k, int with_bias);
/* Allocates node id's output and records its forward on every batch (any kind but the
 * input; dense/conv with their bias). */
lsuv_status lsuv_graph_forward_node(lsuv_graph_run *r, int id);
/* Frees the inputs of node id whose last reader it was (and its own output when nobody
 * reads it, unless it is r->keep). Only after the work that read them was recorded:
 * frees take effect for allocation at once but the memory is reused only by work
 * recorded later in the same command stream. */
void lsuv_graph_release_inputs(lsuv_graph_run *r, int id);
/* Node id, an element-wise node (activation, batch norm) whose input is read by it alone,
 * was applied in place on that input's value by the input's producer (the LSUV engine
 * writes act(bn(s Z + b)) in one pass instead of three): id becomes an alias of its
 * input, its readers readers of that value, and running or releasing it does nothing. */
void lsuv_graph_fuse_in_place(lsuv_graph_run *r, int id);
/* The node that reads node id's output, when it is the only reader (reading it once); else -1. */
int lsuv_graph_only_reader(const lsuv_graph_run *r, int id);

static inline int lsuv_node_is_weight(const lsuv_node *n)
{
    return n->kind == LSUV_NODE_DENSE || n->kind == LSUV_NODE_CONV2D;
}

#endif
