// SPDX-License-Identifier: MIT
/*
 * test_nasctl.c - the nasctl built here (cli/, issue #15 item 7) run as a
 * subprocess against a real nasd on a loopback port: submit --follow of a
 * small synthetic train job to its result, get, list with filters, result,
 * architectures, metrics, model -o, cancel, delete; nasd's problems
 * printed (every entry of a spec's errors) with exit status 1; an address
 * nobody listens on (3); usage errors (2); a job cancelled under
 * submit --follow (4); a nasd that wants a bearer token
 * (--token-file); and dataset upload|list|get|delete (issue #21).
 *
 * The one design decision to know: nasctl's stdout and stderr go to files
 * in the nasd's state directory (kept when a test fails), its stdin comes
 * from a file, and every wait for it has a scaled deadline, after which it
 * is killed and the test fails; what a test checks is the exit status and
 * the text a user or a script would read.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "itest.h"
#include "scale.h"
#include "upload_fixture.h"

TestSuite(nasctl, .init = begin_test, .fini = finish_test);

#define ARCH "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32}"
static const char small_spec[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                                 ",\"budget\":{\"epochs\":2},\"seed\":1,\"name\":\"small\","
                                 "\"tags\":[\"cli\"]}";
static const char long_spec[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                                ",\"budget\":{\"epochs\":1000},\"seed\":1,\"name\":\"long\"}";

/* ------------------------------------------------------------ a nasctl */

typedef struct run {
    pid_t pid;
    int status; /* the exit status, or -1 */
    char out_path[PATH_MAX + 32], err_path[PATH_MAX + 32];
    char *out, *err; /* what it wrote (NUL-terminated), once it ended */
} run;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Starts nasctl with argv (NULL-terminated, without the program) and
 * stdin from the text in_text (or /dev/null), in dir. */
