/* test_context.c - loader, device choice, errors, the exported-symbol rule. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

Test(context, creates_on_lavapipe_and_reports_device_facts)
{
    lsuv_context *ctx = test_context();
    const lsuv_device_info *d = lsuv_context_device(ctx);
    cr_assert(d->subgroup_size >= 1, "subgroup size %u", d->subgroup_size);
    cr_assert(d->max_storage_buffer_range > 0);
    cr_assert(d->max_shared_memory >= 16384);
    cr_assert(d->buffer_device_address);
    cr_assert_str_eq(lsuv_context_last_error(ctx), "");
    lsuv_context_destroy(ctx);
}

Test(context, two_contexts_are_independent)
{
    lsuv_context *a = test_context(), *b = test_context();
    lsuv_buffer ba, bb;
    cr_assert_eq(lsuv_buffer_alloc(a, 1024, &ba), LSUV_OK);
    cr_assert_eq(lsuv_buffer_alloc(b, 1024, &bb), LSUV_OK);
    float x[256], y[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)i;
    cr_assert_eq(lsuv_buffer_upload(a, &ba, 0, x, sizeof x), LSUV_OK);
    cr_assert_eq(lsuv_buffer_upload(b, &bb, 0, y, 0), LSUV_OK);
    lsuv_context_destroy(b);
    cr_assert_eq(lsuv_buffer_download(a, &ba, 0, y, sizeof y), LSUV_OK);
    cr_assert_eq(memcmp(x, y, sizeof x), 0);
    lsuv_context_destroy(a);
}

Test(context, missing_driver_gives_no_device)
{
    setenv("VK_DRIVER_FILES", "/nonexistent/lsuv-test-icd.json", 1);
    setenv("VK_ICD_FILENAMES", "/nonexistent/lsuv-test-icd.json", 1);
    lsuv_context *ctx = (lsuv_context *)1;
    char err[512] = "";
    lsuv_status st = lsuv_context_create(NULL, &ctx, err, sizeof err);
    cr_assert_eq(st, LSUV_ERROR_NO_DEVICE, "got %s: %s", lsuv_status_string(st), err);
    cr_assert_null(ctx);
    cr_assert(strstr(err, "install") != NULL, "message should say what to install: %s", err);
    int count = 0;
    cr_assert_eq(lsuv_enumerate_devices(NULL, &count, err, sizeof err), LSUV_ERROR_NO_DEVICE);
    cr_assert_eq(count, 0);
}

Test(context, missing_loader_gives_no_loader)
{
    setenv("LSUV_VULKAN_LIBRARY", "/nonexistent/libvulkan-missing.so.1", 1);
    lsuv_context *ctx = (lsuv_context *)1;
    char err[512] = "";
    lsuv_status st = lsuv_context_create(NULL, &ctx, err, sizeof err);
    cr_assert_eq(st, LSUV_ERROR_NO_LOADER, "got %s: %s", lsuv_status_string(st), err);
    cr_assert_null(ctx);
    cr_assert(strstr(err, "libvulkan1") && strstr(err, "libvulkan-missing"), "%s", err);
    int count = 0;
    cr_assert_eq(lsuv_enumerate_devices(NULL, &count, err, sizeof err), LSUV_ERROR_NO_LOADER);
    cr_assert_eq(count, 0);
    unsetenv("LSUV_VULKAN_LIBRARY");
    cr_assert_eq(lsuv_context_create(NULL, &ctx, err, sizeof err), LSUV_OK, "%s", err);
    lsuv_context_destroy(ctx);
}

Test(context, bad_device_choice_is_refused_with_message)
{
    lsuv_context_options o;
    lsuv_context_options_init(&o);
    o.device_name = "no-such-gpu-xyz";
    lsuv_context *ctx = NULL;
    char err[512] = "";
    cr_assert_eq(lsuv_context_create(&o, &ctx, err, sizeof err), LSUV_ERROR_NO_DEVICE);
    cr_assert(strstr(err, "no-such-gpu-xyz"), "%s", err);
    lsuv_context_options_init(&o);
    o.device_index = 999;
    cr_assert_eq(lsuv_context_create(&o, &ctx, err, sizeof err), LSUV_ERROR_NO_DEVICE);
    cr_assert(strstr(err, "999"), "%s", err);
    setenv("LSUV_DEVICE", "llvmpipe", 1);
    cr_assert_eq(lsuv_context_create(NULL, &ctx, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert(strstr(lsuv_context_device(ctx)->name, "llvmpipe"));
    lsuv_context_destroy(ctx);
}

Test(context, status_strings_name_every_status)
{
    for (int s = LSUV_OK; s <= LSUV_ERROR_BAD_DATA; s++)
        cr_assert(strncmp(lsuv_status_string((lsuv_status)s), "LSUV_", 5) == 0);
    cr_assert_str_eq(lsuv_status_string(LSUV_ERROR_NO_DEVICE), "LSUV_ERROR_NO_DEVICE");
    cr_assert_str_eq(lsuv_status_string((lsuv_status)999), "LSUV_ERROR_UNKNOWN");
    cr_assert_eq(lsuv_version_number(), LSUV_VERSION_NUMBER);
    cr_assert_str_eq(lsuv_version_string(), LSUV_VERSION_STRING);
}

/* The variables that force kernel variants are read once, when the context is created:
 * later changes do not reach a live context, and unknown values choose by the device. */
