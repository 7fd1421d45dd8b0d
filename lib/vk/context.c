/* context.c - instance, device choice, device facts, context lifetime. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/context.h"

/* ------------------------------------------------------------ devices */

void lsuv_context_options_init(lsuv_context_options *o)
{
    memset(o, 0, sizeof *o);
    o->device_index = -1;
}

static int has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ext[i].extensionName, name) == 0)
            return 1;
    return 0;
}

/* Reads what the kernels need to know of a physical device. */
static void read_device_info(const lsuv_vk_instance_table *vki, VkPhysicalDevice pd, lsuv_device_info *info)
{
    memset(info, 0, sizeof *info);
    VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                              .pNext = &driver};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &sub};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vki->vkGetPhysicalDeviceProperties2(pd, &props);
    const VkPhysicalDeviceLimits *l = &props.properties.limits;
    snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
    snprintf(info->driver, sizeof info->driver, "%.127s %.120s", driver.driverName, driver.driverInfo);
    switch (props.properties.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->type = LSUV_DEVICE_DISCRETE_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->type = LSUV_DEVICE_INTEGRATED_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info->type = LSUV_DEVICE_VIRTUAL_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: info->type = LSUV_DEVICE_CPU; break;
    default: info->type = LSUV_DEVICE_OTHER; break;
    }
    info->vendor_id = props.properties.vendorID;
    info->device_id = props.properties.deviceID;
    info->api_version = props.properties.apiVersion;
    info->subgroup_size = sub.subgroupSize;
    info->subgroup_operations = sub.supportedOperations;
    if (!(sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT))
        info->subgroup_operations = 0;
    info->max_shared_memory = l->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = l->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        info->max_workgroup_size[i] = l->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = l->maxComputeWorkGroupCount[i];
    }
    info->max_storage_buffer_range = l->maxStorageBufferRange;
    info->max_allocation_size = m3.maxMemoryAllocationSize;
    info->timestamp_period_ns = l->timestampComputeAndGraphics ? l->timestampPeriod : 0;

    VkPhysicalDeviceMemoryProperties mp;
    vki->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    info->heap_count = mp.memoryHeapCount;
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mp.memoryHeaps[i].size > info->device_local_bytes)
            info->device_local_bytes = mp.memoryHeaps[i].size;

    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    if (props.properties.apiVersion >= VK_API_VERSION_1_2)
        vki->vkGetPhysicalDeviceFeatures2(pd, &f);
    info->float64 = f.features.shaderFloat64;
    info->int64 = f.features.shaderInt64;
    info->float16 = f12.shaderFloat16;
    info->buffer_device_address = f12.bufferDeviceAddress;

    uint32_t n = 0;
    vki->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL);
    VkExtensionProperties *ext = calloc(n ? n : 1, sizeof *ext);
    if (ext && vki->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, ext) == VK_SUCCESS)
        info->cooperative_matrix = has_extension(ext, n, "VK_NV_cooperative_matrix") ||
                                   has_extension(ext, n, "VK_KHR_cooperative_matrix");
    free(ext);
}

static int type_rank(lsuv_device_type t)
{
    switch (t) {
    case LSUV_DEVICE_DISCRETE_GPU: return 0;
    case LSUV_DEVICE_INTEGRATED_GPU: return 1;
    case LSUV_DEVICE_VIRTUAL_GPU: return 2;
    case LSUV_DEVICE_CPU: return 3;
    default: return 4;
    }
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* Opens the loader and an instance into ctx (only its loader/instance/vki fields). */
static lsuv_status open_instance(lsuv_context *ctx)
{
    if (lsuv_vk_loader_open(&ctx->loader, ctx->error, sizeof ctx->error) != 0)
        return LSUV_ERROR_NO_LOADER;
    uint32_t version = VK_API_VERSION_1_0;
    if (ctx->loader.vkEnumerateInstanceVersion)
        ctx->loader.vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2)
        return lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE,
                         "the Vulkan loader supports API %u.%u; lsuv-vk needs Vulkan 1.2: update libvulkan1",
                         VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "lsuv-vk",
                             .pEngineName = "lsuv-vk", .engineVersion = LSUV_VERSION_NUMBER,
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkResult r = ctx->loader.vkCreateInstance(&ci, NULL, &ctx->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE,
                         "no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER); install "
                         "one, e.g. 'apt-get install mesa-vulkan-drivers' for lavapipe, and check "
                         "VK_DRIVER_FILES / VK_ICD_FILENAMES");
    if (r != VK_SUCCESS) {
        ctx->instance = VK_NULL_HANDLE;
        return lsuv_vk_fail(ctx, r, "vkCreateInstance");
    }
    const char *missing = lsuv_vk_load_instance(&ctx->loader, ctx->instance, &ctx->vki);
    if (missing)
        return lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE, "the Vulkan loader lacks %s", missing);
    return LSUV_OK;
}

