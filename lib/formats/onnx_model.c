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
        const char *what = !proto->has_ir_version ? "ir_version" : "graph";
        onnx__model_proto__free_unpacked(proto, NULL);
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "%s: not an ONNX model: parses as protobuf but has no %s", label, what);
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

/* Opens t's external data file after checking the entries and that the file holds need
 * bytes at the offset. On success *fd is open and *full (malloc'ed) names the file. */
static lsuv_status ext_open(const lsuv_onnx_model *m, const Onnx__TensorProto *t, size_t need, int *fd,
                            uint64_t *offset, char **full, char *err, size_t err_size)
{
    ext_ref r = {0}; /* zeroed: gcc cannot see that ext_parse fills it on success */
    lsuv_status st = ext_parse(t, &r, err, err_size);
    if (st != LSUV_OK)
        return st;
    if (r.has_length && r.length != need)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                 "initializer '%s': external data length %llu does not match its %zu bytes "
                                 "(dims and data type %s)",
                                 tensor_label(t), (unsigned long long)r.length, need, dtype_name(t->data_type));
    char *path = join_path(m->base_dir ? m->base_dir : ".", r.location);
    if (!path)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    struct stat sb;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) {
        int e = errno;
        st = lsuv_format_error(err, err_size, LSUV_ERROR_IO,
                               "initializer '%s': external data file '%s' %s (looked for %s)", tensor_label(t),
                               r.location, e == ENOENT ? "is missing" : strerror(e), path);
    } else if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_IO,
                               "initializer '%s': external data file %s is not a regular file", tensor_label(t), path);
    } else if (r.offset > (uint64_t)sb.st_size || (uint64_t)sb.st_size - r.offset < need) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                               "initializer '%s': external data file %s holds %lld bytes, too short for %zu bytes "
                               "at offset %llu",
                               tensor_label(t), path, (long long)sb.st_size, need, (unsigned long long)r.offset);
    }
    if (st != LSUV_OK) {
        if (f >= 0)
            close(f);
        free(path);
        return st;
    }
    *fd = f;
    *offset = r.offset;
    *full = path;
    return LSUV_OK;
}

static lsuv_status ext_pread(int fd, void *dst, size_t n, uint64_t offset, const Onnx__TensorProto *t,
                             const char *full, char *err, size_t err_size)
{
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        ssize_t r = pread(fd, (uint8_t *)dst + got, chunk, (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            return lsuv_format_error(err, err_size, LSUV_ERROR_IO,
                                     "initializer '%s': reading external data file %s failed after %zu of %zu bytes%s%s",
                                     tensor_label(t), full, got, n, e ? ": " : " (file shrank)", e ? strerror(e) : "");
        }
        got += (size_t)r;
    }
    return LSUV_OK;
}

/* Checks t and locates its elements; nothing is allocated before the stored data is known
 * to hold the element count the dims claim (a few bytes must not make us allocate GBs).
 * When the data is external it is read into a malloc'ed *owned (to free). fast_f32 (may
 * be NULL): when the tensor is FLOAT stored externally as little-endian bytes on a
 * little-endian host, it is read straight into a malloc'ed *fast_f32 (numel floats) and
 * *fast_done is set. */
