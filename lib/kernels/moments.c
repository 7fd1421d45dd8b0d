/* moments.c - host side of the moments kernels (shaders/moments_*.comp, welford.glsl):
 * mean and population variance per channel of an NCHW tensor (or of a whole tensor). */
#include <stdlib.h>

#include "common/util.h"
#include "kernels/kernels.h"

/* Work sizing: enough values per workgroup to amortize its reduction, few enough
 * workgroups that the partials stay small and the merge is one short pass. */
#define MOMENTS_VALUES_PER_GROUP 8192u
#define MOMENTS_ROWS_PER_GROUP 32u
#define MOMENTS_MAX_ITEMS 4096u
#define MOMENTS_COLUMNS_BELOW 32u /* spatial < this: one invocation per column */
#define MOMENTS_TEXEL_ITEMS 512u  /* MODE 3 (CPU devices): items (invocations) aimed for */
#define MOMENTS_TEXEL_RUN 256u    /* and texels per item at least */

lsuv_status lsuv_k_moments(lsuv_context *ctx, const lsuv_buffer *x, uint32_t batch, uint32_t channels,
                           uint64_t spatial, const lsuv_buffer *out)
{
    if (!x || !x->address || !out || !out->address)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "moments: missing input or output buffer");
    if (batch == 0 || channels == 0 || spatial == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "moments: empty tensor (%u x %u x %llu)", batch,
                         channels, (unsigned long long)spatial);
    /* Shaders index with 32-bit ints: at most 2^31 values. */
    uint64_t total = (uint64_t)batch * channels;
    if (spatial > (1ull << 31) || total > (1ull << 31) || total * spatial > (1ull << 31))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "moments: %u x %u x %llu values exceed the 2^31 supported", batch, channels,
                         (unsigned long long)spatial);
    total *= spatial;
    if (x->size < total * sizeof(float))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "moments: input of %llu bytes holds fewer than %llu floats",
                         (unsigned long long)x->size, (unsigned long long)total);
    if (out->size < 2ull * channels * sizeof(float))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "moments: output of %llu bytes is too small for %u channels (needs %llu)",
                         (unsigned long long)out->size, channels, 2ull * channels * sizeof(float));

    uint32_t S = (uint32_t)spatial, B = batch, C = channels;
    if (C == 1) { /* one channel is contiguous: one run of batch * spatial values */
        S = (uint32_t)total;
        B = 1;
    }
    uint32_t N = (uint32_t)((uint64_t)B * S), mode, parts, len, items, gpc = 0;
    /* CPU devices read rows of whole texels through a texel view (MODE 3; len and N in
     * texels then) */
    int cpu = ctx->info.type == LSUV_DEVICE_CPU;
    int texels = cpu && S % 4 == 0 && lsuv_texel_fits(ctx, x, LSUV_TEXEL_RGBA32F, total / 4);
    /* other rows (dense layers, 7x7 maps) float by float through an r32f view (MODE 4) */
    int floats = cpu && !texels && lsuv_texel_fits(ctx, x, LSUV_TEXEL_R32F, total);
    if (texels || floats) { /* an item per invocation: enough for a few per core, long runs */
        mode = texels ? 3 : 4;
        if (texels)
            N /= 4;
        parts = lsuv_ceil_div(MOMENTS_TEXEL_ITEMS, C);
        uint32_t most = N / MOMENTS_TEXEL_RUN ? N / MOMENTS_TEXEL_RUN : 1;
        parts = parts < most ? parts : most;
        len = lsuv_ceil_div(N, parts);
        parts = lsuv_ceil_div(N, len);
        items = C * parts;
    } else if (S >= MOMENTS_COLUMNS_BELOW) {
        mode = 0;
        uint32_t cap = C >= MOMENTS_MAX_ITEMS ? 1 : MOMENTS_MAX_ITEMS / C;
        parts = lsuv_ceil_div(N, MOMENTS_VALUES_PER_GROUP);
        parts = parts < cap ? parts : cap;
        len = lsuv_ceil_div(N, parts);
        if (C == 1 && x->address % 16 == 0) { /* contiguous and aligned: vec4 loads */
            mode = 2;
            len = (len + 3) & ~3u;
        }
        parts = lsuv_ceil_div(N, len);
        items = C * parts;
    } else {
        mode = 1;
        gpc = 256 / S;
        uint32_t groups = lsuv_ceil_div(C, gpc);
        uint32_t cap = groups >= MOMENTS_MAX_ITEMS ? 1 : MOMENTS_MAX_ITEMS / groups;
        parts = lsuv_ceil_div(B, MOMENTS_ROWS_PER_GROUP);
        parts = parts < cap ? parts : cap;
        len = lsuv_ceil_div(B, parts);
        parts = lsuv_ceil_div(B, len);
        items = groups * parts;
    }
    int direct = parts == 1;
    lsuv_buffer partials = *out;
    if (!direct) {
        lsuv_status st = lsuv_scratch(ctx, (uint64_t)C * parts * 12, &partials);
        if (st != LSUV_OK)
            return st;
    }
    struct { /* as moments_partial.comp's block */
        uint32_t x[2], part[2];
        uint32_t batch, channels, spatial, per_channel, rowstride;
        uint32_t parts, len, items, q256, r256, gpc, direct;
        uint32_t x0;
    } push = {.batch = B, .channels = C, .spatial = S, .per_channel = N, .rowstride = C * S,
              .parts = parts, .len = len, .items = items, .q256 = 256 / S, .r256 = 256 % S,
              .gpc = gpc, .direct = (uint32_t)direct};
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.x, x->address);
    lsuv_push_address(push.part, partials.address);
    /* Subgroup shuffles when the device has them in compute shaders; else shared memory. */
    uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    lsuv_shader_id partial = (ctx->info.subgroup_operations & need) == need ? LSUV_SHADER_MOMENTS_PARTIAL_SG
                                                                         : LSUV_SHADER_MOMENTS_PARTIAL;
    lsuv_dispatch_work(ctx, 0, (double)total * 4); /* bench --profile: bytes read */
    lsuv_status st;
    if (texels || floats) { /* MODE 3 reads binding 0 (rgba32f), MODE 4 binding 1 (r32f) */
        lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
        int b = texels ? 0 : 1;
        st = lsuv_texel_ref_get(ctx, x, texels ? LSUV_TEXEL_RGBA32F : LSUV_TEXEL_R32F, texels ? total / 4 : total,
                                &refs[b]);
        push.x0 = refs[b].first;
        if (st == LSUV_OK)
            st = lsuv_texel_dispatch(ctx, partial, &mode, 1, refs, &push, sizeof push,
                                     lsuv_groups(ctx, items, 256), 1, 1); /* 256: the shader's WF_SIZE */
    } else {
        st = lsuv_dispatch(ctx, partial, &mode, 1, &push, sizeof push, lsuv_groups(ctx, items, 1), 1, 1);
    }
    if (st != LSUV_OK || direct)
        return st;

    uint32_t lanes = 1;
    while (lanes < parts && lanes < 256)
        lanes *= 2;
    uint32_t blocks = lsuv_ceil_div(C, 256 / lanes);
    struct { /* as moments_merge.comp's block */
        uint32_t part[2], x[2], out[2];
        uint32_t channels, parts, spatial, lanes, blocks;
    } mpush = {.channels = C, .parts = parts, .spatial = S, .lanes = lanes, .blocks = blocks};
    LSUV_PUSH_FITS(mpush);
    lsuv_push_address(mpush.part, partials.address);
    lsuv_push_address(mpush.x, x->address);
    lsuv_push_address(mpush.out, out->address);
    return lsuv_dispatch(ctx, LSUV_SHADER_MOMENTS_MERGE, NULL, 0, &mpush, sizeof mpush, lsuv_groups(ctx, blocks, 1), 1,
                         1);
}

lsuv_status lsuv_moments_now(lsuv_context *ctx, const lsuv_buffer *x, uint32_t batch, uint32_t channels,
                             uint64_t spatial, double *mean, double *var)
{
    if (!mean || !var)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "moments: no mean/variance arrays");
    if (channels == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "moments: zero channels");
    lsuv_buffer out;
    lsuv_status st = lsuv_scratch(ctx, 2ull * channels * sizeof(float), &out);
    if (st == LSUV_OK)
        st = lsuv_k_moments(ctx, x, batch, channels, spatial, &out);
    if (st != LSUV_OK)
        return st;
    float *host = malloc(2ull * channels * sizeof *host);
    if (!host)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "moments: out of host memory");
    /* Submits the recorded work, then copies; the scratch range is not reused meanwhile. */
    st = lsuv_buffer_download(ctx, &out, 0, host, 2ull * channels * sizeof *host);
    for (uint32_t c = 0; st == LSUV_OK && c < channels; c++) {
        mean[c] = host[2 * c];
        var[c] = host[2 * c + 1];
    }
    free(host);
    return st;
}
