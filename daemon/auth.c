// SPDX-License-Identifier: MIT
/*
 * auth.c - bearer tokens for the API (issue #8, "Access and limits").
 *
 * Tokens come from --token-file (one per line; blank lines and lines
 * starting with '#' are skipped) or, when that is not set, from the
 * systemd credential $CREDENTIALS_DIRECTORY/nasd-token (LoadCredential=
 * in nasd.service). Without any token the API is open, as it always was
 * on loopback; nasd warns when it listens elsewhere like that.
 *
 * The one design decision to know: a presented token is compared with
 * every configured token, each over the configured token's full length,
 * without an early exit, so the time taken does not tell how much of a
 * guess was right. What needs a token is decided in http.c: /v1/... and
 * /metrics; /healthz and the static dashboard files stay open (the
 * dashboard's script sends the token it is given to the API).
 */
#include "nd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_TOKENS 64
#define MAX_TOKEN_LEN 512

typedef struct nd_auth {
    int n;
    char *tokens[MAX_TOKENS];
    size_t lens[MAX_TOKENS];
} nd_auth;

static int read_tokens(nd_auth *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        nd_log(ND_LOG_ERROR, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
        nd_log(ND_LOG_WARN, "token file %s is readable by other users (chmod 600 it)", path);
    char line[MAX_TOKEN_LEN + 8];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            nd_log(ND_LOG_ERROR, "token file %s:%d: a token is longer than %d bytes", path, lineno,
                   MAX_TOKEN_LEN);
            rc = -1;
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            line[--n] = '\0';
        char *t = line;
        while (*t == ' ' || *t == '\t')
            t++;
        if (!*t || *t == '#')
            continue;
        if (strpbrk(t, " \t")) {
            nd_log(ND_LOG_ERROR, "token file %s:%d: a token has no blanks", path, lineno);
            rc = -1;
            break;
        }
        if (a->n == MAX_TOKENS) {
            nd_log(ND_LOG_ERROR, "token file %s: more than %d tokens", path, MAX_TOKENS);
            rc = -1;
            break;
        }
        a->lens[a->n] = strlen(t);
        a->tokens[a->n] = strdup(t);
        if (!a->tokens[a->n]) {
            rc = -1;
            break;
        }
        a->n++;
    }
    explicit_bzero(line, sizeof(line));
    fclose(f);
    if (rc == 0 && a->n == 0) {
        nd_log(ND_LOG_ERROR, "token file %s holds no token", path);
        rc = -1;
    }
    return rc;
}

static int is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

int nd_auth_load(nd_server *s)
{
    nd_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    s->auth = a;
    char cred[PATH_MAX + 32];
    const char *path = NULL;
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (s->cfg.token_file[0]) {
        path = s->cfg.token_file;
    } else if (dir && *dir) {
        snprintf(cred, sizeof(cred), "%s/nasd-token", dir);
        struct stat st;
        if (stat(cred, &st) == 0)
            path = cred;
    }
    if (path) {
        if (read_tokens(a, path) != 0)
            return -1;
        nd_log(ND_LOG_INFO,
               "API tokens: %d from %s; /v1 and /metrics need "
               "\"Authorization: Bearer TOKEN\"",
               a->n, path);
    }
    return 0;
}

void nd_auth_warn_if_open(const nd_server *s)
{
    if (nd_auth_required(s) || is_loopback(s->cfg.listen_host))
        return;
    nd_log(ND_LOG_WARN,
           "listening on %s, which is not a loopback address, without an "
           "API token: anyone who can reach it can submit jobs "
           "(set token-file)",
           s->cfg.listen_host);
}

void nd_auth_free(nd_server *s)
{
    nd_auth *a = s->auth;
    if (!a)
        return;
    for (int i = 0; i < a->n; i++) {
        explicit_bzero(a->tokens[i], a->lens[i]);
        free(a->tokens[i]);
    }
    free(a);
    s->auth = NULL;
}

int nd_auth_required(const nd_server *s)
{
    return s->auth && s->auth->n > 0;
}

int nd_auth_check(const nd_server *s, const char *authorization)
{
    const nd_auth *a = s->auth;
    if (!a || a->n == 0)
        return 1;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *x = authorization + 7;
    while (*x == ' ')
        x++;
    size_t lx = strnlen(x, MAX_TOKEN_LEN + 1);
    unsigned match = 0;
    for (int i = 0; i < a->n; i++) {
        const unsigned char *t = (const unsigned char *)a->tokens[i];
        size_t lt = a->lens[i];
        /* Over the configured token's length whatever x's is. */
        unsigned diff = (unsigned)(lt != lx);
        for (size_t k = 0; k < lt; k++)
            diff |= t[k] ^ (k < lx ? (unsigned char)x[k] : 0u);
        match |= (unsigned)(diff == 0);
    }
    return match != 0;
}
