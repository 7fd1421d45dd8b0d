/* safetensors_read.c - reads safetensors files (F32 and I64 tensors; `lsuv-vk forward
 * --weights`, and the tests that check the writer). The JSON header is parsed with json-c;
 * everything the format promises is checked: a header that ends 8-aligned, known dtypes,
 * offsets contiguous in header order from 0 covering the data area exactly, sizes that
 * match the shapes. "__metadata__" (a string map some writers add) is skipped. */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

#define fail lsuv_format_error
/* The header is JSON text: no legitimate file has one this large, and json-c takes an int. */
#define MAX_HEADER (100u << 20)

void lsuv_safetensors_free(lsuv_st_tensor *tensors, size_t count)
{
    for (size_t i = 0; tensors && i < count; i++) {
        free((char *)tensors[i].name);
        free((void *)tensors[i].data);
    }
    free(tensors);
}

/* A JSON integer >= 0 (json-c also gives doubles and strings an int64 value: refuse those). */
static int get_uint(json_object *o, int64_t *out)
{
    if (!o || !json_object_is_type(o, json_type_int))
        return 0;
    *out = json_object_get_int64(o);
    return *out >= 0;
}

static lsuv_status parse_entry(const char *path, const char *name, json_object *e, lsuv_st_tensor *t,
                               int64_t *begin, int64_t *end, char *err, size_t err_size)
{
    if (!json_object_is_type(e, json_type_object) || json_object_object_length(e) != 3)
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s' is not {dtype, shape, data_offsets}", path, name);
    json_object *dt, *shape, *offs;
    if (!json_object_object_get_ex(e, "dtype", &dt) || !json_object_object_get_ex(e, "shape", &shape) ||
        !json_object_object_get_ex(e, "data_offsets", &offs))
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s' lacks dtype, shape or data_offsets", path, name);
    const char *d = json_object_get_string(dt);
    if (!json_object_is_type(dt, json_type_string) || (strcmp(d, "F32") && strcmp(d, "I64")))
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s': dtype %s", path, name, json_object_to_json_string(dt));
    t->dtype = strcmp(d, "I64") == 0 ? LSUV_DTYPE_I64 : LSUV_DTYPE_F32;
    if (!json_object_is_type(shape, json_type_array) || json_object_array_length(shape) > LSUV_MAX_DIMS)
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s': bad shape", path, name);
    t->ndim = (int)json_object_array_length(shape);
    int64_t bytes = t->dtype == LSUV_DTYPE_I64 ? 8 : 4;
    for (int i = 0; i < t->ndim; i++) {
        if (!get_uint(json_object_array_get_idx(shape, (size_t)i), &t->shape[i]) ||
            (t->shape[i] && bytes > INT64_MAX / t->shape[i]))
            return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s': shape[%d] bad", path, name, i);
        bytes *= t->shape[i];
    }
    if (!json_object_is_type(offs, json_type_array) || json_object_array_length(offs) != 2 ||
        !get_uint(json_object_array_get_idx(offs, 0), begin) || !get_uint(json_object_array_get_idx(offs, 1), end) ||
        *end < *begin)
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s': data_offsets not [begin, end]", path, name);
    if (*end - *begin != bytes)
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s': data_offsets span %lld bytes, shape needs %lld",
                    path, name, (long long)(*end - *begin), (long long)bytes);
    return LSUV_OK;
}

lsuv_status lsuv_safetensors_read_memory(const void *bytes, size_t size, const char *path, lsuv_st_tensor **tensors,
                                         size_t *count, char *err, size_t err_size)
{
    *tensors = NULL;
    *count = 0;
    const unsigned char *raw = bytes;
    lsuv_status st = LSUV_OK;
    uint64_t hlen = 0;
    json_object *root = NULL;
    lsuv_st_tensor *out = NULL;
    size_t n = 0;
    if (size < 8)
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: %zu bytes: shorter than the 8-byte header length", path,
                    size);
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    if (hlen > (uint64_t)size - 8 || hlen > MAX_HEADER || (8 + hlen) % 8)
        return fail(err, err_size, LSUV_ERROR_FORMAT, "%s: header length %llu (file %zu bytes; at most %u, ending "
                    "8-aligned)", path, (unsigned long long)hlen, size, MAX_HEADER);
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return fail(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for the JSON parser", path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* the writer pads with spaces after the closing brace; strict mode refuses trailing
     * whitespace inside the token, so parse up to the last '}' and check the rest */
    size_t jl = (size_t)hlen;
    while (jl && raw[8 + jl - 1] == ' ')
        jl--;
    root = json_tokener_parse_ex(tok, (const char *)raw + 8, (int)jl);
    int complete = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == jl;
    json_tokener_free(tok);
    if (!root || !complete || !json_object_is_type(root, json_type_object)) {
        st = fail(err, err_size, LSUV_ERROR_FORMAT, "%s: header is not one JSON object: %.*s", path,
                  (int)(hlen < 200 ? hlen : 200), raw + 8);
        goto done;
    }
    size_t nt = (size_t)json_object_object_length(root);
    out = calloc(nt + 1, sizeof *out);
    if (!out) {
        st = fail(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for %zu tensors", path, nt);
        goto done;
    }
    int64_t expect = 0, data_size = (int64_t)(size - 8 - hlen);
    json_object_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        lsuv_st_tensor *t = &out[n];
        int64_t b, e;
        if ((st = parse_entry(path, key, val, t, &b, &e, err, err_size)) != LSUV_OK)
            goto done;
        if (b != expect || e > data_size) {
            st = fail(err, err_size, LSUV_ERROR_FORMAT, "%s: '%s': data_offsets [%lld, %lld], expected to start at %lld "
                      "within %lld bytes", path, key, (long long)b, (long long)e, (long long)expect, (long long)data_size);
            goto done;
        }
        expect = e;
        char *name = strdup(key);
        void *data = malloc(e > b ? (size_t)(e - b) : 1);
        if (!name || !data) {
            free(name);
            free(data);
            st = fail(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: '%s': out of host memory for %lld bytes",
                      path, key, (long long)(e - b));
            goto done;
        }
        memcpy(data, raw + 8 + hlen + b, (size_t)(e - b));
        t->name = name;
        t->data = data;
        n++;
    }
    if (expect != data_size) {
        st = fail(err, err_size, LSUV_ERROR_FORMAT, "%s: tensors cover %lld bytes, the data area holds %lld", path,
                  (long long)expect, (long long)data_size);
        goto done;
    }
    *tensors = out;
    *count = n;
    out = NULL;
done:
    lsuv_safetensors_free(out, n);
    json_object_put(root);
    return st;
}

lsuv_status lsuv_safetensors_read(const char *path, lsuv_st_tensor **tensors, size_t *count, char *err,
                                  size_t err_size)
{
    *tensors = NULL;
    *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    rewind(f);
    unsigned char *raw = size >= 0 ? malloc(size > 0 ? (size_t)size : 1) : NULL;
    size_t got = raw ? fread(raw, 1, (size_t)size, f) : 0;
    fclose(f);
    lsuv_status st;
    if (size < 0)
        st = fail(err, err_size, LSUV_ERROR_IO, "%s: cannot tell its size", path);
    else if (!raw)
        st = fail(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for %ld bytes", path, size);
    else if (got != (size_t)size)
        st = fail(err, err_size, LSUV_ERROR_IO, "%s: read %zu of %ld bytes", path, got, size);
    else
        st = lsuv_safetensors_read_memory(raw, (size_t)size, path, tensors, count, err, err_size);
    free(raw);
    return st;
}
