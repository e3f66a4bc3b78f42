// SPDX-License-Identifier: MIT
/*
 * sse.c - nasctl's server-sent event parser (cli/nasctl.h).
 *
 * The one design decision to know: it is a byte-at-a-time state machine
 * over a line buffer, with no knowledge of HTTP, so that the chunks libcurl
 * hands the write callback can be cut anywhere (inside a line, between a
 * CR and its LF) and a test can feed it one byte at a time.
 */
#include "nasctl.h"

#include <stdlib.h>
#include <string.h>

void nasctl_sse_init(nasctl_sse *p, char *last_id, nasctl_event_fn on_event, void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->last_id = last_id;
    p->on_event = on_event;
    p->ctx = ctx;
}

void nasctl_sse_free(nasctl_sse *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
}

/* Appends n bytes to a growing buffer, keeping a NUL after them. */
static int grow_add(char **buf, size_t *len, size_t *cap, const char *d, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

static void dispatch(nasctl_sse *p)
{
    if (p->data_len > 0) {
        p->data[--p->data_len] = '\0'; /* the LF the last data line added */
        if (p->on_event(p->event[0] ? p->event : "message", p->data, p->ctx))
            p->stopped = 1;
    }
    p->data_len = 0;
    if (p->data)
        p->data[0] = '\0';
    p->event[0] = '\0';
}

/* One complete line (without its end). */
static void line(nasctl_sse *p, const char *s, size_t n)
{
    if (n == 0) {
        dispatch(p);
        return;
    }
    if (s[0] == ':')
        return; /* a comment: nasd's heartbeat */
    const char *colon = memchr(s, ':', n);
    size_t klen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    if (*v == ' ')
        v++;
    size_t vlen = (size_t)(s + n - v);
    if (klen == 5 && memcmp(s, "event", 5) == 0) {
        size_t m = vlen < sizeof(p->event) - 1 ? vlen : sizeof(p->event) - 1;
        memcpy(p->event, v, m);
        p->event[m] = '\0';
    } else if (klen == 4 && memcmp(s, "data", 4) == 0) {
        if (grow_add(&p->data, &p->data_len, &p->data_cap, v, vlen) ||
            grow_add(&p->data, &p->data_len, &p->data_cap, "\n", 1))
            p->failed = 1;
    } else if (klen == 2 && memcmp(s, "id", 2) == 0 && p->last_id && vlen < 64 &&
               !memchr(v, '\0', vlen)) {
        memcpy(p->last_id, v, vlen);
        p->last_id[vlen] = '\0';
    }
    /* retry: and unknown fields are ignored, as the standard says. */
}

int nasctl_sse_feed(nasctl_sse *p, const char *bytes, size_t n)
{
    for (size_t i = 0; i < n && !p->stopped && !p->failed; i++) {
        char c = bytes[i];
        if (c == '\n' && p->saw_cr) {
            p->saw_cr = 0;
            continue;
        }
        p->saw_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            line(p, p->line ? p->line : "", p->line_len);
            p->line_len = 0;
            continue;
        }
        if (grow_add(&p->line, &p->line_len, &p->line_cap, &c, 1))
            p->failed = 1;
    }
    return p->stopped || p->failed ? -1 : 0;
}
