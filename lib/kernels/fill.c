/* fill.c - host side of the Gaussian fill (shaders/fill_normal.comp, shaders/philox.glsl). */
#include "kernels/kernels.h"

/* Elements per dispatch: keeps 4 * blocks and every index inside 32 bits in the shader. */
#define FILL_CHUNK (1ull << 30)

lsuv_status lsuv_k_fill_normal(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t n, uint64_t seed,
                               uint64_t offset)
{
    if (!buf || !buf->address)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "fill_normal: no buffer");
    if (n > buf->size / sizeof(float))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "fill_normal: %llu floats do not fit in a buffer of %llu bytes",
                         (unsigned long long)n, (unsigned long long)buf->size);
    if (n > UINT64_MAX - offset)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "fill_normal: offset %llu + %llu values overflows the 64-bit counter",
                         (unsigned long long)offset, (unsigned long long)n);
    /* CPU devices: blocks of 4 values stored as texels where they line up with y's
     * (fill_normal.comp, TEXEL), in chunks of whole texels that fit a view */
    uint64_t span = lsuv_texel_span(ctx, LSUV_TEXEL_RGBA32F) * 4, step = FILL_CHUNK;
    int texel = ctx->info.type == LSUV_DEVICE_CPU && offset % 4 == 0 && n % 4 == 0 &&
                lsuv_texel_fits(ctx, buf, LSUV_TEXEL_RGBA32F, 1);
    if (texel && span < step)
        step = span;
    for (uint64_t done = 0; done < n; done += step) {
        uint64_t count = n - done < step ? n - done : step;
        uint64_t g0 = offset + done, addr = buf->address + done * sizeof(float);
        uint64_t block0 = g0 / 4, lane0 = g0 % 4;
        uint64_t blocks = (lane0 + count + 3) / 4;
        /* as fill_normal.comp's block; the seed and counter are 64-bit (lo, hi) pairs */
        struct { uint32_t y[2], seed[2], block0[2], lane0, n, nblocks, y0; } push = {0};
        LSUV_PUSH_FITS(push);
        lsuv_push_address(push.y, addr);
        lsuv_push_address(push.seed, seed);
        lsuv_push_address(push.block0, block0);
        push.lane0 = (uint32_t)lane0;
        push.n = (uint32_t)count;
        push.nblocks = (uint32_t)blocks;
        uint32_t groups = lsuv_groups(ctx, blocks, 256);
        lsuv_status st;
        if (texel) {
            lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
            lsuv_buffer part = lsuv_buffer_slice(buf, done * sizeof(float), count * sizeof(float));
            uint32_t on = 1;
            st = lsuv_texel_ref_get(ctx, &part, LSUV_TEXEL_RGBA32F, count / 4, &refs[0]);
            push.y0 = refs[0].first;
            if (st == LSUV_OK)
                st = lsuv_texel_dispatch(ctx, LSUV_SHADER_FILL_NORMAL, &on, 1, refs, &push, sizeof push,
                                         groups < 64 ? groups : 64, 1, 1);
        } else
            st = lsuv_dispatch(ctx, LSUV_SHADER_FILL_NORMAL, NULL, 0, &push, sizeof push, groups, 1, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}
