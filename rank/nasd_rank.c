// SPDX-License-Identifier: MIT
/*
 * nasd_rank.c - nasd-rank, what every Open MPI rank of a job on several
 * ranks runs (issue #18). nasd starts
 *
 *     mpirun -np N [hostfile, extra arguments] nasd-rank [options] SPEC
 *
 * from the job's worker slot (daemon/ranks.c); SPEC is the job's stored,
 * normalized spec (JSON text), turned into the engine's by the API's own
 * api_spec_to_engine, so a rank runs exactly the job nasd would run in
 * process: the same nas_job_run, given the group (nas_job_run_dist).
 *
 * The one design decision to know: mpirun's standard streams are the
 * channel to nasd, so it works on remote hosts with nothing but Open MPI
 * (mpirun forwards every rank's stdout to its own and its stdin to rank 0
 * only). Rank 0's reporter writes one JSON object per line to stdout:
 *
 *     {"ev":"progress","epoch":e,"epochs":E,"step":s,"steps":S,"fraction":f,"eta":t}
 *     {"ev":"metric","epoch":e,"step":s,"name":"...","value":v}
 *     {"ev":"architecture","arch":"...","reward":r,"metrics":"..."|null}
 *     {"ev":"checkpoint","path":"...","step":s}
 *     {"ev":"result","arch":"...","metric":"...","value":v,"result":"..."}
 *     {"ev":"log","msg":"..."}
 *     {"ev":"done","rc":rc,"error":"..."}      (last)
 *
 * (numbers as JSON reals, which round-trip a double; null for one that is
 * not finite) and the other ranks report nothing. nasd writes "cancel" or
 * "shutdown" lines to mpirun's stdin; rank 0 reads them on a thread into
 * the job's stop flag, and the engine hands rank 0's flag to every rank
 * between steps, so the group stops on the same step (a shutdown writes
 * rank 0's checkpoint first). End of file on stdin means nasd is gone:
 * the group checkpoints and stops, as on a shutdown. A rank that fails
 * otherwise aborts the whole group (MPI_Abort): the others may be waiting
 * for it inside a collective.
 */
#include "config.h"

#include "mpi_dist.h"
#include "nas.h"
#include "spec.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------ rank 0's reporter */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* One line on stdout (steals o). */
static void emit(json_t *o)
{
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) {
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(line);
    json_decref(o);
}

static void rep_progress(void *ctx, const nas_job_progress *p)
{
    emit(json_pack("{s:s,s:i,s:i,s:I,s:I,s:o,s:o}", "ev", "progress", "epoch", p->epoch, "epochs",
                   p->epochs, "step", (json_int_t)p->step, "steps", (json_int_t)p->steps,
                   "fraction", num(p->fraction), "eta", num(p->eta_seconds)));
}

static void rep_metric(void *ctx, int epoch, int64_t step, const char *name, double value)
{
    emit(json_pack("{s:s,s:i,s:I,s:s,s:o}", "ev", "metric", "epoch", epoch, "step",
                   (json_int_t)step, "name", name, "value", num(value)));
}

static void rep_arch(void *ctx, const char *arch, double reward, const char *metrics)
{
    emit(json_pack("{s:s,s:s,s:o,s:o}", "ev", "architecture", "arch", arch, "reward", num(reward),
                   "metrics", str_or_null(metrics)));
}

static void rep_ckpt(void *ctx, const char *path, int64_t step)
{
    emit(json_pack("{s:s,s:s,s:I}", "ev", "checkpoint", "path", path, "step", (json_int_t)step));
}

static void rep_result(void *ctx, const char *arch, const char *metric, double value,
                       const char *result)
{
    emit(json_pack("{s:s,s:o,s:s,s:o,s:o}", "ev", "result", "arch", str_or_null(arch), "metric",
                   metric, "value", num(value), "result", str_or_null(result)));
}

static void rep_log(void *ctx, const char *msg)
{
    emit(json_pack("{s:s,s:s}", "ev", "log", "msg", msg));
}

