/* error.c — names for polku_err (see polku/error.h). */
#include "polku/error.h"

#include <stddef.h>

static const char *const messages[POLKU_ERR_COUNT] = {
    [POLKU_OK] = "ok",
    [POLKU_ENOMEM] = "out of memory",
    [POLKU_EINVAL] = "invalid argument",
    [POLKU_EMALFORMED] = "malformed input",
    [POLKU_ETOOLARGE] = "too large",
    [POLKU_EVERSION] = "unsupported protocol version",
    [POLKU_ENOTFOUND] = "not found",
    [POLKU_EEXIST] = "already exists",
    [POLKU_EIO] = "input/output error",
    [POLKU_ECONFIG] = "configuration error",
    [POLKU_ESTORE] = "store error",
    [POLKU_EFULL] = "store full",
    [POLKU_ETRANSITION] = "invalid state transition",
    [POLKU_EAGAIN] = "try again later",
    [POLKU_EZMQ] = "messaging error",
    [POLKU_EUV] = "event loop error",
    [POLKU_EHTTP] = "HTTP server error",
    [POLKU_ECRYPTO] = "cryptography error",
    [POLKU_EFORBIDDEN] = "forbidden",
    [POLKU_EREFUSED] = "refused",
    [POLKU_ECORRUPT] = "store damaged",
};

const char *polku_strerror(polku_err err)
{
    if ((unsigned)err >= POLKU_ERR_COUNT || messages[err] == NULL)
        return "unknown error";
    return messages[err];
}
