/* test_onnx_model.c - ONNX file I/O (formats/onnx_model.c): parsing, tensor values in every
 * storage (raw_data, typed fields, external data) and data type, malformed files, and
 * writing back with edits (byte-identical when nothing changes, model left untouched). The
 * models are built here with protobuf-c itself, so the suite needs no Python. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/onnx_model.h"

static char tdir[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
static void cleanup(void) { nftw(tdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tdir, sizeof tdir, "%s/lsuv-onnx-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tdir), "mkdtemp: %s", strerror(errno));
    atexit(cleanup); /* a failed assertion skips .fini; the worker still exits */
}

static char *tpath(const char *name)
{
    static char p[4][400];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, 400, "%s/%s", tdir, name);
    return s;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len ? (size_t)len : 1);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ------------------------------------------------------------ building models */

/* A graph of up to 8 initializers and 4 nodes, all in static storage of the test. */
typedef struct built {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__TensorProto tensors[8];
    Onnx__TensorProto *tptr[8];
    Onnx__NodeProto nodes[4];
    Onnx__NodeProto *nptr[4];
    char *node_inputs[4][3];
    char *node_outputs[4][1];
    Onnx__StringStringEntryProto ext[8][3];
    Onnx__StringStringEntryProto *extp[8][3];
    char ext_text[8][3][64];
} built;

static void build_init(built *b, int64_t opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.producer_name = "test_onnx_model";
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->graph.name = "g";
    b->graph.initializer = b->tptr;
    b->graph.node = b->nptr;
    b->model.graph = &b->graph;
}

static Onnx__TensorProto *add_tensor(built *b, const char *name, int32_t dt, int ndim, const int64_t *dims)
{
    size_t i = b->graph.n_initializer++;
    Onnx__TensorProto *t = &b->tensors[i];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = (size_t)ndim;
    t->dims = (int64_t *)dims;
    b->tptr[i] = t;
    return t;
}

static void set_raw(Onnx__TensorProto *t, const void *data, size_t n)
{
    t->has_raw_data = 1;
    t->raw_data.len = n;
    t->raw_data.data = (uint8_t *)data;
}

static void set_external(built *b, Onnx__TensorProto *t, const char *location, long long offset, long long length)
{
    size_t i = (size_t)(t - b->tensors), k = 0;
    const char *keys[3] = {"location", "offset", "length"};
    for (int e = 0; e < 3; e++) {
        if ((e == 1 && offset < 0) || (e == 2 && length < 0))
            continue;
        Onnx__StringStringEntryProto *en = &b->ext[i][k];
        onnx__string_string_entry_proto__init(en);
        en->key = (char *)keys[e];
        if (e == 0)
            en->value = (char *)location;
        else {
            snprintf(b->ext_text[i][k], 64, "%lld", e == 1 ? offset : length);
            en->value = b->ext_text[i][k];
        }
        b->extp[i][k++] = en;
    }
    t->n_external_data = k;
    t->external_data = b->extp[i];
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static Onnx__NodeProto *add_node(built *b, const char *op, const char *name, const char *in0, const char *in1,
                                 const char *out)
{
    size_t i = b->graph.n_node++;
    Onnx__NodeProto *n = &b->nodes[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    b->node_inputs[i][0] = (char *)in0;
    b->node_inputs[i][1] = (char *)in1;
    n->n_input = in1 ? 2 : 1;
    n->input = b->node_inputs[i];
    b->node_outputs[i][0] = (char *)out;
    n->n_output = 1;
    n->output = b->node_outputs[i];
    b->nptr[i] = n;
    return n;
}

static uint8_t *pack(const built *b, size_t *n)
{
    *n = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*n);
    cr_assert_eq(onnx__model_proto__pack(&b->model, buf), *n);
    return buf;
}

static lsuv_onnx_model *load_built(const built *b, const char *base_dir)
{
    size_t n;
    uint8_t *bytes = pack(b, &n);
    lsuv_onnx_model *m = NULL;
    char err[512] = "";
    lsuv_status st = lsuv_onnx_read_memory(bytes, n, base_dir, &m, err, sizeof err);
    free(bytes);
    cr_assert_eq(st, LSUV_OK, "read_memory: %s", err);
    return m;
}

static const Onnx__TensorProto *init_named(const lsuv_onnx_model *m, const char *name)
{
    for (size_t i = 0; i < m->proto->graph->n_initializer; i++)
        if (!strcmp(m->proto->graph->initializer[i]->name, name))
            return m->proto->graph->initializer[i];
    cr_assert_fail("no initializer %s", name);
    return NULL;
}

/* Seeded values with a fractional part, odd count. */
static void fill_values(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = ((float)((seed >> 8) & 0xffff) - 32768.0f) / 1024.0f;
    }
}

