// SPDX-License-Identifier: MIT
/*
 * checkpoint.c - the parameter store (data and optimizer moments), the RNG
 * state and string metadata as one safetensors file, written atomically,
 * and loaded back into a store (the header's reader is ckpt_header.c).
 *
 * The one design decision to know: a load validates the whole file before
 * it touches anything. The file is read into memory, its JSON header goes
 * through the small strict reader of json.c (the engine has no JSON
 * library) into a table of entries, every entry is checked against the
 * file and against the store, and only then is anything copied; so a
 * failed load leaves the store, the RNG and the caller's metadata exactly
 * as they were.
 */
#include "ckpt_internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c copies tensors in host order: little-endian only"
#endif

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ================================================================ save */

/* One tensor's header entry, preceded by its ','; t NULL is the RNG. */
static void put_tensor(nas_json_buf *b, const char *name, const char *suffix, const char *dtype,
                       const nas_tensor *t, uint64_t begin, uint64_t end)
{
    nas__json_buf_put(b, ",", 1);
    nas__json_buf_str(b, name, suffix);
    nas__json_buf_puts(b, ":{\"dtype\":\"");
    nas__json_buf_puts(b, dtype);
    nas__json_buf_puts(b, "\",\"shape\":[");
    if (t) {
        for (int i = 0; i < t->ndim; i++) {
            if (i)
                nas__json_buf_put(b, ",", 1);
            nas__json_buf_u64(b, (uint64_t)t->shape[i]);
        }
    } else {
        nas__json_buf_puts(b, "4");
    }
    nas__json_buf_puts(b, "],\"data_offsets\":[");
    nas__json_buf_u64(b, begin);
    nas__json_buf_put(b, ",", 1);
    nas__json_buf_u64(b, end);
    nas__json_buf_puts(b, "]}");
}

static int check_save_args(const char *path, nas_params *p, const nas_kv *meta, int nmeta)
{
    if (nmeta < 0 || (nmeta > 0 && !meta))
        return nas_fail(NAS_EINVAL, "%s: bad metadata count %d", path, nmeta);
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value)
            return nas_fail(NAS_EINVAL, "%s: metadata %d is NULL", path, i);
        if (!nas__json_utf8_valid(meta[i].key) || !nas__json_utf8_valid(meta[i].value))
            return nas_fail(NAS_EINVAL, "%s: metadata %d is not UTF-8", path, i);
    }
    int oom;
    const char *dup = nas__ckpt_duplicate_key(meta, nmeta, &oom);
    if (oom)
        return nas_fail(NAS_ENOMEM, "%s: checkpoint header", path);
    if (dup)
        return nas_fail(NAS_EINVAL, "%s: metadata key \"%s\" given twice", path, dup);
    /* Names that would collide with the moments, the RNG or the metadata
     * in the file's flat namespace are refused. */
    for (int i = 0; i < nas_params_count(p); i++) {
        const char *name = nas_params_get(p, i)->name;
        if (!nas__json_utf8_valid(name) || strcmp(name, CK_META) == 0 ||
            strcmp(name, CK_RNG) == 0 || has_suffix(name, "#m1") || has_suffix(name, "#m2"))
            return nas_fail(NAS_EINVAL, "%s: parameter name \"%s\" cannot be saved", path, name);
    }
    return NAS_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. Data
 * layout: the RNG state first (so it is 8-aligned), then every parameter
 * in index order as data, m1, m2. A model file (groups != 0) holds only
 * the data of the parameters of those groups (bit g for group g). */
typedef struct {
    uint32_t groups;  /* 0: a checkpoint (everything, with moments) */
    const char *skip; /* a model file leaves out names with this prefix */
} file_sel;

static int selected(nas_params *p, int i, const file_sel *sel)
{
    const char *name = nas_params_get(p, i)->name;
    return !sel->groups || ((sel->groups & (1u << nas_params_group_of(p, i))) &&
                            !(sel->skip && strncmp(name, sel->skip, strlen(sel->skip)) == 0));
}

