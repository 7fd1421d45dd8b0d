/* status.c - version and status names: the two things every layer may ask for. */
#include "lsuv.h"

unsigned lsuv_version_number(void) { return LSUV_VERSION_NUMBER; }
const char *lsuv_version_string(void) { return LSUV_VERSION_STRING; }

const char *lsuv_status_string(lsuv_status status)
{
    switch (status) {
    case LSUV_OK: return "LSUV_OK";
    case LSUV_ERROR_INVALID_ARGUMENT: return "LSUV_ERROR_INVALID_ARGUMENT";
    case LSUV_ERROR_NO_LOADER: return "LSUV_ERROR_NO_LOADER";
    case LSUV_ERROR_NO_DEVICE: return "LSUV_ERROR_NO_DEVICE";
    case LSUV_ERROR_OUT_OF_HOST_MEMORY: return "LSUV_ERROR_OUT_OF_HOST_MEMORY";
    case LSUV_ERROR_OUT_OF_DEVICE_MEMORY: return "LSUV_ERROR_OUT_OF_DEVICE_MEMORY";
    case LSUV_ERROR_DEVICE_LOST: return "LSUV_ERROR_DEVICE_LOST";
    case LSUV_ERROR_VULKAN: return "LSUV_ERROR_VULKAN";
    case LSUV_ERROR_UNSUPPORTED: return "LSUV_ERROR_UNSUPPORTED";
    case LSUV_ERROR_SHAPE: return "LSUV_ERROR_SHAPE";
    case LSUV_ERROR_NOT_FOUND: return "LSUV_ERROR_NOT_FOUND";
    case LSUV_ERROR_IO: return "LSUV_ERROR_IO";
    case LSUV_ERROR_FORMAT: return "LSUV_ERROR_FORMAT";
    case LSUV_ERROR_BAD_DATA: return "LSUV_ERROR_BAD_DATA";
    }
    return "LSUV_ERROR_UNKNOWN";
}
