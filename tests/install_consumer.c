/* install_consumer.c - built against the installed library by check_install.sh. */
#include <lsuv.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (lsuv_version_number() != LSUV_VERSION_NUMBER || strcmp(lsuv_version_string(), LSUV_VERSION_STRING)) {
        fprintf(stderr, "header %s but library %s\n", LSUV_VERSION_STRING, lsuv_version_string());
        return 1;
    }
    lsuv_context *ctx = NULL;
    char err[512];
    lsuv_status st = lsuv_context_create(NULL, &ctx, err, sizeof err);
    if (st != LSUV_OK) {
        fprintf(stderr, "%s: %s\n", lsuv_status_string(st), err);
        return 1;
    }
    printf("installed lsuv-vk %s on %s\n", lsuv_version_string(), lsuv_context_device(ctx)->name);
    lsuv_context_destroy(ctx);
    return 0;
}
