// SPDX-License-Identifier: MIT
/*
 * render.c - architecture JSON read into drawings (DOT and SVG are written
 * by render_draw.c), and the `?format=svg|dot` side of the result and
 * architecture routes.
 *
 * The one design decision to know: the format is told by its keys, and
 * each is read into the same small model (render_internal.h) - one graph
 * per cell, nodes of three kinds (input, intermediate, output) added so
 * that every edge goes from an earlier node to a later one, edges labelled
 * with their op. Every value is checked as it is read, and a refusal names
 * the JSON pointer of what is wrong.
 */
#include "render.h"
#include "render_internal.h"

#include "api.h"
#include "db.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ errors */

typedef struct rerr {
    char *buf;
    size_t len;
} rerr;

__attribute__((format(printf, 2, 3))) static int fail(rerr *e, const char *fmt, ...)
{
    if (e->buf && e->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------ the model */

static cell *cell_new(drawing *d, const char *name, const char *title)
{
    if (d->ncells == MAX_CELLS)
        return NULL;
    cell *c = calloc(1, sizeof(*c));
    edge *e = c ? calloc(MAX_EDGES, sizeof(*e)) : NULL;
    if (!e) {
        free(c);
        return NULL;
    }
    c->edges = e;
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->title, sizeof(c->title), "%s", title);
    d->cells[d->ncells++] = c;
    return c;
}

static void drawing_free(drawing *d)
{
    for (int i = 0; i < d->ncells; i++) {
        free(d->cells[i]->edges);
        free(d->cells[i]);
    }
    d->ncells = 0;
}

/* The new node's index, or -1 (too many). */
__attribute__((format(printf, 3, 4))) static int add_node(cell *c, enum node_kind kind,
                                                          const char *fmt, ...)
{
    if (c->nnodes == MAX_NODES)
        return -1;
    node *n = &c->nodes[c->nnodes];
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->label, sizeof(n->label), fmt, ap);
    va_end(ap);
    return c->nnodes++;
}

static int add_edge(cell *c, int from, int to, const char *label)
{
    if (c->nedges == MAX_EDGES || from < 0 || to < 0 || from >= c->nnodes || to >= c->nnodes)
        return -1;
    edge *e = &c->edges[c->nedges];
    e->from = from;
    e->to = to;
    snprintf(e->label, sizeof(e->label), "%s", label ? label : "");
    e->parallel = 0;
    for (int i = 0; i < c->nedges; i++)
        if (c->edges[i].from == from && c->edges[i].to == to)
            e->parallel++;
    c->nedges++;
    return 0;
}

/* ---------------------------------------------------- JSON helpers */

/* An integer (a JSON integer, or a real with an integral value). */
static int get_index(const json_t *v, long *out)
{
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Range first: casting a huge double to long is undefined. */
        if (d > -1e9 && d < 1e9 && d == (double)(long)d) {
            *out = (long)d;
            return 0;
        }
    }
    return -1;
}

static int check_label(rerr *e, const json_t *v, const char *ptr)
{
    const char *s = json_string_value(v);
    if (!s || !*s)
        return fail(e, "%s must be a non-empty string (an op name)", ptr);
    if (strlen(s) >= LABEL_MAX)
        return fail(e, "%s is longer than %d characters", ptr, LABEL_MAX - 1);
    return 0;
}

/* Edges from every node in `concat` (cell node indices offset by `base`;
 * concat values in [lo, hi]) to out; when concat is absent, from every
 * intermediate node that feeds no other (the loose ends). */
static int connect_output(rerr *e, cell *c, const json_t *concat, const char *ptr, long lo, long hi,
                          int base, int first_mid, int out, const char *label)
{
    if (concat) {
        if (!json_is_array(concat) || json_array_size(concat) == 0)
            return fail(e, "%s must be a non-empty array of node indices", ptr);
        size_t i;
        json_t *v;
        json_array_foreach(concat, i, v)
        {
            long k;
            if (get_index(v, &k) || k < lo || k > hi)
                return fail(e, "%s/%zu must be a node index in [%ld, %ld]", ptr, i, lo, hi);
            if (add_edge(c, (int)(base + k), out, label))
                return fail(e, "%s: too many edges", ptr);
        }
        return 0;
    }
    for (int n = first_mid; n < out; n++) {
        int used = 0;
        for (int k = 0; k < c->nedges && !used; k++)
            used = c->edges[k].from == n;
        if (!used && add_edge(c, n, out, label))
            return fail(e, "too many edges");
    }
    return 0;
}

