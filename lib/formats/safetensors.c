/* safetensors.c - safetensors writer and strict reader, and the atomic file writer. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/formats.h"

/* The reference implementation refuses larger headers; so do we (it bounds the malloc). */
#define ST_MAX_HEADER 100000000ull
#define JSON_MAX_DEPTH 64

/* ------------------------------------------------------------ atomic writing */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* fsync the folder holding path so the rename itself survives a crash (best effort). */
static void sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

lsuv_status lsuv_write_atomic(const char *path, lsuv_write_fn body, void *user, char *err, size_t err_size)
{
    if (!path || !*path || !body)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "no output path given");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);

    /* Our own O_EXCL loop instead of mkstemp: the kernel then applies the umask to 0666,
     * so the final file gets the usual permissions rather than mkstemp's 0600. */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t state = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 17) ^
                           (uint64_t)(uintptr_t)&ts);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        uint64_t r = mix64(state += 0x9E3779B97F4A7C15ull);
        char suffix[7];
        for (int i = 0; i < 6; i++, r /= 62)
            suffix[i] = alphabet[r % 62];
        suffix[6] = '\0';
        snprintf(tmp, plen + 16, "%s.tmp-%s", path, suffix);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot create temporary file '%s': %s", path, tmp,
               strerror(e));
        free(tmp);
        return LSUV_ERROR_IO;
    }

    lsuv_status st = LSUV_OK;
    char msg[768] = "";
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        st = lsuv_format_error(msg, sizeof msg, LSUV_ERROR_IO, "%s: cannot open '%s': %s", path, tmp, strerror(e));
        goto fail;
    }
    errno = 0;
    st = body(f, user, msg, sizeof msg);
    if (st != LSUV_OK) {
        if (!msg[0]) {
            int e = errno ? errno : EIO;
            lsuv_format_error(msg, sizeof msg, st, "%s: writing '%s' failed: %s", path, tmp, strerror(e));
        }
        fclose(f);
        goto fail;
    }
    if (fflush(f) != 0 || ferror(f)) {
        int e = errno ? errno : EIO;
        fclose(f);
        st = lsuv_format_error(msg, sizeof msg, LSUV_ERROR_IO, "%s: writing '%s' failed: %s", path, tmp, strerror(e));
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        int e = errno;
        fclose(f);
        st = lsuv_format_error(msg, sizeof msg, LSUV_ERROR_IO, "%s: fsync of '%s' failed: %s", path, tmp, strerror(e));
        goto fail;
    }
    if (fclose(f) != 0) {
        int e = errno;
        st = lsuv_format_error(msg, sizeof msg, LSUV_ERROR_IO, "%s: closing '%s' failed: %s", path, tmp, strerror(e));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        st = lsuv_format_error(msg, sizeof msg, LSUV_ERROR_IO, "%s: cannot rename '%s' to it: %s", path, tmp,
                    strerror(e));
        goto fail;
    }
    sync_parent(path);
    free(tmp);
    return LSUV_OK;

fail:
    unlink(tmp);
    free(tmp);
    return lsuv_format_error(err, err_size, st, "%s", msg);
}

/* ------------------------------------------------------------ shared helpers */

static size_t dtype_size(lsuv_dtype d) { return d == LSUV_DTYPE_I64 ? 8 : 4; }
static const char *dtype_name(lsuv_dtype d) { return d == LSUV_DTYPE_I64 ? "I64" : "F32"; }

/* Bytes of a tensor, or -1 if a dimension is negative or the product overflows. */
static int64_t tensor_bytes(int ndim, const int64_t *shape, size_t elem)
{
    int64_t n = (int64_t)elem;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no surrogates), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < len)
        return 0;
    unsigned cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* ------------------------------------------------------------ writer */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(strbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20)
                sb_fmt(b, "\\u%04x", *p);
            else
                sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

typedef struct st_write_job {
    const char *path;
    const lsuv_st_tensor *tensors;
    size_t count;
    const char *header;
    size_t header_len;
} st_write_job;