static void expect_f32(const lsuv_onnx_model *m, const char *name, const float *want, int64_t n)
{
    float *v = NULL;
    int64_t got = -1;
    char err[512] = "";
    lsuv_status st = lsuv_onnx_tensor_f32(m, init_named(m, name), &v, &got, err, sizeof err);
    cr_assert_eq(st, LSUV_OK, "%s: %s", name, err);
    cr_assert_eq(got, n, "%s: %lld elements, want %lld", name, (long long)got, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cr_assert(v[i] == want[i] || (isnan(v[i]) && isnan(want[i])), "%s[%lld] = %.9g, want %.9g", name,
                  (long long)i, v[i], want[i]);
    free(v);
}

static void expect_error(lsuv_status st, lsuv_status want, const char *err, const char *needle)
{
    cr_assert_eq(st, want, "status %s, want %s (%s)", lsuv_status_string(st), lsuv_status_string(want), err);
    cr_assert(strstr(err, needle), "message '%s' lacks '%s'", err, needle);
}

/* ------------------------------------------------------------ reading */

Test(onnx_read, opset_and_float_storages, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t dims[2] = {3, 7};
    float w[21], u[21];
    fill_values(w, 21, 1);
    fill_values(u, 21, 2);
    /* raw_data one byte into a buffer: the reader must not assume alignment */
    static uint8_t rawbuf[21 * 4 + 1];
    memcpy(rawbuf + 1, w, sizeof w);
    set_raw(add_tensor(&b, "raw", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, dims), rawbuf + 1, sizeof w);
    Onnx__TensorProto *t = add_tensor(&b, "typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, dims);
    t->n_float_data = 21;
    t->float_data = u;
    add_tensor(&b, "empty", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, (const int64_t[]){0})->has_raw_data = 1;
    lsuv_onnx_model *m = load_built(&b, NULL);
    cr_expect_eq(m->opset, 13);
    cr_expect_str_eq(m->base_dir, ".");
    cr_expect_eq(lsuv_onnx_numel(init_named(m, "raw")), 21);
    expect_f32(m, "raw", w, 21);
    expect_f32(m, "typed", u, 21);
    float *v = NULL;
    int64_t n = -1;
    cr_assert_eq(lsuv_onnx_tensor_f32(m, init_named(m, "empty"), &v, &n, NULL, 0), LSUV_OK);
    cr_expect_eq(n, 0);
    cr_expect_not_null(v, "0 elements still give a buffer");
    free(v);
    lsuv_onnx_free(m);
}

Test(onnx_read, dtype_conversions, .init = setup)
{
    built b;
    build_init(&b, 17);
    static const int64_t d5[1] = {5};
    /* float16: 1, -2, 0.5, a subnormal (2^-24), +inf; bfloat16: 1.5, -3, 0, 2^100, -0.25 */
    static const uint16_t h[5] = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00};
    static const uint16_t bf[5] = {0x3fc0, 0xc040, 0x0000, 0x7180, 0xbe80};
    static const double dd[5] = {0.1, -1e30, 3.0, 1e-3, -7.25};
    static const int8_t i8[5] = {-128, -1, 0, 1, 127};
    static const uint64_t u64[5] = {0, 1, 4294967296ull, 5, 9007199254740993ull};
    static const int32_t b32[5] = {0, 1, 0, 7, 1}; /* BOOL in int32_data: any non-zero is true */
    set_raw(add_tensor(&b, "f16", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, d5), h, sizeof h);
    Onnx__TensorProto *t = add_tensor(&b, "bf16", ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, 1, d5);
    int32_t bf32[5];
    for (int i = 0; i < 5; i++)
        bf32[i] = bf[i];
    t->n_int32_data = 5;
    t->int32_data = bf32;
    t = add_tensor(&b, "f64", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 1, d5);
    t->n_double_data = 5;
    t->double_data = (double *)dd;
    set_raw(add_tensor(&b, "i8", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1, d5), i8, sizeof i8);
    t = add_tensor(&b, "u64", ONNX__TENSOR_PROTO__DATA_TYPE__UINT64, 1, d5);
    t->n_uint64_data = 5;
    t->uint64_data = (uint64_t *)u64;
    t = add_tensor(&b, "bool", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1, d5);
    t->n_int32_data = 5;
    t->int32_data = (int32_t *)b32;
    lsuv_onnx_model *m = load_built(&b, NULL);
    expect_f32(m, "f16", (const float[]){1.0f, -2.0f, 0.5f, 5.9604644775390625e-08f, INFINITY}, 5);
    expect_f32(m, "bf16", (const float[]){1.5f, -3.0f, 0.0f, 0x1p100f, -0.25f}, 5);
    expect_f32(m, "f64", (const float[]){(float)0.1, (float)-1e30, 3.0f, (float)1e-3, -7.25f}, 5);
    expect_f32(m, "i8", (const float[]){-128, -1, 0, 1, 127}, 5);
    expect_f32(m, "bool", (const float[]){0, 1, 0, 1, 1}, 5);

    int64_t *iv = NULL, n = 0;
    char err[512] = "";
    cr_assert_eq(lsuv_onnx_tensor_i64(m, init_named(m, "u64"), &iv, &n, err, sizeof err), LSUV_OK, "%s", err);
    cr_assert_eq(n, 5);
    cr_expect_eq(iv[2], 4294967296ll);
    cr_expect_eq(iv[4], 9007199254740993ll, "int64 values must not pass through a double");
    free(iv);
    cr_assert_eq(lsuv_onnx_tensor_i64(m, init_named(m, "i8"), &iv, &n, err, sizeof err), LSUV_OK, "%s", err);
    cr_expect(iv[0] == -128 && iv[4] == 127);
    free(iv);
    expect_error(lsuv_onnx_tensor_i64(m, init_named(m, "f64"), &iv, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "not an integer");
    cr_expect_null(iv);
    lsuv_onnx_free(m);
}

Test(onnx_read, refuses_strings_and_mismatched_sizes, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t d3[1] = {3};
    static const float two[2] = {1, 2};
    static ProtobufCBinaryData strs[3];
    Onnx__TensorProto *t = add_tensor(&b, "s", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, 1, d3);
    t->n_string_data = 3;
    t->string_data = strs;
    set_raw(add_tensor(&b, "short_raw", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d3), two, sizeof two);
    t = add_tensor(&b, "short_typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d3);
    t->n_float_data = 2;
    t->float_data = (float *)two;
    add_tensor(&b, "negative", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, (const int64_t[]){-3});
    lsuv_onnx_model *m = load_built(&b, NULL);
    float *v = NULL;
    int64_t n;
    char err[512] = "";
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "s"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "'s': data type STRING");
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "short_raw"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT,
                 err, "raw_data holds 8 bytes");
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "short_typed"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT,
                 err, "float_data holds 2 values");
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "negative"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "invalid dims");
    cr_expect_eq(lsuv_onnx_numel(init_named(m, "negative")), -1);
    cr_expect_null(v);
    lsuv_onnx_free(m);
}

