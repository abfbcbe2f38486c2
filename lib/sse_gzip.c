/* sse_gzip.c — see sse_gzip.h. */
#include "sse_gzip.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

struct sse_gzip {
    z_stream zs;
};

/* magic, deflate, no flags, no time, no extra flags, OS unix */
const unsigned char sse_gzip_header[SSE_GZIP_HEADER_LEN] = {
    0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};

sse_gzip *sse_gzip_new(void)
{
    sse_gzip *z = calloc(1, sizeof *z);
    if (z && deflateInit2(&z->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                          Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void sse_gzip_free(sse_gzip **z)
{
    if (!z || !*z)
        return;
    deflateEnd(&(*z)->zs);
    free(*z);
    *z = NULL;
}

unsigned char *sse_gzip_segment(sse_gzip *z, const char *data, size_t len,
                                size_t *out_len)
{
    if (deflateReset(&z->zs) != Z_OK)
        return NULL;
    /* the bound of a whole stream, plus the sync flush's 5 bytes */
    size_t cap = deflateBound(&z->zs, (uLong)len) + 16;
    unsigned char *out = malloc(cap);
    if (!out)
        return NULL;
    z->zs.next_in = (Bytef *)data;
    z->zs.avail_in = (uInt)len;
    z->zs.next_out = out;
    z->zs.avail_out = (uInt)cap;
    int rc = deflate(&z->zs, Z_SYNC_FLUSH);
    if (rc != Z_OK || z->zs.avail_in != 0 || z->zs.avail_out == 0) {
        free(out);
        return NULL;
    }
    *out_len = cap - z->zs.avail_out;
    return out;
}

void sse_gzip_piece_of(const char *data, size_t len, sse_gzip_piece *out)
{
    out->crc = (uint32_t)crc32(0, (const Bytef *)data, (uInt)len);
    out->size = (uint32_t)len;
    out->op = crc32_combine_gen((z_off_t)len);
}

void sse_gzip_sum_add(sse_gzip_sum *sum, const sse_gzip_piece *p)
{
    sum->crc = (uint32_t)crc32_combine_op(sum->crc, p->crc, p->op);
    sum->size += p->size;
}

void sse_gzip_end(const sse_gzip_sum *sum, unsigned char out[SSE_GZIP_END_LEN])
{
    out[0] = 0x03; /* a final block of fixed codes holding only its end */
    out[1] = 0x00;
    for (int i = 0; i < 4; i++) {
        out[2 + i] = (unsigned char)(sum->crc >> (8 * i));
        out[6 + i] = (unsigned char)(sum->size >> (8 * i));
    }
}

bool sse_gzip_accepted(const char *v)
{
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *name = v;
        while (*v && *v != ',' && *v != ';' && *v != ' ' && *v != '\t')
            v++;
        size_t n = (size_t)(v - name);
        bool gzip = (n == 4 && strncasecmp(name, "gzip", 4) == 0) ||
                    (n == 6 && strncasecmp(name, "x-gzip", 6) == 0);
        bool refused = false; /* q=0, q=0.0, q=0.000 */
        while (*v && *v != ',') {
            if (*v == ';') {
                v++;
                while (*v == ' ' || *v == '\t')
                    v++;
                if ((v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                    const char *q = v + 2;
                    bool zero = *q == '0';
                    if (zero && q[1] == '.')
                        for (q += 2; *q >= '0' && *q <= '9'; q++)
                            zero = zero && *q == '0';
                    refused = zero;
                }
                continue;
            }
            v++;
        }
        if (gzip)
            return !refused;
    }
    return false;
}
