// SPDX-License-Identifier: MIT
/*
 * ranks.c - a job on several Open MPI ranks (issue #18), run from its
 * worker slot: mpirun -np N ... nasd-rank ... SPEC, whose rank 0 reports
 * on mpirun's stdout (the line protocol is rank/nasd_rank.c's), decoded
 * here into the worker's own reporter, so the database, the event
 * streams and the dashboard get exactly what a job run in process gives
 * them. The slot stays busy until mpirun exits.
 *
 * The one design decision to know: nasd reaches the ranks only through
 * mpirun's standard streams and its life. A cancel or a shutdown is a
 * line on mpirun's stdin, which mpirun hands to rank 0, and rank 0's
 * decision reaches the others between steps. If nasd dies, even by
 * kill -9, mpirun gets SIGTERM from the kernel (PR_SET_PDEATHSIG, set
 * for the worker thread that forks it) and takes its ranks down with it,
 * and rank 0 also sees its stdin end: no orphans; the job is requeued by
 * the next nasd and resumes from rank 0's last checkpoint. As root,
 * mpirun refuses to start without its two allow-run-as-root variables:
 * they are set for it only when nasd runs as root.
 */
#include "config.h"
#include "nd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef NASD_MPIRUN_PATH /* built without Open MPI: nd_ranks_run refuses first */
#define NASD_MPIRUN_PATH "mpirun"
#endif

#define MAX_ARGS 96

/* The rank program: the configured one, or nasd-rank beside nasd. */
static int rank_program(const nd_config *cfg, char *out, size_t n)
{
    if (cfg->rank_program[0]) {
        snprintf(out, n, "%s", cfg->rank_program);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k <= 0)
        return -1;
    exe[k] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    slash[1] = '\0';
    return snprintf(out, n, "%snasd-rank", exe) >= (int)n ? -1 : 0;
}

