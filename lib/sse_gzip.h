/* sse_gzip.h — gzip for event streams, deflated once for all clients.
 *
 * Why it exists: a dashboard's event stream is mostly repeated JSON keys;
 * gzip takes it to a fraction, and with a thousand dashboards the bytes
 * are what the broker's CPU goes on (bench/README.md). But a gzip stream
 * is per client: its deflate history and its CRC differ with where each
 * joined. So every piece of text (a flush's batch, a keepalive) is
 * deflated on its own — raw deflate, no history, ending with a sync flush
 * on a byte boundary — and such segments concatenate into a valid deflate
 * stream whatever came before. One segment is made per piece and shared
 * by every client; each client only keeps its CRC-32 and length for the
 * trailer, combined with the piece's CRC in constant time. Internal to
 * lib/sse.c. */
#ifndef POLKU_SSE_GZIP_H
#define POLKU_SSE_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sse_gzip sse_gzip;

/* A deflater (reused for every segment). NULL when out of memory. */
sse_gzip *sse_gzip_new(void);
void sse_gzip_free(sse_gzip **z);

/* len bytes as one independent segment: malloc'd, *out_len bytes; NULL
 * when out of memory. */
unsigned char *sse_gzip_segment(sse_gzip *z, const char *data, size_t len,
                                size_t *out_len);

/* The 10-byte gzip header every stream starts with. */
#define SSE_GZIP_HEADER_LEN 10
extern const unsigned char sse_gzip_header[SSE_GZIP_HEADER_LEN];

/* What a client's trailer needs: the CRC-32 and length (mod 2^32) of all
 * it was sent, uncompressed. */
typedef struct sse_gzip_sum {
    uint32_t crc, size;
} sse_gzip_sum;

/* A piece's own sum, and how to append it to a client's. */
typedef struct sse_gzip_piece {
    uint32_t crc, size;
    unsigned long op; /* zlib's crc32_combine_gen of the length */
} sse_gzip_piece;
void sse_gzip_piece_of(const char *data, size_t len, sse_gzip_piece *out);
void sse_gzip_sum_add(sse_gzip_sum *sum, const sse_gzip_piece *p);

/* The stream's end: an empty final block and the trailer. */
#define SSE_GZIP_END_LEN 10
void sse_gzip_end(const sse_gzip_sum *sum, unsigned char out[SSE_GZIP_END_LEN]);

/* True when an Accept-Encoding value accepts gzip (q not 0). */
bool sse_gzip_accepted(const char *accept_encoding);

#endif
