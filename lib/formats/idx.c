/* idx.c - IDX reader (MNIST / Fashion-MNIST images), plain or gzip, uint8 -> [0,1] floats. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "common/util.h"
#include "formats/formats.h"

/* deflate cannot expand data more than ~1032:1; a header claiming more than this
 * against the compressed size is refused before the allocation. */
#define GZIP_MAX_RATIO 1100u

static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return NULL;
    }
}

/* Where the bytes come from: a file or memory, plain or gzip (told by the 1f 8b magic;
 * concatenated gzip members are read as one stream, bytes after the last member that do
 * not start another are ignored, as gzip(1) and zlib's gzread do). One decoder for both,
 * so the fuzz target (memory) runs the same code as lsuv-vk (files). */
typedef struct idx_src {
    FILE *f;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    int gzip, z_ready, z_done;
    z_stream z;
    const char *error; /* set once reading failed: zlib's or the system's message */
    unsigned char in[1 << 16];
} idx_src;

static size_t raw_read(idx_src *s, unsigned char *dst, size_t n)
{
    if (s->f) {
        size_t r = fread(dst, 1, n, s->f);
        if (r < n && ferror(s->f))
            s->error = strerror(errno);
        return r;
    }
    size_t r = s->mem_len - s->mem_pos < n ? s->mem_len - s->mem_pos : n;
    memcpy(dst, s->mem + s->mem_pos, r);
    s->mem_pos += r;
    return r;
}

/* Looks at the first bytes: gzip or plain. Returns 0 when out of memory. */
static int src_open(idx_src *s)
{
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)raw_read(s, s->in, 2);
    s->gzip = s->z.avail_in == 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (s->gzip) {
        if (inflateInit2(&s->z, 15 + 16) != Z_OK) /* 16: gzip wrapper */
            return 0;
        s->z.next_in = s->in; /* inflateInit2 may reset next_in */
        s->z.avail_in = 2;
        s->z_ready = 1;
    }
    return 1;
}

static void src_close(idx_src *s)
{
    if (s->z_ready)
        inflateEnd(&s->z);
}

/* Reads up to n bytes; returns the count. *failed is set when a read or decode failed
 * (e.g. a gzip stream cut short: "unexpected end of file"). */
static uint64_t src_read(idx_src *s, void *dst, uint64_t n, int *failed)
{
    unsigned char *out = dst;
    uint64_t done = 0;
    if (!s->gzip) {
        size_t k = s->z.avail_in < n ? s->z.avail_in : (size_t)n; /* the sniffed bytes first */
        memcpy(out, s->z.next_in, k);
        s->z.next_in += k;
        s->z.avail_in -= (uInt)k;
        done = k;
        if (done < n)
            done += raw_read(s, out + done, (size_t)(n - done));
    } else {
        while (done < n && !s->z_done && !s->error) {
            if (s->z.avail_in == 0) {
                s->z.next_in = s->in;
                s->z.avail_in = (uInt)raw_read(s, s->in, sizeof s->in);
                if (s->z.avail_in == 0) {
                    if (!s->error)
                        s->error = "unexpected end of file";
                    break;
                }
            }
            uint64_t want = n - done;
            s->z.next_out = out + done;
            s->z.avail_out = want > (1u << 30) ? (1u << 30) : (uInt)want;
            uInt before = s->z.avail_out;
            int rc = inflate(&s->z, Z_NO_FLUSH);
            done += before - s->z.avail_out;
            if (rc == Z_STREAM_END) {
                /* another member follows? */
                if (s->z.avail_in == 0) {
                    s->z.next_in = s->in;
                    s->z.avail_in = (uInt)raw_read(s, s->in, sizeof s->in);
                }
                if (s->z.avail_in && s->z.next_in[0] == 0x1f)
                    inflateReset(&s->z);
                else
                    s->z_done = 1;
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                s->error = s->z.msg ? s->z.msg : rc == Z_MEM_ERROR ? "out of memory" : "corrupt gzip data";
            }
        }
    }
    *failed = s->error != NULL;
    return done;
}

static const char *src_message(const idx_src *s) { return s->error ? s->error : "read error"; }

