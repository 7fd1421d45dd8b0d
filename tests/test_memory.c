/* test_memory.c - sub-allocation, copies, out-of-memory recovery, dispatch basics. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* y = a + b through the add kernel, checked exactly. */
static void run_add(lsuv_context *ctx, size_t n)
{
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)(i % 1000);
        b[i] = 0.5f;
    }
    lsuv_buffer ba = test_upload(ctx, a, n), bb = test_upload(ctx, b, n), by = test_alloc_poisoned(ctx, n);
    struct { uint32_t a[2], b[2], y[2], count; } push = {.count = (uint32_t)n};
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.a, ba.address);
    lsuv_push_address(push.b, bb.address);
    lsuv_push_address(push.y, by.address);
    cr_assert_eq(lsuv_dispatch(ctx, LSUV_SHADER_ADD, NULL, 0, &push, sizeof push, lsuv_groups(ctx, n, 256), 1, 1),
                 LSUV_OK, "%s", lsuv_context_last_error(ctx));
    float *y = test_download(ctx, &by, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(y[i], a[i] + 0.5f, "y[%zu] = %g", i, y[i]);
    free(y);
    free(a);
    free(b);
    lsuv_buffer_free(ctx, &ba);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
}

Test(memory, dispatch_add_odd_size) { lsuv_context *ctx = test_context(); run_add(ctx, 1001); lsuv_context_destroy(ctx); }

Test(memory, too_large_allocation_fails_cleanly_and_context_stays_usable)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer huge;
    uint64_t too_much = lsuv_context_device(ctx)->device_local_bytes * 4 + (1ull << 30);
    lsuv_status st = lsuv_buffer_alloc(ctx, too_much, &huge);
    cr_assert_eq(st, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "got %s", lsuv_status_string(st));
    cr_assert(strstr(lsuv_context_last_error(ctx), "bytes") != NULL, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(huge.address, 0);
    run_add(ctx, 70001); /* useful work afterwards */
    lsuv_context_destroy(ctx);
}

Test(memory, free_list_reuses_and_coalesces)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer b[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(lsuv_buffer_alloc(ctx, 1000 + 17 * i, &b[i]), LSUV_OK);
    uint64_t first = b[0].address;
    for (int i = 0; i < 8; i += 2)
        lsuv_buffer_free(ctx, &b[i]);
    for (int i = 1; i < 8; i += 2)
        lsuv_buffer_free(ctx, &b[i]);
    cr_assert_eq(ctx->bytes_in_use, 0);
    lsuv_buffer big;
    cr_assert_eq(lsuv_buffer_alloc(ctx, 8 * 1200, &big), LSUV_OK);
    cr_assert_eq(big.address, first, "coalesced space should be reused from the start");
    lsuv_buffer_free(ctx, &big);
    lsuv_context_destroy(ctx);
}

Test(memory, upload_download_roundtrip_large)
{
    lsuv_context *ctx = test_context();
    size_t n = (40u << 20) / 4 + 3; /* over the 32 MiB staging size */
    float *x = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    lsuv_buffer b = test_upload(ctx, x, n);
    float *y = test_download(ctx, &b, n);
    cr_assert_eq(memcmp(x, y, n * 4), 0);
    cr_assert_eq(lsuv_buffer_download(ctx, &b, 8, y, n * 4), LSUV_ERROR_INVALID_ARGUMENT);
    free(x);
    free(y);
    lsuv_context_destroy(ctx);
}

/* The staging path (device memory that is not host-visible, as on discrete GPUs). */
Test(memory, staging_path_roundtrip_and_dispatch)
{
    lsuv_context *ctx = test_context();
    ctx->force_staging = 1;
    size_t n = (70u << 20) / 4 + 5; /* two staging chunks and a bit */
    float *x = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(i % 77777) - 3.5f;
    lsuv_buffer b = test_upload(ctx, x, n);
    cr_assert_null(ctx->blocks[b.block].host, "the block must not be mapped");
    float *y = test_download(ctx, &b, n);
    cr_assert_eq(memcmp(x, y, n * 4), 0);
    float part[3];
    cr_assert_eq(lsuv_buffer_download(ctx, &b, 4ull * (n - 3), part, sizeof part), LSUV_OK);
    cr_assert(part[0] == x[n - 3] && part[2] == x[n - 1]);
    lsuv_buffer_free(ctx, &b);
    free(x);
    free(y);
    run_add(ctx, 3001);
    lsuv_context_destroy(ctx);
}

/* A failed vkBindBufferMemory or vkMapMemory is reported as what failed, whichever buffer
 * it was for (the message once chose "mapping"/"binding" by the buffer's kind). The
 * driver's functions are replaced in the context's table to fail on purpose. */
static VkResult VKAPI_PTR failing_bind(VkDevice d, VkBuffer b, VkDeviceMemory m, VkDeviceSize o)
{
    (void)d, (void)b, (void)m, (void)o;
    return VK_ERROR_OUT_OF_DEVICE_MEMORY;
}

static VkResult VKAPI_PTR failing_map(VkDevice d, VkDeviceMemory m, VkDeviceSize o, VkDeviceSize s,
                                      VkMemoryMapFlags f, void **p)
{
    (void)d, (void)m, (void)o, (void)s, (void)f;
    *p = NULL;
    return VK_ERROR_MEMORY_MAP_FAILED;
}

static void expect_failure(lsuv_context *ctx, int staging, const char *call, const char *wrong)
{
    lsuv_buffer b;
    lsuv_status st = staging ? lsuv_staging_ensure(ctx) : lsuv_buffer_alloc(ctx, 1000, &b);
    const char *msg = lsuv_context_last_error(ctx);
    cr_assert_neq(st, LSUV_OK, "the injected %s failure was not reported", call);
    cr_assert(strstr(msg, call) && !strstr(msg, wrong), "%s failed; message: %s", call, msg);
    cr_assert(strstr(msg, staging ? "staging" : "device memory block"), "message: %s", msg);
}

Test(memory, failed_bind_or_map_is_named_by_the_call_that_failed)
{
    lsuv_context *ctx = test_context();
    PFN_vkBindBufferMemory bind = ctx->vk.vkBindBufferMemory;
    PFN_vkMapMemory map = ctx->vk.vkMapMemory;
    /* lavapipe's device memory is host-visible and coherent: blocks are mapped. */
    ctx->vk.vkMapMemory = failing_map;
    expect_failure(ctx, 0, "vkMapMemory", "bind");
    ctx->vk.vkMapMemory = map;
    ctx->vk.vkBindBufferMemory = failing_bind;
    expect_failure(ctx, 1, "vkBindBufferMemory", "mapping");
    expect_failure(ctx, 0, "vkBindBufferMemory", "mapping");
    ctx->vk.vkBindBufferMemory = bind;
    cr_assert_null(ctx->staging, "a failed staging buffer must not be kept");
    cr_assert_eq(ctx->block_count, 0, "a failed block must not be kept");
    run_add(ctx, 777); /* the context stays usable */
    lsuv_context_destroy(ctx);
}
