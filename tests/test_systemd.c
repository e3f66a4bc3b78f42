// SPDX-License-Identifier: MIT
/*
 * test_systemd.c - nasd under systemd, without systemd: a real nasd
 * against the test's own stand-ins for what systemd provides.
 *
 *   - the notify protocol: the test binds the NOTIFY_SOCKET datagram
 *     socket and reads what nasd says: READY=1 only once /healthz answers
 *     (and never when the listen fails), STATUS= with the queue, WATCHDOG=1
 *     pings that stop while a worker is stuck (the test freezes the worker
 *     thread alone with ptrace) and resume after, STOPPING=1 with
 *     EXTEND_TIMEOUT_USEC while a job checkpoints on SIGTERM;
 *   - socket activation by systemd-socket-activate (Debian's systemd
 *     package), with a --listen nasd could not bind, so only the passed
 *     socket can serve;
 *   - the journal: nasd runs in a private mount namespace whose
 *     /run/systemd/journal/socket is the test's socket, with JOURNAL_STREAM
 *     naming its stderr, and must send structured entries (PRIORITY=,
 *     JOB_ID=) there and nothing to stderr; --log-target stderr and
 *     --log-level warning turn that off and filter.
 *
 * The one design decision to know: these tests start nasd with their own
 * fork/exec (environment, wrappers), so they keep their own list of
 * children; the fini hook kills what is left and shows the logs of a
 * failed test, as nasd_proc.c does for its children.
 */
#include <criterion/criterion.h>

#include "itest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scale.h"

/* Generous deadlines: the suite also runs under ASan on 2 busy cores.
 * Every deadline, sleep and window here is times NASD_TEST_TIMEOUT_SCALE
 * (tests/scale.h). */
#define START_MS test_scaled_ms(20000)
#define STOP_MS test_scaled_ms(30000)
#define EVENT_MS test_scaled_ms(15000)
/* The watchdog interval given to nasd, WD_S seconds (1 times the scale):
 * pings every WD_S / 2, and a worker without a step for WD_S is stuck. */
#define WD_S test_timeout_scale()
#define WATCHDOG_USEC (1000000LL * WD_S)

#define ARCH "\"architecture\":{\"space\":\"fixed-cnn\",\"channels\":[8,16],\"hidden\":32}"
/* Long enough to freeze and to interrupt; never run to its end. */
static const char long_job[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
                               ",\"budget\":{\"epochs\":1000},\"seed\":1}";

/* ------------------------------------------------------------- children */

static struct {
    pid_t pid;
    char log[PATH_MAX + 16];
} kids[8];
/* The nasd threads this test holds stopped: they must be let go before
 * their process is killed, or the kill's waitpid never returns (a traced
 * thread's exit waits for its tracer). */
static pid_t frozen[64];
static int nfrozen;

static void thaw_job(void);

static void show_log(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char buf[4096];
    size_t n;
    fprintf(stderr, "---- %s ----\n", log);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of %s ----\n", log);
    fclose(f);
}

/* finish_test (tests/itest.h) once this file's own children are gone. */
static void finish_systemd_test(void)
{
    thaw_job();
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        if (kids[i].pid > 0) {
            kill(kids[i].pid, SIGKILL);
            waitpid(kids[i].pid, NULL, 0);
        }
        if (!itest_passed && kids[i].log[0])
            show_log(kids[i].log);
        kids[i].pid = 0;
        kids[i].log[0] = '\0';
    }
    finish_test();
}

TestSuite(systemd, .init = begin_test, .fini = finish_systemd_test);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *nasd_bin(void)
{
    const char *b = getenv("NASD");
    return b && *b ? b : "./nasd";
}

/* fork + exec argv (PATH searched) with `env` ("K=V" strings, NULL-ended)
 * added to the environment and stdout/stderr appended to log. The child
 * dies with the test. */
static pid_t spawn(const char *const *argv, const char *const *env, const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "%s: %s", log, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        if (kids[i].pid == 0) {
            kids[i].pid = pid;
            snprintf(kids[i].log, sizeof(kids[i].log), "%s", log);
            break;
        }
    return pid;
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        if (kids[i].pid == pid)
            kids[i].pid = 0;
}

/* Waits up to ms for pid to exit: its status as nasd_stop gives it, or
 * -1 when it is still running. */
