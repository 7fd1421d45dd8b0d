/* onnx_model.c - ONNX files in and out: parsing with protobuf-c, tensor values (inline,
 * typed fields, external data) and writing the model back with edits applied.
 *
 * Memory matters here: models reach hundreds of MB. Reading holds the file bytes only
 * until protobuf-c has unpacked them; writing never serializes into one big buffer (the
 * model is packed straight into the output FILE) and never copies the model (edits go
 * into shallow copies of the few messages they touch). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/onnx_model.h"

#define DT(x) ONNX__TENSOR_PROTO__DATA_TYPE__##x

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static const char *tensor_label(const Onnx__TensorProto *t)
{
    return t && t->name && t->name[0] ? t->name : "(unnamed)";
}

/* ---------------------------------------------------------------- reading */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static lsuv_status unpack_model(const char *label, const void *bytes, size_t size, const char *base_dir,
                                lsuv_onnx_model **out, char *err, size_t err_size)
{
    if (size == 0)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: empty file, not an ONNX model", label);
    Onnx__ModelProto *proto = onnx__model_proto__unpack(NULL, size, bytes);
    if (!proto)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "%s: not an ONNX model: its %zu bytes do not parse as a protobuf ModelProto "
                                 "(truncated, or not protobuf at all)", label, size);
    /* Many byte strings happen to parse as protobuf (unknown fields are kept); an ONNX
     * model has at least its IR version and a graph. */
    if (!proto->has_ir_version || !proto->graph) {
        onnx__model_proto__free_unpacked(proto, NULL);
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "%s: not an ONNX model: parses as protobuf but has no %s", label,
                                 !proto->has_ir_version ? "ir_version" : "graph");
    }
    lsuv_onnx_model *m = calloc(1, sizeof *m);
    char *dir = dup_str(base_dir && base_dir[0] ? base_dir : ".");
    if (!m || !dir) {
        free(m);
        free(dir);
        onnx__model_proto__free_unpacked(proto, NULL);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", label);
    }
    m->proto = proto;
    m->base_dir = dir;
    m->file_bytes = size;
    for (size_t i = 0; i < proto->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = proto->opset_import[i];
        if (o && (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) && o->has_version)
            m->opset = o->version;
    }
    *out = m;
    return LSUV_OK;
}

lsuv_status lsuv_onnx_read_memory(const void *bytes, size_t size, const char *base_dir, lsuv_onnx_model **out,
                                  char *err, size_t err_size)
{
    if (!out || (!bytes && size))
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "ONNX model in memory: no bytes given");
    *out = NULL;
    return unpack_model("ONNX model in memory", bytes, size, base_dir, out, err, err_size);
}

lsuv_status lsuv_onnx_read_file(const char *path, lsuv_onnx_model **out, char *err, size_t err_size)
{
    if (!path || !*path || !out)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "no ONNX model path given");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    /* One malloc of the exact size (no growing buffer): the peak while unpacking is the
     * file plus the unpacked model. */
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes) {
        close(fd);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                 "%s: out of host memory reading %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, bytes + got, size - got > (1u << 30) ? (1u << 30) : size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            free(bytes);
            return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: read failed after %zu of %zu bytes%s%s", path,
                                     got, size, e ? ": " : " (file shrank)", e ? strerror(e) : "");
        }
        got += (size_t)r;
    }
    close(fd);

    /* External data is relative to the model's folder. */
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    lsuv_status st = (slash && !dir)
                         ? lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path)
                         : unpack_model(path, bytes, size, dir, out, err, err_size);
    free(dir);
    free(bytes);
    return st;
}

void lsuv_onnx_free(lsuv_onnx_model *model)
{
    if (!model)
        return;
    if (model->proto)
        onnx__model_proto__free_unpacked(model->proto, NULL);
    free(model->base_dir);
    free(model);
}

/* ---------------------------------------------------------------- tensor values */

int64_t lsuv_onnx_numel(const Onnx__TensorProto *t)
{
    if (!t || (t->n_dims && !t->dims))
        return -1;
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        int64_t d = t->dims[i];
        if (d < 0 || (d > 0 && n > INT64_MAX / d))
            return -1;
        n *= d;
    }
    return n;
}

/* Bytes per element in raw_data / external data; 0 for types we do not read. */
static size_t dtype_size(int32_t dt)
{
    switch (dt) {
    case DT(FLOAT): case DT(INT32): case DT(UINT32): return 4;
    case DT(DOUBLE): case DT(INT64): case DT(UINT64): return 8;
    case DT(FLOAT16): case DT(BFLOAT16): case DT(INT16): case DT(UINT16): return 2;
    case DT(INT8): case DT(UINT8): case DT(BOOL): return 1;
    default: return 0;
    }
}

