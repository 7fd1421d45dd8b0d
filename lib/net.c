/* net.c - to be written */
