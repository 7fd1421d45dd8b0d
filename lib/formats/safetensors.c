/* safetensors.c - safetensors writer, the atomic file writer and the growable text the
 * writers build headers in. (No reader: tests check written files with json-c.) */
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

#include "common/util.h"
#include "formats/formats.h"


/* ------------------------------------------------------------ atomic writing */

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
    uint64_t state = lsuv_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 17) ^
                           (uint64_t)(uintptr_t)&ts);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        uint64_t r = lsuv_mix64(state += 0x9E3779B97F4A7C15ull);
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

/* Room for n more bytes and the NUL; 0 when out of memory (then b->oom is set). */
static int text_reserve(lsuv_text *b, size_t n)
{
    if (b->oom)
        return 0;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return 0;
        }
        b->p = p;
        b->cap = cap;
    }
    return 1;
}

void lsuv_text_put(lsuv_text *b, const char *s, size_t n)
{
    if (!text_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void lsuv_text_str(lsuv_text *b, const char *s) { lsuv_text_put(b, s, strlen(s)); }

void lsuv_text_printf(lsuv_text *b, const char *fmt, ...)
{
    /* Measure first, then format straight into the buffer: text of any length fits. */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1; /* an encoding error: the text would be wrong, so the write fails */
        return;
    }
    if (!text_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void text_json_string(lsuv_text *b, const char *s)
{
    lsuv_text_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': lsuv_text_put(b, "\\\"", 2); break;
        case '\\': lsuv_text_put(b, "\\\\", 2); break;
        case '\b': lsuv_text_put(b, "\\b", 2); break;
        case '\f': lsuv_text_put(b, "\\f", 2); break;
        case '\n': lsuv_text_put(b, "\\n", 2); break;
        case '\r': lsuv_text_put(b, "\\r", 2); break;
        case '\t': lsuv_text_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20)
                lsuv_text_printf(b, "\\u%04x", *p);
            else
                lsuv_text_put(b, (const char *)p, 1);
        }
    }
    lsuv_text_put(b, "\"", 1);
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
    lsuv_text h = { 0 };
    lsuv_text_str(&h, "{");
    uint64_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const lsuv_st_tensor *t = &tensors[i];
        uint64_t bytes = (uint64_t)tensor_bytes(t->ndim, t->shape, dtype_size(t->dtype));
        if (i)
            lsuv_text_str(&h, ",");
        text_json_string(&h, t->name);
        lsuv_text_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            lsuv_text_printf(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        if (offset + bytes < offset) {
            free(h.p);
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: tensors too large", path);
        }
        lsuv_text_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
               (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    lsuv_text_str(&h, "}");
    while (!h.oom && h.len % 8)
        lsuv_text_str(&h, " ");
    if (h.oom) {
        free(h.p);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    }

    st_write_job job = { path, tensors, count, h.p, h.len };
    lsuv_status st = lsuv_write_atomic(path, st_write_body, &job, err, err_size);
    free(h.p);
    return st;
}
