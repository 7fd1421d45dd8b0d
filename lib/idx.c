/* idx.c - to be written */
