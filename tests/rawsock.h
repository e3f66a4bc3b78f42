// SPDX-License-Identifier: MIT
/*
 * rawsock.h - bytes on a loopback TCP connection, for the few tests that
 * must send what no HTTP client sends: idle or half-sent requests held
 * open, floods of connections, a body written in full after the server
 * has answered. Everything else goes through tests/http.h.
 *
 * The one design decision to know: a socket's every send and receive is
 * bounded by a timeout (scaled by NASD_TEST_TIMEOUT_SCALE), so a server
 * that stops answering fails the test instead of hanging it.
 */
#ifndef NAS_TESTS_RAWSOCK_H
#define NAS_TESTS_RAWSOCK_H

#include <stddef.h>

/* A blocking connection to 127.0.0.1:port whose sends and receives give
 * up after timeout_ms: the socket, or -1 with errno. */
int raw_connect(int port, int timeout_ms);
/* Sends len bytes: how many were sent before the peer stopped reading
 * (len when all were), with errno set when fewer. */
size_t raw_send_all(int fd, const char *data, size_t len);
/* Reads until the peer closes, at most max bytes: the bytes, NUL-
 * terminated (owned, *len their count), or NULL with errno on a receive
 * error or timeout, or when more than max came. */
char *raw_read_all(int fd, size_t max, size_t *len);

#endif