Test(onnx_read, malformed_files, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t dims[1] = {33};
    static float w[33];
    set_raw(add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, dims), w, sizeof w);
    size_t n;
    uint8_t *bytes = pack(&b, &n);
    lsuv_onnx_model *m = NULL;
    char err[512] = "";
    /* cut inside the tensor's bytes: a truncated download */
    write_bytes(tpath("cut.onnx"), bytes, n - 40);
    expect_error(lsuv_onnx_read_file(tpath("cut.onnx"), &m, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "truncated, or not protobuf");
    cr_expect(strstr(err, "cut.onnx"), "the message names the file: %s", err);
    cr_expect_null(m);
    static const char text[] = "\x0a\xff\xff\xff\xff\x0f garbage that is not a model";
    write_bytes(tpath("text.onnx"), text, sizeof text - 1);
    expect_error(lsuv_onnx_read_file(tpath("text.onnx"), &m, err, sizeof err), LSUV_ERROR_FORMAT, err, "not an ONNX");
    /* valid protobuf (ir_version 5 and nothing else) that is not a model */
    write_bytes(tpath("proto.onnx"), "\x08\x05", 2);
    expect_error(lsuv_onnx_read_file(tpath("proto.onnx"), &m, err, sizeof err), LSUV_ERROR_FORMAT, err, "has no graph");
    write_bytes(tpath("empty.onnx"), "", 0);
    expect_error(lsuv_onnx_read_file(tpath("empty.onnx"), &m, err, sizeof err), LSUV_ERROR_FORMAT, err, "empty file");
    expect_error(lsuv_onnx_read_file(tpath("absent.onnx"), &m, err, sizeof err), LSUV_ERROR_IO, err, "cannot open");
    expect_error(lsuv_onnx_read_file(tdir, &m, err, sizeof err), LSUV_ERROR_IO, err, "not a regular file");
    cr_expect_null(m);

    write_bytes(tpath("good.onnx"), bytes, n);
    cr_assert_eq(lsuv_onnx_read_file(tpath("good.onnx"), &m, err, sizeof err), LSUV_OK, "%s", err);
    cr_expect_str_eq(m->base_dir, tdir, "external data is looked up beside the model");
    cr_expect_eq(m->file_bytes, n);
    lsuv_onnx_free(m);
    free(bytes);
}

