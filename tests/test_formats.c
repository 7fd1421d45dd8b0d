/* test_formats.c - .npy, IDX and safetensors files (good and malformed) and the public data API. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/formats.h"
#include "support.h"

/* ------------------------------------------------------------ fixture helpers */

static char tdir[256]; /* per-test temporary folder (each Criterion test is its own process) */

static void teardown(void);
static void teardown_at_exit(void) { teardown(); }

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tdir, sizeof tdir, "%s/lsuv-formats-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tdir), "mkdtemp: %s", strerror(errno));
    atexit(teardown_at_exit); /* a failed assertion skips .fini; the worker still exits */
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static char fdir[300]; /* folder for the many small fuzz files: tmpfs when there is one */

static void teardown(void)
{
    if (tdir[0])
        remove_tree(tdir);
    if (fdir[0])
        remove_tree(fdir);
    tdir[0] = fdir[0] = '\0';
}

TestSuite(formats, .init = setup, .fini = teardown);

/* cr_skip_test ends the test without running .fini: clean up first. */
#define SKIP_TEST(...)             \
    do {                           \
        teardown();                \
        cr_skip_test(__VA_ARGS__); \
    } while (0)

/* A path in the test folder; a few rotating buffers so several can be live at once. */
static const char *tpath(const char *fmt, ...)
{
    static char bufs[8][600];
    static int next;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    char *b = bufs[next++ % 8];
    snprintf(b, 600, "%s/%s", tdir, name);
    return b;
}

/* A path for fuzz files: thousands of rewrites cost seconds on a disk, milliseconds on tmpfs. */
static const char *fuzz_path(const char *name)
{
    static char buf[600];
    if (!fdir[0]) {
        struct stat sb;
        if (!getenv("TMPDIR") && stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
            access("/dev/shm", W_OK) == 0)
            snprintf(fdir, sizeof fdir, "/dev/shm/lsuv-fuzz-XXXXXX");
        else
            snprintf(fdir, sizeof fdir, "%s/fuzz-XXXXXX", tdir);
        cr_assert_not_null(mkdtemp(fdir), "mkdtemp %s: %s", fdir, strerror(errno));
    }
    snprintf(buf, sizeof buf, "%s/%s", fdir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* A string literal's bytes, embedded NULs included, without the final NUL. */
#define write_lit(path, lit) write_bytes(path, lit, sizeof(lit) - 1)

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Entries of the test folder whose name contains ".tmp-" (left-over temporary files). */
static int count_temp_files(void)
{
    DIR *d = opendir(tdir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static void assert_contains(const char *msg, const char *needle)
{
    cr_assert_not_null(strstr(msg, needle), "message \"%s\" lacks \"%s\"", msg, needle);
}

/* A .npy file with the given version and header text (used as is) followed by data. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data, size_t n)
{
    size_t hl = strlen(dict);
    unsigned char pre[12] = { 0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0 };
    size_t pl;
    if (major == 1) {
        pre[8] = (unsigned char)hl;
        pre[9] = (unsigned char)(hl >> 8);
        pl = 10;
    } else {
        for (int i = 0; i < 4; i++)
            pre[8 + i] = (unsigned char)(hl >> (8 * i));
        pl = 12;
    }
    unsigned char *b = malloc(pl + hl + n + 1);
    memcpy(b, pre, pl);
    memcpy(b + pl, dict, hl);
    if (n)
        memcpy(b + pl + hl, data, n);
    write_bytes(path, b, pl + hl + n);
    free(b);
}

static void fill_pattern(float *x, size_t n, uint64_t seed)
{
    test_rng r = { seed };
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(test_rng_normal(&r) * 3.0);
    if (n > 2) {
        x[0] = -0.0f;
        x[1] = 1e-42f; /* a denormal must survive bit-exactly */
    }
}

static void expect_npy_fail(const char *path, const char *needle)
{
    lsuv_host_array a;
    char err[1024] = "";
    lsuv_status st = lsuv_npy_read(path, &a, err, sizeof err);
    cr_assert_eq(st, LSUV_ERROR_FORMAT, "%s: status %s, message \"%s\" (wanted \"%s\")", path,
                 lsuv_status_string(st), err, needle);
    cr_assert_null(a.data);
    assert_contains(err, path);
    assert_contains(err, needle);
}

/* ------------------------------------------------------------ .npy */

Test(formats, npy_roundtrip_odd_shapes)
{
    static const int64_t shapes[][5] = {
        { 2, 7, 13 }, { 2, 1, 1 }, { 4, 3, 5, 7, 9 }, { 4, 2, 1, 3, 1 }, { 3, 2, 3, 4 }, { 2, 1, 4099 },
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        lsuv_host_array a = { .ndim = (int)shapes[s][0] };
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++)
            n *= (size_t)(a.shape[i] = shapes[s][i + 1]);
        a.data = malloc(n * sizeof(float));
        fill_pattern(a.data, n, 100 + s);
        const char *p = tpath("rt%zu.npy", s);
        char err[1024] = "";
        cr_assert_eq(lsuv_npy_write(p, &a, err, sizeof err), LSUV_OK, "%s", err);
        cr_assert(lsuv_file_is_npy(p));

        size_t len;
        unsigned char *raw = read_bytes(p, &len);
        size_t hlen = raw[8] | (size_t)raw[9] << 8;
        cr_assert_eq(raw[6], 1);
        cr_assert_eq(raw[7], 0);
        cr_assert_eq((10 + hlen) % 64, 0, "data not 64-byte aligned");
        cr_assert_eq(raw[10 + hlen - 1], '\n');
        cr_assert_eq(len, 10 + hlen + n * 4);
        free(raw);

        lsuv_host_array b;
        cr_assert_eq(lsuv_npy_read(p, &b, err, sizeof err), LSUV_OK, "%s", err);
        cr_assert_eq(b.ndim, a.ndim);
        for (int i = 0; i < a.ndim; i++)
            cr_assert_eq(b.shape[i], a.shape[i]);
        cr_assert_eq(memcmp(a.data, b.data, n * 4), 0, "data differs for shape %zu", s);
        free(a.data);
        free(b.data);
    }
    cr_assert_eq(count_temp_files(), 0);
}

Test(formats, npy_v2_v3_and_header_variants)
{
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = (float)i - 5.5f;
    struct {
        int major;
        const char *dict;
        int ndim;
        int64_t shape[4];
    } cases[] = {
        { 2, "{ 'shape' : ( 3 , 4 , ) ,'fortran_order':False,  \"descr\":'<f4' ,}\n", 2, { 3, 4 } },
        { 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3, 2)}   \n", 3, { 2, 3, 2 } },
        { 1, "{'fortran_order': False, 'descr': '|f4', 'shape': (6L, 2L), }", 2, { 6, 2 } },
        { 1, "{'descr':'=f4','fortran_order':False,'shape':(1,2,3,2)}\t\r\n", 4, { 1, 2, 3, 2 } },
        { 2,
          "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 1), }                  \n",
          2,
          { 12, 1 } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *p = tpath("v%zu.npy", c);
        write_npy_raw(p, cases[c].major, cases[c].dict, v, sizeof v);
        lsuv_host_array a;
        char err[1024] = "";
        cr_assert_eq(lsuv_npy_read(p, &a, err, sizeof err), LSUV_OK, "case %zu: %s", c, err);
        cr_assert_eq(a.ndim, cases[c].ndim, "case %zu", c);
        for (int i = 0; i < a.ndim; i++)
            cr_assert_eq(a.shape[i], cases[c].shape[i], "case %zu dim %d", c, i);
        cr_assert_eq(memcmp(a.data, v, sizeof v), 0);
        free(a.data);
    }
}

/* Refused: what cannot be data. Complex, object, strings, dates, long double, structured:
 * each with the message naming the dtype. */
Test(formats, npy_refused_dtypes)
{
    double d[12] = { 0 };
    static const char *const refused[] = { "<c8", "<c16", "|O", "|O8", "<U3", "|S4", "<M8[s]", "<m8", "<f16",
                                           "<f3", ">i3", "<b2", "f4", "<V4", "<" };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        const char *p = tpath("refused%zu.npy", k);
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }\n", refused[k]);
        write_npy_raw(p, 1, dict, d, sizeof d);
        char want[64];
        snprintf(want, sizeof want, "dtype '%s' is not float32", refused[k]);
        expect_npy_fail(p, want);
    }
    const char *p = tpath("rec.npy");
    write_npy_raw(p, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }\n", d, 24);
    expect_npy_fail(p, "structured");

    /* Through the public API the message reaches the context. */
    lsuv_context *ctx = test_context();
    lsuv_data *data = (lsuv_data *)1;
    p = tpath("refused0.npy");
    cr_assert_eq(lsuv_data_load(ctx, p, &data), LSUV_ERROR_FORMAT);
    cr_assert_null(data);
    assert_contains(lsuv_context_last_error(ctx), "refused0.npy: dtype '<c8' is not float32");
    cr_assert_eq(lsuv_data_load(NULL, p, &data), LSUV_ERROR_FORMAT, "a NULL context still gets the status");
    lsuv_context_destroy(ctx);
}