static void close_instance(lsuv_context *ctx)
{
    if (ctx->instance && ctx->vki.vkDestroyInstance)
        ctx->vki.vkDestroyInstance(ctx->instance, NULL);
    ctx->instance = VK_NULL_HANDLE;
    lsuv_vk_loader_close(&ctx->loader);
}

static lsuv_status list_physical(lsuv_context *ctx, VkPhysicalDevice **out, uint32_t *count)
{
    *out = NULL;
    *count = 0;
    VkResult r = ctx->vki.vkEnumeratePhysicalDevices(ctx->instance, count, NULL);
    if (r != VK_SUCCESS)
        return lsuv_vk_fail(ctx, r, "vkEnumeratePhysicalDevices");
    if (*count == 0)
        return lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE,
                         "no Vulkan device found; install a driver, e.g. 'apt-get install "
                         "mesa-vulkan-drivers' (lavapipe, a CPU device), and check VK_DRIVER_FILES / "
                         "VK_ICD_FILENAMES");
    *out = calloc(*count, sizeof **out);
    if (!*out)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    r = ctx->vki.vkEnumeratePhysicalDevices(ctx->instance, count, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*out);
        *out = NULL;
        return lsuv_vk_fail(ctx, r, "vkEnumeratePhysicalDevices");
    }
    return LSUV_OK;
}

static void copy_error(char *err, size_t err_size, const char *msg)
{
    if (err && err_size)
        snprintf(err, err_size, "%s", msg);
}

lsuv_status lsuv_enumerate_devices(lsuv_device_info *infos, int *count, char *err, size_t err_size)
{
    if (!count || *count < 0 || (*count > 0 && !infos)) {
        copy_error(err, err_size, "lsuv_enumerate_devices: count must be given and infos hold *count entries");
        return LSUV_ERROR_INVALID_ARGUMENT;
    }
    lsuv_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        copy_error(err, err_size, "out of host memory");
        return LSUV_ERROR_OUT_OF_HOST_MEMORY;
    }
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    lsuv_status st = open_instance(ctx);
    if (st == LSUV_OK)
        st = list_physical(ctx, &pds, &n);
    if (st == LSUV_OK) {
        for (uint32_t i = 0; i < n && (int)i < *count; i++)
            read_device_info(&ctx->vki, pds[i], &infos[i]);
        *count = (int)n;
    } else {
        *count = 0;
        copy_error(err, err_size, ctx->error);
    }
    free(pds);
    close_instance(ctx);
    free(ctx);
    return st;
}

