// SPDX-License-Identifier: MIT
/*
 * http.c - the integration tests' HTTP client on libcurl.
 *
 * The one design decision to know: a request is one easy handle whose
 * header and write callbacks fill growing buffers; an event stream is the
 * same handle driven by a multi handle, so that sse_next can wait for the
 * next event with a deadline of its own while curl keeps the connection
 * (and undoes the chunked coding) for it.
 */
#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scale.h"

static _Thread_local char errbuf[CURL_ERROR_SIZE + 256];

const char *http_errmsg(void)
{
    return errbuf;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
    va_end(ap);
    return -1;
}

/* curl_global_init is not thread-safe in every libcurl: once, whichever
 * thread of a test asks first. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* -------------------------------------------------------------- buffers */

typedef struct growbuf {
    char *p; /* NUL-terminated once anything was added */
    size_t len, cap;
} growbuf;

static int buf_add(growbuf *b, const char *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ------------------------------------------------------------- transfers */

typedef struct xfer {
    CURL *h;
    struct curl_slist *hdrs;
    growbuf head;  /* the last response's status and header lines, '\n'-ended */
    growbuf body;  /* what the write callback got */
    int status;    /* of the status line in head */
    int head_done; /* a final (non-1xx) head is complete */
    int oom;
    char err[CURL_ERROR_SIZE];
} xfer;

static size_t on_header(char *d, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t len = size * n, l = len;
    while (l && (d[l - 1] == '\n' || d[l - 1] == '\r'))
        l--;
    if (l >= 5 && strncmp(d, "HTTP/", 5) == 0) {
        /* A new status line: an interim 1xx head before it is forgotten. */
        x->head.len = 0;
        x->status = 0;
        sscanf(d, "HTTP/%*s %d", &x->status);
    }
    if (l == 0) {
        x->head_done = x->status >= 200;
        return len;
    }
    if (buf_add(&x->head, d, l) || buf_add(&x->head, "\n", 1))
        x->oom = 1;
    return x->oom ? 0 : len;
}

static size_t on_body(char *d, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    if (buf_add(&x->body, d, size * n))
        x->oom = 1;
    return x->oom ? 0 : size * n;
}

/* Whether the caller's header lines name header `name`. */
static int names_header(const char *headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = headers; p && *p;) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return 1;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

static int add_header(xfer *x, const char *line, size_t n)
{
    char tmp[2048];
    if (n >= sizeof(tmp))
        return fail("a header line of %zu bytes", n);
    memcpy(tmp, line, n);
    tmp[n] = '\0';
    struct curl_slist *l = curl_slist_append(x->hdrs, tmp);
    if (!l)
        return fail("out of memory");
    x->hdrs = l;
    return 0;
}

static void xfer_free(xfer *x)
{
    if (x->h)
        curl_easy_cleanup(x->h);
    curl_slist_free_all(x->hdrs);
    free(x->head.p);
    free(x->body.p);
    memset(x, 0, sizeof(*x));
}

/* A handle for one request (see http_request); timeout_ms bounds the
 * whole transfer when > 0, else only the connection. */
static int xfer_init(xfer *x, int port, const char *method, const char *path, const char *headers,
                     const char *body, size_t body_len, int timeout_ms)
{
    memset(x, 0, sizeof(*x));
    pthread_once(&curl_once, curl_init_once);
    x->h = curl_easy_init();
    if (!x->h)
        return fail("curl_easy_init failed");
    /* The caller's header lines, then the defaults they did not replace.
     * "Expect:" keeps curl from waiting for a 100 Continue before a body,
     * as a browser or a plain client does not. */
    for (const char *p = headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n && add_header(x, p, n))
            return -1;
        p += n + (eol ? 2 : 0);
    }
    static const char *const defaults[][2] = {{"Connection", "Connection: close"},
                                              {"Expect", "Expect:"}};
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (!names_header(headers, defaults[i][0]) &&
            add_header(x, defaults[i][1], strlen(defaults[i][1])))
            return -1;
    if (body && !names_header(headers, "Content-Type") &&
        add_header(x, "Content-Type: application/json", 30))
        return -1;

    char url[4096];
    if ((size_t)snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path) >= sizeof(url))
        return fail("a path of %zu bytes", strlen(path));
    CURL *h = x->h;
    int scaled = timeout_ms > 0 ? test_scaled_ms(timeout_ms) : test_scaled_ms(HTTP_TIMEOUT_MS);
    CURLcode rc = CURLE_OK;
