/* client.c — the CLI's side of the agent's local HTTP/JSON API (libcurl):
 * one blocking request per command, the bearer token from its file, and the
 * agent's {"error": {code, message}} turned into a message and exit code. */
#include "cli.h"
#include "i18n.h"

#include "polku/keys.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64u << 20)
#define URL_MAX 4096
#define CONNECT_TIMEOUT_MS 5000L
#define TIMEOUT_MS 60000L

typedef struct buffer {
    char *data;
    size_t len, cap;
    bool too_large;
} buffer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    buffer *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > BODY_MAX) {
        b->too_large = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (data == NULL)
            return 0;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int cli_set_text(json_t *obj, const char *key, const char *text)
{
    if (text == NULL)
        return 0;
    return json_object_set_new(obj, key, json_string(text));
}

bool cli_url_escape(const char *text, char *out, size_t out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        size_t need = plain ? 1 : 3;
        if (o + need >= out_len)
            return false;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= out_len)
        return false;
    out[o] = '\0';
    return true;
}

bool cli_add_query(char *out, size_t len, const char *name, const char *value)
{
    char escaped[128];
    if (value == NULL)
        return true;
    if (!cli_url_escape(value, escaped, sizeof escaped))
        return false;
    size_t used = strlen(out);
    int n = snprintf(out + used, len - used, "%c%s=%s",
                     strchr(out, '?') != NULL ? '&' : '?', name, escaped);
    return n > 0 && (size_t)n < len - used;
}

/* The agent URL without trailing slashes, with http:// when no scheme. */
static bool agent_url(const cli *c, const char *path, char *out, size_t len)
{
    size_t base = strlen(c->agent);
    while (base > 0 && c->agent[base - 1] == '/')
        base--;
    const char *scheme = strstr(c->agent, "://") == NULL ? "http://" : "";
    int n = snprintf(out, len, "%s%.*s%s", scheme, (int)base, c->agent, path);
    return n > 0 && (size_t)n < len &&
           cli_add_query(out, len, "region", c->region);
}

/* Adds "Authorization: Bearer <token>" when a token file is configured. */
static int add_auth(const cli *c, struct curl_slist **headers)
{
    if (c->token_file == NULL)
        return CLI_OK;
    char token[POLKU_TOKEN_TEXT];
    polku_cfgerr err = {{0}};
    if (polku_token_load(c->token_file, false, token, &err) != 0)
        return cli_fail("cannot read the token file: %s", err.msg);
    char line[32 + POLKU_TOKEN_TEXT];
    snprintf(line, sizeof line, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(*headers, line);
    sodium_memzero(token, sizeof token);
    sodium_memzero(line, sizeof line);
    if (h == NULL)
        return cli_fail("out of memory");
    *headers = h;
    return CLI_OK;
}

static int build_headers(const cli *c, bool has_body,
                         struct curl_slist **headers)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (h != NULL && has_body) {
        struct curl_slist *h2 =
            curl_slist_append(h, "Content-Type: application/json");
        if (h2 == NULL) {
            curl_slist_free_all(h);
            h = NULL;
        } else {
            h = h2;
        }
    }
    if (h == NULL)
        return cli_fail("out of memory");
    *headers = h;
    return add_auth(c, headers);
}

static void set_options(CURL *curl, const char *url, const char *method,
                        const char *text, struct curl_slist *headers, buffer *b,
                        char *errbuf)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (text != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* the agent is local */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "polku-cli");
}

/* Runs the transfer; on failure prints why and returns CLI_FAIL. */
static int perform(const cli *c, CURL *curl, const buffer *b,
                   const char *errbuf, long *status)
{
    CURLcode rc = curl_easy_perform(curl);
    if (b->too_large)
        return cli_fail("the agent's answer is larger than %u bytes", BODY_MAX);
    if (rc != CURLE_OK)
        return cli_fail("cannot reach agent at %s: %s", c->agent,
                        errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    return CLI_OK;
}

int cli_request(const cli *c, const char *method, const char *path,
                json_t *body, long *status, json_t **out)
{
    *out = NULL;
    char url[URL_MAX];
    if (!agent_url(c, path, url, sizeof url))
        return cli_fail("URL too long");
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body != NULL && text == NULL)
        return cli_fail("out of memory");
    struct curl_slist *headers = NULL;
    int rc = build_headers(c, text != NULL, &headers);
    CURL *curl = rc == CLI_OK ? curl_easy_init() : NULL;
    if (rc == CLI_OK && curl == NULL)
        rc = cli_fail("cannot initialise libcurl");
    buffer b = {NULL, 0, 0, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    if (rc == CLI_OK) {
        set_options(curl, url, method, text, headers, &b, errbuf);
        rc = perform(c, curl, &b, errbuf, status);
    }
    if (rc == CLI_OK && b.len > 0)
        *out = json_loadb(b.data, b.len, 0, NULL);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(text);
    free(b.data);
    return rc;
}

/* Prints the agent's error answer: "CODE: MESSAGE (HTTP 409)". */
int cli_answer_error(const cli *c, long status, const json_t *body)
{
    if (c->json && body != NULL)
        cli_print_json(body);
    const json_t *error = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    fputs("polku: ", stderr);
    if (code != NULL) {
        cli_print_clean(stderr, code);
        fputs(": ", stderr);
    }
    cli_print_clean(stderr, message != NULL ? message : _("the agent refused"));
    fprintf(stderr, " (HTTP %ld)\n", status);
    return CLI_FAIL;
}

int cli_call(const cli *c, const char *method, const char *path, json_t *body,
             json_t **out)
{
    long status = 0;
    json_t *answer = NULL;
    *out = NULL;
    int rc = cli_request(c, method, path, body, &status, &answer);
    if (rc != CLI_OK)
        return rc;
    if (status < 200 || status > 299) {
        rc = cli_answer_error(c, status, answer);
        json_decref(answer);
        return rc;
    }
    if (answer == NULL && status != 204)
        return cli_fail("the agent's answer is not JSON (HTTP %ld)", status);
    *out = answer;
    return CLI_OK;
}

int cli_get_list(const cli *c, const char *path, const char *member,
                 void (*print_list)(const json_t *list),
                 void (*print_json)(json_t *answer))
{
    json_t *answer = NULL;
    int rc = cli_call(c, "GET", path, NULL, &answer);
    const json_t *list = json_object_get(answer, member);
    if (rc == CLI_OK && !json_is_array(list))
        rc = cli_fail("unexpected answer from the agent: no list '%s'", member);
    else if (rc == CLI_OK && c->json && print_json)
        print_json(answer);
    else if (rc == CLI_OK && c->json)
        cli_print_json(answer);
    else if (rc == CLI_OK)
        print_list(list);
    json_decref(answer);
    return rc;
}
