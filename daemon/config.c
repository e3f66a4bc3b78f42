// SPDX-License-Identifier: MIT
/*
 * config.c - nasd's settings: defaults, then a config file, then flags.
 *
 * One table describes every setting once: its key (the same in the file
 * and as --key on the command line), its type and range, and its help
 * line, so the parser, --help and the config file can never disagree.
 */
#include "nd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef NASD_WEB_DIR
#define NASD_WEB_DIR "web"
#endif

enum opt_type { T_LISTEN, T_PATH, T_INT, T_SIZE, T_LEVEL, T_TARGET, T_LIST };

typedef struct {
    const char *key;
    enum opt_type type;
    size_t offset;
    long lo, hi;
    const char *help;
} opt;

#define OFF(f) offsetof(nd_config, f)
static const opt opts[] = {
    {"listen", T_LISTEN, 0, 0, 0, "ADDR:PORT to listen on (default 127.0.0.1:8080; port 0: any)"},
    {"state-dir", T_PATH, OFF(state_dir), 0, 0, "database, checkpoints, data (default ./var)"},
    {"workers", T_INT, OFF(workers), 1, 64, "jobs run at once (default 1)"},
    {"threads-per-job", T_INT, OFF(threads_per_job), 1, 64,
     "engine threads of one job (default: cores / workers)"},
    {"max-body", T_SIZE, OFF(max_body), 1024, 1L << 30,
     "request body limit in bytes (default 1 MiB)"},
    {"max-dataset-bytes", T_SIZE, OFF(max_dataset_bytes), 1024, 1L << 40,
     "upload limit of POST /v1/datasets in bytes (default 1 GiB)"},
    {"max-dataset-expanded-bytes", T_SIZE, OFF(max_dataset_expanded), 1024, 1L << 42,
     "bytes an uploaded archive may unpack to (default 4 GiB)"},
    {"max-dataset-files", T_SIZE, OFF(max_dataset_files), 1, 10000000,
     "entries of an uploaded archive (default 200000)"},
    {"max-dataset-pixels", T_SIZE, OFF(max_dataset_pixels), 1, 1L << 28,
     "width x height of one uploaded image (default 4194304, 2048x2048)"},
    {"max-streams", T_INT, OFF(max_streams), 1, 100000, "concurrent event streams (default 64)"},
    {"max-connections", T_INT, OFF(max_connections), 4, 100000,
     "concurrent connections (default 1024)"},
    {"connection-timeout", T_INT, OFF(connection_timeout), 1, 86400,
     "seconds before an idle connection closes (default 60)"},
    {"heartbeat-seconds", T_INT, OFF(heartbeat_seconds), 1, 3600,
     "event stream keep-alive period (default 15)"},
    {"web-dir", T_PATH, OFF(web_dir), 0, 0,
     "static files served at / (default: the installed web/, or the source tree's for the "
     "nasd of a build tree)"},
    {"fashion-mnist-dir", T_PATH, OFF(fashion_mnist_dir), 0, 0,
     "Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)"},
    {"cifar10-dir", T_PATH, OFF(cifar10_dir), 0, 0, "CIFAR-10 binary batches (no default)"},
    {"fortunes-path", T_PATH, OFF(fortunes_path), 0, 0,
     "fortune file for the text corpus (default /usr/share/games/fortunes/fortunes)"},
    {"ptb-dir", T_PATH, OFF(ptb_dir), 0, 0, "ptb.train.txt/valid/test directory (no default)"},
    {"log-level", T_LEVEL, OFF(log_level), 0, 0, "error, warn(ing), info or debug (default info)"},
    {"log-target", T_TARGET, OFF(log_target), 0, 0,
     "auto, stderr or journal (default auto: the journal when stderr is connected to it)"},
    {"stall-seconds", T_INT, OFF(stall_seconds), 0, 86400 * 7,
     "a running job without a step for this long stops the systemd watchdog "
     "(default 0: the watchdog interval)"},
    {"token-file", T_PATH, OFF(token_file), 0, 0,
     "bearer tokens, one per line, required on /v1 and /metrics (default: the credential "
     "$CREDENTIALS_DIRECTORY/nasd-token when present, else none)"},
    {"max-json-depth", T_INT, OFF(max_json_depth), 1, 2048,
     "nesting of arrays and objects in a request body (default 32)"},
    {"max-connections-per-ip", T_INT, OFF(max_connections_per_ip), 1, 100000,
     "concurrent connections from one client address (default 64)"},
    {"max-queued", T_INT, OFF(max_queued), 1, 10000000,
     "queued jobs before a submission gets 429 (default 1000)"},
    {"max-job-epochs", T_INT, OFF(max_job_epochs), 0, 100000,
     "largest epochs of a job (budget, final training, children); 0: no cap (default 0)"},
    {"max-job-seconds", T_INT, OFF(max_job_seconds), 0, 100000000,
     "largest budget.max_seconds, also given to jobs without one; 0: no cap (default 0)"},
    {"max-attempts", T_INT, OFF(max_attempts), 1, 1000,
     "times nasd may die (no clean stop) while a job runs before the job fails instead of "
     "being requeued (default 3)"},
    {"max-job-architectures", T_INT, OFF(max_job_architectures), 0, 100000000,
     "most architectures one job samples and trains (nas-rl and random: budget.max_architectures; "
     "enas: epochs x controller_steps x controller_aggregate); 0: no cap (default 1000000)"},
    {"retain-jobs", T_INT, OFF(retain_jobs), 0, 100000000,
     "finished jobs kept, the newest; older ones are deleted with their files; 0: all "
     "(default 10000)"},
    {"retain-days", T_INT, OFF(retain_days), 0, 36500,
     "finished jobs older than this many days are deleted with their files; 0: never "
     "(default 0)"},
    {"max-job-memory", T_INT, OFF(max_job_memory_mib), 0, 1 << 30,
     "largest estimated peak memory of a job in MiB; 0: half the RAM (default 0)"},
    {"allowed-hosts", T_LIST, OFF(allowed_hosts), 0, 0,
     "Host header names accepted besides localhost, 127.0.0.1, [::1] and the listening "
     "address, separated by commas; * accepts any (default none)"},
    {"allowed-origins", T_LIST, OFF(allowed_origins), 0, 0,
     "Origins (scheme://host[:port]) that may POST and DELETE besides nasd's own, "
     "separated by commas; * allows any (default none)"},
    {"max-streams-per-client", T_INT, OFF(max_streams_per_client), 1, 100000,
     "concurrent event streams from one client address (default 16)"},
    {"max-predict-images", T_INT, OFF(max_predict_images), 1, 1000000,
     "images in one POST /v1/jobs/{id}/predictions (default 256)"},
    {"max-predict-requests", T_INT, OFF(max_predict_requests), 1, 1024,
     "prediction requests worked on at once; more get 429 (default 4)"},
    {"max-predict-models", T_INT, OFF(max_predict_models), 1, 1024,
     "trained networks kept loaded for predictions, the least recently used goes "
     "(default 4)"},
    {"max-predict-text-bytes", T_INT, OFF(max_predict_text), 1, 1 << 26,
     "bytes of the text or prompt sent to a language model's predictions (default 131072)"},
    {"max-predict-tokens", T_INT, OFF(max_predict_tokens), 1, 100000,
     "tokens a language model samples in one continuation (default 1000)"},
    {"max-ranks", T_INT, OFF(max_ranks), 0, 65536,
     "most Open MPI ranks of one job (resources.ranks); 0: no cap (default 0)"},
    {"mpirun", T_PATH, OFF(mpirun), 0, 0,
     "the mpirun that starts a job's ranks (default: the one found at build time)"},
    {"mpi-hostfile", T_PATH, OFF(mpi_hostfile), 0, 0,
     "hostfile given to mpirun (default none: mpirun's own default, this host)"},
    {"mpirun-args", T_LIST, OFF(mpirun_args), 0, 0,
     "extra mpirun arguments, separated by blanks, e.g. --mca btl tcp,self (default none)"},
    {"rank-program", T_PATH, OFF(rank_program), 0, 0,
     "the program each rank runs (default: nasd-rank beside nasd)"},
};
#undef OFF

