/* test_faults.c - lsuv_init is all or nothing. Failures are injected into a whole run on
 * a small residual net (tools/zoo.c's resnet_tiny): at each layer (a device error, device
 * memory exhausted, host memory exhausted), and at the k-th host allocation and the k-th
 * device allocation for every k until the run completes. Every failure must give an
 * error status with a message that says what failed and where, leave every parameter of
 * the network bit for bit as it was, and leave the context usable: a later run gives
 * exactly the weights of a run that never failed. Leaks are ASan's to find (the suite
 * runs under -Db_sanitize=address,undefined in CI: scripts/test_sanitize).
 *
 * How failures are injected, with no hook in the library:
 *  - host: this executable links the static library with -Wl,--wrap=malloc,calloc,
 *    realloc,strdup (tests/meson.build), so the library's own calls (and this file's)
 *    go through the counters below while Mesa's, Criterion's and libc's internal ones do
 *    not; the counter is armed only around lsuv_init;
 *  - device: -Wl,--wrap=lsuv_buffer_alloc counts every sub-allocation the library asks
 *    for (graph values, statistics, working copies; not the scratch chunks memory.c
 *    makes for itself), and the context's own dispatch table gets counting versions of
 *    vkCreateBuffer and vkAllocateMemory (real driver allocations: blocks, scratch
 *    chunks, the staging buffer), with a 32 MiB allocation limit so that nearly every
 *    new value needs one;
 *  - device errors: vkQueueSubmit replaced by one that reports VK_ERROR_DEVICE_LOST. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "support.h"
#include "zoo.h"

/* ------------------------------------------------------------ injection */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
lsuv_status __real_lsuv_buffer_alloc(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out);
lsuv_status __real_lsuv_scratch(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out);

/* One counter per kind of fault. fail_at = k > 0 fails the k-th counted call only;
 * fail_all fails every call from then on (memory stays exhausted, the device lost).
 * Where log is set, the caller's address of each call is kept (call sites). */
#define MAX_LOG 65536
typedef struct counter {
    int armed;
    long calls, fail_at, failed;
    int fail_all;
    void *failed_site;
    void **log;
} counter;

static counter host, device, submit;

static int should_fail(counter *c, void *site)
{
    if (!c->armed)
        return 0;
    c->calls++;
    if (c->log && c->calls <= MAX_LOG)
        c->log[c->calls - 1] = site;
    if (c->fail_all || c->calls == c->fail_at) {
        c->failed++;
        c->failed_site = site;
        return 1;
    }
    return 0;
}
/* In a wrapper: the address it returns to is in the library's calling code. */
#define SHOULD_FAIL(c) should_fail(c, __builtin_return_address(0))

void *__wrap_malloc(size_t n) { return SHOULD_FAIL(&host) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return SHOULD_FAIL(&host) ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return SHOULD_FAIL(&host) ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return SHOULD_FAIL(&host) ? NULL : __real_strdup(s); }

/* Which device calls the device counter sees (a sweep counts one kind at a time). */
enum { DEV_SUBALLOC = 1, DEV_DRIVER = 2 };
static int device_kinds;

/* A sub-allocation that fails when its turn comes (site: the wrapper's caller). */
static int device_refused(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out, const char *what, void *site)
{
    if (!(device_kinds & DEV_SUBALLOC) || !should_fail(&device, site))
        return 0;
    memset(out, 0, sizeof *out);
    lsuv_fail(ctx, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "injected: no device memory for %llu bytes%s",
              (unsigned long long)bytes, what);
    return 1;
}

lsuv_status __wrap_lsuv_buffer_alloc(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out)
{
    return device_refused(ctx, bytes, out, "", __builtin_return_address(0)) ? LSUV_ERROR_OUT_OF_DEVICE_MEMORY
                                                                            : __real_lsuv_buffer_alloc(ctx, bytes, out);
}

/* Scratch memory of the kernels (memory.c hands out slices of chunks it allocates
 * itself, out of reach of the wrapper above). */
lsuv_status __wrap_lsuv_scratch(lsuv_context *ctx, uint64_t bytes, lsuv_buffer *out)
{
    return device_refused(ctx, bytes, out, " of scratch", __builtin_return_address(0))
               ? LSUV_ERROR_OUT_OF_DEVICE_MEMORY
               : __real_lsuv_scratch(ctx, bytes, out);
}

