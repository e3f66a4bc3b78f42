/*
 * checkpoint.c - the parameter store (data and optimizer moments), the RNG
 * state and string metadata as one safetensors file, written atomically.
 *
 * The one design decision to know: a load validates the whole file before
 * it touches anything. The file is read into memory, its JSON header goes
 * through a small strict parser (the engine has no JSON library) into a
 * table of entries, every entry is checked against the file and against
 * the store, and only then is anything copied; so a failed load leaves the
 * store, the RNG and the caller's metadata exactly as they were.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c copies tensors in host order: little-endian only"
#endif

#define CK_MAX_HEADER 100000000ull   /* 100 MB, the reference's limit */
#define CK_MAX_DEPTH 64              /* nesting of skipped JSON values */
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq((const unsigned char *)s + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
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

/* A growable string for the header; oom is sticky and checked once. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)n);
}

/* s as a JSON string (quotes included) followed inside the quotes by
 * suffix. Non-ASCII bytes pass through: the caller checked UTF-8. */
static void sb_json_str(sbuf *b, const char *s, const char *suffix)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char t[8];
        if (*c == '"' || *c == '\\') {
            t[0] = '\\', t[1] = (char)*c;
            sb_put(b, t, 2);
        } else if (*c < 0x20) {
            snprintf(t, sizeof(t), "\\u%04x", *c);
            sb_put(b, t, 6);
        } else {
            sb_put(b, (const char *)c, 1);
        }
    }
    sb_puts(b, suffix);
    sb_put(b, "\"", 1);
}