static lsuv_status locate(const lsuv_onnx_model *m, const Onnx__TensorProto *t, elem_src *s, int64_t *numel,
                          uint8_t **owned, float **fast_f32, int *fast_done, char *err, size_t err_size)
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
        int direct = fast_f32 && dt == DT(FLOAT) && host_is_little_endian(), fd;
        uint64_t offset;
        char *full;
        lsuv_status st = ext_open(m, t, need, &fd, &offset, &full, err, err_size); /* checks the file's size */
        if (st != LSUV_OK)
            return st;
        uint8_t *buf = malloc(need ? need : 1);
        st = buf ? ext_pread(fd, buf, need, offset, t, full, err, err_size)
                 : lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                     "initializer '%s': out of host memory for %zu bytes", name, need);
        close(fd);
        free(full);
        if (st != LSUV_OK) {
            free(buf);
            return st;
        }
        if (direct) {
            *fast_f32 = (float *)buf;
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
    elem_src s;
    uint8_t *owned;
    int done;
    int64_t n;
    float *v = NULL;
    lsuv_status st = locate(m, t, &s, &n, &owned, &v, &done, err, err_size);
    if (st != LSUV_OK)
        return st;
    if (!done && !(v = malloc(n ? (size_t)n * sizeof(float) : sizeof(float)))) {
        free(owned);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                 "initializer '%s': out of host memory for %lld floats", tensor_label(t), (long long)n);
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

/* ---------------------------------------------------------------- writing */

static uint16_t float_to_half(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t ex = (u >> 23) & 255, man = u & 0x7fffff;
    if (ex == 255)
        return sign | 0x7c00 | (man ? 0x200 : 0);
    int e = (int)ex - 127 + 15;
    if (e >= 31)
        return sign | 0x7c00;
    if (e <= 0) { /* subnormal half (or zero): shift the full mantissa, round to even */
        if (e < -10)
            return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return sign | (uint16_t)h;
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* may carry into the exponent, up to infinity: that is the right rounding */
    return sign | (uint16_t)h;
}

static uint16_t float_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40); /* keep NaN a NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* Float types a float32 value can be written back into. */
static int writable_dtype(int32_t dt)
{
    return dt == DT(FLOAT) || dt == DT(DOUBLE) || dt == DT(FLOAT16) || dt == DT(BFLOAT16);
}

/* Writes n values as little-endian dt elements, converting in chunks (no copy of the tensor). */
static int emit_values(FILE *f, int32_t dt, const float *v, int64_t n)
{
    if (dt == DT(FLOAT) && host_is_little_endian())
        return fwrite(v, sizeof(float), (size_t)n, f) == (size_t)n;
    uint8_t buf[8192 * 8];
    size_t es = dtype_size(dt);
    for (int64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < 8192 && i < n; k++, i++) {
            uint64_t bits;
            if (dt == DT(DOUBLE)) {
                double d = v[i];
                memcpy(&bits, &d, 8);
            } else if (dt == DT(FLOAT)) {
                uint32_t u;
                memcpy(&u, &v[i], 4);
                bits = u;
            } else {
                bits = dt == DT(FLOAT16) ? float_to_half(v[i]) : float_to_bf16(v[i]);
            }
            for (size_t b = 0; b < es; b++)
                buf[k * es + b] = (uint8_t)(bits >> (8 * b));
        }
        if (fwrite(buf, es, k, f) != k)
            return 0;
    }
    return 1;
}

/* An edit's values: its own array, or fetched into a malloc'ed *owned (free it). */
static lsuv_status edit_values(const lsuv_onnx_edits *ed, const lsuv_onnx_tensor_out *e, int64_t n, const float **v,
                               float **owned, char *err, size_t err_size)
{
    *owned = NULL;
    *v = e->values;
    if (e->values)
        return LSUV_OK;
    *owned = malloc(n ? (size_t)n * sizeof(float) : sizeof(float));
    if (!*owned)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                 "ONNX write: out of host memory for %lld values of '%s'", (long long)n, e->name);
    lsuv_status st = ed->fetch(ed->fetch_user, (size_t)(e - ed->tensors), *owned, err, err_size);
    if (st != LSUV_OK) {
        free(*owned);
        *owned = NULL;
        return st;
    }
    *v = *owned;
    return LSUV_OK;
}

/* One initializer as written: the original, or a shallow copy with new data. */
typedef struct out_tensor {
    const Onnx__TensorProto *src;   /* the original (NULL for a new tensor) */
    Onnx__TensorProto copy;         /* what is packed when edited or external */
    const lsuv_onnx_tensor_out *edit; /* new values, or NULL */
    int external;                   /* data goes to the output's .data file */
    uint64_t ext_offset, ext_length;
    Onnx__StringStringEntryProto ext_entries[3];
    Onnx__StringStringEntryProto **ext_list;
    char ext_text[2][24];
    void *typed;                    /* converted typed-field values (malloc'ed) */
} out_tensor;

