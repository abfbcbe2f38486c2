/* harness_internal.h — what the harness's own files share. */
#ifndef POLKU_TESTS_HARNESS_INTERNAL_H
#define POLKU_TESTS_HARNESS_INTERNAL_H

#include "harness.h"

void h_register_proc(h_proc *p);
void h_unregister_proc(h_proc *p);
void h_register_region(h_region *r);

h_http *h_http_new(const char *base_url);
void h_http_free(h_http **c);

/* The one zmq context of the test process (made on first use). */
void *h_zmq_ctx(void);
void h_raw_global_fini(void);
/* Closes raw clients a case left open. */
void h_raw_close_all(void);

#endif
