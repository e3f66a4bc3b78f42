// SPDX-License-Identifier: MIT
/*
 * job_ckpt.c - checkpoints of a run's position: nas__job_save writes the
 * parameters, the optimizer's and the run's position with the spec that
 * wrote them; nas__job_resume reads them back.
 *
 * The one design decision to know: a checkpoint carries the spec that
 * wrote it as canonical text ("dataset=synthetic epochs=3 lr=0.0199999996
 * ..."), only the fields that change the numbers, with a hash of it. A
 * resume first reads just the checkpoint's metadata and compares the text,
 * so a checkpoint of another spec is refused with the first field that
 * differs, before any tensor is loaded (and before a shape error could
 * hide the real cause). Floats in the text are written in the shortest
 * form that reads back as the same float ("lr=0.025", not %.9g's
 * "lr=0.0250000004"); checkpoints written before that keep %.9g text, so
 * texts are compared with their floats read back (nas__spec_text_same).
 */
#include "jobs.h"

#include <errno.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* --------------------------------------------------------- checkpoints */

enum { NMETA = 28 };

typedef struct meta_buf {
    nas_kv kv[NMETA];
    char val[NMETA][80];
    int n;
} meta_buf;

static void meta_add(meta_buf *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void meta_add(meta_buf *m, const char *key, const char *fmt, ...)
{
    NAS_ASSERT(m->n < NMETA);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->val[m->n], sizeof(m->val[m->n]), fmt, ap);
    va_end(ap);
    m->kv[m->n].key = key;
    m->kv[m->n].value = m->val[m->n];
    m->n++;
}

static uint64_t bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static void meta_double(meta_buf *m, const char *key, double v)
{
    meta_add(m, key, "%016" PRIx64, bits(v));
}

int nas__job_save(nas__job *j, nas_params *p, const nas_rng *op_rng, nas__job_pos *pos)
{
    const char *path = j->spec.checkpoint_path;
    if (!path || (j->dist && j->dist->rank != 0)) /* a group's rank 0 writes */
        return NAS_OK;
    pos->elapsed = nas__job_elapsed(j);
    meta_buf m = {.n = 0};
    char fp[24];
    snprintf(fp, sizeof(fp), "%016" PRIx64, fnv1a(j->spec_text));
    const nas_rng *d = &pos->data_rng;
    meta_add(&m, "step", "%" PRId64, pos->global_step);
    meta_add(&m, "job.fingerprint", "%s", fp);
    meta_add(&m, "job.threads", "%d", j->spec.threads);
    meta_add(&m, "job.ranks", "%d", j->dist ? j->dist->size : 1);
    meta_add(&m, "job.epoch", "%d", pos->epoch);
    meta_add(&m, "job.epoch_step", "%" PRId64, pos->step);
    meta_add(&m, "job.global_step", "%" PRId64, pos->global_step);
    meta_add(&m, "job.sgd_steps", "%" PRId64, pos->sgd_steps);
    meta_add(&m, "job.adam_steps", "%" PRId64, pos->adam_steps);
    meta_add(&m, "job.data_rng", "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, d->s[0],
             d->s[1], d->s[2], d->s[3]);
    meta_double(&m, "job.loss_sum", pos->loss_sum);
    meta_double(&m, "job.correct", pos->correct);
    meta_double(&m, "job.seen", pos->seen);
    meta_double(&m, "job.last_loss", pos->last_loss);
    meta_double(&m, "job.last_acc", pos->last_acc);
    meta_double(&m, "job.elapsed", pos->elapsed);
    m.kv[m.n].key = "job.spec"; /* longer than the fixed slots */
    m.kv[m.n++].value = j->spec_text;
    for (int i = 0; i < j->nextra; i++) {
        NAS_ASSERT(m.n < NMETA && "too many extra checkpoint metadata");
        m.kv[m.n++] = j->extra_meta[i];
    }
    int rc = nas_ckpt_save(path, p, op_rng, m.kv, m.n);
    if (rc < 0)
        return rc;
    if (j->rep.checkpoint)
        j->rep.checkpoint(j->rep.ctx, path, pos->global_step);
    return NAS_OK;
}

/* The value of key in "k=v k=v ..." text: *vlen bytes at the result, or
 * NULL when the key is absent. */
static const char *find_value(const char *text, const char *key, size_t klen, size_t *vlen)
{
    for (const char *t = text; *t; t += strspn(t, " ")) {
        size_t len = strcspn(t, " ");
        if (len > klen && t[klen] == '=' && memcmp(t, key, klen) == 0) {
            *vlen = len - klen - 1;
            return t + klen + 1;
        }
        t += len;
    }
    return NULL;
}