/* Picks the device: explicit index/name, else LSUV_DEVICE, else by type rank. */
static lsuv_status choose_device(lsuv_context *ctx, const lsuv_context_options *o)
{
    VkPhysicalDevice *pds;
    uint32_t n;
    lsuv_status st = list_physical(ctx, &pds, &n);
    if (st != LSUV_OK)
        return st;
    lsuv_device_info *infos = calloc(n, sizeof *infos);
    if (!infos) {
        free(pds);
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < n; i++)
        read_device_info(&ctx->vki, pds[i], &infos[i]);

    int index = o->device_index;
    const char *name = o->device_name;
    const char *env = getenv("LSUV_DEVICE");
    const char *source = "options";
    if (index < 0 && !name && env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0')
            index = (int)v;
        else
            name = env;
        source = "LSUV_DEVICE";
    }
    int chosen = -1;
    if (index >= 0) {
        if ((uint32_t)index >= n)
            st = lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE, "device index %d (from %s) but only %u device(s) exist",
                           index, source, n);
        else
            chosen = index;
    } else if (name) {
        for (uint32_t i = 0; i < n && chosen < 0; i++)
            if (contains_nocase(infos[i].name, name))
                chosen = (int)i;
        if (chosen < 0)
            st = lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE, "no device name contains '%s' (from %s); see 'lsuv-vk devices'",
                           name, source);
    } else {
        for (uint32_t i = 0; i < n; i++)
            if (infos[i].buffer_device_address && infos[i].api_version >= VK_API_VERSION_1_2 &&
                (chosen < 0 || type_rank(infos[i].type) < type_rank(infos[chosen].type)))
                chosen = (int)i;
        if (chosen < 0)
            st = lsuv_fail(ctx, LSUV_ERROR_NO_DEVICE,
                           "no device supports Vulkan 1.2 with bufferDeviceAddress (found %u device(s), "
                           "first: %s)", n, infos[0].name);
    }
    if (chosen >= 0) {
        ctx->physical = pds[chosen];
        ctx->info = infos[chosen];
        if (!ctx->info.buffer_device_address || ctx->info.api_version < VK_API_VERSION_1_2)
            st = lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED,
                           "device %s lacks Vulkan 1.2 bufferDeviceAddress, which lsuv-vk needs", ctx->info.name);
        else if (ctx->info.max_workgroup_invocations < 256)
            st = lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED, "device %s allows only %u invocations per workgroup (256 needed)",
                           ctx->info.name, ctx->info.max_workgroup_invocations);
    }
    free(infos);
    free(pds);
    return st;
}

lsuv_status lsuv_choose_queue_family(lsuv_context *ctx, uint32_t *family, int *timestamps)
{
    uint32_t nq = 0;
    ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &nq, NULL);
    /* All of them: a device may list its compute queue after many others. */
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (!qf)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for %u queue families", nq);
    ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties(ctx->physical, &nq, qf);
    int best = -1;
    for (uint32_t i = 0; i < nq; i++) /* a compute queue, preferring one with timestamps */
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
            (best < 0 || (qf[i].timestampValidBits && !qf[best].timestampValidBits)))
            best = (int)i;
    if (best >= 0) {
        *family = (uint32_t)best;
        *timestamps = qf[best].timestampValidBits != 0;
    }
    free(qf);
    if (best < 0)
        return lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED, "device %s has no compute queue (%u queue families)",
                         ctx->info.name, nq);
    return LSUV_OK;
}

static lsuv_status create_device(lsuv_context *ctx)
{
    int timestamps = 0;
    lsuv_status st = lsuv_choose_queue_family(ctx, &ctx->queue_family, &timestamps);
    if (st != LSUV_OK)
        return st;
    if (!timestamps)
        ctx->info.timestamp_period_ns = 0;

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = ctx->queue_family, .queueCount = 1,
                                  .pQueuePriorities = &priority};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .bufferDeviceAddress = VK_TRUE};
    VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    f.features.shaderFloat64 = ctx->info.float64 ? VK_TRUE : VK_FALSE;
    f.features.shaderInt64 = ctx->info.int64 ? VK_TRUE : VK_FALSE;
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f,
                             .queueCreateInfoCount = 1, .pQueueCreateInfos = &qi};
    VkResult r = ctx->vki.vkCreateDevice(ctx->physical, &di, NULL, &ctx->device);
    if (r != VK_SUCCESS) {
        ctx->device = VK_NULL_HANDLE;
        return lsuv_vk_fail(ctx, r, "vkCreateDevice");
    }
    const char *missing = lsuv_vk_load_device(&ctx->vki, ctx->device, &ctx->vk);
    if (missing)
        return lsuv_fail(ctx, LSUV_ERROR_VULKAN, "device function %s could not be loaded", missing);
    ctx->vk.vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    ctx->vki.vkGetPhysicalDeviceMemoryProperties(ctx->physical, &ctx->memory_properties);
    return LSUV_OK;
}