static const char *const levels[] = {"error", "warn", "info", "debug"};
static const char *const targets[] = {"auto", "stderr", "journal"};

/* The installed web/, or the source tree's when this is the nasd of the
 * build tree (make check, ./quickstart run): decided by where the running
 * executable is, so an installed copy never serves a source tree. */
static const char *default_web_dir(void)
{
#if defined(NASD_BUILD_EXE) && defined(NASD_SRC_WEB_DIR)
    char exe[PATH_MAX], built[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0 && realpath(NASD_BUILD_EXE, built)) {
        exe[n] = '\0';
        if (strcmp(exe, built) == 0)
            return NASD_SRC_WEB_DIR;
    }
#endif
    return NASD_WEB_DIR;
}

static void defaults(nd_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 8080;
    snprintf(c->state_dir, sizeof(c->state_dir), "var");
    c->workers = 1;
    c->threads_per_job = 0; /* derived below */
    c->max_body = 1 << 20;
    c->max_dataset_bytes = (size_t)1 << 30;
    c->max_dataset_expanded = (size_t)4 << 30;
    c->max_dataset_files = 200000;
    c->max_dataset_pixels = 2048 * 2048;
    c->max_streams = 64;
    c->max_attempts = 3;
    c->retain_jobs = 10000;
    c->max_connections = 1024;
    c->connection_timeout = 60;
    c->heartbeat_seconds = 15;
    snprintf(c->web_dir, sizeof(c->web_dir), "%s", default_web_dir());
    c->log_level = ND_LOG_INFO;
    c->max_json_depth = 32;
    c->max_connections_per_ip = 64;
    c->max_queued = 1000;
    c->max_job_architectures = 1000000;
    c->max_streams_per_client = 16;
    c->max_predict_images = 256;
    c->max_predict_requests = 4;
    c->max_predict_models = 4;
    c->max_predict_text = 131072;
    c->max_predict_tokens = 1000;
}

