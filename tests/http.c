/*
 * http.c - the integration tests' HTTP/1.1 client over POSIX sockets.
 *
 * The one design decision to know: a connection keeps one receive buffer
 * and one deadline, and every read goes through conn_fill, which polls
 * with what is left of the deadline. The head is read line by line, the
 * body through body_read, which undoes chunked transfer coding (or counts
 * down Content-Length, or reads to EOF) so that the whole-response reader
 * and the event-stream reader share it.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char errbuf[256];

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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every timeout times NASD_TEST_TIMEOUT_SCALE (default 1): tests/tsan.sh
 * runs the tests against a ThreadSanitizer nasd, 5-15 times slower. */
static int scaled(int timeout_ms)
{
    const char *v = getenv("NASD_TEST_TIMEOUT_SCALE");
    int k = v ? atoi(v) : 1;
    return k > 1 && timeout_ms < INT32_MAX / k ? timeout_ms * k : timeout_ms;
}

/* ------------------------------------------------------------ connection */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

typedef struct conn {
    int fd;
    char *buf; /* received bytes; [off, len) not consumed yet */
    size_t off, len, cap;
    int64_t deadline; /* monotonic ms */
    enum body_mode mode;
    uint64_t left;  /* BODY_LENGTH: bytes to go; BODY_CHUNKED: of this chunk */
    int chunk_crlf; /* BODY_CHUNKED: a chunk's CRLF is still to read */
    int body_done;
} conn;

static int conn_open(conn *c, int port, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    timeout_ms = scaled(timeout_ms);
    c->deadline = now_ms() + timeout_ms;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return fail("socket: %s", strerror(errno));
    /* Bounds connect and send; reads are bounded by poll. */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return fail("connect to 127.0.0.1:%d: %s", port, strerror(e));
    }
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

/* Sends everything; -1 when the peer stopped reading (the caller may still
 * read the answer it sent first, e.g. a 413). */
