// SPDX-License-Identifier: MIT
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
 * "max-connections-per-ip", or "open-files" when its descriptor is near
 * RLIMIT_NOFILE) with its value in *value, or NULL. */
const char *nd_limits_over(nd_server *s, struct MHD_Connection *conn, long *value);
/* The client address of conn as a key for per-client counts: its family
 * byte and up to 16 address bytes. */
#define ND_CLIENT_KEY_LEN 17
void nd_limits_client_key(struct MHD_Connection *conn, unsigned char key[ND_CLIENT_KEY_LEN]);
/* Connections open now. */
int nd_limits_open(const nd_server *s);
/* conn's request headers have arrived / its request is over (it waits
 * for the next one's headers from now on). */
void nd_limits_request_begins(nd_server *s, struct MHD_Connection *conn);
void nd_limits_request_ends(nd_server *s, struct MHD_Connection *conn);
/* Shut down the connections that have waited longer than
 * connection_timeout for a request's headers (at most every 250 ms). */
void nd_limits_sweep(nd_server *s);

#endif
