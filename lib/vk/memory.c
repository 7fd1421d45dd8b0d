/* memory.c - device memory: a few large blocks, sub-allocated first-fit with a sorted,
 * coalescing free list; scratch chunks; the staging buffer (used by transfer.c).
 * Allocates only: nothing here records or submits commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vk/context.h"

#define ALIGN 256u
#define BLOCK_BYTES (256ull << 20)
#define STAGING_BYTES (32ull << 20)
#define SCRATCH_CHUNK (16ull << 20)

typedef struct lsuv_range {
    uint64_t offset, size;
    struct lsuv_range *next;
} lsuv_range;

static int find_memory_type(const lsuv_context *ctx, uint32_t bits, VkMemoryPropertyFlags want)
{
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->memory_properties;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

/* Creates a buffer over fresh memory of the given size. */
static lsuv_status make_buffer(lsuv_context *ctx, uint64_t size, VkBufferUsageFlags usage,
                               int host, VkBuffer *buffer, VkDeviceMemory *memory, void **mapped,
                               uint32_t *type_out)
{
    uint64_t heap_max = host ? UINT64_MAX : ctx->info.device_local_bytes;
    if (size > heap_max || size > ctx->info.max_allocation_size)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_DEVICE_MEMORY,
                         "cannot allocate %llu bytes of device memory: the largest heap holds %llu bytes "
                         "and one allocation may be at most %llu bytes",
                         (unsigned long long)size, (unsigned long long)heap_max,
                         (unsigned long long)ctx->info.max_allocation_size);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                             .usage = usage, .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, buffer);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkCreateBuffer");
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, *buffer, &req);
    int type = -1;
    if (host) {
        type = find_memory_type(ctx, req.memoryTypeBits,
                                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                    VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (type < 0)
            type = find_memory_type(ctx, req.memoryTypeBits,
                                    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    } else {
        /* Device-local; mapped below when it is also host-visible and coherent (UMA
         * devices, lavapipe), which turns uploads into memcpy. */
        type = find_memory_type(ctx, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (type < 0)
            type = find_memory_type(ctx, req.memoryTypeBits, 0);
    }
    if (type < 0) {
        ctx->vk.vkDestroyBuffer(ctx->device, *buffer, NULL);
        *buffer = VK_NULL_HANDLE;
        return lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED, "no suitable %s memory type for a buffer",
                         host ? "host-visible" : "device");
    }
    VkDeviceSize heap = ctx->memory_properties.memoryHeaps[ctx->memory_properties.memoryTypes[type].heapIndex].size;
    if (req.size > heap || req.size > ctx->info.max_allocation_size) {
        ctx->vk.vkDestroyBuffer(ctx->device, *buffer, NULL);
        *buffer = VK_NULL_HANDLE;
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_DEVICE_MEMORY,
                         "cannot allocate %llu bytes of device memory: its heap holds %llu bytes "
                         "and one allocation may be at most %llu bytes",
                         (unsigned long long)req.size, (unsigned long long)heap,
                         (unsigned long long)ctx->info.max_allocation_size);
    }
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                       .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = (usage & VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT) ? &flags : NULL,
                               .allocationSize = req.size, .memoryTypeIndex = (uint32_t)type};
    r = ctx->vk.vkAllocateMemory(ctx->device, &ai, NULL, memory);
    if (r != VK_SUCCESS) {
        ctx->vk.vkDestroyBuffer(ctx->device, *buffer, NULL);
        *buffer = VK_NULL_HANDLE;
        return lsuv_vk_fail(ctx, r, "vkAllocateMemory");
    }
    /* The message names the call that failed and what the buffer was for. */
    const char *failed = NULL;
    r = ctx->vk.vkBindBufferMemory(ctx->device, *buffer, *memory, 0);
    if (r != VK_SUCCESS)
        failed = "vkBindBufferMemory";
    *mapped = NULL;
    VkMemoryPropertyFlags pf = ctx->memory_properties.memoryTypes[type].propertyFlags;
    int coherent = (pf & (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) ==
                   (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (!failed && coherent && (host || !ctx->force_staging)) {
        r = ctx->vk.vkMapMemory(ctx->device, *memory, 0, VK_WHOLE_SIZE, 0, mapped);
        if (r != VK_SUCCESS)
            failed = "vkMapMemory";
    }
    if (failed) {
        ctx->vk.vkDestroyBuffer(ctx->device, *buffer, NULL);
        ctx->vk.vkFreeMemory(ctx->device, *memory, NULL);
        *buffer = VK_NULL_HANDLE;
        *memory = VK_NULL_HANDLE;
        *mapped = NULL;
        char what[128];
        snprintf(what, sizeof what, "%s (%llu bytes for %s)", failed, (unsigned long long)req.size,
                 host ? "the staging buffer" : "a device memory block");
        return lsuv_vk_fail(ctx, r, what);
    }
    if (type_out)
        *type_out = (uint32_t)type;
    return LSUV_OK;
}

static lsuv_status add_block(lsuv_context *ctx, uint64_t bytes)
{
    uint64_t size = bytes > BLOCK_BYTES ? lsuv_round_up(bytes, 1 << 20) : BLOCK_BYTES;
    if (size > ctx->info.max_allocation_size && bytes <= ctx->info.max_allocation_size)
        size = bytes; /* small allocation limit: exactly what is asked */
    lsuv_range *range = malloc(sizeof *range);
    if (!range || !lsuv_grow(&ctx->blocks, &ctx->block_capacity, ctx->block_count + 1, sizeof *ctx->blocks)) {
        free(range);
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a memory block");
    }
    lsuv_block *b = &ctx->blocks[ctx->block_count];
    memset(b, 0, sizeof *b);
    uint32_t type = 0;
    lsuv_status st = make_buffer(ctx, size,
                                 VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                     VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT |
                                     VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT,
                                 0, &b->buffer, &b->memory, &b->host, &type);
    if (st != LSUV_OK) {
        free(range);
        return st;
    }
    VkBufferDeviceAddressInfo dai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                     .buffer = b->buffer};
    b->address = ctx->vk.vkGetBufferDeviceAddress(ctx->device, &dai);
    b->size = size;
    range->offset = 0;
    range->size = size;
    range->next = NULL;
    b->free_ranges = range;
    ctx->block_count++;
    return LSUV_OK;
}

