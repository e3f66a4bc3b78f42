// SPDX-License-Identifier: MIT
/*
 * test_security.c - the holes of issue #22 and the lingering close of
 * issue #12, each probed against a real nasd the way the security read
 * found it: pages of other sites in the user's browser (Origin, simple
 * Content-Types, DNS rebinding through Host), /metrics%3F past the token,
 * ?access_token= on routes that change things, one client holding every
 * event stream, a wedge at the connection cap and at the file limit,
 * request headers sent a byte at a time, the umask, the warning about an
 * open non-loopback socket that systemd passed, and a refusal sent before
 * the body was read reaching a client that writes its whole body first.
 *
 * The one design decision to know: every refusal is checked next to the
 * same request that must still pass (curl without Origin, the dashboard's
 * own origin, a name in allowed-hosts), so a gate that refused everything
 * would fail too; and every wait has a deadline scaled by
 * NASD_TEST_TIMEOUT_SCALE.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"
#include "rawsock.h"
#include "scale.h"

#define ARCH "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32}"
static const char small_job[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                                ",\"budget\":{\"epochs\":1},\"seed\":1}";
static const char long_job[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                               ",\"budget\":{\"epochs\":1000},\"seed\":1}";

TestSuite(security, .init = begin_test, .fini = finish_test);

/* r must be a problem of status and slug (tests/itest.h); frees r. */
static void refused_as(http_resp *r, int status, const char *slug)
{
    json_decref(problem(r, status, slug));
    http_resp_free(r);
}

/* ------------------------------------------------- pages of other sites */

Test(security, other_sites_pages_and_dns_rebinding)
{
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, NULL);
    char h[256], id[33];
    http_resp r;
    /* The probes of the issue: a simple cross-origin POST (text/plain,
     * Origin of another site), a form-encoded body, a rebound Host. */
    status_of(d.port, "POST", "/v1/jobs",
              "Content-Type: text/plain\r\nOrigin: http://evil.example\r\n", small_job, &r);
    refused_as(&r, 403, "forbidden-origin");
    status_of(d.port, "POST", "/v1/jobs", "Content-Type: application/x-www-form-urlencoded\r\n",
              small_job, &r);
    refused_as(&r, 415, "unsupported-media-type");
    status_of(d.port, "POST", "/v1/jobs", "Content-Type: text/plain\r\n", small_job, &r);
    refused_as(&r, 415, "unsupported-media-type");
    /* A rebound Host: another name, or this address with another port. */
    snprintf(h, sizeof h, "Host: evil.example:%d\r\n", d.port);
    status_of(d.port, "GET", "/v1/jobs", h, NULL, &r);
    refused_as(&r, 421, "misdirected-request");
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d\r\n", d.port + 1 > 65535 ? 1 : d.port + 1);
    status_of(d.port, "GET", "/v1/jobs", h, NULL, &r);
    refused_as(&r, 421, "misdirected-request");
    /* What must keep working: curl (no Origin, JSON or no type), the
     * dashboard from http://127.0.0.1:PORT and http://localhost:PORT,
     * [::1] as a name, /healthz under any name. */
    json_decref(submit_with(d.port, small_job, "Content-Type:\r\n", id)); /* none sent */
    json_decref(submit_with(d.port, small_job, NULL, id));                /* application/json */
    json_decref(
        submit_with(d.port, small_job, "Content-Type: application/json; charset=utf-8\r\n", id));
    snprintf(h, sizeof h, "Content-Type: application/json\r\nOrigin: http://127.0.0.1:%d\r\n",
             d.port);
    json_decref(submit_with(d.port, small_job, h, id));
    const char *names[] = {"localhost", "[::1]", "127.0.0.1"};
    for (int i = 0; i < 3; i++) {
        snprintf(h, sizeof h, "Host: %s:%d\r\nOrigin: http://%s:%d\r\n", names[i], d.port, names[i],
                 d.port);
        json_decref(submit_with(d.port, small_job, h, id));
    }
    cr_assert_eq(status_of(d.port, "GET", "/healthz", "Host: probe\r\n", NULL, NULL), 200);
    /* DELETE and :cancel from another site's page. */
    snprintf(h, sizeof h, "/v1/jobs/%s:cancel", id);
    status_of(d.port, "POST", h, "Origin: http://evil.example\r\n", NULL, &r);
    refused_as(&r, 403, "forbidden-origin");
    snprintf(h, sizeof h, "/v1/jobs/%s", id);
    status_of(d.port, "DELETE", h, "Origin: null\r\n", NULL, &r);
    refused_as(&r, 403, "forbidden-origin");
    /* A GET from another site changes nothing and is not readable there. */
    cr_assert_eq(
        status_of(d.port, "GET", "/v1/jobs", "Origin: http://evil.example\r\n", NULL, NULL), 200);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);

    /* The settings that let a proxy's name and another site in. */
    const char *const more[] = {"--allowed-hosts", "nasd.example, other.example:8443",
                                "--allowed-origins", "https://ui.example", NULL};
    start_in(&d, NULL, itest_one_worker, more);
    cr_assert_eq(status_of(d.port, "GET", "/v1/jobs", "Host: nasd.example\r\n", NULL, NULL), 200);
    cr_assert_eq(status_of(d.port, "GET", "/v1/jobs", "Host: other.example:8443\r\n", NULL, NULL),
                 200);
    json_decref(submit_with(
        d.port, small_job, "Content-Type: application/json\r\nOrigin: https://ui.example\r\n", id));
    status_of(d.port, "POST", "/v1/jobs",
              "Content-Type: application/json\r\nOrigin: https://evil.example\r\n", small_job, &r);
    refused_as(&r, 403, "forbidden-origin");
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ----------------------------------------------------- tokens and paths */

