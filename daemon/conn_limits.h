/*
 * conn_limits.h - connection accounting for the limits on connections in total
 * and per client IP (issue #8). MHD reports every connection's start and
 * end (MHD_OPTION_NOTIFY_CONNECTION); a connection over a limit is still
 * accepted, so that its first request gets a problem+json naming the
 * limit (http.c) instead of a silent close. MHD's own hard caps sit a
 * little above ours (ND_LIMITS_SLACK) and close silently past them.
 */
#ifndef ND_CONN_LIMITS_H
#define ND_CONN_LIMITS_H

#include <microhttpd.h>

#include "nd.h"

#define ND_LIMITS_SLACK 16

int nd_limits_init(nd_server *s);
void nd_limits_free(nd_server *s);
void nd_limits_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The config key of the limit conn is over ("max-connections",
 * "max-connections-per-ip") with its value in *value, or NULL. */
const char *nd_limits_over(nd_server *s, struct MHD_Connection *conn, long *value);
/* Connections open now. */
int nd_limits_open(const nd_server *s);

#endif
