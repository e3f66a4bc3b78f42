// SPDX-License-Identifier: MIT
/*
 * fuzz_router.c - libFuzzer on nasd's request path: each input is the raw
 * bytes one client sends on one connection (request line, headers, body,
 * possibly several pipelined requests), handed to nasd's own
 * libmicrohttpd daemon and libuv bridge (daemon/http.c), route table and
 * handlers (api/), with a real database in a temporary state directory.
 *
 * The one design decision to know: no network and no copy of the daemon.
 * The connection is one end of a socketpair given to MHD with
 * MHD_add_connection, and the loop is driven here with UV_RUN_NOWAIT until
 * the daemon has answered and closed the connection (or a small bound of
 * turns passed, for requests that wait for more bytes or event streams).
 * The only part of nasd not started is the scheduler: jobs POSTed here
 * stay queued, since a valid spec may name hours of training; everything
 * else a request reaches (parsing, limits, auth, routing, validation, the
 * SQLite writes and reads, problem+json, event streams) is the daemon's.
 */
#include "api.h"
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_MAX_INPUT (256 * 1024)
#define MAX_TURNS 64

static nd_server srv;
static char state_dir[256];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_router: %s\n", what);
    abort();
}

/* A finished job with metrics, an architecture and a result, and a queued
 * one, under fixed ids the seed corpus names. */
static void seed_jobs(nd_server *s)
{
    static const char spec[] = "{\"algorithm\":\"train\",\"dataset\":\"synthetic\"}";
    char id[33], *spec_out = NULL, *ckpt = NULL;
    int64_t step;
    int attempt;
    if (nd_db_job_insert(s->db, "00000000000000000000000000000001", "done", "train", NULL,
                         "synthetic", spec, NULL, NULL, NULL) ||
        nd_db_job_claim(s->db, id, &spec_out, &ckpt, &step, &attempt, NULL))
        die("cannot seed a job");
    free(spec_out);
    free(ckpt);
    if (nd_db_begin(s->db) ||
        nd_db_progress_set(s->db, id, "{\"epoch\":1,\"epochs\":1,\"step\":4,\"steps\":4}") ||
        nd_db_metric_add(s->db, id, 1, 4, "train_loss", 0.5, 1.0, NULL) ||
        nd_db_arch_add(s->db, id, "{\"space\":\"fixed-cnn\"}", 0.9, "{}", 1.0, NULL) ||
        nd_db_result_set(s->db, id, "{\"space\":\"fixed-cnn\"}", "test_accuracy", 0.9, "{}") ||
        nd_db_job_finish(s->db, id, ND_DB_SUCCEEDED, NULL) || nd_db_commit(s->db))
        die("cannot seed a job's events");
    if (nd_db_job_insert(s->db, "00000000000000000000000000000002", "waiting", "train", NULL,
                         "synthetic", spec, "seed-key", NULL, NULL))
        die("cannot seed a queued job");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* At libFuzzer's exit (the time is up): the state directory goes. A
 * crash keeps it, with the database as the crashing input left it. */
static void remove_state(void)
{
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *dir = state_dir;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(state_dir, sizeof(state_dir), "%s/nasd-fuzz-router-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(state_dir))
        die("mkdtemp failed");
    atexit(remove_state);
    char *args[] = {"nasd", "--listen",    "127.0.0.1:0", "--state-dir",
                    dir,    "--log-level", "error",       "--heartbeat-seconds",
                    "1",    "--max-body",  "65536",       NULL};
    nd_server *s = &srv;
    if (nd_config_load(&s->cfg, (int)(sizeof(args) / sizeof(args[0])) - 1, args) != 0)
        die("config");
    nd_log_set_level(s->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    snprintf(s->db_path, sizeof(s->db_path), "%s/nasd.db", dir);
    snprintf(s->ckpt_dir, sizeof(s->ckpt_dir), "%s/checkpoints", dir);
    mkdir(s->ckpt_dir, 0750);
    char err[512];
    if (nd_db_open(s->db_path, &s->db, err, sizeof(err)) != 0)
        die(err);
    seed_jobs(s);
    s->loop = uv_default_loop();
    s->app = &api_app;
    if (nd_events_init(s) || nd_http_start(s))
        die("start-up failed");
    fprintf(stderr, "fuzz_router: state in %s, MHD on port %d (not used)\n", dir, s->bound_port);
    return 0;
}

static unsigned connections(void)
{
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(srv.mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

static void turn(void)
{
    nd_http_kick(&srv);
    uv_run(srv.loop, UV_RUN_NOWAIT);
}

/* Reads what the daemon sent; 1 at end of stream. */
static int drain(int fd)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        return n == 0 || (errno != EAGAIN && errno != EINTR);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair");
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    struct sockaddr_in peer = {
        .sin_family = AF_INET, .sin_port = htons(40000), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (MHD_add_connection(srv.mhd, sv[1], (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES) {
        close(sv[0]); /* MHD closed its end */
        return 0;
    }
    size_t off = 0;
    int eof = 0;
    for (int t = 0; off < size && t < 4 * MAX_TURNS && !eof; t++) {
        ssize_t n = write(sv[0], data + off, size - off);
        if (n > 0)
            off += (size_t)n;
        else if (errno != EAGAIN && errno != EINTR)
            break;
        turn();
        eof = drain(sv[0]);
    }
    shutdown(sv[0], SHUT_WR);
    for (int t = 0; t < MAX_TURNS && !eof; t++) {
        turn();
        eof = drain(sv[0]);
    }
    close(sv[0]);
    /* A connection still open (an event stream, a request waiting for
     * more) goes when MHD notices the close; bounded, and it never piles
     * up: the heartbeat (1 s here) finds every closed stream. */
    for (int t = 0; t < MAX_TURNS && connections() > 0; t++)
        turn();
    return 0;
}
