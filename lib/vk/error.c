/* error.c - the context's error message, and VkResult -> lsuv_status mapping.
 * Its own file so that context, memory, commands and pipelines can all report errors
 * without calling each other. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vk/context.h"

lsuv_status lsuv_fail(lsuv_context *ctx, lsuv_status status, const char *fmt, ...)
{
    if (ctx) {
        /* Format into a local buffer first: callers may pass ctx->error itself as an
         * argument ("layer x: %s", lsuv_context_last_error(ctx)), and vsnprintf into the
         * buffer it reads from is undefined behaviour. */
        char msg[sizeof ctx->error];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        memcpy(ctx->error, msg, sizeof msg);
    }
    return status;
}

const char *lsuv_vk_result_string(VkResult r)
{
    switch (r) {
#define CASE(x) case x: return #x;
    CASE(VK_SUCCESS) CASE(VK_NOT_READY) CASE(VK_TIMEOUT) CASE(VK_INCOMPLETE)
    CASE(VK_ERROR_OUT_OF_HOST_MEMORY) CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CASE(VK_ERROR_INITIALIZATION_FAILED) CASE(VK_ERROR_DEVICE_LOST) CASE(VK_ERROR_MEMORY_MAP_FAILED)
    CASE(VK_ERROR_LAYER_NOT_PRESENT) CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    CASE(VK_ERROR_FEATURE_NOT_PRESENT) CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    CASE(VK_ERROR_TOO_MANY_OBJECTS) CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    CASE(VK_ERROR_FRAGMENTED_POOL) CASE(VK_ERROR_UNKNOWN) CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE) CASE(VK_ERROR_FRAGMENTATION)
    CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
#undef CASE
    default: return "VK_ERROR_(other)";
    }
}

lsuv_status lsuv_vk_fail(lsuv_context *ctx, VkResult r, const char *what)
{
    lsuv_status st;
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: st = LSUV_ERROR_OUT_OF_HOST_MEMORY; break;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_TOO_MANY_OBJECTS:
    case VK_ERROR_FRAGMENTATION: st = LSUV_ERROR_OUT_OF_DEVICE_MEMORY; break;
    case VK_ERROR_DEVICE_LOST: st = LSUV_ERROR_DEVICE_LOST; break;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_INCOMPATIBLE_DRIVER: st = LSUV_ERROR_UNSUPPORTED; break;
    default: st = LSUV_ERROR_VULKAN; break;
    }
    return lsuv_fail(ctx, st, "%s failed: %s", what, lsuv_vk_result_string(r));
}
