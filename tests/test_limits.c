// SPDX-License-Identifier: MIT
/*
 * test_limits.c - access and limits of issue #8 against a real nasd: the
 * bearer token (from --token-file and from a systemd credential), what
 * stays open, the warning on a non-loopback address without a token, and
 * every limit's refusal: body size, JSON nesting, connections per client
 * and in total, the idle timeout, queued jobs, per-job epochs, seconds and
 * estimated memory, and data_path confined to <state-dir>/datasets.
 *
 * The one design decision to know: each refusal is checked for what a
 * client can act on - its status, application/problem+json, the limit's
 * config key in "limit_name" and its value in "limit" (or the field's
 * JSON pointer) - and next to it the same request under the limit is
 * accepted, so a limit that refused everything would fail too.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(limits, .init = begin_test, .fini = finish_test);

/* For nasd_wait_for (scaled deadline): /healthz answers 200 again. */
static int healthz_ok(void *port)
{
    return status_of(*(int *)port, "GET", "/healthz", NULL, NULL, NULL) == 200;
}

/* A problem of slug naming limit_name = value. */
static json_t *slug_limit_problem(const http_resp *r, int status, const char *slug,
                                  const char *limit_name, json_int_t value)
{
    json_t *p = problem(r, status, slug);
    const char *name = json_string_value(json_object_get(p, "limit_name"));
    cr_assert_str_eq(name ? name : "", limit_name, "%s", r->body);
    cr_assert_eq(json_integer_value(json_object_get(p, "limit")), value, "%s", r->body);
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), limit_name),
              "the detail names the limit: %s", r->body);
    return p;
}

/* A limit-exceeded problem naming limit_name = value. */
static json_t *limit_problem(const http_resp *r, int status, const char *limit_name,
                             json_int_t value)
{
    return slug_limit_problem(r, status, "limit-exceeded", limit_name, value);
}

static json_t *post_limit(int port, const char *body, int status, const char *limit_name,
                          json_int_t value)
{
    http_resp r;
    request(port, "POST", "/v1/jobs", NULL, body, &r);
    json_t *p = limit_problem(&r, status, limit_name, value);
    http_resp_free(&r);
    return p;
}

/* ------------------------------------------------------------- tokens */

static void check_token_rules(int port, const char *good)
{
    char hdr[256];
    http_resp r;
    /* No token: 401, WWW-Authenticate, problem+json. */
    request(port, "GET", "/v1/jobs", NULL, NULL, &r);
    json_decref(problem(&r, 401, "unauthorized"));
    char www[128] = "";
    cr_assert(http_header(&r, "WWW-Authenticate", www, sizeof(www)), "no WWW-Authenticate");
    cr_assert_str_eq(www, "Bearer realm=\"nasd\"");
    http_resp_free(&r);
    /* A wrong token, one a byte short, one a byte long, another scheme. */
    const char *wrong[] = {"Authorization: Bearer nope\r\n", NULL, NULL,
                           "Authorization: Basic dXNlcjpwYXNz\r\n"};
    char shorter[256], longer[256];
    snprintf(shorter, sizeof shorter, "Authorization: Bearer %.*s\r\n", (int)strlen(good) - 1,
             good);
    snprintf(longer, sizeof longer, "Authorization: Bearer %sx\r\n", good);
    wrong[1] = shorter;
    wrong[2] = longer;
    for (int i = 0; i < 4; i++) {
        request(port, "GET", "/v1/jobs", wrong[i], NULL, &r);
        json_decref(problem(&r, 401, "unauthorized"));
        cr_assert(http_header(&r, "WWW-Authenticate", www, sizeof(www)));
        http_resp_free(&r);
    }
    /* POST without a token is refused before its body is read. */
    cr_assert_eq(status_of(port, "POST", "/v1/jobs", NULL, small_job, NULL), 401);
    cr_assert_eq(status_of(port, "GET", "/metrics", NULL, NULL, NULL), 401);
    /* The right token opens /v1 and /metrics. */
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", good);
    cr_assert_eq(status_of(port, "GET", "/v1/jobs", hdr, NULL, NULL), 200);
    cr_assert_eq(status_of(port, "GET", "/metrics", hdr, NULL, NULL), 200);
    cr_assert_eq(status_of(port, "POST", "/v1/jobs", hdr, small_job, NULL), 202);
    /* ?access_token= (RFC 6750 2.3) is only for event streams and
     * drawings (tests/test_security.c), not for a list. */
    char q[256];
    snprintf(q, sizeof q, "/v1/jobs?access_token=%s", good);
    cr_assert_eq(status_of(port, "GET", q, NULL, NULL, NULL), 401);
    cr_assert_eq(status_of(port, "GET", "/v1/jobs?access_token=nope", NULL, NULL, NULL), 401);
    /* /healthz and the dashboard's static files stay open. */
    cr_assert_eq(status_of(port, "GET", "/healthz", NULL, NULL, NULL), 200);
    cr_assert_neq(status_of(port, "GET", "/", NULL, NULL, NULL), 401);
}