/* Writes value v as `size` bytes, little- or big-endian, independent of the host. */
static void put_bytes(unsigned char *dst, uint64_t v, int size, int big)
{
    for (int b = 0; b < size; b++)
        dst[big ? size - 1 - b : b] = (unsigned char)(v >> (8 * b));
}

/* half bits -> value, all exact: normals, subnormals, signed zero, extremes, Inf, NaN */
static const struct {
    uint16_t bits;
    double value;
} halves[] = {
    { 0x3c00, 1.0 },           { 0xc000, -2.0 },       { 0x7bff, 65504.0 },       { 0x0001, 0x1p-24 },
    { 0x03ff, 1023 * 0x1p-24 }, { 0x0400, 0x1p-14 },     { 0x8000, -0.0 },          { 0x3555, 0.333251953125 },
    { 0x7c00, INFINITY },      { 0xfc00, -INFINITY },  { 0xb800, -0.5 },          { 0x5640, 100.0 },
    { 0x7e00, NAN },
};

typedef struct dtype_case {
    char kind;
    int size;
} dtype_case;

/* A value for element i of dtype c, as the double it stands for; *bits is what goes to
 * the file. Integer and float64 cases include values float32 cannot hold exactly. */
static double make_value(const dtype_case *c, test_rng *r, size_t i, uint64_t *bits)
{
    double u = test_rng_uniform(r);
    switch (c->kind) {
    case 'b': *bits = u < 0.5; return (double)*bits;
    case 'f':
        if (c->size == 2) {
            size_t k = (i * 7 + (size_t)(u * 13)) % (sizeof halves / sizeof halves[0]);
            *bits = halves[k].bits;
            return halves[k].value;
        }
        if (c->size == 4) {
            float f = (float)(test_rng_normal(r) * 3.0);
            uint32_t b;
            memcpy(&b, &f, 4);
            *bits = b;
            return f;
        } else {
            double v = i % 5 == 0 ? (double)(int)(u * 100) : test_rng_normal(r) * 3.0; /* some exact */
            if (i == 3)
                v = 1e300; /* beyond float32: Inf */
            memcpy(bits, &v, 8);
            return v;
        }
    case 'u': {
        uint64_t max = c->size == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * c->size)) - 1;
        uint64_t v = i % 3 ? (uint64_t)(u * 200) : max - (uint64_t)(u * (double)(max / 4)) * (i % 2);
        *bits = v;
        return (double)v; /* the double may round for uint64, so may (float)v: same value */
    }
    default: {
        int64_t max = c->size == 8 ? INT64_MAX : (INT64_C(1) << (8 * c->size - 1)) - 1;
        int64_t v = i % 3 ? (int64_t)(u * 200) - 100 : (i % 2 ? max : -max - 1) + (int64_t)(u * 50) * (i % 2 ? -1 : 1);
        *bits = (uint64_t)v;
        return (double)v;
    }
    }
}

/* The float32 a value must become: float16/32 as they are, others rounded to nearest. */
static float expected_float(const dtype_case *c, uint64_t bits, double v)
{
    if (c->kind == 'u' && c->size == 8)
        return (float)bits; /* straight from the integer: no double rounding */
    if (c->kind == 'i' && c->size == 8)
        return (float)(int64_t)bits;
    return (float)v;
}

static int exact_in_float(const dtype_case *c, uint64_t bits, double v)
{
    if (c->kind == 'f')
        return c->size < 8 || isnan(v) || (double)(float)v == v || isinf((float)v);
    uint64_t m = bits;
    if (c->kind == 'i' && (int64_t)(bits << (64 - 8 * c->size)) < 0) /* negative: magnitude */
        m = (uint64_t)0 - (uint64_t)((int64_t)(bits << (64 - 8 * c->size)) >> (64 - 8 * c->size));
    while (m && !(m & 1))
        m >>= 1;
    return m < (1u << 24);
}

/* Every dtype in both byte orders and both memory orders, odd shapes: each value equals the
 * reference bit for bit (NaN as NaN), in C order, and the note counts exactly the values
 * float32 could not hold. */
Test(formats, npy_dtypes_orders_conversions)
{
    static const dtype_case cases[] = {
        { 'f', 2 }, { 'f', 4 }, { 'f', 8 }, { 'i', 1 }, { 'i', 2 }, { 'i', 4 }, { 'i', 8 },
        { 'u', 1 }, { 'u', 2 }, { 'u', 4 }, { 'u', 8 }, { 'b', 1 },
    };
    static const int64_t shapes[][5] = { { 2, 3, 7 }, { 3, 2, 3, 5 }, { 4, 3, 1, 5, 2 }, { 2, 1, 1 } };
    int files = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int big = 0; big < 2; big++)
            for (int fortran = 0; fortran < 2; fortran++)
                for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                    const dtype_case *c = &cases[ci];
                    int ndim = (int)shapes[si][0];
                    const int64_t *shape = shapes[si] + 1;
                    size_t n = 1;
                    for (int k = 0; k < ndim; k++)
                        n *= (size_t)shape[k];
                    test_rng r = { 1000 + ci * 31 + (size_t)big * 7 + (size_t)fortran * 3 + si };
                    double *ref = malloc(n * sizeof *ref);
                    uint64_t *bits = malloc(n * sizeof *bits);
                    size_t lossy = 0;
                    for (size_t i = 0; i < n; i++) { /* i: C-order index */
                        ref[i] = make_value(c, &r, i, &bits[i]);
                        lossy += !exact_in_float(c, bits[i], ref[i]);
                    }
                    /* The file holds element (i0, i1, ...) at its C or Fortran position. */
                    unsigned char *buf = malloc(n * (size_t)c->size);
                    for (size_t i = 0; i < n; i++) {
                        size_t rem = i, fpos = 0, fstride = 1;
                        int64_t idx[4];
                        for (int k = ndim - 1; k >= 0; k--) {
                            idx[k] = (int64_t)(rem % (size_t)shape[k]);
                            rem /= (size_t)shape[k];
                        }
                        for (int k = 0; k < ndim; k++) {
                            fpos += (size_t)idx[k] * fstride;
                            fstride *= (size_t)shape[k];
                        }
                        put_bytes(buf + (fortran ? fpos : i) * (size_t)c->size, bits[i], c->size, big);
                    }
                    char shape_txt[64], dict[160];
                    size_t len = (size_t)snprintf(shape_txt, sizeof shape_txt, "(");
                    for (int k = 0; k < ndim; k++)
                        len += (size_t)snprintf(shape_txt + len, sizeof shape_txt - len, "%s%lld", k ? ", " : "",
                                                (long long)shape[k]);
                    snprintf(shape_txt + len, sizeof shape_txt - len, ")");
                    snprintf(dict, sizeof dict, "{'descr': '%c%c%d', 'fortran_order': %s, 'shape': %s, }\n",
                             c->size == 1 ? '|' : big ? '>' : '<', c->kind, c->size, fortran ? "True" : "False",
                             shape_txt);
                    const char *p = tpath("dt_%c%d_%d_%d_%zu.npy", c->kind, c->size, big, fortran, si);
                    write_npy_raw(p, 1, dict, buf, n * (size_t)c->size);
                    lsuv_host_array a;
                    char err[1024] = "";
                    cr_assert_eq(lsuv_npy_read(p, &a, err, sizeof err), LSUV_OK, "%s: %s", dict, err);
                    cr_assert_eq(a.ndim, ndim);
                    for (int k = 0; k < ndim; k++)
                        cr_assert_eq(a.shape[k], shape[k]);
                    for (size_t i = 0; i < n; i++) {
                        float want = expected_float(c, bits[i], ref[i]);
                        if (isnan(want))
                            cr_assert(isnan(a.data[i]), "%s element %zu: %g, wanted NaN", dict, i, a.data[i]);
                        else
                            cr_assert(memcmp(&a.data[i], &want, 4) == 0, "%s element %zu: %.9g, wanted %.9g", dict, i,
                                      a.data[i], want);
                    }
                    int overflow = c->kind == 'f' && c->size == 8 && n > 3; /* element 3 is 1e300 */
                    if (lossy || overflow) {
                        char want_note[64];
                        snprintf(want_note, sizeof want_note, "%zu of %zu rounded", lossy, n);
                        if (overflow)
                            assert_contains(a.note, "1 beyond float32's range became Inf");
                        if (lossy)
                            assert_contains(a.note, want_note);
                        else
                            cr_assert_null(strstr(a.note, "rounded"), "%s", a.note);
                        assert_contains(a.note, p);
                    } else {
                        cr_assert_str_empty(a.note, "%s: note \"%s\" for a lossless conversion", dict, a.note);
                    }
                    /* from memory: the same result */
                    size_t flen;
                    unsigned char *raw = read_bytes(p, &flen);
                    lsuv_host_array m;
                    cr_assert_eq(lsuv_npy_read_memory(raw, flen, "mem", &m, err, sizeof err), LSUV_OK, "%s", err);
                    cr_assert_eq(memcmp(m.data, a.data, n * 4), 0, "%s: memory and file reads differ", dict);
                    free(m.data);
                    free(raw);
                    free(a.data);
                    free(buf);
                    free(bits);
                    free(ref);
                    files++;
                }
    cr_assert_eq(files, 12 * 2 * 2 * 4);
}

