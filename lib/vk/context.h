/* context.h - the context (internal): device, dispatch tables, memory, commands.
 * Everything a kernel's host code needs: buffers (memory.c), recording and
 * submitting work (commands.c), pipelines (pipelines.c), errors (context.c). */
#ifndef LSUV_CONTEXT_H
#define LSUV_CONTEXT_H

#include <stdarg.h>
#include <stdint.h>

#include "lsuv.h"
#include "lsuv_shader_ids.h" /* generated: LSUV_SHADER_<NAME> for every shader */
#include "vk/loader.h"

/* A range of device memory: sub-allocated from one of the context's large blocks.
 * Shaders reach it through its device address (VK_KHR_buffer_device_address, core in
 * Vulkan 1.2), so no descriptor and no maxStorageBufferRange limit applies. */
typedef struct lsuv_buffer {
    uint64_t address;  /* device address of the first byte; 0 = no buffer */
    uint64_t size;     /* bytes */
    VkBuffer vk;       /* the block's buffer (shared) */
    uint64_t offset;   /* offset of this range in vk */
    int block;         /* index of the block */
} lsuv_buffer;

typedef struct lsuv_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    uint64_t size, address;
    void *host;                 /* mapped pointer when host-visible and coherent */
    struct lsuv_range *free_ranges; /* sorted, coalesced free list */
} lsuv_block;

/* Phases that device time is charged to (bench reports them). */
typedef enum lsuv_phase {
    LSUV_PHASE_FILL = 0,
    LSUV_PHASE_ORTHONORMALIZE,
    LSUV_PHASE_FORWARD,
    LSUV_PHASE_MOMENTS,
    LSUV_PHASE_OTHER,
    LSUV_PHASE_COUNT
} lsuv_phase;

#define LSUV_MAX_PUSH 128
#define LSUV_MAX_SPEC 8
#define LSUV_QUERY_COUNT 8192

typedef struct lsuv_pipeline_entry {
    lsuv_shader_id shader;          /* index into lsuv_shader_table */
    uint32_t spec[LSUV_MAX_SPEC];   /* specialization constants 0..nspec-1 */
    int nspec;
    VkPipeline pipeline;
} lsuv_pipeline_entry;

/* Kernel variants forced for testing and benchmarking, read from the environment once,
 * when the context is created (context.c), so that dispatches read no variables:
 * LSUV_GEMM_KERNEL=tiled|subgroup|direct|texel, LSUV_GEMM_MAX_GROUPS=n (caps each grid
 * dimension of the GEMM/conv kernels so their tile loops run on small problems too) and
 * LSUV_MGS_KERNEL=gpu|cpu|texel. Any other value means "chosen by the device". Tests that switch
 * variants within one context set the fields directly. */
typedef enum lsuv_gemm_kernel {
    LSUV_GEMM_AUTO = 0,
    LSUV_GEMM_TILED,
    LSUV_GEMM_SUBGROUP,
    LSUV_GEMM_DIRECT,
    LSUV_GEMM_TEXEL /* CPU devices: register tiles over storage texel buffers (texel.c) */
} lsuv_gemm_kernel;
typedef enum lsuv_mgs_kernel {
    LSUV_MGS_AUTO = 0,
    LSUV_MGS_GPU,
    LSUV_MGS_CPU,  /* the CPU-device set with its own projection kernels */
    LSUV_MGS_TEXEL /* the CPU-device set, projections as texel GEMMs (CPU devices' default) */
} lsuv_mgs_kernel;
typedef struct lsuv_tuning {
    lsuv_gemm_kernel gemm_kernel;
    uint32_t gemm_max_groups; /* 0: the device's limit */
    lsuv_mgs_kernel mgs_kernel;
    uint32_t texel_max; /* 0: the device's maxTexelBufferElements; tests lower it so that
                           the texel kernels' chunking runs on small problems */
} lsuv_tuning;

struct lsuv_context {
    lsuv_vk_loader loader;
    lsuv_vk_instance_table vki;
    lsuv_vk_device_table vk;
    VkInstance instance;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    lsuv_device_info info;
    VkPhysicalDeviceMemoryProperties memory_properties;
    lsuv_tuning tuning;         /* read once at creation (context.c) */

    /* memory (memory.c) */
    lsuv_block *blocks;
    int block_count, block_capacity;
    uint32_t memory_type;       /* for blocks */
    int force_staging;          /* tests: never map blocks, as on a discrete GPU */
    VkBuffer staging;           /* host-visible staging buffer for non-mapped blocks */
    VkDeviceMemory staging_memory;
    void *staging_host;
    uint64_t staging_size;
    uint64_t bytes_in_use, bytes_peak;
    lsuv_buffer *scratch;       /* scratch chunks (bump-allocated, reset per submit) */
    uint64_t *scratch_used;
    int scratch_count, scratch_capacity; /* scratch and scratch_used have this capacity */