Test(limits, token_file)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof path, "%s/tokens", dir);
    write_file(path, "# the API tokens\n\nfirst-token-0123456789\n  second-token-abcdef  \n");
    nasd_proc d;
    const char *args[] = {"--token-file", path, NULL};
    start_in(&d, dir, itest_one_worker, args);
    check_token_rules(d.port, "second-token-abcdef");
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer first-token-0123456789\r\n");
    cr_assert_eq(status_of(d.port, "GET", "/v1/datasets", hdr, NULL, NULL), 200);
    cr_assert(nasd_log_contains(&d, "API tokens: 2 from"));
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

Test(limits, token_from_systemd_credential)
{
    char dir[PATH_MAX], cred[PATH_MAX], path[PATH_MAX + 32];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert_eq(nasd_mkdtemp(cred, sizeof(cred)), 0);
    snprintf(path, sizeof path, "%s/nasd-token", cred);
    write_file(path, "credential-token-42\n");
    setenv("CREDENTIALS_DIRECTORY", cred, 1);
    nasd_proc d;
    start_in(&d, dir, itest_one_worker, NULL);
    unsetenv("CREDENTIALS_DIRECTORY");
    check_token_rules(d.port, "credential-token-42");
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

Test(limits, bad_token_file_stops_the_start)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof path, "%s/empty", dir);
    write_file(path, "# no token here\n\n");
    nasd_proc d;
    const char *args[] = {"--workers", "1", "--token-file", path, NULL};
    cr_assert_neq(nasd_start(&d, dir, args, ITEST_START_MS), 0, "nasd started without a token");
    PASS();
}

/* nasd on 0.0.0.0 without a token warns; with one it does not. Run by
 * hand here (nasd_proc listens on loopback), stopped by SIGTERM. */
static int warns_on_any_address(const char *dir, const char *token_file)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/any.log", dir);
    unlink(log); /* not the previous run's lines */
    const char *bin = getenv("NASD") ? getenv("NASD") : "./nasd";
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        if (token_file)
            execl(bin, bin, "--listen", "0.0.0.0:0", "--state-dir", dir, "--token-file", token_file,
                  (char *)NULL);
        else
            execl(bin, bin, "--listen", "0.0.0.0:0", "--state-dir", dir, (char *)NULL);
        _exit(127);
    }
    char text[8192] = "";
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        text[n] = '\0';
        if (f)
            fclose(f);
        if (strstr(text, "listening on"))
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > test_scaled_ms(ITEST_START_MS) / 1000)
            break;
        usleep(10000);
    }
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(strstr(text, "listening on"), "nasd on 0.0.0.0 did not start: %s", text);
    return strstr(text, "not a loopback address, without an API token") != NULL;
}

Test(limits, warning_on_a_non_loopback_address_without_a_token)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert(warns_on_any_address(dir, NULL));
    snprintf(path, sizeof path, "%s/tokens", dir);
    write_file(path, "a-token\n");
    cr_assert(!warns_on_any_address(dir, path));
    /* And not on loopback, the default. */
    nasd_proc d;
    start_in(&d, dir, itest_one_worker, NULL);
    cr_assert(!nasd_log_contains(&d, "without an API token"));
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ---------------------------------------------------- body and nesting */

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 2);
    for (int i = 0; i < depth; i++) {
        s[i] = '[';
        s[depth + 1 + i] = ']';
    }
    s[depth] = '1';
    s[depth * 2 + 1] = '\0';
    return s;
}

