// SPDX-License-Identifier: MIT
/*
 * notify.c - nasd under systemd: readiness, status, watchdog, shutdown
 * and socket activation (sd_notify(3), sd_listen_fds(3)).
 *
 * The one design decision to know: the watchdog ping means "the loop runs
 * AND every busy worker has finished a step recently". The loop alone
 * could keep pinging while a worker hangs in a kernel or a blocked read;
 * so a libuv timer at half the watchdog interval pings only while each
 * busy slot's heartbeat (stamped by the worker between steps, see
 * sched.c) is younger than the stall limit (--stall-seconds, default the
 * watchdog interval itself). A stuck worker stops the pings and systemd
 * restarts nasd; its job resumes from the last checkpoint.
 *
 * Without NOTIFY_SOCKET every function here is a cheap no-op, so nasd run
 * by hand behaves exactly as before.
 */
#include "nd.h"

#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

/* Without a watchdog, STATUS= is still refreshed this often (jobs
 * cancelled or deleted while queued change the queue without a kick). */
#define STATUS_REFRESH_MS 5000
/* While workers checkpoint at shutdown, each EXTEND_TIMEOUT_USEC gives
 * this much more time, re-sent at half of it while they make progress. */
#define EXTEND_USEC (30ull * 1000000ull)
/* The stall limit when neither --stall-seconds nor a watchdog gives one. */
#define STALL_DEFAULT_SECONDS 300.0

typedef struct nd_notify {
    int enabled;            /* NOTIFY_SOCKET is set */
    uint64_t watchdog_usec; /* 0: no watchdog */
    double stall_seconds;   /* max age of a busy worker's heartbeat */
    uv_timer_t tick;        /* watchdog ping and status refresh */
    uv_timer_t extend;      /* EXTEND_TIMEOUT_USEC while stopping */
    int stopping;
    int stalled;      /* pings withheld at the last tick */
    int closing;      /* timers not closed yet */
    char status[160]; /* the last STATUS= sent */
} nd_notify;

int nd_notify_listen_fd(void)
{
    int n = sd_listen_fds(1);
    if (n < 0) {
        nd_log(ND_LOG_ERROR, "socket activation: %s", strerror(-n));
        return -2;
    }
    if (n == 0)
        return -1;
    if (n > 1) {
        nd_log(ND_LOG_ERROR, "socket activation: %d sockets passed, nasd takes exactly one", n);
        return -2;
    }
    int fd = SD_LISTEN_FDS_START;
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
        nd_log(ND_LOG_ERROR, "socket activation: fd %d is not a listening stream socket", fd);
        return -2;
    }
    return fd;
}

static void send_status(nd_server *s, const char *text)
{
    nd_notify *n = s->notify;
    if (strcmp(n->status, text) == 0)
        return;
    snprintf(n->status, sizeof(n->status), "%s", text);
    sd_notifyf(0, "STATUS=%s", text);
}

void nd_notify_status(nd_server *s)
{
    nd_notify *n = s->notify;
    if (!n || !n->enabled || n->stopping)
        return;
    int queued = 0;
    if (nd_db_queue_length(s->db, &queued) != 0)
        queued = -1;
    char text[sizeof(n->status)];
    if (queued < 0)
        snprintf(text, sizeof(text), "? job(s) queued (database error), %d running",
                 nd_sched_busy(s));
    else
        snprintf(text, sizeof(text), "%d job(s) queued, %d running", queued, nd_sched_busy(s));
    send_status(s, text);
}

static void on_tick(uv_timer_t *t)
{
    nd_server *s = t->data;
    nd_notify *n = s->notify;
    nd_notify_status(s);
    if (!n->watchdog_usec)
        return;
    double age = nd_sched_heartbeat_age(s);
    int stalled = age > n->stall_seconds;
    /* Said once when it starts and once when it ends, not every tick. */
    if (stalled && !n->stalled)
        nd_log(ND_LOG_ERROR,
               "a worker has made no step for %.1f s (limit %.0f s): "
               "watchdog pings stop",
               age, n->stall_seconds);
    else if (!stalled && n->stalled)
        nd_log(ND_LOG_WARN, "the workers step again: watchdog pings resume");
    n->stalled = stalled;
    if (!stalled)
        sd_notify(0, "WATCHDOG=1");
}