static const char *dtype_name(int32_t dt)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
                                  "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
                                  "COMPLEX128", "BFLOAT16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof names[0]) ? names[dt] : "unknown";
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, ex = (h >> 10) & 31, man = h & 1023;
    float v;
    if (ex == 0)
        v = ldexpf((float)man, -24); /* zero and subnormals */
    else if (ex == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexpf((float)(man | 1024), ex - 25);
    return sign ? -v : v;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Where a tensor's elements are: either little-endian bytes (raw_data or external data,
 * esize bytes each) or one of the typed repeated fields. */
typedef struct elem_src {
    int32_t dt;
    const uint8_t *bytes;      /* raw/external, or NULL */
    const float *f32;          /* float_data */
    const int32_t *i32;        /* int32_data (also holds 8/16-bit ints, bool, fp16/bf16 bits) */
    const int64_t *i64;        /* int64_data */
    const double *f64;         /* double_data */
    const uint64_t *u64;       /* uint64_data (uint32, uint64) */
} elem_src;

/* Element i as an exact integer (is_int) or a double. */
static void elem_get(const elem_src *s, int64_t i, int *is_int, int64_t *iv, uint64_t *uv, double *dv)
{
    *is_int = 1;
    *uv = 0;
    if (s->bytes) {
        size_t es = dtype_size(s->dt);
        uint64_t u = load_le(s->bytes + (size_t)i * es, es);
        switch (s->dt) {
        case DT(FLOAT): *is_int = 0; *dv = bits_to_float((uint32_t)u); return;
        case DT(DOUBLE): *is_int = 0; *dv = bits_to_double(u); return;
        case DT(FLOAT16): *is_int = 0; *dv = half_to_float((uint16_t)u); return;
        case DT(BFLOAT16): *is_int = 0; *dv = bits_to_float((uint32_t)u << 16); return;
        case DT(INT8): *iv = (int8_t)u; return;
        case DT(INT16): *iv = (int16_t)u; return;
        case DT(INT32): *iv = (int32_t)u; return;
        case DT(INT64): *iv = (int64_t)u; return;
        case DT(UINT64): *iv = (int64_t)u; *uv = u; return;
        default: *iv = (int64_t)u; return; /* UINT8, UINT16, UINT32, BOOL */
        }
    }
    switch (s->dt) {
    case DT(FLOAT): *is_int = 0; *dv = s->f32[i]; return;
    case DT(DOUBLE): *is_int = 0; *dv = s->f64[i]; return;
    case DT(FLOAT16): *is_int = 0; *dv = half_to_float((uint16_t)s->i32[i]); return;
    case DT(BFLOAT16): *is_int = 0; *dv = bits_to_float((uint32_t)(uint16_t)s->i32[i] << 16); return;
    case DT(INT64): *iv = s->i64[i]; return;
    case DT(UINT32): *iv = (int64_t)s->u64[i]; return;
    case DT(UINT64): *iv = (int64_t)s->u64[i]; *uv = s->u64[i]; return;
    case DT(UINT8): *iv = (uint8_t)s->i32[i]; return;
    case DT(UINT16): *iv = (uint16_t)s->i32[i]; return;
    case DT(BOOL): *iv = s->i32[i] != 0; return;
    default: *iv = s->i32[i]; return; /* INT8, INT16, INT32 */
    }
}

/* "key" of an external_data entry, or NULL. */
static const char *ext_entry(const Onnx__TensorProto *t, const char *key)
{
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (e && e->key && !strcmp(e->key, key))
            return e->value ? e->value : "";
    }
    return NULL;
}

static int parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s)
        return 0;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
            return 0;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 1;
}

/* A location may only name a file inside the model's folder: no absolute path, no '..'
 * component (a crafted model must not read arbitrary files). */
static int location_is_safe(const char *loc)
{
    if (!loc[0] || loc[0] == '/')
        return 0;
    for (const char *p = loc; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n + (e ? 1 : 0);
    }
    return 1;
}

typedef struct ext_ref {
    const char *location;
    uint64_t offset, length;
    int has_length;
} ext_ref;

static lsuv_status ext_parse(const Onnx__TensorProto *t, ext_ref *r, char *err, size_t err_size)
{
    r->location = ext_entry(t, "location");
    if (!r->location)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': external data without a 'location' entry", tensor_label(t));
    if (!location_is_safe(r->location))
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': external data location '%s' is not a relative path inside the "
                                 "model's folder (absolute paths and '..' are refused)",
                                 tensor_label(t), r->location);
    const char *off = ext_entry(t, "offset"), *len = ext_entry(t, "length");
    r->offset = 0;
    r->has_length = len != NULL;
    const char *bad = off && !parse_u64(off, &r->offset) ? "offset" : len && !parse_u64(len, &r->length) ? "length" : NULL;
    if (bad)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': external data %s '%s' is not a non-negative integer",
                                 tensor_label(t), bad, bad[0] == 'o' ? off : len);
    return LSUV_OK;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* Reads need bytes of t's external data into dst. */