#define SET(opt, v) (rc = rc ? rc : curl_easy_setopt(h, opt, v))
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_ERRORBUFFER, x->err);
    SET(CURLOPT_HTTPHEADER, x->hdrs);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)scaled);
    if (timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, (long)scaled);
    if (strcmp(method, "HEAD") == 0)
        SET(CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || body)
        SET(CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SET(CURLOPT_POSTFIELDS, body);
    }
#undef SET
    if (rc)
        return fail("curl_easy_setopt: %s", curl_easy_strerror(rc));
    return 0;
}

/* Moves the transfer's response into out (whose body is "" when none). */
static int xfer_take(xfer *x, http_resp *out)
{
    if (buf_add(&x->head, "", 0) || buf_add(&x->body, "", 0))
        return fail("out of memory");
    out->status = x->status;
    out->head = x->head.p;
    out->body = x->body.p;
    out->body_len = x->body.len;
    memset(&x->head, 0, sizeof(x->head));
    memset(&x->body, 0, sizeof(x->body));
    return 0;
}

static int xfer_failed(xfer *x, CURLcode rc, const char *method, const char *path)
{
    if (x->oom)
        return fail("%s %s: out of memory", method, path);
    return fail("%s %s: %s", method, path, x->err[0] ? x->err : curl_easy_strerror(rc));
}

/* ------------------------------------------------------------- responses */

const char *http_header(const http_resp *r, const char *name, char *buf, size_t n)
{
    size_t nl = strlen(name);
    const char *p = r->head ? strchr(r->head, '\n') : NULL;
    while (p) {
        p++;
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(p + ll - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= n)
                vl = n - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = eol;
    }
    return NULL;
}

json_t *http_json(const http_resp *r)
{
    return r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

void http_resp_free(http_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int http_request(int port, const char *method, const char *path, const char *headers,
                 const char *body, size_t body_len, int timeout_ms, http_resp *out)
{
    memset(out, 0, sizeof(*out));
    xfer x;
    int rc = xfer_init(&x, port, method, path, headers, body, body_len,
                       timeout_ms > 0 ? timeout_ms : HTTP_TIMEOUT_MS);
    if (rc == 0) {
        CURLcode cc = curl_easy_perform(x.h);
        if (cc != CURLE_OK || x.oom || !x.head_done)
            rc = cc != CURLE_OK || x.oom ? xfer_failed(&x, cc, method, path)
                                         : fail("%s %s: no response", method, path);
        else
            rc = xfer_take(&x, out);
    }
    xfer_free(&x);
    return rc;
}

int http_get(int port, const char *path, http_resp *out)
{
    return http_request(port, "GET", path, NULL, NULL, 0, HTTP_TIMEOUT_MS, out);
}

int http_send(int port, const char *method, const char *path, const char *body, http_resp *out)
{
    return http_request(port, method, path, NULL, body, body ? strlen(body) : 0, HTTP_TIMEOUT_MS,
                        out);
}

/* --------------------------------------------------------------- events */

struct sse {
    xfer x; /* x.body: the stream's text not parsed yet */
    CURLM *m;
    int done; /* the transfer is over, with result */
    CURLcode result;
    char last_id[128]; /* the last id: field seen (EventSource's) */
};

/* Lets curl move the stream on, waiting at most until deadline: 0, or -1
 * when the deadline passed. */
static int pump(sse *s, int64_t deadline)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(s->m, &running);
    if (mc != CURLM_OK)
        return fail("curl_multi_perform: %s", curl_multi_strerror(mc));
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->m, &left)))
        if (msg->msg == CURLMSG_DONE) {
            s->done = 1;
            s->result = msg->data.result;
        }
    if (s->done)
        return 0;
    int64_t wait = deadline - test_now_ms();
    if (wait <= 0)
        return fail("timed out waiting for the server");
    mc = curl_multi_poll(s->m, NULL, 0, wait < 1000 ? (int)wait : 1000, NULL);
    return mc == CURLM_OK ? 0 : fail("curl_multi_poll: %s", curl_multi_strerror(mc));
}

static void sse_free(sse *s)
{
    if (s->m && s->x.h)
        curl_multi_remove_handle(s->m, s->x.h);
    xfer_free(&s->x);
    if (s->m)
        curl_multi_cleanup(s->m);
    free(s);
}

int sse_open(int port, const char *path, int timeout_ms, sse **out, http_resp *resp)
{
    return sse_open_with(port, path, NULL, timeout_ms, out, resp);
}

