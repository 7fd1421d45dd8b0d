/* data.c - to be written */
