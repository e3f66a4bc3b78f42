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
 */
#include "conn_limits.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 1024

typedef struct ip_entry {
    struct ip_entry *next;
    unsigned char addr[17];   /* family byte + up to 16 address bytes */
    int count;
} ip_entry;

typedef struct conn_rec {
    ip_entry *ip;
    const char *over;         /* the limit it is over, or NULL */
    long value;
} conn_rec;

typedef struct nd_limits {
    ip_entry *buckets[BUCKETS];
    int open;
} nd_limits;

int nd_limits_init(nd_server *s)
{
    s->limits = calloc(1, sizeof(nd_limits));
    return s->limits ? 0 : -1;
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
            return;   /* not counted; MHD's own caps still hold */
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
        if (l->open > s->cfg.max_connections) {
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

const char *nd_limits_over(nd_server *s, struct MHD_Connection *conn, long *value)
{
    (void)s;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const conn_rec *c = ci ? ci->socket_context : NULL;
    if (!c || !c->over)
        return NULL;
    *value = c->value;
    return c->over;
}

int nd_limits_open(const nd_server *s)
{
    return s->limits ? s->limits->open : 0;
}
