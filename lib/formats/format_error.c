/* format_error.c - the error-message helper shared by the file-format readers/writers. */
#include <stdarg.h>
#include <stdio.h>

#include "formats/formats.h"

lsuv_status lsuv_format_error(char *err, size_t err_size, lsuv_status st, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return st;
}
