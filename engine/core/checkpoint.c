/*
 * checkpoint.c - the parameter store (data and optimizer moments), the RNG
 * state and string metadata as one safetensors file, written atomically.
 *
 * The one design decision to know: a load validates the whole file before
 * it touches anything. The file is read into memory, its JSON header goes
 * through the small strict reader of json.c (the engine has no JSON
 * library) into a table of entries, every entry is checked against the
 * file and against the store, and only then is anything copied; so a
 * failed load leaves the store, the RNG and the caller's metadata exactly
 * as they were.
 */
#include "internal.h"
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

#define CK_MAX_HEADER 100000000ull   /* 100 MB, the reference's limit */
#define CK_MAX_DIMS 8
#define CK_META "__metadata__"
#define CK_RNG "rng.state"

static const struct {
    const char *name;
    unsigned size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4},
    {"U32", 4}, {"F32", 4}, {"I64", 8}, {"U64", 8}, {"F64", 8},
};
enum { DT_COUNT = sizeof(dtypes) / sizeof(dtypes[0]) };

static int dtype_find(const char *name)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return i;
    return -1;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice among n keys, or NULL. *oom set when
 * the scratch array cannot be allocated. */
static const char *duplicate_key(const nas_kv *kv, int n, int *oom)
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

/* ================================================================ save */

/* One tensor's header entry, preceded by its ','; t NULL is the RNG. */
static void put_tensor(nas_json_buf *b, const char *name, const char *suffix,
                       const char *dtype, const nas_tensor *t,
                       uint64_t begin, uint64_t end)
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

static int check_save_args(const char *path, nas_params *p,
                           const nas_kv *meta, int nmeta)
{
    if (nmeta < 0 || (nmeta > 0 && !meta))
        return nas_fail(NAS_EINVAL, "%s: bad metadata count %d", path,
                        nmeta);
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value)
            return nas_fail(NAS_EINVAL, "%s: metadata %d is NULL", path, i);
        if (!nas__json_utf8_valid(meta[i].key) ||
            !nas__json_utf8_valid(meta[i].value))
            return nas_fail(NAS_EINVAL, "%s: metadata %d is not UTF-8",
                            path, i);
    }
    int oom;
    const char *dup = duplicate_key(meta, nmeta, &oom);
    if (oom)
        return nas_fail(NAS_ENOMEM, "%s: checkpoint header", path);
    if (dup)
        return nas_fail(NAS_EINVAL, "%s: metadata key \"%s\" given twice",
                        path, dup);
    /* Names that would collide with the moments, the RNG or the metadata
     * in the file's flat namespace are refused. */
    for (int i = 0; i < nas_params_count(p); i++) {
        const char *name = nas_params_get(p, i)->name;
        if (!nas__json_utf8_valid(name) || strcmp(name, CK_META) == 0 ||
            strcmp(name, CK_RNG) == 0 || has_suffix(name, "#m1") ||
            has_suffix(name, "#m2"))
            return nas_fail(NAS_EINVAL,
                            "%s: parameter name \"%s\" cannot be saved",
                            path, name);
    }
    return NAS_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. Data
 * layout: the RNG state first (so it is 8-aligned), then every parameter
 * in index order as data, m1, m2. */
static int build_header(const char *path, nas_json_buf *b, nas_params *p,
                        const nas_rng *rng, const nas_kv *meta, int nmeta)
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
        for (int k = 0; k < 3; k++, off += bytes)
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

static int write_data(FILE *f, nas_params *p, const nas_rng *rng)
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
        if (write_all(f, t->data, bytes) ||
            write_all(f, nas_params_moment1(p, i), bytes) ||
            write_all(f, nas_params_moment2(p, i), bytes))
            return -1;
    }
    return 0;
}

int nas_ckpt_save(const char *path, nas_params *p, const nas_rng *rng,
                  const nas_kv *meta, int nmeta)
{
    nas_json_buf hdr = {0};
    char *tmp = NULL;
    FILE *f = NULL;
    int made_tmp = 0;
    const char *what = NULL;
    int err = check_save_args(path, p, meta, nmeta);
    if (err)
        goto fail;
    err = build_header(path, &hdr, p, rng, meta, nmeta);
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
    if (write_all(f, len_le, 8) || write_all(f, hdr.s, hdr.len) ||
        write_data(f, p, rng) || fflush(f) != 0) {
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
        err = nas_fail(NAS_EIO, "%s: cannot %s checkpoint: %s", path, what,
                       strerror(errno));
    if (f)
        fclose(f);
    if (made_tmp)
        unlink(tmp);
    free(tmp);
    free(hdr.s);
    return err;
}

/* ================================================================ load */

typedef struct {
    char *name;
    int dtype;
    int ndim;
    uint64_t shape[CK_MAX_DIMS];
    uint64_t begin, end;
} ck_entry;

/* A parsed header: the entries in file order, the metadata (owned
 * strings, with a {NULL, NULL} sentinel) and the data section. */
typedef struct {
    ck_entry *e;
    int n, cap;
    nas_kv *meta;
    int nmeta, capmeta;
    int have_meta;
    const unsigned char *data;
    uint64_t data_len;
} ck_header;

static void header_free(ck_header *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->e[i].name);
    free(h->e);
    nas_kv_free(h->meta, h->nmeta);
}

