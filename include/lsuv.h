/* lsuv.h - LSUV initialization (Mishkin & Matas, 2015) of neural networks on Vulkan.
 *
 * Conventions:
 *  - every exported symbol starts with lsuv_ / LSUV_;
 *  - every fallible call returns an lsuv_status; lsuv_context_last_error() says what
 *    went wrong, specifically; the library never prints to stdout and never aborts;
 *  - handles are opaque; options structs are filled with documented defaults by their
 *    *_init() function, then changed field by field;
 *  - ABI before 1.0: the public structs a caller allocates (lsuv_context_options,
 *    lsuv_conv2d_desc, lsuv_options) end in `uint64_t reserved[8]`, zeroed by their
 *    *_init(). New fields take reserved space (the size stays; zero means the old
 *    behaviour), so a program built against an older lsuv.h keeps working with a newer
 *    library. Reserved space, not a leading size field: a size field would make every
 *    caller set it. Never write reserved; always start from *_init();
 *  - no global mutable state: contexts are independent; a context (and everything
 *    made from it) must be used from one thread at a time.
 *
 * Data layout: float32, NCHW activations, conv weights (out, in/groups, kh, kw), dense
 * weights (out, in): the PyTorch/ONNX layouts.
 */
#ifndef LSUV_H
#define LSUV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(LSUV_BUILDING)
#define LSUV_API __declspec(dllexport)
#elif defined(__GNUC__)
#define LSUV_API __attribute__((visibility("default")))
#else
#define LSUV_API
#endif

#define LSUV_VERSION_MAJOR 0
#define LSUV_VERSION_MINOR 2
#define LSUV_VERSION_PATCH 0
#define LSUV_VERSION_NUMBER (LSUV_VERSION_MAJOR * 10000 + LSUV_VERSION_MINOR * 100 + LSUV_VERSION_PATCH)
#define LSUV_VERSION_STRING "0.2.0"

/* Runtime version of the library actually linked (compare with LSUV_VERSION_NUMBER). */
LSUV_API unsigned lsuv_version_number(void);
LSUV_API const char *lsuv_version_string(void);

/* ---------------------------------------------------------------- status */

typedef enum lsuv_status {
    LSUV_OK = 0,
    LSUV_ERROR_INVALID_ARGUMENT = 1,   /* a parameter or option is out of range */
    LSUV_ERROR_NO_LOADER = 2,          /* libvulkan.so.1 could not be loaded */
    LSUV_ERROR_NO_DEVICE = 3,          /* no usable Vulkan device (or none matches) */
    LSUV_ERROR_OUT_OF_HOST_MEMORY = 4,
    LSUV_ERROR_OUT_OF_DEVICE_MEMORY = 5,
    LSUV_ERROR_DEVICE_LOST = 6,
    LSUV_ERROR_VULKAN = 7,             /* any other Vulkan failure */
    LSUV_ERROR_UNSUPPORTED = 8,        /* the device lacks a required feature */
    LSUV_ERROR_SHAPE = 9,              /* tensor shapes do not fit together */
    LSUV_ERROR_NOT_FOUND = 10,         /* no parameter / layer of that name */
    LSUV_ERROR_IO = 11,                /* a file could not be read or written */
    LSUV_ERROR_FORMAT = 12,            /* a file is malformed or of an unsupported kind */
    LSUV_ERROR_BAD_DATA = 13           /* input data holds NaN or Inf */
} lsuv_status;

/* A constant string naming the status, e.g. "LSUV_ERROR_NO_DEVICE". Never NULL. */
LSUV_API const char *lsuv_status_string(lsuv_status status);

/* ---------------------------------------------------------------- context */

typedef struct lsuv_context lsuv_context;

typedef struct lsuv_context_options {
    int device_index;        /* -1 (default): choose; else the index in enumeration order */
    const char *device_name; /* NULL (default): choose; else a case-insensitive substring */
    /* When both are unset the LSUV_DEVICE environment variable is read (an index or a
     * name substring); without it: discrete GPU, then integrated, virtual, CPU. */
    uint64_t reserved[8];    /* zero (set by _init): room for fields added before 1.0 */
} lsuv_context_options;

LSUV_API void lsuv_context_options_init(lsuv_context_options *options);

typedef enum lsuv_device_type {
    LSUV_DEVICE_OTHER = 0,
    LSUV_DEVICE_INTEGRATED_GPU = 1,
    LSUV_DEVICE_DISCRETE_GPU = 2,
    LSUV_DEVICE_VIRTUAL_GPU = 3,
    LSUV_DEVICE_CPU = 4
} lsuv_device_type;