lsuv_status lsuv_buffer_alloc(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out)
{
    memset(out, 0, sizeof *out);
    if (bytes == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "buffer of zero bytes requested");
    if (bytes > UINT64_MAX / 2)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "buffer of %llu bytes requested",
                         (unsigned long long)bytes);
    uint64_t need = lsuv_round_up(bytes, ALIGN);
    for (int pass = 0; pass < 2; pass++) {
        for (int bi = 0; bi < ctx->block_count; bi++) {
            lsuv_block *b = &ctx->blocks[bi];
            for (lsuv_range **pp = &b->free_ranges; *pp; pp = &(*pp)->next) {
                lsuv_range *r = *pp;
                if (r->size < need)
                    continue;
                out->vk = b->buffer;
                out->offset = r->offset;
                out->size = bytes;
                out->address = b->address + r->offset;
                out->block = bi;
                r->offset += need;
                r->size -= need;
                if (r->size == 0) {
                    *pp = r->next;
                    free(r);
                }
                ctx->bytes_in_use += need;
                if (ctx->bytes_in_use > ctx->bytes_peak)
                    ctx->bytes_peak = ctx->bytes_in_use;
                return LSUV_OK;
            }
        }
        if (pass == 0) {
            lsuv_status st = add_block(ctx, need);
            if (st != LSUV_OK)
                return st;
        }
    }
    return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "allocator failed for %llu bytes",
                     (unsigned long long)bytes);
}

