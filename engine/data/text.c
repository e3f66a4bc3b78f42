// SPDX-License-Identifier: MIT
/*
 * text.c - text corpora for language modelling: three token streams
 * (train, valid, test) over one vocabulary, read from PTB-style files or
 * from a fortune(6) database, and batchify for truncated BPTT.
 *
 * The one design decision to know: every source is first turned into
 * three in-memory texts with one sentence per line, and a single scanner
 * turns a text into tokens, so word and character level, PTB files and
 * fortunes share all of the counting and encoding code. Lines holding
 * only whitespace are skipped; every other line ends with "<eos>". The
 * vocabulary comes from train alone, ordered by count (descending) with
 * ties broken by first appearance; "<unk>" and "<eos>" are always in it
 * ("<unk>" sorts by its literal count in train, last when it never
 * occurs), and max_vocab > 0 keeps the most frequent words, those two
 * included.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EOS "<eos>"
#define UNK "<unk>"

/* ---------------------------------------------------------------- files */

/* Reads a whole file into a malloc'd buffer (NUL-terminated). */
static int read_file(const char *path, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nas_fail(NAS_EIO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? cap * 2 : 65536 * 2;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                rc = nas_fail(NAS_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        rc = nas_fail(NAS_EIO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return NAS_OK;

fail:
    fclose(f);
    free(buf);
    return rc;
}

/* -------------------------------------------------------------- scanner */

typedef struct scanner {
    const char *pos, *end;   /* text not yet split into lines */
    const char *lpos, *lend; /* rest of the current line */
    int in_line;             /* a line is open (its <eos> is owed) */
    int unended;             /* the current line has no newline */
    enum nas_corpus_level level;
} scanner;

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f' || ch == '\n';
}

static int is_blank(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!is_space(*p))
            return 0;
    return 1;
}

static void scanner_init(scanner *s, const char *text, size_t len, enum nas_corpus_level level)
{
    memset(s, 0, sizeof(*s));
    s->pos = text;
    s->end = text + len;
    s->level = level;
}

/* Opens the next non-blank line; 0 at the end of the text. */
static int next_line(scanner *s)
{
    while (s->pos < s->end) {
        const char *nl = memchr(s->pos, '\n', (size_t)(s->end - s->pos));
        s->lpos = s->pos;
        s->lend = nl ? nl : s->end;
        s->pos = nl ? nl + 1 : s->end;
        s->unended = !nl;
        if (!is_blank(s->lpos, s->lend)) {
            s->in_line = 1;
            return 1;
        }
    }
    return 0;
}

/* The next token as (tok, len), "<eos>" when a line ends; 0 at the end. */
static int scan_next(scanner *s, const char **tok, size_t *len)
{
    if (!s->in_line && !next_line(s))
        return 0;
    if (s->level == NAS_CORPUS_CHAR) {
        if (s->lpos < s->lend) {
            *tok = s->lpos++;
            *len = 1;
            return 1;
        }
    } else {
        while (s->lpos < s->lend && is_space(*s->lpos))
            s->lpos++;
        if (s->lpos < s->lend) {
            *tok = s->lpos;
            while (s->lpos < s->lend && !is_space(*s->lpos))
                s->lpos++;
            *len = (size_t)(s->lpos - *tok);
            return 1;
        }
    }
    s->in_line = 0;
    *tok = EOS;
    *len = strlen(EOS);
    return 1;
}

/* ---------------------------------------------------------- token table */

/* Distinct train tokens in order of first appearance, with a hash index.
 * Keys point into the train text (or at the EOS/UNK literals). */
typedef struct entry {
    const char *s;
    size_t len;
    int64_t count;
    int id; /* vocabulary id, -1 when cut by max_vocab */
} entry;

typedef struct table {
    entry *e;
    int n, cap;
    int *slot;    /* index into e, -1 when empty */
    size_t nslot; /* power of two, at least twice n */
} table;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void table_free(table *t)
{
    free(t->e);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

/* The slot holding (s, len), or the empty slot where it would go. */
static size_t table_probe(const table *t, const char *s, size_t len)
{
    size_t mask = t->nslot - 1;
    size_t i = (size_t)hash_bytes(s, len) & mask;
    while (t->slot[i] >= 0) {
        const entry *e = &t->e[t->slot[i]];
        if (e->len == len && memcmp(e->s, s, len) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static int table_find(const table *t, const char *s, size_t len)
{
    if (!t->nslot)
        return -1;
    return t->slot[table_probe(t, s, len)];
}

static int table_rehash(table *t, size_t nslot)
{
    int *slot = malloc(nslot * sizeof(int));
    if (!slot)
        return NAS_ENOMEM;
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    memset(slot, 0xff, nslot * sizeof(int));
    for (int k = 0; k < t->n; k++)
        slot[table_probe(t, t->e[k].s, t->e[k].len)] = k;
    return NAS_OK;
}

/* Index of (s, len), inserted with count 0 when new; negative on OOM. */
static int table_intern(table *t, const char *s, size_t len)
{
    int k = table_find(t, s, len);
    if (k >= 0)
        return k;
    if (t->n == INT_MAX / 4)
        return NAS_ENOMEM;
    if ((size_t)(t->n + 1) * 2 > t->nslot && table_rehash(t, t->nslot ? t->nslot * 2 : 1024) < 0)
        return NAS_ENOMEM;
    if (t->n == t->cap) {
        int ncap = t->cap ? t->cap * 2 : 256;
        entry *ne = realloc(t->e, (size_t)ncap * sizeof(entry));
        if (!ne)
            return NAS_ENOMEM;
        t->e = ne;
        t->cap = ncap;
    }
    t->e[t->n] = (entry){.s = s, .len = len, .count = 0, .id = -1};
    t->slot[table_probe(t, s, len)] = t->n;
    return t->n++;
}

/* ----------------------------------------------------------- vocabulary */

/* Sorting key: count descending, then first appearance (= table index). */
typedef struct rank {
    int64_t count;
    int first;
} rank;

static int rank_cmp(const void *pa, const void *pb)
{
    const rank *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

/* Counts the train tokens; *ntok receives their number. */
static int count_train(table *t, const char *text, size_t len, enum nas_corpus_level level,
                       const char *name, int *ntok)
{
    scanner s;
    const char *tok;
    size_t tlen;
    int64_t n = 0;
    scanner_init(&s, text, len, level);
    while (scan_next(&s, &tok, &tlen)) {
        int k = table_intern(t, tok, tlen);
        if (k < 0)
            return nas_fail(NAS_ENOMEM, "%s: out of memory", name);
        t->e[k].count++;
        if (++n > INT_MAX)
            return nas_fail(NAS_EFORMAT, "%s: too many tokens", name);
    }
    if (n == 0)
        return nas_fail(NAS_EFORMAT, "%s: empty corpus (no tokens)", name);
    *ntok = (int)n;
    return NAS_OK;
}

/* Gives ids to the kept entries in rank order and fills c->vocab. */
static int assign_ids(table *t, int max_vocab, nas_corpus *c, const char *name)
{
    int unk = table_intern(t, UNK, strlen(UNK));
    int eos = table_intern(t, EOS, strlen(EOS));
    rank *r = malloc((size_t)t->n * sizeof(rank));
    if (unk < 0 || eos < 0 || !r)
        goto fail;
    for (int k = 0; k < t->n; k++)
        r[k] = (rank){t->e[k].count, k};
    qsort(r, (size_t)t->n, sizeof(rank), rank_cmp);

    int size = max_vocab > 0 && max_vocab < t->n ? max_vocab : t->n;
    int others = size - 2; /* room for words other than unk and eos */
    c->vocab = calloc((size_t)size, sizeof(char *));
    if (!c->vocab)
        goto fail;
    for (int i = 0; i < t->n; i++) {
        entry *e = &t->e[r[i].first];
        int forced = r[i].first == unk || r[i].first == eos;
        if (!forced && others-- <= 0)
            continue;
        e->id = c->vocab_size;
        c->vocab[c->vocab_size] = strndup(e->s, e->len);
        if (!c->vocab[c->vocab_size++])
            goto fail;
    }
    free(r);
    return NAS_OK;

fail:
    free(r);
    return nas_fail(NAS_ENOMEM, "%s: out of memory", name);
}

/* ------------------------------------------------------------ encoding */

/* Encodes a text as ids (unknown or cut tokens -> <unk>). */
static int encode(const table *t, const char *text, size_t len, enum nas_corpus_level level,
                  const char *name, int32_t **ids, int *nids)
{
    scanner s;
    const char *tok;
    size_t tlen;
    int64_t n = 0;
    int32_t unk = t->e[table_find(t, UNK, strlen(UNK))].id;
    scanner_init(&s, text, len, level);
    while (scan_next(&s, &tok, &tlen))
        if (++n > INT_MAX)
            return nas_fail(NAS_EFORMAT, "%s: too many tokens", name);
    if (n == 0)
        return nas_fail(NAS_EFORMAT, "%s: empty corpus (no tokens)", name);
    *ids = malloc((size_t)n * sizeof(int32_t));
    if (!*ids)
        return nas_fail(NAS_ENOMEM, "%s: out of memory", name);
    *nids = (int)n;
    scanner_init(&s, text, len, level);
    for (int64_t i = 0; scan_next(&s, &tok, &tlen); i++) {
        int k = table_find(t, tok, tlen);
        (*ids)[i] = k >= 0 && t->e[k].id >= 0 ? t->e[k].id : unk;
    }
    return NAS_OK;
}

/* Builds a corpus from three texts (train, valid, test); names[] are what
 * error messages call them. */
static int corpus_build(char *const text[3], const size_t len[3], const char *const names[3],
                        enum nas_corpus_level level, int max_vocab, nas_corpus **out)
{
    table t = {0};
    int ntrain_counted = 0;
    int rc;
    nas_corpus *c = calloc(1, sizeof(*c));
    if (!c) {
        rc = nas_fail(NAS_ENOMEM, "%s: out of memory", names[0]);
        goto fail;
    }
    if ((rc = count_train(&t, text[0], len[0], level, names[0], &ntrain_counted)) < 0 ||
        (rc = assign_ids(&t, max_vocab, c, names[0])) < 0 ||
        (rc = encode(&t, text[0], len[0], level, names[0], &c->train, &c->ntrain)) < 0 ||
        (rc = encode(&t, text[1], len[1], level, names[1], &c->valid, &c->nvalid)) < 0 ||
        (rc = encode(&t, text[2], len[2], level, names[2], &c->test, &c->ntest)) < 0)
        goto fail;
    NAS_ASSERT(c->ntrain == ntrain_counted);
    table_free(&t);
    *out = c;
    return NAS_OK;

fail:
    table_free(&t);
    nas_corpus_free(c);
    return rc;
}

static int check_args(enum nas_corpus_level level, int max_vocab)
{
    if (level != NAS_CORPUS_WORD && level != NAS_CORPUS_CHAR)
        return nas_fail(NAS_EINVAL, "unknown corpus level %d", (int)level);
    if (max_vocab == 1)
        return nas_fail(NAS_EINVAL, "max_vocab 1 has no room for both <unk> and <eos>");
    return NAS_OK;
}

int nas_corpus_load(const char *train, const char *valid, const char *test,
                    enum nas_corpus_level level, int max_vocab, nas_corpus **out)
{
    NAS_ASSERT(train && valid && test && out);
    *out = NULL;
    const char *const names[3] = {train, valid, test};
    char *text[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    int rc = check_args(level, max_vocab);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < 3; i++)
        if ((rc = read_file(names[i], &text[i], &len[i])) < 0)
            goto fail;
    rc = corpus_build(text, len, names, level, max_vocab, out);

fail:
    for (int i = 0; i < 3; i++)
        free(text[i]);
    return rc;
}

int nas_corpus_encode(char *const *vocab, int n, enum nas_corpus_level level, const char *text,
                      size_t len, int open_end, int32_t **ids, int *nids, int *nunk)
{
    table t = {0};
    scanner s;
    const char *tok;
    size_t tlen, cap = 0;
    int rc = NAS_OK, unk = -1;
    *ids = NULL;
    *nids = *nunk = 0;
    for (int i = 0; i < n; i++) {
        int k = table_intern(&t, vocab[i], strlen(vocab[i]));
        if (k < 0) {
            rc = nas_fail(NAS_ENOMEM, "vocabulary: out of memory");
            goto done;
        }
        if (t.e[k].id < 0)
            t.e[k].id = i;
        if (!strcmp(vocab[i], UNK))
            unk = i;
    }
    if (unk < 0) {
        rc = nas_fail(NAS_EINVAL, "vocabulary: no %s", UNK);
        goto done;
    }
    scanner_init(&s, text, len, level);
    while (scan_next(&s, &tok, &tlen)) {
        if (open_end && !s.in_line && s.unended && s.pos == s.end)
            break; /* the "<eos>" of an unended last line */
        if ((size_t)*nids == cap) {
            cap = cap ? 2 * cap : 256;
            int32_t *grown = cap < (size_t)INT_MAX ? realloc(*ids, cap * sizeof(int32_t)) : NULL;
            if (!grown) {
                rc = nas_fail(NAS_ENOMEM, "text: out of memory");
                goto done;
            }
            *ids = grown;
        }
        int k = table_find(&t, tok, tlen);
        if (k < 0)
            ++*nunk;
        (*ids)[(*nids)++] = k >= 0 ? t.e[k].id : unk;
    }
done:
    table_free(&t);
    if (rc < 0) {
        free(*ids);
        *ids = NULL;
        *nids = *nunk = 0;
    }
    return rc;
}

/* ------------------------------------------------------------ fortunes */

typedef struct strbuf {
    char *p;
    size_t n, cap;
} strbuf;

static int strbuf_append_line(strbuf *b, const char *s, size_t len)
{
    if (b->cap - b->n < len + 2) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap - b->n < len + 2)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return NAS_ENOMEM;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n++] = '\n';
    b->p[b->n] = '\0';
    return NAS_OK;
}

/* Deals the entries of a fortune file to three texts: entry i (counting
 * only entries with some non-blank line) goes to valid when i % 10 == 8,
 * to test when i % 10 == 9 and to train otherwise. */
static int split_fortunes(const char *buf, size_t len, strbuf out[3])
{
    const char *p = buf, *end = buf + len;
    int nth = 0, has_text = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl ? nl : end;
        if (lend - p == 1 && *p == '%') {
            nth += has_text;
            has_text = 0;
        } else if (!is_blank(p, lend)) {
            int which = nth % 10 == 8 ? 1 : nth % 10 == 9 ? 2 : 0;
            if (strbuf_append_line(&out[which], p, (size_t)(lend - p)) < 0)
                return NAS_ENOMEM;
            has_text = 1;
        }
        p = nl ? nl + 1 : end;
    }
    return NAS_OK;
}

int nas_corpus_load_fortunes(const char *path, enum nas_corpus_level level, int max_vocab,
                             nas_corpus **out)
{
    NAS_ASSERT(path && out);
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    strbuf part[3] = {{0}};
    char names[3][512];
    static const char *const split[3] = {"train", "valid", "test"};
    int rc = check_args(level, max_vocab);
    if (rc < 0 || (rc = read_file(path, &buf, &len)) < 0)
        goto fail;
    if (split_fortunes(buf, len, part) < 0) {
        rc = nas_fail(NAS_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    char *text[3];
    size_t tlen[3];
    const char *cnames[3];
    for (int i = 0; i < 3; i++) {
        snprintf(names[i], sizeof(names[i]), "%s (%s split)", path, split[i]);
        text[i] = part[i].p ? part[i].p : (char *)"";
        tlen[i] = part[i].n;
        cnames[i] = names[i];
    }
    rc = corpus_build(text, tlen, cnames, level, max_vocab, out);

fail:
    free(buf);
    for (int i = 0; i < 3; i++)
        free(part[i].p);
    return rc;
}

void nas_corpus_free(nas_corpus *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->vocab_size; i++)
        free(c->vocab[i]);
    free(c->vocab);
    free(c->train);
    free(c->valid);
    free(c->test);
    free(c);
}

/* ------------------------------------------------------------ batchify */

int nas_batchify(const int32_t *ids, int n, int bsz, int32_t **out, int *steps)
{
    NAS_ASSERT(out && steps && (n <= 0 || ids));
    *out = NULL;
    *steps = 0;
    if (bsz <= 0)
        return nas_fail(NAS_EINVAL, "batchify: batch size %d", bsz);
    if (n < bsz)
        return nas_fail(NAS_EINVAL, "batchify: %d tokens cannot fill %d columns", n, bsz);
    int nsteps = n / bsz;
    int32_t *m = malloc((size_t)nsteps * (size_t)bsz * sizeof(int32_t));
    if (!m)
        return nas_fail(NAS_ENOMEM, "batchify: out of memory");
    /* Column b is the contiguous chunk ids[b * nsteps, (b + 1) * nsteps). */
    for (int t = 0; t < nsteps; t++)
        for (int b = 0; b < bsz; b++)
            m[(size_t)t * bsz + b] = ids[(size_t)b * nsteps + t];
    *out = m;
    *steps = nsteps;
    return NAS_OK;
}