/* The real entry points of the one context under test. */
static PFN_vkCreateBuffer real_create_buffer;
static PFN_vkAllocateMemory real_allocate_memory;
static PFN_vkQueueSubmit real_queue_submit;

static VKAPI_ATTR VkResult VKAPI_CALL fake_create_buffer(VkDevice d, const VkBufferCreateInfo *ci,
                                                         const VkAllocationCallbacks *a, VkBuffer *b)
{
    return SHOULD_FAIL(&device) ? VK_ERROR_OUT_OF_DEVICE_MEMORY : real_create_buffer(d, ci, a, b);
}

static VKAPI_ATTR VkResult VKAPI_CALL fake_allocate_memory(VkDevice d, const VkMemoryAllocateInfo *ai,
                                                           const VkAllocationCallbacks *a, VkDeviceMemory *m)
{
    return SHOULD_FAIL(&device) ? VK_ERROR_OUT_OF_DEVICE_MEMORY : real_allocate_memory(d, ai, a, m);
}

static VKAPI_ATTR VkResult VKAPI_CALL fake_queue_submit(VkQueue q, uint32_t n, const VkSubmitInfo *si, VkFence f)
{
    return SHOULD_FAIL(&submit) ? VK_ERROR_DEVICE_LOST : real_queue_submit(q, n, si, f);
}

static lsuv_context *fault_context(int device_calls)
{
    lsuv_context *ctx = test_context();
    real_create_buffer = ctx->vk.vkCreateBuffer;
    real_allocate_memory = ctx->vk.vkAllocateMemory;
    real_queue_submit = ctx->vk.vkQueueSubmit;
    ctx->vk.vkQueueSubmit = fake_queue_submit;
    if (device_calls & DEV_DRIVER) {
        ctx->vk.vkCreateBuffer = fake_create_buffer;
        ctx->vk.vkAllocateMemory = fake_allocate_memory;
        /* as on a device with a 32 MiB allocation limit: each new block is exactly what
         * is asked (memory.c), so most new values and every scratch chunk reach the driver */
        ctx->info.max_allocation_size = 32ull << 20; /* the staging buffer's size */
        ctx->force_staging = 1; /* and the staging buffer is made (on first use) */
    }
    return ctx;
}

/* Arms the counters for one lsuv_init; device_calls: which device calls count. */
static void arm(int device_calls)
{
    host.calls = device.calls = submit.calls = 0;
    host.failed = device.failed = submit.failed = 0;
    device_kinds = device_calls;
    host.armed = device.armed = submit.armed = 1;
}

static void disarm(void) { host.armed = device.armed = submit.armed = 0; }

static void reset_counters(void)
{
    disarm();
    void *h = host.log, *d = device.log;
    memset(&host, 0, sizeof host);
    memset(&device, 0, sizeof device);
    memset(&submit, 0, sizeof submit);
    host.log = h; /* kept: a sweep sets and clears them */
    device.log = d;
}

/* ------------------------------------------------------------ the network */

typedef struct snapshot {
    int count;
    float **values;
    int64_t *numel;
} snapshot;

/* Every F32 parameter, downloaded (the counters must be disarmed). */
static snapshot take(lsuv_net *net)
{
    snapshot s = {.count = lsuv_net_param_count(net)};
    s.values = calloc((size_t)s.count, sizeof *s.values);
    s.numel = calloc((size_t)s.count, sizeof *s.numel);
    cr_assert(s.values && s.numel);
    for (int i = 0; i < s.count; i++) {
        const char *name;
        lsuv_net_param_info(net, i, &name, NULL, NULL, &s.numel[i]);
        if (net->params[i].dtype != LSUV_DTYPE_F32)
            continue;
        s.values[i] = malloc((size_t)s.numel[i] * 4 + 1);
        cr_assert_not_null(s.values[i]);
        lsuv_status st = lsuv_net_get_param(net, name, s.values[i], s.numel[i]);
        cr_assert_eq(st, LSUV_OK, "get %s: %s", name, lsuv_context_last_error(net->ctx));
    }
    return s;
}

static void drop(snapshot *s)
{
    for (int i = 0; i < s->count; i++)
        free(s->values[i]);
    free(s->values);
    free(s->numel);
}