Test(security, token_covers_the_dispatched_path_and_query_tokens_only_on_reads)
{
    char dir[PATH_MAX], tokens[PATH_MAX + 16], id[33], path[256];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    write_file(tokens, "T0ken\n");
    const char *const args[] = {"--token-file", tokens, NULL};
    nasd_proc d;
    start_in(&d, dir, itest_one_worker, args);
    http_resp r;
    const char *auth = "Authorization: Bearer T0ken\r\n";
    /* MHD decodes %3F to '?', and the path is cut there for routing. */
    const char *sneaky[] = {"/metrics%3F", "/metrics%3Fx=1", "/v1/jobs%3F", "/v1/jobs%3F/x"};
    for (int i = 0; i < 4; i++) {
        status_of(d.port, "GET", sneaky[i], NULL, NULL, &r);
        refused_as(&r, 401, "unauthorized");
    }
    cr_assert_eq(status_of(d.port, "GET", "/metrics%3F", auth, NULL, NULL), 200);
    /* ?access_token= changes nothing and lists nothing. */
    status_of(d.port, "POST", "/v1/jobs?access_token=T0ken", NULL, small_job, &r);
    refused_as(&r, 401, "unauthorized");
    status_of(d.port, "GET", "/v1/jobs?access_token=T0ken", NULL, NULL, &r);
    refused_as(&r, 401, "unauthorized");
    json_decref(submit_with(d.port, long_job, auth, id));
    snprintf(path, sizeof path, "/v1/jobs/%s?access_token=T0ken", id);
    status_of(d.port, "GET", path, NULL, NULL, &r);
    refused_as(&r, 401, "unauthorized");
    snprintf(path, sizeof path, "/v1/jobs/%s:cancel?access_token=T0ken", id);
    status_of(d.port, "POST", path, NULL, NULL, &r);
    refused_as(&r, 401, "unauthorized");
    /* It does open an event stream and fetch a drawing. */
    snprintf(path, sizeof path, "/v1/jobs/%s/result?format=svg&access_token=T0ken", id);
    cr_assert_eq(status_of(d.port, "GET", path, NULL, NULL, NULL), 409);
    snprintf(path, sizeof path, "/v1/jobs/%s/events?access_token=T0ken", id);
    sse *st = NULL;
    cr_assert_eq(sse_open(d.port, path, HTTP_TIMEOUT_MS, &st, NULL), 200);
    sse_close(st);
    /* API answers are kept by no cache and name no referrer. */
    char v[128];
    cr_assert_eq(status_of(d.port, "GET", "/v1/jobs", auth, NULL, &r), 200);
    cr_assert(http_header(&r, "Cache-Control", v, sizeof v) && !strcmp(v, "no-store"));
    cr_assert(http_header(&r, "Referrer-Policy", v, sizeof v) && !strcmp(v, "no-referrer"));
    http_resp_free(&r);
    nasd_kill9(&d);
    PASS();
}

/* --------------------------------------------------- streams per client */

