/* fuzz_safetensors.c - libFuzzer target: the safetensors reader (forward --weights) on
 * arbitrary bytes, from memory (the file reader reads the file, then runs the same
 * parser). Besides the sanitizers, checks the reader's contract: success gives tensors
 * whose data sizes match their shapes, failure nothing and a message. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsuv_st_tensor *t = NULL;
    size_t n = 0;
    char err[512] = "";
    lsuv_status st = lsuv_safetensors_read_memory(data, size, "fuzz.safetensors", &t, &n, err, sizeof err);
    if (st == LSUV_OK) {
        for (size_t i = 0; i < n; i++) {
            size_t bytes = t[i].dtype == LSUV_DTYPE_I64 ? 8 : 4;
            for (int d = 0; d < t[i].ndim; d++)
                bytes *= (size_t)t[i].shape[d];
            volatile uint8_t sink = 0; /* touch every byte: reads past the buffer show up */
            for (size_t b = 0; b < bytes; b++)
                sink ^= ((const uint8_t *)t[i].data)[b];
            (void)sink;
            if (!t[i].name)
                abort();
        }
    } else if (t || n || !err[0]) {
        abort();
    }
    lsuv_safetensors_free(t, n);
    return 0;
}