/* The public API hands the note to the caller (and prints nothing itself). */
Test(formats, data_load_conversion_note)
{
    double v[2 * 5];
    for (int i = 0; i < 10; i++)
        v[i] = i == 4 ? 0.1 : i * 0.25; /* 0.1 is not a float; the others are */
    const char *p = tpath("f8.npy");
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 5), }\n", v, sizeof v);
    lsuv_data *d = NULL;
    cr_assert_eq(lsuv_data_load(NULL, p, &d), LSUV_OK);
    cr_assert_not_null(d->note);
    assert_contains(d->note, "f8.npy: float64 values converted to float32: 1 of 10 rounded");
    cr_assert_eq(d->values[4], 0.1f);
    cr_assert_eq(d->values[9], 2.25f);
    lsuv_data_free(d);
    for (int i = 0; i < 10; i++)
        v[i] = i * 0.25;
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 5), }\n", v, sizeof v);
    cr_assert_eq(lsuv_data_load(NULL, p, &d), LSUV_OK);
    cr_assert_null(d->note, "lossless float64 got a note: %s", d->note);
    lsuv_data_free(d);
}

Test(formats, npy_dimensions_refused)
{
    float f[120] = { 0 };
    lsuv_context *ctx = test_context();
    lsuv_data *data = NULL;

    const char *p3 = tpath("x3.npy");
    write_npy_raw(p3, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, 5), }\n", f, 60 * 4);
    cr_assert_eq(lsuv_data_load(ctx, p3, &data), LSUV_ERROR_FORMAT);
    char want[700];
    snprintf(want, sizeof want, "%s: shape (3, 4, 5) has 3 dimensions; expected N x F or N x C x H x W", p3);
    cr_assert_str_eq(lsuv_context_last_error(ctx), want);

    const char *p5 = tpath("x5.npy");
    write_npy_raw(p5, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5), }\n", f,
                  120 * 4);
    cr_assert_eq(lsuv_data_load(ctx, p5, &data), LSUV_ERROR_FORMAT);
    snprintf(want, sizeof want, "%s: shape (1, 2, 3, 4, 5) has 5 dimensions; expected N x F or N x C x H x W",
             p5);
    cr_assert_str_eq(lsuv_context_last_error(ctx), want);
    expect_npy_fail(p5, "has 5 dimensions");

    const char *p1 = tpath("x1.npy");
    write_npy_raw(p1, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n", f, 5 * 4);
    expect_npy_fail(p1, "shape (5,) has 1 dimension;");
    const char *p0 = tpath("x0.npy");
    write_npy_raw(p0, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", f, 4);
    expect_npy_fail(p0, "shape () has 0 dimensions");

    /* Zero samples: readable, but not data. */
    const char *pz = tpath("z.npy");
    write_npy_raw(pz, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }\n", f, 0);
    cr_assert_eq(lsuv_data_load(ctx, pz, &data), LSUV_ERROR_FORMAT);
    assert_contains(lsuv_context_last_error(ctx), "no samples");
    lsuv_context_destroy(ctx);
}

Test(formats, npy_truncated_and_bad_files)
{
    float f[13] = { 0 };
    const char *d23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
    const char *p = tpath("short.npy");
    write_npy_raw(p, 1, d23, f, 5 * 4);
    expect_npy_fail(p, "truncated");
    p = tpath("long.npy");
    write_npy_raw(p, 1, d23, f, 7 * 4);
    expect_npy_fail(p, "unexpected bytes");
    p = tpath("magic.npy");
    write_lit(p, "PK\x03\x04 this is a zip");
    expect_npy_fail(p, "bad magic: starts with 50 4b 03 04 20 74)");
    cr_assert_not(lsuv_file_is_npy(p));
    p = tpath("empty.npy");
    write_lit(p, "");
    expect_npy_fail(p, "empty");
    p = tpath("pre.npy");
    write_lit(p, "\x93NUMPY\x01");
    expect_npy_fail(p, "preamble");
    p = tpath("ver.npy");
    write_npy_raw(p, 4, d23, f, 24);
    expect_npy_fail(p, "version 4.0");
    /* header length beyond the file */
    p = tpath("hlen.npy");
    write_lit(p, "\x93NUMPY\x01\x00\xff\xff{'descr'");
    expect_npy_fail(p, "past the end");
    p = tpath("hlen2.npy");
    write_lit(p, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{");
    expect_npy_fail(p, "limit");

    /* Overflowing shapes. */
    p = tpath("ovf.npy");
    write_npy_raw(
        p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }\n", f, 16);
    expect_npy_fail(p, "too large");
    p = tpath("ovf2.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 1), }\n", f,
                  16);
    expect_npy_fail(p, "too large");
    p = tpath("ovf3.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }\n",
                  f, 16);
    expect_npy_fail(p, "64 bits");
    /* A big but representable shape on a small file is "truncated", not an allocation. */
    p = tpath("huge.npy");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }\n", f, 16);
    expect_npy_fail(p, "truncated");

    struct {
        const char *dict, *needle;
    } bad[] = {
        { "garbage garbage", "not a Python dict" },
        { "{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'" },
        { "{'descr': '<f4', 'shape': (2, 3)}", "lacks 'fortran_order'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unknown key" },
        { "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "twice" },
        { "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", "neither True nor False" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "non-negative integer" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "not a tuple" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "unterminated header dict" },
        { "{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", "after the header dict" },
        { "{'descr' '<f4'}", "expected ':'" },
        { "{'descr': '<f4' 'fortran_order': False}", "expected ',' or '}'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", "unterminated shape" },
        { "{'descr': '<f4\n', 'fortran_order': False, 'shape': (2, 3)}", "unsupported character" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\0", "NUL" },
        { "", "not a Python dict" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = tpath("bad%zu.npy", i);
        size_t hl = strlen(bad[i].dict);
        if (strstr(bad[i].needle, "NUL")) {
            char h[128];
            memcpy(h, bad[i].dict, hl + 1);
            unsigned char b[256] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl + 1), 0 };
            memcpy(b + 10, h, hl + 1);
            memcpy(b + 10 + hl + 1, f, 24);
            write_bytes(p, b, 10 + hl + 1 + 24);
        } else {
            write_npy_raw(p, 1, bad[i].dict, f, 24);
        }
        expect_npy_fail(p, bad[i].needle);
    }
    /* A missing file is an I/O error, not a format error. */
    lsuv_host_array a;
    char err[512];
    cr_assert_eq(lsuv_npy_read(tpath("missing.npy"), &a, err, sizeof err), LSUV_ERROR_IO);
    assert_contains(err, "No such file");
}

/* Every truncation of a valid file is refused; random corruptions never crash and any
 * accepted file is consistent with its size. */
Test(formats, npy_fuzz_truncations_and_mutations)
{
    lsuv_host_array a = { .ndim = 2, .shape = { 3, 4 } };
    float v[12];
    fill_pattern(v, 12, 7);
    a.data = v;
    char err[1024];
    const char *good = tpath("good.npy");
    cr_assert_eq(lsuv_npy_write(good, &a, err, sizeof err), LSUV_OK, "%s", err);
    size_t len;
    unsigned char *raw = read_bytes(good, &len);
    const char *p = fuzz_path("fuzz.npy");
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(p, raw, cut);
        lsuv_host_array b;
        cr_assert_neq(lsuv_npy_read(p, &b, err, sizeof err), LSUV_OK, "truncated at %zu accepted", cut);
    }
    test_rng r = { 99 };
    unsigned char *m = malloc(len + 16);
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, raw, len);
        int flips = test_rng_int(&r, 1, 3);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)test_rng_int(&r, 0, (int)(it % 2 ? 80 : len - 1));
            m[at] = (unsigned char)test_rng_int(&r, 0, 255);
        }
        write_bytes(p, m, len);
        lsuv_host_array b;
        lsuv_status st = lsuv_npy_read(p, &b, err, sizeof err);
        if (st == LSUV_OK) {
            accepted++;
            int64_t n = 1;
            for (int i = 0; i < b.ndim; i++)
                n *= b.shape[i];
            size_t pre = m[6] == 1 ? 10 : 12;
            size_t hl = m[8] | (size_t)m[9] << 8;
            if (pre == 12)
                hl |= (size_t)m[10] << 16 | (size_t)m[11] << 24;
            cr_assert_eq(pre + hl + (size_t)n * 4, len);
            free(b.data);
        } else {
            cr_assert_eq(st, LSUV_ERROR_FORMAT, "mutation %d: %s: %s", it, lsuv_status_string(st), err);
            cr_assert_gt(strlen(err), 0);
        }
    }
    cr_log_info("npy fuzz: %d of 3000 mutated files accepted, each consistent with its size", accepted);
    free(m);
    free(raw);
}

