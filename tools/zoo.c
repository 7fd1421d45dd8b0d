/* zoo.c - model definitions with PyTorch's parameter names, so that exported weights
 * load with model.load_state_dict(..., strict=False). */
#include <stdio.h>
#include <string.h>

#include "zoo.h"

#define TRY(call)                         \
    do {                                  \
        lsuv_status st_ = (call);         \
        if (st_ != LSUV_OK)               \
            return st_;                   \
    } while (0)

const char *zoo_names(void) { return "mlp20, fitnet4, vgg16, resnet18, resnet50, resnet_tiny"; }

int zoo_parse_activation(const char *name, lsuv_activation *act, float *param)
{
    static const struct { const char *name; lsuv_activation act; float param; } table[] = {
        {"relu", LSUV_ACT_RELU, 0},       {"tanh", LSUV_ACT_TANH, 0},
        {"sigmoid", LSUV_ACT_SIGMOID, 0}, {"leaky_relu", LSUV_ACT_LEAKY_RELU, 0.01f},
        {"vlrelu", LSUV_ACT_LEAKY_RELU, 1.0f / 3.0f}, {"elu", LSUV_ACT_ELU, 1.0f},
        {"gelu", LSUV_ACT_GELU, 0},       {"silu", LSUV_ACT_SILU, 0},
        {"prelu", LSUV_ACT_PRELU, 0.25f}, {"none", LSUV_ACT_NONE, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0) {
            *act = table[i].act;
            *param = table[i].param;
            return 0;
        }
    return -1;
}

int zoo_input_shape(const char *name, int64_t *dims)
{
    if (strcmp(name, "mlp20") == 0) {
        dims[0] = 784;
        return 1;
    }
    if (strcmp(name, "fitnet4") == 0 || strcmp(name, "resnet_tiny") == 0) {
        dims[0] = 3;
        dims[1] = dims[2] = 32;
        return 3;
    }
    if (strcmp(name, "vgg16") == 0 || strcmp(name, "resnet18") == 0 || strcmp(name, "resnet50") == 0) {
        dims[0] = 3;
        dims[1] = dims[2] = 224;
        return 3;
    }
    return 0;
}

/* Sequential models name modules by index, as nn.Sequential does. */
typedef struct seq {
    lsuv_net *net;
    int x, index;
    lsuv_activation act;
    float act_param;
} seq;

static lsuv_status seq_act(seq *s)
{
    char name[32];
    snprintf(name, sizeof name, "%d", s->index++);
    return lsuv_net_activation(s->net, name, s->x, s->act, s->act_param, &s->x);
}

static lsuv_status seq_dense(seq *s, int out)
{
    char name[32];
    snprintf(name, sizeof name, "%d", s->index++);
    return lsuv_net_dense(s->net, name, s->x, out, 1, &s->x);
}

static lsuv_status seq_conv3(seq *s, int out)
{
    char name[32];
    snprintf(name, sizeof name, "%d", s->index++);
    lsuv_conv2d_desc d;
    lsuv_conv2d_desc_init(&d, out, 3);
    d.pad_h = d.pad_w = 1;
    return lsuv_net_conv2d(s->net, name, s->x, &d, &s->x);
}

static lsuv_status mlp20(seq *s)
{
    for (int i = 0; i < 20; i++) {
        TRY(seq_dense(s, 1024));
        TRY(seq_act(s));
    }
    return seq_dense(s, 10);
}

static lsuv_status fitnet4(seq *s)
{
    static const int plan[] = {32, 32, 32, 48, 48, -1, 80, 80, 80, 80, 80, -1, 128, 128, 128, 128, 128, -2};
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        if (plan[i] == -1) {
            TRY(lsuv_net_pool2d(s->net, s->x, LSUV_POOL_MAX, 2, 2, 0, &s->x));
            s->index++;
        } else if (plan[i] == -2) { /* AdaptiveMaxPool2d(1), Flatten */
            TRY(lsuv_net_pool2d(s->net, s->x, LSUV_POOL_MAX, 0, 1, 0, &s->x));
            TRY(lsuv_net_flatten(s->net, s->x, &s->x));
            s->index += 2;
        } else {
            TRY(seq_conv3(s, plan[i]));
            TRY(seq_act(s));
        }
    }
    TRY(seq_dense(s, 500));
    s->act = LSUV_ACT_RELU; /* the classifier's ReLU is fixed in torch_peer.py */
    TRY(seq_act(s));
    return seq_dense(s, 10);
}

static lsuv_status vgg16(lsuv_net *net, int *x)
{
    static const int plan[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512, -1, 512, 512, 512, -1};
    int index = 0;
    char name[48];
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        if (plan[i] < 0) {
            TRY(lsuv_net_pool2d(net, *x, LSUV_POOL_MAX, 2, 2, 0, x));
            index++;
            continue;
        }
        lsuv_conv2d_desc d;
        lsuv_conv2d_desc_init(&d, plan[i], 3);
        d.pad_h = d.pad_w = 1;
        snprintf(name, sizeof name, "features.%d", index++);
        TRY(lsuv_net_conv2d(net, name, *x, &d, x));
        snprintf(name, sizeof name, "features.%d", index++);
        TRY(lsuv_net_activation(net, name, *x, LSUV_ACT_RELU, 0, x));
    }
    /* avgpool: AdaptiveAvgPool2d((7, 7)) is the identity on the 7x7 maps of a 224 input */
    TRY(lsuv_net_flatten(net, *x, x));
    static const int fc[] = {4096, 4096, 1000};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "classifier.%d", 3 * i);
        TRY(lsuv_net_dense(net, name, *x, fc[i], 1, x));
        if (i < 2) {
            snprintf(name, sizeof name, "classifier.%d", 3 * i + 1);
            TRY(lsuv_net_activation(net, name, *x, LSUV_ACT_RELU, 0, x)); /* Dropout: identity */
        }
    }
    return LSUV_OK;
}

