/* npy.c - NumPy .npy reader (v1/v2/v3; real, integer and bool dtypes of either byte order,
 * C or Fortran order, converted to float32 in C order) and atomic float32 v1.0 writer. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "formats/formats.h"

#define NPY_MAX_HEADER (1u << 20) /* numpy itself refuses headers over 10000 bytes by default */
#define NPY_PARSE_DIMS 64         /* numpy's NPY_MAXDIMS; we only accept up to LSUV_MAX_DIMS */

static const char npy_magic[6] = { '\x93', 'N', 'U', 'M', 'P', 'Y' };

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap32(void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++, b += 4) {
        unsigned char t0 = b[0], t1 = b[1];
        b[0] = b[3];
        b[1] = b[2];
        b[2] = t1;
        b[3] = t0;
    }
}

/* ------------------------------------------------------------ header dict parser */

typedef struct npy_header {
    char descr[32];
    int have_descr, have_fortran, have_shape;
    int fortran;
    int ndim;
    int64_t shape[NPY_PARSE_DIMS];
} npy_header;

typedef struct hparser {
    const char *t;
    size_t len, pos, base; /* base: file offset of t[0], for messages */
    const char *path;
    char *err;
    size_t err_size;
} hparser;

static lsuv_status hfail(hparser *p, const char *what)
{
    return lsuv_format_error(p->err, p->err_size, LSUV_ERROR_FORMAT, "%s: header, file offset %zu: %s", p->path,
                  p->base + p->pos, what);
}

static void hws(hparser *p)
{
    while (p->pos < p->len &&
           (p->t[p->pos] == ' ' || p->t[p->pos] == '\t' || p->t[p->pos] == '\n' || p->t[p->pos] == '\r'))
        p->pos++;
}

/* A Python string literal in ' or " quotes, without escapes (none occur in .npy keys). */
static lsuv_status hstring(hparser *p, char *out, size_t out_size)
{
    char q = p->t[p->pos];
    if (q != '\'' && q != '"')
        return hfail(p, "expected a quoted string");
    size_t start = ++p->pos;
    while (p->pos < p->len && p->t[p->pos] != q) {
        if (p->t[p->pos] == '\\' || p->t[p->pos] == '\n')
            return hfail(p, "unsupported character in string");
        p->pos++;
    }
    if (p->pos >= p->len)
        return hfail(p, "unterminated string");
    size_t n = p->pos - start;
    p->pos++;
    if (n >= out_size)
        n = out_size - 1; /* long strings are truncated: no valid key or descr is long */
    memcpy(out, p->t + start, n);
    out[n] = '\0';
    return LSUV_OK;
}

static int hword(hparser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->len - p->pos < n || memcmp(p->t + p->pos, w, n) != 0)
        return 0;
    p->pos += n;
    return 1;
}