Test(security, event_streams_per_client)
{
    const char *const args[] = {"--max-streams-per-client", "2", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, args);
    char id[33], path[128];
    json_decref(submit_with(d.port, long_job, NULL, id));
    snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
    sse *a = NULL, *b = NULL, *c = NULL;
    http_resp r;
    cr_assert_eq(sse_open(d.port, path, HTTP_TIMEOUT_MS, &a, NULL), 200);
    cr_assert_eq(sse_open(d.port, path, HTTP_TIMEOUT_MS, &b, NULL), 200);
    cr_assert_eq(sse_open(d.port, path, HTTP_TIMEOUT_MS, &c, &r), 429);
    json_t *p = http_json(&r);
    cr_assert_str_eq(str_at(p, "limit_name"), "max-streams-per-client", "%s", r.body);
    cr_assert_eq(int_at(p, "limit"), 2);
    json_decref(p);
    http_resp_free(&r);
    /* A stream that closes gives its place back. */
    sse_close(a);
    int64_t deadline = test_now_ms() + test_scaled_ms(10000);
    int st;
    while ((st = sse_open(d.port, path, HTTP_TIMEOUT_MS, &c, NULL)) == 429 &&
           test_now_ms() < deadline)
        usleep(20000);
    cr_assert_eq(st, 200);
    sse_close(b);
    sse_close(c);
    nasd_kill9(&d);
    PASS();
}

/* ------------------------------------------------------- lingering close */

/* Connects, writes all of req (failing the test if the server stops
 * reading it), then reads to the end. Returns the bytes read (owned). */
static char *write_all_then_read(int port, const char *req, size_t len)
{
    int fd = raw_connect(port, 10000);
    cr_assert(fd >= 0, "connect: %s", strerror(errno));
    size_t sent = raw_send_all(fd, req, len);
    cr_assert_eq(sent, len, "the body was cut off after %zu of %zu bytes: %s", sent, len,
                 strerror(errno));
    char *out = raw_read_all(fd, 65536, NULL);
    cr_assert(out, "reading the answer: %s", strerror(errno));
    close(fd);
    return out;
}

