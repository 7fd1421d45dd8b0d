/* moments.c - host side of the moments kernels (shaders/moments_*.comp, welford.glsl):
 * mean and population variance per channel of an NCHW tensor (or of a whole tensor). */
#include <stdlib.h>

#include "kernels/kernels.h"

/* Work sizing: enough values per workgroup to amortize its reduction, few enough
 * workgroups that the partials stay small and the merge is one short pass. */
#define MOMENTS_VALUES_PER_GROUP 8192u
#define MOMENTS_ROWS_PER_GROUP 32u
#define MOMENTS_MAX_ITEMS 4096u
#define MOMENTS_COLUMNS_BELOW 32u /* spatial < this: one invocation per column */

static uint32_t ceil_div(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

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
    if (S >= MOMENTS_COLUMNS_BELOW) {
        mode = 0;
        uint32_t cap = C >= MOMENTS_MAX_ITEMS ? 1 : MOMENTS_MAX_ITEMS / C;
        parts = ceil_div(N, MOMENTS_VALUES_PER_GROUP);
        parts = parts < cap ? parts : cap;
        len = ceil_div(N, parts);
        if (C == 1 && x->address % 16 == 0) { /* contiguous and aligned: vec4 loads */
            mode = 2;
            len = (len + 3) & ~3u;
        }
        parts = ceil_div(N, len);
        items = C * parts;
    } else {
        mode = 1;
        gpc = 256 / S;
        uint32_t groups = ceil_div(C, gpc);
        uint32_t cap = groups >= MOMENTS_MAX_ITEMS ? 1 : MOMENTS_MAX_ITEMS / groups;
        parts = ceil_div(B, MOMENTS_ROWS_PER_GROUP);
        parts = parts < cap ? parts : cap;
        len = ceil_div(B, parts);
        parts = ceil_div(B, len);
        items = groups * parts;
    }
    int direct = parts == 1;
    lsuv_buffer partials = *out;
    if (!direct) {
        lsuv_status st = lsuv_scratch(ctx, (uint64_t)C * parts * 12, &partials);
        if (st != LSUV_OK)
            return st;
    }
    uint32_t push[16];
    lsuv_push_address(push, x->address);
    lsuv_push_address(push + 2, partials.address);
    push[4] = B;
    push[5] = C;
    push[6] = S;
    push[7] = N;
    push[8] = C * S;
    push[9] = parts;
    push[10] = len;
    push[11] = items;
    push[12] = 256 / S;
    push[13] = 256 % S;
    push[14] = gpc;
    push[15] = (uint32_t)direct;
    /* Subgroup shuffles when the device has them in compute shaders; else shared memory. */
    uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    lsuv_shader_id partial = (ctx->info.subgroup_operations & need) == need ? LSUV_SHADER_MOMENTS_PARTIAL_SG
                                                                         : LSUV_SHADER_MOMENTS_PARTIAL;
    lsuv_status st =
        lsuv_dispatch(ctx, partial, &mode, 1, push, sizeof push, lsuv_groups(ctx, items, 1), 1, 1);
    if (st != LSUV_OK || direct)
        return st;

    uint32_t lanes = 1;
    while (lanes < parts && lanes < 256)
        lanes *= 2;
    uint32_t blocks = ceil_div(C, 256 / lanes);
    uint32_t mpush[11];
    lsuv_push_address(mpush, partials.address);
    lsuv_push_address(mpush + 2, x->address);
    lsuv_push_address(mpush + 4, out->address);
    mpush[6] = C;
    mpush[7] = parts;
    mpush[8] = S;
    mpush[9] = lanes;
    mpush[10] = blocks;
    return lsuv_dispatch(ctx, LSUV_SHADER_MOMENTS_MERGE, NULL, 0, mpush, sizeof mpush, lsuv_groups(ctx, blocks, 1), 1,
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
