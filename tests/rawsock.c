// SPDX-License-Identifier: MIT
/*
 * rawsock.c - loopback TCP connections for the tests that send bytes by
 * hand (tests/rawsock.h).
 *
 * The one design decision to know: timeouts are socket options
 * (SO_SNDTIMEO, SO_RCVTIMEO), not a poll loop: a blocking call that runs
 * out of time fails with EAGAIN, which is all these tests need to know.
 */
#include "rawsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "scale.h"

int raw_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int ms = test_scaled_ms(timeout_ms);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

size_t raw_send_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return off;
}

char *raw_read_all(int fd, size_t max, size_t *len)
{
    size_t cap = 4096, got = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (;;) {
        if (got + 1 == cap) {
            char *p = cap <= max ? realloc(out, cap * 2) : NULL;
            if (!p) {
                free(out);
                errno = cap > max ? EMSGSIZE : ENOMEM;
                return NULL;
            }
            out = p;
            cap *= 2;
        }
        ssize_t n = recv(fd, out + got, cap - got - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(out);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > max) {
            free(out);
            errno = EMSGSIZE;
            return NULL;
        }
    }
    out[got] = '\0';
    if (len)
        *len = got;
    return out;
}