static int wait_exit(pid_t pid, int ms)
{
    double deadline = now_s() + ms / 1e3;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            forget(pid);
            return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
        }
        if (now_s() >= deadline)
            return -1;
        usleep(10000);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 4096) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static int file_contains(const char *path, const char *text)
{
    char *s = slurp(path);
    int found = s && strstr(s, text);
    free(s);
    return found;
}

/* The port of nasd's "listening on http://127.0.0.1:PORT" line in text. */
static int port_in(const char *text)
{
    static const char tag[] = "listening on http://127.0.0.1:";
    const char *at = text ? strstr(text, tag) : NULL;
    return at ? atoi(at + sizeof(tag) - 1) : 0;
}

/* A port that was free a moment ago (for systemd-socket-activate, which
 * takes no port 0): bound by the kernel's choice, then released. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------- the datagram sockets */

/* What nasd sends to a socket of the test (NOTIFY_SOCKET or the journal),
 * each datagram with the time it was read. */
typedef struct sink {
    int fd;
    char path[108];
    char *msg[4096];
    double at[4096];
    int n;
} sink;

static sink notify_sink, journal_sink;

static void sink_open(sink *k, const char *dir, const char *name)
{
    memset(k, 0, sizeof(*k));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    cr_assert((size_t)snprintf(k->path, sizeof(k->path), "%s/%s", dir, name) < sizeof(a.sun_path),
              "socket path too long: %s/%s", dir, name);
    memcpy(a.sun_path, k->path, strlen(k->path) + 1);
    k->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(k->fd >= 0 && bind(k->fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind %s: %s",
              k->path, strerror(errno));
}

static void sink_close(sink *k)
{
    if (k->fd > 0)
        close(k->fd);
    for (int i = 0; i < k->n; i++)
        free(k->msg[i]);
    k->n = 0;
    k->fd = -1;
}

/* Reads what arrives within ms (every datagram is kept). */
static void sink_read(sink *k, int ms)
{
    double deadline = now_s() + ms / 1e3;
    for (;;) {
        int left = (int)((deadline - now_s()) * 1e3);
        struct pollfd p = {k->fd, POLLIN, 0};
        if (poll(&p, 1, left > 0 ? left : 0) <= 0)
            return;
        char buf[8192];
        ssize_t got = recv(k->fd, buf, sizeof(buf) - 1, 0);
        if (got < 0)
            continue;
        buf[got] = '\0';
        if (k->n < (int)(sizeof(k->msg) / sizeof(k->msg[0]))) {
            k->msg[k->n] = strdup(buf);
            k->at[k->n++] = now_s();
        }
    }
}

/* The index of the first datagram at or after `from` holding all of the
 * NULL-terminated texts, reading up to ms for it; -1 if none came. */
static int sink_wait(sink *k, int from, int ms, const char *const *texts)
{
    double deadline = now_s() + ms / 1e3;
    for (;;) {
        for (int i = from; i < k->n; i++) {
            int all = 1;
            for (int t = 0; texts[t] && all; t++)
                all = strstr(k->msg[i], texts[t]) != NULL;
            if (all)
                return i;
        }
        if (now_s() >= deadline)
            return -1;
        from = k->n;
        sink_read(k, 20);
    }
}

static int sink_wait1(sink *k, int from, int ms, const char *text)
{
    const char *const texts[] = {text, NULL};
    return sink_wait(k, from, ms, texts);
}

/* Datagrams holding text read in [t0, t1]. */
static int sink_count(const sink *k, const char *text, double t0, double t1)
{
    int c = 0;
    for (int i = 0; i < k->n; i++)
        c += k->at[i] >= t0 && k->at[i] <= t1 && strstr(k->msg[i], text);
    return c;
}

/* ------------------------------------------------------------ the API */

static int healthz(int port)
{
    http_resp r;
    int status = http_get(port, "/healthz", &r) == 0 ? r.status : -1;
    http_resp_free(&r);
    return status;
}

/* The threads of pid whose name (comm) is `name`, up to max: how many.
 * A worker's name is inherited by the threads its job starts. */
static int threads_named(pid_t pid, const char *name, pid_t *out, int max)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    int found = 0;
    struct dirent *e;
    while (d && found < max && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char comm_path[512], comm[32] = "";
        snprintf(comm_path, sizeof(comm_path), "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(comm_path, "r");
        if (f && fgets(comm, sizeof(comm), f)) {
            comm[strcspn(comm, "\n")] = '\0';
            if (strcmp(comm, name) == 0)
                out[found++] = (pid_t)atoi(e->d_name);
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return found;
}

/* Stops the threads of worker 0 of pid - the worker and those its job
 * started - and no other (ptrace works per thread; SIGSTOP would stop the
 * whole process): 0 once they are all stopped. */
static int freeze_job(pid_t pid)
{
    pid_t tids[64];
    int n = threads_named(pid, "nasd-worker-0", tids, 64);
    if (n == 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) != 0)
            return -1;
        frozen[nfrozen++] = tids[i];
        int st;
        if (ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL) != 0 ||
            waitpid(tids[i], &st, __WALL) != tids[i] || !WIFSTOPPED(st))
            return -1;
    }
    return 0;
}