Test(security, refusals_before_the_body_reach_a_client_that_writes_first)
{
    char dir[PATH_MAX], tokens[PATH_MAX + 16];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    write_file(tokens, "T0ken\n");
    const char *const args[] = {"--token-file", tokens, NULL};
    nasd_proc d;
    start_in(&d, dir, itest_one_worker, args);
    size_t body = (size_t)2 << 20;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "Authorization: Bearer T0ken\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      d.port, body);
    char *req = malloc((size_t)hn + body);
    memcpy(req, head, (size_t)hn);
    memset(req + hn, ' ', body);
    for (int i = 0; i < 20; i++) {
        char *ans = write_all_then_read(d.port, req, (size_t)hn + body);
        cr_assert(!strncmp(ans, "HTTP/1.1 413", 12), "try %d: %.200s", i, ans);
        cr_assert(strstr(ans, "application/problem+json"), "try %d: %.400s", i, ans);
        cr_assert(strstr(ans, "\"limit_name\":\"max-body\""), "try %d: %.600s", i, ans);
        free(ans);
    }
    /* A 401 (no token) is decided before the body too. */
    hn = snprintf(head, sizeof head,
                  "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                  d.port, body / 2);
    memcpy(req, head, (size_t)hn);
    memset(req + hn, ' ', body / 2);
    for (int i = 0; i < 5; i++) {
        char *ans = write_all_then_read(d.port, req, (size_t)hn + body / 2);
        cr_assert(!strncmp(ans, "HTTP/1.1 401", 12), "try %d: %.200s", i, ans);
        cr_assert(strstr(ans, "urn:nasd:problem:unauthorized"), "try %d: %.600s", i, ans);
        free(ans);
    }
    free(req);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ---------------------------------------------- the cap and the file limit */

static int connect_nb(int port)
{
    int fd = raw_connect(port, 10000);
    cr_assert(fd >= 0, "connect: %s", strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* n connections each send a keep-alive request; waits until `answered`
 * of them have an answer (200 or a problem naming a limit), then closes
 * all n at once. Returns how many answers named limit_name. */
static int flood_then_close(int port, int n, int answered, const char *limit_name)
{
    int fds[64], done[64] = {0}, named = 0, count = 0;
    cr_assert(n <= 64);
    char req[128];
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    for (int i = 0; i < n; i++) {
        fds[i] = connect_nb(port);
        cr_assert_eq(send(fds[i], req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    }
    int64_t deadline = test_now_ms() + test_scaled_ms(10000);
    while (count < answered && test_now_ms() < deadline) {
        for (int i = 0; i < n; i++) {
            char buf[4096];
            if (done[i])
                continue;
            ssize_t k = recv(fds[i], buf, sizeof buf - 1, 0);
            if (k <= 0)
                continue;
            buf[k] = '\0';
            done[i] = 1;
            count++;
            if (limit_name && strstr(buf, limit_name))
                named++;
        }
        usleep(5000);
    }
    cr_assert(count >= answered, "%d of %d connections answered", count, answered);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return named;
}

/* nasd answers a new connection (a 503 while it still counts the closed
 * ones is an answer too), and soon with a 200. */
static void still_accepting(int port)
{
    int64_t deadline = test_now_ms() + test_scaled_ms(10000);
    int status;
    do {
        http_resp r;
        int rc = http_request(port, "GET", "/healthz", NULL, NULL, 0, test_scaled_ms(5000), &r);
        cr_assert_eq(rc, 0, "nasd stopped accepting: %s", http_errmsg());
        status = r.status;
        http_resp_free(&r);
    } while (status != 200 && test_now_ms() < deadline && usleep(20000) == 0);
    cr_assert_eq(status, 200);
}

Test(security, no_wedge_at_the_connection_cap)
{
    const char *const args[] = {"--max-connections", "4", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, args);
    /* MHD's own cap is 4 + 16: it accepts 20 and stops watching the
     * listening socket; two wait in the backlog. */
    for (int i = 0; i < 5; i++) {
        flood_then_close(d.port, 22, 20, NULL);
        still_accepting(d.port);
    }
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

Test(security, file_limit_is_a_503_and_no_wedge)
{
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    nasd_proc d;
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    const char *const args[] = {"--workers", "1", "--threads-per-job", "1", NULL};
    int rc = nasd_start(&d, dir, args, ITEST_START_MS);
    setrlimit(RLIMIT_NOFILE, &old);
    cr_assert_eq(rc, 0);
    int named = 0;
    for (int i = 0; i < 3; i++) {
        named += flood_then_close(d.port, 60, 60, "\"limit_name\":\"open-files\"");
        still_accepting(d.port);
    }
    cr_assert(named > 0, "no 503 named the file limit");
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ------------------------------------------------------ slow headers */

Test(security, request_headers_have_a_deadline)
{
    const char *const args[] = {"--connection-timeout", "2", NULL};
    nasd_proc d;
    start_in(&d, NULL, itest_one_worker, args);
    int fd = connect_nb(d.port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    int64_t t0 = test_now_ms(), deadline = t0 + test_scaled_ms(12000);
    int closed = 0;
    for (size_t i = 0; test_now_ms() < deadline; i++) {
        char c = i < strlen(req) ? req[i] : 'a';
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        char buf[256];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) > 0) {
            ssize_t k = recv(fd, buf, sizeof buf, 0);
            cr_assert(k <= 0, "an answer came to headers that never ended: %.*s", (int)k, buf);
            closed = 1;
            break;
        }
    }
    close(fd);
    cr_assert(closed, "a connection sending headers a byte a second was open after %lld ms",
              (long long)(test_now_ms() - t0));
    still_accepting(d.port);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ------------------------------------------------ umask and the warning */

Test(security, state_is_private_whatever_the_umask)
{
    mode_t old = umask(022);
    nasd_proc d;
    char dir[PATH_MAX], db[PATH_MAX + 16];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    const char *const args[] = {"--workers", "1", "--threads-per-job", "1", NULL};
    int rc = nasd_start(&d, dir, args, ITEST_START_MS);
    umask(old);
    cr_assert_eq(rc, 0);
    snprintf(db, sizeof db, "%s/nasd.db", dir);
    struct stat st;
    cr_assert_eq(stat(db, &st), 0);
    cr_assert_eq(st.st_mode & 077, 0, "nasd.db has mode %o", (unsigned)(st.st_mode & 0777));
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* A socket on 0.0.0.0 passed as systemd does (LISTEN_FDS), with the
 * default --listen of 127.0.0.1: the warning is about the socket. */
Test(security, warning_names_the_socket_systemd_passed)
{
    char dir[PATH_MAX], log[PATH_MAX + 16];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(log, sizeof log, "%s/activated.log", dir);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(ls, 16), 0);
    const char *bin = getenv("NASD") ? getenv("NASD") : "./nasd";
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        dup2(ls, 3);
        char v[32];
        snprintf(v, sizeof v, "%d", (int)getpid());
        setenv("LISTEN_PID", v, 1);
        setenv("LISTEN_FDS", "1", 1);
        execl(bin, bin, "--state-dir", dir, "--log-target", "stderr", (char *)NULL);
        _exit(127);
    }
    close(ls);
    char text[8192] = "";
    int64_t deadline = test_now_ms() + test_scaled_ms(ITEST_START_MS);
    while (test_now_ms() < deadline) {
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        text[n] = '\0';
        if (f)
            fclose(f);
        if (strstr(text, "listening on http://"))
            break;
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert(strstr(text, "listening on http://0.0.0.0:"), "%s", text);
    cr_assert(strstr(text, "without an API token"), "no warning: %s", text);
    PASS();
}