Test(onnx_read, external_data, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t d[2] = {5, 3}, d1[1] = {5}, d9[1] = {9};
    float w[15], bias[5];
    fill_values(w, 15, 3);
    fill_values(bias, 5, 4);
    static const int16_t i16[9] = {-30000, -1, 0, 1, 2, 3, 4, 5, 30000};
    /* one data file: 12 bytes of padding, w, then bias; a second file in a subfolder */
    uint8_t file[12 + sizeof w + sizeof bias];
    memset(file, 0xAB, sizeof file);
    memcpy(file + 12, w, sizeof w);
    memcpy(file + 12 + sizeof w, bias, sizeof bias);
    write_bytes(tpath("weights.bin"), file, sizeof file);
    cr_assert_eq(mkdir(tpath("sub"), 0777), 0);
    write_bytes(tpath("sub/i16.bin"), i16, sizeof i16);
    set_external(&b, add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d), "weights.bin", 12,
                 (long long)sizeof w);
    set_external(&b, add_tensor(&b, "b", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d1), "weights.bin",
                 12 + (long long)sizeof w, -1);
    set_external(&b, add_tensor(&b, "i16", ONNX__TENSOR_PROTO__DATA_TYPE__INT16, 1, d9), "sub/i16.bin", -1, -1);
    lsuv_onnx_model *m = load_built(&b, tdir);
    expect_f32(m, "w", w, 15);
    expect_f32(m, "b", bias, 5);
    expect_f32(m, "i16", (const float[]){-30000, -1, 0, 1, 2, 3, 4, 5, 30000}, 9);
    lsuv_onnx_free(m);
}