typedef struct writer {
    const lsuv_onnx_model *m;
    const lsuv_onnx_edits *edits;
    out_tensor *tensors;            /* one per written initializer, in order */
    size_t tensor_count;
    uint8_t *marks;                 /* raw_data placeholders: &marks[i] stands for tensor i */
    char *data_name;                /* basename of the external data file */
    Onnx__NodeProto *node_copies;   /* renamed nodes */
    char ***node_inputs;
    Onnx__NodeProto **nodes;        /* the node list as written */
    size_t node_count;
    Onnx__TensorProto **inits;
    Onnx__GraphProto graph;
    Onnx__ModelProto model;
} writer;

typedef struct file_buffer {
    ProtobufCBuffer base;
    FILE *f;
    writer *w;
    lsuv_status failed;
    char *msg;
    size_t msg_size;
} file_buffer;

static int64_t edit_numel(const lsuv_onnx_tensor_out *e);

/* Writes an edited tensor's values (fetched now when the edit has none) as dt. */
static lsuv_status write_edit(writer *w, const out_tensor *o, int32_t dt, FILE *f, char *msg, size_t msg_size)
{
    const float *v;
    float *owned;
    lsuv_status st = edit_values(w->edits, o->edit, edit_numel(o->edit), &v, &owned, msg, msg_size);
    if (st == LSUV_OK && !emit_values(f, dt, v, edit_numel(o->edit)))
        st = LSUV_ERROR_IO; /* empty msg: reported with errno */
    free(owned);
    return st;
}

/* protobuf-c hands byte fields to append() by pointer: a placeholder pointer is where an
 * edited tensor's bytes go, produced now, straight into the file. */
static void file_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    file_buffer *fb = (file_buffer *)buffer;
    if (fb->failed != LSUV_OK || len == 0)
        return;
    writer *w = fb->w;
    if (w->marks && data >= w->marks && data < w->marks + w->tensor_count) {
        const out_tensor *o = &w->tensors[data - w->marks];
        fb->failed = write_edit(w, o, o->copy.data_type, fb->f, fb->msg, fb->msg_size);
        return;
    }
    if (fwrite(data, 1, len, fb->f) != len)
        fb->failed = LSUV_ERROR_IO; /* an empty msg: reported with errno */
}

static lsuv_status model_body(FILE *f, void *user, char *msg, size_t msg_size)
{
    file_buffer fb = {{file_append}, f, user, LSUV_OK, msg, msg_size};
    protobuf_c_message_pack_to_buffer(&((writer *)user)->model.base, &fb.base);
    return fb.failed;
}

/* Copies an unedited external tensor's bytes from the input's data file, 1 MiB at a time. */
static lsuv_status copy_external(const lsuv_onnx_model *m, const Onnx__TensorProto *t, uint64_t length, FILE *f,
                                 char *msg, size_t msg_size)
{
    int fd;
    uint64_t offset;
    char *full;
    lsuv_status st = ext_open(m, t, (size_t)length, &fd, &offset, &full, msg, msg_size);
    if (st != LSUV_OK)
        return st;
    uint8_t *buf = malloc(1u << 20);
    if (!buf)
        st = lsuv_format_error(msg, msg_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint64_t done = 0; st == LSUV_OK && done < length;) {
        size_t chunk = length - done > (1u << 20) ? (1u << 20) : (size_t)(length - done);
        st = ext_pread(fd, buf, chunk, offset + done, t, full, msg, msg_size);
        if (st == LSUV_OK && fwrite(buf, 1, chunk, f) != chunk)
            st = LSUV_ERROR_IO; /* empty msg: reported with errno */
        done += chunk;
    }
    free(buf);
    free(full);
    close(fd);
    return st;
}

