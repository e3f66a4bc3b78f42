// SPDX-License-Identifier: MIT
/*
 * events.c - server-sent event streams (GET /v1/jobs/{id}/events).
 *
 * A stream is an MHD response whose content reader hands out the bytes
 * queued for it; with nothing queued the reader suspends its connection,
 * and publishing resumes it. Everything runs on the loop thread, so the
 * streams need no lock. A heartbeat comment every heartbeat_seconds keeps
 * proxies from timing out and is also how a client that went away is
 * noticed (its write fails, MHD frees the response, the slot is freed).
 * A stream that cannot keep up (over 1 MiB queued) is closed rather than
 * letting one slow client grow the daemon's memory.
 *
 * Every event carries `id: M-A`, the largest metric and architecture seq
 * the client has been sent (or the job had when the stream opened: what
 * came before is the history, read from the API). Seqs are never reused
 * (schema/0002), so the cursor only grows. A client reconnecting with
 * Last-Event-ID gets exactly what it missed: first a `rewind` event when
 * rows it holds were removed since (a job resumed from an earlier
 * checkpoint, daemon/db_queue.c), then the rows after its cursor, read from the
 * database a page at a time as the connection drains, and only then the
 * live events. While it replays, live rows are skipped: they are committed
 * before they are published, so the replay reads them.
 */
#include "conn_limits.h"
#include "nd.h"

#include "db.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MAX_QUEUED (1u << 20)
/* Rows read from the database per replay page. */
#define REPLAY_METRICS 256
#define REPLAY_ARCHS 64

typedef struct stream {
    struct stream *prev, *next;
    nd_server *srv;
    struct MHD_Connection *conn;
    char id[33];
    unsigned char client[ND_CLIENT_KEY_LEN]; /* its client's address */
    char *buf;
    size_t len, off, cap;
    int closing; /* send what is queued, then end */
    int suspended;
    int64_t cur_m, cur_a; /* the cursor: largest seqs sent */
    int64_t id_m, id_a;   /* the largest cursor shown in an id: line: a rewind
                             moves cur_* back, the ids never */
    int replaying;        /* rows after the cursor still to read */
    int replay_archs;     /* metrics done, architectures next */
} stream;

typedef struct nd_events {
    stream *head;
    int count;
    uv_timer_t heartbeat;
} nd_events;

static void resume(stream *st)
{
    if (st->suspended) {
        st->suspended = 0;
        MHD_resume_connection(st->conn);
        nd_http_kick_soon(st->srv);
    }
}

static void append(stream *st, const char *data, size_t n)
{
    if (st->len - st->off + n > STREAM_MAX_QUEUED) {
        nd_log(ND_LOG_WARN, "event stream of job %s fell behind; closing it", st->id);
        st->closing = 1;
        resume(st);
        return;
    }
    if (st->off && st->off == st->len)
        st->off = st->len = 0;
    if (st->len + n > st->cap) {
        size_t cap = (st->len + n) * 2 + 256;
        char *b = realloc(st->buf, cap);
        if (!b) {
            st->closing = 1;
            resume(st);
            return;
        }
        st->buf = b;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, data, n);
    st->len += n;
    resume(st);
}

static void append_event(stream *st, const char *event, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text)
        return;
    size_t n = strlen(text) + strlen(event) + 80;
    char *msg = malloc(n);
    if (st->cur_m > st->id_m)
        st->id_m = st->cur_m;
    if (st->cur_a > st->id_a)
        st->id_a = st->cur_a;
    if (msg) {
        int m = snprintf(msg, n, "id: %" PRId64 "-%" PRId64 "\nevent: %s\ndata: %s\n\n", st->id_m,
                         st->id_a, event, text);
        append(st, msg, (size_t)m);
        free(msg);
    }
    free(text);
}

/* A row's seq moves the cursor on (it only grows). */
static void advance(stream *st, int is_metric, json_int_t seq)
{
    int64_t *c = is_metric ? &st->cur_m : &st->cur_a;
    if (seq > *c)
        *c = seq;
}

/* The next page of rows after the cursor, as events; replaying ends when
 * both tables have none left. */
