// SPDX-License-Identifier: MIT
/*
 * json.c - the engine's small strict JSON reader and writer (json.h says
 * who uses them and why the engine does not link Jansson).
 *
 * The one design decision to know: the reader is a cursor, not a tree.
 * Callers walk the shape they expect and decode only the strings they
 * want, so reading allocates nothing else, and every error names the byte
 * offset where it was found. Strings are checked to be valid UTF-8
 * on the way in; the writer trusts its caller to have checked them (with
 * nas__json_utf8_valid) and escapes only what JSON requires.
 */
#include "internal.h"
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

int nas__json_utf8_valid(const char *s)
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

/* ============================================================= reading */

int nas__json_syntax(const nas_json *j, const char *why)
{
    if (j->pos >= j->n)
        return nas_fail(NAS_EFORMAT,
                        "%s: %s is not valid JSON at byte %zu of the %s "
                        "(file offset %zu): unexpected end of %s",
                        j->path, j->what, j->pos, j->what, j->pos + j->base, j->what);
    return nas_fail(NAS_EFORMAT,
                    "%s: %s is not valid JSON at byte %zu of the %s "
                    "(file offset %zu): %s",
                    j->path, j->what, j->pos, j->what, j->pos + j->base, why);
}

/* Valid JSON that the caller cannot accept. */
int nas__json_bad(const nas_json *j, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return nas_fail(NAS_EFORMAT, "%s: bad %s at byte %zu: %s", j->path, j->what, j->pos, why);
}

int nas__json_peek(nas_json *j)
{
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
                             j->s[j->pos] == '\r'))
        j->pos++;
    return j->pos < j->n ? (unsigned char)j->s[j->pos] : -1;
}