/* The variables that force kernel variants (see lsuv_tuning), read once per context. */
static lsuv_tuning read_tuning(void)
{
    lsuv_tuning t = {.gemm_kernel = LSUV_GEMM_AUTO, .mgs_kernel = LSUV_MGS_AUTO};
    const char *e = getenv("LSUV_GEMM_KERNEL");
    if (e && strcmp(e, "tiled") == 0)
        t.gemm_kernel = LSUV_GEMM_TILED;
    else if (e && strcmp(e, "subgroup") == 0)
        t.gemm_kernel = LSUV_GEMM_SUBGROUP;
    else if (e && strcmp(e, "direct") == 0)
        t.gemm_kernel = LSUV_GEMM_DIRECT;
    else if (e && strcmp(e, "texel") == 0)
        t.gemm_kernel = LSUV_GEMM_TEXEL;
    e = getenv("LSUV_GEMM_MAX_GROUPS");
    if (e && *e) {
        char *end;
        unsigned long v = strtoul(e, &end, 10);
        if (*end == '\0' && v > 0 && v <= UINT32_MAX)
            t.gemm_max_groups = (uint32_t)v;
    }
    e = getenv("LSUV_MGS_KERNEL");
    if (e && strcmp(e, "gpu") == 0)
        t.mgs_kernel = LSUV_MGS_GPU;
    else if (e && strcmp(e, "cpu") == 0)
        t.mgs_kernel = LSUV_MGS_CPU;
    else if (e && strcmp(e, "texel") == 0)
        t.mgs_kernel = LSUV_MGS_TEXEL;
    return t;
}

lsuv_status lsuv_context_create(const lsuv_context_options *options, lsuv_context **out, char *err,
                                size_t err_size)
{
    if (!out) {
        copy_error(err, err_size, "lsuv_context_create: out is NULL");
        return LSUV_ERROR_INVALID_ARGUMENT;
    }
    *out = NULL;
    lsuv_context_options defaults;
    lsuv_context_options_init(&defaults);
    if (!options)
        options = &defaults;
    lsuv_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        copy_error(err, err_size, "out of host memory");
        return LSUV_ERROR_OUT_OF_HOST_MEMORY;
    }
    ctx->tuning = read_tuning();
    lsuv_status st = open_instance(ctx);
    if (st == LSUV_OK)
        st = choose_device(ctx, options);
    if (st == LSUV_OK)
        st = create_device(ctx);
    if (st == LSUV_OK)
        st = lsuv_commands_create(ctx);
    if (st == LSUV_OK)
        st = lsuv_texel_create(ctx);
    if (st == LSUV_OK)
        st = lsuv_pipelines_create(ctx);
    if (st != LSUV_OK) {
        copy_error(err, err_size, ctx->error);
        lsuv_context_destroy(ctx);
        return st;
    }
    ctx->error[0] = '\0';
    *out = ctx;
    return LSUV_OK;
}

void lsuv_context_destroy(lsuv_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->device) {
        ctx->vk.vkDeviceWaitIdle(ctx->device);
        lsuv_pipelines_destroy(ctx);
        lsuv_commands_destroy(ctx);
        lsuv_texel_destroy(ctx);
        lsuv_memory_destroy(ctx);
        ctx->vk.vkDestroyDevice(ctx->device, NULL);
    }
    close_instance(ctx);
    free(ctx);
}

void lsuv_context_release_memory(lsuv_context *ctx)
{
    if (!ctx || !ctx->device)
        return;
    ctx->vk.vkDeviceWaitIdle(ctx->device);
    lsuv_texel_forget_views(ctx); /* they name the blocks' buffers */
    lsuv_memory_destroy(ctx);
}

const lsuv_device_info *lsuv_context_device(const lsuv_context *ctx) { return ctx ? &ctx->info : NULL; }
const char *lsuv_context_last_error(const lsuv_context *ctx) { return ctx ? ctx->error : ""; }
