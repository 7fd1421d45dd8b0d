/* fuzz_onnx.c - libFuzzer target: the ONNX reader (lsuv_onnx_read_memory) on arbitrary
 * bytes, then every initializer's values as float32 and int64, as the importer asks for
 * them. External data is looked up in an empty private folder, so it is always missing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "formats/onnx_model.h"

static char dir[64] = "/tmp/lsuv-fuzz-onnx-XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsuv_onnx_model *m = NULL;
    char err[512] = "";
    if (lsuv_onnx_read_memory(data, size, dir, &m, err, sizeof err) != LSUV_OK) {
        if (m || !err[0])
            abort();
        return 0;
    }
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; g && i < g->n_initializer; i++) {
        int64_t n = 0;
        float *f = NULL;
        int64_t *v = NULL;
        if (lsuv_onnx_tensor_f32(m, g->initializer[i], &f, &n, err, sizeof err) == LSUV_OK)
            free(f);
        if (lsuv_onnx_tensor_i64(m, g->initializer[i], &v, &n, err, sizeof err) == LSUV_OK)
            free(v);
    }
    lsuv_onnx_free(m);
    return 0;
}