static lsuv_status st_write_body(FILE *f, void *user, char *msg, size_t msg_size)
{
    const st_write_job *job = user;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)job->header_len >> (8 * i));
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(job->header, 1, job->header_len, f) != job->header_len)
        return LSUV_ERROR_IO;
    for (size_t i = 0; i < job->count; i++) {
        const lsuv_st_tensor *t = &job->tensors[i];
        size_t bytes = (size_t)tensor_bytes(t->ndim, t->shape, dtype_size(t->dtype));
        if (!bytes)
            continue;
        /* Checked here rather than up front: a caller's missing data must not leave a
         * half-written file, and this keeps that path exercised by the tests. */
        if (!t->data)
            return lsuv_format_error(msg, msg_size, LSUV_ERROR_INVALID_ARGUMENT,
                          "%s: tensor '%s' (%zu bytes) has no data", job->path, t->name, bytes);
        if (fwrite(t->data, 1, bytes, f) != bytes)
            return LSUV_ERROR_IO;
    }
    return LSUV_OK;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

lsuv_status lsuv_safetensors_write(const char *path, const lsuv_st_tensor *tensors, size_t count, char *err,
                                   size_t err_size)
{
    if (!path || !*path)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "safetensors: no output path given");
    if (count && !tensors)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: no tensors given", path);

    /* Validate names, dtypes and shapes before touching the file system. */
    for (size_t i = 0; i < count; i++) {
        const lsuv_st_tensor *t = &tensors[i];
        if (!t->name)
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: tensor %zu has no name", path, i);
        size_t nlen = strlen(t->name);
        for (size_t k = 0; k < nlen;) {
            size_t l = utf8_seq((const unsigned char *)t->name + k, nlen - k);
            if (!l)
                return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                              "%s: tensor %zu: name is not valid UTF-8 (byte %zu)", path, i, k);
            k += l;
        }
        if (!strcmp(t->name, "__metadata__"))
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                          "%s: tensor %zu: the name '__metadata__' is reserved", path, i);
        if (t->dtype != LSUV_DTYPE_F32 && t->dtype != LSUV_DTYPE_I64)
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: tensor '%s': unknown dtype %d",
                          path, t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > LSUV_MAX_DIMS)
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                          "%s: tensor '%s': %d dimensions (0 to %d allowed)", path, t->name, t->ndim,
                          LSUV_MAX_DIMS);
        int64_t bytes = tensor_bytes(t->ndim, t->shape, dtype_size(t->dtype));
        if (bytes < 0 || (uint64_t)bytes > SIZE_MAX)
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                          "%s: tensor '%s': shape has a negative or too large dimension", path, t->name);
    }
    if (count > 1) {
        const char **names = malloc(count * sizeof *names);
        if (!names)
            return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        for (size_t i = 0; i < count; i++)
            names[i] = tensors[i].name;
        qsort(names, count, sizeof *names, cmp_str_ptr);
        for (size_t i = 1; i < count; i++) {
            if (!strcmp(names[i - 1], names[i])) {
                lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: tensor name '%s' occurs twice", path,
                       names[i]);
                free(names);
                return LSUV_ERROR_INVALID_ARGUMENT;
            }
        }
        free(names);
    }

    /* Header: tensors in the given order, contiguous, no spaces; padded with spaces so
     * the data area starts 8-byte aligned (as the reference writer does). */
    strbuf h = { 0 };
    sb_str(&h, "{");
    uint64_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const lsuv_st_tensor *t = &tensors[i];
        uint64_t bytes = (uint64_t)tensor_bytes(t->ndim, t->shape, dtype_size(t->dtype));
        if (i)
            sb_str(&h, ",");
        sb_json_string(&h, t->name);
        sb_fmt(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            sb_fmt(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        if (offset + bytes < offset) {
            free(h.p);
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: tensors too large", path);
        }
        sb_fmt(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
               (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    sb_str(&h, "}");
    while (!h.oom && h.len % 8)
        sb_str(&h, " ");
    if (h.oom) {
        free(h.p);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    }

    st_write_job job = { path, tensors, count, h.p, h.len };
    lsuv_status st = lsuv_write_atomic(path, st_write_body, &job, err, err_size);
    free(h.p);
    return st;
}

/* ------------------------------------------------------------ strict JSON parser */

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type;
    size_t pos; /* byte offset of the value in the header text */
    char *s;    /* J_STR: decoded UTF-8, NUL-terminated */
    size_t slen;
    int num_uint;     /* J_NUM: a plain non-negative integer (no sign, fraction, exponent) */
    int num_overflow; /* ... that does not fit in 64 bits */
    uint64_t u;
    size_t n, cap; /* J_ARR / J_OBJ */
    struct jv *items;
    char **keys; /* J_OBJ: decoded keys */
    size_t *keylens;
    size_t *keypos;
} jv;

typedef struct jparser {
    const char *t;
    size_t len, pos;
    char *msg;
    size_t msg_size;
    const char *path;
    int failed;
    int oom;
} jparser;

static void jv_free(jv *v)
{
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->keylens);
    free(v->keypos);
}

static int jfail(jparser *p, size_t pos, const char *what)
{
    if (!p->failed)
        lsuv_format_error(p->msg, p->msg_size, LSUV_ERROR_FORMAT, "%s: JSON header, file offset %zu: %s", p->path,
               (size_t)8 + pos, what);
    p->failed = 1;
    return 0;
}

static int joom(jparser *p)
{
    p->oom = 1;
    return jfail(p, p->pos, "out of host memory");
}

static void jws(jparser *p)
{
    while (p->pos < p->len) {
        char c = p->t[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int jhex4(jparser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return jfail(p, p->pos, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->t[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return jfail(p, p->pos - 1, "bad hex digit in \\u escape");
    }
    *out = v;
    return 1;
}

static int jstring(jparser *p, char **out, size_t *outlen)
{
    size_t start = p->pos;
    p->pos++; /* opening quote */
    strbuf b = { 0 };
    for (;;) {
        if (p->pos >= p->len) {
            free(b.p);
            return jfail(p, start, "unterminated string");
        }
        unsigned char c = (unsigned char)p->t[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            free(b.p);
            return jfail(p, p->pos, "control character in string");
        }
        if (c == '\\') {
            size_t esc = p->pos++;
            if (p->pos >= p->len) {
                free(b.p);
                return jfail(p, esc, "unterminated escape");
            }
            char e = p->t[p->pos++];
            const char *r = NULL;
            switch (e) {
            case '"': r = "\""; break;
            case '\\': r = "\\"; break;
            case '/': r = "/"; break;
            case 'b': r = "\b"; break;
            case 'f': r = "\f"; break;
            case 'n': r = "\n"; break;
            case 'r': r = "\r"; break;
            case 't': r = "\t"; break;
            case 'u': break;
            default: free(b.p); return jfail(p, esc, "invalid escape in string");
            }
            if (r) {
                sb_put(&b, r, 1);
                continue;
            }
            unsigned cp;
            if (!jhex4(p, &cp)) {
                free(b.p);
                return 0;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(b.p);
                return jfail(p, esc, "lone low surrogate in \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->t[p->pos] != '\\' || p->t[p->pos + 1] != 'u') {
                    free(b.p);
                    return jfail(p, esc, "high surrogate not followed by a low one");
                }
                p->pos += 2;
                if (!jhex4(p, &lo)) {
                    free(b.p);
                    return 0;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(b.p);
                    return jfail(p, esc, "high surrogate not followed by a low one");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char u[4];
            size_t n;
            if (cp < 0x80) {
                u[0] = (char)cp;
                n = 1;
            } else if (cp < 0x800) {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
            } else if (cp < 0x10000) {
                u[0] = (char)(0xE0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
            } else {
                u[0] = (char)(0xF0 | (cp >> 18));
                u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
            }
            sb_put(&b, u, n);
            continue;
        }
        size_t l = utf8_seq((const unsigned char *)p->t + p->pos, p->len - p->pos);
        if (!l) {
            free(b.p);
            return jfail(p, p->pos, "invalid UTF-8 in string");
        }
        sb_put(&b, p->t + p->pos, l);
        p->pos += l;
    }
    if (!b.p)
        sb_put(&b, "", 0);
    if (b.oom) {
        free(b.p);
        return joom(p);
    }
    *out = b.p;
    *outlen = b.len;
    return 1;
}

static int isdigit_c(char c) { return c >= '0' && c <= '9'; }

static int jnumber(jparser *p, jv *v)
{
    size_t start = p->pos;
    int plain = 1;
    if (p->t[p->pos] == '-') {
        plain = 0;
        p->pos++;
    }
    if (p->pos >= p->len || !isdigit_c(p->t[p->pos]))
        return jfail(p, start, "invalid number");
    if (p->t[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && isdigit_c(p->t[p->pos]))
            return jfail(p, start, "number with a leading zero");
    } else {
        while (p->pos < p->len && isdigit_c(p->t[p->pos]))
            p->pos++;
    }
    size_t int_end = p->pos;
    if (p->pos < p->len && p->t[p->pos] == '.') {
        plain = 0;
        p->pos++;
        if (p->pos >= p->len || !isdigit_c(p->t[p->pos]))
            return jfail(p, start, "invalid number (no digit after '.')");
        while (p->pos < p->len && isdigit_c(p->t[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->t[p->pos] == 'e' || p->t[p->pos] == 'E')) {
        plain = 0;
        p->pos++;
        if (p->pos < p->len && (p->t[p->pos] == '+' || p->t[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !isdigit_c(p->t[p->pos]))
            return jfail(p, start, "invalid number (no digit in exponent)");
        while (p->pos < p->len && isdigit_c(p->t[p->pos]))
            p->pos++;
    }
    v->type = J_NUM;
    v->num_uint = plain;
    if (plain) {
        uint64_t u = 0;
        for (size_t i = start; i < int_end; i++) {
            unsigned d = (unsigned)(p->t[i] - '0');
            if (u > (UINT64_MAX - d) / 10) {
                v->num_overflow = 1;
                break;
            }
            u = u * 10 + d;
        }
        v->u = u;
    }
    return 1;
}

static int jkeyword(jparser *p, const char *word, int type, jv *v)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->t + p->pos, word, n) != 0)
        return jfail(p, p->pos, "unexpected character (expected a JSON value)");
    p->pos += n;
    v->type = type;
    return 1;
}

static int jgrow(jparser *p, jv *v, int object)
{
    if (v->n < v->cap)
        return 1;
    size_t cap = v->cap ? v->cap * 2 : 4;
    jv *items = realloc(v->items, cap * sizeof *items);
    if (!items)
        return joom(p);
    v->items = items;
    if (object) {
        char **keys = realloc(v->keys, cap * sizeof *keys);
        if (!keys)
            return joom(p);
        v->keys = keys;
        size_t *kl = realloc(v->keylens, cap * sizeof *kl);
        if (!kl)
            return joom(p);
        v->keylens = kl;
        size_t *kp = realloc(v->keypos, cap * sizeof *kp);
        if (!kp)
            return joom(p);
        v->keypos = kp;
    }
    v->cap = cap;
    return 1;
}

typedef struct keyref {
    const char *k;
    size_t len, pos;
} keyref;

static int cmp_keyref(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->k, y->k, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Duplicate keys make a header ambiguous: refuse them in every object. */
static int jcheck_duplicates(jparser *p, const jv *v)
{
    if (v->n < 2)
        return 1;
    keyref *refs = malloc(v->n * sizeof *refs);
    if (!refs)
        return joom(p);
    for (size_t i = 0; i < v->n; i++)
        refs[i] = (keyref){ v->keys[i], v->keylens[i], v->keypos[i] };
    qsort(refs, v->n, sizeof *refs, cmp_keyref);
    for (size_t i = 1; i < v->n; i++) {
        if (refs[i].len == refs[i - 1].len && !memcmp(refs[i].k, refs[i - 1].k, refs[i].len)) {
            char what[160];
            snprintf(what, sizeof what, "duplicate key \"%.100s\"", refs[i].k);
            size_t pos = refs[i].pos > refs[i - 1].pos ? refs[i].pos : refs[i - 1].pos;
            free(refs);
            return jfail(p, pos, what);
        }
    }
    free(refs);
    return 1;
}

static int jvalue(jparser *p, jv *v, int depth)
{
    memset(v, 0, sizeof *v);
    jws(p);
    v->pos = p->pos;
    if (p->pos >= p->len)
        return jfail(p, p->pos, "unexpected end of header (expected a value)");
    if (depth > JSON_MAX_DEPTH)
        return jfail(p, p->pos, "nested too deeply");
    char c = p->t[p->pos];
    if (c == '"') {
        v->type = J_STR;
        return jstring(p, &v->s, &v->slen);
    }
    if (c == '-' || isdigit_c(c))
        return jnumber(p, v);
    if (c == 't')
        return jkeyword(p, "true", J_TRUE, v);
    if (c == 'f')
        return jkeyword(p, "false", J_FALSE, v);
    if (c == 'n')
        return jkeyword(p, "null", J_NULL, v);
    if (c == '[') {
        v->type = J_ARR;
        p->pos++;
        jws(p);
        if (p->pos < p->len && p->t[p->pos] == ']') {
            p->pos++;
            return 1;
        }
        for (;;) {
            if (!jgrow(p, v, 0))
                return 0;
            if (!jvalue(p, &v->items[v->n++], depth + 1))
                return 0;
            jws(p);
            if (p->pos >= p->len)
                return jfail(p, p->pos, "unexpected end of header in array");
            if (p->t[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->t[p->pos] == ']') {
                p->pos++;
                return 1;
            }
            return jfail(p, p->pos, "expected ',' or ']' in array");
        }
    }
    if (c == '{') {
        v->type = J_OBJ;
        p->pos++;
        jws(p);
        if (p->pos < p->len && p->t[p->pos] == '}') {
            p->pos++;
            return 1;
        }
        for (;;) {
            jws(p);
            if (p->pos >= p->len || p->t[p->pos] != '"')
                return jfail(p, p->pos, "expected a string key in object");
            if (!jgrow(p, v, 1))
                return 0;
            size_t kpos = p->pos;
            char *key;
            size_t klen;
            if (!jstring(p, &key, &klen))
                return 0;
            v->keys[v->n] = key;
            v->keylens[v->n] = klen;
            v->keypos[v->n] = kpos;
            memset(&v->items[v->n], 0, sizeof v->items[v->n]);
            v->n++;
            jws(p);
            if (p->pos >= p->len || p->t[p->pos] != ':')
                return jfail(p, p->pos, "expected ':' after key");
            p->pos++;
            if (!jvalue(p, &v->items[v->n - 1], depth + 1))
                return 0;
            jws(p);
            if (p->pos >= p->len)
                return jfail(p, p->pos, "unexpected end of header in object");
            if (p->t[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->t[p->pos] == '}') {
                p->pos++;
                return jcheck_duplicates(p, v);
            }
            return jfail(p, p->pos, "expected ',' or '}' in object");
        }
    }
    return jfail(p, p->pos, "unexpected character (expected a JSON value)");
}

/* ------------------------------------------------------------ reader */

typedef struct st_entry {
    size_t index; /* position in the header */
    uint64_t begin, end;
} st_entry;

static int cmp_entry(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void lsuv_safetensors_free(lsuv_st_tensor *tensors, size_t count)
{
    if (!tensors)
        return;
    for (size_t i = 0; i < count; i++) {
        free((void *)tensors[i].name);
        free((void *)tensors[i].data);
    }
    free(tensors);
}

/* Validates one tensor entry: {"dtype": "F32"|"I64", "shape": [...], "data_offsets": [b, e]}. */
static lsuv_status st_entry_parse(const char *path, const char *name, const jv *e, lsuv_st_tensor *t,
                                  st_entry *ent, char *err, size_t err_size)
{
    size_t where = 8 + e->pos;
    if (e->type != J_OBJ)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s' (file offset %zu): entry is not a JSON object", path, name, where);
    const jv *dtype = NULL, *shape = NULL, *offs = NULL;
    for (size_t i = 0; i < e->n; i++) {
        if (!strcmp(e->keys[i], "dtype"))
            dtype = &e->items[i];
        else if (!strcmp(e->keys[i], "shape"))
            shape = &e->items[i];
        else if (!strcmp(e->keys[i], "data_offsets"))
            offs = &e->items[i];
        else
            return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                          "%s: tensor '%s' (file offset %zu): unknown field \"%.80s\"", path, name,
                          8 + e->keypos[i], e->keys[i]);
    }
    if (!dtype || !shape || !offs)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s' (file offset %zu): field \"%s\" missing", path, name, where,
                      !dtype   ? "dtype"
                      : !shape ? "shape"
                               : "data_offsets");
    if (dtype->type != J_STR)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: tensor '%s': dtype is not a string", path, name);
    if (!strcmp(dtype->s, "F32"))
        t->dtype = LSUV_DTYPE_F32;
    else if (!strcmp(dtype->s, "I64"))
        t->dtype = LSUV_DTYPE_I64;
    else
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s': dtype '%.40s' is not supported (F32 or I64)", path, name, dtype->s);
    if (shape->type != J_ARR)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: tensor '%s': shape is not an array", path, name);
    if (shape->n > LSUV_MAX_DIMS)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s': shape has %zu dimensions (at most %d)", path, name, shape->n,
                      LSUV_MAX_DIMS);
    t->ndim = (int)shape->n;
    for (size_t d = 0; d < shape->n; d++) {
        const jv *s = &shape->items[d];
        if (s->type != J_NUM || !s->num_uint || s->num_overflow || s->u > (uint64_t)INT64_MAX)
            return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                          "%s: tensor '%s': shape[%zu] is not a non-negative 64-bit integer", path, name, d);
        t->shape[d] = (int64_t)s->u;
    }
    if (offs->type != J_ARR || offs->n != 2)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: tensor '%s': data_offsets is not [begin, end]",
                      path, name);
    for (int k = 0; k < 2; k++) {
        const jv *o = &offs->items[k];
        if (o->type != J_NUM || !o->num_uint || o->num_overflow)
            return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                          "%s: tensor '%s': data_offsets[%d] is not a non-negative 64-bit integer", path,
                          name, k);
    }
    ent->begin = offs->items[0].u;
    ent->end = offs->items[1].u;
    if (ent->end < ent->begin)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s': data_offsets [%llu, %llu] end before begin", path, name,
                      (unsigned long long)ent->begin, (unsigned long long)ent->end);
    int64_t bytes = tensor_bytes(t->ndim, t->shape, dtype_size(t->dtype));
    if (bytes < 0)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s': the byte count of its shape overflows", path, name);
    if ((uint64_t)bytes != ent->end - ent->begin)
        return lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                      "%s: tensor '%s': shape needs %lld bytes of %s but data_offsets [%llu, %llu] hold %llu",
                      path, name, (long long)bytes, dtype_name(t->dtype), (unsigned long long)ent->begin,
                      (unsigned long long)ent->end, (unsigned long long)(ent->end - ent->begin));
    return LSUV_OK;
}

lsuv_status lsuv_safetensors_read(const char *path, lsuv_st_tensor **tensors, size_t *count, char *err,
                                  size_t err_size)
{
    if (!path || !tensors || !count)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "safetensors: NULL argument");
    *tensors = NULL;
    *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));

    lsuv_status st = LSUV_OK;
    char *header = NULL;
    jv root = { 0 };
    lsuv_st_tensor *out = NULL;
    st_entry *ents = NULL;
    size_t nt = 0;

    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t file_size = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (file_size < 8 || fread(len8, 1, 8, f) != 8) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: file of %llu bytes is too short for a safetensors "
                    "header",
                    path, (unsigned long long)file_size);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | len8[i];
    if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > file_size - 8) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: header length %llu (first 8 bytes) does not fit a file of %llu bytes%s", path,
                    (unsigned long long)hlen, (unsigned long long)file_size,
                    hlen > ST_MAX_HEADER ? " (limit 100000000)" : "");
        goto done;
    }
    header = malloc((size_t)hlen);
    if (!header) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        goto done;
    }
    if (fread(header, 1, (size_t)hlen, f) != hlen) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: read error in the header", path);
        goto done;
    }
    if (header[0] != '{') {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: header (file offset 8) does not start with '{'",
                    path);
        goto done;
    }
    jparser p = { header, (size_t)hlen, 0, err, err_size, path, 0, 0 };
    if (!jvalue(&p, &root, 0)) {
        st = p.oom ? LSUV_ERROR_OUT_OF_HOST_MEMORY : LSUV_ERROR_FORMAT;
        goto done;
    }
    jws(&p);
    if (p.pos != p.len) {
        jfail(&p, p.pos, "trailing characters after the JSON object");
        st = LSUV_ERROR_FORMAT;
        goto done;
    }
    uint64_t data_size = file_size - 8 - hlen;

    out = calloc(root.n ? root.n : 1, sizeof *out);
    ents = calloc(root.n ? root.n : 1, sizeof *ents);
    if (!out || !ents) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        goto done;
    }
    for (size_t i = 0; i < root.n; i++) {
        if (!strcmp(root.keys[i], "__metadata__") && root.keylens[i] == 12) {
            const jv *m = &root.items[i];
            int ok = m->type == J_OBJ;
            for (size_t k = 0; ok && k < m->n; k++)
                ok = m->items[k].type == J_STR;
            if (!ok) {
                st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                            "%s: __metadata__ (file offset %zu) is not an object of strings", path,
                            8 + m->pos);
                goto done;
            }
            continue;
        }
        if (strlen(root.keys[i]) != root.keylens[i]) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: tensor name at file offset %zu contains a NUL",
                        path, 8 + root.keypos[i]);
            goto done;
        }
        lsuv_st_tensor *t = &out[nt];
        st = st_entry_parse(path, root.keys[i], &root.items[i], t, &ents[nt], err, err_size);
        if (st != LSUV_OK)
            goto done;
        if (ents[nt].end > data_size) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] exceed the data area of %llu bytes", path,
                        root.keys[i], (unsigned long long)ents[nt].begin, (unsigned long long)ents[nt].end,
                        (unsigned long long)data_size);
            goto done;
        }
        t->name = root.keys[i];
        root.keys[i] = NULL; /* moved */
        ents[nt].index = nt;
        nt++;
    }

    /* The data area must be covered exactly: no gaps, no overlaps, nothing left over. */
    st_entry *sorted = malloc((nt ? nt : 1) * sizeof *sorted);
    if (!sorted) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        goto done;
    }
    memcpy(sorted, ents, nt * sizeof *sorted);
    qsort(sorted, nt, sizeof *sorted, cmp_entry);
    uint64_t expect = 0;
    for (size_t i = 0; i < nt; i++) {
        if (sorted[i].begin != expect) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] are not contiguous (expected begin %llu)",
                        path, out[sorted[i].index].name, (unsigned long long)sorted[i].begin,
                        (unsigned long long)sorted[i].end, (unsigned long long)expect);
            free(sorted);
            goto done;
        }
        expect = sorted[i].end;
    }
    free(sorted);
    if (expect != data_size) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: tensors cover %llu bytes but the data area holds %llu", path,
                    (unsigned long long)expect, (unsigned long long)data_size);
        goto done;
    }

    for (size_t i = 0; i < nt; i++) {
        uint64_t bytes = ents[i].end - ents[i].begin;
        if (bytes > SIZE_MAX) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: tensor '%s' too large", path,
                        out[i].name);
            goto done;
        }
        void *data = malloc(bytes ? (size_t)bytes : 1);
        if (!data) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                        "%s: tensor '%s': out of host memory (%llu "
                        "bytes)",
                        path, out[i].name, (unsigned long long)bytes);
            goto done;
        }
        out[i].data = data;
        if (bytes && (fseeko(f, (off_t)(8 + hlen + ents[i].begin), SEEK_SET) != 0 ||
                      fread(data, 1, (size_t)bytes, f) != bytes)) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: tensor '%s': read error at file offset %llu", path,
                        out[i].name, (unsigned long long)(8 + hlen + ents[i].begin));
            goto done;
        }
    }
    *tensors = out;
    *count = nt;
    out = NULL;

done:
    if (out)
        lsuv_safetensors_free(out, nt);
    free(ents);
    jv_free(&root);
    free(header);
    fclose(f);
    return st;
}