static void replay_page(stream *st)
{
    nd_db *db = st->srv->db;
    json_t *page = NULL, *row;
    size_t i;
    while (st->replaying && st->off == st->len) {
        int archs = st->replay_archs;
        int rc = archs ? nd_db_arch_list(db, st->id, st->cur_a, REPLAY_ARCHS, &page)
                       : nd_db_metrics_list(db, st->id, st->cur_m, REPLAY_METRICS, &page);
        if (rc != 0) {
            /* The job was deleted, or the database failed: end here. */
            st->replaying = 0;
            st->closing = 1;
            break;
        }
        json_t *rows = json_object_get(page, archs ? "architectures" : "metrics");
        json_array_foreach(rows, i, row)
        {
            advance(st, !archs, json_integer_value(json_object_get(row, "seq")));
            append_event(st, archs ? "architecture" : "metric", row);
        }
        if (json_is_null(json_object_get(page, "next_after"))) {
            if (archs)
                st->replaying = 0;
            else
                st->replay_archs = 1;
        }
        json_decref(page);
    }
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *st = cls;
    if (st->off < st->len) {
        size_t n = st->len - st->off < max ? st->len - st->off : max;
        memcpy(buf, st->buf + st->off, n);
        st->off += n;
        return (ssize_t)n;
    }
    if (st->replaying) {
        replay_page(st);
        if (st->off < st->len)
            return reader(cls, pos, buf, max);
    }
    if (st->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    st->suspended = 1;
    MHD_suspend_connection(st->conn);
    return 0;
}

static void free_stream(void *cls)
{
    stream *st = cls;
    nd_events *ev = st->srv->events;
    if (st->prev)
        st->prev->next = st->next;
    else
        ev->head = st->next;
    if (st->next)
        st->next->prev = st->prev;
    ev->count--;
    free(st->buf);
    free(st);
}

static void on_heartbeat(uv_timer_t *t)
{
    nd_server *s = t->data;
    static const char hb[] = ": heartbeat\n\n";
    for (stream *st = s->events->head; st; st = st->next)
        if (!st->closing)
            append(st, hb, sizeof(hb) - 1);
}

int nd_events_init(nd_server *s)
{
    s->events = calloc(1, sizeof(nd_events));
    if (!s->events)
        return -1;
    uv_timer_init(s->loop, &s->events->heartbeat);
    s->events->heartbeat.data = s;
    uint64_t ms = (uint64_t)s->cfg.heartbeat_seconds * 1000;
    uv_timer_start(&s->events->heartbeat, on_heartbeat, ms, ms);
    return 0;
}

static void free_events(uv_handle_t *h)
{
    free(h->data);
}

void nd_events_free(nd_server *s)
{
    if (!s->events)
        return;
    uv_timer_stop(&s->events->heartbeat);
    s->events->heartbeat.data = s->events;
    uv_close((uv_handle_t *)&s->events->heartbeat, free_events);
    s->events = NULL;
}

/* "M-A" as sent in id: lines; 0 when text is not one. */
static int parse_cursor(const char *text, int64_t *m, int64_t *a)
{
    long long x, y;
    int n = 0;
    if (!text || sscanf(text, "%lld-%lld%n", &x, &y, &n) != 2 || text[n] != '\0' || x < 0 || y < 0)
        return 0;
    *m = x;
    *a = y;
    return 1;
}

struct MHD_Response *nd_events_open(nd_server *s, struct MHD_Connection *conn, const char *id,
                                    const char *first_event, json_t *first_data, int final,
                                    const char *last_event_id)
{
    stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->srv = s;
    st->conn = conn;
    snprintf(st->id, sizeof(st->id), "%s", id);
    int rewound = 0;
    if (parse_cursor(last_event_id, &st->cur_m, &st->cur_a)) {
        /* What the client has seen: its ids go on from there. */
        st->id_m = st->cur_m;
        st->id_a = st->cur_a;
        if (nd_db_cursor_check(s->db, id, &st->cur_m, &st->cur_a, &rewound) != 0) {
            free(st);
            return NULL;
        }
        st->replaying = 1;
    } else if (nd_db_cursor_now(s->db, id, &st->cur_m, &st->cur_a) != 0) {
        free(st);
        return NULL;
    }
    nd_limits_client_key(conn, st->client);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, st, free_stream);
    if (!r) {
        free(st);
        return NULL;
    }
    nd_events *ev = s->events;
    st->next = ev->head;
    if (ev->head)
        ev->head->prev = st;
    ev->head = st;
    ev->count++;
    /* Tell EventSource clients how soon to reconnect. */
    static const char retry[] = "retry: 3000\n\n";
    append(st, retry, sizeof(retry) - 1);
    append_event(st, first_event, first_data);
    if (rewound) {
        json_t *rw = json_pack("{s:I,s:I}", "metrics_after", (json_int_t)st->cur_m,
                               "architectures_after", (json_int_t)st->cur_a);
        if (rw)
            append_event(st, "rewind", rw);
        json_decref(rw);
    }
    if (final)
        st->closing = 1;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}

void nd_events_publish(nd_server *s, const char *id, const char *event, json_t *data)
{
    int is_metric = strcmp(event, "metric") == 0;
    int is_row = is_metric || strcmp(event, "architecture") == 0;
    json_int_t seq = is_row ? json_integer_value(json_object_get(data, "seq")) : 0;
    for (stream *st = s->events->head; st; st = st->next) {
        if (st->closing || strcmp(st->id, id) != 0)
            continue;
        /* Replaying: the row is in the database, after the cursor. */
        if (is_row && st->replaying)
            continue;
        if (is_row)
            advance(st, is_metric, seq);
        append_event(st, event, data);
    }
}

void nd_events_close_job(nd_server *s, const char *id, json_t *data)
{
    for (stream *st = s->events->head; st; st = st->next)
        if (strcmp(st->id, id) == 0 && !st->closing) {
            append_event(st, "state", data);
            st->closing = 1;
            resume(st);
        }
}

void nd_events_close_all(nd_server *s)
{
    if (!s->events)
        return;
    for (stream *st = s->events->head; st; st = st->next) {
        st->closing = 1;
        resume(st);
    }
}

int nd_events_count(const nd_server *s)
{
    return s->events ? s->events->count : 0;
}

const char *nd_events_full(const nd_server *s, struct MHD_Connection *conn, long *value)
{
    if (nd_events_count(s) >= s->cfg.max_streams) {
        *value = s->cfg.max_streams;
        return "max-streams";
    }
    /* One client may not take every stream (the cap above is global). */
    unsigned char key[ND_CLIENT_KEY_LEN];
    nd_limits_client_key(conn, key);
    int mine = 0;
    for (const stream *st = s->events ? s->events->head : NULL; st; st = st->next)
        mine += memcmp(st->client, key, sizeof(key)) == 0;
    if (mine >= s->cfg.max_streams_per_client) {
        *value = s->cfg.max_streams_per_client;
        return "max-streams-per-client";
    }
    return NULL;
}