Test(onnx_read, external_data_errors, .init = setup)
{
    static const int64_t d[1] = {7};
    static float w[7];
    write_bytes(tpath("w.bin"), w, sizeof w);
    struct {
        const char *location;
        long long offset, length;
        lsuv_status st;
        const char *needle;
    } cases[] = {
        {"missing.bin", -1, -1, LSUV_ERROR_IO, "'missing.bin' is missing"},
        {"w.bin", 4, -1, LSUV_ERROR_FORMAT, "too short for 28 bytes at offset 4"},
        {"w.bin", -1, 24, LSUV_ERROR_FORMAT, "length 24 does not match its 28 bytes"},
        {"../w.bin", -1, -1, LSUV_ERROR_FORMAT, "'../w.bin' is not a relative path inside"},
        {"sub/../../w.bin", -1, -1, LSUV_ERROR_FORMAT, "is not a relative path inside"},
        {"/etc/passwd", -1, -1, LSUV_ERROR_FORMAT, "is not a relative path inside"},
        {"", -1, -1, LSUV_ERROR_FORMAT, "is not a relative path inside"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        built b;
        build_init(&b, 13);
        set_external(&b, add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d), cases[c].location,
                     cases[c].offset, cases[c].length);
        lsuv_onnx_model *m = load_built(&b, tdir);
        float *v = NULL;
        int64_t n;
        char err[512] = "";
        expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "w"), &v, &n, err, sizeof err), cases[c].st, err,
                     cases[c].needle);
        cr_expect(strstr(err, "initializer 'w'"), "case %zu: the message names the tensor: %s", c, err);
        cr_expect_null(v);
        lsuv_onnx_free(m);
    }
    /* an offset that is not a number */
    built b;
    build_init(&b, 13);
    Onnx__TensorProto *t = add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d);
    set_external(&b, t, "w.bin", 0, -1);
    strcpy(b.ext_text[0][1], "12x");
    lsuv_onnx_model *m = load_built(&b, tdir);
    float *v = NULL;
    int64_t n;
    char err[512] = "";
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "w"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "offset '12x' is not a non-negative integer");
    lsuv_onnx_free(m);
}

/* ------------------------------------------------------------ writing */

static uint8_t *pack_model(const lsuv_onnx_model *m, size_t *n)
{
    *n = onnx__model_proto__get_packed_size(m->proto);
    uint8_t *buf = malloc(*n);
    cr_assert_eq(onnx__model_proto__pack(m->proto, buf), *n);
    return buf;
}

static lsuv_onnx_model *read_path(const char *path)
{
    lsuv_onnx_model *m = NULL;
    char err[512] = "";
    cr_assert_eq(lsuv_onnx_read_file(path, &m, err, sizeof err), LSUV_OK, "%s", err);
    return m;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

Test(onnx_write, unchanged_model_is_byte_identical_with_unknown_fields, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t d[2] = {3, 5};
    float w[15];
    fill_values(w, 15, 5);
    set_raw(add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d), w, sizeof w);
    add_node(&b, "MatMul", "mm", "x", "w", "y");
    size_t n;
    uint8_t *bytes = pack(&b, &n);
    /* a field this proto does not know (number 99, varint 5): must survive */
    uint8_t *ext = malloc(n + 3);
    memcpy(ext, bytes, n);
    memcpy(ext + n, "\x98\x06\x05", 3);
    write_bytes(tpath("in.onnx"), ext, n + 3);
    lsuv_onnx_model *m = read_path(tpath("in.onnx"));
    cr_assert_eq(m->proto->base.n_unknown_fields, 1);
    char err[512] = "";
    cr_assert_eq(lsuv_onnx_write(m, NULL, tpath("out.onnx"), err, sizeof err), LSUV_OK, "%s", err);
    size_t on;
    uint8_t *out = read_bytes(tpath("out.onnx"), &on);
    cr_assert_eq(on, n + 3);
    cr_expect_eq(memcmp(out, ext, on), 0, "no edits: the same bytes");
    cr_expect(!file_exists(tpath("out.onnx.data")), "no external data, no data file");
    free(out);
    free(ext);
    free(bytes);
    lsuv_onnx_free(m);
}

/* fetch callback: values from a table of arrays, or a failure for a NULL entry */
static lsuv_status fetch_table(void *user, size_t index, float *dst, char *err, size_t err_size)
{
    const lsuv_onnx_tensor_out *t = user;
    if (!t[index].name[0] || !strcmp(t[index].name, "fail")) {
        snprintf(err, err_size, "fetch of tensor %zu failed", index);
        return LSUV_ERROR_DEVICE_LOST;
    }
    int64_t n = 1;
    for (int d = 0; d < t[index].ndim; d++)
        n *= t[index].dims[d];
    memcpy(dst, t[index].values, (size_t)n * sizeof(float));
    return LSUV_OK;
}

