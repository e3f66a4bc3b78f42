// SPDX-License-Identifier: MIT
/*
 * nasctl.h - what the files of nasctl, nasd's command-line client, share:
 * the exit codes, the parsed command line, the HTTP client (client.c),
 * the event-stream parser (sse.c), the printing of jobs and tables
 * (print.c) and the commands (cmd_jobs.c, cmd_results.c, cmd_datasets.c).
 *
 * The one design decision to know: every function that meets a failure
 * reports it on stderr where it happens and returns the exit code the
 * process ends with (NASCTL_OK when there was none), so a command is a
 * chain of `if ((rc = step()) != NASCTL_OK) return rc;` and main() only
 * returns what it gets. The codes are part of the interface (man/nasctl.1,
 * nasctl --help): scripts rely on them.
 */
#ifndef NASCTL_H
#define NASCTL_H

#include "config.h"

#include <jansson.h>

#include <stddef.h>
#include <stdio.h>

enum nasctl_exit {
    NASCTL_OK = 0,          /* done */
    NASCTL_SERVER = 1,      /* nasd answered an error (4xx, 5xx) */
    NASCTL_USAGE = 2,       /* bad arguments, or a named file unreadable/unwritable */
    NASCTL_UNREACHABLE = 3, /* no answer from nasd (connection, DNS, TLS, cut short) */
    NASCTL_JOB_FAILED = 4,  /* submit --follow: the job ended failed or cancelled */
};

/* The command line, parsed (nasctl.c). Strings point into argv or the
 * environment, except token (owned by main). */
typedef struct nasctl_opts {
    const char *url; /* base URL without a trailing slash */
    char *token;     /* bearer token, or NULL */
    int json;        /* --json: print nasd's JSON as it is */
    const char *arg; /* the command's one positional argument (ID, SPEC) */
    int follow;      /* submit --follow */
    int dry_run;     /* submit --dry-run */
    int all;         /* list --all */
    int dot;         /* result --dot */
    int onnx;        /* model --onnx */
    const char *state, *name, *algorithm, *tag, *search_space, *dataset; /* list filters */
    const char *page_size;                                               /* list --page-size */
    const char *svg;                                                     /* result --svg FILE */
    const char *output;                                                  /* model -o FILE */
    const char *kind, *resize; /* dataset upload --kind, --resize */
} nasctl_opts;

/* ------------------------------------------------------------ client.c */

/* An answer: its status and body (NUL-terminated; len without the NUL). */
typedef struct nasctl_resp {
    long status;
    char *body;
    size_t len;
    char content_type[128];
} nasctl_resp;

/* curl_global_init and the base URL and token every request uses. */
int nasctl_client_init(const nasctl_opts *o);
void nasctl_client_cleanup(void);

/* method path (with its query) and body (a JSON text, or NULL). Returns
 * NASCTL_OK with r filled for any HTTP answer, or NASCTL_UNREACHABLE
 * (said on stderr) when there was none. r is the caller's
 * (nasctl_resp_free). */
int nasctl_request(const char *method, const char *path, const char *body, nasctl_resp *r);
void nasctl_resp_free(nasctl_resp *r);
/* POST path with the size bytes of f as the body, of content_type; as
 * nasctl_request. */
int nasctl_upload(const char *path, FILE *f, long long size, const char *content_type,
                  nasctl_resp *r);

/* nasctl_request that must answer one of the 2xx statuses: any other
 * answer is printed (nasctl_print_problem) and gives NASCTL_SERVER. */
int nasctl_call(const char *method, const char *path, const char *body, nasctl_resp *r);
/* nasctl_call whose 2xx body must be JSON: *out gets it (a new
 * reference). */
int nasctl_call_json(const char *method, const char *path, const char *body, json_t **out);

/* An error answer on stderr, readably: for application/problem+json its
 * title, status, detail and type, then each entry of `errors` (pointer,
 * detail, allowed, did_you_mean) or, without that list, the problem's own
 * pointer, parameter, allowed, did_you_mean and limit; for anything else
 * the status and the first line of the body. */
void nasctl_print_problem(const nasctl_resp *r);