static void thaw_job(void)
{
    for (int i = 0; i < nfrozen; i++)
        ptrace(PTRACE_DETACH, frozen[i], NULL, NULL);
    nfrozen = 0;
}

/* /healthz with a short timeout: whether the loop answers now. */
static int loop_answers(int port)
{
    http_resp r;
    int ok = http_request(port, "GET", "/healthz", NULL, NULL, 0, 2000, &r) == 0 && r.status == 200;
    http_resp_free(&r);
    return ok;
}

/* ------------------------------------------------------------ the tests */

/* READY=1, STATUS=, WATCHDOG=1 (stopping while a worker is stuck),
 * STOPPING=1 and EXTEND_TIMEOUT_USEC, against a fake NOTIFY_SOCKET. */
Test(systemd, notify_protocol)
{
    char dir[PATH_MAX], log[PATH_MAX + 16], env_sock[PATH_MAX + 32], env_wd[64], db[PATH_MAX + 16];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(log, sizeof(log), "%s/nasd.log", dir);
    snprintf(db, sizeof(db), "%s/nasd.db", dir);
    sink *k = &notify_sink;
    sink_open(k, dir, "notify");
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%.107s", k->path);
    snprintf(env_wd, sizeof(env_wd), "WATCHDOG_USEC=%lld", WATCHDOG_USEC);
    const char *const env[] = {env_sock, env_wd, NULL};
    /* clang-format off */
    const char *const argv[] = {nasd_bin(), "--listen", "127.0.0.1:0", "--state-dir", dir,
                                "--workers", "1", "--threads-per-job", "1", NULL};
    /* clang-format on */
    pid_t pid = spawn(argv, env, log);

    /* READY=1: the socket listens (/healthz answers at once), the
     * database exists, and the first STATUS= comes with it. */
    int ready = sink_wait1(k, 0, START_MS, "READY=1");
    cr_assert(ready >= 0, "no READY=1 within %d ms", START_MS);
    char *text = slurp(log);
    int port = port_in(text);
    free(text);
    cr_assert(port > 0, "READY=1 came before the listening line");
    cr_assert_eq(healthz(port), 200, "/healthz right after READY=1");
    struct stat st;
    cr_assert_eq(stat(db, &st), 0, "READY=1 before the database exists");
    cr_assert(strstr(k->msg[ready], "STATUS=0 job(s) queued, 0 running"), "READY datagram: %s",
              k->msg[ready]);
    for (int i = 0; i < ready; i++)
        cr_assert(!strstr(k->msg[i], "READY=1"), "READY=1 twice");

    /* Pings at half the interval while nothing runs. */
    double t0 = now_s();
    int p1 = sink_wait1(k, ready + 1, 3000 * WD_S, "WATCHDOG=1");
    cr_assert(p1 >= 0, "no WATCHDOG=1 within %d s of READY=1", 3 * WD_S);
    cr_assert(sink_wait1(k, p1 + 1, 3000 * WD_S, "WATCHDOG=1") >= 0, "only one WATCHDOG=1");
    cr_assert(now_s() - t0 < 3.0 * WD_S, "two pings took %.1f s at a %.1f s period", now_s() - t0,
              0.5 * WD_S);

    /* STATUS= follows the queue: one running, then one queued behind it. */
    char id1[33], id2[33];
    int mark = k->n;
    submit(port, long_job, id1);
    int s1 = sink_wait1(k, mark, EVENT_MS, "STATUS=0 job(s) queued, 1 running");
    cr_assert(s1 >= 0, "no STATUS= with the running job");
    submit(port, long_job, id2);
    int s2 = sink_wait1(k, s1 + 1, EVENT_MS, "STATUS=1 job(s) queued, 1 running");
    cr_assert(s2 >= 0, "no STATUS= with the queued job");
    const char *last_status = NULL;
    for (int i = 0; i < k->n; i++) {
        const char *st_line = strstr(k->msg[i], "STATUS=");
        if (!st_line)
            continue;
        cr_assert(!last_status || strcmp(last_status, st_line) != 0,
                  "STATUS= sent again unchanged: %s", st_line);
        last_status = st_line;
    }

    /* The worker steps: wait for its first progress so that the freeze
     * below stops a job in the middle of its steps. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s", id1);
    double deadline = now_s() + EVENT_MS / 1e3;
    for (int stepping = 0; !stepping;) {
        cr_assert(now_s() < deadline, "job %s made no progress", id1);
        http_resp r;
        cr_assert_eq(http_get(port, path, &r), 0);
        json_t *j = http_json(&r);
        json_t *prog = json_object_get(j, "progress");
        stepping = json_integer_value(json_object_get(prog, "step")) > 0;
        json_decref(j);
        http_resp_free(&r);
        sink_read(k, 50);
    }

    /* A stuck worker: its thread frozen, the loop still answering. After
     * the stall limit (WD_S) and one period (WD_S / 2), plus WD_S for a
     * slow reader, no more pings. A freeze that caught the worker inside a
     * lock the loop also takes (stderr's, while it logs an epoch) stops
     * the loop too: thaw and try again. */
    char stall_line[64];
    snprintf(stall_line, sizeof(stall_line), "while workers step at least every %d s", WD_S);
    cr_assert(file_contains(log, stall_line),
              "nasd did not take the %d s watchdog interval as its stall limit", WD_S);
    double stuck = 0, checked = 0;
    for (int attempt = 0; attempt < 5 && !stuck; attempt++) {
        cr_assert_eq(freeze_job(pid), 0, "ptrace of nasd-worker-0's threads: %s", strerror(errno));
        double t = now_s();
        sink_read(k, 5000 * WD_S);
        checked = now_s();
        if (loop_answers(port)) {
            stuck = t;
        } else {
            thaw_job();
            sink_read(k, 1500 * WD_S);
        }
    }
    cr_assert(stuck > 0, "the loop stopped whenever the worker was frozen");
    int late = sink_count(k, "WATCHDOG=1", stuck + 2.5 * WD_S, checked);
    cr_assert_eq(late, 0, "%d WATCHDOG=1 ping(s) more than %.1f s into a stuck worker", late,
                 2.5 * WD_S);
    cr_assert(file_contains(log, "watchdog pings stop"), "nasd did not say why pings stopped");

    /* Thawed, the worker steps again and the pings come back. */
    thaw_job();
    double thawed = now_s();
    int back = sink_wait1(k, k->n, 5000 * WD_S, "WATCHDOG=1");
    cr_assert(back >= 0 && k->at[back] >= thawed, "no WATCHDOG=1 after the worker was thawed");
    cr_assert(file_contains(log, "watchdog pings resume"));

    /* SIGTERM with a job running: STOPPING=1 and more time to checkpoint. */
    mark = k->n;
    kill(pid, SIGTERM);
    const char *const stopping[] = {"STOPPING=1", "EXTEND_TIMEOUT_USEC=", NULL};
    int stop = sink_wait(k, mark, EVENT_MS, stopping);
    cr_assert(stop >= 0, "no STOPPING=1 with EXTEND_TIMEOUT_USEC= after SIGTERM");
    cr_assert(strstr(k->msg[stop], "STATUS=stopping: 1 job(s) checkpointing"), "%s", k->msg[stop]);
    int rc = -1;
    for (double end = now_s() + STOP_MS / 1e3; rc < 0 && now_s() < end;) {
        sink_read(k, 50);
        rc = wait_exit(pid, 0);
    }
    cr_assert_eq(rc, 0, "nasd exited with %d after SIGTERM", rc);
    cr_assert(file_contains(log, "checkpointed for shutdown"));
    sink_close(k);
    PASS();
}