    /* commands (commands.c) */
    VkCommandPool command_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording;
    int dispatches_since_barrier;
    VkQueryPool query_pool;     /* VK_NULL_HANDLE when timestamps are unsupported */
    uint32_t query_used;
    uint8_t query_phase[LSUV_QUERY_COUNT / 2];
    lsuv_phase phase;
    int profiling;
    double phase_seconds[LSUV_PHASE_COUNT];
    double phase_flops[LSUV_PHASE_COUNT]; /* FLOPs the dispatches declared (lsuv_dispatch_work), per phase */
    /* per shader, while profiling (bench --profile): device seconds, dispatches, and the
     * work the kernels declared (lsuv_dispatch_work) */
    uint16_t query_shader[LSUV_QUERY_COUNT / 2];
    double shader_seconds[LSUV_SHADER_COUNT], shader_flops[LSUV_SHADER_COUNT], shader_bytes[LSUV_SHADER_COUNT];
    uint64_t shader_dispatches[LSUV_SHADER_COUNT];
    double next_flops, next_bytes; /* declared for the next dispatch */
    uint64_t submissions;

    /* pipelines (pipelines.c) */
    VkPipelineLayout pipeline_layout; /* push constants + set 0: texel_layout (texel.c) */
    VkDescriptorSetLayout texel_layout;
    struct lsuv_texel_state *texel; /* views and descriptor sets (texel.c) */
    lsuv_pipeline_entry *pipelines;
    int pipeline_count, pipeline_capacity;

    char error[1024];
};

/* ---- the context (context.c) */
/* Picks the queue family of ctx->physical that work is submitted to: one with compute,
 * preferring one with timestamps (*timestamps says whether it has them). */
lsuv_status lsuv_choose_queue_family(lsuv_context *ctx, uint32_t *family, int *timestamps);

