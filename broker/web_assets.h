/* web_assets.h — the dashboard page (web/), compiled into the broker at
 * build time (cmake/embed_web.cmake), served at /, /app.js, /style.css. */
#ifndef POLKU_BROKER_WEB_ASSETS_H
#define POLKU_BROKER_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path; /* "/index.html"; NULL ends the table */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} web_asset;

extern const web_asset web_assets[];

#endif
