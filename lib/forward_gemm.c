/* forward.c - to be written */