int nd_ranks_built(void)
{
#ifdef NASD_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

/* -------------------------------------------------------- decoding */

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

typedef struct run {
    const nas_job_reporter *rep;
    int done, rc;
    char error[512];
    char last_err[512]; /* mpirun's last line on stderr */
} run;

static void line_out(run *r, const char *line)
{
    const nas_job_reporter *rep = r->rep;
    json_t *o = json_loads(line, 0, NULL);
    const char *ev = str(o, "ev");
    if (!ev) { /* not ours: a library's output, kept in the log */
        if (rep->log && line[0])
            rep->log(rep->ctx, line);
    } else if (!strcmp(ev, "progress") && rep->progress) {
        nas_job_progress p = {.epoch = (int)num(o, "epoch"),
                              .epochs = (int)num(o, "epochs"),
                              .step = (int64_t)num(o, "step"),
                              .steps = (int64_t)num(o, "steps"),
                              .fraction = num(o, "fraction"),
                              .eta_seconds = num(o, "eta")};
        if (isnan(p.eta_seconds))
            p.eta_seconds = -1;
        rep->progress(rep->ctx, &p);
    } else if (!strcmp(ev, "metric") && rep->metric && str(o, "name")) {
        rep->metric(rep->ctx, (int)num(o, "epoch"), (int64_t)num(o, "step"), str(o, "name"),
                    num(o, "value"));
    } else if (!strcmp(ev, "architecture") && rep->architecture && str(o, "arch")) {
        rep->architecture(rep->ctx, str(o, "arch"), num(o, "reward"), str(o, "metrics"));
    } else if (!strcmp(ev, "checkpoint") && rep->checkpoint && str(o, "path")) {
        rep->checkpoint(rep->ctx, str(o, "path"), (int64_t)num(o, "step"));
    } else if (!strcmp(ev, "result") && rep->result && str(o, "metric")) {
        rep->result(rep->ctx, str(o, "arch"), str(o, "metric"), num(o, "value"), str(o, "result"));
    } else if (!strcmp(ev, "log") && rep->log && str(o, "msg")) {
        rep->log(rep->ctx, str(o, "msg"));
    } else if (!strcmp(ev, "done")) {
        r->done = 1;
        r->rc = (int)num(o, "rc");
        snprintf(r->error, sizeof(r->error), "%s", str(o, "error") ? str(o, "error") : "");
    }
    json_decref(o);
}

static void line_err(run *r, const char *line)
{
    if (!line[0])
        return;
    size_t n = strnlen(line, sizeof(r->last_err) - 1);
    memcpy(r->last_err, line, n);
    r->last_err[n] = '\0';
    if (r->rep->log)
        r->rep->log(r->rep->ctx, line);
}

/* A stream cut into lines: reads what fd has, hands each whole line to
 * fn; 0 at end of file (the rest handed over as a line). */
typedef struct stream {
    int fd;
    char buf[1 << 16];
    size_t len;
} stream;

static int drain(stream *s, run *r, void (*fn)(run *, const char *))
{
    ssize_t k = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
    if (k < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (k > 0)
        s->len += (size_t)k;
    char *start = s->buf, *nl;
    s->buf[s->len] = '\0';
    while ((nl = memchr(start, '\n', s->len - (size_t)(start - s->buf)))) {
        *nl = '\0';
        fn(r, start);
        start = nl + 1;
    }
    s->len -= (size_t)(start - s->buf);
    memmove(s->buf, start, s->len);
    if (k > 0 && s->len < sizeof(s->buf) - 1)
        return 1;
    /* End of file, an error, or a line longer than the buffer. */
    s->buf[s->len] = '\0';
    if (s->len)
        fn(r, s->buf);
    s->len = 0;
    return k > 0;
}

/* ----------------------------------------------------------- the run */

/* Copies src into the bump store b (len bytes left in *left); NULL when
 * it is full. */
static char *keep(char **b, size_t *left, const char *src)
{
    size_t n = strlen(src) + 1;
    if (n > *left)
        return NULL;
    char *p = memcpy(*b, src, n);
    *b += n;
    *left -= n;
    return p;
}

/* argv of mpirun: the strings are cfg's, es's, spec_text or copies in
 * store. -1 when they do not fit or the rank program has no path. */
static int make_argv(const nd_config *cfg, const char *spec_text, const nas_job_spec *es, int ranks,
                     char *store, size_t left, char **argv)
{
    char num[32], prog[PATH_MAX], *b = store;
    int n = 0;
    if (rank_program(cfg, prog, sizeof(prog)) != 0)
        return -1;
    argv[n++] = keep(&b, &left, cfg->mpirun[0] ? cfg->mpirun : NASD_MPIRUN_PATH);
    argv[n++] = "-np";
    snprintf(num, sizeof(num), "%d", ranks);
    argv[n++] = keep(&b, &left, num);
    if (cfg->mpi_hostfile[0]) {
        argv[n++] = "--hostfile";
        argv[n++] = (char *)cfg->mpi_hostfile;
    }
    char extra[ND_LIST_MAX];
    snprintf(extra, sizeof(extra), "%s", cfg->mpirun_args);
    for (char *save = NULL, *t = strtok_r(extra, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        if (n < MAX_ARGS - 16)
            argv[n++] = keep(&b, &left, t);
    argv[n++] = keep(&b, &left, prog);
    argv[n++] = "--threads";
    snprintf(num, sizeof(num), "%d", es->threads > 0 ? es->threads : 1);
    argv[n++] = keep(&b, &left, num);
    if (es->data_path) {
        argv[n++] = "--data-path";
        argv[n++] = (char *)es->data_path;
    }
    if (es->checkpoint_path) {
        argv[n++] = "--checkpoint";
        argv[n++] = (char *)es->checkpoint_path;
    }
    if (es->model_path) {
        argv[n++] = "--model";
        argv[n++] = (char *)es->model_path;
    }
    argv[n++] = (char *)spec_text;
    argv[n] = NULL;
    for (int i = 0; i < n; i++)
        if (!argv[i])
            return -1;
    return 0;
}

int nd_ranks_run(const nd_config *cfg, const char *spec_text, const nas_job_spec *es, int ranks,
                 const nas_job_reporter *rep, const _Atomic int *stop)
{
    if (!nd_ranks_built())
        return nas_fail(NAS_EINVAL, "resources.ranks: this nasd was built without Open MPI");
    char store[3 * PATH_MAX + ND_LIST_MAX];
    char *argv[MAX_ARGS];
    if (make_argv(cfg, spec_text, es, ranks, store, sizeof(store), argv) != 0)
        return nas_fail(NAS_ENOTFOUND, "resources.ranks: the mpirun command line does not fit "
                                       "or the rank program has no path");
    /* The environment, plus mpirun's switches when nasd runs as root. */
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 3, sizeof(char *));
    if (!envp)
        return nas_fail(NAS_ENOMEM, "ranks: out of memory");
    memcpy(envp, environ, nenv * sizeof(char *));
    if (geteuid() == 0) {
        envp[nenv++] = "OMPI_ALLOW_RUN_AS_ROOT=1";
        envp[nenv++] = "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1";
    }
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (out[i] >= 0)
                close(out[i]);
        }
        free(envp);
        return nas_fail(NAS_EIO, "ranks: pipe: %s", strerror(e));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        int e = errno;
        close(in[1]);
        close(out[0]);
        close(err[0]);
        return nas_fail(NAS_EIO, "ranks: fork: %s", strerror(e));
    }
    if (rep->log) {
        char msg[256];
        snprintf(msg, sizeof(msg), "started %d ranks: %s (pid %d)", ranks, argv[0], (int)pid);
        rep->log(rep->ctx, msg);
    }
    run r = {.rep = rep};
    stream *so = calloc(1, sizeof(stream)), *se = calloc(1, sizeof(stream));
    int sent = NAS_RUN, open_out = 1, open_err = 1;
    if (!so || !se) {
        kill(pid, SIGTERM);
        open_out = open_err = 0;
    } else {
        so->fd = out[0];
        se->fd = err[0];
    }
    while (open_out || open_err) {
        int s = stop ? atomic_load(stop) : NAS_RUN;
        if (s != sent && in[1] >= 0) {
            const char *cmd = s == NAS_STOP_SHUTDOWN ? "shutdown\n" : "cancel\n";
            if (write(in[1], cmd, strlen(cmd)) < 0 && rep->log)
                rep->log(rep->ctx, "ranks: cannot pass the stop on to mpirun");
            sent = s;
        }
        struct pollfd pf[2] = {{.fd = open_out ? out[0] : -1, .events = POLLIN},
                               {.fd = open_err ? err[0] : -1, .events = POLLIN}};
        if (poll(pf, 2, 100) < 0 && errno != EINTR)
            break;
        if (open_out && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            open_out = drain(so, &r, line_out);
        if (open_err && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
            open_err = drain(se, &r, line_err);
    }
    close(in[1]);
    close(out[0]);
    close(err[0]);
    free(so);
    free(se);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (r.done && r.rc >= 0)
        return r.rc;
    if (r.done && r.rc == NAS_ECANCELLED)
        return nas_fail(NAS_ECANCELLED, "cancelled on its ranks");
    if (r.done)
        return nas_fail(r.rc, "%s", r.error[0] ? r.error : nas_strerror(r.rc));
    return nas_fail(NAS_EIO, "the ranks ended without a result (mpirun %s %d)%s%s",
                    WIFSIGNALED(status) ? "killed by signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                    r.last_err[0] ? ": " : "", r.last_err);
}