/* An array of unsigned integers into v[0, max), count in *n. */
static int read_uint_array(nas_json *j, uint64_t *v, int max, int *n,
                           const char *tensor, const char *field)
{
    int r, first = 1;
    *n = 0;
    if ((r = nas__json_expect(j, '[', "expected an array")))
        return r;
    while ((r = nas__json_element(j, &first)) == 1) {
        if (*n == max)
            return nas__json_bad(j, "tensor \"%s\": %s has more than %d "
                                 "entries", tensor, field, max);
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
            r = nas__json_bad(j, CK_META " value of \"%s\" is not a string",
                              key);
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
            r = nas__json_bad(j, "tensor \"%s\": duplicate %s", e->name,
                              key);
            goto fail;
        }
        if (seen)
            *seen = 1;
        if (seen == &has_dtype) {
            if ((r = nas__json_string(j, &val)))
                goto fail;
            if ((e->dtype = dtype_find(val)) < 0) {
                r = nas__json_bad(j, "tensor \"%s\": unknown dtype \"%s\"",
                                  e->name, val);
                goto fail;
            }
            free(val);
            val = NULL;
        } else if (seen == &has_shape) {
            r = read_uint_array(j, e->shape, CK_MAX_DIMS, &e->ndim, e->name,
                                "shape");
        } else if (seen == &has_offs) {
            r = read_uint_array(j, offs, 2, &noff, e->name, "data_offsets");
            if (!r && noff != 2)
                r = nas__json_bad(j, "tensor \"%s\": data_offsets needs 2 "
                                  "entries", e->name);
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
    j->pos = at;   /* report the problems below at the tensor's start */
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
        r = nas__json_bad(j, "tensor \"%s\": data_offsets begin %llu > end "
                          "%llu", e->name, (unsigned long long)e->begin,
                          (unsigned long long)e->end);
        goto fail;
    }
    if (e->end > h->data_len) {
        r = nas__json_bad(j, "tensor \"%s\": data_offsets [%llu, %llu] "
                          "outside the data section of %llu bytes", e->name,
                          (unsigned long long)e->begin,
                          (unsigned long long)e->end,
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
        r = nas__json_bad(j, "tensor \"%s\": shape and dtype make %llu "
                          "bytes but data_offsets give %llu", e->name,
                          (unsigned long long)bytes,
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
            err = nas_fail(NAS_EFORMAT, "%s: tensor \"%s\" starts at byte "
                           "%llu of the data section, expected %llu (%s)",
                           path, e->name, (unsigned long long)e->begin,
                           (unsigned long long)at,
                           e->begin < at ? "overlap" : "gap");
            goto fail;
        }
        at = e->end;
    }
    if (at != h->data_len) {
        err = nas_fail(NAS_EFORMAT, "%s: data section is %llu bytes but the "
                       "tensors cover %llu", path,
                       (unsigned long long)h->data_len,
                       (unsigned long long)at);
        goto fail;
    }
fail:
    free(order);
    return err;
}

/* Length field, JSON header, per-tensor checks and the layout. */
static int parse_header(const char *path, const unsigned char *buf,
                        size_t size, ck_header *h)
{
    int r, first = 1;
    char *key = NULL;
    if (size < 8)
        return nas_fail(NAS_EFORMAT, "%s: file is %zu bytes, too short "
                        "for a safetensors header", path, size);
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++)
        hlen |= (uint64_t)buf[k] << (8 * k);
    if (hlen > CK_MAX_HEADER)
        return nas_fail(NAS_EFORMAT, "%s: header length %llu is absurd "
                        "(limit %llu)", path, (unsigned long long)hlen,
                        CK_MAX_HEADER);
    if (hlen > size - 8)
        return nas_fail(NAS_EFORMAT, "%s: header length %llu exceeds the "
                        "%zu bytes after the length field", path,
                        (unsigned long long)hlen, size - 8);
    h->data = buf + 8 + hlen;
    h->data_len = size - 8 - hlen;
    nas_json j = {.path = path, .what = "header", .base = 8,
                  .s = (const char *)buf + 8, .n = (size_t)hlen, .pos = 0};
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
    const char *dup = duplicate_key(h->meta, h->nmeta, &oom);
    if (oom || dup) {
        r = oom ? nas_fail(NAS_ENOMEM, "%s: checkpoint", path)
                : nas_fail(NAS_EFORMAT, "%s: duplicate metadata key \"%s\"",
                           path, dup);
        goto fail;
    }
    r = check_layout(path, h);
fail:
    free(key);
    return r;
}

