/* formats.h - file formats (internal): .npy and IDX readers, safetensors writer.
 * Host-only code: no Vulkan here. Errors are written into err (err_size bytes) and say
 * what was found and where ("data.npy: dtype '<f8' is not float32 ('<f4')"). */
#ifndef LSUV_FORMATS_H
#define LSUV_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lsuv.h"

#define LSUV_MAX_DIMS 8

/* Writes a printf-style message into err (when err is not NULL) and returns st. */
lsuv_status lsuv_format_error(char *err, size_t err_size, lsuv_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A float32 array in host memory, C order. */
typedef struct lsuv_host_array {
    int ndim;
    int64_t shape[LSUV_MAX_DIMS];
    float *data; /* malloc'ed; free() it */
    char note[256]; /* readers: "" or what the conversion to float32 lost (for the caller to show) */
} lsuv_host_array;

/* .npy v1/v2/v3, 2 <= ndim <= 4, dtype float16/32/64, int8..int64, uint8..uint64 or bool in
 * either byte order ('<', '>', '|', '='), C or Fortran order; the result is float32 in C
 * order. Values that float32 cannot hold exactly are rounded and counted in out->note.
 * Complex, object, string, structured and other dtypes are refused (LSUV_ERROR_FORMAT). */
lsuv_status lsuv_npy_read(const char *path, lsuv_host_array *out, char *err, size_t err_size);
/* The same from memory (the fuzz target's way in); name stands for the path in messages. */
lsuv_status lsuv_npy_read_memory(const void *bytes, size_t len, const char *name, lsuv_host_array *out,
                                 char *err, size_t err_size);
/* Writes a float32 C-order .npy (used by tests and the CLI), atomically. */
lsuv_status lsuv_npy_write(const char *path, const lsuv_host_array *a, char *err, size_t err_size);

/* IDX (magic 0x0000 08 NN, big-endian dims), uint8 data, plain or gzip (told by the
 * 1f 8b magic). Images (ndim 3: N x H x W) become N x 1 x H x W floats in [0,1];
 * ndim 2 (N x F) becomes N x F; ndim 1 (labels) is refused (not image data). */
lsuv_status lsuv_idx_read(const char *path, lsuv_host_array *out, char *err, size_t err_size);
/* The same from memory (plain or gzip); name stands for the path in messages. */
lsuv_status lsuv_idx_read_memory(const void *bytes, size_t len, const char *name, lsuv_host_array *out,
                                 char *err, size_t err_size);

/* True when the file starts like .npy / IDX (plain or gzip). */
int lsuv_file_is_npy(const char *path);

typedef enum lsuv_dtype { LSUV_DTYPE_F32 = 0, LSUV_DTYPE_I64 = 1 } lsuv_dtype;

typedef struct lsuv_st_tensor {
    const char *name;
    lsuv_dtype dtype;
    int ndim;                      /* 0 for a scalar */
    int64_t shape[LSUV_MAX_DIMS];
    const void *data;              /* little-endian F32 or I64 values */
} lsuv_st_tensor;

/* safetensors: 8-byte little-endian header length, JSON header (names in the given
 * order, "data_offsets" into the data area, padded with spaces to a multiple of 8),
 * then the raw data. Written to "<path>.tmp-XXXXXX" in the same folder, fsync'ed, then
 * renamed over path: on any failure no partial file is left and path is untouched. */
lsuv_status lsuv_safetensors_write(const char *path, const lsuv_st_tensor *tensors, size_t count,
                                   char *err, size_t err_size);

/* Growable text (headers of the writers). Zero-initialize; on allocation failure `oom` is
 * set and later calls do nothing; p is NUL-terminated when not NULL; free(p) when done. */
typedef struct lsuv_text {
    char *p;
    size_t len, cap;
    int oom;
} lsuv_text;
void lsuv_text_put(lsuv_text *t, const char *s, size_t n);
void lsuv_text_str(lsuv_text *t, const char *s);
void lsuv_text_printf(lsuv_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a safetensors file (F32 and I64 tensors; the header parsed with json-c). On
 * success *tensors (malloc'ed, names and data too) holds *count tensors in header order;
 * free with lsuv_safetensors_free. Malformed files give LSUV_ERROR_FORMAT with a message
 * saying what and where; unreadable ones LSUV_ERROR_IO. The memory variant names the
 * bytes `path` in messages. */
lsuv_status lsuv_safetensors_read(const char *path, lsuv_st_tensor **tensors, size_t *count, char *err,
                                  size_t err_size);
lsuv_status lsuv_safetensors_read_memory(const void *bytes, size_t size, const char *path, lsuv_st_tensor **tensors,
                                         size_t *count, char *err, size_t err_size);
void lsuv_safetensors_free(lsuv_st_tensor *tensors, size_t count);

/* Atomic file writing shared by the writers (safetensors.c): body(f, user, msg, msg_size)
 * fills f; it returns LSUV_OK or an error (with a message in msg, or msg left empty for a
 * failed fwrite, which is then reported with errno). The data goes to "<path>.tmp-XXXXXX"
 * (same folder, O_EXCL, mode 0666 & ~umask), is fflush'ed, fsync'ed and renamed over path;
 * on failure the temporary file is removed and path is left untouched. */
typedef lsuv_status (*lsuv_write_fn)(FILE *f, void *user, char *msg, size_t msg_size);
lsuv_status lsuv_write_atomic(const char *path, lsuv_write_fn body, void *user, char *err,
                              size_t err_size);

#endif