static lsuv_status data_body(FILE *f, void *user, char *msg, size_t msg_size)
{
    writer *w = user;
    static const uint8_t zeros[64];
    uint64_t pos = 0;
    for (size_t i = 0; i < w->tensor_count; i++) {
        const out_tensor *o = &w->tensors[i];
        if (!o->external)
            continue;
        if (o->ext_offset > pos && fwrite(zeros, 1, (size_t)(o->ext_offset - pos), f) != o->ext_offset - pos)
            return LSUV_ERROR_IO;
        lsuv_status st;
        if (o->edit)
            st = write_edit(w, o, o->copy.data_type, f, msg, msg_size);
        else
            st = copy_external(w->m, o->src, o->ext_length, f, msg, msg_size);
        if (st != LSUV_OK)
            return st;
        pos = o->ext_offset + o->ext_length;
    }
    return LSUV_OK;
}

static void writer_free(writer *w)
{
    for (size_t i = 0; w->tensors && i < w->tensor_count; i++) {
        free(w->tensors[i].ext_list);
        free(w->tensors[i].typed);
    }
    if (w->node_inputs && w->m)
        for (size_t i = 0; i < w->m->proto->graph->n_node; i++)
            free(w->node_inputs[i]);
    free(w->tensors);
    free(w->marks);
    free(w->data_name);
    free(w->node_copies);
    free(w->node_inputs);
    free(w->nodes);
    free(w->inits);
}

static int dims_equal(const Onnx__TensorProto *t, const lsuv_onnx_tensor_out *e)
{
    if ((size_t)e->ndim != t->n_dims)
        return 0;
    for (int d = 0; d < e->ndim; d++)
        if (e->dims[d] != t->dims[d])
            return 0;
    return 1;
}

static void dims_text(char *buf, size_t size, int ndim, const int64_t *dims)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? ", " : "", (long long)dims[d]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
}

/* Matches the edits to initializers and checks them; edit_of[i] is the edit of
 * initializer i or -1; the *new_count edits new_edits[] name no initializer. */
static lsuv_status match_edits(const Onnx__GraphProto *g, const lsuv_onnx_edits *ed, int *edit_of, int *new_edits,
                               size_t *new_count, char *err, size_t err_size)
{
    *new_count = 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        edit_of[i] = -1;
    for (size_t e = 0; e < ed->tensor_count; e++) {
        const lsuv_onnx_tensor_out *te = &ed->tensors[e];
        if (!te->name || !te->name[0] || (!te->values && !ed->fetch) || te->ndim < 0 || te->ndim > LSUV_MAX_DIMS)
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                                     "ONNX write: tensor edit %zu has no name, no values or a bad rank", e);
        for (size_t k = 0; k < e; k++)
            if (!strcmp(ed->tensors[k].name, te->name))
                return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                                         "ONNX write: tensor '%s' is edited twice", te->name);
        size_t i = 0;
        while (i < g->n_initializer && !(g->initializer[i]->name && !strcmp(g->initializer[i]->name, te->name)))
            i++;
        if (i == g->n_initializer) {
            for (int d = 0; d < te->ndim; d++)
                if (te->dims[d] < 0)
                    return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                                             "ONNX write: new tensor '%s' has a negative dimension", te->name);
            new_edits[(*new_count)++] = (int)e;
            continue;
        }
        const Onnx__TensorProto *t = g->initializer[i];
        if (!writable_dtype(t->data_type))
            return lsuv_format_error(err, err_size, LSUV_ERROR_UNSUPPORTED,
                                     "ONNX write: initializer '%s' is %s; new float values can only replace FLOAT, "
                                     "DOUBLE, FLOAT16 or BFLOAT16 data", te->name, dtype_name(t->data_type));
        if (!dims_equal(t, te) || lsuv_onnx_numel(t) < 0) {
            char a[160], b[160];
            dims_text(a, sizeof a, te->ndim, te->dims);
            dims_text(b, sizeof b, (int)(t->n_dims < LSUV_MAX_DIMS ? t->n_dims : LSUV_MAX_DIMS), t->dims);
            return lsuv_format_error(err, err_size, LSUV_ERROR_SHAPE,
                                     "ONNX write: initializer '%s': new values have dims %s, the file has %s", te->name,
                                     a, b);
        }
        edit_of[i] = (int)e;
    }
    return LSUV_OK;
}