/* No READY=1 when nasd cannot listen: it must exit non-zero instead. */
Test(systemd, no_ready_without_listening)
{
    char dir[PATH_MAX], log[PATH_MAX + 16], env_sock[PATH_MAX + 32], where[64];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(log, sizeof(log), "%s/nasd.log", dir);
    sink *k = &notify_sink;
    sink_open(k, dir, "notify");
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%.107s", k->path);
    /* The port is taken: by this test's listening socket. */
    int taken = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(taken >= 0 && bind(taken, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              listen(taken, 1) == 0 && getsockname(taken, (struct sockaddr *)&a, &len) == 0);
    snprintf(where, sizeof(where), "127.0.0.1:%d", ntohs(a.sin_port));
    const char *const env[] = {env_sock, NULL};
    const char *const argv[] = {nasd_bin(), "--listen", where, "--state-dir", dir, NULL};
    pid_t pid = spawn(argv, env, log);
    int rc = -1;
    for (double end = now_s() + START_MS / 1e3; rc < 0 && now_s() < end;) {
        sink_read(k, 50);
        rc = wait_exit(pid, 0);
    }
    sink_read(k, test_scaled_ms(200));
    close(taken);
    cr_assert(rc > 0, "nasd on a taken port: exit status %d", rc);
    for (int i = 0; i < k->n; i++)
        cr_assert(!strstr(k->msg[i], "READY=1"), "READY=1 although the listen failed: %s",
                  k->msg[i]);
    sink_close(k);
    PASS();
}

/* systemd-socket-activate listens and starts nasd on the first
 * connection; nasd must serve on that socket (its own --listen address
 * is one it could not bind). */
Test(systemd, socket_activation)
{
    char dir[PATH_MAX], log[PATH_MAX + 16], addr[64], tag[96];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(log, sizeof(log), "%s/nasd.log", dir);
    int port = free_port();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    const char *const argv[] = {"systemd-socket-activate", "-l", addr, nasd_bin(),
                                /* TEST-NET-1: not an address of this machine */
                                "--listen", "192.0.2.1:9", "--state-dir", dir, NULL};
    pid_t pid = spawn(argv, NULL, log);
    snprintf(tag, sizeof(tag), "Listening on %s", addr);
    double deadline = now_s() + START_MS / 1e3;
    while (!file_contains(log, tag)) {
        cr_assert(wait_exit(pid, 0) < 0, "systemd-socket-activate exited (is it installed? "
                                         "apt-get install systemd)");
        cr_assert(now_s() < deadline, "systemd-socket-activate is not listening on %s", addr);
        usleep(10000);
    }
    /* The first connection starts nasd; the request waits in the backlog. */
    cr_assert_eq(healthz(port), 200, "GET /healthz through the activated socket");
    http_resp r;
    cr_assert_eq(http_get(port, "/v1/jobs", &r), 0);
    cr_assert_eq(r.status, 200, "GET /v1/jobs: %d", r.status);
    http_resp_free(&r);
    cr_assert(file_contains(log, "socket activation: listening on the socket systemd passed"));
    char *text = slurp(log);
    cr_assert_eq(port_in(text), port, "nasd names the activated address");
    free(text);
    kill(pid, SIGTERM);
    int rc = wait_exit(pid, STOP_MS);
    cr_assert_eq(rc, 0, "nasd exited with %d after SIGTERM", rc);
    PASS();
}

/* Under systemd (JOURNAL_STREAM names stderr) lines are journal entries
 * with PRIORITY= and, about a job, JOB_ID=; stderr stays empty of them. */
/* Starts nasd with args (after --listen 127.0.0.1:0 --state-dir dir) as
 * systemd would with StandardError=journal: stderr (dir/nasd.log) named by
 * JOURNAL_STREAM, and journald's socket being k's, in a private mount
 * namespace (a user namespace too when not root) whose /run is a fresh
 * tmpfs. extra: one more "K=V" for the environment, or NULL. */
static pid_t spawn_under_journal(sink *k, const char *dir, const char *log, const char *const *args,
                                 const char *extra)
{
    static char env_js[96];
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    cr_assert(fd >= 0 && fstat(fd, &st) == 0);
    close(fd);
    snprintf(env_js, sizeof(env_js), "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    const char *const env[] = {env_js, extra, NULL};
    static const char script[] =
        "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
        ": > /run/systemd/journal/socket && mount --bind \"$0\" /run/systemd/journal/socket && "
        "exec \"$@\"";
    const char *argv[32] = {"unshare",
                            geteuid() == 0 ? "-m" : "-Urm",
                            "sh",
                            "-c",
                            script,
                            k->path,
                            nasd_bin(),
                            "--listen",
                            "127.0.0.1:0",
                            "--state-dir",
                            dir};
    int argc = 11;
    for (int i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    return spawn(argv, env, log);
}

Test(systemd, journal)
{
    char dir[PATH_MAX], log[PATH_MAX + 16];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(log, sizeof(log), "%s/nasd.log", dir);
    sink *k = &journal_sink;
    sink_open(k, dir, "journal");
    const char *const args[] = {"--log-level",       "debug", "--workers", "1",
                                "--threads-per-job", "1",     NULL};
    pid_t pid = spawn_under_journal(k, dir, log, args, NULL);

    const char *const listening[] = {"MESSAGE=nasd ", "listening on http://127.0.0.1:", NULL};
    int at = sink_wait(k, 0, START_MS, listening);
    if (at < 0)
        cr_assert(wait_exit(pid, 0) < 0, "nasd (in its namespace) exited before listening");
    cr_assert(at >= 0, "no listening line in the journal within %d ms", START_MS);
    cr_assert(strstr(k->msg[at], "\nPRIORITY=6\n"), "info line: %s", k->msg[at]);
    cr_assert(strstr(k->msg[at], "SYSLOG_IDENTIFIER=nasd"), "%s", k->msg[at]);
    cr_assert(!strstr(k->msg[at], "JOB_ID="), "a line about no job has JOB_ID=: %s", k->msg[at]);
    int port = port_in(k->msg[at]);
    cr_assert(port > 0);
    cr_assert(sink_wait1(k, 0, 100, "\nPRIORITY=7\n") >= 0, "--log-level debug: no debug entry");

    char id[33], job_id[96], started[96];
    submit(port,
           "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"," ARCH
           ",\"budget\":{\"epochs\":1},\"seed\":2}",
           id);
    snprintf(job_id, sizeof(job_id), "JOB_ID=%s", id);
    snprintf(started, sizeof(started), "MESSAGE=job %s started", id);
    const char *const job_line[] = {started, job_id, "PRIORITY=6", NULL};
    cr_assert(sink_wait(k, at, EVENT_MS, job_line) >= 0, "no journal entry for job %s with %s", id,
              job_id);
    cr_assert(!file_contains(log, "listening on"), "log lines went to stderr too");

    kill(pid, SIGTERM);
    int rc = -1;
    for (double end = now_s() + STOP_MS / 1e3; rc < 0 && now_s() < end;) {
        sink_read(k, 50);
        rc = wait_exit(pid, 0);
    }
    cr_assert_eq(rc, 0, "nasd exited with %d after SIGTERM", rc);
    cr_assert(sink_wait1(k, 0, 0, "MESSAGE=stopped") >= 0, "no 'stopped' entry");
    sink_close(k);
    PASS();
}

/* --log-target stderr wins over a JOURNAL_STREAM that names stderr, and
 * --log-level warning (the spelling systemd uses) keeps info lines out:
 * the journal gets nothing, stderr only what is a warning or worse. */
Test(systemd, log_target_and_level)
{
    char dir[PATH_MAX], log[PATH_MAX + 16], env_sock[PATH_MAX + 32];
    cr_assert_eq(nasd_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(log, sizeof(log), "%s/nasd.log", dir);
    sink *k = &journal_sink, *n = &notify_sink;
    sink_open(k, dir, "journal");
    sink_open(n, dir, "notify");
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%.107s", n->path);
    /* A token file others can read: nasd warns about it at start. */
    char token[PATH_MAX + 16];
    snprintf(token, sizeof(token), "%s/token", dir);
    FILE *f = fopen(token, "w");
    cr_assert(f && fputs("a-token-for-the-log-test\n", f) >= 0 && fclose(f) == 0);
    cr_assert_eq(chmod(token, 0644), 0);
    const char *const args[] = {"--log-target", "stderr", "--log-level", "warning",
                                "--token-file", token,    NULL};
    pid_t pid = spawn_under_journal(k, dir, log, args, env_sock);
    if (sink_wait1(n, 0, START_MS, "READY=1") < 0)
        cr_assert_fail("no READY=1 within %d ms (exit status %d)", START_MS, wait_exit(pid, 0));
    kill(pid, SIGTERM);
    int rc = -1;
    for (double end = now_s() + STOP_MS / 1e3; rc < 0 && now_s() < end;) {
        sink_read(n, 50);
        rc = wait_exit(pid, 0);
    }
    cr_assert_eq(rc, 0, "nasd exited with %d after SIGTERM", rc);
    sink_read(k, test_scaled_ms(100));
    cr_assert_eq(k->n, 0, "--log-target stderr, yet %d journal entries: %s", k->n,
                 k->n ? k->msg[0] : "");
    cr_assert(file_contains(log, "nasd warn: token file"), "no warning on stderr");
    cr_assert(!file_contains(log, " info: "), "--log-level warning, yet info lines on stderr");
    cr_assert(!file_contains(log, "listening on"), "--log-level warning, yet the info line");
    sink_close(n);
    sink_close(k);
    PASS();
}