Test(onnx_write, edits_renames_drops, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t d[2] = {3, 5}, d7[1] = {7}, d4[1] = {4};
    float w[15], u[7], nw[15], nu[7], nb[4];
    fill_values(w, 15, 6);
    fill_values(u, 7, 7);
    fill_values(nw, 15, 8);
    fill_values(nu, 7, 9);
    fill_values(nb, 4, 10);
    static const float keep[4] = {1, 2, 3, 4};
    static const uint16_t h4[4] = {0x3c00, 0x3c00, 0x3c00, 0x3c00};
    set_raw(add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d), w, sizeof w);
    Onnx__TensorProto *t = add_tensor(&b, "u", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d7);
    t->n_float_data = 7;
    t->float_data = u;
    set_raw(add_tensor(&b, "keep", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d4), keep, sizeof keep);
    set_raw(add_tensor(&b, "h", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1, d4), h4, sizeof h4);
    add_node(&b, "Identity", "alias", "keep", NULL, "keep2");
    add_node(&b, "MatMul", "mm", "x", "w", "y");
    add_node(&b, "Add", "add", "y", "keep2", "z");
    lsuv_onnx_model *m = load_built(&b, tdir);
    size_t before_n;
    uint8_t *before = pack_model(m, &before_n);

    /* half values chosen to round: 1 + 2^-11 is a tie (to even: 1), 1 + 3*2^-12 rounds up */
    const float hv[4] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-12f, -65504.0f, 0x1p-24f};
    lsuv_onnx_tensor_out tens[4] = {
        {.name = "w", .ndim = 2, .dims = {3, 5}, .values = nw},
        {.name = "u", .ndim = 1, .dims = {7}, .values = nu},
        {.name = "h", .ndim = 1, .dims = {4}, .values = hv},
        {.name = "keep2", .ndim = 1, .dims = {4}, .values = nb},
    };
    lsuv_onnx_input_rename ren = {.node = 2, .input = 1, .name = "keep2"};
    int drop = 0;
    /* w (raw) and u (float_data) come through the fetch callback, the others as arrays */
    lsuv_onnx_tensor_out table[4];
    memcpy(table, tens, sizeof tens);
    tens[0].values = tens[1].values = NULL;
    lsuv_onnx_edits ed = {tens, 4, &ren, 1, &drop, 1, fetch_table, table};
    char err[512] = "";
    cr_assert_eq(lsuv_onnx_write(m, &ed, tpath("out.onnx"), err, sizeof err), LSUV_OK, "%s", err);

    size_t after_n;
    uint8_t *after = pack_model(m, &after_n);
    cr_expect(after_n == before_n && !memcmp(before, after, before_n), "the model in memory is left as it was");
    size_t o1n, o2n;
    uint8_t *o1 = read_bytes(tpath("out.onnx"), &o1n);
    cr_assert_eq(lsuv_onnx_write(m, &ed, tpath("out2.onnx"), err, sizeof err), LSUV_OK, "%s", err);
    uint8_t *o2 = read_bytes(tpath("out2.onnx"), &o2n);
    cr_expect(o1n == o2n && !memcmp(o1, o2, o1n), "a second write gives the same bytes");

    lsuv_onnx_model *r = read_path(tpath("out.onnx"));
    const Onnx__GraphProto *g = r->proto->graph;
    cr_assert_eq(g->n_initializer, 5);
    cr_expect_str_eq(g->initializer[4]->name, "keep2", "the new tensor is appended");
    cr_expect_eq(g->initializer[4]->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    cr_expect(init_named(r, "w")->has_raw_data, "raw stays raw");
    cr_expect_eq(init_named(r, "u")->n_float_data, 7, "float_data stays float_data");
    cr_expect_eq(init_named(r, "h")->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, "the data type is kept");
    expect_f32(r, "w", nw, 15);
    expect_f32(r, "u", nu, 7);
    expect_f32(r, "keep", keep, 4);
    expect_f32(r, "keep2", nb, 4);
    expect_f32(r, "h", (const float[]){1.0f, 1.0f + 0x1p-10f, -65504.0f, 0x1p-24f}, 4);
    cr_assert_eq(g->n_node, 2, "the Identity is dropped");
    cr_expect_str_eq(g->node[0]->name, "mm");
    cr_expect_str_eq(g->node[1]->input[1], "keep2");
    cr_expect_str_eq(g->node[1]->input[0], "y");
    cr_expect_str_eq(r->proto->producer_name, "test_onnx_model");
    cr_expect_eq(r->opset, 13);
    lsuv_onnx_free(r);
    free(o1);
    free(o2);
    free(before);
    free(after);
    lsuv_onnx_free(m);
}