/* What the kernels need to know of a device; read at run time. */
typedef struct lsuv_device_info {
    char name[256];
    char driver[256];
    lsuv_device_type type;
    uint32_t vendor_id, device_id;
    uint32_t api_version;             /* VK_MAKE_API_VERSION packing */
    uint32_t subgroup_size;
    uint32_t subgroup_operations;     /* VkSubgroupFeatureFlags */
    uint32_t max_shared_memory;       /* bytes per workgroup */
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint64_t max_storage_buffer_range;
    uint64_t max_allocation_size;
    uint64_t device_local_bytes;      /* largest device-local heap */
    uint32_t heap_count;
    int float64;                      /* shaderFloat64 */
    int float16;                      /* shaderFloat16 */
    int int64;                        /* shaderInt64 */
    int buffer_device_address;        /* required by lsuv-vk */
    int cooperative_matrix;           /* VK_NV_ or VK_KHR_cooperative_matrix */
    double timestamp_period_ns;
} lsuv_device_info;

/* Lists the Vulkan devices. On entry *count holds the capacity of infos (infos may be
 * NULL with *count 0 to ask how many); on return *count holds the number of devices.
 * err (may be NULL) receives a message on failure. */
LSUV_API lsuv_status lsuv_enumerate_devices(lsuv_device_info *infos, int *count, char *err,
                                            size_t err_size);

/* Creates a context on one device. options may be NULL (defaults). On failure *out is
 * NULL and, where err is not NULL, err receives the message. */
LSUV_API lsuv_status lsuv_context_create(const lsuv_context_options *options, lsuv_context **out,
                                         char *err, size_t err_size);
LSUV_API void lsuv_context_destroy(lsuv_context *ctx);
LSUV_API const lsuv_device_info *lsuv_context_device(const lsuv_context *ctx);
/* The message of the last failed call on this context ("" if none). */
LSUV_API const char *lsuv_context_last_error(const lsuv_context *ctx);

/* ---------------------------------------------------------------- data */

/* A batch of samples in host memory: n samples of shape dims[0..ndim) (C,H,W or F). */
typedef struct lsuv_data {
    int64_t n;
    int ndim;
    int64_t dims[3];
    float *values;  /* n * prod(dims), C order */
    /* NULL, or what loading lost converting to float32 ("x.npy: float64 values converted to
     * float32: 12 of 784 rounded ..."), for the caller to show: the library never prints.
     * It lives in the data's own allocation (valid until lsuv_data_free). A field at the
     * END rather than a call: the struct is plain and callers may fill one themselves ({0}
     * leaves it NULL), and every earlier field keeps its offset, so code built against the
     * older header still works. */
    const char *note;
} lsuv_data;

/* Reads .npy (N x C x H x W or N x F; float16/32/64, signed or unsigned integers, uint8
 * or bool; either byte order; C or Fortran order: converted to float32 in C order, a
 * precision loss told in ->note) or IDX (MNIST / Fashion-MNIST images, plain or gzip;
 * uint8 scaled to [0,1], shape N x 1 x H x W). The kind is told by the file's content,
 * not its name. */
LSUV_API lsuv_status lsuv_data_load(lsuv_context *ctx, const char *path, lsuv_data **out);
/* n samples of unit Gaussian noise of the given shape, from (seed), reproducibly. */
LSUV_API lsuv_status lsuv_data_gaussian(lsuv_context *ctx, int64_t n, int ndim, const int64_t *dims,
                                        uint64_t seed, lsuv_data **out);
/* Shifts and scales the whole data to mean 0, variance 1. */
LSUV_API lsuv_status lsuv_data_standardize(lsuv_context *ctx, lsuv_data *data);
LSUV_API void lsuv_data_free(lsuv_data *data);

/* ---------------------------------------------------------------- networks */

typedef struct lsuv_net lsuv_net;

typedef enum lsuv_activation {
    LSUV_ACT_NONE = 0,
    LSUV_ACT_RELU,
    LSUV_ACT_LEAKY_RELU, /* param: negative slope (0.01 leaky, 1/3 very leaky) */
    LSUV_ACT_PRELU,      /* per-channel learnable slope "<name>.weight", init param */
    LSUV_ACT_TANH,
    LSUV_ACT_SIGMOID,
    LSUV_ACT_ELU,        /* param: alpha (1.0) */
    LSUV_ACT_GELU,       /* exact (erf) form */
    LSUV_ACT_SILU
} lsuv_activation;

typedef enum lsuv_pool { LSUV_POOL_MAX = 0, LSUV_POOL_AVG = 1 } lsuv_pool;

