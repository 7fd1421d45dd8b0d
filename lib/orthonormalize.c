/* orthonormalize.c - to be written */