void lsuv_buffer_free(lsuv_context *ctx, lsuv_buffer *buf)
{
    if (!buf || !buf->address || buf->block < 0 || buf->block >= ctx->block_count)
        return;
    lsuv_block *b = &ctx->blocks[buf->block];
    uint64_t off = buf->offset, size = lsuv_round_up(buf->size, ALIGN);
    ctx->bytes_in_use -= size;
    lsuv_range **pp = &b->free_ranges;
    while (*pp && (*pp)->offset < off)
        pp = &(*pp)->next;
    lsuv_range *next = *pp;
    /* merge with the previous range? find it */
    lsuv_range *prev = NULL;
    for (lsuv_range *r = b->free_ranges; r && r != next; r = r->next)
        prev = r;
    if (prev && prev->offset + prev->size == off) {
        prev->size += size;
        if (next && prev->offset + prev->size == next->offset) {
            prev->size += next->size;
            prev->next = next->next;
            free(next);
        }
    } else if (next && off + size == next->offset) {
        next->offset = off;
        next->size += size;
    } else {
        lsuv_range *r = malloc(sizeof *r);
        if (r) { /* on failure the range leaks until the context is destroyed */
            r->offset = off;
            r->size = size;
            r->next = next;
            *pp = r;
        }
    }
    memset(buf, 0, sizeof *buf);
}

lsuv_buffer lsuv_buffer_slice(const lsuv_buffer *buf, uint64_t offset, uint64_t bytes)
{
    lsuv_buffer s = *buf;
    s.offset += offset;
    s.address += offset;
    s.size = bytes;
    return s;
}

lsuv_status lsuv_scratch(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out)
{
    uint64_t need = lsuv_round_up(bytes ? bytes : 1, ALIGN);
    for (int i = 0; i < ctx->scratch_count; i++)
        if (ctx->scratch[i].size - ctx->scratch_used[i] >= need) {
            *out = lsuv_buffer_slice(&ctx->scratch[i], ctx->scratch_used[i], bytes);
            ctx->scratch_used[i] += need;
            return LSUV_OK;
        }
    /* Two arrays of one capacity, recorded once both have grown. */
    int cap = ctx->scratch_capacity, cap_used = ctx->scratch_capacity, n = ctx->scratch_count + 1;
    if (!lsuv_grow(&ctx->scratch, &cap, n, sizeof *ctx->scratch) ||
        !lsuv_grow(&ctx->scratch_used, &cap_used, n, sizeof *ctx->scratch_used))
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for scratch");
    ctx->scratch_capacity = cap;
    lsuv_buffer chunk;
    lsuv_status st = lsuv_buffer_alloc(ctx, need > SCRATCH_CHUNK ? need : SCRATCH_CHUNK, &chunk);
    if (st != LSUV_OK)
        return st;
    ctx->scratch[ctx->scratch_count] = chunk;
    ctx->scratch_used[ctx->scratch_count] = need;
    ctx->scratch_count++;
    *out = lsuv_buffer_slice(&chunk, 0, bytes);
    return LSUV_OK;
}

void lsuv_scratch_reset(lsuv_context *ctx)
{
    for (int i = 0; i < ctx->scratch_count; i++)
        ctx->scratch_used[i] = 0;
}

/* The host-visible staging buffer used by transfer.c when blocks are not mapped. */
lsuv_status lsuv_staging_ensure(lsuv_context *ctx)
{
    if (ctx->staging)
        return LSUV_OK;
    lsuv_status st = make_buffer(ctx, STAGING_BYTES,
                                 VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT, 1,
                                 &ctx->staging, &ctx->staging_memory, &ctx->staging_host, NULL);
    if (st == LSUV_OK)
        ctx->staging_size = STAGING_BYTES;
    return st;
}

void lsuv_memory_destroy(lsuv_context *ctx)
{
    for (int i = 0; i < ctx->block_count; i++) {
        lsuv_block *b = &ctx->blocks[i];
        for (lsuv_range *r = b->free_ranges, *n; r; r = n) {
            n = r->next;
            free(r);
        }
        ctx->vk.vkDestroyBuffer(ctx->device, b->buffer, NULL);
        ctx->vk.vkFreeMemory(ctx->device, b->memory, NULL);
    }
    free(ctx->blocks);
    ctx->blocks = NULL;
    ctx->block_count = ctx->block_capacity = 0;
    free(ctx->scratch);
    free(ctx->scratch_used);
    ctx->scratch = NULL;
    ctx->scratch_used = NULL;
    ctx->scratch_count = ctx->scratch_capacity = 0;
    if (ctx->staging) {
        ctx->vk.vkDestroyBuffer(ctx->device, ctx->staging, NULL);
        ctx->vk.vkFreeMemory(ctx->device, ctx->staging_memory, NULL);
        ctx->staging = VK_NULL_HANDLE;
    }
}