/* regular: the raw size is known (file_size) and bounds what the header may announce. */
static lsuv_status idx_parse(idx_src *src, const char *path, int regular, uint64_t file_size, lsuv_host_array *out,
                             char *err, size_t err_size)
{
    if (!src_open(src))
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    lsuv_status st = LSUV_OK;
    unsigned char *bytes = NULL;
    float *data = NULL;
    unsigned char head[4];
    int failed;
    uint64_t got = src_read(src, head, 4, &failed);
    if (failed) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: cannot read the IDX header: %s", path,
                    src_message(src));
        goto done;
    }
    int gzipped = src->gzip;
    const char *kind = gzipped ? "gzip-compressed " : "";
    if (got < 4 || head[0] != 0 || head[1] != 0 || !idx_type_name(head[2]) || head[3] == 0) {
        char hex[32];
        lsuv_hex_text(hex, sizeof hex, head, (size_t)got);
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: not an IDX file: %sdata starts with %s (expected 00 00 <type> <dims>)", path, kind,
                    got ? hex : "nothing");
        goto done;
    }
    int type = head[2], ndim = head[3];
    if (type != 0x08) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: IDX data type 0x%02x (%s) is not supported; only uint8 (0x08) is", path, type,
                    idx_type_name(type));
        goto done;
    }
    if (ndim > 3) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: IDX file has %d dimensions; expected images (N x H x W) or N x F", path, ndim);
        goto done;
    }
    unsigned char dimb[12];
    got = src_read(src, dimb, (uint64_t)ndim * 4, &failed);
    if (got != (uint64_t)ndim * 4) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: truncated IDX header (%d dimension sizes expected)%s%s", path, ndim,
                    failed ? ": " : "", failed ? src_message(src) : "");
        goto done;
    }
    uint64_t dims[3];
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = (uint64_t)dimb[4 * i] << 24 | (uint64_t)dimb[4 * i + 1] << 16 |
                  (uint64_t)dimb[4 * i + 2] << 8 | (uint64_t)dimb[4 * i + 3];
        if (dims[i] && count > UINT64_MAX / dims[i])
            count = UINT64_MAX;
        else
            count *= dims[i];
    }
    if (ndim == 1) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: IDX file holds labels (1 dimension, %llu items), not images", path,
                    (unsigned long long)dims[0]);
        goto done;
    }
    if (count > SIZE_MAX / sizeof(float) || count > (uint64_t)INT64_MAX / sizeof(float)) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: IDX shape is too large (%llu x %llu%s)", path,
                    (unsigned long long)dims[0], (unsigned long long)dims[1], ndim == 3 ? " x ..." : "");
        goto done;
    }
    uint64_t header_bytes = 4 + 4 * (uint64_t)ndim;
    if (regular) {
        /* Cheap checks before allocating: exact for plain files, a bound for gzip. */
        if (!gzipped && file_size < header_bytes + count) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                        "%s: truncated: the IDX header announces %llu data bytes, the file holds %llu", path,
                        (unsigned long long)count, (unsigned long long)(file_size - header_bytes));
            goto done;
        }
        if (gzipped && count / GZIP_MAX_RATIO > file_size) {
            st = lsuv_format_error(
                err, err_size, LSUV_ERROR_FORMAT,
                "%s: truncated: the IDX header announces %llu data bytes, more than %llu compressed bytes "
                "can hold",
                path, (unsigned long long)count, (unsigned long long)file_size);
            goto done;
        }
    }
    bytes = malloc(count ? (size_t)count : 1);
    data = malloc(count ? (size_t)count * sizeof(float) : 1);
    if (!bytes || !data) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory (%llu values)",
                    path, (unsigned long long)count);
        goto done;
    }
    got = src_read(src, bytes, count, &failed);
    if (got != count) {
        st =
            lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                   "%s: truncated %sIDX data: %llu bytes expected after the %llu-byte header, %lld found%s%s",
                   path, kind, (unsigned long long)count, (unsigned long long)header_bytes, (long long)got,
                   failed ? ": " : "", failed ? src_message(src) : "");
        goto done;
    }
    unsigned char extra;
    got = src_read(src, &extra, 1, &failed);
    if (got != 0 || failed) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: %s after the %llu data bytes (offset %llu)", path,
                    failed ? src_message(src) : "unexpected trailing bytes", (unsigned long long)count,
                    (unsigned long long)(header_bytes + count));
        goto done;
    }

    for (uint64_t i = 0; i < count; i++)
        data[i] = (float)bytes[i] / 255.0f;
    if (ndim == 3) {
        out->ndim = 4;
        out->shape[0] = (int64_t)dims[0];
        out->shape[1] = 1;
        out->shape[2] = (int64_t)dims[1];
        out->shape[3] = (int64_t)dims[2];
    } else {
        out->ndim = 2;
        out->shape[0] = (int64_t)dims[0];
        out->shape[1] = (int64_t)dims[1];
    }
    out->data = data;
    data = NULL;

done:
    free(bytes);
    free(data);
    src_close(src);
    return st;
}

lsuv_status lsuv_idx_read(const char *path, lsuv_host_array *out, char *err, size_t err_size)
{
    if (!path || !out)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "idx: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: is a directory", path);
    }
    idx_src *src = calloc(1, sizeof *src); /* 64 KiB of input buffer: not on the stack */
    if (!src) {
        fclose(f);
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    }
    src->f = f;
    int regular = S_ISREG(sb.st_mode);
    lsuv_status st = idx_parse(src, path, regular, regular ? (uint64_t)sb.st_size : 0, out, err, err_size);
    free(src);
    fclose(f);
    return st;
}

lsuv_status lsuv_idx_read_memory(const void *bytes, size_t len, const char *name, lsuv_host_array *out, char *err,
                                 size_t err_size)
{
    if (!out || (!bytes && len))
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "idx: NULL argument");
    memset(out, 0, sizeof *out);
    idx_src *src = calloc(1, sizeof *src);
    if (!src)
        return lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "idx: out of host memory");
    src->mem = bytes;
    src->mem_len = len;
    lsuv_status st = idx_parse(src, name ? name : "idx", 1, len, out, err, err_size);
    free(src);
    return st;
}
