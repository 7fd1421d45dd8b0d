/* fuzz_idx.c - libFuzzer target: the IDX reader on arbitrary bytes, plain or gzip (told by
 * the 1f 8b magic), from memory (the same decoder lsuv_idx_read runs on files). */
#include <stdint.h>
#include <stdlib.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsuv_host_array a;
    char err[512] = "";
    lsuv_status st = lsuv_idx_read_memory(data, size, "fuzz.idx", &a, err, sizeof err);
    if (st == LSUV_OK) {
        if ((a.ndim != 2 && a.ndim != 4) || !a.data)
            abort();
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++)
            n *= (size_t)a.shape[i];
        for (size_t i = 0; i < n; i++) /* uint8 / 255: always in [0, 1] */
            if (!(a.data[i] >= 0.0f && a.data[i] <= 1.0f))
                abort();
    } else if (a.data || !err[0]) {
        abort();
    }
    free(a.data);
    return 0;
}
