/* texel.c - storage texel buffers for the CPU-device kernels: views of the memory blocks
 * and the descriptor sets that bind them.
 *
 * Why: on lavapipe an imageLoad from an rgba32f storage texel buffer is one 16-byte load
 * per lane, while SSBO and device-address loads become a loop over the lanes (26-29 GB/s
 * against 3-4; shared/DESIGN.md, "Lavapipe"). Everything else in the library reaches memory
 * through device addresses, so only the kernels that read through texels use this.
 *
 * Views are made per (block, format, window), never per operand: a window is at most
 * maxTexelBufferElements texels and windows start every half of that, so any operand of
 * up to half a window (lsuv_texel_span) lies in one view, at a texel offset the kernel gets
 * in its push constants. Blocks live as long as the context, and so do their views: a
 * context holds a few views, and a descriptor set is a tuple of them. Sets are cached in a
 * pool sized at creation; when all are taken, the least recently used one that the
 * recording in progress does not use is rewritten. So dispatches repeated in the LSUV loop
 * create no view, allocate no set and never grow the pool. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vk/context.h"

#define SET_COUNT 128 /* descriptor sets in the pool: distinct view tuples alive at once */

typedef struct texel_view {
    VkBuffer buffer;
    lsuv_texel_format format;
    uint64_t first, count; /* window, in texels of format */
    VkBufferView view;
} texel_view;

typedef struct texel_set {
    VkBufferView views[LSUV_TEXEL_BINDINGS];
    VkDescriptorSet set;
    uint64_t submission; /* ctx->submissions when last bound */
    uint64_t last_use;   /* for least-recently-used replacement */
} texel_set;

struct lsuv_texel_state {
    uint64_t device_max; /* maxTexelBufferElements */
    VkDescriptorPool pool;
    texel_view *views;
    int view_count, view_capacity;
    texel_set sets[SET_COUNT];
    int set_count;
    uint64_t clock;
};

static const VkFormat vk_formats[] = {VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32_SFLOAT};
static const uint64_t texel_bytes[] = {16, 4};

lsuv_status lsuv_texel_create(lsuv_context *ctx)
{
    struct lsuv_texel_state *t = calloc(1, sizeof *t);
    if (!t)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for texel views");
    ctx->texel = t;
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    ctx->vki.vkGetPhysicalDeviceProperties2(ctx->physical, &props);
    t->device_max = props.properties.limits.maxTexelBufferElements;
    /* Both formats are among those every device must offer as storage texel buffers
     * (Vulkan's mandatory format support), so no format query is needed. */
    VkDescriptorSetLayoutBinding b[LSUV_TEXEL_BINDINGS];
    for (uint32_t i = 0; i < LSUV_TEXEL_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = LSUV_TEXEL_BINDINGS, .pBindings = b};
    VkResult r = ctx->vk.vkCreateDescriptorSetLayout(ctx->device, &li, NULL, &ctx->texel_layout);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateDescriptorSetLayout (texel views)");
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER,
                                 .descriptorCount = SET_COUNT * LSUV_TEXEL_BINDINGS};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = SET_COUNT, .poolSizeCount = 1, .pPoolSizes = &size};
    r = ctx->vk.vkCreateDescriptorPool(ctx->device, &pi, NULL, &t->pool);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateDescriptorPool (texel views)");
    return LSUV_OK;
}

/* Views name a VkBuffer and, through it, the memory behind it; once a block is destroyed
 * a new block may get the same handle (lavapipe's handles are host pointers), and a
 * cached view would then read freed memory. So every view goes when the blocks go. */
void lsuv_texel_forget_views(lsuv_context *ctx)
{
    struct lsuv_texel_state *t = ctx->texel;
    if (!t || !ctx->device)
        return;
    for (int i = 0; i < t->view_count; i++)
        ctx->vk.vkDestroyBufferView(ctx->device, t->views[i].view, NULL);
    t->view_count = 0;
    if (t->pool && t->set_count) /* the sets hold the views: all freed at once */
        ctx->vk.vkResetDescriptorPool(ctx->device, t->pool, 0);
    memset(t->sets, 0, sizeof t->sets);
    t->set_count = 0;
}