typedef struct lsuv_conv2d_desc {
    int out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;     /* default 1 */
    int pad_h, pad_w;           /* default 0 */
    int dilation_h, dilation_w; /* default 1 */
    int groups;                 /* default 1 */
    int bias;                   /* default 1 */
    uint64_t reserved[8];       /* zero (set by _init): room for fields added before 1.0 */
} lsuv_conv2d_desc;
LSUV_API void lsuv_conv2d_desc_init(lsuv_conv2d_desc *desc, int out_channels, int kernel);

/* Node ids: 0 is the network input; every layer call returns the id of its output
 * through *out. Shapes are inferred; a mismatch is refused with LSUV_ERROR_SHAPE and a
 * message naming the layer and both shapes. Parameter names are "<name>.weight",
 * "<name>.bias" (batch norm: also running_mean, running_var, num_batches_tracked). */
LSUV_API lsuv_status lsuv_net_create(lsuv_context *ctx, int ndim, const int64_t *input_dims,
                                     lsuv_net **out);
LSUV_API void lsuv_net_destroy(lsuv_net *net);
LSUV_API lsuv_status lsuv_net_dense(lsuv_net *net, const char *name, int in, int out_features,
                                    int bias, int *out);
LSUV_API lsuv_status lsuv_net_conv2d(lsuv_net *net, const char *name, int in,
                                     const lsuv_conv2d_desc *desc, int *out);
/* param: slope for leaky ReLU, alpha for ELU, initial slope for PReLU; name is used
 * only by PReLU (its parameter "<name>.weight"), may be NULL otherwise. */
LSUV_API lsuv_status lsuv_net_activation(lsuv_net *net, const char *name, int in,
                                         lsuv_activation act, float param, int *out);
LSUV_API lsuv_status lsuv_net_maxout(lsuv_net *net, int in, int k, int *out);
/* kernel 0 means global pooling (to 1x1). */
LSUV_API lsuv_status lsuv_net_pool2d(lsuv_net *net, int in, lsuv_pool kind, int kernel, int stride,
                                     int pad, int *out);
LSUV_API lsuv_status lsuv_net_flatten(lsuv_net *net, int in, int *out);
LSUV_API lsuv_status lsuv_net_batchnorm(lsuv_net *net, const char *name, int in, float eps,
                                        int *out);
LSUV_API lsuv_status lsuv_net_add(lsuv_net *net, int a, int b, int *out);
LSUV_API lsuv_status lsuv_net_concat(lsuv_net *net, int count, const int *ins, int *out);

/* Most axes of a value per sample (the batch axis comes on top). */
#define LSUV_MAX_RANK 6

/* Shape of a node's output (per sample): fills dims (up to LSUV_MAX_RANK), returns ndim
 * in *ndim. */
LSUV_API lsuv_status lsuv_net_node_shape(const lsuv_net *net, int node, int *ndim, int64_t *dims);

/* Parameters, in network order. */
LSUV_API int lsuv_net_param_count(const lsuv_net *net);
/* name/shape of parameter i; any out pointer may be NULL. */
LSUV_API lsuv_status lsuv_net_param_info(const lsuv_net *net, int i, const char **name, int *ndim,
                                         int64_t *shape, int64_t *numel);
LSUV_API lsuv_status lsuv_net_get_param(lsuv_net *net, const char *name, float *dst, int64_t count);
LSUV_API lsuv_status lsuv_net_set_param(lsuv_net *net, const char *name, const float *src,
                                        int64_t count);
/* Writes every parameter and buffer as safetensors (F32; I64 for integer buffers),
 * atomically: a temporary file in the same folder, then rename. An existing file is
 * replaced only by a complete one. */
LSUV_API lsuv_status lsuv_net_save(lsuv_net *net, const char *path);

/* ---------------------------------------------------------------- ONNX and forward */

/* Builds a network from an ONNX model (opsets 11-17; see README for the operators).
 * Parameters are the model's initializers, named exactly as in the file; every Conv,
 * Gemm and MatMul with an initializer weight is an LSUV layer. External data is read
 * relative to the model's folder. Unsupported operators give LSUV_ERROR_UNSUPPORTED
 * naming the node, its op type and the opset. */
LSUV_API lsuv_status lsuv_net_load_onnx(lsuv_context *ctx, const char *path, lsuv_net **out);
/* The same from a serialized ModelProto in memory; base_dir (may be NULL: the current
 * folder) is where external data files are looked up. The bytes are copied. */
LSUV_API lsuv_status lsuv_net_load_onnx_memory(lsuv_context *ctx, const void *bytes, size_t size,
                                               const char *base_dir, lsuv_net **out);
/* Writes the ONNX model the network was loaded from with the current parameter values
 * (only the tensors of LSUV layers and their unshared copies differ), atomically; external
 * data goes beside path. LSUV_ERROR_INVALID_ARGUMENT for a network not loaded from ONNX. */