Test(onnx_write, external_data_goes_beside_the_output, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t d[2] = {5, 3}, d1[1] = {5}, d2[1] = {2};
    float w[15], bias[5], nw[15], nn[2];
    fill_values(w, 15, 11);
    fill_values(bias, 5, 12);
    fill_values(nw, 15, 13);
    fill_values(nn, 2, 14);
    uint8_t file[sizeof w + sizeof bias];
    memcpy(file, w, sizeof w);
    memcpy(file + sizeof w, bias, sizeof bias);
    cr_assert_eq(mkdir(tpath("in"), 0777), 0);
    cr_assert_eq(mkdir(tpath("out"), 0777), 0);
    write_bytes(tpath("in/data.bin"), file, sizeof file);
    set_external(&b, add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d), "data.bin", 0,
                 (long long)sizeof w);
    set_external(&b, add_tensor(&b, "b", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d1), "data.bin",
                 (long long)sizeof w, (long long)sizeof bias);
    b.extp[0][2]->key = "checksum"; /* w: replace its length by a checksum entry, which edits invalidate */
    static const float inl[2] = {5, 6};
    set_raw(add_tensor(&b, "inline", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, d2), inl, sizeof inl);
    size_t n;
    uint8_t *bytes = pack(&b, &n);
    write_bytes(tpath("in/m.onnx"), bytes, n);
    free(bytes);
    lsuv_onnx_model *m = read_path(tpath("in/m.onnx"));
    lsuv_onnx_tensor_out tens[2] = {
        {.name = "w", .ndim = 2, .dims = {5, 3}, .values = nw},
        {.name = "w_copy", .ndim = 1, .dims = {2}, .values = nn},
    };
    lsuv_onnx_tensor_out table[2];
    memcpy(table, tens, sizeof tens);
    tens[0].values = NULL; /* fetched while the data file is written */
    lsuv_onnx_edits ed = {tens, 2, NULL, 0, NULL, 0, fetch_table, table};
    char err[512] = "";
    cr_assert_eq(lsuv_onnx_write(m, &ed, tpath("out/r.onnx"), err, sizeof err), LSUV_OK, "%s", err);
    cr_assert(file_exists(tpath("out/r.onnx.data")));
    lsuv_onnx_model *r = read_path(tpath("out/r.onnx"));
    expect_f32(r, "w", nw, 15);
    expect_f32(r, "b", bias, 5);
    expect_f32(r, "inline", inl, 2);
    expect_f32(r, "w_copy", nn, 2);
    for (size_t i = 0; i < r->proto->graph->n_initializer; i++) {
        const Onnx__TensorProto *t = r->proto->graph->initializer[i];
        int ext = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        cr_expect_eq(ext, strcmp(t->name, "inline") != 0, "%s: storage", t->name);
        for (size_t e = 0; ext && e < t->n_external_data; e++) {
            const Onnx__StringStringEntryProto *en = t->external_data[e];
            if (!strcmp(en->key, "location"))
                cr_expect_str_eq(en->value, "r.onnx.data");
            if (!strcmp(en->key, "offset"))
                cr_expect_eq(atoll(en->value) % 64, 0, "%s: offset %s is aligned", t->name, en->value);
            cr_expect(strcmp(en->key, "checksum"), "%s: a stale checksum is dropped", t->name);
        }
    }
    lsuv_onnx_free(r);
    lsuv_onnx_free(m);
}