void lsuv_texel_destroy(lsuv_context *ctx)
{
    struct lsuv_texel_state *t = ctx->texel;
    lsuv_texel_forget_views(ctx);
    if (ctx->device && t && t->pool)
        ctx->vk.vkDestroyDescriptorPool(ctx->device, t->pool, NULL);
    if (ctx->device && ctx->texel_layout)
        ctx->vk.vkDestroyDescriptorSetLayout(ctx->device, ctx->texel_layout, NULL);
    ctx->texel_layout = VK_NULL_HANDLE;
    if (t)
        free(t->views);
    free(t);
    ctx->texel = NULL;
}

/* Texels in a window: the device's limit (or the tests' lower one), kept to 2^30 so that
 * shaders index with int, and a multiple of 512 so that windows (every half) start at
 * offsets aligned for any minTexelBufferOffsetAlignment (at most 256 bytes). */
static uint64_t window(const lsuv_context *ctx)
{
    uint64_t w = ctx->texel ? ctx->texel->device_max : 0;
    if (ctx->tuning.texel_max && ctx->tuning.texel_max < w)
        w = ctx->tuning.texel_max;
    if (w > (1ull << 30))
        w = 1ull << 30;
    return w / 512 * 512;
}

uint64_t lsuv_texel_span(const lsuv_context *ctx, lsuv_texel_format f)
{
    (void)f; /* windows count texels of either format */
    return window(ctx) / 2;
}

int lsuv_texel_aligned(const lsuv_buffer *buf, lsuv_texel_format f)
{
    return buf && buf->vk && buf->offset % texel_bytes[f] == 0;
}

int lsuv_texel_fits(const lsuv_context *ctx, const lsuv_buffer *buf, lsuv_texel_format f, uint64_t texels)
{
    return ctx->texel && ctx->texel_layout && lsuv_texel_aligned(buf, f) && texels <= lsuv_texel_span(ctx, f);
}

static lsuv_status view_get(lsuv_context *ctx, VkBuffer buffer, lsuv_texel_format f, uint64_t first,
                            uint64_t count, VkBufferView *out)
{
    struct lsuv_texel_state *t = ctx->texel;
    for (int i = 0; i < t->view_count; i++) {
        texel_view *v = &t->views[i];
        if (v->buffer == buffer && v->format == f && v->first == first && v->count == count) {
            *out = v->view;
            return LSUV_OK;
        }
    }
    if (!lsuv_grow(&t->views, &t->view_capacity, t->view_count + 1, sizeof *t->views))
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for texel views");
    VkBufferViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, .buffer = buffer,
                                 .format = vk_formats[f], .offset = first * texel_bytes[f],
                                 .range = count * texel_bytes[f]};
    VkBufferView view;
    VkResult r = ctx->vk.vkCreateBufferView(ctx->device, &vi, NULL, &view);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateBufferView");
    t->views[t->view_count++] = (texel_view){buffer, f, first, count, view};
    *out = view;
    return LSUV_OK;
}

lsuv_status lsuv_texel_ref_get(lsuv_context *ctx, const lsuv_buffer *buf, lsuv_texel_format f,
                               uint64_t texels, lsuv_texel_ref *out)
{
    memset(out, 0, sizeof *out);
    if (!ctx->texel || !buf || !buf->vk || buf->block < 0 || buf->block >= ctx->block_count)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "texel view of a buffer that is not allocated");
    uint64_t tb = texel_bytes[f], span = lsuv_texel_span(ctx, f), w = window(ctx);
    uint64_t block_texels = ctx->blocks[buf->block].size / tb;
    if (!lsuv_texel_aligned(buf, f) || texels == 0 || texels > span || buf->size < texels * tb ||
        buf->offset / tb + texels > block_texels)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "texel view of %llu texels at byte %llu of a %llu-byte range: misaligned, empty, "
                         "beyond the range or over the %llu texels one view may span",
                         (unsigned long long)texels, (unsigned long long)buf->offset,
                         (unsigned long long)buf->size, (unsigned long long)span);
    uint64_t at = buf->offset / tb, first = at / span * span;
    uint64_t count = block_texels - first < w ? block_texels - first : w;
    out->first = (uint32_t)(at - first); /* < span, and at + texels <= first + count */
    return view_get(ctx, buf->vk, f, first, count, &out->view);
}

