/* idx.c - IDX reader (MNIST / Fashion-MNIST images), plain or gzip, uint8 -> [0,1] floats. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

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

/* Reads up to n bytes (any size: gzread takes an unsigned int). Returns the count read;
 * *failed is set on a zlib / system error (e.g. a gzip stream cut short). */
static int64_t gz_read_all(gzFile gz, void *dst, uint64_t n, int *failed)
{
    *failed = 0;
    unsigned char *p = dst;
    uint64_t done = 0;
    while (done < n) {
        uint64_t left = n - done;
        unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
        int r = gzread(gz, p + done, chunk);
        if (r < 0) {
            *failed = 1;
            break;
        }
        if (r == 0)
            break;
        done += (uint64_t)r;
    }
    /* A gzip stream cut short is only a "soft" Z_BUF_ERROR: gzread returns what it has. */
    int code;
    gzerror(gz, &code);
    if (code != Z_OK)
        *failed = 1;
    return (int64_t)done;
}

static const char *gz_message(gzFile gz)
{
    int code;
    const char *m = gzerror(gz, &code);
    if (code == Z_ERRNO)
        return strerror(errno);
    return m && *m ? m : "read error";
}

lsuv_status lsuv_idx_read(const char *path, lsuv_host_array *out, char *err, size_t err_size)
{
    if (!path || !out)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "idx: NULL argument");
    memset(out, 0, sizeof *out);

    struct stat sb;
    if (stat(path, &sb) != 0)
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: is a directory", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path,
                      errno ? strerror(errno) : "out of memory");

    lsuv_status st = LSUV_OK;
    unsigned char *bytes = NULL;
    float *data = NULL;
    unsigned char head[4];
    int failed;
    int64_t got = gz_read_all(gz, head, 4, &failed);
    if (failed) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: cannot read the IDX header: %s", path,
                    gz_message(gz));
        goto done;
    }
    int gzipped = !gzdirect(gz);
    const char *kind = gzipped ? "gzip-compressed " : "";
    if (got < 4 || head[0] != 0 || head[1] != 0 || !idx_type_name(head[2]) || head[3] == 0) {
        char hex[32] = "";
        for (int64_t i = 0; i < got; i++)
            snprintf(hex + (i ? 3 * i - 1 : 0), sizeof hex - 3 * (size_t)i, "%s%02x", i ? " " : "", head[i]);
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
    got = gz_read_all(gz, dimb, (uint64_t)ndim * 4, &failed);
    if (got != ndim * 4) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: truncated IDX header (%d dimension sizes expected)%s%s", path, ndim,
                    failed ? ": " : "", failed ? gz_message(gz) : "");
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
    uint64_t file_size = (uint64_t)sb.st_size;
    if (S_ISREG(sb.st_mode)) {
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
    got = gz_read_all(gz, bytes, count, &failed);
    if ((uint64_t)got != count) {
        st =
            lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                   "%s: truncated %sIDX data: %llu bytes expected after the %llu-byte header, %lld found%s%s",
                   path, kind, (unsigned long long)count, (unsigned long long)header_bytes, (long long)got,
                   failed ? ": " : "", failed ? gz_message(gz) : "");
        goto done;
    }
    unsigned char extra;
    got = gz_read_all(gz, &extra, 1, &failed);
    if (got != 0 || failed) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: %s after the %llu data bytes (offset %llu)", path,
                    failed ? gz_message(gz) : "unexpected trailing bytes", (unsigned long long)count,
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
    gzclose(gz);
    return st;
}