LSUV_API lsuv_status lsuv_net_save_onnx(lsuv_net *net, const char *path);

/* Finds a node by name (ONNX: node name, or its output's name when unnamed). */
LSUV_API lsuv_status lsuv_net_find_node(const lsuv_net *net, const char *name, int *node);
/* Runs the network forward on data (all samples in one batch) and copies the value of
 * node (-1: the network's output) into out, which holds count floats; count must be
 * data->n times the node's per-sample element count. Parameters are not changed. */
LSUV_API lsuv_status lsuv_net_forward(lsuv_net *net, const lsuv_data *data, int node, float *out,
                                      int64_t count);

/* ---------------------------------------------------------------- LSUV */

typedef enum lsuv_measure { LSUV_MEASURE_PRE = 0, LSUV_MEASURE_POST = 1 } lsuv_measure;

typedef struct lsuv_options {
    double tol_var;        /* 0.1: stop when |Var - 1| < tol_var */
    int t_max;             /* 10: at most this many rescales per layer */
    lsuv_measure measure;  /* PRE (default): the layer's output before its activation */
    int batch;             /* 0 (default): all samples in one batch; else samples per batch */
    int batches;           /* 1 (default): fixed batch; K > 1: K batches, one per try, round-robin */
    int center;            /* 0 (default); 1: scale the weights, then set each output channel's
                              bias so its mean on the batch is 0 (layers with a bias only) */
    int orthonormal;       /* 1 (default): orthonormal pre-init; 0: keep the weights as they are.
                              Each weight becomes a Haar-distributed orthogonal matrix made from
                              a Gaussian draw: on CPU devices by Householder reflectors taken
                              from it (Stewart 1980: fewer flops), elsewhere as the Q of its QR
                              (diag(R) > 0). Same distribution, not the same matrix. */
    uint64_t seed;         /* 0: seed of the orthonormal pre-init (same seed and device kind:
                              same weights) */
    /* Called (when not NULL) before each dense/conv layer: layer is 0-based. */
    void (*progress)(void *user, int layer, int layers, const char *name);
    void *progress_user;
    uint64_t reserved[8];  /* zero (set by _init): room for fields added before 1.0 */
} lsuv_options;
LSUV_API void lsuv_options_init(lsuv_options *options);

typedef enum lsuv_layer_status {
    LSUV_LAYER_OK = 0,         /* |Var - 1| < tol_var */
    LSUV_LAYER_MAX_TRIES = 1,  /* t_max reached */
    LSUV_LAYER_DEGENERATE = 2  /* variance zero, denormal or not finite: weights left finite */
} lsuv_layer_status;

typedef struct lsuv_layer_report {
    const char *name;
    const char *kind;          /* "dense" or "conv2d" */
    int tries_measured;        /* variance measurements on data (forward of this layer) */
    int tries_computed;        /* variance updates derived in closed form */
    double var_initial, var_final, mean_final;
    double scale;              /* product of all rescales */
    int final_batch;           /* the batch var_final was measured on (0-based) */
    lsuv_layer_status status;
    const char *weight;        /* name of the layer's weight parameter (e.g. "layer1.0.conv1.weight") */
} lsuv_layer_report;

typedef struct lsuv_report {
    int layer_count;
    lsuv_layer_report *layers;
    double time_fill_s, time_orthonormalize_s, time_forward_s, time_moments_s, time_total_s;
    double flops_executed;     /* forward FLOPs actually run */
    double flops_forward;      /* one forward of the whole network over all batches */
    int64_t samples_per_batch;
    int batches;
    const char *warning;       /* NULL or e.g. "batch of 8 samples: under 16 ..." */
    /* FLOPs the orthonormal pre-init's products ran (2 per multiply-add as each product
     * kernel declares it, structural zeros included; 0 with orthonormal off). Appended:
     * the library allocates reports, so older callers are unaffected. */
    double flops_orthonormalize;
} lsuv_report;

/* Runs LSUV on the network with the given data. report may be NULL; else *report is
 * set and must be freed with lsuv_report_free. Data holding NaN/Inf is refused
 * (LSUV_ERROR_BAD_DATA) before any weight changes. All or nothing: on any failure
 * (device or host memory, a device error) every parameter is left bit for bit as it
 * was. The run keeps a device copy of the dense/conv weights and biases meanwhile. */
LSUV_API lsuv_status lsuv_init(lsuv_net *net, const lsuv_data *data, const lsuv_options *options,
                               lsuv_report **report);
LSUV_API void lsuv_report_free(lsuv_report *report);
LSUV_API const char *lsuv_layer_status_string(lsuv_layer_status status);

#ifdef __cplusplus
}
#endif
#endif /* LSUV_H */