static int64_t edit_numel(const lsuv_onnx_tensor_out *e)
{
    int64_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n = e->dims[d] && n > INT64_MAX / e->dims[d] ? -1 : n * e->dims[d];
    return n;
}

/* Replaces an inline tensor's data in its copy, in the same storage. */
static lsuv_status set_inline_data(writer *w, size_t k, char *err, size_t err_size)
{
    out_tensor *o = &w->tensors[k];
    Onnx__TensorProto *c = &o->copy;
    int32_t dt = c->data_type;
    int64_t n = edit_numel(o->edit);
    size_t typed_count = dt == DT(FLOAT) ? c->n_float_data : dt == DT(DOUBLE) ? c->n_double_data : c->n_int32_data;
    if (!o->src || c->has_raw_data || typed_count == 0 || n == 0) {
        c->has_raw_data = 1;
        c->raw_data.len = (size_t)n * dtype_size(dt);
        c->raw_data.data = &w->marks[k];
        c->n_float_data = c->n_double_data = c->n_int32_data = 0;
        return LSUV_OK;
    }
    /* Typed fields (small models made by onnx.helper) are packed from arrays, so the
     * values are fetched and converted now. */
    const float *v;
    float *owned;
    lsuv_status st = edit_values(w->edits, o->edit, n, &v, &owned, err, err_size);
    if (st != LSUV_OK)
        return st;
    if (dt == DT(FLOAT)) {
        c->float_data = (float *)v; /* packed from the caller's array, never written */
        c->n_float_data = (size_t)n;
        o->typed = owned;
        return LSUV_OK;
    }
    o->typed = malloc((size_t)n * (dt == DT(DOUBLE) ? sizeof(double) : sizeof(int32_t)));
    if (!o->typed) {
        free(owned);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
    }
    for (int64_t i = 0; i < n; i++) {
        if (dt == DT(DOUBLE))
            ((double *)o->typed)[i] = v[i];
        else
            ((int32_t *)o->typed)[i] = dt == DT(FLOAT16) ? float_to_half(v[i]) : float_to_bf16(v[i]);
    }
    free(owned);
    if (dt == DT(DOUBLE)) {
        c->double_data = o->typed;
        c->n_double_data = (size_t)n;
    } else {
        c->int32_data = o->typed;
        c->n_int32_data = (size_t)n;
    }
    return LSUV_OK;
}

/* Points an external tensor's copy at its place in the output's data file. */
static lsuv_status set_external_entries(writer *w, out_tensor *o, char *err, size_t err_size)
{
    Onnx__TensorProto *c = &o->copy;
    size_t kept = 0, have = o->src ? o->src->n_external_data : 0;
    o->ext_list = malloc((have + 3) * sizeof *o->ext_list);
    if (!o->ext_list)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
    /* Entries other than where the bytes are stay; a checksum no longer holds for new values. */
    for (size_t i = 0; i < have; i++) {
        Onnx__StringStringEntryProto *e = o->src->external_data[i];
        const char *k = e && e->key ? e->key : "";
        if (strcmp(k, "location") && strcmp(k, "offset") && strcmp(k, "length") && !(o->edit && !strcmp(k, "checksum")))
            o->ext_list[kept++] = e;
    }
    static const char *keys[3] = {"location", "offset", "length"};
    snprintf(o->ext_text[0], sizeof o->ext_text[0], "%llu", (unsigned long long)o->ext_offset);
    snprintf(o->ext_text[1], sizeof o->ext_text[1], "%llu", (unsigned long long)o->ext_length);
    for (int i = 0; i < 3; i++) {
        onnx__string_string_entry_proto__init(&o->ext_entries[i]);
        o->ext_entries[i].key = (char *)keys[i];
        o->ext_entries[i].value = i == 0 ? w->data_name : o->ext_text[i - 1];
        o->ext_list[kept++] = &o->ext_entries[i];
    }
    c->n_external_data = kept;
    c->external_data = o->ext_list;
    c->has_data_location = 1;
    c->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    c->has_raw_data = 0;
    return LSUV_OK;
}

