/* fuzz_idx_gz.c - libFuzzer target: the IDX parser behind the gzip decoder. The input is
 * taken as an (uncompressed) IDX file and gzip-compressed here, so mutations reach the IDX
 * header and data checks of the gzip path instead of dying in inflate (fuzz_idx covers
 * corrupt compressed streams). The result must equal the plain read of the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    uLong cap = deflateBound(&z, (uLong)size) + 32;
    unsigned char *gz = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t gz_len = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(gz);
        return 0;
    }
    lsuv_host_array a, p;
    char err[512] = "", perr[512] = "";
    lsuv_status st = lsuv_idx_read_memory(gz, gz_len, "fuzz.idx.gz", &a, err, sizeof err);
    /* Plain bytes starting with 1f 8b would be taken as gzip: compare only real IDX. */
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
        lsuv_status pst = lsuv_idx_read_memory(data, size, "fuzz.idx", &p, perr, sizeof perr);
        if ((st == LSUV_OK) != (pst == LSUV_OK))
            abort();
        if (st == LSUV_OK) {
            size_t n = 1;
            for (int i = 0; i < a.ndim; i++)
                n *= (size_t)a.shape[i];
            if (a.ndim != p.ndim || memcmp(a.shape, p.shape, sizeof a.shape) || memcmp(a.data, p.data, n * 4))
                abort();
        }
        free(p.data);
    }
    if (st != LSUV_OK && (a.data || !err[0]))
        abort();
    free(a.data);
    free(gz);
    return 0;
}
