// SPDX-License-Identifier: MIT
/*
 * npy.c - the header of a NumPy .npy file, read by hand: an uploaded
 * dataset's x_train.npy, y_train.npy, ... (import_npy.c) pass through
 * here before a byte of their data is taken.
 *
 * The format (numpy/lib/format.py): the magic "\x93NUMPY", a major and a
 * minor version byte (1.0, 2.0 or 3.0), the length of the header as a
 * little-endian uint16 (1.0) or uint32 (2.0, 3.0), then the header: the
 * text of a Python dict literal with exactly the keys 'descr' (a dtype
 * string), 'fortran_order' (True or False) and 'shape' (a tuple of
 * integers), padded with spaces and ending in a newline; the data follows.
 *
 * The one design decision to know: this reads the one dict numpy writes,
 * not Python. Keys and strings are quoted with ' or "; values are a
 * string, True or False, or a tuple of non-negative decimal integers
 * with an optional trailing comma; nothing else (no nested containers,
 * escapes, other keys, a key twice) is taken. Only the dtypes an upload
 * can use are known ('|u1', '<i4', '<i8' and their '=' and '<'/'|'
 * spellings), up to four dimensions, C order; the caller checks the
 * dtype and shape it wants and that the file has exactly count x item
 * bytes after the header.
 */
#include "internal.h"

#include <stdio.h>

#define NPY_MAX_HEADER 65536

typedef struct cur {
    const char *p, *end;
} cur;

static void skip_ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cur *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into out (at most n - 1 bytes). */
static int quoted(cur *c, char *out, size_t n)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || k + 1 >= n)
            return 0;
        out[k++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    out[k] = '\0';
    return 1;
}

static int word(cur *c, const char *w)
{
    size_t k = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) >= k && memcmp(c->p, w, k) == 0) {
        c->p += k;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static int shape_tuple(cur *c, nas_npy *o, char *why, size_t whylen)
{
    if (!eat(c, '('))
        return snprintf(why, whylen, "'shape' is not a tuple"), -1;
    o->ndim = 0;
    skip_ws(c);
    while (!eat(c, ')')) {
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return snprintf(why, whylen, "'shape' holds something other than integers"), -1;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return snprintf(why, whylen, "a dimension of 'shape' is too large"), -1;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') /* Python 2's long */
            c->p++;
        if (o->ndim == 4)
            return snprintf(why, whylen, "more than 4 dimensions"), -1;
        o->shape[o->ndim++] = v;
        if (!eat(c, ',')) {
            if (!eat(c, ')'))
                return snprintf(why, whylen, "'shape' is not a tuple of integers"), -1;
            break;
        }
    }
    return 0;
}

static const struct {
    const char *descr, *name;
    size_t item;
} dtypes[] = {
    {"|u1", "|u1", 1}, {"<u1", "|u1", 1}, {"=u1", "|u1", 1},
    {"u1", "|u1", 1},  {"<i4", "<i4", 4}, {"<i8", "<i8", 8},
};

int nas_npy_header(const uint8_t *buf, size_t n, nas_npy *o, char *why, size_t whylen)
{
    memset(o, 0, sizeof *o);
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return snprintf(why, whylen, "not a .npy file (no \\x93NUMPY at its start)"), -1;
    int major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return snprintf(why, whylen, "format version %d.%d: 1.0, 2.0 and 3.0 are taken", major,
                        minor),
               -1;
    size_t pre = major == 1 ? 10 : 12, hlen;
    if (n < pre)
        return snprintf(why, whylen, "the header is cut short"), -1;
    hlen = major == 1 ? (size_t)buf[8] | (size_t)buf[9] << 8
                      : (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
                            (size_t)buf[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return snprintf(why, whylen, "a header of %zu bytes (at most %d are taken)", hlen,
                        NPY_MAX_HEADER),
               -1;
    if (n < pre + hlen)
        return snprintf(why, whylen, "the header is cut short"), -1;
    cur c = {(const char *)buf + pre, (const char *)buf + pre + hlen};
    for (const char *q = c.p; q < c.end; q++)
        if (*q == '\0')
            return snprintf(why, whylen, "a NUL byte in the header"), -1;
    char key[32], descr[32];
    int seen[3] = {0, 0, 0}, fortran = 0;
    if (!eat(&c, '{'))
        return snprintf(why, whylen, "the header is not a dict"), -1;
    while (!eat(&c, '}')) {
        if (!quoted(&c, key, sizeof key) || !eat(&c, ':'))
            return snprintf(why, whylen, "the header is not a dict of quoted keys"), -1;
        int k = strcmp(key, "descr") == 0           ? 0
                : strcmp(key, "fortran_order") == 0 ? 1
                : strcmp(key, "shape") == 0         ? 2
                                                    : -1;
        if (k < 0)
            return snprintf(why, whylen, "an unknown key '%s' in the header", key), -1;
        if (seen[k]++)
            return snprintf(why, whylen, "the key '%s' twice in the header", key), -1;
        if (k == 0 && !quoted(&c, descr, sizeof descr))
            return snprintf(why, whylen, "'descr' is not a simple dtype string"), -1;
        if (k == 1 && !(fortran = word(&c, "True")) && !word(&c, "False"))
            return snprintf(why, whylen, "'fortran_order' is not True or False"), -1;
        if (k == 2 && shape_tuple(&c, o, why, whylen) < 0)
            return -1;
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                return snprintf(why, whylen, "the header is not a dict"), -1;
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return snprintf(why, whylen, "something after the header's dict"), -1;
    if (!seen[0] || !seen[1] || !seen[2])
        return snprintf(why, whylen, "the header lacks '%s'",
                        !seen[0]   ? "descr"
                        : !seen[1] ? "fortran_order"
                                   : "shape"),
               -1;
    if (fortran)
        return snprintf(why, whylen,
                        "fortran_order is True: save a C-order array "
                        "(numpy.ascontiguousarray)"),
               -1;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(descr, dtypes[i].descr) == 0) {
            snprintf(o->descr, sizeof o->descr, "%s", dtypes[i].name);
            o->item = dtypes[i].item;
        }
    if (!o->item)
        return snprintf(why, whylen,
                        "dtype '%s' is not taken: images are uint8 ('|u1'), labels uint8, "
                        "int32 or int64 little-endian ('|u1', '<i4', '<i8')",
                        descr),
               -1;
    uint64_t count = 1;
    for (int i = 0; i < o->ndim; i++) {
        if (o->shape[i] && count > UINT64_MAX / 8 / (uint64_t)o->shape[i])
            return snprintf(why, whylen, "the array is too large"), -1;
        count *= (uint64_t)o->shape[i];
    }
    o->count = count;
    o->header_len = pre + hlen;
    return 0;
}