Test(onnx_write, bad_edits_leave_no_file, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t d[2] = {3, 5}, d3[1] = {3};
    static float w[15];
    static const int64_t i3[3] = {1, 2, 3};
    set_raw(add_tensor(&b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, d), w, sizeof w);
    set_raw(add_tensor(&b, "shape", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, d3), i3, sizeof i3);
    add_node(&b, "MatMul", "mm", "x", "w", "y");
    lsuv_onnx_model *m = load_built(&b, tdir);
    static float v[15];
    struct {
        lsuv_onnx_tensor_out t;
        lsuv_onnx_input_rename ren;
        int drop;
        lsuv_status st;
        const char *needle;
    } cases[] = {
        {{"w", 2, {5, 3}, v}, {0, 0, "x"}, 0, LSUV_ERROR_SHAPE, "new values have dims [5, 3], the file has [3, 5]"},
        {{"shape", 1, {3}, v}, {0, 0, "x"}, 0, LSUV_ERROR_UNSUPPORTED, "'shape' is INT64"},
        {{"w", 2, {3, 5}, v}, {0, 2, "x"}, 0, LSUV_ERROR_INVALID_ARGUMENT, "out of range"},
        {{"w", 2, {3, 5}, v}, {0, 0, "x"}, 4, LSUV_ERROR_INVALID_ARGUMENT, "node 4 to drop does not exist"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lsuv_onnx_edits ed = {&cases[c].t, 1, &cases[c].ren, 1, &cases[c].drop, 1, NULL, NULL};
        char err[512] = "";
        expect_error(lsuv_onnx_write(m, &ed, tpath("bad.onnx"), err, sizeof err), cases[c].st, err, cases[c].needle);
        cr_expect(!file_exists(tpath("bad.onnx")), "case %zu: no output file", c);
    }
    char err[512] = "";
    expect_error(lsuv_onnx_write(m, NULL, tpath("no/such/dir/out.onnx"), err, sizeof err), LSUV_ERROR_IO, err,
                 "out.onnx");
    /* a failing fetch (a device lost mid-write) stops the write: its error, no file */
    lsuv_onnx_tensor_out fail = {"fail", 2, {3, 5}, NULL};
    lsuv_onnx_tensor_out named = {"w", 2, {3, 5}, NULL};
    lsuv_onnx_edits ed = {&named, 1, NULL, 0, NULL, 0, fetch_table, &fail};
    expect_error(lsuv_onnx_write(m, &ed, tpath("bad.onnx"), err, sizeof err), LSUV_ERROR_DEVICE_LOST, err,
                 "fetch of tensor 0 failed");
    cr_expect(!file_exists(tpath("bad.onnx")));
    lsuv_onnx_free(m);
}

/* dims claiming billions of elements over a few stored bytes (found by fuzz_onnx): refused
 * before anything of that size is allocated (the address space is capped at 1 GiB here) */
Test(onnx_read, huge_dims_refused_before_allocating, .init = setup)
{
    built b;
    build_init(&b, 13);
    static const int64_t dims[2] = {3100000, 1000};
    static const float few[4] = {1, 2, 3, 4};
    set_raw(add_tensor(&b, "raw", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, dims), few, sizeof few);
    Onnx__TensorProto *t = add_tensor(&b, "typed", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 2, dims);
    t->n_int64_data = 2;
    t->int64_data = (int64_t *)(const int64_t[]){1, 2};
    write_bytes(tpath("small.bin"), few, sizeof few);
    set_external(&b, add_tensor(&b, "ext", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, dims), "small.bin", -1, -1);
    lsuv_onnx_model *m = load_built(&b, tdir);
#ifndef __SANITIZE_ADDRESS__ /* ASan maps terabytes of shadow: the cap would stop it, not us */
    struct rlimit lim = {1u << 30, 1u << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
#endif
    char err[512] = "";
    float *v = NULL;
    int64_t *iv = NULL, n;
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "raw"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "raw_data holds 16 bytes");
    expect_error(lsuv_onnx_tensor_i64(m, init_named(m, "typed"), &iv, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "int64_data holds 2 values");
    expect_error(lsuv_onnx_tensor_f32(m, init_named(m, "ext"), &v, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "holds 16 bytes, too short");
    expect_error(lsuv_onnx_tensor_i64(m, init_named(m, "ext"), &iv, &n, err, sizeof err), LSUV_ERROR_FORMAT, err,
                 "holds 16 bytes, too short");
    cr_expect(v == NULL && iv == NULL);
    lsuv_onnx_free(m);
}
