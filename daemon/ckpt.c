// SPDX-License-Identifier: MIT
/*
 * ckpt.c - a job's checkpoint files: the one the engine writes and the one
 * the database records.
 *
 * The one design decision to know: the engine always writes its checkpoint
 * to <checkpoints>/<id>.safetensors (tmp file, fsync, rename) and only
 * reads it when a run starts. The database records a checkpoint only once
 * the loop has committed it, and with it the cursors of the rows reported
 * so far (daemon/db_queue.c); a kill can fall between the engine's rename and
 * that commit. So the worker, in the engine's checkpoint callback, moves
 * the fresh file to a name of its own (<id>.k<unique>.safetensors) before
 * the loop hears of it, and a claim hands the engine exactly the recorded
 * file (a hard link at the engine's path) and nothing newer: the state the
 * resumed run starts from is always the one the history was cut at.
 */
#include "nd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUFFIX ".safetensors"

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The directory part of path, in buf. */
static const char *dir_of(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    size_t k = (size_t)(slash - path);
    if (k == 0)
        return "/";
    if (k >= n)
        return NULL;
    memcpy(buf, path, k);
    buf[k] = '\0';
    return buf;
}

int nd_ckpt_keep(const char *engine_path, char *out, size_t n)
{
    static _Atomic unsigned counter;
    size_t len = strlen(engine_path), sl = strlen(SUFFIX);
    if (len < sl || strcmp(engine_path + len - sl, SUFFIX) != 0)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned k = atomic_fetch_add(&counter, 1);
    int m = snprintf(out, n, "%.*s.k%lld%09ld-%u%s", (int)(len - sl), engine_path,
                     (long long)ts.tv_sec, ts.tv_nsec, k, SUFFIX);
    if (m < 0 || (size_t)m >= n)
        return -1;
    char dir[PATH_MAX];
    const char *d = dir_of(engine_path, dir, sizeof(dir));
    if (!d || rename(engine_path, out) != 0 || fsync_dir(d) != 0)
        return -1;
    return 0;
}

/* 1 when name is one of job id's kept checkpoint files. */
static int is_kept_of(const char *name, const char *id)
{
    size_t il = strlen(id), nl = strlen(name), sl = strlen(SUFFIX);
    return nl > il + 2 + sl && strncmp(name, id, il) == 0 && name[il] == '.' &&
           name[il + 1] == 'k' && strcmp(name + nl - sl, SUFFIX) == 0;
}

void nd_ckpt_remove_stale(const char *dir, const char *id, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    const char *keep_name = keep ? strrchr(keep, '/') : NULL;
    keep_name = keep_name ? keep_name + 1 : keep;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_kept_of(e->d_name, id) || (keep_name && strcmp(e->d_name, keep_name) == 0))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && errno != ENOENT)
            nd_log_job(ND_LOG_WARN, id, "cannot remove %s: %s", path, strerror(errno));
    }
    closedir(d);
}

int nd_ckpt_prepare(const char *dir, const char *id, const char *recorded, char *engine_path,
                    size_t n, char *why, size_t whylen)
{
    int m = snprintf(engine_path, n, "%s/%s%s", dir, id, SUFFIX);
    if (m < 0 || (size_t)m >= n) {
        snprintf(why, whylen, "checkpoint path too long");
        return -1;
    }
    /* A database of an older nasd records the engine's own path. */
    if (recorded && strcmp(recorded, engine_path) == 0)
        return 0;
    /* Whatever the engine wrote after the recorded checkpoint goes. */
    if (unlink(engine_path) != 0 && errno != ENOENT) {
        snprintf(why, whylen, "cannot remove %s: %s", engine_path, strerror(errno));
        return -1;
    }
    nd_ckpt_remove_stale(dir, id, recorded);
    if (!recorded)
        return 0;
    if (link(recorded, engine_path) != 0) {
        /* Recorded but gone (removed by hand): start afresh, as the
         * history (all rows after no checkpoint) does not say. */
        snprintf(why, whylen, "recorded checkpoint %s: %s", recorded, strerror(errno));
        return -1;
    }
    if (fsync_dir(dir) != 0) {
        snprintf(why, whylen, "fsync %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int nd_model_path(const char *model_dir, const char *id, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%s" SUFFIX, model_dir, id);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

int nd_model_onnx_path(const char *model_dir, const char *id, char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%s.onnx", model_dir, id);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

void nd_model_remove(const char *model_dir, const char *id)
{
    char path[PATH_MAX + 64];
    if (nd_model_path(model_dir, id, path, sizeof(path)) == 0 && unlink(path) != 0 &&
        errno != ENOENT)
        nd_log_job(ND_LOG_WARN, id, "cannot remove %s: %s", path, strerror(errno));
    if (nd_model_onnx_path(model_dir, id, path, sizeof(path)) == 0 && unlink(path) != 0 &&
        errno != ENOENT)
        nd_log_job(ND_LOG_WARN, id, "cannot remove %s: %s", path, strerror(errno));
}