static lsuv_status ext_read(const lsuv_onnx_model *m, const Onnx__TensorProto *t, void *dst, size_t need, char *err,
                            size_t err_size)
{
    ext_ref r;
    lsuv_status st = ext_parse(t, &r, err, err_size);
    if (st != LSUV_OK)
        return st;
    if (r.has_length && r.length != need)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': external data length %llu does not match its %zu bytes "
                                 "(dims and data type %s)",
                                 tensor_label(t), (unsigned long long)r.length, need, dtype_name(t->data_type));
    char *full = join_path(m->base_dir ? m->base_dir : ".", r.location);
    if (!full)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        st = lsuv_format_error(err, err_size, LSUV_ERROR_IO,
                               "initializer '%s': external data file '%s' %s (looked for %s)", tensor_label(t),
                               r.location, e == ENOENT ? "is missing" : strerror(e), full);
        free(full);
        return st;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        st = lsuv_format_error(err, err_size, LSUV_ERROR_IO, "initializer '%s': external data file %s is not a regular file",
                               tensor_label(t), full);
        free(full);
        return st;
    }
    if (r.offset > (uint64_t)sb.st_size || (uint64_t)sb.st_size - r.offset < need) {
        close(fd);
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                               "initializer '%s': external data file %s holds %lld bytes, too short for %zu bytes "
                               "at offset %llu",
                               tensor_label(t), full, (long long)sb.st_size, need, (unsigned long long)r.offset);
        free(full);
        return st;
    }
    size_t got = 0;
    while (got < need) {
        size_t chunk = need - got > (1u << 30) ? (1u << 30) : need - got;
        ssize_t n = pread(fd, (uint8_t *)dst + got, chunk, (off_t)(r.offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            close(fd);
            st = lsuv_format_error(err, err_size, LSUV_ERROR_IO,
                                   "initializer '%s': reading external data file %s failed after %zu of %zu bytes%s%s",
                                   tensor_label(t), full, got, need, e ? ": " : " (file shrank)",
                                   e ? strerror(e) : "");
            free(full);
            return st;
        }
        got += (size_t)n;
    }
    close(fd);
    free(full);
    return LSUV_OK;
}

/* Checks t and locates its elements. When the data is external it is read into a
 * malloc'ed *owned (to free). fast_f32 (may be NULL): when the tensor is FLOAT stored as
 * little-endian bytes on a little-endian host, external data is read straight into it
 * (numel floats) and *fast_done is set. */
static lsuv_status locate(const lsuv_onnx_model *m, const Onnx__TensorProto *t, elem_src *s, int64_t *numel,
                          uint8_t **owned, float *fast_f32, int *fast_done, char *err, size_t err_size)
{
    memset(s, 0, sizeof *s);
    *owned = NULL;
    if (fast_done)
        *fast_done = 0;
    const char *name = tensor_label(t);
    int64_t n = lsuv_onnx_numel(t);
    if (n < 0)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "initializer '%s': invalid dims (negative or overflowing)",
                                 name);
    int32_t dt = t->has_data_type ? t->data_type : DT(UNDEFINED);
    size_t es = dtype_size(dt);
    if (!es)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': data type %s (%d) is not supported (numeric types only)", name,
                                 dtype_name(dt), (int)dt);
    if ((uint64_t)n > SIZE_MAX / 8)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "initializer '%s': %lld elements is too large", name,
                                 (long long)n);
    size_t need = (size_t)n * es;
    s->dt = dt;
    *numel = n;

    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        int direct = fast_f32 && dt == DT(FLOAT) && host_is_little_endian();
        uint8_t *buf = direct ? (uint8_t *)fast_f32 : malloc(need ? need : 1);
        if (!buf)
            return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                     "initializer '%s': out of host memory for %zu bytes", name, need);
        lsuv_status st = ext_read(m, t, buf, need, err, err_size);
        if (st != LSUV_OK) {
            if (!direct)
                free(buf);
            return st;
        }
        if (direct) {
            *fast_done = 1;
        } else {
            *owned = buf;
            s->bytes = buf;
        }
        return LSUV_OK;
    }
    if (t->has_raw_data) {
        if (t->raw_data.len != need)
            return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                     "initializer '%s': raw_data holds %zu bytes, but %lld elements of %s need %zu",
                                     name, t->raw_data.len, (long long)n, dtype_name(dt), need);
        s->bytes = need ? t->raw_data.data : (const uint8_t *)"";
        return LSUV_OK;
    }
    size_t have;
    const char *field;
    switch (dt) {
    case DT(FLOAT): have = t->n_float_data; s->f32 = t->float_data; field = "float_data"; break;
    case DT(DOUBLE): have = t->n_double_data; s->f64 = t->double_data; field = "double_data"; break;
    case DT(INT64): have = t->n_int64_data; s->i64 = t->int64_data; field = "int64_data"; break;
    case DT(UINT32): case DT(UINT64): have = t->n_uint64_data; s->u64 = t->uint64_data; field = "uint64_data"; break;
    default: have = t->n_int32_data; s->i32 = t->int32_data; field = "int32_data"; break;
    }
    if (have != (size_t)n)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': %s holds %zu values, but its dims give %lld elements%s", name,
                                 field, have, (long long)n, have == 0 ? " (no raw_data or typed data either)" : "");
    return LSUV_OK;
}