static lsuv_status plan_nodes(writer *w, const lsuv_onnx_edits *ed, char *err, size_t err_size)
{
    const Onnx__GraphProto *g = w->m->proto->graph;
    size_t nn = g->n_node;
    w->nodes = malloc((nn ? nn : 1) * sizeof *w->nodes);
    w->node_copies = malloc((nn ? nn : 1) * sizeof *w->node_copies);
    w->node_inputs = calloc(nn ? nn : 1, sizeof *w->node_inputs);
    uint8_t *dropped = calloc(nn ? nn : 1, 1);
    lsuv_status st = LSUV_OK;
    if (!w->nodes || !w->node_copies || !w->node_inputs || !dropped)
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
    for (size_t i = 0; st == LSUV_OK && i < ed->drop_count; i++) {
        int d = ed->drop_nodes[i];
        if (d < 0 || (size_t)d >= nn)
            st = lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                                   "ONNX write: node %d to drop does not exist (the graph has %zu)", d, nn);
        else
            dropped[d] = 1;
    }
    for (size_t i = 0; st == LSUV_OK && i < ed->rename_count; i++) {
        const lsuv_onnx_input_rename *r = &ed->renames[i];
        if (r->node < 0 || (size_t)r->node >= nn || r->input < 0 || (size_t)r->input >= g->node[r->node]->n_input ||
            !r->name) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                                   "ONNX write: input rename %zu (node %d, input %d) is out of range", i, r->node,
                                   r->input);
            break;
        }
        const Onnx__NodeProto *src = g->node[r->node];
        if (!w->node_inputs[r->node]) {
            w->node_inputs[r->node] = malloc(src->n_input * sizeof(char *));
            if (!w->node_inputs[r->node]) {
                st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
                break;
            }
            memcpy(w->node_inputs[r->node], src->input, src->n_input * sizeof(char *));
            w->node_copies[r->node] = *src;
            w->node_copies[r->node].input = w->node_inputs[r->node];
        }
        w->node_inputs[r->node][r->input] = (char *)r->name;
    }
    w->node_count = 0;
    for (size_t i = 0; st == LSUV_OK && i < nn; i++)
        if (!dropped[i])
            w->nodes[w->node_count++] = w->node_inputs[i] ? &w->node_copies[i] : g->node[i];
    free(dropped);
    return st;
}