static lsuv_status conv_bn(lsuv_net *net, const char *prefix, const char *conv, const char *bn, int *x,
                           int out, int kernel, int stride, int relu)
{
    char name[96];
    lsuv_conv2d_desc d;
    lsuv_conv2d_desc_init(&d, out, kernel);
    d.stride_h = d.stride_w = stride;
    d.pad_h = d.pad_w = kernel / 2;
    d.bias = 0;
    snprintf(name, sizeof name, "%s%s", prefix, conv);
    TRY(lsuv_net_conv2d(net, name, *x, &d, x));
    snprintf(name, sizeof name, "%s%s", prefix, bn);
    TRY(lsuv_net_batchnorm(net, name, *x, 1e-5f, x));
    if (relu)
        TRY(lsuv_net_activation(net, NULL, *x, LSUV_ACT_RELU, 0, x));
    return LSUV_OK;
}

/* torchvision BasicBlock (bottleneck = 0) or Bottleneck (stride on conv2, v1.5). */
static lsuv_status resnet_block(lsuv_net *net, const char *prefix, int *x, int in, int planes, int stride,
                                int bottleneck)
{
    int identity = *x, y = *x;
    int out = bottleneck ? planes * 4 : planes;
    if (bottleneck) {
        TRY(conv_bn(net, prefix, "conv1", "bn1", &y, planes, 1, 1, 1));
        TRY(conv_bn(net, prefix, "conv2", "bn2", &y, planes, 3, stride, 1));
        TRY(conv_bn(net, prefix, "conv3", "bn3", &y, out, 1, 1, 0));
    } else {
        TRY(conv_bn(net, prefix, "conv1", "bn1", &y, planes, 3, stride, 1));
        TRY(conv_bn(net, prefix, "conv2", "bn2", &y, planes, 3, 1, 0));
    }
    if (stride != 1 || in != out)
        TRY(conv_bn(net, prefix, "downsample.0", "downsample.1", &identity, out, 1, stride, 0));
    TRY(lsuv_net_add(net, y, identity, &y));
    TRY(lsuv_net_activation(net, NULL, y, LSUV_ACT_RELU, 0, x));
    return LSUV_OK;
}

static lsuv_status resnet(lsuv_net *net, int *x, const int *blocks, int bottleneck, int tiny)
{
    int in = tiny ? 16 : 64;
    if (tiny) /* a small CIFAR-style residual net for tests: conv3x3, no max pool */
        TRY(conv_bn(net, "", "conv1", "bn1", x, in, 3, 1, 1));
    else {
        TRY(conv_bn(net, "", "conv1", "bn1", x, 64, 7, 2, 1));
        TRY(lsuv_net_pool2d(net, *x, LSUV_POOL_MAX, 3, 2, 1, x));
    }
    char prefix[48];
    for (int l = 0; l < 4 && blocks[l]; l++) {
        int planes = (tiny ? 16 : 64) << l;
        for (int b = 0; b < blocks[l]; b++) {
            snprintf(prefix, sizeof prefix, "layer%d.%d.", l + 1, b);
            TRY(resnet_block(net, prefix, x, in, planes, b == 0 && l > 0 ? 2 : 1, bottleneck));
            in = bottleneck ? planes * 4 : planes;
        }
    }
    TRY(lsuv_net_pool2d(net, *x, LSUV_POOL_AVG, 0, 1, 0, x));
    TRY(lsuv_net_flatten(net, *x, x));
    return lsuv_net_dense(net, "fc", *x, tiny ? 10 : 1000, 1, x);
}

lsuv_status zoo_build(lsuv_context *ctx, const char *name, const char *act_name, lsuv_net **out)
{
    int64_t dims[3];
    int ndim = zoo_input_shape(name, dims);
    *out = NULL;
    if (!ndim)
        return LSUV_ERROR_NOT_FOUND;
    seq s = {.act = strcmp(name, "mlp20") == 0 ? LSUV_ACT_TANH : LSUV_ACT_RELU};
    if (act_name && zoo_parse_activation(act_name, &s.act, &s.act_param) != 0)
        return LSUV_ERROR_INVALID_ARGUMENT;
    TRY(lsuv_net_create(ctx, ndim, dims, &s.net));
    lsuv_status st;
    if (strcmp(name, "mlp20") == 0)
        st = mlp20(&s);
    else if (strcmp(name, "fitnet4") == 0)
        st = fitnet4(&s);
    else if (strcmp(name, "vgg16") == 0)
        st = vgg16(s.net, &s.x);
    else if (strcmp(name, "resnet18") == 0)
        st = resnet(s.net, &s.x, (const int[]){2, 2, 2, 2}, 0, 0);
    else if (strcmp(name, "resnet50") == 0)
        st = resnet(s.net, &s.x, (const int[]){3, 4, 6, 3}, 1, 0);
    else
        st = resnet(s.net, &s.x, (const int[]){1, 1, 1, 0}, 0, 1);
    if (st != LSUV_OK) {
        lsuv_net_destroy(s.net);
        return st;
    }
    *out = s.net;
    return LSUV_OK;
}