lsuv_status lsuv_onnx_tensor_f32(const lsuv_onnx_model *m, const Onnx__TensorProto *t, float **values,
                                 int64_t *numel, char *err, size_t err_size)
{
    if (!m || !t || !values || !numel)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_onnx_tensor_f32: NULL argument");
    *values = NULL;
    int64_t n = lsuv_onnx_numel(t);
    if (n < 0)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "initializer '%s': invalid dims (negative or overflowing)",
                                 tensor_label(t));
    if ((uint64_t)n > SIZE_MAX / 8)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "initializer '%s': %lld elements is too large",
                                 tensor_label(t), (long long)n);
    float *v = malloc(n ? (size_t)n * sizeof(float) : sizeof(float));
    if (!v)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                 "initializer '%s': out of host memory for %lld floats", tensor_label(t), (long long)n);
    elem_src s;
    uint8_t *owned;
    int done;
    lsuv_status st = locate(m, t, &s, &n, &owned, v, &done, err, err_size);
    if (st != LSUV_OK) {
        free(v);
        return st;
    }
    if (!done) {
        if (s.dt == DT(FLOAT) && s.bytes && host_is_little_endian())
            memcpy(v, s.bytes, (size_t)n * sizeof(float)); /* raw_data may be unaligned */
        else if (s.dt == DT(FLOAT) && s.f32)
            memcpy(v, s.f32, (size_t)n * sizeof(float));
        else
            for (int64_t i = 0; i < n; i++) {
                int is_int;
                int64_t iv;
                uint64_t uv;
                double dv;
                elem_get(&s, i, &is_int, &iv, &uv, &dv);
                v[i] = is_int ? (uv ? (float)uv : (float)iv) : (float)dv;
            }
    }
    free(owned);
    *values = v;
    *numel = n;
    return LSUV_OK;
}

lsuv_status lsuv_onnx_tensor_i64(const lsuv_onnx_model *m, const Onnx__TensorProto *t, int64_t **values,
                                 int64_t *numel, char *err, size_t err_size)
{
    if (!m || !t || !values || !numel)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_onnx_tensor_i64: NULL argument");
    *values = NULL;
    elem_src s;
    uint8_t *owned;
    int64_t n;
    lsuv_status st = locate(m, t, &s, &n, &owned, NULL, NULL, err, err_size);
    if (st != LSUV_OK)
        return st;
    int64_t *v = malloc(n ? (size_t)n * sizeof(int64_t) : sizeof(int64_t));
    if (!v) {
        free(owned);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                 "initializer '%s': out of host memory for %lld integers", tensor_label(t), (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        int is_int;
        int64_t iv;
        uint64_t uv;
        double dv;
        elem_get(&s, i, &is_int, &iv, &uv, &dv);
        if (is_int && uv > (uint64_t)INT64_MAX) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                   "initializer '%s': element %lld (%llu) does not fit in int64", tensor_label(t),
                                   (long long)i, (unsigned long long)uv);
            break;
        }
        /* Integers stored as floats (a Cast folded away) must be exact. */
        if (!is_int && !(dv == floor(dv) && dv >= -9223372036854775808.0 && dv < 9223372036854775808.0)) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                   "initializer '%s': element %lld (%g, %s) is not an integer", tensor_label(t),
                                   (long long)i, dv, dtype_name(s.dt));
            break;
        }
        v[i] = is_int ? iv : (int64_t)dv;
    }
    free(owned);
    if (st != LSUV_OK) {
        free(v);
        return st;
    }
    *values = v;
    *numel = n;
    return LSUV_OK;
}