Test(context, tuning_variables_are_read_at_creation)
{
    setenv("LSUV_GEMM_KERNEL", "direct", 1);
    setenv("LSUV_GEMM_MAX_GROUPS", "3", 1);
    setenv("LSUV_MGS_KERNEL", "gpu", 1);
    lsuv_context *ctx = test_context();
    setenv("LSUV_GEMM_KERNEL", "fastest", 1);
    setenv("LSUV_GEMM_MAX_GROUPS", "12x", 1);
    setenv("LSUV_MGS_KERNEL", "cpu", 1);
    cr_assert_eq(ctx->tuning.gemm_kernel, LSUV_GEMM_DIRECT);
    cr_assert_eq(ctx->tuning.gemm_max_groups, 3);
    cr_assert_eq(ctx->tuning.mgs_kernel, LSUV_MGS_GPU);
    lsuv_context *later = test_context();
    cr_assert_eq(later->tuning.gemm_kernel, LSUV_GEMM_AUTO, "unknown kernel name");
    cr_assert_eq(later->tuning.gemm_max_groups, 0, "'12x' is not a number");
    cr_assert_eq(later->tuning.mgs_kernel, LSUV_MGS_CPU);
    lsuv_context_destroy(later);
    setenv("LSUV_MGS_KERNEL", "texel", 1);
    later = test_context();
    cr_assert_eq(later->tuning.mgs_kernel, LSUV_MGS_TEXEL);
    lsuv_context_destroy(later);
    unsetenv("LSUV_GEMM_KERNEL");
    setenv("LSUV_GEMM_MAX_GROUPS", "0", 1);
    unsetenv("LSUV_MGS_KERNEL");
    later = test_context();
    cr_assert_eq(later->tuning.gemm_kernel, LSUV_GEMM_AUTO);
    cr_assert_eq(later->tuning.gemm_max_groups, 0, "0 means no cap");
    cr_assert_eq(later->tuning.mgs_kernel, LSUV_MGS_AUTO);
    lsuv_context_destroy(later);
    cr_assert_eq(ctx->tuning.gemm_kernel, LSUV_GEMM_DIRECT);
    lsuv_context_destroy(ctx);
}

/* ---- a driver without functions the library never calls still loads */

static PFN_vkGetInstanceProcAddr real_instance_proc;
static PFN_vkGetDeviceProcAddr real_device_proc;
static const char *hidden_function; /* the one the fake driver lacks */

static PFN_vkVoidFunction VKAPI_PTR hiding_instance_proc(VkInstance instance, const char *name)
{
    return strcmp(name, hidden_function) == 0 ? NULL : real_instance_proc(instance, name);
}

static PFN_vkVoidFunction VKAPI_PTR hiding_device_proc(VkDevice device, const char *name)
{
    return strcmp(name, hidden_function) == 0 ? NULL : real_device_proc(device, name);
}

/* The name of the first function the loader reports missing when the driver hides name. */
static const char *missing_without(lsuv_context *ctx, const char *name)
{
    hidden_function = name;
    lsuv_vk_loader loader = ctx->loader;
    real_instance_proc = loader.vkGetInstanceProcAddr;
    loader.vkGetInstanceProcAddr = hiding_instance_proc;
    lsuv_vk_instance_table itable;
    const char *missing = lsuv_vk_load_instance(&loader, ctx->instance, &itable);
    if (missing)
        return missing;
    real_device_proc = itable.vkGetDeviceProcAddr;
    itable.vkGetDeviceProcAddr = hiding_device_proc;
    lsuv_vk_device_table dtable;
    return lsuv_vk_load_device(&itable, ctx->device, &dtable);
}

