/* forward_eltwise.c - to be written */
