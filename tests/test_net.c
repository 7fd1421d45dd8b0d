/* test_net.c - network building: shape inference and its errors, parameters by name,
 * safetensors export (names, shapes, values, atomic replacement). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/formats.h"
#include "nn/net.h"
#include "support.h"

static lsuv_net *chw_net(lsuv_context *ctx, int64_t c, int64_t h, int64_t w)
{
    int64_t dims[3] = {c, h, w};
    lsuv_net *net = NULL;
    cr_assert_eq(lsuv_net_create(ctx, 3, dims, &net), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    return net;
}

Test(net, infers_shapes_through_a_small_cnn)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = chw_net(ctx, 3, 17, 23);
    lsuv_conv2d_desc d;
    lsuv_conv2d_desc_init(&d, 8, 3);
    d.stride_h = 2;
    d.pad_w = 1;
    int x, ndim;
    int64_t dims[3];
    cr_assert_eq(lsuv_net_conv2d(net, "c1", 0, &d, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_node_shape(net, x, &ndim, dims), LSUV_OK);
    cr_assert(ndim == 3 && dims[0] == 8 && dims[1] == 8 && dims[2] == 23, "(%lld,%lld,%lld)", (long long)dims[0],
              (long long)dims[1], (long long)dims[2]);
    cr_assert_eq(lsuv_net_pool2d(net, x, LSUV_POOL_MAX, 2, 2, 0, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_maxout(net, x, 2, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_flatten(net, x, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_node_shape(net, x, &ndim, dims), LSUV_OK);
    cr_assert(ndim == 1 && dims[0] == 4 * 4 * 11, "flatten gives %lld", (long long)dims[0]);
    cr_assert_eq(lsuv_net_dense(net, "fc", x, 5, 1, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_param_count(net), 4);
    const char *name;
    int64_t shape[4], numel;
    cr_assert_eq(lsuv_net_param_info(net, 0, &name, &ndim, shape, &numel), LSUV_OK);
    cr_assert_str_eq(name, "c1.weight");
    cr_assert(ndim == 4 && shape[0] == 8 && shape[1] == 3 && shape[2] == 3 && shape[3] == 3 && numel == 216);
    cr_assert_eq(lsuv_net_param_info(net, 3, &name, &ndim, shape, &numel), LSUV_OK);
    cr_assert_str_eq(name, "fc.bias");
    cr_assert_eq(lsuv_net_param_info(net, 4, &name, NULL, NULL, NULL), LSUV_ERROR_NOT_FOUND);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(net, mismatches_are_refused_with_layer_and_shapes)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = chw_net(ctx, 6, 8, 8);
    int x, y;
    cr_assert_eq(lsuv_net_dense(net, "fc", 0, 10, 1, &x), LSUV_ERROR_SHAPE);
    cr_assert(strstr(lsuv_context_last_error(ctx), "fc") && strstr(lsuv_context_last_error(ctx), "(6, 8, 8)"),
              "%s", lsuv_context_last_error(ctx));
    lsuv_conv2d_desc d;
    lsuv_conv2d_desc_init(&d, 4, 3);
    d.groups = 4;
    cr_assert_eq(lsuv_net_conv2d(net, "g", 0, &d, &x), LSUV_ERROR_SHAPE);
    cr_assert(strstr(lsuv_context_last_error(ctx), "6 channels"), "%s", lsuv_context_last_error(ctx));
    lsuv_conv2d_desc_init(&d, 4, 9);
    cr_assert_eq(lsuv_net_conv2d(net, "big", 0, &d, &x), LSUV_ERROR_SHAPE);
    lsuv_conv2d_desc_init(&d, 4, 3);
    cr_assert_eq(lsuv_net_conv2d(net, "a", 0, &d, &x), LSUV_OK);
    d.pad_h = d.pad_w = 1;
    cr_assert_eq(lsuv_net_conv2d(net, "b", 0, &d, &y), LSUV_OK);
    cr_assert_eq(lsuv_net_add(net, x, y, &x), LSUV_ERROR_SHAPE);
    cr_assert(strstr(lsuv_context_last_error(ctx), "(4, 6, 6)") && strstr(lsuv_context_last_error(ctx), "(4, 8, 8)"),
              "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_net_conv2d(net, "a", 0, &d, &y), LSUV_ERROR_INVALID_ARGUMENT, "duplicate name");
    cr_assert_eq(lsuv_net_maxout(net, y, 3, &y), LSUV_ERROR_SHAPE);
    cr_assert_eq(lsuv_net_dense(net, "q", 99, 3, 1, &y), LSUV_ERROR_INVALID_ARGUMENT);
    int ins[2] = {0, y};
    cr_assert_eq(lsuv_net_concat(net, 2, ins, &y), LSUV_OK); /* 6 + 4 channels, both 8x8 */
    int ndim;
    int64_t dims[3];
    lsuv_net_node_shape(net, y, &ndim, dims);
    cr_assert_eq(dims[0], 10);
    int64_t bad[1] = {0};
    lsuv_net *n2 = NULL;
    cr_assert_eq(lsuv_net_create(ctx, 1, bad, &n2), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_net_create(ctx, 2, bad, &n2), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(net, params_read_write_by_name)
{
    lsuv_context *ctx = test_context();
    int64_t f[1] = {7};
    lsuv_net *net = NULL;
    int x;
    cr_assert_eq(lsuv_net_create(ctx, 1, f, &net), LSUV_OK);
    cr_assert_eq(lsuv_net_dense(net, "fc", 0, 3, 1, &x), LSUV_OK);
    float w[21], back[21];
    for (int i = 0; i < 21; i++)
        w[i] = (float)i - 10.5f;
    cr_assert_eq(lsuv_net_set_param(net, "fc.weight", w, 21), LSUV_OK);
    cr_assert_eq(lsuv_net_get_param(net, "fc.weight", back, 21), LSUV_OK);
    cr_assert_eq(memcmp(w, back, sizeof w), 0);
    cr_assert_eq(lsuv_net_get_param(net, "fc.weight", back, 20), LSUV_ERROR_SHAPE);
    cr_assert_eq(lsuv_net_get_param(net, "fc.nope", back, 21), LSUV_ERROR_NOT_FOUND);
    cr_assert(strstr(lsuv_context_last_error(ctx), "fc.nope"));
    w[5] = NAN;
    cr_assert_eq(lsuv_net_set_param(net, "fc.weight", w, 21), LSUV_ERROR_BAD_DATA);
    cr_assert_eq(lsuv_net_get_param(net, "fc.weight", back, 21), LSUV_OK);
    cr_assert_eq(back[5], -5.5f, "a refused set must change nothing");
    /* the default init is finite with variance about 1/fan_in */
    float b[3];
    cr_assert_eq(lsuv_net_get_param(net, "fc.bias", b, 3), LSUV_OK);
    cr_assert(b[0] == 0 && b[1] == 0 && b[2] == 0);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(net, save_writes_every_param_with_pytorch_names_atomically)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = chw_net(ctx, 3, 8, 8);
    lsuv_conv2d_desc d;
    lsuv_conv2d_desc_init(&d, 4, 3);
    d.bias = 0;
    int x;
    cr_assert_eq(lsuv_net_conv2d(net, "conv1", 0, &d, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_batchnorm(net, "bn1", x, 1e-5f, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_activation(net, "act", x, LSUV_ACT_PRELU, 0.25f, &x), LSUV_OK);
    char dir[] = "/tmp/lsuv-net-XXXXXX", path[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    cr_assert_eq(lsuv_net_save(net, path), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    lsuv_st_tensor *t;
    size_t n;
    char err[256];
    cr_assert_eq(lsuv_safetensors_read(path, &t, &n, err, sizeof err), LSUV_OK, "%s", err);
    static const char *names[] = {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                  "bn1.num_batches_tracked", "act.weight"};
    cr_assert_eq(n, 7);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(t[i].name, names[i]);
    cr_assert_eq(t[5].dtype, LSUV_DTYPE_I64);
    cr_assert_eq(t[5].ndim, 0);
    cr_assert_eq(((const float *)t[4].data)[3], 1.0f);
    cr_assert_eq(((const float *)t[6].data)[0], 0.25f);
    float w[108];
    cr_assert_eq(lsuv_net_get_param(net, "conv1.weight", w, 108), LSUV_OK);
    cr_assert_eq(memcmp(w, t[0].data, sizeof w), 0);
    lsuv_safetensors_free(t, n);
    /* a failing save (unwritable place) leaves the existing file as it was */
    snprintf(path, sizeof path, "%s/missing-dir/w.safetensors", dir);
    cr_assert_neq(lsuv_net_save(net, path), LSUV_OK);
    cr_assert(strstr(lsuv_context_last_error(ctx), "missing-dir"), "%s", lsuv_context_last_error(ctx));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}
