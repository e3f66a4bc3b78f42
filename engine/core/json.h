// SPDX-License-Identifier: MIT
/*
 * json.h - the engine's small strict JSON reader and writer, internal to
 * the engine. The writer (nas_json_buf) builds every JSON text the engine
 * reports: architectures, metrics, results, checkpoint headers and
 * metadata (the searches and job kinds, about 25 files). The reader parses
 * the engine's own texts back: safetensors checkpoint headers and their
 * metadata (checkpoint.c, and the job kinds' metadata reader in job.c).
 * DARTS genotypes are typed structures inside the engine (nas.h): the API
 * parses their JSON, once.
 *
 * Why not Jansson, which the API links: the engine only writes texts (a
 * string builder, no tree) and reads back its own files, and the reader
 * is the loader of checkpoint files from disk (fuzz/fuzz_ckpt.c): it
 * walks the shape it expects without building a tree, bounds nesting,
 * and names the byte offset of every error, syntax or shape. So the
 * engine links BLAS and zlib only (nas-train, the benchmarks and the
 * fuzzers of its loaders need nothing else), and what users send is
 * parsed once, by the API, with Jansson.
 *
 * The reader is a cursor over text in memory, not a tree: the caller walks
 * the document it expects with nas__json_member / nas__json_element and
 * reads leaves with nas__json_string / nas__json_uint, skipping what it
 * does not know with nas__json_skip. Nothing is allocated except the
 * strings the caller asks for.
 *
 * Errors follow the engine: every function returns 0 (or 1, see below) on
 * success and a negative NAS_E* code after setting the detail message with
 * nas_fail(). Malformed JSON is NAS_EFORMAT with "<path>: <what> is not
 * valid JSON at byte B of the <what> (file offset B + base): <why>";
 * valid JSON of the wrong shape for the caller is NAS_EFORMAT with
 * "<path>: bad <what> at byte B: <why>" (nas__json_bad); a failed
 * allocation is NAS_ENOMEM. The reader's position after an error is
 * unspecified.
 */
#ifndef NAS_CORE_JSON_H
#define NAS_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting nas__json_skip accepts, counted from the depth its
 * caller passes; deeper input is a syntax error, so a hostile file cannot
 * exhaust the stack. */
#define NAS_JSON_MAX_DEPTH 64

/* ------------------------------------------------------------- reading */

/* A reader over s[0, n), which need not be NUL-terminated and is only
 * borrowed: it must outlive the reader. pos is the next byte (start at 0).
 * path, what and base only shape error messages: the file's name, what the
 * text is called ("header") and the file offset of s[0]. Initialise the
 * fields directly; there is nothing to free. */
typedef struct {
    const char *path;
    const char *what;
    size_t base;
    const char *s;
    size_t n, pos;
} nas_json;

/* Report a JSON syntax error at the current position and return
 * NAS_EFORMAT; at the end of the text `why` becomes "unexpected end of
 * <what>". */
int nas__json_syntax(const nas_json *j, const char *why);
/* Report valid JSON that the caller cannot accept (printf-style reason)
 * at the current position and return NAS_EFORMAT. The reason is cut at
 * 255 bytes. */
int nas__json_bad(const nas_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Skip whitespace (space, tab, CR, LF); the next byte as unsigned char,
 * or -1 at the end of the text. */
int nas__json_peek(nas_json *j);
/* Skip whitespace and consume the byte c, else a syntax error saying
 * `why`. */
int nas__json_expect(nas_json *j, char c, const char *why);

/* A string, decoded into a malloc'd NUL-terminated UTF-8 string that the
 * caller owns (*out is NULL on error). The text must be valid UTF-8 with
 * no raw control characters; escapes are those of RFC 8259, surrogate
 * pairs must be paired, and \u0000 is refused because the result is a
 * C string. */
int nas__json_string(nas_json *j, char **out);
/* A number that must be a non-negative integer fitting in uint64_t: a
 * minus sign, a fraction, an exponent or overflow is nas__json_bad; a
 * leading zero is a syntax error. */
int nas__json_uint(nas_json *j, uint64_t *out);

/* Iterate over the members of an object whose '{' was consumed, with
 * *first = 1 before the first call: returns 1 with the next key in *key
 * (malloc'd, the caller frees it) and its ':' consumed, so the value comes
 * next; 0 after consuming the closing '}' (*key NULL); or an error (*key
 * NULL). Duplicate keys are not detected: that is the caller's concern. */
int nas__json_member(nas_json *j, int *first, char **key);
/* Iterate over the elements of an array whose '[' was consumed, with
 * *first = 1 before the first call: returns 1 when a value follows (the
 * caller must read it), 0 after consuming the closing ']', or an error. */
int nas__json_element(nas_json *j, int *first);
/* Check and skip any one value; depth is the caller's nesting level, and
 * a value nested past NAS_JSON_MAX_DEPTH is a syntax error. */
int nas__json_skip(nas_json *j, int depth);

/* ------------------------------------------------------------- writing */

/* Growable JSON text, always NUL-terminated once anything is written.
 * Start from {0}; the caller owns s and frees it (free(NULL) is fine).
 * Allocation failure is sticky: later writes do nothing and oom stays 1,
 * so the caller checks it once at the end. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} nas_json_buf;

/* Append n raw bytes (or a C string, or a u64 in decimal) unchanged. */
void nas__json_buf_put(nas_json_buf *b, const char *s, size_t n);
void nas__json_buf_puts(nas_json_buf *b, const char *s);
void nas__json_buf_u64(nas_json_buf *b, uint64_t v);
/* Append s as a JSON string, quotes included, with suffix appended inside
 * the quotes unescaped (the caller passes a plain ASCII suffix). Only '"',
 * '\\' and control characters are escaped; other bytes pass through, so s
 * must be valid UTF-8 (see nas__json_utf8_valid). */
void nas__json_buf_str(nas_json_buf *b, const char *s, const char *suffix);

/* Whether the C string s is valid UTF-8: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
int nas__json_utf8_valid(const char *s);

#endif