static lsuv_status plan_tensors(writer *w, const lsuv_onnx_edits *ed, char *err, size_t err_size)
{
    const Onnx__GraphProto *g = w->m->proto->graph;
    size_t ni = g->n_initializer, new_count;
    int *edit_of = malloc((ni + ed->tensor_count + 1) * sizeof *edit_of), *new_edits = edit_of + ni;
    if (!edit_of)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
    lsuv_status st = match_edits(g, ed, edit_of, new_edits, &new_count, err, err_size);
    int any_external = 0;
    for (size_t i = 0; i < ni; i++)
        any_external |= g->initializer[i]->has_data_location &&
                        g->initializer[i]->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->tensor_count = ni + new_count;
    size_t total = w->tensor_count ? w->tensor_count : 1;
    if (st == LSUV_OK) {
        w->tensors = calloc(total, sizeof *w->tensors);
        w->marks = malloc(total);
        w->inits = malloc(total * sizeof *w->inits);
        if (!w->tensors || !w->marks || !w->inits)
            st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
    }
    uint64_t pos = 0;
    for (size_t k = 0; st == LSUV_OK && k < w->tensor_count; k++) {
        out_tensor *o = &w->tensors[k];
        if (k < ni) {
            o->src = g->initializer[k];
            o->edit = edit_of[k] >= 0 ? &ed->tensors[edit_of[k]] : NULL;
            o->external = o->src->has_data_location &&
                          o->src->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
            o->copy = *o->src;
        } else {
            /* new tensors, in the edits' order; external when the model keeps its data outside */
            o->edit = &ed->tensors[new_edits[k - ni]];
            onnx__tensor_proto__init(&o->copy);
            o->copy.name = (char *)o->edit->name;
            o->copy.n_dims = (size_t)o->edit->ndim;
            o->copy.dims = (int64_t *)o->edit->dims;
            o->copy.has_data_type = 1;
            o->copy.data_type = DT(FLOAT);
            o->external = any_external;
        }
        if (o->external) {
            int64_t n = o->edit ? edit_numel(o->edit) : lsuv_onnx_numel(o->src);
            if (n < 0 || !dtype_size(o->copy.data_type)) {
                st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                                       "initializer '%s': invalid dims or data type for external data",
                                       tensor_label(&o->copy));
                break;
            }
            pos = (pos + 63) & ~(uint64_t)63; /* aligned, so readers may map tensors directly */
            o->ext_offset = pos;
            o->ext_length = (uint64_t)n * dtype_size(o->copy.data_type);
            pos += o->ext_length;
            st = set_external_entries(w, o, err, err_size);
        } else if (o->edit) {
            st = set_inline_data(w, k, err, err_size);
        }
        w->inits[k] = o->edit || o->external ? &o->copy : (Onnx__TensorProto *)o->src;
    }
    free(edit_of);
    return st;
}

lsuv_status lsuv_onnx_write(const lsuv_onnx_model *m, const lsuv_onnx_edits *edits, const char *path, char *err,
                            size_t err_size)
{
    if (!m || !m->proto || !m->proto->graph || !path || !*path)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "ONNX write: no model or no output path");
    static const lsuv_onnx_edits none;
    const lsuv_onnx_edits *ed = edits ? edits : &none;
    if ((ed->tensor_count && !ed->tensors) || (ed->rename_count && !ed->renames) || (ed->drop_count && !ed->drop_nodes))
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "ONNX write: edit counts without arrays");
    writer w;
    memset(&w, 0, sizeof w);
    w.m = m;
    w.edits = ed;
    char *data_path = NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t plen = strlen(path), blen = strlen(base);
    w.data_name = malloc(blen + 6);
    data_path = malloc(plen + 6);
    lsuv_status st = LSUV_OK;
    if (!w.data_name || !data_path) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "ONNX write: out of host memory");
    } else {
        snprintf(w.data_name, blen + 6, "%s.data", base);
        snprintf(data_path, plen + 6, "%s.data", path);
        st = plan_tensors(&w, ed, err, err_size);
    }
    if (st == LSUV_OK)
        st = plan_nodes(&w, ed, err, err_size);
    if (st == LSUV_OK) {
        /* Shallow copies: everything not edited (and fields this proto does not know, kept
         * by protobuf-c in each message) is packed from the model as read. */
        w.graph = *m->proto->graph;
        w.graph.n_initializer = w.tensor_count;
        w.graph.initializer = w.inits;
        w.graph.n_node = w.node_count;
        w.graph.node = w.nodes;
        w.model = *m->proto;
        w.model.graph = &w.graph;
        int any_external = 0;
        for (size_t i = 0; i < w.tensor_count; i++)
            any_external |= w.tensors[i].external;
        /* The data file first: a model is never left pointing at data that is not there. */
        if (any_external)
            st = lsuv_write_atomic(data_path, data_body, &w, err, err_size);
        if (st == LSUV_OK)
            st = lsuv_write_atomic(path, model_body, &w, err, err_size);
    }
    writer_free(&w);
    free(data_path);
    return st;
}