/* The events of path (text/event-stream), each handed to on_event until
 * it returns non-zero or the stream ends. last_id (in/out, 64 bytes)
 * is sent as Last-Event-ID when not empty and gets each event's id.
 * Returns NASCTL_OK when the stream ended or on_event stopped it,
 * NASCTL_SERVER (printed) for an error answer, NASCTL_UNREACHABLE. */
typedef int (*nasctl_event_fn)(const char *event, const char *data, void *ctx);
int nasctl_stream(const char *path, char *last_id, nasctl_event_fn on_event, void *ctx);

/* A value escaped for a query string (free it), or NULL. */
char *nasctl_escape(const char *s);

/* --------------------------------------------------------------- sse.c */

/* A server-sent event stream parser (the WHATWG rules nasd needs): lines
 * end with LF, CRLF or CR; `event:` names the event, `data:` lines join
 * with LF, `id:` sets the last id, a line starting with ':' is a comment
 * (nasd's heartbeat), and a blank line dispatches the event (one without
 * data is dropped). Bytes arrive in chunks cut anywhere. */
typedef struct nasctl_sse {
    char *line; /* the line being read */
    size_t line_len, line_cap;
    char *data; /* the event's data so far */
    size_t data_len, data_cap;
    char event[64];
    char *last_id; /* 64 bytes of the caller's */
    int saw_cr;    /* the previous byte was CR (a CRLF's LF is skipped) */
    int stopped;   /* on_event returned non-zero */
    int failed;    /* out of memory */
    nasctl_event_fn on_event;
    void *ctx;
} nasctl_sse;

void nasctl_sse_init(nasctl_sse *p, char *last_id, nasctl_event_fn on_event, void *ctx);
/* Feeds n bytes; returns 0, or -1 once on_event stopped the stream or
 * memory ran out (the rest is then ignored). */
int nasctl_sse_feed(nasctl_sse *p, const char *bytes, size_t n);
void nasctl_sse_free(nasctl_sse *p);

/* ------------------------------------------------------------- print.c */

/* A job resource as a few readable lines. */
void nasctl_print_job(const json_t *job);
/* A result (GET .../result) as readable lines. */
void nasctl_print_result(const json_t *res);
/* JSON on stdout, indented, with a newline. */
void nasctl_print_json(const json_t *j);
/* The header and rows of the jobs table. */
void nasctl_print_jobs_header(void);
void nasctl_print_jobs_row(const json_t *job);
/* One redraw of the progress bar on stderr from a `progress` event (a
 * line per tenth when stderr is not a terminal); nasctl_progress_end
 * ends the bar's line. */
void nasctl_progress(const json_t *progress);
void nasctl_progress_end(void);

/* ---------------------------------------------------------- commands */

int nasctl_cmd_submit(const nasctl_opts *o);
int nasctl_cmd_get(const nasctl_opts *o);
int nasctl_cmd_list(const nasctl_opts *o);
int nasctl_cmd_cancel(const nasctl_opts *o);
int nasctl_cmd_delete(const nasctl_opts *o);
int nasctl_cmd_result(const nasctl_opts *o);
int nasctl_cmd_architectures(const nasctl_opts *o);
int nasctl_cmd_model(const nasctl_opts *o);
int nasctl_cmd_metrics(const nasctl_opts *o);
/* cmd_datasets.c: dataset upload|list|get|delete */
int nasctl_cmd_dataset_upload(const nasctl_opts *o);
int nasctl_cmd_dataset_list(const nasctl_opts *o);
int nasctl_cmd_dataset_get(const nasctl_opts *o);
int nasctl_cmd_dataset_delete(const nasctl_opts *o);

/* out = /v1/jobs/ID followed by suffix, once ID is seen to be one path
 * segment; NASCTL_OK or NASCTL_USAGE (said). */
int nasctl_job_path(const char *id, const char *suffix, char *out, size_t n);
/* Appends ?key=value or &key=value (value escaped) to the path q of n
 * bytes when value is not NULL; -1 when it does not fit. */
int nasctl_add_param(char *q, size_t n, const char *key, const char *value);

/* Writes n bytes to path ("-": stdout); NASCTL_OK or NASCTL_USAGE
 * (said). */
int nasctl_write_file(const char *path, const char *bytes, size_t n);

#endif
