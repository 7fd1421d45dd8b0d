/* fuzz_npy.c - libFuzzer target: the .npy reader on arbitrary bytes (from memory, the same
 * parser lsuv_npy_read runs on files). Besides the sanitizers, checks the reader's
 * contract: success gives 2-4 dimensions and data, failure an empty result and a message. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsuv_host_array a;
    char err[512] = "";
    lsuv_status st = lsuv_npy_read_memory(data, size, "fuzz.npy", &a, err, sizeof err);
    if (st == LSUV_OK) {
        if (a.ndim < 2 || a.ndim > 4 || !a.data)
            abort();
        volatile float sink = 0; /* touch every value: reads past the buffer show up */
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++)
            n *= (size_t)a.shape[i];
        for (size_t i = 0; i < n; i++)
            sink += a.data[i];
        (void)sink;
    } else if (a.data || !err[0]) {
        abort();
    }
    free(a.data);
    return 0;
}