Test(limits, body_size_and_json_depth)
{
    nasd_proc d;
    const char *args[] = {"--max-body", "4096", "--max-json-depth", "8", NULL};
    start_in(&d, NULL, itest_one_worker, args);
    char *big = malloc(5001);
    memset(big, ' ', 5000);
    big[0] = '{';
    big[4999] = '}';
    big[5000] = '\0';
    http_resp r;
    request(d.port, "POST", "/v1/jobs", NULL, big, &r);
    json_decref(slug_limit_problem(&r, 413, "body-too-large", "max-body", 4096));
    http_resp_free(&r);
    free(big);

    char *deep = nested(9), *ok = nested(8);
    json_decref(post_limit(d.port, deep, 400, "max-json-depth", 8));
    /* At the limit the body is parsed: an array is not a job spec. */
    request(d.port, "POST", "/v1/jobs", NULL, ok, &r);
    json_decref(problem(&r, 400, "bad-request"));
    http_resp_free(&r);
    /* Brackets inside strings do not count. */
    const char quoted[] = "{\"name\":\"[[[[[[[[[[[[{{{{{{{{{{\\\"]]]]\",\"algorithm\":\"train\","
                          "\"dataset\":\"synthetic\"," ARCH ",\"budget\":{\"epochs\":1}}";
    cr_assert_eq(status_of(d.port, "POST", "/v1/jobs", NULL, quoted, NULL), 202);
    free(deep);
    free(ok);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* --------------------------------------------------------- connections */

static int connect_idle(int port)
{
    int fd = raw_connect(port, HTTP_TIMEOUT_MS);
    cr_assert(fd >= 0, "connect: %s", strerror(errno));
    return fd;
}

/* Waits until nasd counts `n` open connections besides the asking one. */
static int connections_open(int port)
{
    http_resp r;
    request(port, "GET", "/metrics", NULL, NULL, &r);
    const char *at = r.body ? strstr(r.body, "\nnasd_http_connections ") : NULL;
    int n = at ? atoi(at + 23) : -1;
    http_resp_free(&r);
    return n;
}

Test(limits, connections_per_ip_and_in_total)
{
    nasd_proc d;
    const char *args[] = {"--max-connections-per-ip", "3", "--max-connections", "5", NULL};
    start_in(&d, NULL, itest_one_worker, args);
    int fds[8];
    fds[0] = connect_idle(d.port);
    fds[1] = connect_idle(d.port);
    /* The /metrics request is the third: within the per-IP limit of 3. */
    cr_assert_eq(connections_open(d.port), 3);
    fds[2] = connect_idle(d.port);
    http_resp r;
    request(d.port, "GET", "/healthz", NULL, NULL, &r);
    json_decref(limit_problem(&r, 429, "max-connections-per-ip", 3));
    char v[64] = "";
    cr_assert(http_header(&r, "Connection", v, sizeof v) && strcmp(v, "close") == 0);
    cr_assert(http_header(&r, "Retry-After", v, sizeof v));
    http_resp_free(&r);
    close(fds[2]);
    close(fds[1]);
    /* Back under the limit: served again. */
    nasd_wait_for(2000, healthz_ok, &d.port);
    cr_assert_eq(status_of(d.port, "GET", "/healthz", NULL, NULL, NULL), 200);
    close(fds[0]);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);

    /* In total: five from this address is over neither... */
    const char *args2[] = {"--max-connections-per-ip", "100", "--max-connections", "4", NULL};
    start_in(&d, NULL, itest_one_worker, args2);
    for (int i = 0; i < 4; i++)
        fds[i] = connect_idle(d.port);
    request(d.port, "GET", "/healthz", NULL, NULL, &r);
    json_decref(limit_problem(&r, 503, "max-connections", 4));
    http_resp_free(&r);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    nasd_wait_for(2000, healthz_ok, &d.port);
    cr_assert_eq(status_of(d.port, "GET", "/healthz", NULL, NULL, NULL), 200);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

Test(limits, idle_connection_timeout)
{
    nasd_proc d;
    const char *args[] = {"--connection-timeout", "1", NULL};
    start_in(&d, NULL, itest_one_worker, args);
    int fd = connect_idle(d.port);
    /* The server closes it: read returns 0 well before our deadline. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 10000), 1, "the idle connection was not closed");
    char c;
    cr_assert_eq(read(fd, &c, 1), 0);
    close(fd);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ---------------------------------------------------------------- queue */

static int job_running(void *ctx)
{
    int port = *(int *)ctx;
    http_resp r;
    if (http_request(port, "GET", "/healthz", NULL, NULL, 0, HTTP_TIMEOUT_MS, &r) != 0)
        return 0;
    json_t *j = http_json(&r);
    int running = (int)json_integer_value(json_object_get(json_object_get(j, "jobs"), "running"));
    json_decref(j);
    http_resp_free(&r);
    return running == 1;
}

Test(limits, queue_full_is_429_with_retry_after)
{
    nasd_proc d;
    const char *args[] = {"--max-queued", "2", NULL};
    start_in(&d, NULL, itest_one_worker, args);
    cr_assert_eq(status_of(d.port, "POST", "/v1/jobs", NULL, long_job, NULL), 202);
    cr_assert(nasd_wait_for(30000, job_running, &d.port), "the first job did not start");
    cr_assert_eq(status_of(d.port, "POST", "/v1/jobs", NULL, long_job, NULL), 202);
    http_resp r;
    request(d.port, "POST", "/v1/jobs", "Idempotency-Key: k-full\r\n", long_job, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    char loc[128] = "";
    cr_assert(http_header(&r, "Location", loc, sizeof loc));
    http_resp_free(&r);
    request(d.port, "POST", "/v1/jobs", NULL, long_job, &r);
    json_decref(limit_problem(&r, 429, "max-queued", 2));
    char v[32] = "";
    cr_assert(http_header(&r, "Retry-After", v, sizeof v), "no Retry-After");
    cr_assert_gt(atoi(v), 0);
    http_resp_free(&r);
    /* The queue is full, but a retry of an acknowledged request finds its
     * job (202, same Location) rather than a 429. */
    request(d.port, "POST", "/v1/jobs", "Idempotency-Key: k-full\r\n", long_job, &r);
    cr_assert_eq(r.status, 202, "a retry got %d: %s", r.status, r.body);
    char loc2[128] = "";
    cr_assert(http_header(&r, "Location", loc2, sizeof loc2));
    cr_assert_str_eq(loc, loc2);
    http_resp_free(&r);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ------------------------------------------------------------ job caps */

Test(limits, per_job_caps)
{
    nasd_proc d;
    const char *args[] = {
        "--max-job-epochs", "5", "--max-job-seconds", "60", "--max-job-memory", "300", NULL};
    start_in(&d, NULL, itest_one_worker, args);
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
             ",\"budget\":{\"epochs\":6}}");
    json_t *p = post_limit(d.port, spec, 400, "max-job-epochs", 5);
    cr_assert_str_eq(json_string_value(json_object_get(p, "pointer")), "/budget/epochs");
    json_decref(p);
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1},"
             "\"final_training\":{\"enabled\":true,\"epochs\":9}}");
    p = post_limit(d.port, spec, 400, "max-job-epochs", 5);
    cr_assert_str_eq(json_string_value(json_object_get(p, "pointer")), "/final_training/epochs");
    json_decref(p);
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
             ",\"budget\":{\"epochs\":1,\"max_seconds\":61}}");
    p = post_limit(d.port, spec, 400, "max-job-seconds", 60);
    cr_assert_str_eq(json_string_value(json_object_get(p, "pointer")), "/budget/max_seconds");
    json_decref(p);

    /* Under the caps: accepted, and "no limit" becomes the cap. */
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
             ",\"budget\":{\"epochs\":5}}");
    http_resp r;
    request(d.port, "POST", "/v1/jobs", NULL, spec, &r);
    cr_assert_eq(r.status, 202, "%s", r.body);
    json_t *job = http_json(&r);
    json_t *ms =
        json_object_get(json_object_get(json_object_get(job, "spec"), "budget"), "max_seconds");
    cr_assert_float_eq(json_number_value(ms), 60.0, 1e-9, "%s", r.body);
    json_decref(job);
    http_resp_free(&r);

    /* Memory: a small network fits in 300 MiB, a wide one with a big
     * batch does not, and the refusal says the estimate. */
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"synthetic\",\"architecture\":"
             "{\"space\":\"fixed-cnn\",\"channels\":[256,256],\"hidden\":1024},"
             "\"hyperparameters\":{\"batch_size\":1024},\"budget\":{\"epochs\":1}}");
    p = post_limit(d.port, spec, 400, "max-job-memory", 300);
    json_int_t est = json_integer_value(json_object_get(p, "estimate_bytes"));
    cr_assert_gt(est, (json_int_t)300 << 20);
    char mib[32];
    snprintf(mib, sizeof mib, "%lld MiB", (long long)((est + (1 << 20) - 1) >> 20));
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), mib),
              "the detail says the estimate (%s): %s", mib,
              json_string_value(json_object_get(p, "detail")));
    json_decref(p);
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"darts\",\"dataset\":\"synthetic\",\"budget\":{\"epochs\":1},"
             "\"hyperparameters\":{\"C\":64,\"layers\":8,\"batch_size\":256}}");
    json_decref(post_limit(d.port, spec, 400, "max-job-memory", 300));
    cr_assert_eq(status_of(d.port, "POST", "/v1/jobs", NULL, small_job, NULL), 202);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}

