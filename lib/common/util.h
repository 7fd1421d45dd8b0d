/* util.h - small helpers every folder may use (internal; the C library only). One copy
 * of each instead of one per file that needed it. */
#ifndef LSUV_UTIL_H
#define LSUV_UTIL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64's finalizer: a bijective 64-bit mixer (seeds, stream keys, temporary names). */
static inline uint64_t lsuv_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ceil(a / b) for b > 0; a + b - 1 must not overflow (callers' sizes are far below 2^63). */
static inline uint64_t lsuv_ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* a rounded up to a multiple of b (b > 0). */
static inline uint64_t lsuv_round_up(uint64_t a, uint64_t b) { return lsuv_ceil_div(a, b) * b; }

/* A shape as text: "(2, 3)", "()"; one axis is "(5,)" when tuple_comma (as Python prints
 * a tuple, for messages about numpy files), else "(5)". Truncated to size; returns buf. */
static inline const char *lsuv_shape_text(char *buf, size_t size, int ndim, const int64_t *dims,
                                          int tuple_comma)
{
    if (!size)
        return buf;
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, ndim == 1 && tuple_comma ? ",)" : ")");
    return buf;
}

/* The first n bytes of a file as hex for a message: "93 4e 55". Truncated to size. */
static inline const char *lsuv_hex_text(char *buf, size_t size, const unsigned char *bytes, size_t n)
{
    if (!size)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0, used = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? " %02x" : "%02x", bytes[i]);
    return buf;
}

/* Makes the array at *array_ptr (a T **, elements of elem bytes) hold at least need
 * elements, doubling its capacity *capacity (from 16). Returns 0, leaving the array as it
 * was, when out of memory or when the count would overflow. */
static inline int lsuv_grow(void *array_ptr, int *capacity, int need, size_t elem)
{
    if (need <= *capacity)
        return 1;
    int cap = *capacity > 0 ? *capacity : 16;
    while (cap < need) {
        if (cap > INT_MAX / 2)
            return 0;
        cap *= 2;
    }
    if ((size_t)cap > SIZE_MAX / elem)
        return 0;
    void *old;
    memcpy(&old, array_ptr, sizeof old); /* a T * read as the void * it converts to */
    void *grown = realloc(old, (size_t)cap * elem);
    if (!grown)
        return 0;
    memcpy(array_ptr, &grown, sizeof grown);
    *capacity = cap;
    return 1;
}

#endif