/* ------------------------------------------------------------ IDX */

static void write_idx(const char *path, int gz, const unsigned char *head, size_t head_len,
                      const unsigned char *data, size_t n)
{
    if (!gz) {
        unsigned char *b = malloc(head_len + n + 1);
        memcpy(b, head, head_len);
        if (n)
            memcpy(b + head_len, data, n);
        write_bytes(path, b, head_len + n);
        free(b);
        return;
    }
    gzFile g = gzopen(path, "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, head, (unsigned)head_len), (int)head_len);
    if (n)
        cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

Test(formats, idx_plain_and_gzip)
{
    /* 5 images of 3 x 4, and a 2-D (N x F) file of 6 x 7. */
    unsigned char head3[16] = { 0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 4 };
    unsigned char head2[12] = { 0, 0, 8, 2, 0, 0, 0, 6, 0, 0, 0, 7 };
    unsigned char px[60], fx[42];
    for (int i = 0; i < 60; i++)
        px[i] = (unsigned char)(i * 37 % 256);
    px[0] = 0;
    px[1] = 255;
    for (int i = 0; i < 42; i++)
        fx[i] = (unsigned char)(250 - i * 5);
    lsuv_context *ctx = test_context();
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tpath("img%d.idx", gz);
        write_idx(p, gz, head3, sizeof head3, px, sizeof px);
        {
            size_t len;
            unsigned char *raw = read_bytes(p, &len);
            cr_assert_eq(gz ? (raw[0] == 0x1f && raw[1] == 0x8b) : raw[2] == 8, 1);
            free(raw);
        }
        lsuv_host_array a;
        char err[1024] = "";
        cr_assert_eq(lsuv_idx_read(p, &a, err, sizeof err), LSUV_OK, "%s", err);
        cr_assert_eq(a.ndim, 4);
        cr_assert_eq(a.shape[0], 5);
        cr_assert_eq(a.shape[1], 1);
        cr_assert_eq(a.shape[2], 3);
        cr_assert_eq(a.shape[3], 4);
        for (int i = 0; i < 60; i++)
            cr_assert_eq(a.data[i], (float)px[i] / 255.0f, "pixel %d", i);
        cr_assert_eq(a.data[0], 0.0f);
        cr_assert_eq(a.data[1], 1.0f);
        free(a.data);
        cr_assert_not(lsuv_file_is_npy(p));

        lsuv_data *d = NULL;
        cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
        cr_assert_eq(d->n, 5);
        cr_assert_eq(d->ndim, 3);
        cr_assert_eq(d->dims[0], 1);
        cr_assert_eq(d->dims[1], 3);
        cr_assert_eq(d->dims[2], 4);
        cr_assert_eq(d->values[59], (float)px[59] / 255.0f);
        lsuv_data_free(d);

        p = tpath("feat%d.idx", gz);
        write_idx(p, gz, head2, sizeof head2, fx, sizeof fx);
        cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
        cr_assert_eq(d->n, 6);
        cr_assert_eq(d->ndim, 1);
        cr_assert_eq(d->dims[0], 7);
        for (int i = 0; i < 42; i++)
            cr_assert_eq(d->values[i], (float)fx[i] / 255.0f);
        lsuv_data_free(d);
    }
    lsuv_context_destroy(ctx);
}

/* Memory and file readers share one decoder: same floats for plain, gzip and a gzip file
 * of two concatenated members (as `cat a.gz b.gz` makes); a cut stream fails in memory too. */
Test(formats, idx_memory_and_gzip_members)
{
    unsigned char head[16] = { 0, 0, 8, 3, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 0, 3 };
    unsigned char px[105];
    test_rng r = { 21 };
    for (int i = 0; i < 105; i++)
        px[i] = (unsigned char)test_rng_int(&r, 0, 255);
    const char *p1 = tpath("m1.gz"), *p2 = tpath("m2.gz"), *pc = tpath("cat.gz"), *pp = tpath("plain.idx");
    write_idx(p1, 1, head, 16, px, 40);
    write_idx(p2, 1, px + 40, 65, NULL, 0);
    write_idx(pp, 0, head, 16, px, 105);
    size_t l1, l2;
    unsigned char *b1 = read_bytes(p1, &l1), *b2 = read_bytes(p2, &l2);
    unsigned char *cat = malloc(l1 + l2 + 3);
    memcpy(cat, b1, l1);
    memcpy(cat + l1, b2, l2);
    write_bytes(pc, cat, l1 + l2);
    const char *paths[] = { pp, pc };
    for (int k = 0; k < 2; k++) {
        lsuv_host_array f, m;
        char err[1024] = "";
        cr_assert_eq(lsuv_idx_read(paths[k], &f, err, sizeof err), LSUV_OK, "%s", err);
        size_t len;
        unsigned char *raw = read_bytes(paths[k], &len);
        cr_assert_eq(lsuv_idx_read_memory(raw, len, "mem", &m, err, sizeof err), LSUV_OK, "%s", err);
        cr_assert_eq(f.ndim, 4);
        cr_assert_eq(m.shape[0] * 1000 + m.shape[2] * 10 + m.shape[3], 7053);
        for (int i = 0; i < 105; i++) {
            cr_assert_eq(f.data[i], (float)px[i] / 255.0f, "file %d pixel %d", k, i);
            cr_assert_eq(m.data[i], f.data[i], "memory %d pixel %d", k, i);
        }
        free(f.data);
        free(m.data);
        free(raw);
    }
    lsuv_host_array m;
    char err[1024] = "";
    cr_assert_eq(lsuv_idx_read_memory(cat, l1 + l2 - 5, "cut", &m, err, sizeof err), LSUV_ERROR_FORMAT);
    assert_contains(err, "cut: ");
    cr_assert_null(m.data);
    free(cat);
    free(b1);
    free(b2);
}

static void expect_idx_fail(const char *path, const char *needle)
{
    lsuv_host_array a;
    char err[1024] = "";
    lsuv_status st = lsuv_idx_read(path, &a, err, sizeof err);
    cr_assert_eq(st, LSUV_ERROR_FORMAT, "%s: %s \"%s\" (wanted \"%s\")", path, lsuv_status_string(st), err,
                 needle);
    cr_assert_null(a.data);
    assert_contains(err, path);
    assert_contains(err, needle);
}

Test(formats, idx_malformed)
{
    unsigned char labels[8] = { 0, 0, 8, 1, 0, 0, 0, 10 };
    unsigned char lab[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 };
    unsigned char head3[16] = { 0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 4 };
    unsigned char px[64] = { 0 };
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tpath("labels%d", gz);
        write_idx(p, gz, labels, sizeof labels, lab, sizeof lab);
        expect_idx_fail(p, "holds labels (1 dimension, 10 items), not images");
        expect_idx_fail(p, "labels");

        p = tpath("short%d", gz);
        write_idx(p, gz, head3, sizeof head3, px, 59);
        expect_idx_fail(p, "truncated");
        p = tpath("long%d", gz);
        write_idx(p, gz, head3, sizeof head3, px, 61);
        expect_idx_fail(p, "trailing");
        p = tpath("head%d", gz);
        write_idx(p, gz, head3, 10, NULL, 0);
        expect_idx_fail(p, "truncated IDX header");

        unsigned char h[16];
        memcpy(h, head3, 16);
        h[2] = 0x0D;
        p = tpath("float%d", gz);
        write_idx(p, gz, h, 16, px, 60);
        expect_idx_fail(p, "0x0d (float32) is not supported");
        h[2] = 0x07;
        p = tpath("type%d", gz);
        write_idx(p, gz, h, 16, px, 60);
        expect_idx_fail(p, "not an IDX file");
        memcpy(h, head3, 16);
        h[3] = 4;
        p = tpath("dims%d", gz);
        write_idx(p, gz, h, 16, px, 64);
        expect_idx_fail(p, "4 dimensions");
        p = tpath("text%d", gz);
        write_idx(p, gz, (const unsigned char *)"hello world", 11, NULL, 0);
        expect_idx_fail(p,
                        gz ? "gzip-compressed data starts with 68 65 6c 6c" : "data starts with 68 65 6c 6c");
    }
    /* Dimensions whose product is huge: refused before any allocation. */
    unsigned char big[16] = { 0,    0,    8,    3,    0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    write_idx(tpath("big0"), 0, big, 16, px, 60);
    expect_idx_fail(tpath("big0"), "too large");
    unsigned char big2[16] = { 0, 0, 8, 3, 0x10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0 };
    write_idx(tpath("big1"), 1, big2, 16, px, 60);
    expect_idx_fail(tpath("big1"), "truncated");

    /* A gzip stream cut in the middle. */
    unsigned char img[16 + 2000];
    memcpy(img, head3, 16);
    img[7] = 100;
    img[11] = 4;
    img[15] = 5;
    test_rng r = { 3 };
    for (int i = 16; i < 16 + 2000; i++)
        img[i] = (unsigned char)test_rng_int(&r, 0, 255);
    const char *gp = tpath("cut.gz");
    write_idx(gp, 1, img, sizeof img, NULL, 0);
    size_t len;
    unsigned char *raw = read_bytes(gp, &len);
    for (size_t cut = 0; cut < len; cut++) {
        const char *p = fuzz_path("cut.gz");
        write_bytes(p, raw, cut);
        lsuv_host_array a;
        char err[1024] = "";
        lsuv_status st = lsuv_idx_read(p, &a, err, sizeof err);
        cr_assert_eq(st, LSUV_ERROR_FORMAT, "cut at %zu of %zu: %s %s", cut, len, lsuv_status_string(st),
                     err);
    }
    free(raw);
}

static void check_fashion_mnist(const char *file, int64_t n, double want_mean, double *got_mean)
{
    char path[256];
    snprintf(path, sizeof path, "/usr/share/datasets/fashion-mnist/%s", file);
    if (access(path, R_OK) != 0)
        SKIP_TEST("%s is not installed", path);
    lsuv_data *d = NULL;
    lsuv_context *ctx = test_context();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(lsuv_data_load(ctx, path, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(d->n, n);
    cr_assert_eq(d->ndim, 3);
    cr_assert_eq(d->dims[0], 1);
    cr_assert_eq(d->dims[1], 28);
    cr_assert_eq(d->dims[2], 28);
    size_t count = (size_t)n * 784;
    double sum = 0;
    float lo = 1, hi = 0;
    for (size_t i = 0; i < count; i++) {
        float v = d->values[i];
        cr_assert(v >= 0.0f && v <= 1.0f, "value %zu = %g", i, v);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    double mean = sum / (double)count;
    fprintf(stderr, "%s: %lld x 1 x 28 x 28, mean pixel %.6f, range [%g, %g], loaded in %.3f s\n", file,
            (long long)n, mean, lo, hi,
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    cr_assert_eq(lo, 0.0f);
    cr_assert_eq(hi, 1.0f);
    cr_assert(fabs(mean - want_mean) < 0.002, "mean pixel %.6f, expected %.4f +- 0.002", mean, want_mean);
    *got_mean = mean;
    lsuv_data_free(d);
    lsuv_context_destroy(ctx);
}

Test(formats, fashion_mnist_t10k)
{
    double mean;
    check_fashion_mnist("t10k-images-idx3-ubyte.gz", 10000, 0.2868, &mean);
    /* The labels file next to it is refused with a clear message. */
    lsuv_data *d = NULL;
    cr_assert_eq(lsuv_data_load(NULL, "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", &d),
                 LSUV_ERROR_FORMAT);
}

Test(formats, fashion_mnist_train)
{
    double mean;
    check_fashion_mnist("train-images-idx3-ubyte.gz", 60000, 0.2860, &mean);
}

/* ------------------------------------------------------------ safetensors */

/* lsuv_text_printf once formatted into a 64-byte stack buffer and appended vsnprintf's
 * return value of bytes: longer text read past the buffer. Pieces of many lengths around
 * and far beyond 64, appended one after another, must come out whole. */
Test(formats, text_printf_any_length)
{
    lsuv_text t = {0};
    char want[8192] = "", piece[1100];
    size_t want_len = 0;
    for (int len = 0; len <= 1030; len += len < 70 ? 1 : 97) {
        for (int i = 0; i < len; i++)
            piece[i] = (char)('a' + (i * 7 + len) % 26);
        piece[len] = '\0';
        lsuv_text_printf(&t, "<%s|%d>", piece, len);
        want_len += (size_t)snprintf(want + want_len, sizeof want - want_len, "<%s|%d>", piece, len);
        cr_assert_lt(want_len, sizeof want);
    }
    cr_assert_not(t.oom);
    cr_assert_eq(t.len, want_len);
    cr_assert_eq(strlen(t.p), want_len, "text not NUL-terminated at its length");
    cr_assert_eq(memcmp(t.p, want, want_len), 0);
    free(t.p);
}

static void expect_st_equal(const lsuv_st_tensor *a, const lsuv_st_tensor *b, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cr_assert_str_eq(b[i].name, a[i].name, "tensor %zu", i);
        cr_assert_eq(b[i].dtype, a[i].dtype, "tensor %zu", i);
        cr_assert_eq(b[i].ndim, a[i].ndim, "tensor %zu", i);
        int64_t n = 1;
        for (int d = 0; d < a[i].ndim; d++) {
            cr_assert_eq(b[i].shape[d], a[i].shape[d]);
            n *= a[i].shape[d];
        }
        size_t bytes = (size_t)n * (a[i].dtype == LSUV_DTYPE_I64 ? 8 : 4);
        cr_assert_not_null(b[i].data);
        if (bytes)
            cr_assert_eq(memcmp(a[i].data, b[i].data, bytes), 0, "data of '%s'", a[i].name);
    }
}

Test(formats, safetensors_roundtrip)
{
    static float w[2 * 3 * 1 * 5], s = 0.125f, e[1];
    fill_pattern(w, 30, 5);
    static int64_t i1[3] = { -1, 0, INT64_C(9007199254740993) };
    static int64_t i0 = 123456789012345;
    const char *weird = "la\"yer\\1\n\t\x01\x1f/\xc3\xa9.weight";
    lsuv_st_tensor t[] = {
        { "conv1.weight", LSUV_DTYPE_F32, 4, { 2, 3, 1, 5 }, w },
        { "scale", LSUV_DTYPE_F32, 0, { 0 }, &s },
        { "bn.num_batches_tracked", LSUV_DTYPE_I64, 0, { 0 }, &i0 },
        { weird, LSUV_DTYPE_I64, 1, { 3 }, i1 },
        { "empty", LSUV_DTYPE_F32, 2, { 0, 4 }, e },
        { "nodata_empty", LSUV_DTYPE_F32, 1, { 0 }, NULL },
    };
    size_t count = sizeof t / sizeof t[0];
    const char *p = tpath("model.safetensors");
    char err[1024] = "";
    cr_assert_eq(lsuv_safetensors_write(p, t, count, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(count_temp_files(), 0);

    size_t len;
    unsigned char *raw = read_bytes(p, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    cr_assert_eq((8 + hlen) % 8, 0, "data area not 8-byte aligned");
    cr_assert_eq(len, 8 + hlen + 30 * 4 + 4 + 8 + 3 * 8);
    /* The escapes as JSON writes them. */
    const char *escaped = "\"la\\\"yer\\\\1\\n\\t\\u0001\\u001f/\xc3\xa9.weight\"";
    cr_assert_not_null(memmem(raw + 8, hlen, escaped, strlen(escaped)), "header: %.*s", (int)hlen, raw + 8);
    free(raw);

    lsuv_st_tensor *r = NULL;
    size_t rc = 0;
    cr_assert_eq(lsuv_safetensors_read(p, &r, &rc, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(rc, count);
    expect_st_equal(t, r, count);
    lsuv_safetensors_free(r, rc);

    /* Mode: 0666 minus the umask, like any new file (not mkstemp's 0600). */
    mode_t um = umask(022);
    umask(um);
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0666 & ~um, "mode %o", sb.st_mode & 0777);
}

Test(formats, safetensors_exact_header)
{
    float a[2] = { 1.0f, 2.0f };
    int64_t s = 7;
    lsuv_st_tensor t[] = { { "a", LSUV_DTYPE_F32, 1, { 2 }, a }, { "s", LSUV_DTYPE_I64, 0, { 0 }, &s } };
    const char *p = tpath("tiny.safetensors");
    char err[1024] = "";
    cr_assert_eq(lsuv_safetensors_write(p, t, 1, err, sizeof err), LSUV_OK, "%s", err);
    static const char want1[] = "\x38\0\0\0\0\0\0\0"
                                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  "
                                "\x00\x00\x80\x3f\x00\x00\x00\x40";
    size_t len;
    unsigned char *raw = read_bytes(p, &len);
    cr_assert_eq(len, sizeof want1 - 1);
    cr_assert_eq(memcmp(raw, want1, len), 0, "bytes: %.*s", (int)len - 8, raw + 8);
    free(raw);

    cr_assert_eq(lsuv_safetensors_write(p, t, 2, err, sizeof err), LSUV_OK, "%s", err);
    static const char want2[] = "\x70\0\0\0\0\0\0\0"
                                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}     "
                                "\x00\x00\x80\x3f\x00\x00\x00\x40"
                                "\x07\0\0\0\0\0\0\0";
    raw = read_bytes(p, &len);
    cr_assert_eq(len, sizeof want2 - 1);
    cr_assert_eq(memcmp(raw, want2, len), 0, "bytes: %.*s", (int)len - 8, raw + 8);
    free(raw);

    /* No tensors at all: "{}" padded to 8. */
    cr_assert_eq(lsuv_safetensors_write(p, t, 0, err, sizeof err), LSUV_OK, "%s", err);
    raw = read_bytes(p, &len);
    cr_assert_eq(len, 16);
    cr_assert_eq(memcmp(raw, "\x08\0\0\0\0\0\0\0{}      ", 16), 0);
    free(raw);
    lsuv_st_tensor *r;
    size_t rc = 9;
    cr_assert_eq(lsuv_safetensors_read(p, &r, &rc, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(rc, 0);
    lsuv_safetensors_free(r, rc);
}

/* The reader (json-c) checks the writer in these tests and reads users' files for
 * `forward --weights`, so it must refuse files whose offsets, sizes, dtypes or alignment
 * are off. */
Test(formats, safetensors_reader_is_strict)
{
    struct {
        const char *file;
        size_t len;
        const char *why;
    } bad[] = {
        {"\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  12345678", 72, "good"},
        {"\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,8]}}  12345678", 72, "offset"},
        {"\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}  12345678", 72, "shape"},
        {"\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}  12345678", 72, "dtype"},
        {"\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  123456789", 73, "tail"},
        {"\x37\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} 12345678", 71, "align"},
        {"\x38\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},  12345678", 72, "json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = tpath("strict%zu.safetensors", i);
        write_bytes(p, bad[i].file, bad[i].len);
        lsuv_st_tensor *t;
        size_t n;
        char err[512] = "";
        lsuv_status st = lsuv_safetensors_read(p, &t, &n, err, sizeof err);
        if (i == 0) {
            cr_assert_eq(st, LSUV_OK, "%s", err);
            cr_assert_eq(n, 1);
            cr_assert_eq(memcmp(t[0].data, "12345678", 8), 0);
            lsuv_safetensors_free(t, n);
        } else {
            cr_assert_eq(st, LSUV_ERROR_FORMAT, "%s: accepted", bad[i].why);
        }
    }
}

static const char old_content[] = "previous contents, must survive";

static void make_old_file(const char *p) { write_bytes(p, old_content, sizeof old_content); }

static void expect_old_file(const char *p)
{
    size_t len;
    unsigned char *raw = read_bytes(p, &len);
    cr_assert_eq(len, sizeof old_content);
    cr_assert_eq(memcmp(raw, old_content, len), 0, "destination changed");
    free(raw);
}

Test(formats, safetensors_atomic_failures)
{
    static float big[300000];
    float small[3] = { 1, 2, 3 };
    char err[1024] = "";

    /* 1. The folder does not exist: nothing is created, the message names path and cause. */
    const char *p = tpath("nodir/sub/model.safetensors");
    lsuv_st_tensor t1[] = { { "w", LSUV_DTYPE_F32, 1, { 3 }, small } };
    cr_assert_eq(lsuv_safetensors_write(p, t1, 1, err, sizeof err), LSUV_ERROR_IO);
    assert_contains(err, p);
    assert_contains(err, "No such file or directory");

    /* 2. Failure after the temporary file was written partly (a later tensor has no data). */
    p = tpath("model.safetensors");
    make_old_file(p);
    lsuv_st_tensor t2[] = {
        { "a", LSUV_DTYPE_F32, 1, { 300000 }, big },
        { "b", LSUV_DTYPE_F32, 1, { 3 }, NULL },
    };
    cr_assert_eq(lsuv_safetensors_write(p, t2, 2, err, sizeof err), LSUV_ERROR_INVALID_ARGUMENT);
    assert_contains(err, "'b'");
    assert_contains(err, "no data");
    expect_old_file(p);
    cr_assert_eq(count_temp_files(), 0, "temporary file left behind");

    /* 3. The destination is a folder: rename fails, the temporary file is removed. */
    const char *dirp = tpath("adir");
    cr_assert_eq(mkdir(dirp, 0755), 0);
    cr_assert_eq(lsuv_safetensors_write(dirp, t1, 1, err, sizeof err), LSUV_ERROR_IO);
    assert_contains(err, "rename");
    cr_assert_eq(count_temp_files(), 0);

    /* 4. The disk "fills" mid-write (RLIMIT_FSIZE, in a child process): EFBIG. */
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 64 * 1024, 64 * 1024 };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        lsuv_st_tensor t4[] = { { "a", LSUV_DTYPE_F32, 1, { 300000 }, big } };
        char e[1024] = "";
        lsuv_status st = lsuv_safetensors_write(p, t4, 1, e, sizeof e);
        if (st != LSUV_ERROR_IO)
            _exit(11);
        if (!strstr(e, "File too large") || !strstr(e, p))
            _exit(12);
        _exit(0);
    }
    int wst = 0;
    cr_assert_eq(waitpid(pid, &wst, 0), pid);
    cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "child status %d", wst);
    expect_old_file(p);
    cr_assert_eq(count_temp_files(), 0);

    /* 5. Invalid requests are refused before touching the disk. */
    lsuv_st_tensor dup[] = { { "x", LSUV_DTYPE_F32, 1, { 3 }, small },
                             { "x", LSUV_DTYPE_F32, 1, { 3 }, small } };
    cr_assert_eq(lsuv_safetensors_write(p, dup, 2, err, sizeof err), LSUV_ERROR_INVALID_ARGUMENT);
    assert_contains(err, "twice");
    lsuv_st_tensor neg[] = { { "x", LSUV_DTYPE_F32, 2, { 3, -1 }, small } };
    cr_assert_eq(lsuv_safetensors_write(p, neg, 1, err, sizeof err), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_st_tensor ovf[] = { { "x", LSUV_DTYPE_F32, 2, { INT64_C(1) << 40, INT64_C(1) << 40 }, small } };
    cr_assert_eq(lsuv_safetensors_write(p, ovf, 1, err, sizeof err), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_st_tensor utf[] = { { "bad\xff", LSUV_DTYPE_F32, 1, { 3 }, small } };
    cr_assert_eq(lsuv_safetensors_write(p, utf, 1, err, sizeof err), LSUV_ERROR_INVALID_ARGUMENT);
    assert_contains(err, "UTF-8");
    lsuv_st_tensor meta[] = { { "__metadata__", LSUV_DTYPE_F32, 1, { 3 }, small } };
    cr_assert_eq(lsuv_safetensors_write(p, meta, 1, err, sizeof err), LSUV_ERROR_INVALID_ARGUMENT);
    expect_old_file(p);

    /* 6. Success replaces the old file completely. */
    cr_assert_eq(lsuv_safetensors_write(p, t1, 1, err, sizeof err), LSUV_OK, "%s", err);
    lsuv_st_tensor *r;
    size_t rc;
    cr_assert_eq(lsuv_safetensors_read(p, &r, &rc, err, sizeof err), LSUV_OK, "%s", err);
    expect_st_equal(t1, r, 1);
    lsuv_safetensors_free(r, rc);
    cr_assert_eq(count_temp_files(), 0);

    /* npy_write shares the same path: a missing folder fails cleanly too. */
    lsuv_host_array a = { .ndim = 2, .shape = { 1, 3 }, .data = small };
    cr_assert_eq(lsuv_npy_write(tpath("nodir/x.npy"), &a, err, sizeof err), LSUV_ERROR_IO);
    assert_contains(err, "No such file or directory");
}

/* ------------------------------------------------------------ data API */

Test(formats, data_load_kinds)
{
    lsuv_context *ctx = test_context();
    lsuv_host_array a = { .ndim = 4, .shape = { 3, 2, 5, 7 } };
    a.data = malloc(210 * sizeof(float));
    fill_pattern(a.data, 210, 1);
    char err[1024];
    /* The kind comes from the content: a .npy named .idx and an IDX named .npy. */
    const char *p = tpath("really_npy.idx");
    cr_assert_eq(lsuv_npy_write(p, &a, err, sizeof err), LSUV_OK, "%s", err);
    lsuv_data *d = NULL;
    cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(d->n, 3);
    cr_assert_eq(d->ndim, 3);
    cr_assert_eq(d->dims[0], 2);
    cr_assert_eq(d->dims[1], 5);
    cr_assert_eq(d->dims[2], 7);
    cr_assert_eq(memcmp(d->values, a.data, 210 * sizeof(float)), 0);
    lsuv_data_free(d);

    lsuv_host_array f = { .ndim = 2, .shape = { 7, 30 }, .data = a.data };
    p = tpath("nf.npy");
    cr_assert_eq(lsuv_npy_write(p, &f, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(d->n, 7);
    cr_assert_eq(d->ndim, 1);
    cr_assert_eq(d->dims[0], 30);
    lsuv_data_free(d);

    unsigned char idx[16 + 12] = { 0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3 };
    p = tpath("really_idx.npy");
    write_bytes(p, idx, sizeof idx);
    cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(d->n, 3);
    cr_assert_eq(d->dims[0], 1);
    cr_assert_eq(d->values[2], 3.0f / 255.0f);
    lsuv_data_free(d);

    p = tpath("text.npy");
    write_lit(p, "hello");
    d = (lsuv_data *)1;
    cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_ERROR_FORMAT);
    cr_assert_null(d);
    assert_contains(lsuv_context_last_error(ctx), "neither .npy nor IDX");
    assert_contains(lsuv_context_last_error(ctx), "68 65 6c 6c");
    p = tpath("empty");
    write_lit(p, "");
    cr_assert_eq(lsuv_data_load(ctx, p, &d), LSUV_ERROR_FORMAT);
    assert_contains(lsuv_context_last_error(ctx), "empty");
    cr_assert_eq(lsuv_data_load(ctx, tpath("missing.npy"), &d), LSUV_ERROR_IO);
    assert_contains(lsuv_context_last_error(ctx), "missing.npy: cannot open: No such file or directory");
    cr_assert_eq(lsuv_data_load(ctx, NULL, &d), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_data_free(NULL);
    free(a.data);
    lsuv_context_destroy(ctx);
}

Test(formats, data_gaussian)
{
    lsuv_context *ctx = test_context();
    int64_t dims3[3] = { 3, 17, 19 }, dims1[1] = { 5 };
    lsuv_data *a, *b, *c, *s, *l;
    cr_assert_eq(lsuv_data_gaussian(ctx, 101, 3, dims3, 42, &a), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_data_gaussian(ctx, 101, 3, dims3, 42, &b), LSUV_OK);
    cr_assert_eq(lsuv_data_gaussian(ctx, 101, 3, dims3, 43, &c), LSUV_OK);
    cr_assert_eq(a->n, 101);
    cr_assert_eq(a->ndim, 3);
    cr_assert_eq(a->dims[2], 19);
    size_t n = 101 * 3 * 17 * 19;
    cr_assert_eq(memcmp(a->values, b->values, n * 4), 0, "same seed, different values");
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += a->values[i] == c->values[i];
    cr_assert_lt(same, 10, "seeds 42 and 43 agree on %zu of %zu values", same, n);
    /* Counter-based: a shorter request is a prefix of a longer one (odd count too). */
    cr_assert_eq(lsuv_data_gaussian(ctx, 3, 1, dims1, 42, &s), LSUV_OK);
    cr_assert_eq(lsuv_data_gaussian(ctx, 7, 1, dims1, 42, &l), LSUV_OK);
    cr_assert_eq(memcmp(s->values, l->values, 15 * 4), 0);
    cr_assert_eq(memcmp(s->values, a->values, 15 * 4), 0);

    /* Moments of ~100k values: mean within 5 sigma, variance too; tails present. */
    double sum = 0, sq = 0, m4 = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double v = a->values[i];
        cr_assert(isfinite(v));
        sum += v;
        sq += v * v;
        m4 += v * v * v * v;
        mx = fabs(v) > mx ? fabs(v) : mx;
    }
    double mean = sum / (double)n, var = sq / (double)n - mean * mean, kurt = m4 / (double)n;
    cr_assert_lt(fabs(mean), 5.0 / sqrt((double)n), "mean %g", mean);
    cr_assert_lt(fabs(var - 1.0), 5.0 * sqrt(2.0 / (double)n), "variance %g", var);
    cr_assert_lt(fabs(kurt - 3.0), 5.0 * sqrt(96.0 / (double)n), "fourth moment %g", kurt);
    cr_assert_gt(mx, 3.5, "max |x| = %g: tails missing", mx);
    fprintf(stderr, "gaussian: %zu values, mean %.5f, var %.5f, E[x^4] %.4f, max |x| %.3f\n", n, mean, var,
            kurt, mx);

    lsuv_data *bad = (lsuv_data *)1;
    int64_t zero[3] = { 3, 0, 4 }, dims2[2] = { 3, 4 };
    cr_assert_eq(lsuv_data_gaussian(ctx, 5, 2, dims2, 1, &bad), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_null(bad);
    cr_assert_eq(lsuv_data_gaussian(ctx, 5, 3, zero, 1, &bad), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_data_gaussian(ctx, 0, 1, dims1, 1, &bad), LSUV_ERROR_INVALID_ARGUMENT);
    int64_t huge[1] = { INT64_C(1) << 62 };
    cr_assert_eq(lsuv_data_gaussian(ctx, 1 << 20, 1, huge, 1, &bad), LSUV_ERROR_INVALID_ARGUMENT);
    assert_contains(lsuv_context_last_error(ctx), "positive");
    lsuv_data_free(a);
    lsuv_data_free(b);
    lsuv_data_free(c);
    lsuv_data_free(s);
    lsuv_data_free(l);
    lsuv_context_destroy(ctx);
}

Test(formats, data_standardize)
{
    lsuv_context *ctx = test_context();
    int64_t dims[3] = { 3, 11, 13 };
    lsuv_data *d;
    cr_assert_eq(lsuv_data_gaussian(ctx, 37, 3, dims, 9, &d), LSUV_OK);
    size_t n = 37 * 3 * 11 * 13;
    /* Shift and scale far from standard: mean 5, std 3 (+ a skew so it is not symmetric). */
    double *orig = malloc(n * sizeof *orig);
    for (size_t i = 0; i < n; i++) {
        d->values[i] = 5.0f + 3.0f * d->values[i] + (i % 7 == 0 ? 2.0f : 0.0f);
        orig[i] = d->values[i];
    }
    double m0 = 0, v0 = 0;
    for (size_t i = 0; i < n; i++)
        m0 += orig[i];
    m0 /= (double)n;
    for (size_t i = 0; i < n; i++)
        v0 += (orig[i] - m0) * (orig[i] - m0);
    v0 /= (double)n;
    cr_assert_eq(lsuv_data_standardize(ctx, d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    double m = 0, v = 0, maxdev = 0;
    for (size_t i = 0; i < n; i++) {
        m += d->values[i];
        double want = (orig[i] - m0) / sqrt(v0);
        double dev = fabs(d->values[i] - want);
        maxdev = dev > maxdev ? dev : maxdev;
    }
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (d->values[i] - m) * (d->values[i] - m);
    v /= (double)n;
    fprintf(stderr, "standardize: mean %.3g, var - 1 = %.3g, max deviation from double reference %.3g\n", m,
            v - 1, maxdev);
    cr_assert_lt(fabs(m), 1e-6, "mean %g", m);
    cr_assert_lt(fabs(v - 1.0), 1e-6, "variance %.9f", v);
    cr_assert_lt(maxdev, 1e-6, "elementwise deviation %g", maxdev);

    /* NaN / Inf / constant data are refused and left unchanged. */
    float saved = d->values[1000];
    d->values[1000] = NAN;
    cr_assert_eq(lsuv_data_standardize(ctx, d), LSUV_ERROR_BAD_DATA);
    assert_contains(lsuv_context_last_error(ctx), "NaN at value 1000 (sample 2, offset 142");
    d->values[1000] = saved;
    d->values[5] = -INFINITY;
    float before = d->values[6];
    cr_assert_eq(lsuv_data_standardize(ctx, d), LSUV_ERROR_BAD_DATA);
    assert_contains(lsuv_context_last_error(ctx), "Inf");
    cr_assert_eq(d->values[6], before);
    for (size_t i = 0; i < n; i++)
        d->values[i] = 0.25f;
    cr_assert_eq(lsuv_data_standardize(ctx, d), LSUV_ERROR_BAD_DATA);
    assert_contains(lsuv_context_last_error(ctx), "zero variance");
    cr_assert_eq(d->values[0], 0.25f);
    cr_assert_eq(lsuv_data_standardize(NULL, NULL), LSUV_ERROR_INVALID_ARGUMENT);
    free(orig);
    lsuv_data_free(d);
    lsuv_context_destroy(ctx);
}

/* ------------------------------------------------------------ numpy interoperability */

/* A python3 that has numpy (the PATH one may be a pyenv shim without it), or NULL. */
static const char *python_with_numpy(void)
{
    static const char *const candidates[] = { "python3", "/usr/bin/python3" };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", candidates[i]);
        if (system(cmd) == 0)
            return candidates[i];
    }
    return NULL;
}

Test(formats, numpy_interop)
{
    const char *py = python_with_numpy();
    if (!py)
        SKIP_TEST("no python3 with numpy");
    const char *a = tpath("np_a.npy"), *b = tpath("np_b.npy"), *c = tpath("ours.npy");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import numpy as np\n"
             "np.save('%s', (np.arange(15, dtype=np.float32).reshape(3, 5) * 0.5 - 2))\n"
             "np.save('%s', np.sin(np.arange(120, dtype=np.float32)).reshape(2, 3, 4, 5))\"",
             py, a, b);
    cr_assert_eq(system(cmd), 0, "numpy np.save failed");
    char err[1024];
    lsuv_host_array x;
    cr_assert_eq(lsuv_npy_read(a, &x, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(x.ndim, 2);
    cr_assert_eq(x.shape[0], 3);
    cr_assert_eq(x.shape[1], 5);
    for (int i = 0; i < 15; i++)
        cr_assert_eq(x.data[i], (float)i * 0.5f - 2.0f);
    free(x.data);
    cr_assert_eq(lsuv_npy_read(b, &x, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(x.ndim, 4);
    cr_assert_eq(x.shape[3], 5);
    for (int i = 0; i < 120; i++)
        cr_assert(fabs(x.data[i] - sin((double)i)) < 1e-6, "value %d", i);
    /* And numpy reads ours. */
    cr_assert_eq(lsuv_npy_write(c, &x, err, sizeof err), LSUV_OK, "%s", err);
    snprintf(cmd, sizeof cmd,
             "%s -c \"import numpy as np\n"
             "x = np.load('%s')\n"
             "assert x.dtype == np.float32 and x.shape == (2, 3, 4, 5), (x.dtype, x.shape)\n"
             "assert np.array_equal(x, np.load('%s'))\"",
             py, c, b);
    cr_assert_eq(system(cmd), 0, "numpy could not read our .npy");

    /* Our safetensors through Python's own (strict) json module and numpy. */
    const char *st = tpath("ours.safetensors");
    int64_t steps[2] = { -3, INT64_C(1) << 40 };
    lsuv_st_tensor t[] = { { "w\"\\\n\xc3\xa9", LSUV_DTYPE_F32, 4, { 2, 3, 4, 5 }, x.data },
                           { "steps", LSUV_DTYPE_I64, 1, { 2 }, steps } };
    cr_assert_eq(lsuv_safetensors_write(st, t, 2, err, sizeof err), LSUV_OK, "%s", err);
    /* The script goes through a file: no shell quoting of the escaped name. */
    const char *script = tpath("check_st.py");
    static const char check_st[] = "import json, struct, sys, numpy as np\n"
                                   "raw = open(sys.argv[1], 'rb').read()\n"
                                   "n = struct.unpack('<Q', raw[:8])[0]\n"
                                   "h = json.loads(raw[8:8 + n].decode('utf-8'))\n"
                                   "data = raw[8 + n:]\n"
                                   "name = 'w\"\\\\\\n\\u00e9'\n"
                                   "assert list(h) == [name, 'steps'] and (8 + n) % 8 == 0, list(h)\n"
                                   "e = h[name]\n"
                                   "assert e['dtype'] == 'F32' and e['shape'] == [2, 3, 4, 5], e\n"
                                   "b, end = e['data_offsets']\n"
                                   "w = np.frombuffer(data[b:end], dtype='<f4').reshape(2, 3, 4, 5)\n"
                                   "assert np.array_equal(w, np.load(sys.argv[2]))\n"
                                   "b, end = h['steps']['data_offsets']\n"
                                   "assert np.frombuffer(data[b:end], dtype='<i8').tolist() == [-3, 2**40]\n"
                                   "assert end == len(data)\n";
    write_lit(script, check_st);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' '%s'", py, script, st, b);
    cr_assert_eq(system(cmd), 0, "python could not read our safetensors: %s", cmd);

    /* numpy's own files of every accepted dtype, byte order and memory order, each beside
     * numpy's float32 C-order conversion of it: ours must match bit for bit. */
    const char *gen = tpath("gen_dtypes.py");
    static const char gen_py[] =
        "import sys, numpy as np\n"
        "rng = np.random.default_rng(7)\n"
        "base = rng.standard_normal((3, 5, 7)) * 1000\n"
        "kinds = ['<f8', '>f8', '<f2', '>f2', '>f4', '<i8', '>i4', '<i2', '|i1', '<u8', '>u4', '<u2', '|u1', '|b1']\n"
        "for k, dt in enumerate(kinds):\n"
        "    x = base.astype(dt) if dt[1] in 'f' else (base if dt[1] == 'i' else np.abs(base)).astype(dt)\n"
        "    if dt == '|b1': x = base > 0\n"
        "    for order in 'CF':\n"
        "        np.save('%s/np_%d_%s.npy' % (sys.argv[1], k, order), np.asarray(x, order=order))\n"
        "    np.save('%s/np_%d_ref.npy' % (sys.argv[1], k), np.ascontiguousarray(x.astype('<f4')))\n";
    write_lit(gen, gen_py);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", py, gen, tdir);
    cr_assert_eq(system(cmd), 0, "numpy could not write the dtype files");
    for (int k = 0; k < 14; k++) {
        lsuv_host_array ref, got;
        cr_assert_eq(lsuv_npy_read(tpath("np_%d_ref.npy", k), &ref, err, sizeof err), LSUV_OK, "%s", err);
        for (int o = 0; o < 2; o++) {
            cr_assert_eq(lsuv_npy_read(tpath("np_%d_%c.npy", k, "CF"[o]), &got, err, sizeof err), LSUV_OK, "%s", err);
            cr_assert_eq(got.ndim, 3);
            cr_assert_eq(got.shape[0] * 100 + got.shape[1] * 10 + got.shape[2], 357);
            cr_assert_eq(memcmp(got.data, ref.data, 105 * 4), 0, "dtype file %d order %c differs from numpy's", k,
                         "CF"[o]);
            free(got.data);
        }
        free(ref.data);
    }
    free(x.data);
}

/* Files from other writers: a "__metadata__" string map (PyTorch's safetensors adds
 * {"format": "pt"}) is skipped; the tensors around it are read with their values. */
Test(formats, safetensors_reader_skips_metadata)
{
    static const char hdr[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                              "\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
    size_t hl = sizeof hdr - 1, padded = (hl + 8 + 7) / 8 * 8 - 8;
    unsigned char buf[256] = {0};
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(padded >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    const float v[3] = {1.5f, -2.0f, 3.25f};
    memcpy(buf + 8 + padded, v, sizeof v);
    lsuv_st_tensor *t = NULL;
    size_t n = 0;
    char err[256] = "";
    cr_assert_eq(lsuv_safetensors_read_memory(buf, 8 + padded + sizeof v, "m.safetensors", &t, &n, err, sizeof err),
                 LSUV_OK, "%s", err);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(t[0].name, "w");
    cr_assert_eq(t[0].ndim, 1);
    cr_assert_eq(t[0].shape[0], 3);
    cr_assert_eq(memcmp(t[0].data, v, sizeof v), 0);
    lsuv_safetensors_free(t, n);
    /* the same bytes cut short: refused, nothing returned */
    cr_assert_eq(lsuv_safetensors_read_memory(buf, 8 + padded + 8, "m.safetensors", &t, &n, err, sizeof err),
                 LSUV_ERROR_FORMAT);
    cr_assert_null(t);
    cr_assert_eq(n, 0);
    cr_assert(strstr(err, "m.safetensors"), "%s", err);
}
