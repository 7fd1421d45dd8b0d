/* st_reader.h - a safetensors reader for the tests only (the library writes safetensors
 * but does not read them): the header is parsed with json-c, and everything the writer
 * promises is checked - 8-byte aligned data area, known dtypes, offsets contiguous in
 * header order from 0 and covering the data area exactly, sizes matching the shapes. */
#ifndef LSUV_TEST_ST_READER_H
#define LSUV_TEST_ST_READER_H

#include <stddef.h>

#include "formats/formats.h"

/* On success *tensors (malloc'ed, names and data too) holds *count tensors in header
 * order; free with test_safetensors_free. On failure returns LSUV_ERROR_FORMAT (or _IO)
 * with a message in err. */
lsuv_status test_safetensors_read(const char *path, lsuv_st_tensor **tensors, size_t *count, char *err,
                                  size_t err_size);
void test_safetensors_free(lsuv_st_tensor *tensors, size_t count);

#endif