/* Every parameter of net equal, bit for bit, to the snapshot. */
static void check_same(lsuv_net *net, const snapshot *want, const char *what)
{
    snapshot got = take(net);
    cr_assert_eq(got.count, want->count);
    for (int i = 0; i < got.count; i++) {
        if (!want->values[i])
            continue;
        if (memcmp(got.values[i], want->values[i], (size_t)got.numel[i] * 4) != 0) {
            int64_t j = 0;
            while (memcmp(&got.values[i][j], &want->values[i][j], 4) == 0)
                j++;
            cr_assert_fail("%s: parameter %s changed: [%lld] is %.9g, was %.9g", what, net->params[i].name,
                           (long long)j, (double)got.values[i][j], (double)want->values[i][j]);
        }
    }
    drop(&got);
}

static lsuv_net *tiny_net(lsuv_context *ctx)
{
    lsuv_net *net = NULL;
    lsuv_status st = zoo_build(ctx, "resnet_tiny", NULL, &net);
    cr_assert_eq(st, LSUV_OK, "resnet_tiny: %s", lsuv_context_last_error(ctx));
    return net;
}

static lsuv_data *tiny_data(lsuv_context *ctx, int64_t n)
{
    lsuv_data *d = NULL;
    const int64_t dims[3] = {3, 32, 32};
    cr_assert_eq(lsuv_data_gaussian(ctx, n, 3, dims, 11, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    return d;
}

static lsuv_options tiny_options(lsuv_measure measure)
{
    lsuv_options o;
    lsuv_options_init(&o);
    o.measure = measure;
    o.center = 1; /* biases change too (the fc layer's) */
    o.tol_var = 0.02; /* a few tries per layer */
    return o;
}

/* A failed lsuv_init: an error status, no report, a message that names the cause
 * (`cause`, a substring), says where (`where`, a substring, or NULL), and says that
 * nothing was changed. */
static void check_failure(lsuv_context *ctx, lsuv_status st, lsuv_status want, const lsuv_report *rep,
                          const char *cause, const char *where, const char *what)
{
    const char *msg = lsuv_context_last_error(ctx);
    cr_assert_eq(st, want, "%s: %s instead of %s: %s", what, lsuv_status_string(st), lsuv_status_string(want), msg);
    cr_assert_null(rep, "%s: a report after a failure", what);
    cr_assert(strstr(msg, cause), "%s: the message does not name the cause '%s': %s", what, cause, msg);
    cr_assert(!where || strstr(msg, where), "%s: the message does not say '%s': %s", what, where, msg);
    cr_assert(strstr(msg, "nothing was changed"), "%s: the message does not say the network is unchanged: %s", what,
              msg);
}

/* ------------------------------------------------------------ a failure at each layer */

typedef struct layer_fault {
    int at;           /* layer whose start arms the fault */
    counter *c;       /* which kind */
    char name[64];    /* the layer's name, for the message check */
} layer_fault;

static void arm_at_layer(void *user, int layer, int layers, const char *name)
{
    (void)layers;
    layer_fault *f = user;
    if (layer == f->at) {
        snprintf(f->name, sizeof f->name, "%s", name);
        f->c->fail_all = 1; /* from here on: memory exhausted, device lost */
    }
}

/* For every layer of resnet_tiny and every kind of fault: a failure from that layer on
 * leaves every parameter as it was; then a run without faults on the same net matches a
 * run on a net that never saw one. */
static void each_layer(lsuv_measure measure)
{
    lsuv_context *ctx = fault_context(0);
    lsuv_data *d = tiny_data(ctx, 4);
    lsuv_net *net = tiny_net(ctx), *clean = tiny_net(ctx);
    snapshot before = take(net);
    lsuv_options o = tiny_options(measure);
    lsuv_report *rep = NULL;
    cr_assert_eq(lsuv_init(clean, d, &o, &rep), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    int layers = rep->layer_count;
    cr_assert_eq(layers, 10, "resnet_tiny: conv1, 3 blocks x 2 convs, 2 downsamples, fc");
    lsuv_report_free(rep);
    snapshot after = take(clean);

    struct { counter *c; lsuv_status status; const char *cause; } kinds[] = {
        {&submit, LSUV_ERROR_DEVICE_LOST, "VK_ERROR_DEVICE_LOST"},
        {&device, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "injected: no device memory"},
        {&host, LSUV_ERROR_OUT_OF_HOST_MEMORY, "host memory"},
    };
    for (int k = 0; k < 3; k++)
        for (int at = 0; at < layers; at++) {
            reset_counters();
            layer_fault f = {.at = at, .c = kinds[k].c};
            o.progress = arm_at_layer;
            o.progress_user = &f;
            arm(DEV_SUBALLOC);
            lsuv_status st = lsuv_init(net, d, &o, &rep);
            disarm();
            char what[128], where[96];
            snprintf(what, sizeof what, "%s from layer %d (%s), %s mode", lsuv_status_string(kinds[k].status), at,
                     f.name, measure == LSUV_MEASURE_PRE ? "pre" : "post");
            snprintf(where, sizeof where, "layer %s", f.name);
            cr_assert(kinds[k].c->failed > 0, "%s: nothing was injected", what);
            check_failure(ctx, st, kinds[k].status, rep, kinds[k].cause, where, what);
            check_same(net, &before, what);
        }
    reset_counters();
    o.progress = NULL;
    cr_assert_eq(lsuv_init(net, d, &o, &rep), LSUV_OK, "after the faults: %s", lsuv_context_last_error(ctx));
    lsuv_report_free(rep);
    check_same(net, &after, "a run after 30 failed ones");
    drop(&before);
    drop(&after);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_net_destroy(clean);
    lsuv_context_destroy(ctx);
}

Test(faults, each_layer_pre) { each_layer(LSUV_MEASURE_PRE); }
Test(faults, each_layer_post) { each_layer(LSUV_MEASURE_POST); }

/* ------------------------------------------------------------ every k-th allocation */

typedef enum sweep_mode {
    WARM,         /* one context, warmed by a complete run: every k of a steady run */
    COLD_NEW,     /* a fresh context per k, for the k whose call site a warm run never
                     reaches (pipeline creation, memory blocks, staging: first-run paths) */
    FRESH_MEMORY  /* every k, each on a context whose device memory was all given back
                     (pipelines kept: a fresh context per k costs seconds on lavapipe) */
} sweep_mode;

/* The net rebuilt on a context holding no device memory at all. */
static lsuv_net *fresh_memory(lsuv_context *ctx, lsuv_net *net)
{
    lsuv_net_destroy(net);
    lsuv_context_release_memory(ctx); /* nothing else holds device memory here */
    return tiny_net(ctx);
}

static void *cold_log[MAX_LOG], *warm_log[MAX_LOG];

static int listed(void *const *list, long n, void *site)
{
    for (long i = 0; i < n; i++)
        if (list[i] == site)
            return 1;
    return 0;
}

/* Fails the k-th counted call of `c`, for k = 1, 2, ... until a run completes (the k-th
 * call never comes), and checks each failure. Returns the number of k that failed. */
static long sweep(counter *c, lsuv_status want, const char *cause, int device_calls, sweep_mode mode,
                  lsuv_measure measure)
{
    lsuv_options o = tiny_options(measure);
    lsuv_context *ctx = fault_context(device_calls);
    lsuv_data *d = tiny_data(ctx, 2);
    lsuv_net *net = tiny_net(ctx);
    lsuv_report *rep = NULL;
    /* a run on a fresh context, then one on the warm context; their call sites logged */
    reset_counters();
    c->log = cold_log;
    arm(device_calls);
    lsuv_status st = lsuv_init(net, d, &o, &rep);
    long cold_calls = c->calls;
    disarm();
    cr_assert_eq(st, LSUV_OK, "%s", lsuv_context_last_error(ctx));
    lsuv_report_free(rep);
    lsuv_net_destroy(net);
    net = tiny_net(ctx);
    c->log = warm_log;
    arm(device_calls);
    st = lsuv_init(net, d, &o, &rep);
    long warm_calls = c->calls;
    disarm();
    c->log = NULL;
    cr_assert_eq(st, LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert(cold_calls <= MAX_LOG && warm_calls <= MAX_LOG);
    lsuv_report_free(rep);
    snapshot after = take(net), before = {0}; /* the weights of a run that never failed */
    if (mode == FRESH_MEMORY) { /* its first-run calls, pipelines made already */
        net = fresh_memory(ctx, net);
        c->log = cold_log;
        arm(device_calls);
        st = lsuv_init(net, d, &o, NULL);
        cold_calls = c->calls;
        disarm();
        c->log = NULL;
        cr_assert_eq(st, LSUV_OK, "%s", lsuv_context_last_error(ctx));
    }
    lsuv_net_destroy(net);
    net = NULL;
    long k, tested = 0;
    for (k = 1;; k++) {
        int cold = mode != WARM;
        if (mode == FRESH_MEMORY)
            net = fresh_memory(ctx, net);
        if (mode == COLD_NEW && k <= cold_calls &&
            (listed(warm_log, warm_calls, cold_log[k - 1]) || listed(cold_log, k - 1, cold_log[k - 1])))
            continue; /* this call site fails in the warm sweep, or failed already */
        if (mode == COLD_NEW) {
            lsuv_net_destroy(net);
            net = NULL;
            lsuv_data_free(d);
            lsuv_context_destroy(ctx);
            ctx = fault_context(device_calls);
            d = tiny_data(ctx, 2);
        }
        if (!net)
            net = tiny_net(ctx);
        if (!before.values || cold) {
            drop(&before);
            before = take(net);
        }
        reset_counters();
        c->fail_at = k;
        rep = NULL;
        arm(device_calls);
        st = lsuv_init(net, d, &o, &rep);
        disarm();
        if (!c->failed) { /* the k-th call never came: the run is complete */
            cr_assert_eq(st, LSUV_OK, "k = %ld: nothing injected, yet: %s", k, lsuv_context_last_error(ctx));
            cr_assert_not_null(rep);
            lsuv_report_free(rep);
            break;
        }
        tested++;
        if (cold)
            cr_assert_eq(c->failed_site, cold_log[k - 1], "k = %ld: a fresh context made other calls", k);
        char what[96];
        snprintf(what, sizeof what, "failing call %ld (%s)", k, lsuv_status_string(want));
        if (st == LSUV_OK) {
            /* A failure the library may absorb: memory.c keeps a freed device range it
             * cannot list (leaked until the context is destroyed). The result must then
             * be that of a run without faults. */
            lsuv_report_free(rep);
            check_same(net, &after, what);
        } else {
            check_failure(ctx, st, want, rep, cause, NULL, what);
            check_same(net, &before, what);
            const char *msg = lsuv_context_last_error(ctx);
            cr_assert(!strncmp(msg, "layer ", 6) || !strncmp(msg, "node ", 5) || !strncmp(msg, "lsuv_init: ", 11),
                      "%s: the message does not say where: %s", what, msg);
            if (!cold)
                continue; /* the same net again: it must be as good as new */
        }
        lsuv_net_destroy(net);
        net = NULL;
    }
    reset_counters();
    check_same(net, &after, "the complete run after the failed ones");
    drop(&before);
    drop(&after);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
    return tested;
}

Test(faults, every_host_allocation)
{
    long n = sweep(&host, LSUV_ERROR_OUT_OF_HOST_MEMORY, "host memory", 0, WARM, LSUV_MEASURE_POST);
    cr_assert(n > 50, "only %ld host allocations in a whole run?", n);
    cr_log_info("warm context: %ld host allocations failed one at a time", n);
}

Test(faults, every_host_allocation_first_run)
{
    long n = sweep(&host, LSUV_ERROR_OUT_OF_HOST_MEMORY, "host memory", 0, COLD_NEW, LSUV_MEASURE_PRE);
    cr_assert(n > 0, "a first run allocates nothing a second one does not?");
    cr_log_info("fresh context: %ld host allocation sites of a first run only, failed one at a time", n);
}

Test(faults, every_device_suballocation)
{
    long n = sweep(&device, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "injected: no device memory", DEV_SUBALLOC, WARM,
                   LSUV_MEASURE_POST);
    cr_assert(n > 50, "only %ld device allocations in a whole run?", n);
    cr_log_info("warm context: %ld device sub-allocations failed one at a time", n);
}

Test(faults, every_driver_allocation)
{
    long n = sweep(&device, LSUV_ERROR_OUT_OF_DEVICE_MEMORY, "VK_ERROR_OUT_OF_DEVICE_MEMORY", DEV_DRIVER,
                   FRESH_MEMORY, LSUV_MEASURE_PRE);
    cr_assert(n > 5, "only %ld driver allocations in a whole run?", n);
    cr_log_info("no device memory to start with: %ld driver allocations failed one at a time", n);
}
