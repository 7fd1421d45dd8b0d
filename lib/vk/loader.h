/* vk_loader.h - private volk-style Vulkan loader.
 * libvulkan.so.1 is dlopen'ed; only vkGetInstanceProcAddr is taken by name. Instance
 * and device functions live in per-context tables, so no vk* symbol is defined or
 * imported by the library and a host application's own loader is never disturbed. */
#ifndef LSUV_VK_LOADER_H
#define LSUV_VK_LOADER_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

/* Every function listed here is required: a driver lacking one fails context creation.
 * So list only what the library calls (freeing memory unmaps it; device properties come
 * from vkGetPhysicalDeviceProperties2); tests/test_context.c checks a driver without
 * the functions we do not call still loads. */
#define LSUV_VK_GLOBAL_FUNCS(X) \
    X(vkCreateInstance)         \
    X(vkEnumerateInstanceVersion)

#define LSUV_VK_INSTANCE_FUNCS(X)              \
    X(vkDestroyInstance)                       \
    X(vkEnumeratePhysicalDevices)              \
    X(vkGetPhysicalDeviceProperties2)          \
    X(vkGetPhysicalDeviceFeatures2)            \
    X(vkGetPhysicalDeviceMemoryProperties)     \
    X(vkGetPhysicalDeviceQueueFamilyProperties)\
    X(vkEnumerateDeviceExtensionProperties)    \
    X(vkCreateDevice)                          \
    X(vkGetDeviceProcAddr)

#define LSUV_VK_DEVICE_FUNCS(X)        \
    X(vkDestroyDevice)                 \
    X(vkGetDeviceQueue)                \
    X(vkDeviceWaitIdle)                \
    X(vkCreateBuffer)                  \
    X(vkDestroyBuffer)                 \
    X(vkGetBufferMemoryRequirements)   \
    X(vkGetBufferDeviceAddress)        \
    X(vkAllocateMemory)                \
    X(vkFreeMemory)                    \
    X(vkBindBufferMemory)              \
    X(vkMapMemory)                     \
    X(vkCreateShaderModule)            \
    X(vkDestroyShaderModule)           \
    X(vkCreatePipelineLayout)          \
    X(vkDestroyPipelineLayout)         \
    X(vkCreateComputePipelines)        \
    X(vkDestroyPipeline)               \
    X(vkCreateCommandPool)             \
    X(vkDestroyCommandPool)            \
    X(vkAllocateCommandBuffers)        \
    X(vkBeginCommandBuffer)            \
    X(vkEndCommandBuffer)              \
    X(vkResetCommandBuffer)            \
    X(vkCmdBindPipeline)               \
    X(vkCmdBindDescriptorSets)         \
    X(vkCreateBufferView)              \
    X(vkDestroyBufferView)             \
    X(vkCreateDescriptorSetLayout)     \
    X(vkDestroyDescriptorSetLayout)    \
    X(vkCreateDescriptorPool)          \
    X(vkDestroyDescriptorPool)         \
    X(vkResetDescriptorPool)           \
    X(vkAllocateDescriptorSets)        \
    X(vkUpdateDescriptorSets)          \
    X(vkCmdPushConstants)              \
    X(vkCmdDispatch)                   \
    X(vkCmdPipelineBarrier)            \
    X(vkCmdCopyBuffer)                 \
    X(vkCmdFillBuffer)                 \
    X(vkCmdWriteTimestamp)             \
    X(vkCmdResetQueryPool)             \
    X(vkCreateQueryPool)               \
    X(vkDestroyQueryPool)              \
    X(vkGetQueryPoolResults)           \
    X(vkCreateFence)                   \
    X(vkDestroyFence)                  \
    X(vkWaitForFences)                 \
    X(vkResetFences)                   \
    X(vkQueueSubmit)

#define LSUV_VK_DECLARE(name) PFN_##name name;

typedef struct lsuv_vk_loader {
    void *library; /* dlopen handle */
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    LSUV_VK_GLOBAL_FUNCS(LSUV_VK_DECLARE)
} lsuv_vk_loader;

typedef struct lsuv_vk_instance_table {
    LSUV_VK_INSTANCE_FUNCS(LSUV_VK_DECLARE)
} lsuv_vk_instance_table;

typedef struct lsuv_vk_device_table {
    LSUV_VK_DEVICE_FUNCS(LSUV_VK_DECLARE)
} lsuv_vk_device_table;

/* Opens the Vulkan loader library. Returns 0 on success; on failure writes a message
 * (what to install) into err and returns -1. */
int lsuv_vk_loader_open(lsuv_vk_loader *loader, char *err, size_t err_size);
void lsuv_vk_loader_close(lsuv_vk_loader *loader);
/* Returns the name of the first function that could not be loaded, or NULL. */
const char *lsuv_vk_load_instance(const lsuv_vk_loader *loader, VkInstance instance,
                                  lsuv_vk_instance_table *table);
const char *lsuv_vk_load_device(const lsuv_vk_instance_table *itable, VkDevice device,
                                lsuv_vk_device_table *table);

#endif
