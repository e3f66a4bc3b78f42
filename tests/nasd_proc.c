// SPDX-License-Identifier: MIT
/*
 * nasd_proc.c - starting, stopping and killing nasd children for the
 * integration tests.
 *
 * The one design decision to know: a small registry (one test process
 * runs one test, so plain statics) remembers every child and every
 * temporary directory, because a failed assertion leaves the test function
 * early: the suite's fini hook then calls nasd_cleanup, which still knows
 * what to kill, which logs to show and what to remove.
 */
#include "nasd_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scale.h"
#include "tmpdir.h"

#define MAX_CHILDREN 16
#define MAX_DIRS 16
#define MAX_ARGS 32

static struct child {
    pid_t pid;
    char log[PATH_MAX + 16];
} children[MAX_CHILDREN];
static char dirs[MAX_DIRS][PATH_MAX];
static int ndirs;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int nasd_wait_for(int timeout_ms, int (*cond)(void *ctx), void *ctx)
{
    int64_t deadline = test_now_ms() + test_scaled_ms(timeout_ms);
    for (;;) {
        int r = cond(ctx);
        if (r)
            return r;
        if (test_now_ms() >= deadline)
            return 0;
        sleep_ms(10);
    }
}

/* ------------------------------------------------------------- registry */

static struct child *child_of_log(const char *log)
{
    struct child *free_slot = NULL;
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (strcmp(children[i].log, log) == 0)
            return &children[i];
        if (!free_slot && !children[i].log[0])
            free_slot = &children[i];
    }
    if (free_slot)
        snprintf(free_slot->log, sizeof(free_slot->log), "%s", log);
    return free_slot;
}

static void set_pid(const char *log, pid_t pid)
{
    struct child *c = child_of_log(log);
    if (c)
        c->pid = pid;
}

int nasd_mkdtemp(char *out, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    if (snprintf(out, n, "%s/nasd-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") >= (int)n ||
        !mkdtemp(out)) {
        fprintf(stderr, "nasd_mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    if (ndirs < MAX_DIRS)
        snprintf(dirs[ndirs++], PATH_MAX, "%s", out);
    return 0;
}

/* The last `max` bytes of a log, to stderr. */
static void show_log(const char *log, size_t max)
{
    int fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)max ? size - (off_t)max : 0;
    char buf[4096];
    ssize_t n;
    fprintf(stderr, "---- %s%s ----\n", log, from ? " (tail)" : "");
    lseek(fd, from, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stderr);
    fprintf(stderr, "---- end of %s ----\n", log);
    close(fd);
}

void nasd_cleanup(int failed)
{
    const char *keep = getenv("NASD_TEST_KEEP");
    if (keep && *keep && strcmp(keep, "0") != 0)
        failed = 1;
    for (int i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &children[i];
        if (c->pid > 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
            c->pid = 0;
        }
        if (failed && c->log[0])
            show_log(c->log, 6000);
        c->log[0] = '\0';
    }
    for (int i = 0; i < ndirs; i++) {
        if (failed)
            fprintf(stderr, "kept the state directory %s\n", dirs[i]);
        else
            tmpdir_remove(dirs[i]);
    }
    ndirs = 0;
}

/* ------------------------------------------------------------- children */

/* The whole log from offset `from`, NUL-terminated (malloc'd), or NULL. */
static char *read_log(const char *log, off_t from)
{
    int fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < from)
        from = 0;
    char *buf = malloc((size_t)(size - from) + 1);
    ssize_t got = buf ? pread(fd, buf, (size_t)(size - from), from) : -1;
    close(fd);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

int nasd_log_contains(const nasd_proc *p, const char *text)
{
    char *log = read_log(p->log, 0);
    int found = log && strstr(log, text);
    free(log);
    return found;
}

const char *nasd_log_after(const nasd_proc *p, const char *text, char *out, size_t n)
{
    char *log = read_log(p->log, 0);
    const char *at = log ? strstr(log, text) : NULL;
    if (at) {
        at += strlen(text);
        snprintf(out, n, "%.*s", (int)strcspn(at, "\n"), at);
    }
    free(log);
    return at ? out : NULL;
}

/* Reaps p if it has exited: 1 with *status set, else 0. */
static int reaped(nasd_proc *p, int *status)
{
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r != p->pid)
        return 0;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    set_pid(p->log, 0);
    p->pid = 0;
    return 1;
}

int nasd_start(nasd_proc *p, const char *dir, const char *const *args, int timeout_ms)
{
    const char *bin = getenv("NASD");
    if (!bin || !*bin)
        bin = "./nasd";
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "%s", dir);
    snprintf(p->log, sizeof(p->log), "%s/nasd.log", dir);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "nasd_start: %s is not executable (set NASD to nasd's path): %s\n", bin,
                strerror(errno));
        return -1;
    }
    const char *argv[MAX_ARGS] = {bin, "--listen", "127.0.0.1:0", "--state-dir", dir};
    int argc = 5;
    for (int i = 0; args && args[i]; i++) {
        if (argc + 1 >= MAX_ARGS) {
            fprintf(stderr, "nasd_start: too many arguments\n");
            return -1;
        }
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;

    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "nasd_start: %s: %s\n", p->log, strerror(errno));
        return -1;
    }
    off_t from = lseek(fd, 0, SEEK_END);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "nasd_start: fork: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    if (pid == 0) {
        /* Die with the test, even when it is killed for a timeout. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    set_pid(p->log, pid);

    int64_t deadline = test_now_ms() + test_scaled_ms(timeout_ms);
    static const char tag[] = "listening on http://127.0.0.1:";
    for (;;) {
        char *log = read_log(p->log, from);
        const char *at = log ? strstr(log, tag) : NULL;
        if (at)
            p->port = atoi(at + sizeof(tag) - 1);
        free(log);
        if (p->port > 0)
            return 0;
        int status;
        if (reaped(p, &status)) {
            fprintf(stderr, "nasd_start: nasd exited with status %d before listening\n", status);
            show_log(p->log, 6000);
            return -1;
        }
        if (test_now_ms() >= deadline) {
            fprintf(stderr, "nasd_start: no listening line within %d ms\n", timeout_ms);
            nasd_kill9(p);
            show_log(p->log, 6000);
            return -1;
        }
        sleep_ms(10);
    }
}

int nasd_stop(nasd_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int64_t deadline = test_now_ms() + test_scaled_ms(timeout_ms);
    int status;
    while (!reaped(p, &status)) {
        if (test_now_ms() >= deadline) {
            fprintf(stderr, "nasd_stop: nasd did not exit within %d ms of SIGTERM\n", timeout_ms);
            nasd_kill9(p);
            return -1;
        }
        sleep_ms(10);
    }
    return status;
}

int nasd_wait_exit(nasd_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    int64_t deadline = test_now_ms() + test_scaled_ms(timeout_ms);
    int status;
    while (!reaped(p, &status)) {
        if (test_now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
    return status;
}

void nasd_kill9(nasd_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    set_pid(p->log, 0);
    p->pid = 0;
}
