/* transfer.c - host <-> device copies and fills of buffers: memcpy where the block is
 * mapped, else through the staging buffer in chunks (record a copy, submit, wait).
 * Sits above memory.c and commands.c and is called by neither. */
#include <string.h>

#include "vk/context.h"

static lsuv_status check_range(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t offset, uint64_t bytes,
                               const char *what)
{
    if (!buf || !buf->address || offset > buf->size || bytes > buf->size - offset)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "%s of %llu bytes at offset %llu is outside the buffer (%llu bytes)", what,
                         (unsigned long long)bytes, (unsigned long long)offset,
                         (unsigned long long)(buf ? buf->size : 0));
    return LSUV_OK;
}

/* Copies between the staging buffer and buf, one chunk; submits and waits. */
static lsuv_status staged_copy(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t offset, uint64_t bytes,
                               int to_device)
{
    lsuv_status st = lsuv_record_begin(ctx);
    if (st != LSUV_OK)
        return st;
    lsuv_barrier(ctx);
    VkBufferCopy region = {.size = bytes};
    if (to_device) {
        region.dstOffset = buf->offset + offset;
        ctx->vk.vkCmdCopyBuffer(ctx->cmd, ctx->staging, buf->vk, 1, &region);
    } else {
        region.srcOffset = buf->offset + offset;
        ctx->vk.vkCmdCopyBuffer(ctx->cmd, buf->vk, ctx->staging, 1, &region);
    }
    lsuv_barrier(ctx);
    return lsuv_submit(ctx);
}

lsuv_status lsuv_buffer_upload(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t offset, const void *src,
                               uint64_t bytes)
{
    lsuv_status st = check_range(ctx, buf, offset, bytes, "upload");
    if (st == LSUV_OK)
        st = lsuv_submit(ctx); /* earlier work may still read the old contents */
    if (st != LSUV_OK || bytes == 0)
        return st;
    void *host = ctx->blocks[buf->block].host;
    if (host) {
        memcpy((char *)host + buf->offset + offset, src, bytes);
        return LSUV_OK;
    }
    if ((st = lsuv_staging_ensure(ctx)) != LSUV_OK)
        return st;
    for (uint64_t done = 0; done < bytes; done += ctx->staging_size) {
        uint64_t n = bytes - done < ctx->staging_size ? bytes - done : ctx->staging_size;
        memcpy(ctx->staging_host, (const char *)src + done, n);
        if ((st = staged_copy(ctx, buf, offset + done, n, 1)) != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

lsuv_status lsuv_buffer_download(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t offset, void *dst,
                                 uint64_t bytes)
{
    lsuv_status st = check_range(ctx, buf, offset, bytes, "download");
    if (st == LSUV_OK)
        st = lsuv_submit(ctx);
    if (st != LSUV_OK || bytes == 0)
        return st;
    void *host = ctx->blocks[buf->block].host;
    if (host) {
        memcpy(dst, (const char *)host + buf->offset + offset, bytes);
        return LSUV_OK;
    }
    if ((st = lsuv_staging_ensure(ctx)) != LSUV_OK)
        return st;
    for (uint64_t done = 0; done < bytes; done += ctx->staging_size) {
        uint64_t n = bytes - done < ctx->staging_size ? bytes - done : ctx->staging_size;
        if ((st = staged_copy(ctx, buf, offset + done, n, 0)) != LSUV_OK)
            return st;
        memcpy((char *)dst + done, ctx->staging_host, n);
    }
    return LSUV_OK;
}

lsuv_status lsuv_buffer_fill(lsuv_context *ctx, const lsuv_buffer *buf, uint32_t pattern)
{
    lsuv_status st = check_range(ctx, buf, 0, buf ? buf->size : 0, "fill");
    if (st == LSUV_OK)
        st = lsuv_record_begin(ctx);
    if (st != LSUV_OK)
        return st;
    lsuv_barrier(ctx);
    ctx->vk.vkCmdFillBuffer(ctx->cmd, buf->vk, buf->offset, buf->size & ~3ull, pattern);
    lsuv_barrier(ctx);
    return LSUV_OK;
}

lsuv_status lsuv_buffer_copy(lsuv_context *ctx, const lsuv_buffer *src, const lsuv_buffer *dst)
{
    lsuv_status st = check_range(ctx, dst, 0, src ? src->size : 0, "copy");
    if (st == LSUV_OK && (!src || !src->vk))
        st = lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "copy from a buffer that is not allocated");
    if (st == LSUV_OK)
        st = lsuv_record_begin(ctx);
    if (st != LSUV_OK)
        return st;
    lsuv_barrier(ctx);
    VkBufferCopy region = {.srcOffset = src->offset, .dstOffset = dst->offset, .size = src->size};
    ctx->vk.vkCmdCopyBuffer(ctx->cmd, src->vk, dst->vk, 1, &region);
    lsuv_barrier(ctx);
    return LSUV_OK;
}