/* ---------------------------------------------------------- data_path */

static json_t *post_path(int port, const char *dataset, const char *data_path, int status,
                         const char *slug)
{
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"%s\",\"budget\":{\"epochs\":1},"
             "\"data_path\":\"%s\"}",
             dataset, data_path);
    http_resp r;
    request(port, "POST", "/v1/jobs", NULL, spec, &r);
    if (status == 202) {
        cr_assert_eq(r.status, 202, "%s: %s", data_path, r.body);
        http_resp_free(&r);
        return NULL;
    }
    json_t *p = problem(&r, status, slug);
    const char *ptr = json_string_value(json_object_get(p, "pointer"));
    cr_assert_str_eq(ptr ? ptr : "", "/data_path", "%s: %s", data_path, r.body);
    http_resp_free(&r);
    return p;
}

Test(limits, data_path_confined_to_the_datasets_folder)
{
    char dir[PATH_MAX], path[PATH_MAX + 64], outside[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    cr_assert_eq(nasd_mkdtemp(outside, sizeof(outside)), 0);
    snprintf(path, sizeof path, "%s/datasets", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/datasets/mine", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/datasets/escape", dir);
    cr_assert_eq(symlink(outside, path), 0);
    snprintf(path, sizeof path, "%s/datasets/inside", dir);
    cr_assert_eq(symlink("mine", path), 0);
    nasd_proc d;
    start_in(&d, dir, itest_one_worker, NULL);
    json_t *p;
    p = post_path(d.port, "synthetic", "../nasd.db", 400, "invalid-field");
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), ".."));
    json_decref(p);
    json_decref(post_path(d.port, "synthetic", "mine/../../x", 400, "invalid-field"));
    p = post_path(d.port, "synthetic", "/etc", 400, "invalid-field");
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), "relative"));
    json_decref(p);
    p = post_path(d.port, "synthetic", "escape", 400, "invalid-field");
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), "symbolic link"), "%s",
              json_string_value(json_object_get(p, "detail")));
    json_decref(p);
    json_decref(post_path(d.port, "synthetic", "missing", 400, "invalid-field"));
    /* Inside (also through a link that stays inside): accepted. */
    post_path(d.port, "synthetic", "mine", 202, NULL);
    post_path(d.port, "synthetic", "inside", 202, NULL);
    /* And it is where nasd looks: an empty folder holds no CIFAR-10. */
    char spec[256];
    snprintf(spec, sizeof spec,
             "{\"algorithm\":\"train\",\"dataset\":\"cifar10\",\"data_path\":\"mine\"}");
    http_resp r;
    request(d.port, "POST", "/v1/jobs", NULL, spec, &r);
    p = problem(&r, 400, "invalid-field");
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")), "/datasets/mine"), "%s",
              r.body);
    json_decref(p);
    http_resp_free(&r);
    cr_assert_eq(nasd_stop(&d, ITEST_STOP_MS), 0);
    PASS();
}
