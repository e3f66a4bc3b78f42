// SPDX-License-Identifier: MIT
/*
 * client.c - nasctl's HTTP on libcurl (cli/nasctl.h): requests, the event
 * stream, and nasd's problems printed for a reader.
 *
 * The one design decision to know: one easy handle per request, a write
 * callback filling a growing buffer, and no retry. Whether nasd answered
 * at all is the line between exit code 3 (curl failed: nothing came back)
 * and 1 (an HTTP error status): a caller never has to look at curl's
 * error codes. The event stream is the same easy handle with a write
 * callback that feeds the parser of sse.c instead; a callback that wants
 * to stop returns 0 to curl, which ends the transfer (CURLE_WRITE_ERROR),
 * and that is told apart from a real failure by the parser's flag.
 */
#include "nasctl.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_S 10L

static const char *base_url;
static char auth_header[600];

int nasctl_client_init(const nasctl_opts *o)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "nasctl: cannot initialise libcurl\n");
        return NASCTL_UNREACHABLE;
    }
    base_url = o->url;
    auth_header[0] = '\0';
    if (o->token)
        snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s", o->token);
    return NASCTL_OK;
}

void nasctl_client_cleanup(void)
{
    curl_global_cleanup();
}

char *nasctl_escape(const char *s)
{
    CURL *c = curl_easy_init();
    char *e = c ? curl_easy_escape(c, s, 0) : NULL;
    char *out = e ? strdup(e) : NULL;
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

void nasctl_resp_free(nasctl_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ transfer */

typedef struct sink {
    nasctl_resp *r;
    size_t cap;
    int nomem;
} sink;

static size_t on_body(char *d, size_t size, size_t nmemb, void *ud)
{
    sink *k = ud;
    size_t n = size * nmemb;
    nasctl_resp *r = k->r;
    if (r->len + n + 1 > k->cap) {
        size_t c = k->cap ? k->cap * 2 : 8192;
        while (c < r->len + n + 1)
            c *= 2;
        char *nb = realloc(r->body, c);
        if (!nb) {
            k->nomem = 1;
            return 0;
        }
        r->body = nb;
        k->cap = c;
    }
    memcpy(r->body + r->len, d, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* A handle for method path with our headers (plus extra, or NULL); the
 * list is the caller's (curl_slist_free_all). */
static CURL *open_handle(const char *method, const char *path, const char *body, const char *accept,
                         const char *extra, struct curl_slist **hdrs)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    size_t n = strlen(base_url) + strlen(path) + 1;
    char *url = malloc(n);
    if (!url) {
        curl_easy_cleanup(c);
        return NULL;
    }
    snprintf(url, n, "%s%s", base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    free(url); /* curl copies it */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "nasctl/" PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    *hdrs = curl_slist_append(NULL, accept);
    if (auth_header[0])
        *hdrs = curl_slist_append(*hdrs, auth_header);
    if (extra)
        *hdrs = curl_slist_append(*hdrs, extra);
    if (body) {
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

static int unreachable(CURLcode rc, const char *why)
{
    fprintf(stderr, "nasctl: cannot reach nasd at %s: %s\n", base_url,
            why && *why ? why : curl_easy_strerror(rc));
    return NASCTL_UNREACHABLE;
}

static void fill_info(CURL *c, nasctl_resp *r)
{
    const char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->content_type, sizeof(r->content_type), "%s", ct ? ct : "");
}

/* Runs the transfer of c into r and frees c and hdrs. */
static int perform(CURL *c, struct curl_slist *hdrs, nasctl_resp *r)
{
    char err[CURL_ERROR_SIZE] = "";
    sink k = {.r = r};
    if (!c) {
        curl_slist_free_all(hdrs);
        fprintf(stderr, "nasctl: out of memory\n");
        return NASCTL_UNREACHABLE;
    }
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
    CURLcode rc = curl_easy_perform(c);
    int out = NASCTL_OK;
    if (rc != CURLE_OK)
        out = k.nomem ? unreachable(rc, "out of memory reading the answer") : unreachable(rc, err);
    else
        fill_info(c, r);
    if (!r->body && out == NASCTL_OK) {
        r->body = calloc(1, 1);
        if (!r->body)
            out = unreachable(CURLE_OUT_OF_MEMORY, NULL);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (out != NASCTL_OK)
        nasctl_resp_free(r);
    return out;
}

int nasctl_request(const char *method, const char *path, const char *body, nasctl_resp *r)
{
    memset(r, 0, sizeof(*r));
    struct curl_slist *hdrs = NULL;
    CURL *c = open_handle(method, path, body, "Accept: application/json", NULL, &hdrs);
    return perform(c, hdrs, r);
}

int nasctl_upload(const char *path, FILE *f, long long size, const char *content_type,
                  nasctl_resp *r)
{
    memset(r, 0, sizeof(*r));
    struct curl_slist *hdrs = NULL;
    char type[160];
    snprintf(type, sizeof(type), "Content-Type: %s", content_type);
    CURL *c = open_handle("POST", path, NULL, "Accept: application/json", type, &hdrs);
    if (c) {
        /* The body read from f as curl sends it (fread, its default). */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, f);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    }
    return perform(c, hdrs, r);
}

int nasctl_call(const char *method, const char *path, const char *body, nasctl_resp *r)
{
    int rc = nasctl_request(method, path, body, r);
    if (rc != NASCTL_OK)
        return rc;
    if (r->status < 200 || r->status > 299) {
        nasctl_print_problem(r);
        nasctl_resp_free(r);
        return NASCTL_SERVER;
    }
    return NASCTL_OK;
}

int nasctl_call_json(const char *method, const char *path, const char *body, json_t **out)
{
    nasctl_resp r;
    *out = NULL;
    int rc = nasctl_call(method, path, body, &r);
    if (rc != NASCTL_OK)
        return rc;
    json_error_t e;
    *out = json_loadb(r.body, r.len, 0, &e);
    if (!*out) {
        fprintf(stderr, "nasctl: %s %s answered %ld with a body that is not JSON: %s\n", method,
                path, r.status, e.text);
        rc = NASCTL_SERVER;
    }
    nasctl_resp_free(&r);
    return rc;
}

/* ------------------------------------------------------------ problems */

static void print_member(const char *label, const json_t *v)
{
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        fprintf(stderr, "  %s: %s\n", label, json_string_value(v));
        return;
    }
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t)
        fprintf(stderr, "  %s: %s\n", label, t);
    free(t);
}

void nasctl_print_problem(const nasctl_resp *r)
{
    json_t *p = NULL;
    if (strncasecmp(r->content_type, "application/problem+json", 24) == 0 ||
        strncasecmp(r->content_type, "application/json", 16) == 0)
        p = json_loadb(r->body, r->len, 0, NULL);
    if (!json_is_object(p)) {
        int n = (int)strcspn(r->body ? r->body : "", "\n");
        fprintf(stderr, "nasctl: nasd answered %ld%s%.*s\n", r->status, n ? ": " : "",
                n > 300 ? 300 : n, r->body ? r->body : "");
        json_decref(p);
        return;
    }
    const char *title = json_string_value(json_object_get(p, "title"));
    fprintf(stderr, "nasctl: %s (%ld)\n", title ? title : "error", r->status);
    json_t *errors = json_object_get(p, "errors");
    int listed = json_array_size(errors) > 0; /* the first entry is the problem's own */
    print_member("detail", json_object_get(p, "detail"));
    if (!listed) {
        print_member("pointer", json_object_get(p, "pointer"));
        print_member("parameter", json_object_get(p, "parameter"));
        print_member("allowed", json_object_get(p, "allowed"));
        print_member("did you mean", json_object_get(p, "did_you_mean"));
        print_member("limit", json_object_get(p, "limit_name"));
    }
    print_member("type", json_object_get(p, "type"));
    size_t i;
    json_t *e;
    if (listed)
        fprintf(stderr, "  errors (%zu):\n", json_array_size(errors));
    json_array_foreach(errors, i, e)
    {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *detail = json_string_value(json_object_get(e, "detail"));
        fprintf(stderr, "  %zu. %s%s%s\n", i + 1, ptr && *ptr ? ptr : "", ptr && *ptr ? ": " : "",
                detail ? detail : "(no detail)");
        json_t *allowed = json_object_get(e, "allowed");
        char *t = allowed ? json_dumps(allowed, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (t)
            fprintf(stderr, "     allowed: %s\n", t);
        free(t);
        const char *dym = json_string_value(json_object_get(e, "did_you_mean"));
        if (dym)
            fprintf(stderr, "     did you mean: %s\n", dym);
    }
    json_decref(p);
}

/* --------------------------------------------------------------- events */

typedef struct stream_ctx {
    CURL *c;
    nasctl_sse sse;
    int checked;     /* the status was looked at */
    int is_error;    /* not a 200 event stream: the body is a problem */
    nasctl_resp err; /* that body */
    sink err_sink;
} stream_ctx;

static size_t on_stream(char *d, size_t size, size_t nmemb, void *ud)
{
    stream_ctx *s = ud;
    size_t n = size * nmemb;
    if (!s->checked) {
        s->checked = 1;
        fill_info(s->c, &s->err);
        s->is_error = s->err.status != 200;
    }
    if (s->is_error)
        return on_body(d, size, nmemb, &s->err_sink);
    return nasctl_sse_feed(&s->sse, d, n) == 0 ? n : 0;
}

int nasctl_stream(const char *path, char *last_id, nasctl_event_fn on_event, void *ctx)
{
    stream_ctx s;
    memset(&s, 0, sizeof(s));
    s.err_sink.r = &s.err;
    nasctl_sse_init(&s.sse, last_id, on_event, ctx);
    char extra[96] = "";
    if (last_id && last_id[0])
        snprintf(extra, sizeof(extra), "Last-Event-ID: %s", last_id);
    struct curl_slist *hdrs = NULL;
    char err[CURL_ERROR_SIZE] = "";
    s.c =
        open_handle("GET", path, NULL, "Accept: text/event-stream", extra[0] ? extra : NULL, &hdrs);
    if (!s.c) {
        curl_slist_free_all(hdrs);
        fprintf(stderr, "nasctl: out of memory\n");
        return NASCTL_UNREACHABLE;
    }
    curl_easy_setopt(s.c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(s.c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(s.c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(s.c);
    int out = NASCTL_OK;
    if (!s.checked && rc == CURLE_OK) { /* an answer without a body */
        fill_info(s.c, &s.err);
        s.is_error = s.err.status != 200;
    }
    if (s.is_error) {
        if (!s.err.body)
            s.err.body = calloc(1, 1);
        nasctl_print_problem(&s.err);
        out = NASCTL_SERVER;
    } else if (s.sse.stopped) {
        out = NASCTL_OK; /* on_event ended it */
    } else if (s.sse.failed) {
        out = unreachable(rc, "out of memory reading the event stream");
    } else if (rc != CURLE_OK) {
        out = unreachable(rc, err);
    }
    nasctl_sse_free(&s.sse);
    nasctl_resp_free(&s.err);
    curl_easy_cleanup(s.c);
    curl_slist_free_all(hdrs);
    return out;
}