/* ---- errors (error.c) */
/* Records a message for the context and returns status (printf-style). */
lsuv_status lsuv_fail(lsuv_context *ctx, lsuv_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a VkResult to a status and records "what: VK_ERROR_..." */
lsuv_status lsuv_vk_fail(lsuv_context *ctx, VkResult result, const char *what);
const char *lsuv_vk_result_string(VkResult result);

/* ---- memory (memory.c) */
/* Sub-allocates bytes (rounded up to 256) of device memory. Zero bytes is refused. */
lsuv_status lsuv_buffer_alloc(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out);
/* Returns the range to its block; safe on a zeroed buffer. Only after the work that
 * used it has completed (lsuv_submit). */
void lsuv_buffer_free(lsuv_context *ctx, lsuv_buffer *buf);
/* Creates the staging buffer on first use (memory.c). */
lsuv_status lsuv_staging_ensure(lsuv_context *ctx);
/* ---- transfers (transfer.c)
 * Host <-> device copies. They submit pending work first and wait for completion. */
lsuv_status lsuv_buffer_upload(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t offset,
                               const void *src, uint64_t bytes);
lsuv_status lsuv_buffer_download(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t offset,
                                 void *dst, uint64_t bytes);
/* Records a copy of src's bytes to the start of dst (no arithmetic: NaN payloads and
 * denormals stay as they are). */
lsuv_status lsuv_buffer_copy(lsuv_context *ctx, const lsuv_buffer *src, const lsuv_buffer *dst);
/* Records a fill of the range with a 32-bit pattern (e.g. 0x7fc00000, a NaN, to poison). */
lsuv_status lsuv_buffer_fill(lsuv_context *ctx, const lsuv_buffer *buf, uint32_t pattern);
/* A view of part of a buffer (no allocation). */
lsuv_buffer lsuv_buffer_slice(const lsuv_buffer *buf, uint64_t offset, uint64_t bytes);
/* Scratch memory for a kernel's temporaries: valid until the recorded work has been
 * submitted and completed (lsuv_submit resets it). Grows in the first runs only. */
lsuv_status lsuv_scratch(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out);
/* Makes all scratch memory free again; called by lsuv_submit once the work completed. */
void lsuv_scratch_reset(lsuv_context *ctx);
void lsuv_memory_destroy(lsuv_context *ctx);
/* Gives all device memory back (blocks, scratch, staging) and with it every texel view
 * of it; the caller guarantees that no buffer of the context is still in use. */
void lsuv_context_release_memory(lsuv_context *ctx);

/* Each kernel's push constants are one struct (the shader's push_constant block); this
 * checks at compile time that it fits LSUV_MAX_PUSH, the 128 bytes every device offers
 * (maxPushConstantsSize). Use after the declaration: LSUV_PUSH_FITS(push); */
#define LSUV_PUSH_FITS(push) \
    _Static_assert(sizeof(push) <= LSUV_MAX_PUSH, "push constants exceed LSUV_MAX_PUSH bytes")

/* Splits a device address into the two uint32 (lo, hi) that shaders read as a uvec2. */
static inline void lsuv_push_address(uint32_t *p, uint64_t address)
{
    p[0] = (uint32_t)address;
    p[1] = (uint32_t)(address >> 32);
}

/* ---- commands (commands.c)
 * Kernels only record; lsuv_submit ends the command buffer, submits it once and waits.
 * Every dispatch is preceded by a compute->compute memory barrier when needed, so
 * recorded kernels see each other's results in order. */
lsuv_status lsuv_record_begin(lsuv_context *ctx);
/* Records one dispatch of `shader` (LSUV_SHADER_<NAME>, see shaders/meson.build) with
 * push constants.
 * spec/nspec: specialization constants (constant_id 0..nspec-1), may be NULL/0.
 * Group counts above the device limit are refused: kernels loop (grid-stride). */
lsuv_status lsuv_dispatch(lsuv_context *ctx, lsuv_shader_id shader, const uint32_t *spec, int nspec,
                          const void *push, uint32_t push_size, uint32_t gx, uint32_t gy,
                          uint32_t gz);
/* Declares the floating-point operations and bytes moved of the next dispatch, for the
 * per-kernel profile (bench --profile); optional. */
static inline void lsuv_dispatch_work(lsuv_context *ctx, double flops, double bytes)
{
    ctx->next_flops = flops;
    ctx->next_bytes = bytes;
}
/* Records a barrier so the next dispatch or copy sees all earlier writes. */
void lsuv_barrier(lsuv_context *ctx);
/* Submits what was recorded (if anything) and waits for it. */
lsuv_status lsuv_submit(lsuv_context *ctx);
/* Sets the phase that following dispatches are timed under. */
void lsuv_set_phase(lsuv_context *ctx, lsuv_phase phase);
/* Number of workgroups for n items at per_group items each, capped at the device's
 * maxComputeWorkGroupCount[0] (shaders loop over the rest). */
uint32_t lsuv_groups(const lsuv_context *ctx, uint64_t n, uint32_t per_group);
void lsuv_commands_destroy(lsuv_context *ctx);
lsuv_status lsuv_commands_create(lsuv_context *ctx);

/* ---- storage texel buffers (texel.c)
 * On lavapipe a load through imageLoad on an rgba32f storage texel buffer is one 16-byte
 * load per lane, while an SSBO or device-address load is a loop over the lanes (5x
 * slower; shared/DESIGN.md, "Lavapipe"). Kernels read operands through views of the
 * memory blocks: a view covers a window of a block (maxTexelBufferElements texels at most,
 * windows every half of that), so any operand of up to lsuv_texel_span texels lies in one
 * view; kernels chunk larger work. Descriptor sets of LSUV_TEXEL_BINDINGS views are cached
 * in a pool sized at context creation: a repeated dispatch allocates nothing. */
#define LSUV_TEXEL_BINDINGS 4
typedef enum lsuv_texel_format { LSUV_TEXEL_RGBA32F = 0, LSUV_TEXEL_R32F = 1 } lsuv_texel_format;
typedef struct lsuv_texel_ref {
    VkBufferView view; /* VK_NULL_HANDLE: binding unused */
    uint32_t first;    /* the operand's first texel in the view */
} lsuv_texel_ref;
/* Set layout and descriptor pool; before lsuv_pipelines_create (its layout uses them). */
lsuv_status lsuv_texel_create(lsuv_context *ctx);
/* Before lsuv_memory_destroy: the views refer to the blocks. */
void lsuv_texel_destroy(lsuv_context *ctx);
/* Destroys every view and frees every set (the pool stays): before the blocks go. */
void lsuv_texel_forget_views(lsuv_context *ctx);
/* Most texels of format f one operand may span. */
uint64_t lsuv_texel_span(const lsuv_context *ctx, lsuv_texel_format f);
/* Whether buf's first byte starts a texel of format f (16-byte aligned for rgba32f). */
int lsuv_texel_aligned(const lsuv_buffer *buf, lsuv_texel_format f);
/* Whether `texels` texels of format f from buf's first byte can be read through one view:
 * the context has texel views, buf starts on a texel, and they fit one view's span. */
int lsuv_texel_fits(const lsuv_context *ctx, const lsuv_buffer *buf, lsuv_texel_format f, uint64_t texels);
/* The view holding `texels` texels of format f from buf's first byte. */
lsuv_status lsuv_texel_ref_get(lsuv_context *ctx, const lsuv_buffer *buf, lsuv_texel_format f,
                               uint64_t texels, lsuv_texel_ref *out);
/* lsuv_dispatch with the views of refs bound to bindings 0..LSUV_TEXEL_BINDINGS-1. */
lsuv_status lsuv_texel_dispatch(lsuv_context *ctx, lsuv_shader_id shader, const uint32_t *spec, int nspec,
                                const lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS], const void *push,
                                uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz);

/* ---- pipelines (pipelines.c) */
/* The pipeline of shader with these specialization constants (created on first use). */
lsuv_status lsuv_pipeline_get(lsuv_context *ctx, lsuv_shader_id shader, const uint32_t *spec,
                              int nspec, VkPipeline *out);
lsuv_status lsuv_pipelines_create(lsuv_context *ctx);
void lsuv_pipelines_destroy(lsuv_context *ctx);

/* ---- embedded SPIR-V (generated: build/shaders/lsuv_shaders.c) */
typedef struct lsuv_shader {
    const char *name;
    const uint32_t *code;
    size_t bytes;
} lsuv_shader;
extern const lsuv_shader lsuv_shader_table[LSUV_SHADER_COUNT];

#endif
