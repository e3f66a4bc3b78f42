// SPDX-License-Identifier: MIT
/*
 * ckpt_header.c - the reader of a checkpoint's safetensors header: the
 * length field, the JSON header into a table of entries (each checked
 * against the file), the string metadata, and nas__ckpt_meta, which reads
 * one metadata value without reading the tensors.
 *
 * The one design decision to know: the header goes through the small
 * strict JSON reader of json.c (the engine has no JSON library), and every
 * entry is checked here, against the data section (dtype, shape, offsets,
 * an exact tiling), so that checkpoint.c's load only has to match it
 * against the store before it copies anything.
 */
#include "ckpt_internal.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const struct {
    const char *name;
    unsigned size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};
enum { DT_COUNT = sizeof(dtypes) / sizeof(dtypes[0]) };

int nas__ckpt_dtype_find(const char *name)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return i;
    return -1;
}

const char *nas__ckpt_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < DT_COUNT ? dtypes[dtype].name : "?";
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice among n keys, or NULL. *oom set when
 * the scratch array cannot be allocated. */
const char *nas__ckpt_duplicate_key(const nas_kv *kv, int n, int *oom)
{
    const char *dup = NULL;
    *oom = 0;
    if (n < 2)
        return NULL;
    const char **keys = malloc((size_t)n * sizeof(*keys));
    if (!keys) {
        *oom = 1;
        return NULL;
    }
    for (int i = 0; i < n; i++)
        keys[i] = kv[i].key;
    qsort(keys, (size_t)n, sizeof(*keys), cmp_str_ptr);
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    free(keys);
    return dup;
}

void nas__ckpt_header_free(ck_header *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->e[i].name);
    free(h->e);
    nas_kv_free(h->meta, h->nmeta);
}

/* An array of unsigned integers into v[0, max), count in *n. */
static int read_uint_array(nas_json *j, uint64_t *v, int max, int *n, const char *tensor,
                           const char *field)
{
    int r, first = 1;
    *n = 0;
    if ((r = nas__json_expect(j, '[', "expected an array")))
        return r;
    while ((r = nas__json_element(j, &first)) == 1) {
        if (*n == max)
            return nas__json_bad(j,
                                 "tensor \"%s\": %s has more than %d "
                                 "entries",
                                 tensor, field, max);
        if ((r = nas__json_uint(j, &v[(*n)++])))
            return r;
    }
    return r;
}

static int parse_meta(nas_json *j, ck_header *h)
{
    int r, first = 1;
    char *key = NULL, *val = NULL;
    if (h->have_meta)
        return nas__json_bad(j, "duplicate " CK_META);
    h->have_meta = 1;
    if ((r = nas__json_expect(j, '{', "expected an object for " CK_META)))
        return r;
    while ((r = nas__json_member(j, &first, &key)) == 1) {
        if (nas__json_peek(j) != '"') {
            r = nas__json_bad(j, CK_META " value of \"%s\" is not a string", key);
            goto fail;
        }
        if ((r = nas__json_string(j, &val)))
            goto fail;
        if (h->nmeta + 1 >= h->capmeta) {
            int cap = h->capmeta ? 2 * h->capmeta : 8;
            nas_kv *m = realloc(h->meta, (size_t)cap * sizeof(*m));
            if (!m) {
                r = nas_fail(NAS_ENOMEM, "%s: metadata", j->path);
                goto fail;
            }
            h->meta = m;
            h->capmeta = cap;
        }
        h->meta[h->nmeta].key = key;
        h->meta[h->nmeta].value = val;
        h->nmeta++;
        h->meta[h->nmeta].key = h->meta[h->nmeta].value = NULL;
        key = val = NULL;
    }
fail:
    free(key);
    free(val);
    return r;
}