static int build_header(const char *path, nas_json_buf *b, nas_params *p, const nas_rng *rng,
                        const nas_kv *meta, int nmeta, const file_sel *sel)
{
    uint64_t off = 0;
    nas__json_buf_puts(b, "{\"" CK_META "\":{");
    for (int i = 0; i < nmeta; i++) {
        if (i)
            nas__json_buf_put(b, ",", 1);
        nas__json_buf_str(b, meta[i].key, "");
        nas__json_buf_put(b, ":", 1);
        nas__json_buf_str(b, meta[i].value, "");
    }
    nas__json_buf_put(b, "}", 1);
    if (rng) {
        put_tensor(b, CK_RNG, "", "U64", NULL, 0, 32);
        off = 32;
    }
    static const char *const suffix[3] = {"", "#m1", "#m2"};
    for (int i = 0; i < nas_params_count(p); i++) {
        const nas_tensor *t = nas_params_get(p, i);
        uint64_t bytes = (uint64_t)nas_tensor_numel(t) * sizeof(float);
        if (!selected(p, i, sel))
            continue;
        for (int k = 0; k < (sel->groups ? 1 : 3); k++, off += bytes)
            put_tensor(b, t->name, suffix[k], "F32", t, off, off + bytes);
    }
    nas__json_buf_put(b, "}", 1);
    while (!b->oom && b->len % 8)
        nas__json_buf_put(b, " ", 1);
    if (b->oom)
        return nas_fail(NAS_ENOMEM, "%s: checkpoint header", path);
    return NAS_OK;
}

static int fsync_dir(const char *path)
{
    int err = -1, fd = -1;
    char *dir = strdup(path);
    if (!dir)
        goto fail;
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0)
        goto fail;
    err = 0;
fail:
    if (fd >= 0)
        close(fd);
    free(dir);
    return err;
}

static int write_all(FILE *f, const void *data, size_t bytes)
{
    return fwrite(data, 1, bytes, f) == bytes ? 0 : -1;
}

static int write_data(FILE *f, nas_params *p, const nas_rng *rng, const file_sel *sel)
{
    if (rng) {
        unsigned char le[32];
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 8; k++)
                le[8 * i + k] = (unsigned char)(rng->s[i] >> (8 * k));
        if (write_all(f, le, sizeof(le)))
            return -1;
    }
    for (int i = 0; i < nas_params_count(p); i++) {
        const nas_tensor *t = nas_params_get(p, i);
        size_t bytes = nas_tensor_numel(t) * sizeof(float);
        if (sel->groups) {
            if (selected(p, i, sel) && write_all(f, t->data, bytes))
                return -1;
            continue;
        }
        if (write_all(f, t->data, bytes) || write_all(f, nas_params_moment1(p, i), bytes) ||
            write_all(f, nas_params_moment2(p, i), bytes))
            return -1;
    }
    return 0;
}

static int save_file(const char *path, nas_params *p, const nas_rng *rng, const nas_kv *meta,
                     int nmeta, const file_sel *sel)
{
    nas_json_buf hdr = {0};
    char *tmp = NULL;
    FILE *f = NULL;
    int made_tmp = 0;
    const char *what = NULL;
    int err = check_save_args(path, p, meta, nmeta);
    if (err)
        goto fail;
    err = build_header(path, &hdr, p, rng, meta, nmeta, sel);
    if (err)
        goto fail;

    size_t tmp_len = strlen(path) + 32;
    tmp = malloc(tmp_len);
    if (!tmp) {
        err = nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
        goto fail;
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());

    unsigned char len_le[8];
    for (int k = 0; k < 8; k++)
        len_le[k] = (unsigned char)((uint64_t)hdr.len >> (8 * k));
    /* Each step names itself in `what` for the message if it fails. */
    if (!(f = fopen(tmp, "wb"))) {
        what = "create";
        goto fail;
    }
    made_tmp = 1;
    if (write_all(f, len_le, 8) || write_all(f, hdr.s, hdr.len) || write_data(f, p, rng, sel) ||
        fflush(f) != 0) {
        what = "write";
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        what = "fsync";
        goto fail;
    }
    FILE *closing = f;
    f = NULL;
    if (fclose(closing) != 0) {
        what = "close";
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        what = "rename";
        goto fail;
    }
    made_tmp = 0;
    if (fsync_dir(path) != 0) {
        what = "fsync the directory of";
        goto fail;
    }
    free(tmp);
    free(hdr.s);
    return NAS_OK;

fail:
    if (what)
        err = nas_fail(NAS_EIO, "%s: cannot %s checkpoint: %s", path, what, strerror(errno));
    if (f)
        fclose(f);
    if (made_tmp)
        unlink(tmp);
    free(tmp);
    free(hdr.s);
    return err;
}