/* --------------------------------------------------- the formats */

/* DARTS CNN: [[op, j], ...], two genes per node; j 0 and 1 are the cell
 * inputs c_{k-2} and c_{k-1}, j >= 2 intermediate node j-2. */
static int read_darts_cell(rerr *e, drawing *d, const json_t *arch, const char *key,
                           const char *title)
{
    const json_t *genes = json_object_get(arch, key);
    char ckey[32];
    snprintf(ckey, sizeof(ckey), "%s_concat", key);
    if (!json_is_array(genes) || json_array_size(genes) == 0 || json_array_size(genes) % 2)
        return fail(e, "/%s must be a non-empty array of [op, input] pairs, two per node", key);
    cell *c = cell_new(d, key, title);
    if (!c)
        return fail(e, "out of memory");
    int steps = (int)json_array_size(genes) / 2;
    if (steps + 3 > MAX_NODES)
        return fail(e, "/%s has more than %d nodes", key, MAX_NODES - 3);
    add_node(c, NODE_INPUT, "c_{k-2}");
    add_node(c, NODE_INPUT, "c_{k-1}");
    for (int i = 0; i < steps; i++)
        add_node(c, NODE_MID, "%d", i);
    int out = add_node(c, NODE_OUTPUT, "c_{k}");
    size_t i;
    json_t *g;
    json_array_foreach(genes, i, g)
    {
        char ptr[64];
        snprintf(ptr, sizeof(ptr), "/%s/%zu", key, i);
        long j;
        int at = (int)(i / 2);
        if (!json_is_array(g) || json_array_size(g) != 2)
            return fail(e, "%s must be an [op, input] pair", ptr);
        char p0[72];
        snprintf(p0, sizeof(p0), "%s/0", ptr);
        if (check_label(e, json_array_get(g, 0), p0))
            return -1;
        if (get_index(json_array_get(g, 1), &j) || j < 0 || j >= at + 2)
            return fail(e,
                        "%s/1 must be an input index in [0, %d] (the two cell inputs "
                        "and the nodes before node %d)",
                        ptr, at + 1, at);
        if (add_edge(c, (int)j, 2 + at, json_string_value(json_array_get(g, 0))))
            return fail(e, "%s: too many edges", ptr);
    }
    char cptr[40];
    snprintf(cptr, sizeof(cptr), "/%s", ckey);
    return connect_output(e, c, json_object_get(arch, ckey), cptr, 2, steps + 1, 0, 2, out, "");
}

/* DARTS RNN: {"recurrent": [[op, j], ...], "concat": [...]}: node 0 mixes
 * x_t and h_{t-1}; step i (node i+1) takes node j <= i through op. */
static int read_darts_rnn(rerr *e, drawing *d, const json_t *arch)
{
    const json_t *genes = json_object_get(arch, "recurrent");
    if (!json_is_array(genes) || json_array_size(genes) == 0)
        return fail(e, "/recurrent must be a non-empty array of [op, input] pairs");
    cell *c = cell_new(d, "recurrent", "recurrent cell");
    if (!c)
        return fail(e, "out of memory");
    int steps = (int)json_array_size(genes);
    if (steps + 4 > MAX_NODES)
        return fail(e, "/recurrent has more than %d nodes", MAX_NODES - 4);
    int x = add_node(c, NODE_INPUT, "x_{t}");
    int h = add_node(c, NODE_INPUT, "h_{t-1}");
    int base = c->nnodes;
    for (int i = 0; i <= steps; i++)
        add_node(c, NODE_MID, "%d", i);
    int out = add_node(c, NODE_OUTPUT, "h_{t}");
    add_edge(c, x, base, "");
    add_edge(c, h, base, "");
    size_t i;
    json_t *g;
    json_array_foreach(genes, i, g)
    {
        long j;
        if (!json_is_array(g) || json_array_size(g) != 2)
            return fail(e, "/recurrent/%zu must be an [op, input] pair", i);
        char p0[48];
        snprintf(p0, sizeof(p0), "/recurrent/%zu/0", i);
        if (check_label(e, json_array_get(g, 0), p0))
            return -1;
        if (get_index(json_array_get(g, 1), &j) || j < 0 || j > (long)i)
            return fail(e, "/recurrent/%zu/1 must be a node index in [0, %zu]", i, i);
        add_edge(c, base + (int)j, base + (int)i + 1, json_string_value(json_array_get(g, 0)));
    }
    return connect_output(e, c, json_object_get(arch, "concat"), "/concat", 1, steps, base,
                          base + 1, out, "");
}