/* A word of a spec text (between blanks, '=' and ',') that is a decimal
 * float with a point or an exponent, read back as a float into *f. */
static int float_word(const char *w, size_t n, float *f)
{
    char t[64];
    if (n == 0 || n >= sizeof(t))
        return 0;
    int point = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)w[i]) && !strchr(".eE+-", w[i]))
            return 0;
        point |= w[i] == '.' || w[i] == 'e' || w[i] == 'E';
    }
    memcpy(t, w, n);
    t[n] = '\0';
    char *end;
    *f = strtof(t, &end);
    return point && *end == '\0';
}

void nas__spec_text_shorten(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    NAS_ASSERT(cap > 0);
    while (*in) {
        size_t n = strcspn(in, " =,");
        float f;
        char t[32];
        const char *w = in;
        size_t wn = n;
        if (float_word(in, n, &f)) {
            for (int p = 1; p <= 9; p++) { /* 9 digits tell any two floats apart */
                snprintf(t, sizeof(t), "%.*g", p, (double)f);
                if (strtof(t, NULL) == f)
                    break;
            }
            w = t;
            wn = strlen(t);
        }
        if (!n) { /* a separator */
            w = in;
            wn = 1;
            n = 1;
        }
        if (o + wn < cap) {
            memcpy(out + o, w, wn);
            o += wn;
        }
        in += n;
    }
    out[o] = '\0';
}

int nas__spec_text_same(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    size_t na = 2 * strlen(a) + 32, nb = 2 * strlen(b) + 32; /* room to spare */
    char *sa = malloc(na), *sb = malloc(nb);
    int same = sa && sb;
    if (same) {
        nas__spec_text_shorten(a, sa, na);
        nas__spec_text_shorten(b, sb, nb);
        same = strcmp(sa, sb) == 0;
    }
    free(sa);
    free(sb);
    return same;
}

/* The first field whose value differs, for the message: out receives
 * "epochs=3 there, epochs=4 here". */
static void first_difference(const char *theirs, const char *ours, char *out, size_t cap)
{
    snprintf(out, cap, "written by \"%s\"", theirs);
    for (const char *t = theirs; *t; t += strspn(t, " ")) {
        size_t len = strcspn(t, " "), klen = strcspn(t, "=");
        if (klen > len)
            klen = len;
        size_t tv = len > klen ? len - klen - 1 : 0, ov = 0;
        const char *o = find_value(ours, t, klen, &ov);
        if (!o || ov != tv || memcmp(o, t + klen + 1, tv) != 0) {
            snprintf(out, cap, "%.*s there, %.*s%s%.*s here", (int)len, t, (int)klen, t,
                     o ? "=" : " absent", (int)ov, o ? o : "");
            return;
        }
        t += len;
    }
}

static int check_spec(const nas__job *j, const char *path)
{
    char *theirs = NULL;
    int rc = nas__ckpt_meta(path, "job.spec", &theirs);
    if (rc < 0)
        return rc;
    if (!theirs)
        return nas_fail(NAS_EINVAL,
                        "%s: not a checkpoint of a job (no "
                        "job.spec); remove it or turn resume off",
                        path);
    if (!nas__spec_text_same(theirs, j->spec_text)) {
        char diff[300], *t = malloc(2 * strlen(theirs) + 32);
        if (t) /* named in today's spelling, not at a float spelt otherwise */
            nas__spec_text_shorten(theirs, t, 2 * strlen(theirs) + 32);
        first_difference(t ? t : theirs, j->spec_text, diff, sizeof(diff));
        free(t);
        rc = nas_fail(NAS_EINVAL,
                      "%s: checkpoint of another job spec (%s); "
                      "remove it or turn resume off",
                      path, diff);
    }
    free(theirs);
    return rc;
}

