/* reload_client.c — `polku-broker --reload` (reload_client.h). */
#include "reload_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polku/error.h"
#include "polku/keys.h"

typedef struct answer {
    char *data;
    size_t len;
} answer;

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t add = size * n;
    if (a->len + add > 64 * 1024)
        return 0; /* more than any answer of ours: stop */
    char *grown = realloc(a->data, a->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + a->len, ptr, add);
    a->data = grown;
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

/* The URL of the reload call: a wildcard listen address is reached on
 * loopback. */
static void reload_url(const char *http, char *out, size_t len)
{
    const char *port = strrchr(http, ':');
    if (strncmp(http, "0.0.0.0:", 8) == 0 && port)
        snprintf(out, len, "http://127.0.0.1%s/api/v1/reload", port);
    else
        snprintf(out, len, "http://%s/api/v1/reload", http);
}

/* The message of the answer's JSON (message, or error.message). */
static const char *answer_message(json_t *j)
{
    json_t *e = json_object_get(j, "error");
    const char *m = json_string_value(json_object_get(e ? e : j, "message"));
    return m ? m : "";
}

int reload_client_run(const broker_config *cfg)
{
    char url[512], auth[128] = "";
    reload_url(cfg->http, url, sizeof url);
    /* a broker on loopback asks for no token (and may never have made its
     * file): without one, a 401 says the token was needed after all */
    polku_cfgerr token_err = {{0}};
    if (cfg->http_token_file) {
        char token[POLKU_TOKEN_TEXT];
        if (polku_token_load(cfg->http_token_file, false, token, &token_err) ==
            POLKU_OK)
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        sodium_memzero(token, sizeof token);
    }
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "polku-broker: libcurl failed to initialise\n");
        return 1;
    }
    struct curl_slist *headers =
        curl_slist_append(NULL, "Content-Type: application/json");
    if (auth[0])
        headers = curl_slist_append(headers, auth);
    answer a = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the broker, not a proxy */
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    sodium_memzero(auth, sizeof auth);
    int rc = 1;
    if (cc != CURLE_OK) {
        fprintf(stderr,
                "polku-broker: cannot reach the broker at %s: %s (is it "
                "running with this config?)\n",
                url, curl_easy_strerror(cc));
    } else {
        json_t *j = a.data ? json_loads(a.data, 0, NULL) : NULL;
        const char *msg = answer_message(j);
        if (status == 200) {
            printf("polku-broker: reloaded: %s\n", msg);
            rc = 0;
        } else if (status == 422) {
            fprintf(stderr,
                    "polku-broker: reload refused, the running directory is "
                    "kept: %s\n",
                    msg);
            rc = 2;
        } else {
            fprintf(stderr, "polku-broker: %s answered HTTP %ld: %s%s%s\n", url,
                    status, *msg ? msg : (a.data ? a.data : ""),
                    status == 401 && token_err.msg[0] ? "; " : "",
                    status == 401 ? token_err.msg : "");
        }
        json_decref(j);
    }
    free(a.data);
    return rc;
}