static lsuv_status hshape(hparser *p, npy_header *h)
{
    if (p->t[p->pos] != '(')
        return hfail(p, "shape is not a tuple");
    p->pos++;
    h->ndim = 0;
    for (;;) {
        hws(p);
        if (p->pos >= p->len)
            return hfail(p, "unterminated shape tuple");
        if (p->t[p->pos] == ')') {
            p->pos++;
            return LSUV_OK;
        }
        if (p->t[p->pos] < '0' || p->t[p->pos] > '9')
            return hfail(p, "shape holds something other than a non-negative integer");
        int64_t v = 0;
        while (p->pos < p->len && p->t[p->pos] >= '0' && p->t[p->pos] <= '9') {
            int d = p->t[p->pos] - '0';
            if (v > (INT64_MAX - d) / 10)
                return hfail(p, "shape dimension does not fit in 64 bits");
            v = v * 10 + d;
            p->pos++;
        }
        if (p->pos < p->len && (p->t[p->pos] == 'L' || p->t[p->pos] == 'l'))
            p->pos++; /* Python 2 long literal, found in old files */
        if (h->ndim >= NPY_PARSE_DIMS)
            return hfail(p, "shape has more than 64 dimensions");
        h->shape[h->ndim++] = v;
        hws(p);
        if (p->pos >= p->len)
            return hfail(p, "unterminated shape tuple");
        if (p->t[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->t[p->pos] == ')') {
            p->pos++;
            return LSUV_OK;
        }
        return hfail(p, "expected ',' or ')' in shape tuple");
    }
}

/* The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } in any key order, with any spacing and an optional trailing comma. */
static lsuv_status parse_header(hparser *p, npy_header *h)
{
    memset(h, 0, sizeof *h);
    lsuv_status st;
    hws(p);
    if (p->pos >= p->len || p->t[p->pos] != '{')
        return hfail(p, "header is not a Python dict ('{' expected)");
    p->pos++;
    for (;;) {
        hws(p);
        if (p->pos >= p->len)
            return hfail(p, "unterminated header dict");
        if (p->t[p->pos] == '}') {
            p->pos++;
            break;
        }
        size_t key_pos = p->pos;
        char key[32];
        if ((st = hstring(p, key, sizeof key)) != LSUV_OK)
            return st;
        hws(p);
        if (p->pos >= p->len || p->t[p->pos] != ':')
            return hfail(p, "expected ':' after key");
        p->pos++;
        hws(p);
        if (p->pos >= p->len)
            return hfail(p, "missing value");
        int *have;
        if (!strcmp(key, "descr")) {
            have = &h->have_descr;
            if (p->t[p->pos] == '[')
                return lsuv_format_error(p->err, p->err_size, LSUV_ERROR_FORMAT,
                              "%s: dtype is a structured (record) dtype, not float32 ('<f4')", p->path);
            if ((st = hstring(p, h->descr, sizeof h->descr)) != LSUV_OK)
                return st;
        } else if (!strcmp(key, "fortran_order")) {
            have = &h->have_fortran;
            if (hword(p, "True"))
                h->fortran = 1;
            else if (hword(p, "False"))
                h->fortran = 0;
            else
                return hfail(p, "fortran_order is neither True nor False");
        } else if (!strcmp(key, "shape")) {
            have = &h->have_shape;
            if ((st = hshape(p, h)) != LSUV_OK)
                return st;
        } else {
            p->pos = key_pos;
            return hfail(p, "unknown key in header dict (expected 'descr', 'fortran_order', 'shape')");
        }
        if (*have) {
            p->pos = key_pos;
            return hfail(p, "key occurs twice in header dict");
        }
        *have = 1;
        hws(p);
        if (p->pos >= p->len)
            return hfail(p, "unterminated header dict");
        if (p->t[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->t[p->pos] == '}') {
            p->pos++;
            break;
        }
        return hfail(p, "expected ',' or '}' in header dict");
    }
    hws(p);
    if (p->pos != p->len)
        return hfail(p, "unexpected characters after the header dict");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return lsuv_format_error(p->err, p->err_size, LSUV_ERROR_FORMAT, "%s: header dict lacks '%s'", p->path,
                      !h->have_descr     ? "descr"
                      : !h->have_fortran ? "fortran_order"
                                         : "shape");
    return LSUV_OK;
}

/* ------------------------------------------------------------ dtypes */

/* What a descr names: kind 'f' (float 2/4/8 bytes), 'i' / 'u' (integers of 1/2/4/8), 'b'
 * (bool, 1). swap: the data's byte order is not the host's. */
typedef struct npy_dtype {
    char kind;
    int size;
    int swap;
} npy_dtype;

static int parse_dtype(const char *descr, npy_dtype *d)
{
    char order = descr[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return 0;
    d->kind = descr[1];
    char *end;
    long size = strtol(descr + 2, &end, 10);
    if (descr[2] < '0' || descr[2] > '9' || *end != '\0')
        return 0;
    d->size = (int)size;
    int ok = (d->kind == 'f' && (size == 2 || size == 4 || size == 8)) ||
             ((d->kind == 'i' || d->kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
             (d->kind == 'b' && size == 1);
    /* '|' (not applicable) and '=' (native) both mean the host's order */
    d->swap = size > 1 && ((order == '<' && !host_is_little_endian()) || (order == '>' && host_is_little_endian()));
    return ok;
}

static const char *dtype_text(const npy_dtype *d)
{
    switch (d->kind) {
    case 'f': return d->size == 2 ? "float16" : d->size == 4 ? "float32" : "float64";
    case 'i': return d->size == 1 ? "int8" : d->size == 2 ? "int16" : d->size == 4 ? "int32" : "int64";
    case 'u': return d->size == 1 ? "uint8" : d->size == 2 ? "uint16" : d->size == 4 ? "uint32" : "uint64";
    default: return "bool";
    }
}

/* IEEE binary16 to float: every half value is exactly a float. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | mant << 13; /* Inf, NaN (payload kept) */
    else if (exp)
        bits = sign | (exp + 112) << 23 | mant << 13;
    else if (!mant)
        bits = sign;
    else { /* subnormal half: normalize */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (mant & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* An integer magnitude is exact in float32 when its significant bits fit in 24. */
static int u64_exact_in_float(uint64_t u)
{
    while (u && !(u & 1))
        u >>= 1;
    return u < (1u << 24);
}

typedef struct convert_stats {
    uint64_t rounded, overflowed;
    double max_rel; /* largest relative rounding error (float64) */
} convert_stats;

/* One element of dtype d at p (already in host order) as a float. */
static float convert_one(const npy_dtype *d, const unsigned char *p, convert_stats *cs)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (d->kind) {
    case 'b': return p[0] ? 1.0f : 0.0f;
    case 'f':
        if (d->size == 2) {
            memcpy(&u16, p, 2);
            return half_to_float(u16);
        }
        if (d->size == 4) {
            float f;
            memcpy(&f, p, 4);
            return f;
        } else {
            double v;
            memcpy(&v, p, 8);
            float f = (float)v;
            if (isinf(f) && !isinf(v))
                cs->overflowed++;
            else if ((double)f != v && !isnan(v)) {
                cs->rounded++;
                double rel = fabs(((double)f - v) / v);
                if (rel > cs->max_rel)
                    cs->max_rel = rel;
            }
            return f;
        }
    case 'u':
        switch (d->size) {
        case 1: memcpy(&u8, p, 1); return (float)u8;
        case 2: memcpy(&u16, p, 2); return (float)u16;
        case 4: memcpy(&u32, p, 4); u64 = u32; break;
        default: memcpy(&u64, p, 8);
        }
        if (!u64_exact_in_float(u64))
            cs->rounded++;
        return (float)u64;
    default: /* 'i' */
        switch (d->size) {
        case 1: memcpy(&u8, p, 1); return (float)(int8_t)u8;
        case 2: memcpy(&u16, p, 2); return (float)(int16_t)u16;
        case 4: memcpy(&u32, p, 4); u64 = (uint64_t)(int64_t)(int32_t)u32; break;
        default: memcpy(&u64, p, 8);
        }
        int64_t v = (int64_t)u64;
        if (!u64_exact_in_float(v < 0 ? 0 - u64 : u64))
            cs->rounded++;
        return (float)v;
    }
}

static void swap_bytes(unsigned char *p, int size)
{
    for (int i = 0; i < size / 2; i++) {
        unsigned char t = p[i];
        p[i] = p[size - 1 - i];
        p[size - 1 - i] = t;
    }
}

/* ------------------------------------------------------------ reader */

int lsuv_file_is_npy(const char *path)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return 0;
    char b[6];
    int yes = fread(b, 1, 6, f) == 6 && !memcmp(b, npy_magic, 6);
    fclose(f);
    return yes;
}

/* Where the bytes come from: a file (streamed, so big files are not held twice) or memory. */
typedef struct npy_src {
    FILE *f;
    const unsigned char *mem;
    size_t len, pos;
    int regular;        /* the size is known: a regular file or memory */
    uint64_t size;
} npy_src;

static size_t src_read(npy_src *s, void *dst, size_t n)
{
    if (s->f)
        return fread(dst, 1, n, s->f);
    size_t k = s->len - s->pos < n ? s->len - s->pos : n;
    memcpy(dst, s->mem + s->pos, k);
    s->pos += k;
    return k;
}

static int src_error(npy_src *s) { return s->f && ferror(s->f); }

/* Element positions: file order (C or Fortran) -> C order in the output. */
typedef struct npy_order {
    int fortran, ndim;
    int64_t shape[LSUV_MAX_DIMS], idx[LSUV_MAX_DIMS], cstride[LSUV_MAX_DIMS];
    int64_t pos; /* C-order index of the next element in file order */
} npy_order;

static void order_init(npy_order *o, int fortran, int ndim, const int64_t *shape)
{
    memset(o, 0, sizeof *o);
    o->fortran = fortran;
    o->ndim = ndim;
    int64_t st = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        o->shape[k] = shape[k];
        o->cstride[k] = st;
        st *= shape[k];
    }
}

static void order_next(npy_order *o)
{
    if (!o->fortran) {
        o->pos++;
        return;
    }
    /* Fortran order: axis 0 varies fastest */
    for (int k = 0; k < o->ndim; k++) {
        o->pos += o->cstride[k];
        if (++o->idx[k] < o->shape[k])
            return;
        o->pos -= o->cstride[k] * o->shape[k];
        o->idx[k] = 0;
    }
}

static lsuv_status npy_parse(npy_src *src, const char *path, lsuv_host_array *out, char *err, size_t err_size)
{
    lsuv_status st = LSUV_OK;
    char *text = NULL;
    float *data = NULL;
    unsigned char pre[12];
    size_t got = src_read(src, pre, 10);
    if (got < 6 || memcmp(pre, npy_magic, 6) != 0) {
        char hex[40];
        lsuv_hex_text(hex, sizeof hex, pre, got < 6 ? got : 6);
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: not a .npy file (bad magic: starts with %s%s)",
                    path, got ? hex : "nothing", got ? "" : ", the file is empty");
        goto done;
    }
    if (got < 10) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: truncated .npy preamble (%zu of 10 bytes)", path,
                    got);
        goto done;
    }
    int major = pre[6], minor = pre[7];
    size_t hlen, hoff;
    if (major == 1 && minor == 0) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        hoff = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (src_read(src, pre + 10, 2) != 2) {
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: truncated .npy preamble (version %d.0)", path,
                        major);
            goto done;
        }
        uint32_t l =
            (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
        hlen = l;
        hoff = 12;
    } else {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: .npy version %d.%d is not supported (1.0, 2.0, 3.0)", path, major, minor);
        goto done;
    }

    int regular = src->regular;
    uint64_t file_size = src->size;
    if (hlen > NPY_MAX_HEADER || (regular && hlen > file_size - hoff)) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: header length %zu (file offset 8) %s", path, hlen,
                    hlen > NPY_MAX_HEADER ? "is over the 1 MiB limit" : "runs past the end of the file");
        goto done;
    }
    text = malloc(hlen + 1);
    if (!text) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        goto done;
    }
    if (src_read(src, text, hlen) != hlen) {
        st =
            lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: truncated header (%zu bytes expected)", path, hlen);
        goto done;
    }
    text[hlen] = '\0';
    if (memchr(text, '\0', hlen)) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: header holds a NUL byte", path);
        goto done;
    }

    npy_header h;
    hparser hp = { text, hlen, 0, hoff, path, err, err_size };
    if ((st = parse_header(&hp, &h)) != LSUV_OK)
        goto done;

    char shape_txt[256];
    lsuv_shape_text(shape_txt, sizeof shape_txt, h.ndim, h.shape, 1);
    npy_dtype dt;
    if (!parse_dtype(h.descr, &dt)) {
        /* complex, object, strings, dates, long double: not numbers we can take as data */
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                               "%s: dtype '%s' is not float32 ('<f4') nor another real, integer or bool type that "
                               "converts to it",
                               path, h.descr);
        goto done;
    }
    if (h.ndim < 2 || h.ndim > 4) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                    "%s: shape %s has %d dimension%s; expected N x F or N x C x H x W", path, shape_txt,
                    h.ndim, h.ndim == 1 ? "" : "s");
        goto done;
    }
    /* Element count, refusing any product that overflows the byte count or size_t (of
     * both the file's elements and the float32 output). */
    uint64_t count = 1;
    for (int i = 0; i < h.ndim; i++) {
        uint64_t d = (uint64_t)h.shape[i];
        if (d && count > (UINT64_MAX / 8) / d) {
            count = UINT64_MAX;
            break;
        }
        count *= d;
    }
    if (count > (uint64_t)INT64_MAX / 8 || count > SIZE_MAX / 8) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: shape %s is too large (its byte count overflows)",
                    path, shape_txt);
        goto done;
    }
    uint64_t bytes = count * (uint64_t)dt.size;
    uint64_t data_off = hoff + hlen;
    if (regular && file_size - data_off != bytes) {
        if (file_size - data_off < bytes)
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                        "%s: truncated: shape %s needs %llu data bytes from offset %llu, the file holds %llu",
                        path, shape_txt, (unsigned long long)bytes, (unsigned long long)data_off,
                        (unsigned long long)(file_size - data_off));
        else
            st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT,
                        "%s: %llu unexpected bytes after the data of shape %s (at offset %llu)", path,
                        (unsigned long long)(file_size - data_off - bytes), shape_txt,
                        (unsigned long long)(data_off + bytes));
        goto done;
    }
    data = malloc(count ? (size_t)count * sizeof(float) : 1);
    if (!data) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory (%llu bytes)", path,
                    (unsigned long long)count * sizeof(float));
        goto done;
    }
    uint64_t nread = 0;
    convert_stats cs = {0};
    if (dt.kind == 'f' && dt.size == 4 && !dt.swap && !h.fortran) {
        nread = src_read(src, data, (size_t)bytes); /* float32 in C order: as it is */
    } else {
        /* Through a small buffer: element by element into its C-order place. */
        npy_order ord;
        order_init(&ord, h.fortran, h.ndim, h.shape);
        unsigned char buf[1 << 14];
        size_t per = sizeof buf / (size_t)dt.size;
        while (nread < bytes) {
            size_t want = bytes - nread < per * (size_t)dt.size ? (size_t)(bytes - nread) : per * (size_t)dt.size;
            size_t k = src_read(src, buf, want);
            if (k % (size_t)dt.size)
                k -= k % (size_t)dt.size; /* a partial element: reported as truncated below */
            for (size_t e = 0; e < k; e += (size_t)dt.size) {
                if (dt.swap)
                    swap_bytes(buf + e, dt.size);
                data[ord.pos] = convert_one(&dt, buf + e, &cs);
                order_next(&ord);
            }
            nread += k;
            if (k < want)
                break;
        }
    }
    if (nread != bytes) {
        st = lsuv_format_error(err, err_size, src_error(src) ? LSUV_ERROR_IO : LSUV_ERROR_FORMAT,
                    "%s: truncated: shape %s needs %llu data bytes from offset %llu, read %llu", path,
                    shape_txt, (unsigned long long)bytes, (unsigned long long)data_off, (unsigned long long)nread);
        goto done;
    }
    unsigned char extra;
    if (!regular && src_read(src, &extra, 1) == 1) {
        st = lsuv_format_error(err, err_size, LSUV_ERROR_FORMAT, "%s: unexpected bytes after the data of shape %s", path,
                    shape_txt);
        goto done;
    }
    if (cs.rounded || cs.overflowed) {
        int len = snprintf(out->note, sizeof out->note, "%s: %s values converted to float32:", path,
                           dtype_text(&dt));
        if (cs.rounded && len >= 0 && (size_t)len < sizeof out->note)
            len += snprintf(out->note + len, sizeof out->note - (size_t)len, " %llu of %llu rounded",
                            (unsigned long long)cs.rounded, (unsigned long long)count);
        if (cs.max_rel > 0 && len >= 0 && (size_t)len < sizeof out->note)
            len += snprintf(out->note + len, sizeof out->note - (size_t)len, " (relative error up to %.1e)",
                            cs.max_rel);
        if (cs.overflowed && len >= 0 && (size_t)len < sizeof out->note)
            snprintf(out->note + len, sizeof out->note - (size_t)len, "%s %llu beyond float32's range became Inf",
                     cs.rounded ? ";" : "", (unsigned long long)cs.overflowed);
    }
    out->ndim = h.ndim;
    for (int i = 0; i < h.ndim; i++)
        out->shape[i] = h.shape[i];
    out->data = data;
    data = NULL;