static int parse_listen(nd_config *c, const char *v, const char *where)
{
    const char *colon = strrchr(v, ':');
    char *end;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof(c->listen_host)) {
        fprintf(stderr, "nasd: %s: listen must be ADDR:PORT (e.g. 127.0.0.1:8080), got '%s'\n",
                where, v);
        return -1;
    }
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535) {
        fprintf(stderr, "nasd: %s: listen port must be 0..65535, got '%s'\n", where, colon + 1);
        return -1;
    }
    memcpy(c->listen_host, v, (size_t)(colon - v));
    c->listen_host[colon - v] = '\0';
    c->listen_port = (int)port;
    return 0;
}

static int set(nd_config *c, const opt *o, const char *v, const char *where)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case T_LISTEN: return parse_listen(c, v, where);
    case T_PATH:
        if (!*v || strlen(v) >= PATH_MAX) {
            fprintf(stderr, "nasd: %s: %s must be a path of 1..%d bytes\n", where, o->key,
                    PATH_MAX - 1);
            return -1;
        }
        snprintf(field, PATH_MAX, "%s", v);
        return 0;
    case T_LIST:
        if (strlen(v) >= ND_LIST_MAX) {
            fprintf(stderr, "nasd: %s: %s must be shorter than %d bytes\n", where, o->key,
                    ND_LIST_MAX);
            return -1;
        }
        snprintf(field, ND_LIST_MAX, "%s", v);
        return 0;
    case T_INT:
    case T_SIZE: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || end == v || n < o->lo || n > o->hi) {
            fprintf(stderr, "nasd: %s: %s must be an integer in [%ld, %ld], got '%s'\n", where,
                    o->key, o->lo, o->hi, v);
            return -1;
        }
        if (o->type == T_INT)
            *(int *)field = (int)n;
        else
            *(size_t *)field = (size_t)n;
        return 0;
    }
    case T_TARGET:
        for (int i = 0; i < 3; i++)
            if (strcasecmp(v, targets[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        fprintf(stderr, "nasd: %s: log-target must be auto, stderr or journal, got '%s'\n", where,
                v);
        return -1;
    case T_LEVEL:
        if (strcasecmp(v, "warning") == 0) {
            *(int *)field = ND_LOG_WARN;
            return 0;
        }
        for (int i = 0; i < 4; i++)
            if (strcasecmp(v, levels[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        fprintf(stderr, "nasd: %s: log-level must be error, warn, info or debug, got '%s'\n", where,
                v);
        return -1;
    }
    return -1;
}

static const opt *find(const char *key)
{
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* key = value lines; '#' starts a comment line; keys as the flags. */
static int load_file(nd_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "nasd: --config %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[PATH_MAX + 128], where[PATH_MAX + 32];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "nasd: %s: expected 'key = value', got '%s'\n", where, s);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        const opt *o = find(key);
        if (!o || strcmp(key, "config") == 0) {
            fprintf(stderr, "nasd: %s: unknown key '%s' (see nasd --help)\n", where, key);
            rc = -1;
            break;
        }
        rc = set(c, o, val, where);
    }
    fclose(f);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nasd [--config FILE] [--KEY VALUE ...]\n"
               "Neural architecture search as a service: a REST API on HTTP.\n\n"
               "  --config FILE           read KEY = VALUE lines (the keys below)\n");
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        fprintf(f, "  --%-21s %s\n", opts[i].key, opts[i].help);
    fprintf(f, "  --help, --version\n");
}

int nd_config_load(nd_config *cfg, int argc, char **argv)
{
    defaults(cfg);
    /* The config file first, so flags override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            if (nd_git_describe[0])
                printf("nasd %s (git %s)\n", ND_VERSION, nd_git_describe);
            else
                printf("nasd %s\n", ND_VERSION);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "nasd: --config needs a file\n");
                return -1;
            }
            if (load_file(cfg, argv[i + 1]))
                return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        const char *eq = strchr(a, '=');
        char key[64];
        const char *val;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "nasd: unexpected argument '%s' (see nasd --help)\n", a);
            return -1;
        }
        size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (klen >= sizeof(key)) {
            fprintf(stderr, "nasd: unknown option '%s' (see nasd --help)\n", a);
            return -1;
        }
        memcpy(key, a + 2, klen);
        key[klen] = '\0';
        const opt *o = find(key);
        if (!o) {
            fprintf(stderr, "nasd: unknown option '%s' (see nasd --help)\n", a);
            return -1;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "nasd: %s needs a value\n", a);
            return -1;
        }
        if (set(cfg, o, val, "command line"))
            return -1;
    }
    if (cfg->threads_per_job == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int t = (int)(cores > 0 ? cores : 1) / cfg->workers;
        cfg->threads_per_job = t > 0 ? t : 1;
    }
    return 0;
}

const char *nd_config_dataset_path(const nd_config *cfg, const char *dataset)
{
    const char *p = NULL;
    if (strcmp(dataset, "fashion-mnist") == 0)
        p = cfg->fashion_mnist_dir;
    else if (strcmp(dataset, "cifar10") == 0)
        p = cfg->cifar10_dir;
    else if (strcmp(dataset, "fortunes") == 0)
        p = cfg->fortunes_path;
    else if (strcmp(dataset, "ptb") == 0)
        p = cfg->ptb_dir;
    return p && *p ? p : NULL;
}