/* The cached set holding these views, or a new or reused one. */
static lsuv_status set_get(lsuv_context *ctx, const VkBufferView views[LSUV_TEXEL_BINDINGS], VkDescriptorSet *out)
{
    struct lsuv_texel_state *t = ctx->texel;
    t->clock++;
    texel_set *victim = NULL;
    for (int i = 0; i < t->set_count; i++) {
        texel_set *s = &t->sets[i];
        if (memcmp(s->views, views, sizeof s->views) == 0) {
            s->last_use = t->clock;
            s->submission = ctx->submissions;
            *out = s->set;
            return LSUV_OK;
        }
        /* in use: bound in the recording in progress (sets of submitted work are free once
         * lsuv_submit has waited for it, which it always does) */
        int busy = ctx->recording && s->submission == ctx->submissions;
        if (!busy && (!victim || s->last_use < victim->last_use))
            victim = s;
    }
    if (t->set_count < SET_COUNT) {
        victim = &t->sets[t->set_count];
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = t->pool, .descriptorSetCount = 1,
                                          .pSetLayouts = &ctx->texel_layout};
        VkResult r = ctx->vk.vkAllocateDescriptorSets(ctx->device, &ai, &victim->set);
        if (r != VK_SUCCESS)
            return lsuv_vk_fail(ctx, r, "vkAllocateDescriptorSets (texel views)");
        t->set_count++;
    } else if (!victim) {
        return lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED,
                         "texel kernels: more than %d distinct view sets in one submission", SET_COUNT);
    }
    VkWriteDescriptorSet w[LSUV_TEXEL_BINDINGS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < LSUV_TEXEL_BINDINGS; i++)
        if (views[i]) /* an unused binding keeps whatever it held: shaders do not touch it */
            w[n++] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                            .dstSet = victim->set, .dstBinding = i, .descriptorCount = 1,
                                            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER,
                                            .pTexelBufferView = &views[i]};
    ctx->vk.vkUpdateDescriptorSets(ctx->device, n, w, 0, NULL);
    memcpy(victim->views, views, sizeof victim->views);
    victim->last_use = t->clock;
    victim->submission = ctx->submissions;
    *out = victim->set;
    return LSUV_OK;
}

lsuv_status lsuv_texel_dispatch(lsuv_context *ctx, lsuv_shader_id shader, const uint32_t *spec, int nspec,
                                const lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS], const void *push,
                                uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz)
{
    if (gx == 0 || gy == 0 || gz == 0)
        return LSUV_OK;
    VkBufferView views[LSUV_TEXEL_BINDINGS];
    for (int i = 0; i < LSUV_TEXEL_BINDINGS; i++)
        views[i] = refs[i].view;
    /* recording first: a set is "in use" once bound in the recording in progress */
    lsuv_status st = lsuv_record_begin(ctx);
    if (st != LSUV_OK)
        return st;
    VkDescriptorSet set;
    if ((st = set_get(ctx, views, &set)) != LSUV_OK)
        return st;
    /* bound sets survive pipeline binds of the same layout, which every pipeline has */
    ctx->vk.vkCmdBindDescriptorSets(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipeline_layout, 0, 1, &set,
                                    0, NULL);
    return lsuv_dispatch(ctx, shader, spec, nspec, push, push_size, gx, gy, gz);
}
