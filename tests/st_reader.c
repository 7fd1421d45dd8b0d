/* st_reader.c - see st_reader.h. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_reader.h"

static lsuv_status fail(char *err, size_t err_size, lsuv_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return st;
}

void test_safetensors_free(lsuv_st_tensor *tensors, size_t count)
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

lsuv_status test_safetensors_read(const char *path, lsuv_st_tensor **tensors, size_t *count, char *err,
                                  size_t err_size)
{
    *tensors = NULL;
    *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, err_size, LSUV_ERROR_IO, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *raw = malloc(size > 0 ? (size_t)size : 1);
    size_t got = raw ? fread(raw, 1, (size_t)size, f) : 0;
    fclose(f);
    lsuv_status st = LSUV_OK;
    uint64_t hlen = 0;
    json_object *root = NULL;
    lsuv_st_tensor *out = NULL;
    size_t n = 0;
    if (!raw || got != (size_t)size || size < 8) {
        st = fail(err, err_size, LSUV_ERROR_FORMAT, "%s: shorter than 8 bytes or unreadable", path);
        goto done;
    }
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    if (hlen > (uint64_t)size - 8 || (8 + hlen) % 8) {
        st = fail(err, err_size, LSUV_ERROR_FORMAT, "%s: header length %llu (file %ld bytes; must end 8-aligned)",
                  path, (unsigned long long)hlen, size);
        goto done;
    }
    json_tokener *tok = json_tokener_new();
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
        st = fail(err, err_size, LSUV_ERROR_FORMAT, "%s: header is not one JSON object: %.*s", path, (int)hlen,
                  raw + 8);
        goto done;
    }
    size_t nt = (size_t)json_object_object_length(root);
    out = calloc(nt + 1, sizeof *out);
    int64_t expect = 0, data_size = size - 8 - (int64_t)hlen;
    json_object_object_foreach(root, key, val)
    {
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
        t->name = strdup(key);
        void *data = malloc(e > b ? (size_t)(e - b) : 1);
        memcpy(data, raw + 8 + hlen + b, (size_t)(e - b));
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
    test_safetensors_free(out, n);
    json_object_put(root);
    free(raw);
    return st;
}
