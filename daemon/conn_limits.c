// SPDX-License-Identifier: MIT
/*
 * conn_limits.c - connections open in total and per client IP (see
 * conn_limits.h).
 *
 * The one design decision to know: whether a connection is over a limit
 * is decided once, when it starts, from the counts at that moment, and
 * kept in its socket context; its first request is then answered 429
 * (per IP) or 503 (in total) with "Connection: close". Counts live in a
 * small chained hash table keyed by the client address; the loop thread
 * is the only one that touches it (MHD runs in the loop).
 *
 * Two more things are decided here because they are per connection. A
 * connection whose socket's descriptor number is near the process's file
 * limit is over "open-files" (503): descriptors are handed out lowest
 * first, so a high number means nearly all are in use, and the reserve
 * left is for the database, checkpoints and datasets. And a connection
 * gets connection_timeout seconds to deliver a request's headers, counted
 * from its start or from the end of its previous request: MHD's own
 * timeout restarts at every byte, so headers sent a byte at a time would
 * hold a connection for ever. nd_limits_sweep shuts such a socket down
 * (shutdown(2), not close: MHD still owns the descriptor and closes it
 * when it reads the end of the stream).
 */
#include "conn_limits.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define BUCKETS 1024
/* Descriptors kept free for everything but connections. */
#define FD_RESERVE 32

typedef struct ip_entry {
    struct ip_entry *next;
    unsigned char addr[17]; /* family byte + up to 16 address bytes */
    int count;
} ip_entry;

typedef struct conn_rec {
    struct conn_rec *prev, *next;
    struct MHD_Connection *conn;
    ip_entry *ip;
    const char *over; /* the limit it is over, or NULL */
    long value;
    int in_request;       /* its request's headers have arrived */
    int cut;              /* shut down by the header deadline */
    double waiting_since; /* monotonic seconds it began to wait for headers */
} conn_rec;

typedef struct nd_limits {
    ip_entry *buckets[BUCKETS];
    conn_rec *conns;
    int open;
    long fd_limit; /* RLIMIT_NOFILE's soft limit; 0: none known */
    double last_sweep;
} nd_limits;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int nd_limits_init(nd_server *s)
{
    nd_limits *l = calloc(1, sizeof(nd_limits));
    if (!l)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        l->fd_limit = (long)rl.rlim_cur;
    s->limits = l;
    return 0;
}

void nd_limits_free(nd_server *s)
{
    nd_limits *l = s->limits;
    if (!l)
        return;
    for (int i = 0; i < BUCKETS; i++)
        for (ip_entry *e = l->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(l);
    s->limits = NULL;
}

static void key_of(const struct sockaddr *sa, unsigned char key[17])
{
    memset(key, 0, 17);
    if (!sa)
        return;
    key[0] = (unsigned char)sa->sa_family;
    if (sa->sa_family == AF_INET)
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

void nd_limits_client_key(struct MHD_Connection *conn, unsigned char key[ND_CLIENT_KEY_LEN])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    key_of(ci ? ci->client_addr : NULL, key);
}

static unsigned hash_of(const unsigned char key[17])
{
    unsigned h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % BUCKETS;
}

void nd_limits_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    nd_server *s = cls;
    nd_limits *l = s->limits;
    if (!l)
        return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_rec *c = calloc(1, sizeof(*c));
        if (!c)
            return; /* not counted; MHD's own caps still hold */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        unsigned char key[17];
        key_of(ci ? ci->client_addr : NULL, key);
        unsigned h = hash_of(key);
        ip_entry *e = l->buckets[h];
        while (e && memcmp(e->addr, key, sizeof(key)) != 0)
            e = e->next;
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e) {
                free(c);
                return;
            }
            memcpy(e->addr, key, sizeof(key));
            e->next = l->buckets[h];
            l->buckets[h] = e;
        }
        e->count++;
        l->open++;
        c->ip = e;
        c->conn = conn;
        c->waiting_since = mono_now();
        c->next = l->conns;
        if (l->conns)
            l->conns->prev = c;
        l->conns = c;
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (fi && l->fd_limit > 0 && (long)fi->connect_fd >= l->fd_limit - FD_RESERVE) {
            c->over = "open-files";
            c->value = l->fd_limit;
        } else if (l->open > s->cfg.max_connections) {
            c->over = "max-connections";
            c->value = s->cfg.max_connections;
        } else if (e->count > s->cfg.max_connections_per_ip) {
            c->over = "max-connections-per-ip";
            c->value = s->cfg.max_connections_per_ip;
        }
        *socket_context = c;
        return;
    }
    conn_rec *c = *socket_context;
    if (!c)
        return;
    *socket_context = NULL;
    l->open--;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ip_entry *e = c->ip;
    free(c);
    if (--e->count > 0)
        return;
    unsigned h = hash_of(e->addr);
    for (ip_entry **pp = &l->buckets[h]; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            free(e);
            break;
        }
}

static conn_rec *rec_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

const char *nd_limits_over(nd_server *s, struct MHD_Connection *conn, long *value)
{
    (void)s;
    const conn_rec *c = rec_of(conn);
    if (!c || !c->over)
        return NULL;
    *value = c->value;
    return c->over;
}

int nd_limits_open(const nd_server *s)
{
    return s->limits ? s->limits->open : 0;
}

void nd_limits_request_begins(nd_server *s, struct MHD_Connection *conn)
{
    conn_rec *c = s->limits ? rec_of(conn) : NULL;
    if (c)
        c->in_request = 1;
}

void nd_limits_request_ends(nd_server *s, struct MHD_Connection *conn)
{
    conn_rec *c = s->limits ? rec_of(conn) : NULL;
    if (c) {
        c->in_request = 0;
        c->waiting_since = mono_now();
    }
}

void nd_limits_sweep(nd_server *s)
{
    nd_limits *l = s->limits;
    if (!l)
        return;
    double now = mono_now();
    if (now - l->last_sweep < 0.25)
        return;
    l->last_sweep = now;
    for (conn_rec *c = l->conns; c; c = c->next) {
        if (c->in_request || c->cut || now - c->waiting_since <= s->cfg.connection_timeout)
            continue;
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!fi)
            continue;
        c->cut = 1;
        shutdown(fi->connect_fd, SHUT_RDWR);
        nd_log(ND_LOG_DEBUG,
               "http: a connection sent no complete request headers in %d s "
               "(connection-timeout); closing it",
               s->cfg.connection_timeout);
    }
}