static void start_nasctl(run *r, const char *dir, const char *in_text, const char *const *argv)
{
    static int serial;
    char in_path[PATH_MAX + 32];
    memset(r, 0, sizeof(*r));
    r->status = -1;
    serial++;
    snprintf(r->out_path, sizeof(r->out_path), "%s/nasctl-%d.out", dir, serial);
    snprintf(r->err_path, sizeof(r->err_path), "%s/nasctl-%d.err", dir, serial);
    snprintf(in_path, sizeof(in_path), "%s/nasctl-%d.in", dir, serial);
    write_file(in_path, in_text ? in_text : "");
    const char *exe = getenv("NASCTL") ? getenv("NASCTL") : "./nasctl";
    const char *args[32];
    size_t n = 0;
    args[n++] = exe;
    for (size_t i = 0; argv[i]; i++) {
        cr_assert(n < 31);
        args[n++] = argv[i];
    }
    args[n] = NULL;
    fflush(NULL);
    r->pid = fork();
    cr_assert(r->pid >= 0, "fork: %s", strerror(errno));
    if (r->pid == 0) {
        int in = open(in_path, O_RDONLY);
        int out = open(r->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(120);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        unsetenv("NASD_URL");
        unsetenv("NASD_TOKEN_FILE");
        execv(exe, (char *const *)args);
        _exit(121);
    }
}

/* Waits (scaled deadline) for r to end and reads what it wrote. */
static void finish_nasctl(run *r)
{
    int64_t deadline = test_now_ms() + test_scaled_ms(ITEST_JOB_MS);
    int st = 0;
    pid_t got = 0;
    while ((got = waitpid(r->pid, &st, WNOHANG)) == 0 && test_now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (got == 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &st, 0);
        cr_assert_fail("nasctl did not end in time");
    }
    cr_assert(WIFEXITED(st), "nasctl ended by signal %d", WTERMSIG(st));
    r->status = WEXITSTATUS(st);
    cr_assert_neq(r->status, 120, "cannot open nasctl's files");
    cr_assert_neq(r->status, 121, "cannot run nasctl: set NASCTL or run from the build tree");
    r->out = slurp(r->out_path);
    r->err = slurp(r->err_path);
}

static void free_run(run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* nasctl --url http://127.0.0.1:PORT ARGS..., which must exit `status`. */
static void nasctl_at(run *r, const char *dir, int port, const char *in_text, int status,
                      const char *const *argv)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    const char *args[32] = {"--url", url};
    size_t n = 2;
    for (size_t i = 0; argv[i]; i++) {
        cr_assert(n < 31);
        args[n++] = argv[i];
    }
    args[n] = NULL;
    start_nasctl(r, dir, in_text, args);
    finish_nasctl(r);
    cr_assert_eq(r->status, status, "nasctl %s ... exited %d, not %d\nstdout:\n%s\nstderr:\n%s",
                 argv[0], r->status, status, r->out, r->err);
}
#define NASCTL(r, d, in, status, ...)                                                              \
    nasctl_at((r), (d)->dir, (d)->port, (in), (status), (const char *const[]){__VA_ARGS__, NULL})

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ------------------------------------------------------------- tests */

Test(nasctl, follow_get_list_result_model_delete)
{
    nasd_proc d;
    run r;
    char spec[PATH_MAX + 32], id[33], model[PATH_MAX + 32];
    start_in(&d, NULL, itest_one_worker, NULL);
    snprintf(spec, sizeof(spec), "%s/spec.json", d.dir);
    write_file(spec, small_spec);

    /* submit --follow: the id, a progress bar to 100%, the result. */
    NASCTL(&r, &d, NULL, 0, "submit", spec, "--follow");
    cr_assert_eq(strspn(r.out, "0123456789abcdef"), 32, "%s", r.out);
    cr_assert_eq(r.out[32], '\n');
    memcpy(id, r.out, 32);
    id[32] = '\0';
    cr_assert(strstr(r.out, "test_accuracy = "), "%s", r.out);
    cr_assert(strstr(r.out, "fixed-cnn"), "%s", r.out);
    cr_assert(strstr(r.err, "100%"), "no finished progress bar: %s", r.err);
    cr_assert(strstr(r.err, "epoch 2/2"), "%s", r.err);
    free_run(&r);
    json_t *job = get_sub(d.port, id, "");
    cr_assert_str_eq(str_at(job, "state"), "succeeded");
    json_decref(job);

    NASCTL(&r, &d, NULL, 0, "get", id);
    cr_assert(strstr(r.out, "succeeded") && strstr(r.out, "small"), "%s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "--json", "get", id);
    job = json_loads(r.out, 0, NULL);
    cr_assert_str_eq(str_at(job, "id"), id, "%s", r.out);
    json_decref(job);
    free_run(&r);

    /* list: a table, filtered; --all --json joins the pages. */
    NASCTL(&r, &d, NULL, 0, "list", "--name", "small", "--algorithm", "train", "--tag", "cli");
    cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
    cr_assert(strstr(r.out, id) && strstr(r.out, "100%"), "%s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "list", "--tag", "other");
    cr_assert_eq(count_lines(r.out), 1, "a header only: %s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "list", "--all", "--json", "--state=succeeded");
    json_t *page = json_loads(r.out, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 1, "%s", r.out);
    json_decref(page);
    free_run(&r);

    /* result, architectures, metrics. */
    NASCTL(&r, &d, NULL, 0, "result", id);
    cr_assert(strstr(r.out, "test_accuracy = ") && strstr(r.out, "\"hidden\":32"), "%s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "architectures", id);
    cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
    cr_assert(strstr(r.out, "fixed-cnn"), "%s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "metrics", id, "--name", "lr");
    cr_assert_eq(count_lines(r.out), 3, "a header and one lr per epoch: %s", r.out);
    free_run(&r);

    /* model -o: the safetensors file (an 8-byte header length, then its
     * JSON header). */
    snprintf(model, sizeof(model), "%s/model.safetensors", d.dir);
    NASCTL(&r, &d, NULL, 0, "model", id, "-o", model);
    free_run(&r);
    char *m = slurp(model);
    struct stat st;
    cr_assert_eq(stat(model, &st), 0);
    cr_assert_gt(st.st_size, 16);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | (unsigned char)m[i];
    cr_assert_lt(hlen, (uint64_t)st.st_size);
    cr_assert_eq(m[8], '{');
    free(m);

    /* A drawing nasd refuses (a fixed-cnn is not drawn): its problem. */
    NASCTL(&r, &d, NULL, 1, "result", id, "--dot");
    cr_assert(strstr(r.err, "(422)") && strstr(r.err, "cannot draw"), "%s", r.err);
    cr_assert_eq(r.out[0], '\0', "%s", r.out);
    free_run(&r);

    /* cancel of a finished job: 409; delete; then it is gone (404). */
    NASCTL(&r, &d, NULL, 1, "cancel", id);
    cr_assert(strstr(r.err, "(409)") && strstr(r.err, "already succeeded"), "%s", r.err);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "delete", id);
    free_run(&r);
    NASCTL(&r, &d, NULL, 1, "get", id);
    cr_assert(strstr(r.err, "Not found (404)") && strstr(r.err, id), "%s", r.err);
    cr_assert(strstr(r.err, "urn:nasd:problem:not-found"), "%s", r.err);
    free_run(&r);
    stop_ok(&d);
    PASS();
}

/* The first line of a running nasctl's stdout, once it has one. */
typedef struct first_line {
    const char *path;
    char line[64];
} first_line;

static int has_line(void *ctx)
{
    first_line *f = ctx;
    FILE *fp = fopen(f->path, "r");
    int ok = fp && fgets(f->line, sizeof(f->line), fp) && strchr(f->line, '\n');
    if (fp)
        fclose(fp);
    return ok;
}

Test(nasctl, cancel_and_a_cancelled_job_under_follow_exits_4)
{
    nasd_proc d;
    run r, follow;
    char url[64], id[33];
    start_in(&d, NULL, itest_one_worker, NULL);

    /* cancel: a running job is asked to stop. */
    NASCTL(&r, &d, long_spec, 0, "submit", "-");
    memcpy(id, r.out, 32);
    id[32] = '\0';
    free_run(&r);
    wait_state(d.port, id, "running");
    NASCTL(&r, &d, NULL, 0, "cancel", id);
    cr_assert(strstr(r.out, "cancel requested"), "%s", r.out);
    free_run(&r);
    wait_state(d.port, id, "cancelled");

    /* submit --follow of a job cancelled while it is followed: 4. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", d.port);
    start_nasctl(&follow, d.dir, long_spec,
                 (const char *const[]){"--url", url, "submit", "-", "--follow", NULL});
    first_line fl = {.path = follow.out_path};
    cr_assert(nasd_wait_for(test_scaled_ms(ITEST_JOB_MS), has_line, &fl), "no job id printed");
    memcpy(id, fl.line, 32);
    wait_state(d.port, id, "running");
    cancel(d.port, id);
    finish_nasctl(&follow);
    cr_assert_eq(follow.status, 4, "exit %d\n%s\n%s", follow.status, follow.out, follow.err);
    cr_assert(strstr(follow.err, "cancelled"), "%s", follow.err);
    free_run(&follow);
    wait_state(d.port, id, "cancelled");

    /* Two jobs, a page of one: --all walks next_page_token. */
    NASCTL(&r, &d, NULL, 0, "list", "--page-size", "1");
    cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
    cr_assert(strstr(r.out, id), "newest first: %s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "list", "--all", "--page-size", "1", "--state", "cancelled");
    cr_assert_eq(count_lines(r.out), 3, "%s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "list", "-a", "--page-size=1", "--json");
    json_t *page = json_loads(r.out, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 2, "%s", r.out);
    cr_assert(json_is_null(json_object_get(page, "next_page_token")), "%s", r.out);
    json_decref(page);
    free_run(&r);
    NASCTL(&r, &d, NULL, 1, "list", "--page-size", "0");
    cr_assert(strstr(r.err, "page_size"), "nasd's problem names it: %s", r.err);
    free_run(&r);
    stop_ok(&d);
    PASS();
}

Test(nasctl, spec_errors_all_printed_and_dry_run)
{
    nasd_proc d;
    run r;
    start_in(&d, NULL, itest_one_worker, NULL);
    NASCTL(&r, &d,
           "{\"algorithm\":\"train\",\"budget\":{\"epoch\":3},\"hyperparameters\":{\"lr\":-1},"
           "\"nmae\":\"x\"}",
           1, "submit", "-");
    cr_assert(strstr(r.err, "Unknown field (400)"), "%s", r.err);
    cr_assert(strstr(r.err, "errors (3)"), "%s", r.err);
    cr_assert(strstr(r.err, "1. /nmae: "), "%s", r.err);
    cr_assert(strstr(r.err, "did you mean: name"), "%s", r.err);
    cr_assert(strstr(r.err, "2. /budget/epoch: "), "%s", r.err);
    cr_assert(strstr(r.err, "3. /hyperparameters/lr: /hyperparameters/lr must be > 0"), "%s",
              r.err);
    cr_assert_eq(r.out[0], '\0', "%s", r.out);
    free_run(&r);

    /* Invalid JSON: nasd's line and column. */
    NASCTL(&r, &d, "{\"algorithm\":", 1, "submit", "-");
    cr_assert(strstr(r.err, "(400)"), "%s", r.err);
    free_run(&r);

    NASCTL(&r, &d, "{\"algorithm\":\"darts\"}", 0, "submit", "-", "--dry-run");
    json_t *dry = json_loads(r.out, 0, NULL);
    cr_assert(dry, "%s", r.out);
    cr_assert_str_eq(str_at(dry, "spec.search_space"), "darts-cnn");
    cr_assert_gt(int_at(dry, "estimate.memory_bytes"), 0);
    json_decref(dry);
    free_run(&r);
    json_t *page = call(d.port, "GET", "/v1/jobs", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(page, "jobs")), 0, "a job was created");
    json_decref(page);
    stop_ok(&d);
    PASS();
}

Test(nasctl, unreachable_and_usage_errors)
{
    char dir[PATH_MAX], url[64];
    run r;
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);

    /* A port bound but not listening: the connection is refused. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    start_nasctl(&r, dir, NULL, (const char *const[]){"--url", url, "list", NULL});
    finish_nasctl(&r);
    cr_assert_eq(r.status, 3, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "cannot reach nasd at"), "%s", r.err);
    cr_assert_eq(r.out[0], '\0', "%s", r.out);
    free_run(&r);
    close(s);

    /* Usage: 2, said on stderr, before any request. */
    const char *const *const bad[] = {
        (const char *const[]){NULL},
        (const char *const[]){"frobnicate", NULL},
        (const char *const[]){"get", NULL},
        (const char *const[]){"get", "a", "b", NULL},
        (const char *const[]){"list", "--svg", "x.svg", NULL},
        (const char *const[]){"model", "0123", NULL},
        (const char *const[]){"list", "--bogus", NULL},
        (const char *const[]){"list", "--state", NULL},
        (const char *const[]){"list", "--all=yes", NULL},
        (const char *const[]){"submit", "/nonexistent/spec.json", NULL},
        (const char *const[]){"--token-file", "/nonexistent/token", "list", NULL},
        (const char *const[]){"result", "x", "--svg", "a", "--dot", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *args[16] = {"--url", url};
        size_t n = 2;
        for (size_t k = 0; bad[i][k]; k++)
            args[n++] = bad[i][k];
        args[n] = NULL;
        start_nasctl(&r, dir, NULL, args);
        finish_nasctl(&r);
        cr_assert_eq(r.status, 2, "case %zu (%s): exit %d: %s", i, bad[i][0] ? bad[i][0] : "",
                     r.status, r.err);
        cr_assert(strstr(r.err, "nasctl: "), "case %zu: %s", i, r.err);
        free_run(&r);
    }
    start_nasctl(&r, dir, NULL, (const char *const[]){"--help", NULL});
    finish_nasctl(&r);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "exit status") && strstr(r.out, "submit --follow"), "%s", r.out);
    free_run(&r);
    PASS();
}

Test(nasctl, token_file)
{
    nasd_proc d;
    run r;
    char tokens[PATH_MAX + 32], mine[PATH_MAX + 32], wrong[PATH_MAX + 32];
    char dir[PATH_MAX];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    snprintf(mine, sizeof(mine), "%s/mine", dir);
    snprintf(wrong, sizeof(wrong), "%s/wrong", dir);
    write_file(tokens, "# nasd's tokens\nfirst-token-0123456789\nsecond-token-abcdef\n");
    write_file(mine, "\n  # the second of nasd's\nsecond-token-abcdef  \n");
    write_file(wrong, "not-a-token\n");
    start_in(&d, dir, itest_one_worker, (const char *const[]){"--token-file", tokens, NULL});

    NASCTL(&r, &d, NULL, 1, "list");
    cr_assert(strstr(r.err, "(401)"), "%s", r.err);
    free_run(&r);
    NASCTL(&r, &d, NULL, 1, "--token-file", wrong, "list");
    cr_assert(strstr(r.err, "(401)"), "%s", r.err);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "list", "--token-file", mine);
    cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
    free_run(&r);
    /* nasd's own token file works too: its first token. */
    NASCTL(&r, &d, small_spec, 0, "--token-file", tokens, "submit", "-", "--follow");
    cr_assert(strstr(r.out, "test_accuracy = "), "%s", r.out);
    free_run(&r);
    stop_ok(&d);
    PASS();
}

Test(nasctl, follow_reconnects_across_a_nasd_restart)
{
    nasd_proc d;
    run follow;
    char url[64], port[16], listen[32], id[33];
    start_in(&d, NULL, itest_one_worker, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", d.port);
    snprintf(port, sizeof(port), "%d", d.port);
    /* Long enough to be stopped mid-run (a second or more of epochs). */
    start_nasctl(&follow, d.dir,
                 "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                 ",\"budget\":{\"epochs\":6},\"seed\":1}",
                 (const char *const[]){"--url", url, "submit", "-", "--follow", NULL});
    first_line fl = {.path = follow.out_path};
    cr_assert(nasd_wait_for(test_scaled_ms(ITEST_JOB_MS), has_line, &fl), "no job id printed");
    memcpy(id, fl.line, 32);
    id[32] = '\0';
    wait_state(d.port, id, "running");
    stop_ok(&d); /* the job checkpoints and is queued again at the restart */

    /* The same port again: nasctl, retrying, finds it. */
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", port);
    start_in(&d, d.dir, itest_one_worker, (const char *const[]){"--listen", listen, NULL});
    cr_assert_eq(d.port, atoi(port));
    finish_nasctl(&follow);
    cr_assert_eq(follow.status, 0, "exit %d\n%s\n%s", follow.status, follow.out, follow.err);
    cr_assert(strstr(follow.err, "reconnecting (1/"), "%s", follow.err);
    cr_assert(strstr(follow.out, "test_accuracy = "), "%s", follow.out);
    json_t *job = get_sub(d.port, id, "");
    cr_assert_str_eq(str_at(job, "state"), "succeeded");
    cr_assert_eq(int_at(job, "attempt"), 2, "%s", text_of(job));
    json_decref(job);
    free_run(&follow);
    stop_ok(&d);
    PASS();
}

Test(nasctl, dataset_upload_list_get_delete)
{
    nasd_proc d;
    run r;
    start_in(&d, NULL, itest_one_worker, NULL);
    ent es[16];
    char names[16][64], tar[PATH_MAX + 32], text[PATH_MAX + 32], grid[PATH_MAX + 32];
    int n = classes_of(es, 6, PNG_GRAY, 8, 8, names, "");
    es[3].w = 9; /* one of another size: --resize makes it fit */
    size_t len;
    char *body = archive_of(es, n, 0, &len);
    snprintf(tar, sizeof(tar), "%s/photos.tar", d.dir);
    FILE *f = fopen(tar, "wb");
    cr_assert(f && fwrite(body, 1, len, f) == len && fclose(f) == 0);
    free(body);

    NASCTL(&r, &d, NULL, 0, "dataset", "upload", tar, "--resize", "8x8");
    cr_assert(strstr(r.out, "name     photos\n"), "%s", r.out);
    cr_assert(strstr(r.out, "1 x 8 x 8"), "%s", r.out);
    cr_assert(strstr(r.out, "classes  2: a b\n"), "%s", r.out);
    free_run(&r);
    /* Taken: nasd's 409, printed, exit 1; mixed sizes without --resize. */
    NASCTL(&r, &d, NULL, 1, "dataset", "upload", tar);
    cr_assert(strstr(r.err, "409") && strstr(r.err, "exists"), "%s", r.err);
    free_run(&r);
    NASCTL(&r, &d, NULL, 1, "dataset", "upload", tar, "--name", "other");
    cr_assert(strstr(r.err, "d/img03.png") == NULL && strstr(r.err, "a/img03.png (8x9)"), "%s",
              r.err);
    free_run(&r);
    snprintf(text, sizeof(text), "%s/novel.txt", d.dir);
    char lines[2000] = "";
    for (int i = 0; i < 40; i++)
        strcat(lines, i % 2 ? "the cat sat on the mat\n" : "a dog ran to the cat\n");
    write_file(text, lines);
    NASCTL(&r, &d, NULL, 0, "dataset", "upload", text, "--kind", "text", "--name", "corpus");
    cr_assert(strstr(r.out, "kind     text (uploaded)"), "%s", r.out);
    free_run(&r);

    NASCTL(&r, &d, NULL, 0, "dataset", "list");
    cr_assert(strstr(r.out, "photos") && strstr(r.out, "corpus") && strstr(r.out, "synthetic"),
              "%s", r.out);
    cr_assert(strstr(r.out, "1x8x8"), "%s", r.out);
    free_run(&r);
    NASCTL(&r, &d, NULL, 0, "--json", "dataset", "get", "photos");
    json_t *ds = json_loads(r.out, 0, NULL);
    cr_assert(ds, "%s", r.out);
    cr_assert_eq(int_at(ds, "train_size") + int_at(ds, "test_size"), 12, "%s", r.out);
    json_decref(ds);
    free_run(&r);
    snprintf(grid, sizeof(grid), "%s/grid.png", d.dir);
    NASCTL(&r, &d, NULL, 0, "dataset", "get", "photos", "-o", grid);
    free_run(&r);
    f = fopen(grid, "rb");
    uint8_t sig[8] = {0};
    cr_assert(f && fread(sig, 1, 8, f) == 8);
    fclose(f);
    cr_assert_eq(memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0);

    NASCTL(&r, &d, NULL, 0, "dataset", "delete", "photos");
    free_run(&r);
    NASCTL(&r, &d, NULL, 1, "dataset", "get", "photos");
    cr_assert(strstr(r.err, "404"), "%s", r.err);
    free_run(&r);
    /* Usage errors: 2, before any request. */
    const char *const *const bad[] = {
        (const char *const[]){"dataset", NULL},
        (const char *const[]){"dataset", "frob", NULL},
        (const char *const[]){"dataset", "upload", NULL},
        (const char *const[]){"dataset", "get", "a", "b", NULL},
        (const char *const[]){"dataset", "list", "--resize", "8x8", NULL},
        (const char *const[]){"dataset", "upload", "/nonexistent/photos.tar", NULL},
        (const char *const[]){"dataset", "upload", "-", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nasctl_at(&r, d.dir, d.port, NULL, 2, bad[i]);
        cr_assert(strstr(r.err, "nasctl: "), "case %zu: %s", i, r.err);
        free_run(&r);
    }
    stop_ok(&d);
    PASS();
}