/* ENAS micro: [{"inputs": [a, b], "ops": [x, y]}, ...]; inputs 0 and 1
 * are the cell inputs, k >= 2 the node at position k-2. The loose ends
 * (`*_concat`, or those found here when it is absent) may include a cell
 * input that no node reads: the reference's _enas_cell marks used over all
 * nodes + 2 layers and concatenates every unused one, and so does the
 * engine (enas_micro.c, loose_ends). */
static int read_enas_cell(rerr *e, drawing *d, const json_t *arch, const char *key,
                          const char *title)
{
    const json_t *nodes = json_object_get(arch, key);
    if (!json_is_array(nodes) || json_array_size(nodes) == 0)
        return fail(e, "/%s must be a non-empty array of {inputs, ops} nodes", key);
    cell *c = cell_new(d, key, title);
    if (!c)
        return fail(e, "out of memory");
    int n = (int)json_array_size(nodes);
    if (n + 3 > MAX_NODES)
        return fail(e, "/%s has more than %d nodes", key, MAX_NODES - 3);
    add_node(c, NODE_INPUT, "c_{k-2}");
    add_node(c, NODE_INPUT, "c_{k-1}");
    for (int i = 0; i < n; i++)
        add_node(c, NODE_MID, "%d", i + 2);
    int out = add_node(c, NODE_OUTPUT, "c_{k}");
    size_t i;
    json_t *nd;
    json_array_foreach(nodes, i, nd)
    {
        const json_t *in = json_object_get(nd, "inputs"), *ops = json_object_get(nd, "ops");
        if (!json_is_array(in) || !json_is_array(ops) || json_array_size(in) == 0 ||
            json_array_size(in) != json_array_size(ops))
            return fail(e, "/%s/%zu must have \"inputs\" and \"ops\" arrays of one length", key, i);
        for (size_t k = 0; k < json_array_size(in); k++) {
            char ptr[64];
            long j;
            snprintf(ptr, sizeof(ptr), "/%s/%zu/ops/%zu", key, i, k);
            if (check_label(e, json_array_get(ops, k), ptr))
                return -1;
            if (get_index(json_array_get(in, k), &j) || j < 0 || j >= (long)i + 2)
                return fail(e, "/%s/%zu/inputs/%zu must be a node index in [0, %zu]", key, i, k,
                            i + 1);
            if (add_edge(c, (int)j, (int)i + 2, json_string_value(json_array_get(ops, k))))
                return fail(e, "/%s: too many edges", key);
        }
    }
    char ckey[40];
    snprintf(ckey, sizeof(ckey), "/%s_concat", key);
    return connect_output(e, c, json_object_get(arch, ckey + 1), ckey, 0, n + 1, 0, 0, out, "");
}

/* ENAS RNN: {"nodes": [{"input": null | j, "activation": a}, ...],
 * "output": [...]}: a node with a null input reads x_t and h_{t-1}. */