int nas_ckpt_save(const char *path, nas_params *p, const nas_rng *rng, const nas_kv *meta,
                  int nmeta)
{
    file_sel all = {0, NULL};
    return save_file(path, p, rng, meta, nmeta, &all);
}

int nas_model_save(const char *path, nas_params *p, uint32_t groups, const char *skip_prefix,
                   const nas_kv *meta, int nmeta)
{
    NAS_ASSERT(groups && "a model file holds some group");
    file_sel sel = {groups, skip_prefix};
    return save_file(path, p, NULL, meta, nmeta, &sel);
}

/* ================================================================ load */

typedef struct {
    const char *name;
    int index;
} name_index;

static int cmp_name_index(const void *a, const void *b)
{
    return strcmp(((const name_index *)a)->name, ((const name_index *)b)->name);
}

static void format_shape(char *buf, size_t cap, const uint64_t *dims, int ndim)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%llu", i ? "," : "",
                               (unsigned long long)dims[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
}

/* Pair every entry with a slot: 3 per parameter (data, m1, m2) and one
 * for the RNG, slot[k] = entry index. Any entry without a slot, any
 * mismatch and any empty slot is an error. A model file (model) has only
 * the data slots: a moment or the RNG in it has no slot. */
static int match_store(const char *path, const ck_header *h, nas_params *p, const nas_rng *rng,
                       int model, int *slot)
{
    int err = NAS_OK, np = nas_params_count(p), rng_slot = 3 * np;
    name_index *names = malloc(((size_t)np + 1) * sizeof(*names));
    char *base = NULL;
    if (!names)
        return nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
    for (int i = 0; i < np; i++)
        names[i] = (name_index){nas_params_get(p, i)->name, i};
    qsort(names, (size_t)np, sizeof(*names), cmp_name_index);
    for (int k = 0; k <= rng_slot; k++)
        slot[k] = -1;

    for (int i = 0; i < h->n; i++) {
        const ck_entry *e = &h->e[i];
        int s = -1, kind = 0;
        if (strcmp(e->name, CK_RNG) == 0) {
            s = rng_slot;
            if (model) {
                err = nas_fail(NAS_EFORMAT, "%s: a model file holds no " CK_RNG, path);
                goto fail;
            }
            if (e->dtype != nas__ckpt_dtype_find("U64") || e->ndim != 1 || e->shape[0] != 4) {
                err = nas_fail(NAS_EFORMAT,
                               "%s: " CK_RNG " must be U64 "
                               "with shape [4]",
                               path);
                goto fail;
            }
        } else {
            free(base);
            base = strdup(e->name);
            if (!base) {
                err = nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
                goto fail;
            }
            kind = has_suffix(base, "#m1") ? 1 : has_suffix(base, "#m2") ? 2 : 0;
            if (kind)
                base[strlen(base) - 3] = '\0';
            if (kind && model) {
                err = nas_fail(NAS_EFORMAT,
                               "%s: unexpected tensor \"%s\" (a model file holds no "
                               "optimizer moments)",
                               path, e->name);
                goto fail;
            }
            name_index key = {base, 0};
            const name_index *hit =
                bsearch(&key, names, (size_t)np, sizeof(*names), cmp_name_index);
            if (!hit) {
                err = nas_fail(NAS_ESHAPE,
                               "%s: unexpected tensor \"%s\" "
                               "(the model has no such parameter)",
                               path, e->name);
                goto fail;
            }
            s = 3 * hit->index + kind;
            const nas_tensor *t = nas_params_get(p, hit->index);
            if (e->dtype != nas__ckpt_dtype_find("F32")) {
                err = nas_fail(NAS_EFORMAT,
                               "%s: tensor \"%s\" has dtype "
                               "%s, expected F32",
                               path, e->name, nas__ckpt_dtype_name(e->dtype));
                goto fail;
            }
            int same = e->ndim == t->ndim;
            uint64_t dims[NAS_MAXDIM];
            for (int d = 0; d < t->ndim; d++) {
                dims[d] = (uint64_t)t->shape[d];
                same = same && e->shape[d] == dims[d];
            }
            if (!same) {
                char fs[160], ms[160];
                format_shape(fs, sizeof(fs), e->shape, e->ndim);
                format_shape(ms, sizeof(ms), dims, t->ndim);
                err = nas_fail(NAS_ESHAPE,
                               "%s: tensor \"%s\" has shape %s "
                               "in the file but %s in the model",
                               path, e->name, fs, ms);
                goto fail;
            }
        }
        if (slot[s] >= 0) {
            err = nas_fail(NAS_EFORMAT, "%s: duplicate tensor \"%s\"", path, e->name);
            goto fail;
        }
        slot[s] = i;
    }
    static const char *const suffix[3] = {"", "#m1", "#m2"};
    for (int k = 0; k < rng_slot; k += model ? 3 : 1) {
        if (slot[k] < 0) {
            err = nas_fail(NAS_ENOTFOUND,
                           "%s: parameter \"%s%s\" is "
                           "missing from the checkpoint",
                           path, nas_params_get(p, k / 3)->name, suffix[k % 3]);
            goto fail;
        }
    }
    if (rng && slot[rng_slot] < 0) {
        err = nas_fail(NAS_ENOTFOUND,
                       "%s: " CK_RNG " is missing from the "
                       "checkpoint",
                       path);
        goto fail;
    }
    if (rng) {
        const unsigned char *d = h->data + h->e[slot[rng_slot]].begin;
        uint64_t any = 0;
        for (int k = 0; k < 32; k++)
            any |= d[k];
        if (!any) {
            err = nas_fail(NAS_EFORMAT, "%s: " CK_RNG " is all zero", path);
            goto fail;
        }
    }
fail:
    free(base);
    free(names);
    return err;
}

