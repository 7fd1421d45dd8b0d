/* moments.c - to be written */
