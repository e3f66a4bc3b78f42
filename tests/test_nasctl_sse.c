// SPDX-License-Identifier: MIT
/*
 * test_nasctl_sse.c - nasctl's event-stream parser (cli/sse.c) on its own:
 * a stream as nasd writes it gives the same events however its bytes are
 * cut (whole, one byte at a time, split at every position), with LF, CRLF
 * or CR line ends (a CRLF cut between its CR and LF included); data lines
 * join with LF, comments (nasd's heartbeat) and data-less events are
 * dropped, `id:` is kept as the last id, and a callback that says stop
 * ends the parse.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "nasctl.h"

TestSuite(nasctl_sse);

typedef struct seen {
    char text[4096]; /* "event=data|" for each event */
    int n, stop_after;
} seen;

static int on_event(const char *event, const char *data, void *ctx)
{
    seen *s = ctx;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s=%s|", event, data);
    return ++s->n == s->stop_after;
}

/* Feeds text in pieces of `piece` bytes (0: whole) and returns the
 * events; *last_id gets the last id. */
static const char *parse(const char *text, size_t piece, seen *s, char last_id[64])
{
    nasctl_sse p;
    last_id[0] = '\0';
    nasctl_sse_init(&p, last_id, on_event, s);
    size_t n = strlen(text);
    if (!piece)
        piece = n;
    for (size_t i = 0; i < n; i += piece)
        if (nasctl_sse_feed(&p, text + i, n - i < piece ? n - i : piece))
            break;
    nasctl_sse_free(&p);
    return s->text;
}

static const char stream[] =
    "retry: 3000\n\nid: 0-0\nevent: state\ndata: {\"state\":\"running\"}\n\n"
    ": heartbeat\n\n"
    "id: 0-0\nevent: progress\ndata: {\"fraction\":0.5}\n\n"
    "id: 41-0\nevent: metric\ndata: {\"seq\":41}\n\n"
    "id: 41-0\nevent: state\ndata: {\"state\":\"succeeded\"}\n\n";
static const char events[] = "state={\"state\":\"running\"}|progress={\"fraction\":0.5}|"
                             "metric={\"seq\":41}|state={\"state\":\"succeeded\"}|";

Test(nasctl_sse, the_same_events_however_the_bytes_are_cut)
{
    for (size_t piece = 0; piece <= 7; piece++) {
        seen s = {.n = 0};
        char id[64];
        cr_assert_str_eq(parse(stream, piece, &s, id), events, "pieces of %zu", piece);
        cr_assert_str_eq(id, "41-0");
    }
    /* Split in two at every position. */
    size_t n = strlen(stream);
    for (size_t cut = 0; cut <= n; cut++) {
        seen s = {.n = 0};
        char id[64] = "";
        nasctl_sse p;
        nasctl_sse_init(&p, id, on_event, &s);
        cr_assert_eq(nasctl_sse_feed(&p, stream, cut), 0);
        cr_assert_eq(nasctl_sse_feed(&p, stream + cut, n - cut), 0);
        nasctl_sse_free(&p);
        cr_assert_str_eq(s.text, events, "cut at %zu", cut);
    }
}

Test(nasctl_sse, crlf_and_cr_line_ends)
{
    char crlf[1024], cr[1024];
    size_t j = 0, k = 0;
    for (const char *c = stream; *c; c++) {
        if (*c == '\n') {
            crlf[j++] = '\r';
            crlf[j++] = '\n';
            cr[k++] = '\r';
        } else {
            crlf[j++] = cr[k++] = *c;
        }
    }
    crlf[j] = cr[k] = '\0';
    for (size_t piece = 0; piece <= 3; piece++) {
        seen a = {.n = 0}, b = {.n = 0};
        char id[64];
        cr_assert_str_eq(parse(crlf, piece, &a, id), events, "CRLF, pieces of %zu", piece);
        cr_assert_str_eq(parse(cr, piece, &b, id), events, "CR, pieces of %zu", piece);
    }
}

Test(nasctl_sse, fields_as_the_standard_reads_them)
{
    seen s = {.n = 0};
    char id[64];
    /* Data lines join with LF; "data:x" needs no space, a bare "data" is
     * an empty line; no event name is "message"; an event without data
     * and unknown fields are dropped; a second space stays. */
    parse("data: a\ndata:b\ndata\n\n"
          "event: lonely\n\n"
          "bogus: 1\nevent: e\ndata:  two spaces\n\n"
          "id: 7-1\n\n",
          0, &s, id);
    cr_assert_str_eq(s.text, "message=a\nb\n|e= two spaces|");
    cr_assert_str_eq(id, "7-1");
}

Test(nasctl_sse, a_callback_can_stop_the_stream)
{
    seen s = {.stop_after = 2};
    char id[64] = "";
    nasctl_sse p;
    nasctl_sse_init(&p, id, on_event, &s);
    cr_assert_eq(nasctl_sse_feed(&p, stream, strlen(stream)), -1);
    cr_assert_eq(nasctl_sse_feed(&p, "data: more\n\n", 12), -1, "fed after a stop");
    nasctl_sse_free(&p);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(id, "0-0", "nothing read after the stop");
}
