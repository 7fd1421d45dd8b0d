/* model_open.c - --model and --data for every command (init, bench, forward, info). */
#include <ctype.h>
#include <string.h>

#include "cli.h"
#include "model_open.h"
#include "zoo.h"

int path_has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    if (n < e)
        return 0;
    for (size_t i = 0; i < e; i++)
        if (tolower((unsigned char)path[n - e + i]) != tolower((unsigned char)ext[i]))
            return 0;
    return 1;
}

int model_is_onnx(const char *model)
{
    return model && path_has_ext(model, ".onnx");
}

int model_open(lsuv_context *ctx, const char *cmd, const char *model, const char *act, lsuv_net **net, int *ndim,
               int64_t *dims)
{
    *net = NULL;
    if (!model_is_onnx(model)) {
        *ndim = zoo_input_shape(model, dims);
        if (zoo_build(ctx, model, act, net) != LSUV_OK)
            return cli_error(1, "%s: model %s: %s", cmd, model, lsuv_context_last_error(ctx));
        return 0;
    }
    lsuv_status st = lsuv_net_load_onnx(ctx, model, net);
    if (st == LSUV_OK)
        st = lsuv_net_node_shape(*net, 0, ndim, dims);
    if (st != LSUV_OK) {
        lsuv_net_destroy(*net);
        *net = NULL;
        return cli_error(1, "%s: %s: %s: %s", cmd, model, lsuv_status_string(st), lsuv_context_last_error(ctx));
    }
    return 0;
}

int model_data_load(lsuv_context *ctx, const char *cmd, const char *path, const char *model, int ndim,
                    const int64_t *dims, lsuv_data **data)
{
    lsuv_status st = lsuv_data_load(ctx, path, data);
    if (st != LSUV_OK)
        return cli_error(1, "%s: %s", cmd, lsuv_context_last_error(ctx));
    cli_data_note(*data);
    int64_t want = 1, have = 1;
    for (int i = 0; i < ndim; i++)
        want *= dims[i];
    for (int i = 0; i < (*data)->ndim; i++)
        have *= (*data)->dims[i];
    int max_axes = (int)(sizeof (*data)->dims / sizeof (*data)->dims[0]);
    if (want != have || ndim > max_axes) {
        cli_error(1, "%s: %s holds samples of %lld values; model %s takes %lld (%d axes; data files give at most %d)",
                  cmd, path, (long long)have, model, (long long)want, ndim, max_axes);
        lsuv_data_free(*data);
        *data = NULL;
        return 1;
    }
    (*data)->ndim = ndim; /* same size: reshape */
    memcpy((*data)->dims, dims, (size_t)ndim * sizeof *dims);
    return 0;
}