static int read_enas_rnn(rerr *e, drawing *d, const json_t *arch)
{
    const json_t *nodes = json_object_get(arch, "nodes");
    if (!json_is_array(nodes) || json_array_size(nodes) == 0)
        return fail(e, "/nodes must be a non-empty array of {input, activation} nodes");
    cell *c = cell_new(d, "cell", "recurrent cell");
    if (!c)
        return fail(e, "out of memory");
    int n = (int)json_array_size(nodes);
    if (n + 3 > MAX_NODES)
        return fail(e, "/nodes has more than %d nodes", MAX_NODES - 3);
    int x = add_node(c, NODE_INPUT, "x_{t}");
    int h = add_node(c, NODE_INPUT, "h_{t-1}");
    int base = c->nnodes;
    for (int i = 0; i < n; i++)
        add_node(c, NODE_MID, "%d", i);
    int out = add_node(c, NODE_OUTPUT, "h_{t}");
    size_t i;
    json_t *nd;
    json_array_foreach(nodes, i, nd)
    {
        char ptr[48];
        snprintf(ptr, sizeof(ptr), "/nodes/%zu/activation", i);
        const json_t *act = json_object_get(nd, "activation");
        const json_t *in = json_object_get(nd, "input");
        long j;
        if (check_label(e, act, ptr))
            return -1;
        const char *a = json_string_value(act);
        if (!in || json_is_null(in)) {
            add_edge(c, x, base + (int)i, a);
            add_edge(c, h, base + (int)i, a);
        } else if (get_index(in, &j) || j < 0 || j >= (long)i) {
            return fail(e, "/nodes/%zu/input must be null or a node index in [0, %zu)", i, i);
        } else {
            add_edge(c, base + (int)j, base + (int)i, a);
        }
    }
    return connect_output(e, c, json_object_get(arch, "output"), "/output", 0, n - 1, base, base,
                          out, "");
}

/* Layer lists: enas-macro [{"op", "skips": [j, ...]}] (layer i reads
 * layer i-1 and its skips; skip -1 is the stem, drawn as the image node,
 * as in the reference's prev_layers) and nasrl-cnn [{"filter_height",
 * "filter_width", "filters", "stride", "inputs": [j, ...]}] (a layer with
 * no input reads the image; layers that feed none feed the classifier). */
static int read_layers(rerr *e, drawing *d, const json_t *arch, int nasrl)
{
    const json_t *layers = json_object_get(arch, "layers");
    int n = (int)json_array_size(layers);
    if (n + 2 > MAX_NODES)
        return fail(e, "/layers has more than %d layers", MAX_NODES - 2);
    cell *c = cell_new(d, "layers", nasrl ? "network" : "macro network");
    if (!c)
        return fail(e, "out of memory");
    int img = add_node(c, NODE_INPUT, "image");
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l)
    {
        if (!json_is_object(l))
            return fail(e, "/layers/%zu must be an object", i);
        if (nasrl) {
            long fh, fw, f, s = 1;
            const json_t *st = json_object_get(l, "stride");
            if (get_index(json_object_get(l, "filter_height"), &fh) || fh < 1 ||
                get_index(json_object_get(l, "filter_width"), &fw) || fw < 1 ||
                get_index(json_object_get(l, "filters"), &f) || f < 1)
                return fail(e,
                            "/layers/%zu needs positive integers filter_height, "
                            "filter_width and filters",
                            i);
            if (st && (get_index(st, &s) || s < 1))
                return fail(e, "/layers/%zu/stride must be a positive integer", i);
            if (s > 1)
                add_node(c, NODE_MID, "%zu: %ldx%ld conv %ld /%ld", i, fh, fw, f, s);
            else
                add_node(c, NODE_MID, "%zu: %ldx%ld conv %ld", i, fh, fw, f);
        } else {
            char ptr[40];
            snprintf(ptr, sizeof(ptr), "/layers/%zu/op", i);
            if (check_label(e, json_object_get(l, "op"), ptr))
                return -1;
            add_node(c, NODE_MID, "%zu: %s", i, json_string_value(json_object_get(l, "op")));
        }
        int me = img + 1 + (int)i;
        const char *key = nasrl ? "inputs" : "skips";
        const json_t *from = json_object_get(l, key);
        if (from && !json_is_array(from))
            return fail(e, "/layers/%zu/%s must be an array of earlier layer indices", i, key);
        if (!nasrl)
            add_edge(c, i ? me - 1 : img, me, "");
        size_t k;
        json_t *v;
        json_array_foreach(from, k, v)
        {
            long j;
            int stem = !nasrl && json_is_integer(v) && json_integer_value(v) == -1;
            if (stem)
                j = -1;
            else if (get_index(v, &j) || j < 0 || j >= (long)i)
                return fail(e, "/layers/%zu/%s/%zu must be a layer index in [%d, %zu)", i, key, k,
                            nasrl ? 0 : -1, i);
            if (!nasrl && j == (long)i - 1)
                continue; /* the chain edge already joins them */
            if (add_edge(c, stem ? img : img + 1 + (int)j, me, nasrl ? "" : "skip"))
                return fail(e, "/layers: too many edges");
        }
        if (nasrl && json_array_size(from) == 0)
            add_edge(c, img, me, "");
    }
    int out = add_node(c, NODE_OUTPUT, "%s", nasrl ? "classifier" : "output");
    if (!nasrl)
        return add_edge(c, out - 1, out, "") ? fail(e, "/layers: too many edges") : 0;
    return connect_output(e, c, NULL, "", 0, 0, 0, img + 1, out, "");
}

