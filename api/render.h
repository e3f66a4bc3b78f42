// SPDX-License-Identifier: MIT
/*
 * render.h - architectures drawn by nasd itself: Graphviz DOT text and a
 * self-contained SVG of any architecture JSON nasd stores (DARTS CNN and
 * RNN genotypes, ENAS micro cells, macro layer lists and recurrent cells,
 * NAS-RL CNN layer lists), and the HTTP side of `?format=svg|dot`.
 *
 * The one design decision to know: the format is detected from the keys
 * of the JSON (no space name is needed), every architecture becomes one
 * small graph model per cell (inputs, intermediate nodes, output; edges
 * labelled with their op), and both outputs are written from that model,
 * the SVG with a simple layered layout of our own (rank = longest path
 * from the inputs), so no external tool runs at request time.
 *
 * Ownership: *out is malloc'd and NUL-terminated; the caller frees it.
 */
#ifndef API_RENDER_H
#define API_RENDER_H

#include <stddef.h>

#include <jansson.h>

typedef enum api_render_format {
    API_RENDER_JSON, /* no drawing: the resource as JSON */
    API_RENDER_DOT,  /* text/vnd.graphviz */
    API_RENDER_SVG,  /* image/svg+xml */
    API_RENDER_FORMAT_COUNT_
} api_render_format;

/* "json", "dot", "svg" -> *out; -1 for anything else (NULL included). */
int api_render_format_parse(const char *name, api_render_format *out);
const char *api_render_format_name(api_render_format f);
/* The Content-Type of a drawing format (application/json for JSON). */
const char *api_render_content_type(api_render_format f);

/* The kind of architecture arch is ("darts-cnn", "darts-rnn",
 * "enas-micro", "enas-macro", "enas-rnn", "nasrl-cnn"), or NULL. An object
 * {"genotype": {...}} (a train job's darts-cnn architecture) is looked
 * through. */
const char *api_render_kind(const json_t *arch);

/* Draws arch as DOT or SVG. 0 with *out (and *len, when non-NULL) set,
 * or -1 with *out NULL and a sentence in err naming what is wrong (with
 * the JSON pointer of the offending value when there is one). */
int api_render(const json_t *arch, api_render_format fmt, char **out, size_t *len, char *err,
               size_t errlen);
/* The same from JSON text (len bytes); text that does not parse is
 * refused with its line and column. */
int api_render_text(const char *text, size_t len, api_render_format fmt, char **out,
                    size_t *len_out, char *err, size_t errlen);

/* ---------------------------------------------------------------- HTTP */

struct nd_request;
struct nd_response;

/* The ?format= of a request: 0 with *fmt set (JSON when absent), or -1
 * with rs filled (400 naming the parameter and the allowed values). */
int api_render_query(struct nd_request *rq, struct nd_response *rs, api_render_format *fmt);
/* Fills rs with the drawing of arch (200), or a problem: 422 when arch is
 * not something nasd can draw. */
void api_render_reply(struct nd_response *rs, const json_t *arch, api_render_format fmt);
/* GET /v1/jobs/{id}/architectures/{seq}[?format=json|svg|dot]: one stored
 * architecture row, or its drawing. */
void api_jobs_architecture_get(struct nd_request *rq, struct nd_response *rs, const char *id);

#endif
