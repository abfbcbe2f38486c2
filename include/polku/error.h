/* error.h — the one error type of libpolku.
 *
 * Every libpolku function that can fail returns polku_err: 0 is success.
 * Errors of libzmq, LMDB, libuv and jansson are translated to these codes
 * once, at the module boundary, so callers switch on one set of names. */
#ifndef POLKU_ERROR_H
#define POLKU_ERROR_H

typedef enum polku_err {
    POLKU_OK = 0,
    POLKU_ENOMEM,     /* allocation failed */
    POLKU_EINVAL,     /* invalid argument or value */
    POLKU_EMALFORMED, /* bytes that do not decode */
    POLKU_ETOOLARGE,  /* over a size limit */
    POLKU_EVERSION,   /* unsupported protocol version */
    POLKU_ENOTFOUND,  /* no such object or file */
    POLKU_EEXIST,     /* already exists */
    POLKU_EIO,        /* read/write/system call failed (see errno in the log) */
    POLKU_ECONFIG,    /* configuration error (message names file, line, key) */
    POLKU_ESTORE,     /* LMDB failure other than a full map */
    POLKU_EFULL,      /* LMDB map (or disk) full */
    POLKU_ETRANSITION, /* illegal state transition */
    POLKU_EAGAIN,      /* would block / try again later */
    POLKU_EZMQ,        /* libzmq failure */
    POLKU_EUV,         /* libuv failure */
    POLKU_EHTTP,       /* HTTP server failure */
    POLKU_ECRYPTO,     /* libsodium / key failure */
    POLKU_EFORBIDDEN,  /* not allowed: no consent, not the coordinator */
    POLKU_EREFUSED,    /* refused for a reason the caller was told in detail */
    POLKU_ECORRUPT,    /* a store damaged on disk (truncated, bad pages) */
    POLKU_ERR_COUNT
} polku_err;

/* Human-readable, static string for err; never NULL. */
const char *polku_strerror(polku_err err);

#endif