const char *api_render_kind(const json_t *arch)
{
    const json_t *g = json_object_get(arch, "genotype");
    if (json_is_object(g))
        arch = g;
    if (!json_is_object(arch))
        return NULL;
    if (json_object_get(arch, "recurrent"))
        return "darts-rnn";
    if (json_object_get(arch, "nodes"))
        return "enas-rnn";
    const json_t *layers = json_object_get(arch, "layers");
    if (json_is_array(layers) && json_array_size(layers) > 0) {
        const json_t *l0 = json_array_get(layers, 0);
        if (json_object_get(l0, "filter_height") || json_object_get(l0, "filters"))
            return "nasrl-cnn";
        if (json_object_get(l0, "op"))
            return "enas-macro";
        return NULL;
    }
    const json_t *normal = json_object_get(arch, "normal");
    if (json_is_array(normal) && json_array_size(normal) > 0) {
        const json_t *n0 = json_array_get(normal, 0);
        if (json_is_array(n0))
            return "darts-cnn";
        if (json_is_object(n0))
            return "enas-micro";
    }
    return NULL;
}

static int read_arch(rerr *e, drawing *d, const json_t *arch)
{
    const char *kind = api_render_kind(arch);
    if (!json_is_object(arch))
        return fail(e, "an architecture must be a JSON object");
    if (!kind)
        return fail(e, "not an architecture nasd can draw: expected \"normal\" (darts-cnn, "
                       "enas-micro), \"recurrent\" (darts-rnn), \"nodes\" (enas-rnn) or "
                       "\"layers\" (enas-macro, nasrl-cnn)");
    const json_t *g = json_object_get(arch, "genotype");
    if (json_is_object(g))
        arch = g;
    d->kind = kind;
    if (!strcmp(kind, "darts-cnn") || !strcmp(kind, "enas-micro")) {
        int darts = kind[0] == 'd';
        if ((darts ? read_darts_cell : read_enas_cell)(e, d, arch, "normal", "normal cell"))
            return -1;
        if (json_object_get(arch, "reduce") &&
            (darts ? read_darts_cell : read_enas_cell)(e, d, arch, "reduce", "reduction cell"))
            return -1;
        return 0;
    }
    if (!strcmp(kind, "darts-rnn"))
        return read_darts_rnn(e, d, arch);
    if (!strcmp(kind, "enas-rnn"))
        return read_enas_rnn(e, d, arch);
    return read_layers(e, d, arch, !strcmp(kind, "nasrl-cnn"));
}

/* ------------------------------------------------------------ public */

static const char *const format_names[] = {"json", "dot", "svg"};
static const char *const format_types[] = {"application/json", "text/vnd.graphviz",
                                           "image/svg+xml"};
_Static_assert(sizeof(format_names) / sizeof(format_names[0]) == API_RENDER_FORMAT_COUNT_,
               "one name per api_render_format");
_Static_assert(sizeof(format_types) / sizeof(format_types[0]) == API_RENDER_FORMAT_COUNT_,
               "one content type per api_render_format");

int api_render_format_parse(const char *name, api_render_format *out)
{
    for (int i = 0; name && i < API_RENDER_FORMAT_COUNT_; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (api_render_format)i;
            return 0;
        }
    return -1;
}