int nas__json_expect(nas_json *j, char c, const char *why)
{
    if (nas__json_peek(j) != c)
        return nas__json_syntax(j, why);
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
 * \u0000 is refused: the result is a C string. */
int nas__json_string(nas_json *j, char **out)
{
    char *d = NULL;
    size_t k = 0, end;
    const char *why = NULL;
    *out = NULL;
    if (nas__json_peek(j) != '"')
        return nas__json_syntax(j, "expected a string");
    j->pos++;
    /* Find the closing quote first: no escape decodes to more bytes than
     * it takes, so the text up to there bounds the buffer, and every read
     * below stays before `end`. */
    for (end = j->pos; end < j->n && j->s[end] != '"';)
        end += j->s[end] == '\\' ? 2 : 1;
    if (end >= j->n) {
        j->pos = j->n;
        return nas__json_syntax(j, "unterminated string");
    }
    d = malloc(end - j->pos + 1);
    if (!d)
        return nas_fail(NAS_ENOMEM, "%s: %s string", j->path, j->what);
    while (j->pos < end) {
        unsigned char c = (unsigned char)j->s[j->pos];
        if (c < 0x20) {
            why = "control character in string";
            goto fail;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq((const unsigned char *)j->s + j->pos, end - j->pos);
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
        char e = j->s[j->pos + 1]; /* < end: the scan skipped it */
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
            if (end - j->pos < 6 || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u' ||
                hex4(j->s + j->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
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
    return nas__json_syntax(j, why);
}

/* A JSON number that must be a non-negative integer fitting in u64. */
int nas__json_uint(nas_json *j, uint64_t *out)
{
    int c = nas__json_peek(j);
    uint64_t v = 0;
    if (c == '-')
        return nas__json_bad(j, "expected a non-negative integer");
    if (c < '0' || c > '9')
        return nas__json_syntax(j, "expected a number");
    if (c == '0' && j->pos + 1 < j->n && j->s[j->pos + 1] >= '0' && j->s[j->pos + 1] <= '9')
        return nas__json_syntax(j, "leading zero in number");
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        unsigned dgt = (unsigned)(j->s[j->pos] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return nas__json_bad(j, "integer too large");
        v = v * 10 + dgt;
        j->pos++;
    }
    if (j->pos < j->n && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
        return nas__json_bad(j, "expected an integer");
    *out = v;
    return 0;
}

static int json_digits(nas_json *j)
{
    size_t start = j->pos;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
        j->pos++;
    return j->pos > start ? 0 : nas__json_syntax(j, "expected a digit");
}

/* Any JSON number, checked against the grammar and ignored. */
static int json_skip_number(nas_json *j)
{
    int r = 0;
    if (j->s[j->pos] == '-')
        j->pos++;
    if (j->pos < j->n && j->s[j->pos] == '0')
        j->pos++;
    else
        r = json_digits(j);
    if (!r && j->pos < j->n && j->s[j->pos] == '.') {
        j->pos++;
        r = json_digits(j);
    }
    if (!r && j->pos < j->n && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
        j->pos++;
        if (j->pos < j->n && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
            j->pos++;
        r = json_digits(j);
    }
    return r;
}

/* Members of an object whose '{' was consumed, *first = 1 at the start:
 * returns 1 with the next key (and its ':' consumed), 0 after the '}', or
 * an error. */
int nas__json_member(nas_json *j, int *first, char **key)
{
    int c = nas__json_peek(j);
    *key = NULL;
    if (c == '}') { /* after a ',' nas__json_string below refuses it */
        j->pos++;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return nas__json_syntax(j, "expected ',' or '}'");
        j->pos++;
    }
    *first = 0;
    int err = nas__json_string(j, key);
    if (!err && (err = nas__json_expect(j, ':', "expected ':'"))) {
        free(*key);
        *key = NULL;
    }
    return err ? err : 1;
}

/* Elements of an array whose '[' was consumed: 1 when a value follows,
 * 0 after the ']', or an error. */
int nas__json_element(nas_json *j, int *first)
{
    int c = nas__json_peek(j);
    if (c == ']') { /* after a ',' the caller's value refuses it */
        j->pos++;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return nas__json_syntax(j, "expected ',' or ']'");
        j->pos++;
    }
    *first = 0;
    return 1;
}

int nas__json_skip(nas_json *j, int depth)
{
    int c = nas__json_peek(j), r, first = 1;
    char *s;
    if (depth > NAS_JSON_MAX_DEPTH)
        return nas__json_syntax(j, "nesting too deep");
    switch (c) {
    case '"':
        r = nas__json_string(j, &s);
        free(s);
        return r;
    case '{':
        j->pos++;
        while ((r = nas__json_member(j, &first, &s)) == 1) {
            free(s);
            if ((r = nas__json_skip(j, depth + 1)))
                return r;
        }
        return r;
    case '[':
        j->pos++;
        while ((r = nas__json_element(j, &first)) == 1)
            if ((r = nas__json_skip(j, depth + 1)))
                return r;
        return r;
    case 't':
    case 'f':
    case 'n': {
        const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t l = strlen(lit);
        if (j->n - j->pos < l || memcmp(j->s + j->pos, lit, l) != 0)
            return nas__json_syntax(j, "unexpected character");
        j->pos += l;
        return 0;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return json_skip_number(j);
        return nas__json_syntax(j, "unexpected character");
    }
}

/* ============================================================= writing */

void nas__json_buf_put(nas_json_buf *b, const char *s, size_t n)
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

void nas__json_buf_puts(nas_json_buf *b, const char *s)
{
    nas__json_buf_put(b, s, strlen(s));
}

void nas__json_buf_u64(nas_json_buf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    nas__json_buf_put(b, t, (size_t)n);
}

/* s as a JSON string (quotes included) followed inside the quotes by
 * suffix. Non-ASCII bytes pass through: the caller checked UTF-8. */
void nas__json_buf_str(nas_json_buf *b, const char *s, const char *suffix)
{
    nas__json_buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char t[8];
        if (*c == '"' || *c == '\\') {
            t[0] = '\\', t[1] = (char)*c;
            nas__json_buf_put(b, t, 2);
        } else if (*c < 0x20) {
            snprintf(t, sizeof(t), "\\u%04x", *c);
            nas__json_buf_put(b, t, 6);
        } else {
            nas__json_buf_put(b, (const char *)c, 1);
        }
    }
    nas__json_buf_puts(b, suffix);
    nas__json_buf_put(b, "\"", 1);
}
