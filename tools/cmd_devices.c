/* cmd_devices.c - `lsuv-vk devices`: what lsuv-vk reads of each Vulkan device. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *type_name(lsuv_device_type t)
{
    switch (t) {
    case LSUV_DEVICE_DISCRETE_GPU: return "discrete GPU";
    case LSUV_DEVICE_INTEGRATED_GPU: return "integrated GPU";
    case LSUV_DEVICE_VIRTUAL_GPU: return "virtual GPU";
    case LSUV_DEVICE_CPU: return "CPU";
    default: return "other";
    }
}

static cli_parse_status devices_parse(int argc, char **argv, cli_args *a)
{
    static const struct option none[] = {{0}};
    return cli_getopt(argc, argv, a, "devices", NULL, none, 0, NULL);
}

static void devices_usage(FILE *f)
{
    fputs("usage: lsuv-vk devices\n\nLists the Vulkan devices; the default choice is marked *.\n", f);
}

static int devices_run(const cli_args *a)
{
    (void)a;
    char err[1024];
    int count = 0;
    lsuv_status st = lsuv_enumerate_devices(NULL, &count, err, sizeof err);
    if (st != LSUV_OK)
        return cli_error(1, "%s: %s", lsuv_status_string(st), err);
    lsuv_device_info *d = calloc((size_t)count, sizeof *d);
    if (!d)
        return cli_error(1, "out of memory");
    st = lsuv_enumerate_devices(d, &count, err, sizeof err);
    if (st != LSUV_OK) {
        free(d);
        return cli_error(1, "%s: %s", lsuv_status_string(st), err);
    }
    lsuv_context *ctx = NULL;
    char chosen[256] = "";
    if (lsuv_context_create(NULL, &ctx, err, sizeof err) == LSUV_OK) {
        snprintf(chosen, sizeof chosen, "%s", lsuv_context_device(ctx)->name);
        lsuv_context_destroy(ctx);
    }
    for (int i = 0; i < count; i++) {
        const lsuv_device_info *x = &d[i];
        printf("%c %d: %s (%s)\n", strcmp(x->name, chosen) == 0 ? '*' : ' ', i, x->name, type_name(x->type));
        printf("    driver                 %s\n", x->driver);
        printf("    Vulkan API             %u.%u.%u\n", x->api_version >> 22, (x->api_version >> 12) & 0x3ff,
               x->api_version & 0xfff);
        printf("    subgroup               %u lanes, operations 0x%x\n", x->subgroup_size, x->subgroup_operations);
        printf("    shared memory          %u KiB per workgroup\n", x->max_shared_memory / 1024);
        printf("    workgroup              %u invocations, size %u x %u x %u, count %u x %u x %u\n",
               x->max_workgroup_invocations, x->max_workgroup_size[0], x->max_workgroup_size[1],
               x->max_workgroup_size[2], x->max_workgroup_count[0], x->max_workgroup_count[1],
               x->max_workgroup_count[2]);
        printf("    storage buffer range   %llu MiB\n", (unsigned long long)(x->max_storage_buffer_range >> 20));
        printf("    max allocation         %llu MiB\n", (unsigned long long)(x->max_allocation_size >> 20));
        printf("    device-local memory    %.1f GiB (%u heaps)\n", (double)x->device_local_bytes / (1 << 30),
               x->heap_count);
        printf("    float64 / float16 / int64   %s / %s / %s\n", x->float64 ? "yes" : "no",
               x->float16 ? "yes" : "no", x->int64 ? "yes" : "no");
        printf("    buffer device address  %s%s\n", x->buffer_device_address ? "yes" : "no",
               x->buffer_device_address ? "" : " (required: this device cannot be used)");
        printf("    cooperative matrix     %s\n", x->cooperative_matrix ? "yes" : "no");
        printf("    timestamps             %s\n", x->timestamp_period_ns > 0 ? "yes" : "no");
    }
    free(d);
    return 0;
}

const cli_command cli_devices = {"devices", devices_parse, devices_usage, devices_run};