static void sb_tensor(sbuf *b, const char *name, const char *suffix,
                      const char *dtype, const nas_tensor *t,
                      uint64_t begin, uint64_t end)
{
    sb_put(b, ",", 1);
    sb_json_str(b, name, suffix);
    sb_puts(b, ":{\"dtype\":\"");
    sb_puts(b, dtype);
    sb_puts(b, "\",\"shape\":[");
    if (t) {
        for (int i = 0; i < t->ndim; i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_u64(b, (uint64_t)t->shape[i]);
        }
    } else {
        sb_puts(b, "4");
    }
    sb_puts(b, "],\"data_offsets\":[");
    sb_u64(b, begin);
    sb_put(b, ",", 1);
    sb_u64(b, end);
    sb_puts(b, "]}");
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
        if (!utf8_valid(meta[i].key) || !utf8_valid(meta[i].value))
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
        if (!utf8_valid(name) || strcmp(name, CK_META) == 0 ||
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
static int build_header(const char *path, sbuf *b, nas_params *p,
                        const nas_rng *rng, const nas_kv *meta, int nmeta)
{
    uint64_t off = 0;
    sb_puts(b, "{\"" CK_META "\":{");
    for (int i = 0; i < nmeta; i++) {
        if (i)
            sb_put(b, ",", 1);
        sb_json_str(b, meta[i].key, "");
        sb_put(b, ":", 1);
        sb_json_str(b, meta[i].value, "");
    }
    sb_put(b, "}", 1);
    if (rng) {
        sb_tensor(b, CK_RNG, "", "U64", NULL, 0, 32);
        off = 32;
    }
    static const char *const suffix[3] = {"", "#m1", "#m2"};
    for (int i = 0; i < nas_params_count(p); i++) {
        const nas_tensor *t = nas_params_get(p, i);
        uint64_t bytes = (uint64_t)nas_tensor_numel(t) * sizeof(float);
        for (int k = 0; k < 3; k++, off += bytes)
            sb_tensor(b, t->name, suffix[k], "F32", t, off, off + bytes);
    }
    sb_put(b, "}", 1);
    while (!b->oom && b->len % 8)
        sb_put(b, " ", 1);
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
    sbuf hdr = {0};
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

/* The JSON reader: s[0, n) is the header text, pos the next byte. */
typedef struct {
    const char *path;
    const char *s;
    size_t n, pos;
} jp;

static int jp_syntax(const jp *j, const char *what)
{
    if (j->pos >= j->n)
        what = "unexpected end of header";
    return nas_fail(NAS_EFORMAT,
                    "%s: header is not valid JSON at byte %zu of the header "
                    "(file offset %zu): %s", j->path, j->pos, j->pos + 8,
                    what);
}

/* Valid JSON that is not a valid safetensors header. */
static int jp_bad(const jp *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int jp_bad(const jp *j, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return nas_fail(NAS_EFORMAT, "%s: bad header at byte %zu: %s", j->path,
                    j->pos, what);
}

static int jp_peek(jp *j)
{
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
                             j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
    return j->pos < j->n ? (unsigned char)j->s[j->pos] : -1;
}

static int jp_expect(jp *j, char c, const char *what)
{
    if (jp_peek(j) != c)
        return jp_syntax(j, what);
    j->pos++;
    return 0;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string, decoded to a malloc'd NUL-terminated UTF-8 string.
 * \u0000 is refused: names and metadata are C strings. */
static int jp_string(jp *j, char **out)
{
    char *d = NULL;
    size_t k = 0, end;
    const char *why = NULL;
    *out = NULL;
    if (jp_peek(j) != '"')
        return jp_syntax(j, "expected a string");
    j->pos++;
    /* Find the closing quote first: no escape decodes to more bytes than
     * it takes, so the text up to there bounds the buffer, and every read
     * below stays before `end`. */
    for (end = j->pos; end < j->n && j->s[end] != '"';)
        end += j->s[end] == '\\' ? 2 : 1;
    if (end >= j->n) {
        j->pos = j->n;
        return jp_syntax(j, "unterminated string");
    }
    d = malloc(end - j->pos + 1);
    if (!d)
        return nas_fail(NAS_ENOMEM, "%s: header string", j->path);
    while (j->pos < end) {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c < 0x20) {
            why = "control character in string";
            goto fail;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq((const unsigned char *)j->s + j->pos,
                                end - j->pos);
            if (!l) {
                why = "invalid UTF-8 in string";
                goto fail;
            }
            memcpy(d + k, j->s + j->pos, l);
            k += l;
            j->pos += l;
            continue;
        }
        if (c != '\\') {
            d[k++] = (char)c;
            j->pos++;
            continue;
        }
        char e = j->s[j->pos + 1];   /* < end: the scan skipped it */
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            d[k++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            j->pos += 2;
            continue;
        }
        uint32_t cp, lo;
        if (e != 'u' || end - j->pos < 6 || hex4(j->s + j->pos + 2, &cp)) {
            why = "bad escape in string";
            goto fail;
        }
        j->pos += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - j->pos < 6 || j->s[j->pos] != '\\' ||
                j->s[j->pos + 1] != 'u' || hex4(j->s + j->pos + 2, &lo) ||
                lo < 0xdc00 || lo > 0xdfff) {
                why = "unpaired surrogate in string";
                goto fail;
            }
            j->pos += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            why = "unpaired surrogate in string";
            goto fail;
        } else if (cp == 0) {
            why = "\\u0000 in string";
            goto fail;
        }
        k += put_utf8(d + k, cp);
    }
    d[k] = '\0';
    j->pos = end + 1;
    *out = d;
    return 0;
fail:
    free(d);
    return jp_syntax(j, why);
}

/* A JSON number that must be a non-negative integer fitting in u64. */
static int jp_uint(jp *j, uint64_t *out)
{
    int c = jp_peek(j);
    uint64_t v = 0;
    if (c == '-')
        return jp_bad(j, "expected a non-negative integer");
    if (c < '0' || c > '9')
        return jp_syntax(j, "expected a number");
    if (c == '0' && j->pos + 1 < j->n && j->s[j->pos + 1] >= '0' &&
        j->s[j->pos + 1] <= '9')
        return jp_syntax(j, "leading zero in number");
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        unsigned dgt = (unsigned)(j->s[j->pos] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return jp_bad(j, "integer too large");
        v = v * 10 + dgt;
        j->pos++;
    }
    if (j->pos < j->n && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' ||
                          j->s[j->pos] == 'E'))
        return jp_bad(j, "expected an integer");
    *out = v;
    return 0;
}

static int jp_digits(jp *j)
{
    size_t start = j->pos;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
        j->pos++;
    return j->pos > start ? 0 : jp_syntax(j, "expected a digit");
}

/* Any JSON number, checked against the grammar and ignored. */
static int jp_skip_number(jp *j)
{
    int r = 0;
    if (j->s[j->pos] == '-')
        j->pos++;
    if (j->pos < j->n && j->s[j->pos] == '0')
        j->pos++;
    else
        r = jp_digits(j);
    if (!r && j->pos < j->n && j->s[j->pos] == '.') {
        j->pos++;
        r = jp_digits(j);
    }
    if (!r && j->pos < j->n && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
        j->pos++;
        if (j->pos < j->n && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
            j->pos++;
        r = jp_digits(j);
    }
    return r;
}

/* Members of an object whose '{' was consumed, *first = 1 at the start:
 * returns 1 with the next key (and its ':' consumed), 0 after the '}', or
 * an error. */
static int jp_member(jp *j, int *first, char **key)
{
    int c = jp_peek(j);
    *key = NULL;
    if (c == '}') {   /* after a ',' jp_string below refuses it */
        j->pos++;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return jp_syntax(j, "expected ',' or '}'");
        j->pos++;
    }
    *first = 0;
    int err = jp_string(j, key);
    if (!err && (err = jp_expect(j, ':', "expected ':'"))) {
        free(*key);
        *key = NULL;
    }
    return err ? err : 1;
}

/* Elements of an array whose '[' was consumed: 1 when a value follows,
 * 0 after the ']', or an error. */
static int jp_element(jp *j, int *first)
{
    int c = jp_peek(j);
    if (c == ']') {   /* after a ',' the caller's value refuses it */
        j->pos++;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return jp_syntax(j, "expected ',' or ']'");
        j->pos++;
    }
    *first = 0;
    return 1;
}

static int jp_skip(jp *j, int depth)
{
    int c = jp_peek(j), r, first = 1;
    char *s;
    if (depth > CK_MAX_DEPTH)
        return jp_syntax(j, "nesting too deep");
    switch (c) {
    case '"':
        r = jp_string(j, &s);
        free(s);
        return r;
    case '{':
        j->pos++;
        while ((r = jp_member(j, &first, &s)) == 1) {
            free(s);
            if ((r = jp_skip(j, depth + 1)))
                return r;
        }
        return r;
    case '[':
        j->pos++;
        while ((r = jp_element(j, &first)) == 1)
            if ((r = jp_skip(j, depth + 1)))
                return r;
        return r;
    case 't':
    case 'f':
    case 'n': {
        const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t l = strlen(lit);
        if (j->n - j->pos < l || memcmp(j->s + j->pos, lit, l) != 0)
            return jp_syntax(j, "unexpected character");
        j->pos += l;
        return 0;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return jp_skip_number(j);
        return jp_syntax(j, "unexpected character");
    }
}

/* An array of unsigned integers into v[0, max), count in *n. */
static int jp_uint_array(jp *j, uint64_t *v, int max, int *n,
                         const char *tensor, const char *field)
{
    int r, first = 1;
    *n = 0;
    if ((r = jp_expect(j, '[', "expected an array")))
        return r;
    while ((r = jp_element(j, &first)) == 1) {
        if (*n == max)
            return jp_bad(j, "tensor \"%s\": %s has more than %d entries",
                          tensor, field, max);
        if ((r = jp_uint(j, &v[(*n)++])))
            return r;
    }
    return r;
}

static int parse_meta(jp *j, ck_header *h)
{
    int r, first = 1;
    char *key = NULL, *val = NULL;
    if (h->have_meta)
        return jp_bad(j, "duplicate " CK_META);
    h->have_meta = 1;
    if ((r = jp_expect(j, '{', "expected an object for " CK_META)))
        return r;
    while ((r = jp_member(j, &first, &key)) == 1) {
        if (jp_peek(j) != '"') {
            r = jp_bad(j, CK_META " value of \"%s\" is not a string", key);
            goto fail;
        }
        if ((r = jp_string(j, &val)))
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
static int parse_tensor(jp *j, ck_header *h, ck_entry *e)
{
    int r, first = 1, has_dtype = 0, has_shape = 0, has_offs = 0, noff;
    char *key = NULL, *val = NULL;
    uint64_t offs[2];
    size_t at = j->pos;
    if ((r = jp_expect(j, '{', "expected an object for a tensor")))
        return r;
    while ((r = jp_member(j, &first, &key)) == 1) {
        int *seen = strcmp(key, "dtype") == 0          ? &has_dtype
                    : strcmp(key, "shape") == 0        ? &has_shape
                    : strcmp(key, "data_offsets") == 0 ? &has_offs
                                                       : NULL;
        if (seen && *seen) {
            r = jp_bad(j, "tensor \"%s\": duplicate %s", e->name, key);
            goto fail;
        }
        if (seen)
            *seen = 1;
        if (seen == &has_dtype) {
            if ((r = jp_string(j, &val)))
                goto fail;
            if ((e->dtype = dtype_find(val)) < 0) {
                r = jp_bad(j, "tensor \"%s\": unknown dtype \"%s\"",
                           e->name, val);
                goto fail;
            }
            free(val);
            val = NULL;
        } else if (seen == &has_shape) {
            r = jp_uint_array(j, e->shape, CK_MAX_DIMS, &e->ndim, e->name,
                              "shape");
        } else if (seen == &has_offs) {
            r = jp_uint_array(j, offs, 2, &noff, e->name, "data_offsets");
            if (!r && noff != 2)
                r = jp_bad(j, "tensor \"%s\": data_offsets needs 2 entries",
                           e->name);
        } else {
            r = jp_skip(j, 3);
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
        r = jp_bad(j, "tensor \"%s\" has no %s", e->name,
                   !has_dtype ? "dtype" : !has_shape ? "shape"
                                                     : "data_offsets");
        goto fail;
    }
    e->begin = offs[0];
    e->end = offs[1];
    if (e->begin > e->end) {
        r = jp_bad(j, "tensor \"%s\": data_offsets begin %llu > end %llu",
                   e->name, (unsigned long long)e->begin,
                   (unsigned long long)e->end);
        goto fail;
    }
    if (e->end > h->data_len) {
        r = jp_bad(j, "tensor \"%s\": data_offsets [%llu, %llu] outside the "
                   "data section of %llu bytes", e->name,
                   (unsigned long long)e->begin, (unsigned long long)e->end,
                   (unsigned long long)h->data_len);
        goto fail;
    }
    uint64_t bytes = dtypes[e->dtype].size;
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] && bytes > UINT64_MAX / e->shape[i]) {
            r = jp_bad(j, "tensor \"%s\": shape overflows", e->name);
            goto fail;
        }
        bytes *= e->shape[i];
    }
    if (bytes != e->end - e->begin) {
        r = jp_bad(j, "tensor \"%s\": shape and dtype make %llu bytes but "
                   "data_offsets give %llu", e->name,
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
    jp j = {path, (const char *)buf + 8, (size_t)hlen, 0};
    if ((r = jp_expect(&j, '{', "header must be a JSON object")))
        return r;
    while ((r = jp_member(&j, &first, &key)) == 1) {
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
    if (jp_peek(&j) >= 0) {
        r = jp_syntax(&j, "trailing characters after the header object");
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
