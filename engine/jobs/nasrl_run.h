// SPDX-License-Identifier: MIT
/*
 * nasrl_run.h - the state of a nas-rl or random search (internal to
 * nasrl_job.c, the search loop, and nasrl_result.c, its final training
 * and result): the reward cache, the children of an update and the run.
 *
 * The one design decision to know: the loop and the result share one
 * struct and nothing else; the result reads the cache the loop filled
 * (the best entry is nas__nasrl_best_index) and reports progress through
 * the loop's nas__nasrl_progress, so the job's progress runs on through
 * the final training.
 */
#ifndef NAS_NASRL_RUN_H
#define NAS_NASRL_RUN_H

#include "jobs/jobs.h"
#include "search/nasrl/nasrl.h"

#include <stdatomic.h>

typedef struct nas__nasrl_cached {
    int *dec, n;
    double reward, val_metric; /* the space's metric */
    size_t parameters;
} nas__nasrl_cached;

typedef struct nas__nasrl_child {
    int *dec, n; /* sampled decisions (owned by the search) */
    int train;   /* 1: trained in this update (else cache/dup) */
    int dup_of;  /* the index it copies within the update, or -1 */
    int rc;
    char err[256]; /* nas_errmsg() of the child's thread */
    nas_nasrl_child res;
    int cache_hit;
    const struct nas__nasrl_run *s;
    nas_nasrl_train_cfg cfg;
} nas__nasrl_child;

typedef struct nas__nasrl_run {
    nas__job *j;
    const nas__nasrl_space *space;
    int controller;
    nas__nasrl_data data;
    nas_params *p;
    nas_graph *g;
    nas_ctrl *ctrl;
    nas_reinforce rf;
    nas_rng rng;      /* sampling (the controller's or uniform) */
    nas__job_pos pos; /* global_step = architectures done */
    int updates;
    nas__nasrl_cached *cache;
    int ncache, capcache;
    char *cache_text;
    char meta_val[3][40];
    nas_kv meta[4];
    int share, wave; /* engine threads per child, children at once */
    int by_time;
    int64_t final_steps; /* of the final training (0: none), counted in
                            the progress after the architectures */
    int64_t final_done;
    double final_t0;
    _Atomic int remote_stop; /* a group's rank > 0: rank 0 relayed a stop */
} nas__nasrl_run;

/* FNV-1a of a decision list: the reward cache's key and the final
 * training's seed. */
uint64_t nas__nasrl_dec_hash(const int *dec, int n);
/* The space's child training (nas_nasrl_train_cfg) from the spec: its
 * optimizer fields, with epochs, threads, seed and the stop hook given. */
nas_nasrl_train_cfg nas__nasrl_cfg(const nas_job_spec *sp, int epochs, int threads, uint64_t seed,
                                   int (*should_stop)(void *ctx), void *stop_ctx);
/* The index of the best cached architecture (highest reward, the first
 * on a tie); the cache is not empty. */
int nas__nasrl_best_index(const nas__nasrl_run *s);
/* Reports the job's progress (architectures, then the final training). */
void nas__nasrl_progress(nas__nasrl_run *s);
/* nasrl_result.c: the final training when enabled, then the job's
 * result through j->rep.result. */
int nas__nasrl_report_result(nas__nasrl_run *s);

/* nasrl_dist.c, a search on a group of ranks (j->dist). Rank 0 hands
 * each update's children to the group (the decisions of child i at
 * dec + i n) and ends the search with nas__nasrl_dist_stop; the other
 * ranks take them with nas__nasrl_dist_recv (0: the search is over).
 * The k-th child to train is rank k mod N's (nas__nasrl_dist_mine); the
 * exchange gives every rank every trained child's rc, message and
 * result, in rank order. */
void nas__nasrl_dist_send(nas__nasrl_run *s, nas__nasrl_child *ch, int m, int n, int *dec);
void nas__nasrl_dist_stop(nas__nasrl_run *s);
int nas__nasrl_dist_recv(nas__nasrl_run *s, int *dec, int *train, int *m, int *n);
int nas__nasrl_dist_mine(const nas__nasrl_run *s, int k);
int nas__nasrl_dist_exchange(nas__nasrl_run *s, nas__nasrl_child *ch, const int *idx, int n);
/* The main thread while `threads` threads train this rank's children
 * (*finished counts those done): rank 0 relays a cancel or shutdown to
 * the others at once (their children stop like its own), and returns
 * when every rank's children are done; the others watch for it. */
void nas__nasrl_dist_watch(nas__nasrl_run *s, _Atomic int *finished, int threads);

#endif