static int get_i64(const nas_kv *kv, int n, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = nas_kv_get(kv, n, key);
    char *end;
    if (!v)
        return -1;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int get_hex(const char *v, uint64_t *out)
{
    char *end;
    if (!v || strlen(v) != 16)
        return -1;
    errno = 0;
    *out = strtoull(v, &end, 16);
    return errno || *end ? -1 : 0;
}

static int get_double(const nas_kv *kv, int n, const char *key, double *out)
{
    uint64_t u;
    if (get_hex(nas_kv_get(kv, n, key), &u) < 0)
        return -1;
    memcpy(out, &u, sizeof(*out));
    return 0;
}

static int get_rng(const nas_kv *kv, int n, const char *key, nas_rng *r)
{
    const char *v = nas_kv_get(kv, n, key);
    if (!v || strlen(v) != 64)
        return -1;
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, v + 16 * i, 16);
        part[16] = '\0';
        if (get_hex(part, &r->s[i]) < 0)
            return -1;
    }
    return r->s[0] | r->s[1] | r->s[2] | r->s[3] ? 0 : -1;
}

static int parse_pos(const nas__job *j, const nas_kv *kv, int n, int64_t spe, nas__job_pos *pos)
{
    int64_t epoch, total = spe * j->spec.epochs;
    if (get_i64(kv, n, "job.epoch", 1, j->spec.epochs + 1, &epoch) < 0 ||
        get_i64(kv, n, "job.epoch_step", 0, spe - 1, &pos->step) < 0 ||
        get_i64(kv, n, "job.global_step", 0, total, &pos->global_step) < 0 ||
        get_i64(kv, n, "job.sgd_steps", 0, total, &pos->sgd_steps) < 0 ||
        get_rng(kv, n, "job.data_rng", &pos->data_rng) < 0 ||
        get_double(kv, n, "job.loss_sum", &pos->loss_sum) < 0 ||
        get_double(kv, n, "job.correct", &pos->correct) < 0 ||
        get_double(kv, n, "job.seen", &pos->seen) < 0 ||
        get_double(kv, n, "job.last_loss", &pos->last_loss) < 0 ||
        get_double(kv, n, "job.last_acc", &pos->last_acc) < 0 ||
        get_double(kv, n, "job.elapsed", &pos->elapsed) < 0)
        return -1;
    /* Absent in train checkpoints written before darts existed. */
    pos->adam_steps = 0;
    if (nas_kv_get(kv, n, "job.adam_steps") &&
        get_i64(kv, n, "job.adam_steps", 0, total, &pos->adam_steps) < 0)
        return -1;
    pos->epoch = (int)epoch;
    /* The position must be one this plan can reach. */
    return pos->global_step == (epoch - 1) * spe + pos->step &&
                   (epoch <= j->spec.epochs || pos->step == 0)
               ? 0
               : -1;
}

int nas__job_resume(nas__job *j, nas_params *p, nas_rng *op_rng, int64_t steps_per_epoch,
                    nas__job_pos *pos, int *resumed)
{
    const char *path = j->spec.checkpoint_path;
    nas_kv *kv = NULL;
    int n = 0, rc;
    *resumed = 0;
    if (!j->spec.resume || !path)
        return NAS_OK;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        nas__job_log(j, "no checkpoint at %s: starting afresh", path);
        return NAS_OK;
    }
    if ((rc = check_spec(j, path)) < 0)
        return rc;
    nas_rng rng = *op_rng;
    if ((rc = nas_ckpt_load(path, p, &rng, &kv, &n)) < 0)
        return rc;
    nas__job_pos np = *pos;
    if (parse_pos(j, kv, n, steps_per_epoch, &np) < 0) {
        rc = nas_fail(NAS_EFORMAT,
                      "%s: job position metadata missing or "
                      "out of range for this job",
                      path);
        goto fail;
    }
    const char *threads = nas_kv_get(kv, n, "job.threads");
    if (threads && atoi(threads) != j->spec.threads)
        nas__job_log(j,
                     "checkpoint written with %s threads, resumed with "
                     "%d: numbers may differ from an uninterrupted run",
                     threads, j->spec.threads);
    /* Another group size sums in another order: the same weights go on,
     * but no longer to an uninterrupted run's bits. */
    const char *ranks = nas_kv_get(kv, n, "job.ranks");
    int now = j->dist ? j->dist->size : 1;
    if (atoi(ranks ? ranks : "1") != now)
        nas__job_log(j,
                     "checkpoint written on %s rank(s), resumed on %d: the same weights, but "
                     "no longer bit-exact with an uninterrupted run",
                     ranks ? ranks : "1", now);
    *pos = np;
    *op_rng = rng;
    j->elapsed0 = np.elapsed;
    j->step0 = np.global_step;
    *resumed = 1;
    nas__job_log(j, "resumed from %s at epoch %d, step %" PRId64, path, np.epoch, np.global_step);
fail:
    nas_kv_free(kv, n);
    return rc;
}