static int conn_send(conn *c, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail("send: %s", n < 0 ? strerror(errno) : "nothing sent");
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads what has arrived (waiting until the deadline): bytes read, 0 at
 * EOF, -1 on timeout or error. */
static int conn_fill(conn *c)
{
    if (c->off == c->len) {
        c->off = c->len = 0;
    } else if (c->off > c->cap / 2) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *b = realloc(c->buf, cap);
        if (!b)
            return fail("out of memory");
        c->buf = b;
        c->cap = cap;
    }
    for (;;) {
        int64_t left = c->deadline - now_ms();
        if (left <= 0)
            return fail("timed out waiting for the server");
        struct pollfd p = {c->fd, POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fail("poll: %s", strerror(errno));
        if (r == 0)
            return fail("timed out waiting for the server");
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail("recv: %s", strerror(errno));
        c->len += (size_t)n;
        return (int)n;
    }
}

/* The next line (CRLF or LF stripped, NUL-terminated in place) or NULL at
 * EOF, timeout or error. */
static char *conn_line(conn *c)
{
    for (;;) {
        char *start = c->buf + c->off;
        char *nl = c->len > c->off ? memchr(start, '\n', c->len - c->off) : NULL;
        if (nl) {
            c->off = (size_t)(nl - c->buf) + 1;
            if (nl > start && nl[-1] == '\r')
                nl--;
            *nl = '\0';
            return start;
        }
        int n = conn_fill(c);
        if (n <= 0) {
            if (n == 0)
                fail("the server closed the connection mid-line");
            return NULL;
        }
    }
}

/* Copies up to max buffered bytes (reading when none are); 0 at EOF. */
static int conn_take(conn *c, char *dst, size_t max)
{
    if (c->off == c->len) {
        int n = conn_fill(c);
        if (n <= 0)
            return n;
    }
    size_t n = c->len - c->off < max ? c->len - c->off : max;
    memcpy(dst, c->buf + c->off, n);
    c->off += n;
    return (int)n;
}

/* Up to max bytes of the body, decoded: > 0 bytes, 0 at its end, -1 on
 * error or timeout. */
static int body_read(conn *c, char *dst, size_t max)
{
    if (c->body_done || c->mode == BODY_NONE)
        return 0;
    if (c->mode == BODY_EOF) {
        int n = conn_take(c, dst, max);
        if (n == 0)
            c->body_done = 1;
        return n;
    }
    if (c->mode == BODY_CHUNKED && c->left == 0) {
        if (c->chunk_crlf) {
            char *l = conn_line(c);
            if (!l || *l)
                return l ? fail("chunk not followed by CRLF") : -1;
            c->chunk_crlf = 0;
        }
        char *l = conn_line(c), *end;
        if (!l)
            return -1;
        errno = 0;
        unsigned long long size = strtoull(l, &end, 16);
        if (end == l || errno || (*end && *end != ';'))
            return fail("bad chunk size line '%.40s'", l);
        if (size == 0) {
            /* Trailer fields up to the empty line. */
            while ((l = conn_line(c)) && *l)
                ;
            if (!l)
                return -1;
            c->body_done = 1;
            return 0;
        }
        c->left = size;
        c->chunk_crlf = 1;
    }
    if (c->mode == BODY_LENGTH && c->left == 0) {
        c->body_done = 1;
        return 0;
    }
    size_t want = c->left < max ? (size_t)c->left : max;
    int n = conn_take(c, dst, want);
    if (n == 0)
        return fail("the server closed the connection %llu bytes before the body's end",
                    (unsigned long long)c->left);
    if (n > 0)
        c->left -= (uint64_t)n;
    return n;
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

/* Reads the status line and headers into out->head and sets the body mode. */
static int read_head(conn *c, int head_request, http_resp *out)
{
    size_t hlen = 0, hcap = 1024;
    char *head = malloc(hcap);
    if (!head)
        return fail("out of memory");
    head[0] = '\0';
    for (int i = 0;; i++) {
        char *l = conn_line(c);
        if (!l) {
            free(head);
            return -1;
        }
        if (!*l)
            break;
        size_t ll = strlen(l);
        if (hlen + ll + 2 > hcap) {
            hcap = (hlen + ll + 2) * 2;
            char *h = realloc(head, hcap);
            if (!h) {
                free(head);
                return fail("out of memory");
            }
            head = h;
        }
        memcpy(head + hlen, l, ll);
        hlen += ll;
        head[hlen++] = '\n';
        head[hlen] = '\0';
        if (i == 0 && (sscanf(l, "HTTP/1.%*d %d", &out->status) != 1 || out->status < 100)) {
            free(head);
            return fail("bad status line '%.60s'", l);
        }
    }
    out->head = head;
    char v[64];
    if (head_request || out->status == 204 || out->status == 304 || out->status < 200) {
        c->mode = BODY_NONE;
    } else if (http_header(out, "Transfer-Encoding", v, sizeof(v)) &&
               strcasecmp(v, "chunked") == 0) {
        c->mode = BODY_CHUNKED;
    } else if (http_header(out, "Content-Length", v, sizeof(v))) {
        c->mode = BODY_LENGTH;
        c->left = strtoull(v, NULL, 10);
    } else {
        c->mode = BODY_EOF;
    }
    return 0;
}

static int read_body(conn *c, http_resp *out)
{
    size_t cap = 4096;
    out->body = malloc(cap);
    if (!out->body)
        return fail("out of memory");
    out->body_len = 0;
    for (;;) {
        if (cap - out->body_len < 4097) {
            cap *= 2;
            char *b = realloc(out->body, cap);
            if (!b)
                return fail("out of memory");
            out->body = b;
        }
        int n = body_read(c, out->body + out->body_len, cap - out->body_len - 1);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        out->body_len += (size_t)n;
    }
    out->body[out->body_len] = '\0';
    return 0;
}

int http_request_raw(int port, const char *request, size_t len, int timeout_ms, http_resp *out)
{
    memset(out, 0, sizeof(*out));
    conn c;
    if (conn_open(&c, port, timeout_ms))
        return -1;
    /* A server that answers before reading the whole body (413) may stop
     * reading: its answer is what matters, so read it anyway. */
    (void)conn_send(&c, request, len);
    int rc = read_head(&c, strncmp(request, "HEAD ", 5) == 0, out);
    if (rc == 0)
        rc = read_body(&c, out);
    conn_close(&c);
    if (rc)
        http_resp_free(out);
    return rc;
}

static char *build_request(int port, const char *method, const char *path, const char *headers,
                           const char *extra, const char *body, size_t body_len, size_t *len)
{
    char cl[48] = "";
    if (body)
        snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", body_len);
    const char *fmt = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s%s%s\r\n";
    int n = snprintf(NULL, 0, fmt, method, path, port, headers ? headers : "", extra, cl);
    char *req = n >= 0 ? malloc((size_t)n + 1 + body_len) : NULL;
    if (!req)
        return NULL;
    snprintf(req, (size_t)n + 1, fmt, method, path, port, headers ? headers : "", extra, cl);
    if (body)
        memcpy(req + n, body, body_len);
    *len = (size_t)n + (body ? body_len : 0);
    return req;
}

int http_request(int port, const char *method, const char *path, const char *headers,
                 const char *body, size_t body_len, int timeout_ms, http_resp *out)
{
    size_t len;
    char *req = build_request(port, method, path, headers, "", body, body_len, &len);
    if (!req) {
        memset(out, 0, sizeof(*out));
        return fail("out of memory");
    }
    int rc = http_request_raw(port, req, len, timeout_ms, out);
    free(req);
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
    conn c;
    char *text; /* decoded body not parsed yet: [0, len) */
    size_t len, cap;
    char last_id[128];   /* the last id: field seen (EventSource's) */
};

int sse_open(int port, const char *path, int timeout_ms, sse **out, http_resp *resp)
{
    return sse_open_with(port, path, NULL, timeout_ms, out, resp);
}

int sse_open_with(int port, const char *path, const char *last_event_id, int timeout_ms,
                  sse **out, http_resp *resp)
{
    *out = NULL;
    http_resp local;
    http_resp *r = resp ? resp : &local;
    memset(r, 0, sizeof(*r));
    sse *s = calloc(1, sizeof(*s));
    if (!s)
        return fail("out of memory");
    size_t len;
    char hdrs[256];
    snprintf(hdrs, sizeof(hdrs), "Accept: text/event-stream\r\n%s%s%s",
             last_event_id ? "Last-Event-ID: " : "", last_event_id ? last_event_id : "",
             last_event_id ? "\r\n" : "");
    char *req = build_request(port, "GET", path, NULL, hdrs, NULL, 0, &len);
    if (!req || conn_open(&s->c, port, timeout_ms)) {
        free(req);
        free(s);
        return req ? -1 : fail("out of memory");
    }
    int rc = conn_send(&s->c, req, len);
    free(req);
    if (rc == 0)
        rc = read_head(&s->c, 0, r);
    if (rc == 0 && r->status == 200) {
        if (!resp)
            http_resp_free(r);
        *out = s;
        return 200;
    }
    if (rc == 0)
        rc = read_body(&s->c, r);
    int status = rc == 0 ? r->status : -1;
    conn_close(&s->c);
    free(s);
    if (!resp || rc)
        http_resp_free(r);
    return status;
}

/* Takes one line out of s->text, or returns NULL when none is complete. */
static char *next_line(sse *s, size_t *used)
{
    char *nl = s->len ? memchr(s->text + *used, '\n', s->len - *used) : NULL;
    if (!nl)
        return NULL;
    char *line = s->text + *used;
    *used = (size_t)(nl - s->text) + 1;
    if (nl > line && nl[-1] == '\r')
        nl--;
    *nl = '\0';
    return line;
}

int sse_next(sse *s, int timeout_ms, char *event, size_t n, json_t **data)
{
    *data = NULL;
    s->c.deadline = now_ms() + scaled(timeout_ms);
    char name[64] = "";
    char *payload = NULL;
    size_t plen = 0;
    int rc = -1;
    for (;;) {
        size_t used = 0;
        char *line;
        int dispatched = 0;
        while (!dispatched && (line = next_line(s, &used))) {
            if (!*line) {
                /* A blank line ends an event; one with neither name nor
                 * data (after comments only) is not one. */
                dispatched = payload || name[0];
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
                size_t vl = strlen(value);
                char *p = realloc(payload, plen + vl + 2);
                if (!p) {
                    free(payload);
                    return fail("out of memory");
                }
                payload = p;
                if (plen)
                    payload[plen++] = '\n';
                memcpy(payload + plen, value, vl);
                plen += vl;
                payload[plen] = '\0';
            }
        }
        if (used) {
            memmove(s->text, s->text + used, s->len - used);
            s->len -= used;
        }
        if (dispatched) {
            snprintf(event, n, "%s", name[0] ? name : "message");
            *data = payload ? json_loadb(payload, plen, 0, NULL) : NULL;
            rc = 1;
            break;
        }
        if (s->cap - s->len < 4096) {
            size_t cap = s->cap ? s->cap * 2 : 16384;
            char *t = realloc(s->text, cap);
            if (!t) {
                rc = fail("out of memory");
                break;
            }
            s->text = t;
            s->cap = cap;
        }
        int got = body_read(&s->c, s->text + s->len, s->cap - s->len);
        if (got <= 0) {
            rc = got;
            break;
        }
        s->len += (size_t)got;
    }
    free(payload);
    return rc;
}

const char *sse_last_id(const sse *s)
{
    return s->last_id;
}

void sse_close(sse *s)
{
    if (!s)
        return;
    conn_close(&s->c);
    free(s->text);
    free(s);
}
