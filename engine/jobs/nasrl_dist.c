// SPDX-License-Identifier: MIT
/*
 * nasrl_dist.c - a nas-rl or random search on a group of ranks (issue
 * #18): rank 0 runs the controller (or the uniform sampler), the reward
 * cache, the reports and the checkpoints, exactly as in process; each
 * update it broadcasts the architectures of the update and which of them
 * to train, every rank trains its share of those whole (the k-th
 * architecture to train goes to rank k mod N), and the results come back
 * to every rank in rank order (one allgather of fixed-size records).
 *
 * The one design decision to know: a child's numbers depend only on its
 * decisions, the job's seed and its engine thread share (nasrl_job.c),
 * never on which process trains it. So with the same share (1 thread per
 * child: a job of 1 thread per rank, or T threads in process with at
 * least T children per update) the group's rewards are the in-process
 * run's bit for bit, and so is everything rank 0 derives from them.
 */
#include "jobs/nasrl_run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What rank 0 sends before each update (go 0: the search is over). */
typedef struct header {
    int go, m, n;
    double elapsed; /* rank 0's clock: every rank stops children by it */
} header;

/* One trained child's outcome, as it crosses between ranks. */
typedef struct record {
    int rc;
    char err[200];
    nas_nasrl_child res;
} record;

static void body(const nas__nasrl_run *s, int *dec, int *train, int m, int n)
{
    const nas_dist *d = s->j->dist;
    d->bcast(d->ctx, dec, (size_t)m * (size_t)n * sizeof(int));
    d->bcast(d->ctx, train, (size_t)m * sizeof(int));
}

void nas__nasrl_dist_send(nas__nasrl_run *s, nas__nasrl_child *ch, int m, int n, int *dec)
{
    const nas_dist *d = s->j->dist;
    header h = {1, m, n, nas__job_elapsed(s->j)};
    int train[256];
    d->bcast(d->ctx, &h, sizeof(h));
    for (int i = 0; i < m; i++)
        train[i] = ch[i].train;
    body(s, dec, train, m, n); /* the children's decisions lie in dec, in order */
}

void nas__nasrl_dist_stop(nas__nasrl_run *s)
{
    const nas_dist *d = s->j->dist;
    header h = {0, 0, 0, 0.0};
    d->bcast(d->ctx, &h, sizeof(h));
}

int nas__nasrl_dist_recv(nas__nasrl_run *s, int *dec, int *train, int *m, int *n)
{
    const nas_dist *d = s->j->dist;
    header h;
    d->bcast(d->ctx, &h, sizeof(h));
    if (!h.go)
        return 0;
    s->j->elapsed0 = h.elapsed; /* rank 0's clock from here */
    s->j->t0 = nas__now();
    *m = h.m;
    *n = h.n;
    body(s, dec, train, h.m, h.n);
    return 1;
}

int nas__nasrl_dist_mine(const nas__nasrl_run *s, int k)
{
    const nas_dist *d = s->j->dist;
    return !d || k % d->size == d->rank;
}

int nas__nasrl_dist_exchange(nas__nasrl_run *s, nas__nasrl_child *ch, const int *idx, int n)
{
    const nas_dist *d = s->j->dist;
    int per = (n + d->size - 1) / d->size;
    if (per == 0)
        return NAS_OK;
    record *mine = calloc((size_t)per, sizeof(*mine));
    record *all = calloc((size_t)per * (size_t)d->size, sizeof(*all));
    if (!mine || !all) {
        free(mine);
        free(all);
        return nas_fail(NAS_ENOMEM, "nasrl: out of memory");
    }
    for (int q = 0, k = d->rank; k < n; q++, k += d->size) {
        const nas__nasrl_child *c = &ch[idx[k]];
        mine[q].rc = c->rc;
        memcpy(mine[q].err, c->err, sizeof(mine[q].err) - 1);
        mine[q].res = c->res;
    }
    d->allgather(d->ctx, mine, all, (size_t)per * sizeof(*mine));
    for (int r = 0; r < d->size; r++)
        for (int q = 0, k = r; k < n; q++, k += d->size) {
            nas__nasrl_child *c = &ch[idx[k]];
            const record *rec = &all[(size_t)r * (size_t)per + (size_t)q];
            c->rc = rec->rc;
            memcpy(c->err, rec->err, sizeof(rec->err));
            c->res = rec->res;
            c->res.model = NULL; /* a pointer of the rank that trained it */
        }
    free(mine);
    free(all);
    return NAS_OK;
}

/* Each update, every rank > 0 sends rank 0 one int when its children are
 * done, and rank 0 sends each of them one: a stop (as soon as its flag
 * shows a cancel or shutdown) or 0, once every rank is done. So a stop
 * reaches the children of every rank within a poll, and no int is left
 * over for the next update. */
void nas__nasrl_dist_watch(nas__nasrl_run *s, _Atomic int *finished, int threads)
{
    const nas_dist *d = s->j->dist;
    const struct timespec poll = {0, 5 * 1000 * 1000};
    int told = 0, done = 0, mine_done = 0;
    for (;;) {
        if (!mine_done && atomic_load(finished) >= threads) {
            mine_done = 1;
            if (d->rank != 0)
                d->to_root(d->ctx, 1);
        }
        if (d->rank == 0) {
            done += d->at_root(d->ctx);
            int why = told ? NAS_RUN : nas__job_check_local(s->j);
            if (why == NAS_STOP_CANCEL || why == NAS_STOP_SHUTDOWN) {
                d->to_all(d->ctx, why);
                told = 1;
            }
            if (mine_done && done == d->size - 1)
                break;
        } else {
            int v = told ? -1 : d->from_root(d->ctx, 0);
            if (v >= 0) {
                told = 1;
                if (v != 0)
                    atomic_store(&s->remote_stop, v);
            }
            if (mine_done && told)
                break;
        }
        nanosleep(&poll, NULL);
    }
    if (d->rank == 0 && !told)
        d->to_all(d->ctx, 0);
}