done:
    free(data);
    free(text);
    return st;
}

lsuv_status lsuv_npy_read(const char *path, lsuv_host_array *out, char *err, size_t err_size)
{
    if (!path || !out)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "npy: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return lsuv_format_error(err, err_size, LSUV_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    npy_src src = { .f = f };
    src.regular = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
    src.size = src.regular ? (uint64_t)sb.st_size : 0;
    lsuv_status st = npy_parse(&src, path, out, err, err_size);
    fclose(f);
    return st;
}

lsuv_status lsuv_npy_read_memory(const void *bytes, size_t len, const char *name, lsuv_host_array *out, char *err,
                                 size_t err_size)
{
    if (!out || (!bytes && len))
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "npy: NULL argument");
    memset(out, 0, sizeof *out);
    npy_src src = { .mem = bytes, .len = len, .regular = 1, .size = len };
    return npy_parse(&src, name ? name : "npy", out, err, err_size);
}

/* ------------------------------------------------------------ writer */

typedef struct npy_job {
    const lsuv_host_array *a;
    const char *header;
    size_t header_len;
    size_t count;
} npy_job;

static lsuv_status npy_write_body(FILE *f, void *user, char *msg, size_t msg_size)
{
    (void)msg;
    (void)msg_size;
    const npy_job *job = user;
    if (fwrite(job->header, 1, job->header_len, f) != job->header_len)
        return LSUV_ERROR_IO;
    if (host_is_little_endian())
        return fwrite(job->a->data, 4, job->count, f) == job->count ? LSUV_OK : LSUV_ERROR_IO;
    float buf[4096];
    for (size_t i = 0; i < job->count; i += 4096) {
        size_t n = job->count - i < 4096 ? job->count - i : 4096;
        memcpy(buf, job->a->data + i, n * 4);
        swap32(buf, n);
        if (fwrite(buf, 4, n, f) != n)
            return LSUV_ERROR_IO;
    }
    return LSUV_OK;
}