static int load_file(const char *path, nas_params *p, nas_rng *rng, int model, nas_kv **meta_out,
                     int *nmeta_out)
{
    unsigned char *buf = NULL;
    size_t size = 0;
    ck_header h = {0};
    int np = nas_params_count(p);
    int *slot = NULL;
    if (meta_out)
        *meta_out = NULL;
    if (nmeta_out)
        *nmeta_out = 0;
    int err = nas__ckpt_read_file(path, &buf, &size);
    if (err)
        goto fail;
    if ((err = nas__ckpt_parse_header(path, buf, size, &h)))
        goto fail;
    slot = malloc((3 * (size_t)np + 1) * sizeof(int));
    if (!slot) {
        err = nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
        goto fail;
    }
    if ((err = match_store(path, &h, p, rng, model, slot)))
        goto fail;
    if (meta_out && !h.meta) {
        h.meta = calloc(1, sizeof(nas_kv)); /* just the sentinel */
        if (!h.meta) {
            err = nas_fail(NAS_ENOMEM, "%s: metadata", path);
            goto fail;
        }
    }

    /* Everything is checked: commit. Nothing below can fail. */
    for (int i = 0; i < np; i++) {
        nas_tensor *t = nas_params_get(p, i);
        float *dst[3] = {t->data, nas_params_moment1(p, i), nas_params_moment2(p, i)};
        for (int k = 0; k < (model ? 1 : 3); k++) {
            const ck_entry *e = &h.e[slot[3 * i + k]];
            memcpy(dst[k], h.data + e->begin, (size_t)(e->end - e->begin));
        }
    }
    if (rng) {
        const unsigned char *d = h.data + h.e[slot[3 * np]].begin;
        for (int i = 0; i < 4; i++) {
            uint64_t v = 0;
            for (int k = 0; k < 8; k++)
                v |= (uint64_t)d[8 * i + k] << (8 * k);
            rng->s[i] = v;
        }
    }
    if (meta_out) {
        *meta_out = h.meta;
        if (nmeta_out)
            *nmeta_out = h.nmeta;
        h.meta = NULL;
        h.nmeta = 0;
    }
fail:
    free(slot);
    nas__ckpt_header_free(&h);
    free(buf);
    return err;
}

int nas_ckpt_load(const char *path, nas_params *p, nas_rng *rng, nas_kv **meta_out, int *nmeta_out)
{
    return load_file(path, p, rng, 0, meta_out, nmeta_out);
}

int nas_model_load(const char *path, nas_params *p, nas_kv **meta_out, int *nmeta_out)
{
    return load_file(path, p, NULL, 1, meta_out, nmeta_out);
}
