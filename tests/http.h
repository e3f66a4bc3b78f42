// SPDX-License-Identifier: MIT
/*
 * http.h - the integration tests' HTTP client, on libcurl: one request per
 * connection to a loopback port, and a reader of server-sent event
 * streams. (Requests malformed on purpose go through tests/rawsock.h.)
 *
 * The one design decision to know: every call takes a timeout, scaled by
 * NASD_TEST_TIMEOUT_SCALE, and gives up when it passes (a hung daemon
 * fails the test instead of hanging it). Requests say "Connection: close"
 * and a body is sent as application/json unless the caller's headers name
 * another Content-Type, so the tests speak to nasd as curl --json does.
 *
 * Ownership: an http_resp owns its head and body (http_resp_free);
 * http_json returns a new reference; an sse stream is freed by sse_close.
 */
#ifndef TESTS_HTTP_H
#define TESTS_HTTP_H

#include <stddef.h>

#include <jansson.h>

#define HTTP_TIMEOUT_MS 10000

typedef struct http_resp {
    int status;
    char *head; /* status line and header lines, NUL-terminated */
    char *body; /* NUL-terminated; body_len bytes before the NUL */
    size_t body_len;
} http_resp;

/* One request to 127.0.0.1:port on a new connection. headers: extra header
 * lines, each ending in "\r\n", or NULL; one of them replaces the client's
 * own header of that name (Host, Content-Type, Connection), and one with
 * no value ("Content-Type:\r\n") leaves it out. "Transfer-Encoding:
 * chunked" sends the body chunked. body may be NULL (no body); otherwise
 * the request carries Content-Length and, unless headers name another,
 * Content-Type: application/json. The path is sent as it is (no dot
 * segments removed). Returns 0 with out filled, or -1 (refused, timed
 * out, malformed) with http_errmsg(); out is then empty but may still be
 * passed to http_resp_free. */
int http_request(int port, const char *method, const char *path, const char *headers,
                 const char *body, size_t body_len, int timeout_ms, http_resp *out);

/* GET, or POST/PUT/... of a NUL-terminated body, with HTTP_TIMEOUT_MS. */
int http_get(int port, const char *path, http_resp *out);
int http_send(int port, const char *method, const char *path, const char *body, http_resp *out);

/* The value of header `name` (case-insensitive) copied into buf, or NULL
 * when the response has no such header. */
const char *http_header(const http_resp *r, const char *name, char *buf, size_t n);
/* The body parsed as JSON, or NULL. */
json_t *http_json(const http_resp *r);
void http_resp_free(http_resp *r);

/* Why the last call of this thread failed. */
const char *http_errmsg(void);

/* ------------------------------------------------------------ events */

typedef struct sse sse;

/* GET path with "Accept: text/event-stream". Returns the status, or -1
 * when no response came. On 200, *out is the open stream (and resp, when
 * non-NULL, gets the status and headers only); otherwise *out is NULL and
 * resp (when non-NULL) gets the whole response. */
int sse_open(int port, const char *path, int timeout_ms, sse **out, http_resp *resp);
/* sse_open sending Last-Event-ID: last_event_id when it is not NULL (a
 * client resuming a stream, as EventSource does on a reconnect). */
int sse_open_with(int port, const char *path, const char *last_event_id, int timeout_ms, sse **out,
                  http_resp *resp);
/* The last id: field the stream has sent ("" before any). */
const char *sse_last_id(const sse *s);
/* The next event within timeout_ms: 1 with its name (copied into event,
 * "message" when the server gave none) and its data parsed as JSON (*data
 * owned by the caller; NULL if the data is not JSON); 0 when the stream
 * ended; -1 on timeout or error. Comments (heartbeats) and retry fields
 * are skipped. */
int sse_next(sse *s, int timeout_ms, char *event, size_t n, json_t **data);
/* Closes the connection (a client going away) and frees s; NULL is a no-op. */
void sse_close(sse *s);

#endif