lsuv_status lsuv_npy_write(const char *path, const lsuv_host_array *a, char *err, size_t err_size)
{
    if (!path || !a)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "npy: NULL argument");
    if (a->ndim < 0 || a->ndim > LSUV_MAX_DIMS)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: %d dimensions (0 to %d allowed)", path,
                      a->ndim, LSUV_MAX_DIMS);
    uint64_t count = 1;
    for (int i = 0; i < a->ndim; i++) {
        uint64_t d = (uint64_t)a->shape[i];
        if (a->shape[i] < 0 || (d && count > (SIZE_MAX / 4) / d))
            return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT,
                          "%s: shape[%d] = %lld is negative or too large", path, i, (long long)a->shape[i]);
        count *= d;
    }
    if (count && !a->data)
        return lsuv_format_error(err, err_size, LSUV_ERROR_INVALID_ARGUMENT, "%s: array has no data", path);

    /* v1.0: 10-byte preamble + dict padded with spaces and ended by '\n' so the data
     * starts at a multiple of 64 bytes, as numpy writes it. */
    char shape_txt[256];
    lsuv_shape_text(shape_txt, sizeof shape_txt, a->ndim, a->shape, 1);
    char header[512];
    int n = snprintf(header + 10, sizeof header - 10,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape_txt);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    memset(header + 10 + n, ' ', padded - total);
    header[padded - 1] = '\n';
    size_t hlen = padded - 10;
    memcpy(header, npy_magic, 6);
    header[6] = 1;
    header[7] = 0;
    header[8] = (char)(hlen & 0xFF);
    header[9] = (char)(hlen >> 8);

    npy_job job = { a, header, padded, (size_t)count };
    return lsuv_write_atomic(path, npy_write_body, &job, err, err_size);
}