const char *api_render_format_name(api_render_format f)
{
    return (unsigned)f < API_RENDER_FORMAT_COUNT_ ? format_names[f] : NULL;
}

const char *api_render_content_type(api_render_format f)
{
    return (unsigned)f < API_RENDER_FORMAT_COUNT_ ? format_types[f] : NULL;
}

int api_render(const json_t *arch, api_render_format fmt, char **out, size_t *len, char *err,
               size_t errlen)
{
    rerr e = {err, errlen};
    drawing d = {0};
    size_t n = 0;
    int rc = -1;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (fmt != API_RENDER_DOT && fmt != API_RENDER_SVG) {
        fail(&e, "only dot and svg are drawings");
        goto done;
    }
    if (read_arch(&e, &d, arch))
        goto done;
    if (api__render_write(&d, fmt == API_RENDER_SVG, out, &n) != 0) {
        fail(&e, "out of memory");
        goto done;
    }
    if (len)
        *len = n;
    rc = 0;
done:
    drawing_free(&d);
    return rc;
}

int api_render_text(const char *text, size_t len, api_render_format fmt, char **out,
                    size_t *len_out, char *err, size_t errlen)
{
    json_error_t je;
    *out = NULL;
    json_t *arch = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!arch) {
        if (err && errlen)
            snprintf(err, errlen, "the architecture is not valid JSON: %s (line %d, column %d)",
                     je.text, je.line, je.column);
        return -1;
    }
    int rc = api_render(arch, fmt, out, len_out, err, errlen);
    json_decref(arch);
    return rc;
}

/* ------------------------------------------------------------- HTTP */

int api_render_query(api_req *rq, api_resp *rs, api_render_format *fmt)
{
    const char *v = api_query(rq, "format");
    *fmt = API_RENDER_JSON;
    if (!v || api_render_format_parse(v, fmt) == 0)
        return 0;
    api_failf(rs, 400, API_PROBLEM_INVALID_FIELD, "",
              "query parameter format must be one of json, svg, dot; got \"%s\"", v);
    json_object_set_new(rs->json, "parameter", json_string("format"));
    json_object_set_new(rs->json, "allowed", json_pack("[s,s,s]", "json", "svg", "dot"));
    return -1;
}

void api_render_reply(api_resp *rs, const json_t *arch, api_render_format fmt)
{
    char err[512], *text = NULL;
    size_t len = 0;
    if (api_render(arch, fmt, &text, &len, err, sizeof(err)) != 0) {
        api_failf(rs, 422, API_PROBLEM_CANNOT_DRAW, "", "cannot draw this architecture as %s: %s",
                  api_render_format_name(fmt), err);
        return;
    }
    rs->status = 200;
    rs->raw = text;
    rs->raw_len = len;
    rs->raw_free = 1;
    rs->content_type = api_render_content_type(fmt);
}

void api_jobs_architecture_get(api_req *rq, api_resp *rs, const char *id)
{
    /* The router matched ".../architectures/<digits>". */
    const char *num = strrchr(rq->path, '/') + 1;
    char *end;
    errno = 0;
    long long number = strtoll(num, &end, 10);
    api_render_format fmt;
    if (api_render_query(rq, rs, &fmt))
        return;
    if (errno || *end || number < 1) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no architecture %s in job %s", num, id);
        return;
    }
    json_t *row = NULL;
    int rc = nd_db_arch_get(rq->srv->db, id, (int64_t)number, &row);
    if (rc == ND_DB_NOTFOUND) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "", "no job with id %s", id);
        return;
    }
    if (rc != 0) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "reading job %s failed", id);
        return;
    }
    if (!row) {
        api_failf(rs, 404, API_PROBLEM_NOT_FOUND, "",
                  "job %s has no architecture number %lld (see GET /v1/jobs/%s/architectures)", id,
                  number, id);
        return;
    }
    if (fmt == API_RENDER_JSON)
        api_json(rs, 200, row);
    else {
        api_render_reply(rs, json_object_get(row, "architecture"), fmt);
        json_decref(row);
    }
}
