/* vk_fault_loader.c - a stand-in Vulkan loader for tests of the command-line tool
 * (tests/check_init_failure.sh): point LSUV_VULKAN_LIBRARY at it and it forwards every
 * call to the real libvulkan.so.1, except that
 *   LSUV_FAULT_SUBMIT=N   makes the N-th vkQueueSubmit and every later one report
 *                         VK_ERROR_DEVICE_LOST (a device lost partway through a run);
 *   LSUV_FAULT_ALLOC=N    makes the N-th vkAllocateMemory and every later one report
 *                         VK_ERROR_OUT_OF_DEVICE_MEMORY.
 * When it is unloaded it prints "vk_fault_loader: S submits, A allocations" on stderr if
 * LSUV_FAULT_COUNT is set (once per dlopen), so a test can aim at the middle of a run. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

static void *real_library;
static PFN_vkGetInstanceProcAddr real_gipa;
static PFN_vkGetDeviceProcAddr real_gdpa;
static PFN_vkQueueSubmit real_submit;
static PFN_vkAllocateMemory real_allocate;
static long submits, allocations;

static long env_long(const char *name)
{
    const char *v = getenv(name);
    return v ? atol(v) : 0;
}

static void report(void)
{
    fprintf(stderr, "vk_fault_loader: %ld submits, %ld allocations\n", submits, allocations);
}

static int load(void)
{
    if (real_gipa)
        return 1;
    real_library = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    void *sym = real_library ? dlsym(real_library, "vkGetInstanceProcAddr") : NULL;
    memcpy(&real_gipa, &sym, sizeof sym);
    if (real_gipa && getenv("LSUV_FAULT_COUNT"))
        atexit(report);
    return real_gipa != NULL;
}

/* Counts a call; true when it must fail (the N-th of LSUV_FAULT_<what> and later). */
static int fails(long *count, const char *env)
{
    long at = env_long(env);
    return ++*count >= at && at > 0;
}

static VKAPI_ATTR VkResult VKAPI_CALL fake_submit(VkQueue q, uint32_t n, const VkSubmitInfo *si, VkFence f)
{
    return fails(&submits, "LSUV_FAULT_SUBMIT") ? VK_ERROR_DEVICE_LOST : real_submit(q, n, si, f);
}

static VKAPI_ATTR VkResult VKAPI_CALL fake_allocate(VkDevice d, const VkMemoryAllocateInfo *ai,
                                                    const VkAllocationCallbacks *a, VkDeviceMemory *m)
{
    return fails(&allocations, "LSUV_FAULT_ALLOC") ? VK_ERROR_OUT_OF_DEVICE_MEMORY : real_allocate(d, ai, a, m);
}

static PFN_vkVoidFunction wrap(const char *name, PFN_vkVoidFunction real)
{
    if (!real)
        return NULL;
    if (strcmp(name, "vkQueueSubmit") == 0) {
        real_submit = (PFN_vkQueueSubmit)real;
        return (PFN_vkVoidFunction)fake_submit;
    }
    if (strcmp(name, "vkAllocateMemory") == 0) {
        real_allocate = (PFN_vkAllocateMemory)real;
        return (PFN_vkVoidFunction)fake_allocate;
    }
    return real;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL fake_gdpa(VkDevice device, const char *name)
{
    return wrap(name, real_gdpa(device, name));
}

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vkGetInstanceProcAddr(VkInstance instance, const char *name)
{
    if (!load())
        return NULL;
    if (strcmp(name, "vkGetInstanceProcAddr") == 0)
        return (PFN_vkVoidFunction)vkGetInstanceProcAddr;
    PFN_vkVoidFunction real = real_gipa(instance, name);
    if (real && strcmp(name, "vkGetDeviceProcAddr") == 0) {
        real_gdpa = (PFN_vkGetDeviceProcAddr)real;
        return (PFN_vkVoidFunction)fake_gdpa;
    }
    return wrap(name, real);
}