/* ------------------------------------------------ rank 0's stop flag */

static _Atomic int stop_flag;

/* "cancel" and "shutdown" lines from nasd; end of file: nasd is gone. */
static void *read_control(void *arg)
{
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "cancel", 6) == 0)
            atomic_store(&stop_flag, NAS_STOP_CANCEL);
        else if (strncmp(line, "shutdown", 8) == 0)
            atomic_store(&stop_flag, NAS_STOP_SHUTDOWN);
    }
    int expected = NAS_RUN;
    atomic_compare_exchange_strong(&stop_flag, &expected, NAS_STOP_SHUTDOWN);
    return NULL;
}

/* --------------------------------------------------------------- main */

static int usage(void)
{
    fputs("usage: mpirun -np N nasd-rank [--data-path PATH] [--checkpoint PATH] [--model PATH]\n"
          "                             [--threads N] SPEC_JSON\n"
          "Runs one rank of a nasd job on several ranks; nasd starts it (see README,\n"
          "\"Many machines\").\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"data-path", required_argument, NULL, 'd'},
                                         {"checkpoint", required_argument, NULL, 'c'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data_path = NULL, *ckpt = NULL, *model = NULL;
    int threads = 1, c, provided = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data_path = optarg; break;
        case 'c': ckpt = optarg; break;
        case 'm': model = optarg; break;
        case 't': threads = atoi(optarg); break;
        default: return usage();
        }
    }
    if (optind != argc - 1 || threads < 1)
        return usage();
    /* Only the main thread calls MPI; rank 0's reader thread does not. */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    nas_dist dist;
    if (nas_mpi_dist_init(&dist) != NAS_OK) {
        fputs("nasd-rank: out of memory\n", stderr);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    json_error_t jerr;
    json_t *spec = json_loads(argv[optind], 0, &jerr);
    nas_job_spec es;
    api_problem err = {0};
    int rc = NAS_EINVAL;
    char why[512] = "";
    if (!spec)
        snprintf(why, sizeof(why), "the spec is not JSON: %s", jerr.text);
    else if (api_spec_to_engine(spec, NULL, threads, &es, &err) != 0)
        snprintf(why, sizeof(why), "%s", err.detail);
    else
        rc = NAS_OK;
    api_problem_clear(&err);
    if (rc == NAS_OK) {
        if (data_path)
            es.data_path = data_path;
        es.checkpoint_path = ckpt;
        es.resume = ckpt != NULL;
        es.model_path = model;
        nas_job_reporter rep = {NULL,     rep_progress, rep_metric, rep_arch,
                                rep_ckpt, rep_result,   rep_log};
        pthread_t reader;
        int reading = dist.rank == 0 && pthread_create(&reader, NULL, read_control, NULL) == 0;
        if (dist.rank == 0 && !reading) {
            rc = NAS_ENOMEM;
            snprintf(why, sizeof(why), "cannot start the control thread");
        } else {
            rc = nas_job_run_dist(&es, dist.rank == 0 ? &rep : NULL, &stop_flag, &dist);
            if (rc < 0 && rc != NAS_ECANCELLED)
                snprintf(why, sizeof(why), "%s", nas_errmsg()[0] ? nas_errmsg() : nas_strerror(rc));
        }
        if (reading)
            pthread_detach(reader); /* blocked on stdin until mpirun closes it */
    }
    if (dist.rank == 0)
        emit(json_pack("{s:s,s:i,s:s}", "ev", "done", "rc", rc, "error", why));
    json_decref(spec);
    if (rc < 0 && rc != NAS_ECANCELLED) {
        fprintf(stderr, "nasd-rank: rank %d of %d: %s\n", dist.rank, dist.size, why);
        MPI_Abort(MPI_COMM_WORLD, 1); /* the others may wait in a collective */
    }
    nas_mpi_dist_free(&dist);
    MPI_Finalize();
    return 0;
}