Test(context, loader_requires_only_functions_it_calls)
{
    lsuv_context *ctx = test_context();
    /* Never called (device facts come from vkGetPhysicalDeviceProperties2; freeing memory
     * unmaps it): a driver without them must not fail context creation. */
    static const char *unused[] = {"vkGetPhysicalDeviceProperties", "vkUnmapMemory"};
    for (size_t i = 0; i < sizeof unused / sizeof unused[0]; i++) {
        const char *missing = missing_without(ctx, unused[i]);
        cr_assert_null(missing, "without %s the loader fails on %s", unused[i], missing);
    }
    /* The check has teeth: functions we do call are required. */
    static const char *used[] = {"vkGetPhysicalDeviceProperties2", "vkCreateBuffer", "vkMapMemory"};
    for (size_t i = 0; i < sizeof used / sizeof used[0]; i++) {
        const char *missing = missing_without(ctx, used[i]);
        cr_assert(missing && strcmp(missing, used[i]) == 0, "without %s: %s", used[i],
                  missing ? missing : "loaded");
    }
    lsuv_context_destroy(ctx);
}

/* ---- every queue family is considered, not only the first 16 */

static uint32_t fake_family_count, fake_compute_family;

static void VKAPI_PTR fake_queue_families(VkPhysicalDevice pd, uint32_t *count, VkQueueFamilyProperties *props)
{
    (void)pd;
    if (!props) {
        *count = fake_family_count;
        return;
    }
    uint32_t n = *count < fake_family_count ? *count : fake_family_count;
    for (uint32_t i = 0; i < n; i++)
        props[i] = (VkQueueFamilyProperties){
            .queueFlags = i == fake_compute_family ? VK_QUEUE_COMPUTE_BIT : VK_QUEUE_TRANSFER_BIT,
            .queueCount = 1, .timestampValidBits = i == fake_compute_family ? 64 : 0};
    *count = n;
}

Test(context, compute_queue_found_past_16_families)
{
    lsuv_context *ctx = test_context();
    uint32_t real_family = ctx->queue_family;
    ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties = fake_queue_families;
    uint32_t family = 999;
    int timestamps = 0;
    fake_family_count = 40;
    fake_compute_family = 37;
    cr_assert_eq(lsuv_choose_queue_family(ctx, &family, &timestamps), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(family, 37);
    cr_assert(timestamps);
    fake_compute_family = 40; /* none has compute */
    cr_assert_eq(lsuv_choose_queue_family(ctx, &family, &timestamps), LSUV_ERROR_UNSUPPORTED);
    cr_assert(strstr(lsuv_context_last_error(ctx), "no compute queue (40 queue families)"), "%s",
              lsuv_context_last_error(ctx));
    cr_assert_eq(ctx->queue_family, real_family, "choosing does not change the live context");
    lsuv_context_destroy(ctx);
}

/* The public option structs end in reserved space (ABI room before 1.0) that their
 * *_init() functions zero, whatever the memory held before. */
#define EXPECT_RESERVED_ZERO(s)                                                                 \
    do {                                                                                        \
        cr_assert_eq(sizeof((s).reserved), 64, "reserved space changed size: the ABI moved");   \
        for (size_t i = 0; i < sizeof((s).reserved) / sizeof((s).reserved[0]); i++)             \
            cr_assert_eq((s).reserved[i], 0, #s ".reserved[%zu] not zeroed by its init", i);    \
    } while (0)

Test(context, option_structs_reserve_zeroed_space)
{
    lsuv_context_options co;
    lsuv_conv2d_desc cd;
    lsuv_options o;
    memset(&co, 0xa5, sizeof co);
    memset(&cd, 0xa5, sizeof cd);
    memset(&o, 0xa5, sizeof o);
    lsuv_context_options_init(&co);
    lsuv_conv2d_desc_init(&cd, 8, 3);
    lsuv_options_init(&o);
    EXPECT_RESERVED_ZERO(co);
    EXPECT_RESERVED_ZERO(cd);
    EXPECT_RESERVED_ZERO(o);
    /* at the end, so fields added from it keep the offsets of the fields before */
    cr_assert_eq(offsetof(lsuv_context_options, reserved) + 64, sizeof co);
    cr_assert_eq(offsetof(lsuv_conv2d_desc, reserved) + 64, sizeof cd);
    cr_assert_eq(offsetof(lsuv_options, reserved) + 64, sizeof o);
}