int nd_notify_init(nd_server *s)
{
    nd_notify *n = calloc(1, sizeof(*n));
    if (!n)
        return -1;
    s->notify = n;
    const char *sock = getenv("NOTIFY_SOCKET");
    n->enabled = sock && *sock;
    if (!n->enabled)
        return 0;
    uint64_t usec = 0;
    int wd = sd_watchdog_enabled(0, &usec);
    if (wd < 0)
        nd_log(ND_LOG_WARN, "watchdog settings unreadable: %s", strerror(-wd));
    n->watchdog_usec = wd > 0 ? usec : 0;
    /* Without a watchdog the limit still bounds EXTEND_TIMEOUT_USEC. */
    n->stall_seconds = s->cfg.stall_seconds > 0 ? (double)s->cfg.stall_seconds
                       : n->watchdog_usec       ? (double)n->watchdog_usec / 1e6
                                                : STALL_DEFAULT_SECONDS;
    uint64_t period = n->watchdog_usec ? n->watchdog_usec / 2000 : STATUS_REFRESH_MS;
    if (period == 0)
        period = 1;
    uv_timer_init(s->loop, &n->tick);
    n->tick.data = s;
    uv_timer_start(&n->tick, on_tick, period, period);
    uv_timer_init(s->loop, &n->extend);
    n->extend.data = s;
    if (n->watchdog_usec)
        nd_log(ND_LOG_INFO,
               "systemd watchdog: ping every %.3f s while workers step at least "
               "every %.0f s",
               (double)period / 1e3, n->stall_seconds);
    return 0;
}

void nd_notify_ready(nd_server *s)
{
    nd_notify *n = s->notify;
    if (!n || !n->enabled)
        return;
    /* READY=1 and the first STATUS= in one datagram; the watchdog starts
     * counting from here. */
    int queued = 0;
    nd_db_queue_length(s->db, &queued);
    snprintf(n->status, sizeof(n->status), "%d job(s) queued, %d running", queued,
             nd_sched_busy(s));
    sd_notifyf(0, "READY=1\nSTATUS=%s", n->status);
    if (n->watchdog_usec)
        sd_notify(0, "WATCHDOG=1");
}

static void on_extend(uv_timer_t *t)
{
    nd_server *s = t->data;
    nd_notify *n = s->notify;
    /* A worker that does not step will not checkpoint either: let the
     * stop timeout run out rather than extend it forever. */
    if (nd_sched_heartbeat_age(s) <= n->stall_seconds)
        sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)EXTEND_USEC);
}

void nd_notify_stopping(nd_server *s, int checkpointing)
{
    nd_notify *n = s->notify;
    if (!n || !n->enabled)
        return;
    n->stopping = 1;
    snprintf(n->status, sizeof(n->status), "stopping: %d job(s) checkpointing", checkpointing);
    if (checkpointing) {
        sd_notifyf(0, "STOPPING=1\nSTATUS=%s\nEXTEND_TIMEOUT_USEC=%llu", n->status,
                   (unsigned long long)EXTEND_USEC);
        uv_timer_start(&n->extend, on_extend, EXTEND_USEC / 2000, EXTEND_USEC / 2000);
    } else {
        sd_notifyf(0, "STOPPING=1\nSTATUS=%s", n->status);
    }
}

/* Both timers live inside n: free it after the second close callback. */
static void on_closed(uv_handle_t *h)
{
    nd_notify *n = h->data;
    if (--n->closing == 0)
        free(n);
}

void nd_notify_close(nd_server *s)
{
    nd_notify *n = s->notify;
    if (!n)
        return;
    s->notify = NULL;
    if (!n->enabled) {
        free(n);
        return;
    }
    n->closing = 2;
    n->tick.data = n->extend.data = n;
    uv_close((uv_handle_t *)&n->tick, on_closed);
    uv_close((uv_handle_t *)&n->extend, on_closed);
}