/* One tensor's object; checks that it is complete and fits the data. */
static int parse_tensor(nas_json *j, ck_header *h, ck_entry *e)
{
    int r, first = 1, has_dtype = 0, has_shape = 0, has_offs = 0, noff;
    char *key = NULL, *val = NULL;
    uint64_t offs[2];
    size_t at = j->pos;
    if ((r = nas__json_expect(j, '{', "expected an object for a tensor")))
        return r;
    while ((r = nas__json_member(j, &first, &key)) == 1) {
        int *seen = strcmp(key, "dtype") == 0          ? &has_dtype
                    : strcmp(key, "shape") == 0        ? &has_shape
                    : strcmp(key, "data_offsets") == 0 ? &has_offs
                                                       : NULL;
        if (seen && *seen) {
            r = nas__json_bad(j, "tensor \"%s\": duplicate %s", e->name, key);
            goto fail;
        }
        if (seen)
            *seen = 1;
        if (seen == &has_dtype) {
            if ((r = nas__json_string(j, &val)))
                goto fail;
            if ((e->dtype = nas__ckpt_dtype_find(val)) < 0) {
                r = nas__json_bad(j, "tensor \"%s\": unknown dtype \"%s\"", e->name, val);
                goto fail;
            }
            free(val);
            val = NULL;
        } else if (seen == &has_shape) {
            r = read_uint_array(j, e->shape, CK_MAX_DIMS, &e->ndim, e->name, "shape");
        } else if (seen == &has_offs) {
            r = read_uint_array(j, offs, 2, &noff, e->name, "data_offsets");
            if (!r && noff != 2)
                r = nas__json_bad(j,
                                  "tensor \"%s\": data_offsets needs 2 "
                                  "entries",
                                  e->name);
        } else {
            r = nas__json_skip(j, 3);
        }
        free(key);
        key = NULL;
        if (r)
            goto fail;
    }
    if (r)
        goto fail;
    size_t after = j->pos;
    j->pos = at; /* report the problems below at the tensor's start */
    if (!has_dtype || !has_shape || !has_offs) {
        r = nas__json_bad(j, "tensor \"%s\" has no %s", e->name,
                          !has_dtype   ? "dtype"
                          : !has_shape ? "shape"
                                       : "data_offsets");
        goto fail;
    }
    e->begin = offs[0];
    e->end = offs[1];
    if (e->begin > e->end) {
        r = nas__json_bad(j,
                          "tensor \"%s\": data_offsets begin %llu > end "
                          "%llu",
                          e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        goto fail;
    }
    if (e->end > h->data_len) {
        r = nas__json_bad(j,
                          "tensor \"%s\": data_offsets [%llu, %llu] "
                          "outside the data section of %llu bytes",
                          e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)h->data_len);
        goto fail;
    }
    uint64_t bytes = dtypes[e->dtype].size;
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] && bytes > UINT64_MAX / e->shape[i]) {
            r = nas__json_bad(j, "tensor \"%s\": shape overflows", e->name);
            goto fail;
        }
        bytes *= e->shape[i];
    }
    if (bytes != e->end - e->begin) {
        r = nas__json_bad(j,
                          "tensor \"%s\": shape and dtype make %llu "
                          "bytes but data_offsets give %llu",
                          e->name, (unsigned long long)bytes,
                          (unsigned long long)(e->end - e->begin));
        goto fail;
    }
    j->pos = after;
    r = 0;
fail:
    free(key);
    free(val);
    return r;
}

typedef struct {
    uint64_t begin, end;
    int index;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must tile the data section exactly: no gap, no overlap,
 * nothing after the last one (like the reference implementation). */
static int check_layout(const char *path, ck_header *h)
{
    int err = NAS_OK;
    span *order = malloc(((size_t)h->n + 1) * sizeof(*order));
    if (!order)
        return nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
    for (int i = 0; i < h->n; i++)
        order[i] = (span){h->e[i].begin, h->e[i].end, i};
    qsort(order, (size_t)h->n, sizeof(*order), cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < h->n; i++) {
        const ck_entry *e = &h->e[order[i].index];
        if (e->begin != at) {
            err = nas_fail(NAS_EFORMAT,
                           "%s: tensor \"%s\" starts at byte "
                           "%llu of the data section, expected %llu (%s)",
                           path, e->name, (unsigned long long)e->begin, (unsigned long long)at,
                           e->begin < at ? "overlap" : "gap");
            goto fail;
        }
        at = e->end;
    }
    if (at != h->data_len) {
        err = nas_fail(NAS_EFORMAT,
                       "%s: data section is %llu bytes but the "
                       "tensors cover %llu",
                       path, (unsigned long long)h->data_len, (unsigned long long)at);
        goto fail;
    }
fail:
    free(order);
    return err;
}

/* Length field, JSON header, per-tensor checks and the layout. */
int nas__ckpt_parse_header(const char *path, const unsigned char *buf, size_t size, ck_header *h)
{
    int r, first = 1;
    char *key = NULL;
    if (size < 8)
        return nas_fail(NAS_EFORMAT,
                        "%s: file is %zu bytes, too short "
                        "for a safetensors header",
                        path, size);
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++)
        hlen |= (uint64_t)buf[k] << (8 * k);
    if (hlen > CK_MAX_HEADER)
        return nas_fail(NAS_EFORMAT,
                        "%s: header length %llu is absurd "
                        "(limit %llu)",
                        path, (unsigned long long)hlen, CK_MAX_HEADER);
    if (hlen > size - 8)
        return nas_fail(NAS_EFORMAT,
                        "%s: header length %llu exceeds the "
                        "%zu bytes after the length field",
                        path, (unsigned long long)hlen, size - 8);
    h->data = buf + 8 + hlen;
    h->data_len = size - 8 - hlen;
    nas_json j = {.path = path,
                  .what = "header",
                  .base = 8,
                  .s = (const char *)buf + 8,
                  .n = (size_t)hlen,
                  .pos = 0};
    if ((r = nas__json_expect(&j, '{', "header must be a JSON object")))
        return r;
    while ((r = nas__json_member(&j, &first, &key)) == 1) {
        if (strcmp(key, CK_META) == 0) {
            r = parse_meta(&j, h);
        } else {
            if (h->n == h->cap) {
                int cap = h->cap ? 2 * h->cap : 64;
                ck_entry *e = realloc(h->e, (size_t)cap * sizeof(*e));
                if (!e) {
                    r = nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
                    goto fail;
                }
                h->e = e;
                h->cap = cap;
            }
            ck_entry *e = &h->e[h->n++];
            memset(e, 0, sizeof(*e));
            e->name = key;
            key = NULL;
            r = parse_tensor(&j, h, e);
        }
        free(key);
        key = NULL;
        if (r)
            goto fail;
    }
    if (r)
        goto fail;
    if (nas__json_peek(&j) >= 0) {
        r = nas__json_syntax(&j, "trailing characters after the header "
                                 "object");
        goto fail;
    }
    int oom;
    const char *dup = nas__ckpt_duplicate_key(h->meta, h->nmeta, &oom);
    if (oom || dup) {
        r = oom ? nas_fail(NAS_ENOMEM, "%s: checkpoint", path)
                : nas_fail(NAS_EFORMAT, "%s: duplicate metadata key \"%s\"", path, dup);
        goto fail;
    }
    r = check_layout(path, h);
fail:
    free(key);
    return r;
}

