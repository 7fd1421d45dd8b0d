/* vk_loader.c - dlopen the Vulkan loader and fill per-context dispatch tables. */
#include "vk/loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lsuv_vk_loader_open(lsuv_vk_loader *loader, char *err, size_t err_size)
{
    memset(loader, 0, sizeof *loader);
    /* LSUV_VULKAN_LIBRARY names the loader to use instead (odd installs, tests). */
    const char *env = getenv("LSUV_VULKAN_LIBRARY");
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    if (env && *env)
        loader->library = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !loader->library && !(env && *env); i++)
        loader->library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!loader->library) {
        const char *why = dlerror();
        snprintf(err, err_size,
                 "cannot load the Vulkan loader %s (%s); install it, e.g. "
                 "'apt-get install libvulkan1 mesa-vulkan-drivers'", env && *env ? env : "libvulkan.so.1",
                 why ? why : "not found");
        return -1;
    }
    /* POSIX allows object<->function pointer casts through dlsym; copy to stay pedantic. */
    void *sym = dlsym(loader->library, "vkGetInstanceProcAddr");
    memcpy(&loader->vkGetInstanceProcAddr, &sym, sizeof sym);
    if (!loader->vkGetInstanceProcAddr) {
        snprintf(err, err_size, "libvulkan.so.1 has no vkGetInstanceProcAddr; is it a Vulkan loader?");
        dlclose(loader->library);
        loader->library = NULL;
        return -1;
    }
#define LOAD_GLOBAL(name) loader->name = (PFN_##name)loader->vkGetInstanceProcAddr(NULL, #name);
    LSUV_VK_GLOBAL_FUNCS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
    if (!loader->vkCreateInstance) {
        snprintf(err, err_size, "the Vulkan loader returned no vkCreateInstance");
        dlclose(loader->library);
        loader->library = NULL;
        return -1;
    }
    return 0;
}

void lsuv_vk_loader_close(lsuv_vk_loader *loader)
{
    if (loader->library)
        dlclose(loader->library);
    memset(loader, 0, sizeof *loader);
}

const char *lsuv_vk_load_instance(const lsuv_vk_loader *loader, VkInstance instance,
                                  lsuv_vk_instance_table *table)
{
#define LOAD_INSTANCE(name)                                                        \
    table->name = (PFN_##name)loader->vkGetInstanceProcAddr(instance, #name);     \
    if (!table->name)                                                             \
        return #name;
    LSUV_VK_INSTANCE_FUNCS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
    return NULL;
}

const char *lsuv_vk_load_device(const lsuv_vk_instance_table *itable, VkDevice device,
                                lsuv_vk_device_table *table)
{
#define LOAD_DEVICE(name)                                                  \
    table->name = (PFN_##name)itable->vkGetDeviceProcAddr(device, #name); \
    if (!table->name)                                                     \
        return #name;
    LSUV_VK_DEVICE_FUNCS(LOAD_DEVICE)
#undef LOAD_DEVICE
    return NULL;
}
