/* fill.c - to be written */