int nas__ckpt_read_file(const char *path, unsigned char **out, size_t *size)
{
    int err = NAS_OK;
    unsigned char *buf = NULL;
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        err = nas_fail(NAS_EIO, "%s: cannot open checkpoint: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = nas_fail(NAS_EIO, "%s: not a regular file", path);
        goto fail;
    }
    size_t n = (size_t)st.st_size;
    buf = malloc(n ? n : 1);
    if (!buf) {
        err = nas_fail(NAS_ENOMEM, "%s: %zu bytes", path, n);
        goto fail;
    }
    if (fread(buf, 1, n, f) != n) {
        err = ferror(f) ? nas_fail(NAS_EIO, "%s: cannot read: %s", path, strerror(errno))
                        : nas_fail(NAS_EIO, "%s: file shrank while read", path);
        goto fail;
    }
    fclose(f);
    *out = buf;
    *size = n;
    return NAS_OK;
fail:
    if (f)
        fclose(f);
    free(buf);
    return err;
}

/* ========================================================== metadata */

/* Reads the length field and the header only, and of the header only the
 * metadata: a resume checks the spec before it reads any tensor. */
int nas__ckpt_meta(const char *path, const char *want_key, char **spec)
{
    *spec = NULL;
    unsigned char len8[8];
    char *hdr = NULL;
    int rc = NAS_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nas_fail(NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t n = 0;
    if (fread(len8, 1, 8, f) != 8)
        goto bad;
    for (int k = 0; k < 8; k++)
        n |= (uint64_t)len8[k] << (8 * k);
    if (n < 2 || n > CK_MAX_HEADER || !(hdr = malloc(n)))
        goto bad;
    if (fread(hdr, 1, n, f) != n)
        goto bad;
    nas_json js = {.path = path, .what = "header", .base = 8, .s = hdr, .n = n};
    int first = 1;
    char *key = NULL;
    if ((rc = nas__json_expect(&js, '{', "a header object")) < 0)
        goto fail;
    while ((rc = nas__json_member(&js, &first, &key)) == 1) {
        int meta = strcmp(key, CK_META) == 0;
        free(key);
        if (!meta) {
            if ((rc = nas__json_skip(&js, 1)) < 0)
                goto fail;
            continue;
        }
        /* The same reader as a load's: one idea of what metadata is. */
        ck_header h = {0};
        rc = parse_meta(&js, &h);
        const char *v = rc < 0 ? NULL : nas_kv_get(h.meta, h.nmeta, want_key);
        if (v && !(*spec = strdup(v)))
            rc = nas_fail(NAS_ENOMEM, "%s: metadata", path);
        nas__ckpt_header_free(&h);
        if (rc < 0)
            goto fail;
        break;
    }
    if (rc < 0)
        goto fail;
    fclose(f);
    free(hdr);
    return NAS_OK;

bad:
    rc = nas_fail(NAS_EFORMAT, "%s: not a checkpoint (bad header)", path);
fail:
    fclose(f);
    free(hdr);
    free(*spec);
    *spec = NULL;
    return rc;
}

void nas_kv_free(nas_kv *kv, int n)
{
    if (!kv)
        return;
    for (int i = 0; i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

const char *nas_kv_get(const nas_kv *kv, int n, const char *key)
{
    for (int i = 0; kv && i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}
