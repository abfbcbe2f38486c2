/* harness_internal.h — what the harness's own files share. */
#ifndef POLKU_TESTS_HARNESS_INTERNAL_H
#define POLKU_TESTS_HARNESS_INTERNAL_H

#include "harness.h"

void h_register_proc(h_proc *p);
void h_unregister_proc(h_proc *p);
void h_register_region(h_region *r);

/* server: "agent" or "broker", for the record of requests. */
h_http *h_http_new(const char *base_url, const char *server);
void h_http_free(h_http **c);

/* Appends one request and its answer to $POLKU_HTTP_RECORD, if set
 * (harness_record.c). Types and bodies may be NULL. */
void h_record_exchange(const char *server, const char *method,
                       const char *path, const char *req_type,
                       const char *req_body, size_t req_len, long status,
                       const char *resp_type, const char *resp_body,
                       size_t resp_len);

/* The one zmq context of the test process (made on first use). */
void *h_zmq_ctx(void);
void h_raw_global_fini(void);
/* Closes raw clients a case left open. */
void h_raw_close_all(void);

#endif