int sse_open_with(int port, const char *path, const char *last_event_id, int timeout_ms, sse **out,
                  http_resp *resp)
{
    *out = NULL;
    if (resp)
        memset(resp, 0, sizeof(*resp));
    sse *s = calloc(1, sizeof(*s));
    if (!s)
        return fail("out of memory");
    char hdrs[256];
    snprintf(hdrs, sizeof(hdrs), "Accept: text/event-stream\r\n%s%s%s",
             last_event_id ? "Last-Event-ID: " : "", last_event_id ? last_event_id : "",
             last_event_id ? "\r\n" : "");
    int64_t deadline = test_now_ms() + test_scaled_ms(timeout_ms);
    int status = -1;
    /* No whole-transfer timeout: the stream lives until the job ends. */
    if (xfer_init(&s->x, port, "GET", path, hdrs, NULL, 0, 0) != 0)
        goto done;
    s->m = curl_multi_init();
    if (!s->m || curl_multi_add_handle(s->m, s->x.h) != CURLM_OK) {
        fail("curl_multi_init failed");
        goto done;
    }
    while (!s->x.head_done && !s->done)
        if (pump(s, deadline))
            goto done;
    if (s->x.head_done && s->x.status == 200) {
        if (resp && buf_add(&s->x.head, "", 0) == 0) {
            resp->status = 200;
            resp->head = strdup(s->x.head.p);
        }
        *out = s;
        return 200;
    }
    /* Another answer: read it whole. */
    while (!s->done)
        if (pump(s, deadline))
            goto done;
    if (s->result != CURLE_OK || !s->x.head_done) {
        xfer_failed(&s->x, s->result, "GET", path);
        goto done;
    }
    status = s->x.status;
    if (resp && xfer_take(&s->x, resp))
        status = -1;
done:
    sse_free(s);
    return status;
}

/* Takes one line out of the text at *used, or returns NULL when none is
 * complete. */
static char *next_line(growbuf *t, size_t *used)
{
    char *nl = t->len > *used ? memchr(t->p + *used, '\n', t->len - *used) : NULL;
    if (!nl)
        return NULL;
    char *line = t->p + *used;
    *used = (size_t)(nl - t->p) + 1;
    if (nl > line && nl[-1] == '\r')
        nl--;
    *nl = '\0';
    return line;
}

int sse_next(sse *s, int timeout_ms, char *event, size_t n, json_t **data)
{
    *data = NULL;
    int64_t deadline = test_now_ms() + test_scaled_ms(timeout_ms);
    char name[64] = "";
    growbuf payload = {0};
    int rc = -1;
    for (;;) {
        size_t used = 0;
        char *line;
        int dispatched = 0;
        while (!dispatched && (line = next_line(&s->x.body, &used))) {
            if (!*line) {
                /* A blank line ends an event; one with neither name nor
                 * data (after comments only) is not one. */
                dispatched = payload.p || name[0];
                continue;
            }
            if (line[0] == ':')
                continue;
            char *colon = strchr(line, ':');
            char *value = colon ? colon + 1 : line + strlen(line);
            if (colon)
                *colon = '\0';
            if (*value == ' ')
                value++;
            if (strcmp(line, "event") == 0) {
                snprintf(name, sizeof(name), "%s", value);
            } else if (strcmp(line, "id") == 0) {
                snprintf(s->last_id, sizeof(s->last_id), "%s", value);
            } else if (strcmp(line, "data") == 0) {
                if ((payload.p && buf_add(&payload, "\n", 1)) ||
                    buf_add(&payload, value, strlen(value))) {
                    rc = fail("out of memory");
                    goto out;
                }
            }
        }
        if (used) {
            memmove(s->x.body.p, s->x.body.p + used, s->x.body.len - used);
            s->x.body.len -= used;
        }
        if (dispatched) {
            snprintf(event, n, "%s", name[0] ? name : "message");
            *data = payload.p ? json_loadb(payload.p, payload.len, 0, NULL) : NULL;
            rc = 1;
            break;
        }
        if (s->done) {
            rc = s->result == CURLE_OK && !s->x.oom
                     ? 0
                     : xfer_failed(&s->x, s->result, "GET", "(event stream)");
            break;
        }
        if (pump(s, deadline))
            break;
    }
out:
    free(payload.p);
    return rc;
}

const char *sse_last_id(const sse *s)
{
    return s->last_id;
}

void sse_close(sse *s)
{
    if (s)
        sse_free(s);
}