static int read_file(const char *path, unsigned char **out, size_t *size)
{
    int err = NAS_OK;
    unsigned char *buf = NULL;
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        err = nas_fail(NAS_EIO, "%s: cannot open checkpoint: %s", path,
                       strerror(errno));
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
        err = ferror(f) ? nas_fail(NAS_EIO, "%s: cannot read: %s", path,
                                   strerror(errno))
                        : nas_fail(NAS_EIO, "%s: file shrank while read",
                                   path);
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

typedef struct {
    const char *name;
    int index;
} name_index;

static int cmp_name_index(const void *a, const void *b)
{
    return strcmp(((const name_index *)a)->name,
                  ((const name_index *)b)->name);
}

static void format_shape(char *buf, size_t cap, const uint64_t *dims,
                         int ndim)
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
 * mismatch and any empty slot is an error. */
static int match_store(const char *path, const ck_header *h, nas_params *p,
                       const nas_rng *rng, int *slot)
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
            if (e->dtype != dtype_find("U64") || e->ndim != 1 ||
                e->shape[0] != 4) {
                err = nas_fail(NAS_EFORMAT, "%s: " CK_RNG " must be U64 "
                               "with shape [4]", path);
                goto fail;
            }
        } else {
            free(base);
            base = strdup(e->name);
            if (!base) {
                err = nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
                goto fail;
            }
            kind = has_suffix(base, "#m1")   ? 1
                   : has_suffix(base, "#m2") ? 2
                                             : 0;
            if (kind)
                base[strlen(base) - 3] = '\0';
            name_index key = {base, 0};
            const name_index *hit = bsearch(&key, names, (size_t)np,
                                            sizeof(*names), cmp_name_index);
            if (!hit) {
                err = nas_fail(NAS_ESHAPE, "%s: unexpected tensor \"%s\" "
                               "(the model has no such parameter)", path,
                               e->name);
                goto fail;
            }
            s = 3 * hit->index + kind;
            const nas_tensor *t = nas_params_get(p, hit->index);
            if (e->dtype != dtype_find("F32")) {
                err = nas_fail(NAS_EFORMAT, "%s: tensor \"%s\" has dtype "
                               "%s, expected F32", path, e->name,
                               dtypes[e->dtype].name);
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
                err = nas_fail(NAS_ESHAPE, "%s: tensor \"%s\" has shape %s "
                               "in the file but %s in the model", path,
                               e->name, fs, ms);
                goto fail;
            }
        }
        if (slot[s] >= 0) {
            err = nas_fail(NAS_EFORMAT, "%s: duplicate tensor \"%s\"", path,
                           e->name);
            goto fail;
        }
        slot[s] = i;
    }
    static const char *const suffix[3] = {"", "#m1", "#m2"};
    for (int k = 0; k < rng_slot; k++) {
        if (slot[k] < 0) {
            err = nas_fail(NAS_ENOTFOUND, "%s: parameter \"%s%s\" is "
                           "missing from the checkpoint", path,
                           nas_params_get(p, k / 3)->name, suffix[k % 3]);
            goto fail;
        }
    }
    if (rng && slot[rng_slot] < 0) {
        err = nas_fail(NAS_ENOTFOUND, "%s: " CK_RNG " is missing from the "
                       "checkpoint", path);
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

int nas_ckpt_load(const char *path, nas_params *p, nas_rng *rng,
                  nas_kv **meta_out, int *nmeta_out)
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
    int err = read_file(path, &buf, &size);
    if (err)
        goto fail;
    if ((err = parse_header(path, buf, size, &h)))
        goto fail;
    slot = malloc((3 * (size_t)np + 1) * sizeof(int));
    if (!slot) {
        err = nas_fail(NAS_ENOMEM, "%s: checkpoint", path);
        goto fail;
    }
    if ((err = match_store(path, &h, p, rng, slot)))
        goto fail;
    if (meta_out && !h.meta) {
        h.meta = calloc(1, sizeof(nas_kv));   /* just the sentinel */
        if (!h.meta) {
            err = nas_fail(NAS_ENOMEM, "%s: metadata", path);
            goto fail;
        }
    }

    /* Everything is checked: commit. Nothing below can fail. */
    for (int i = 0; i < np; i++) {
        nas_tensor *t = nas_params_get(p, i);
        float *dst[3] = {t->data, nas_params_moment1(p, i),
                         nas_params_moment2(p, i)};
        for (int k = 0; k < 3; k++) {
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
    header_free(&h);
    free(buf);
    return err;
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
