// SPDX-License-Identifier: MIT
/*
 * test_render.c - architectures drawn as DOT and SVG (api/render.c): for a
 * DARTS CNN and RNN genotype, an ENAS micro cell, an ENAS recurrent cell
 * and the two layer lists (enas-macro, nasrl-cnn), the drawings hold the
 * right nodes and the right labelled edges, the SVG is well-formed XML
 * whose node boxes do not overlap and whose edges (their paths sampled)
 * never run behind a node they do not join or behind another edge's
 * label, the enas-micro cells the engine really emits (an unread cell
 * input among the loose ends) are drawn, and malformed input is refused
 * with a sentence that says where.
 *
 * The one design decision to know: the SVG is read back by a small XML
 * reader (tests/xml_reader.c: elements, attributes, text, entities; it
 * fails on anything unbalanced or unescaped), so the checks are about the document
 * rather than about substrings; xmllint and Graphviz's dot, when the
 * machine has them, check the same outputs once more.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render.h"
#include "xml_reader.h"

/* ------------------------------------------------------------- helpers */

static char *draw(const char *json, api_render_format f)
{
    char err[512], *out = NULL;
    size_t len = 0;
    int rc = api_render_text(json, strlen(json), f, &out, &len, err, sizeof(err));
    cr_assert_eq(rc, 0, "refused %s: %s", json, err);
    cr_assert(out && len == strlen(out));
    return out;
}

/* The error message of a refused drawing. */
static const char *refused(const char *json, api_render_format f)
{
    static char err[512];
    char *out = (char *)1;
    err[0] = '\0';
    int rc = api_render_text(json, strlen(json), f, &out, NULL, err, sizeof(err));
    cr_assert_eq(rc, -1, "drew %s", json);
    cr_assert_null(out);
    cr_assert(err[0], "no message for %s", json);
    return err;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static doc *svg_of(const char *json)
{
    char *svg = draw(json, API_RENDER_SVG);
    doc *d = calloc(1, sizeof(*d));
    cr_assert(d);
    cr_assert_eq(xml_read(svg, d), 0, "not well-formed: %s\n%s", d->err, svg);
    cr_assert_str_eq(d->els[0].name, "svg");
    free(svg);
    return d;
}

/* Elements of name (and class prefix, when cls is non-NULL) with text. */
static int count_els(const doc *d, const char *name, const char *cls, const char *text)
{
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        const el *e = &d->els[i];
        if (strcmp(e->name, name) != 0)
            continue;
        if (cls && strncmp(e->cls, cls, strlen(cls)) != 0)
            continue;
        if (text && strcmp(e->text, text) != 0)
            continue;
        n++;
    }
    return n;
}

/* A node's label: <g class="node ..."><rect/><text>label</text></g>. */
static int count_nodes(const doc *d, const char *kind, const char *label)
{
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        const el *e = &d->els[i];
        if (strcmp(e->name, "text") || e->parent < 0)
            continue;
        const el *g = &d->els[e->parent];
        if (strncmp(g->cls, "node ", 5) || (kind && strcmp(g->cls + 5, kind)))
            continue;
        if (!label || !strcmp(e->text, label))
            n++;
    }
    return n;
}

/* No two node boxes of one cell overlap, and every one is inside the
 * drawing. */
static void check_boxes(const doc *d)
{
    double W = d->els[0].w, H = d->els[0].h;
    cr_assert(W > 0 && H > 0, "svg size %gx%g", W, H);
    for (int i = 0; i < d->n; i++) {
        const el *a = &d->els[i];
        if (strcmp(a->name, "rect") || a->parent < 0 || strncmp(d->els[a->parent].cls, "node ", 5))
            continue;
        cr_assert(a->x >= 0 && a->x + a->w <= W && a->w > 0 && a->h > 0, "box outside");
        for (int j = i + 1; j < d->n; j++) {
            const el *b = &d->els[j];
            if (strcmp(b->name, "rect") || b->parent < 0 ||
                strncmp(d->els[b->parent].cls, "node ", 5) ||
                d->els[a->parent].parent != d->els[b->parent].parent)
                continue;
            int apart = a->x + a->w <= b->x || b->x + b->w <= a->x || a->y + a->h <= b->y ||
                        b->y + b->h <= a->y;
            cr_assert(apart, "node boxes overlap: (%g,%g %gx%g) and (%g,%g %gx%g)", a->x, a->y,
                      a->w, a->h, b->x, b->y, b->w, b->h);
        }
    }
}

/* The point at t of the path d (only M, C and L, as render_draw.c
 * writes them), sampled: calls visit for n points per segment. Returns
 * the number of points visited, 0 on a command it does not know. */
static int walk_path(const char *d, int n, void (*visit)(double, double, void *), void *ctx)
{
    double cx = 0, cy = 0, q[6];
    int seen = 0;
    const char *p = d;
    while (*p) {
        char cmd = *p;
        if (cmd == ' ') {
            p++;
            continue;
        }
        int args = cmd == 'M' || cmd == 'L' ? 2 : cmd == 'C' ? 6 : -1;
        if (args < 0)
            return 0;
        p++;
        for (int i = 0; i < args; i++) {
            char *end;
            q[i] = strtod(p, &end);
            if (end == p)
                return 0;
            p = end + (*end == ',' || *end == ' ');
        }
        for (int k = 1; cmd != 'M' && k <= n; k++) {
            double t = (double)k / n, u = 1 - t, x, y;
            if (cmd == 'L') {
                x = cx + (q[0] - cx) * t;
                y = cy + (q[1] - cy) * t;
            } else {
                x = u * u * u * cx + 3 * u * u * t * q[0] + 3 * u * t * t * q[2] + t * t * t * q[4];
                y = u * u * u * cy + 3 * u * u * t * q[1] + 3 * u * t * t * q[3] + t * t * t * q[5];
            }
            visit(x, y, ctx);
            seen++;
        }
        cx = q[args - 2];
        cy = q[args - 1];
    }
    return seen;
}

typedef struct box_hit {
    const doc *d;
    int cell, from, to, hits;
    double hx, hy;
} box_hit;

/* Counts the points strictly inside (by 2px) a node box of the cell other
 * than the edge's own ends. */
static void in_box(double x, double y, void *ctx)
{
    box_hit *h = ctx;
    for (int i = 0; i < h->d->n; i++) {
        const el *r = &h->d->els[i];
        if (strcmp(r->name, "rect") || r->parent < 0)
            continue;
        const el *g = &h->d->els[r->parent];
        if (strncmp(g->cls, "node ", 5) || g->parent != h->cell || g->node == h->from ||
            g->node == h->to)
            continue;
        if (x > r->x + 2 && x < r->x + r->w - 2 && y > r->y + 2 && y < r->y + r->h - 2) {
            h->hits++;
            h->hx = x;
            h->hy = y;
        }
    }
}

/* No edge runs behind a node it does not join. */
static void check_edges_clear_nodes(const doc *d)
{
    for (int i = 0; i < d->n; i++) {
        const el *e = &d->els[i];
        if (strcmp(e->name, "path") || strcmp(e->cls, "edge"))
            continue;
        box_hit h = {d, e->parent, e->from, e->to, 0, 0, 0};
        cr_assert(walk_path(e->d, 40, in_box, &h) > 0, "cannot read the path %s", e->d);
        cr_assert_eq(h.hits, 0, "the edge %d -> %d passes behind a node at (%g, %g): %s", e->from,
                     e->to, h.hx, h.hy, e->d);
    }
}

typedef struct label_hit {
    const el *box;
    int hits;
} label_hit;

static void in_label(double x, double y, void *ctx)
{
    label_hit *h = ctx;
    const el *r = h->box;
    if (x > r->x + 2 && x < r->x + r->w - 2 && y > r->y + 2 && y < r->y + r->h - 2)
        h->hits++;
}

/* No edge runs behind the label of another edge (each label's box is the
 * <rect> just before its <text>). */
static void check_edges_clear_labels(const doc *d)
{
    for (int i = 1; i < d->n; i++) {
        const el *t = &d->els[i], *box = &d->els[i - 1];
        if (strcmp(t->cls, "edge-label") || strcmp(box->name, "rect"))
            continue;
        for (int k = 0; k < d->n; k++) {
            const el *e = &d->els[k];
            if (strcmp(e->cls, "edge") || e->parent != t->parent ||
                (e->from == t->from && e->to == t->to))
                continue;
            label_hit h = {box, 0};
            walk_path(e->d, 60, in_label, &h);
            cr_assert_eq(h.hits, 0, "the edge %d -> %d runs behind the label \"%s\" of %d -> %d",
                         e->from, e->to, t->text, t->from, t->to);
        }
    }
}

/* The horizontal straight runs (L with no change of height) of a path:
 * up to max of them as {y, x0, x1}; how many. */
static int flat_runs(const char *d, double runs[][3], int max)
{
    double cx = 0, cy = 0;
    int n = 0;
    for (const char *p = d; *p;) {
        char cmd = *p++;
        int args = cmd == 'M' || cmd == 'L' ? 2 : cmd == 'C' ? 6 : 0;
        double q[6];
        for (int i = 0; i < args; i++) {
            char *end;
            q[i] = strtod(p, &end);
            p = end + (*end == ',' || *end == ' ');
        }
        if (!args)
            continue;
        if (cmd == 'L' && q[1] == cy && n < max) {
            runs[n][0] = cy;
            runs[n][1] = cx < q[0] ? cx : q[0];
            runs[n][2] = cx < q[0] ? q[0] : cx;
            n++;
        }
        cx = q[args - 2];
        cy = q[args - 1];
    }
    return n;
}

/* No two edges of a cell run along one line: their lanes at one height
 * never overlap over more than a few pixels. */
static void check_lanes_apart(const doc *d)
{
    for (int i = 0; i < d->n; i++) {
        const el *a = &d->els[i];
        if (strcmp(a->cls, "edge"))
            continue;
        double ra[8][3];
        int na = flat_runs(a->d, ra, 8);
        for (int j = i + 1; j < d->n && na; j++) {
            const el *b = &d->els[j];
            if (strcmp(b->cls, "edge") || b->parent != a->parent)
                continue;
            double rb[8][3];
            int nb = flat_runs(b->d, rb, 8);
            for (int x = 0; x < na; x++)
                for (int y = 0; y < nb; y++) {
                    double lo = ra[x][1] > rb[y][1] ? ra[x][1] : rb[y][1];
                    double hi = ra[x][2] < rb[y][2] ? ra[x][2] : rb[y][2];
                    cr_assert(ra[x][0] - rb[y][0] > 3 || rb[y][0] - ra[x][0] > 3 || hi - lo < 8,
                              "edges %d -> %d and %d -> %d run along y %g from x %g to %g", a->from,
                              a->to, b->from, b->to, ra[x][0], lo, hi);
                }
        }
    }
}

/* Runs an external checker on text when the program exists; 1 when it
 * ran and succeeded, 0 when the program is not there. */
static int external_check(const char *prog, const char *cmd, const char *text)
{
    if (access(prog, X_OK) != 0)
        return 0;
    char path[] = "/tmp/test_render_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char line[512];
    snprintf(line, sizeof(line), cmd, path);
    int rc = system(line);
    unlink(path);
    cr_assert_eq(rc, 0, "%s failed on:\n%s", line, text);
    return 1;
}

/* ---------------------------------------------------------- fixtures */

/* The genotype in the README (a darts-cnn search on Fashion-MNIST). */
static const char darts_cnn[] =
    "{\"normal\":[[\"sep_conv_5x5\",1],[\"dil_conv_3x3\",0],[\"dil_conv_5x5\",2],"
    "[\"dil_conv_3x3\",1],[\"dil_conv_3x3\",0],[\"sep_conv_5x5\",3],[\"sep_conv_5x5\",0],"
    "[\"sep_conv_5x5\",1]],\"normal_concat\":[2,3,4,5],"
    "\"reduce\":[[\"sep_conv_5x5\",0],[\"sep_conv_5x5\",1],[\"skip_connect\",0],"
    "[\"sep_conv_3x3\",2],[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",3],[\"sep_conv_5x5\",2],"
    "[\"sep_conv_3x3\",0]],\"reduce_concat\":[2,3,4,5]}";

static const char darts_rnn[] =
    "{\"recurrent\":[[\"sigmoid\",0],[\"relu\",1],[\"relu\",1],[\"identity\",1],"
    "[\"tanh\",2],[\"sigmoid\",5],[\"tanh\",3],[\"relu\",5]],\"concat\":[1,2,3,4,5,6,7,8]}";

/* Two nodes; the second takes node 2 twice (two ops, parallel edges);
 * no concat: the loose end (node 3) is the output. */
static const char enas_micro[] =
    "{\"normal\":[{\"inputs\":[0,1],\"ops\":[\"sep_conv_3x3\",\"identity\"]},"
    "{\"inputs\":[2,2],\"ops\":[\"avg_pool_3x3\",\"max_pool_3x3\"]}],"
    "\"reduce\":[{\"inputs\":[1,0],\"ops\":[\"sep_conv_5x5\",\"max_pool_3x3\"]},"
    "{\"inputs\":[0,2],\"ops\":[\"identity\",\"sep_conv_3x3\"]}],\"reduce_concat\":[2,3]}";

static const char enas_rnn[] =
    "{\"nodes\":[{\"input\":null,\"activation\":\"tanh\"},{\"input\":0,\"activation\":\"relu\"},"
    "{\"input\":0,\"activation\":\"identity\"},{\"input\":1,\"activation\":\"sigmoid\"}],"
    "\"output\":[2,3]}";

static const char enas_macro[] =
    "{\"layers\":[{\"op\":\"conv_3x3\",\"skips\":[]},{\"op\":\"sep_conv_5x5\",\"skips\":[0]},"
    "{\"op\":\"max_pool_3x3\",\"skips\":[-1]},{\"op\":\"conv_5x5\",\"skips\":[0,2]}]}";

static const char nasrl_cnn[] =
    "{\"layers\":[{\"filter_height\":3,\"filter_width\":5,\"filters\":36,\"stride\":1,"
    "\"inputs\":[]},{\"filter_height\":7,\"filter_width\":7,\"filters\":48,\"stride\":2,"
    "\"inputs\":[0]},{\"filter_height\":1,\"filter_width\":3,\"filters\":24,\"stride\":1,"
    "\"inputs\":[]}]}";

/* ---------------------------------------------------------------- tests */

Test(render, formats_and_kinds)
{
    api_render_format f;
    cr_assert_eq(api_render_format_parse("svg", &f), 0);
    cr_assert_eq(f, API_RENDER_SVG);
    cr_assert_eq(api_render_format_parse("dot", &f), 0);
    cr_assert_eq(f, API_RENDER_DOT);
    cr_assert_eq(api_render_format_parse("json", &f), 0);
    cr_assert_eq(f, API_RENDER_JSON);
    cr_assert_eq(api_render_format_parse("png", &f), -1);
    cr_assert_eq(api_render_format_parse(NULL, &f), -1);
    cr_assert_str_eq(api_render_content_type(API_RENDER_SVG), "image/svg+xml");
    cr_assert_str_eq(api_render_content_type(API_RENDER_DOT), "text/vnd.graphviz");

    static const struct {
        const char *json, *kind;
    } cases[] = {{darts_cnn, "darts-cnn"}, {darts_rnn, "darts-rnn"},   {enas_micro, "enas-micro"},
                 {enas_rnn, "enas-rnn"},   {enas_macro, "enas-macro"}, {nasrl_cnn, "nasrl-cnn"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        cr_assert(j, "fixture %zu does not parse", i);
        cr_assert_str_eq(api_render_kind(j), cases[i].kind);
        json_decref(j);
    }
    /* A train job's darts-cnn architecture is looked through. */
    char wrapped[2048];
    snprintf(wrapped, sizeof(wrapped), "{\"space\":\"darts-cnn\",\"C\":16,\"genotype\":%s}",
             darts_cnn);
    json_t *j = json_loads(wrapped, 0, NULL);
    cr_assert_str_eq(api_render_kind(j), "darts-cnn");
    json_decref(j);
    free(draw(wrapped, API_RENDER_SVG));
}

Test(render, darts_cnn_dot)
{
    char *dot = draw(darts_cnn, API_RENDER_DOT);
    cr_assert(strncmp(dot, "digraph \"darts-cnn\" {", 21) == 0, "%s", dot);
    cr_assert(strstr(dot, "subgraph \"cluster_normal\""));
    cr_assert(strstr(dot, "subgraph \"cluster_reduce\""));
    cr_assert(strstr(dot, "\"normal/0\" [label=\"c_{k-2}\", fillcolor=darkseagreen2]"));
    cr_assert(strstr(dot, "\"normal/1\" [label=\"c_{k-1}\""));
    cr_assert(strstr(dot, "\"normal/2\" [label=\"0\", fillcolor=lightblue]"));
    cr_assert(strstr(dot, "\"normal/6\" [label=\"c_{k}\", fillcolor=palegoldenrod]"));
    /* ('sep_conv_5x5', 1) of node 0: from c_{k-1}; ('sep_conv_5x5', 3) of
     * node 2: from node 1; ('skip_connect', 0) of reduce node 1. */
    cr_assert(strstr(dot, "\"normal/1\" -> \"normal/2\" [label=\"sep_conv_5x5\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"normal/3\" -> \"normal/4\" [label=\"sep_conv_5x5\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"normal/0\" -> \"normal/2\" [label=\"dil_conv_3x3\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"normal/1\" -> \"normal/3\" [label=\"dil_conv_3x3\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"reduce/0\" -> \"reduce/3\" [label=\"skip_connect\"];"), "%s", dot);
    /* concat: every intermediate node into c_{k}, unlabelled. */
    for (int i = 2; i <= 5; i++) {
        char e[64];
        snprintf(e, sizeof(e), "\"normal/%d\" -> \"normal/6\";", i);
        cr_assert(strstr(dot, e), "no %s", e);
    }
    cr_assert_eq(count(dot, " -> "), 2 * (8 + 4));
    cr_assert_eq(count(dot, "[label=\"sep_conv_5x5\"]"), 4 + 3);
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
}

Test(render, darts_cnn_svg)
{
    char *svg = draw(darts_cnn, API_RENDER_SVG);
    external_check("/usr/bin/xmllint", "/usr/bin/xmllint --noout %s", svg);
    free(svg);
    doc *d = svg_of(darts_cnn);
    cr_assert_eq(count_els(d, "g", "cell", NULL), 2);
    cr_assert_eq(count_els(d, "text", "title", "normal cell"), 1);
    cr_assert_eq(count_els(d, "text", "title", "reduction cell"), 1);
    cr_assert_eq(count_nodes(d, "input", "c_{k-2}"), 2);
    cr_assert_eq(count_nodes(d, "input", "c_{k-1}"), 2);
    cr_assert_eq(count_nodes(d, "output", "c_{k}"), 2);
    for (int i = 0; i < 4; i++) {
        char l[4];
        snprintf(l, sizeof(l), "%d", i);
        cr_assert_eq(count_nodes(d, "mid", l), 2, "node %d", i);
    }
    cr_assert_eq(count_nodes(d, NULL, NULL), 2 * 7);
    cr_assert_eq(count_els(d, "path", "edge", NULL), 2 * 12);
    cr_assert_eq(count_els(d, "text", "edge-label", NULL), 2 * 8);
    cr_assert_eq(count_els(d, "text", "edge-label", "sep_conv_5x5"), 7);
    cr_assert_eq(count_els(d, "text", "edge-label", "skip_connect"), 1);
    /* The edge (sep_conv_5x5 from c_{k-1} into node 0) of the normal cell. */
    int found = 0;
    for (int i = 0; i < d->n; i++)
        found += !strcmp(d->els[i].cls, "edge") && d->els[i].from == 1 && d->els[i].to == 2;
    cr_assert_eq(found, 2, "c_{k-1} -> 0 in both cells");
    check_boxes(d);
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);
}

Test(render, darts_rnn)
{
    char *dot = draw(darts_rnn, API_RENDER_DOT);
    /* x_t 0, h_{t-1} 1, nodes 0..8 at 2..10, h_t 11. */
    cr_assert(strstr(dot, "\"recurrent/0\" [label=\"x_{t}\""));
    cr_assert(strstr(dot, "\"recurrent/11\" [label=\"h_{t}\""));
    cr_assert(strstr(dot, "\"recurrent/0\" -> \"recurrent/2\";"));
    cr_assert(strstr(dot, "\"recurrent/1\" -> \"recurrent/2\";"));
    cr_assert(strstr(dot, "\"recurrent/2\" -> \"recurrent/3\" [label=\"sigmoid\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"recurrent/7\" -> \"recurrent/10\" [label=\"relu\"];"), "%s", dot);
    cr_assert_eq(count(dot, "-> \"recurrent/11\";"), 8);
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
    doc *d = svg_of(darts_rnn);
    cr_assert_eq(count_nodes(d, "input", NULL), 2);
    cr_assert_eq(count_nodes(d, "mid", NULL), 9);
    cr_assert_eq(count_nodes(d, "output", "h_{t}"), 1);
    cr_assert_eq(count_els(d, "path", "edge", NULL), 2 + 8 + 8);
    cr_assert_eq(count_els(d, "text", "edge-label", "relu"), 3);
    check_boxes(d);
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);
}

Test(render, enas_micro)
{
    char *dot = draw(enas_micro, API_RENDER_DOT);
    cr_assert(strstr(dot, "\"normal/2\" [label=\"2\""), "%s", dot);
    cr_assert(strstr(dot, "\"normal/0\" -> \"normal/2\" [label=\"sep_conv_3x3\"];"));
    cr_assert(strstr(dot, "\"normal/1\" -> \"normal/2\" [label=\"identity\"];"));
    cr_assert(strstr(dot, "\"normal/2\" -> \"normal/3\" [label=\"avg_pool_3x3\"];"));
    cr_assert(strstr(dot, "\"normal/2\" -> \"normal/3\" [label=\"max_pool_3x3\"];"));
    /* No normal_concat: only the loose end, node 3, feeds the output. */
    cr_assert(strstr(dot, "\"normal/3\" -> \"normal/4\";"));
    cr_assert_null(strstr(dot, "\"normal/2\" -> \"normal/4\";"));
    /* reduce_concat [2, 3]. */
    cr_assert(strstr(dot, "\"reduce/2\" -> \"reduce/4\";"));
    cr_assert(strstr(dot, "\"reduce/3\" -> \"reduce/4\";"));
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
    doc *d = svg_of(enas_micro);
    cr_assert_eq(count_els(d, "path", "edge", NULL), 4 + 1 + 4 + 2);
    cr_assert_eq(count_els(d, "text", "edge-label", "max_pool_3x3"), 2);
    /* The two edges from node 2 to node 3 are drawn apart. */
    int normal = -1;
    for (int i = 0; i < d->n && normal < 0; i++)
        if (!strcmp(d->els[i].cls, "cell"))
            normal = i;
    const char *d1 = NULL, *d2 = NULL;
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->els[i].cls, "edge") && d->els[i].from == 2 && d->els[i].to == 3 &&
            d->els[i].parent == normal) {
            if (!d1)
                d1 = d->els[i].d;
            else if (!d2)
                d2 = d->els[i].d;
        }
    cr_assert(d1 && d2, "two edges from node 2 to node 3 in the normal cell");
    cr_assert_str_neq(d1, d2, "parallel edges share one path");
    check_boxes(d);
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);
}

/* The result of a real enas-micro search (nasd, synthetic data, 3 nodes):
 * no normal node reads c_{k-1}, so the engine, like the reference's
 * _enas_cell, lists cell input 1 among the loose ends (normal_concat
 * [1, 4]); the reduction cell's concat is absent here, so its loose ends
 * (c_{k-2}, unread, and node 4) are found by the reader. */
static const char enas_micro_engine[] =
    "{\"normal\":[{\"inputs\":[0,0],\"ops\":[\"identity\",\"max_pool_3x3\"]},"
    "{\"inputs\":[2,2],\"ops\":[\"avg_pool_3x3\",\"sep_conv_5x5\"]},"
    "{\"inputs\":[3,3],\"ops\":[\"identity\",\"sep_conv_3x3\"]}],\"normal_concat\":[1,4],"
    "\"reduce\":[{\"inputs\":[1,1],\"ops\":[\"max_pool_3x3\",\"sep_conv_5x5\"]},"
    "{\"inputs\":[2,1],\"ops\":[\"sep_conv_3x3\",\"sep_conv_3x3\"]},"
    "{\"inputs\":[2,3],\"ops\":[\"max_pool_3x3\",\"identity\"]}]}";

Test(render, enas_micro_an_unread_cell_input_is_a_loose_end)
{
    char *dot = draw(enas_micro_engine, API_RENDER_DOT);
    /* c_{k-2} 0, c_{k-1} 1, nodes 2..4, c_{k} 5. */
    cr_assert(strstr(dot, "\"normal/1\" -> \"normal/5\";"), "%s", dot);
    cr_assert(strstr(dot, "\"normal/4\" -> \"normal/5\";"), "%s", dot);
    cr_assert_eq(count(dot, "-> \"normal/5\""), 2, "%s", dot);
    cr_assert(strstr(dot, "\"reduce/0\" -> \"reduce/5\";"), "%s", dot);
    cr_assert(strstr(dot, "\"reduce/4\" -> \"reduce/5\";"), "%s", dot);
    cr_assert_eq(count(dot, "-> \"reduce/5\""), 2, "%s", dot);
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
    doc *d = svg_of(enas_micro_engine);
    cr_assert_eq(count_els(d, "path", "edge", NULL), 6 + 2 + 6 + 2);
    int into_output = 0;
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->els[i].cls, "edge") && d->els[i].from <= 1 && d->els[i].to == 5)
            into_output++;
    cr_assert_eq(into_output, 2, "an edge from a cell input to c_{k} in each cell");
    check_boxes(d);
    /* c_{k-1} -> c_{k} skips the ranks of nodes 2..4: it runs around node 4
     * (at c_{k}'s height), not behind it. */
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);
    /* Still refused: a loose end past the last node. */
    const char *m = refused("{\"normal\":[{\"inputs\":[0,1],\"ops\":[\"identity\",\"identity\"]}],"
                            "\"normal_concat\":[3]}",
                            API_RENDER_SVG);
    cr_assert(strstr(m, "/normal_concat/0") && strstr(m, "[0, 2]"), "%s", m);
}

Test(render, enas_rnn)
{
    char *dot = draw(enas_rnn, API_RENDER_DOT);
    /* x_t 0, h_{t-1} 1, nodes 0..3 at 2..5, h_t 6. */
    cr_assert(strstr(dot, "\"cell/0\" -> \"cell/2\" [label=\"tanh\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"cell/1\" -> \"cell/2\" [label=\"tanh\"];"));
    cr_assert(strstr(dot, "\"cell/2\" -> \"cell/3\" [label=\"relu\"];"));
    cr_assert(strstr(dot, "\"cell/2\" -> \"cell/4\" [label=\"identity\"];"));
    cr_assert(strstr(dot, "\"cell/3\" -> \"cell/5\" [label=\"sigmoid\"];"));
    cr_assert(strstr(dot, "\"cell/4\" -> \"cell/6\";"));
    cr_assert(strstr(dot, "\"cell/5\" -> \"cell/6\";"));
    cr_assert_eq(count(dot, " -> "), 7);
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
    doc *d = svg_of(enas_rnn);
    cr_assert_eq(count_nodes(d, "input", "h_{t-1}"), 1);
    cr_assert_eq(count_els(d, "text", "edge-label", "tanh"), 2);
    check_boxes(d);
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);
}

Test(render, layer_lists)
{
    char *dot = draw(enas_macro, API_RENDER_DOT);
    /* image 0, layers 1..4, output 5; chain edges plus skips (a skip
     * from the layer just before is the chain edge). */
    cr_assert(strstr(dot, "\"layers/1\" [label=\"0: conv_3x3\""), "%s", dot);
    cr_assert(strstr(dot, "\"layers/4\" [label=\"3: conv_5x5\""));
    cr_assert(strstr(dot, "\"layers/0\" -> \"layers/1\";"));
    cr_assert(strstr(dot, "\"layers/3\" -> \"layers/4\";"));
    /* skip -1: the stem, drawn as the image */
    cr_assert(strstr(dot, "\"layers/0\" -> \"layers/3\" [label=\"skip\"];"), "%s", dot);
    cr_assert(strstr(dot, "\"layers/1\" -> \"layers/4\" [label=\"skip\"];"));
    cr_assert(strstr(dot, "\"layers/4\" -> \"layers/5\";"));
    cr_assert_eq(count(dot, "\"layers/1\" -> \"layers/2\""), 1);
    cr_assert_eq(count(dot, "\"layers/3\" -> \"layers/4\""), 1);
    cr_assert_eq(count(dot, " -> "), 4 + 2 + 1);
    free(dot);
    doc *d = svg_of(enas_macro);
    cr_assert_eq(count_nodes(d, "mid", "2: max_pool_3x3"), 1);
    cr_assert_eq(count_els(d, "text", "edge-label", "skip"), 2);
    check_boxes(d);
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);

    dot = draw(nasrl_cnn, API_RENDER_DOT);
    cr_assert(strstr(dot, "\"layers/1\" [label=\"0: 3x5 conv 36\""), "%s", dot);
    cr_assert(strstr(dot, "\"layers/2\" [label=\"1: 7x7 conv 48 /2\""), "%s", dot);
    /* No inputs: the image; feeds nothing: the classifier. */
    cr_assert(strstr(dot, "\"layers/0\" -> \"layers/1\";"));
    cr_assert(strstr(dot, "\"layers/1\" -> \"layers/2\";"));
    cr_assert(strstr(dot, "\"layers/0\" -> \"layers/3\";"));
    cr_assert(strstr(dot, "\"layers/2\" -> \"layers/4\";"));
    cr_assert(strstr(dot, "\"layers/3\" -> \"layers/4\";"));
    cr_assert(strstr(dot, "\"layers/4\" [label=\"classifier\""));
    cr_assert_eq(count(dot, " -> "), 5);
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
    d = svg_of(nasrl_cnn);
    cr_assert_eq(count_nodes(d, "output", "classifier"), 1);
    cr_assert_eq(count_els(d, "path", "edge", NULL), 5);
    check_boxes(d);
    check_edges_clear_nodes(d);
    check_edges_clear_labels(d);
    check_lanes_apart(d);
    free(d);
}

Test(render, labels_are_escaped)
{
    static const char evil[] =
        "{\"normal\":[[\"<script>&\\\"x'\",0],[\"a\\\\b\\\"\",1]],\"normal_concat\":[2]}";
    doc *d = svg_of(evil);
    cr_assert_eq(count_els(d, "text", "edge-label", "<script>&\"x'"), 1);
    cr_assert_eq(count_els(d, "script", NULL, NULL), 0);
    free(d);
    char *dot = draw(evil, API_RENDER_DOT);
    cr_assert(strstr(dot, "[label=\"<script>&\\\"x'\"]"), "%s", dot);
    cr_assert(strstr(dot, "[label=\"a\\\\b\\\"\"]"), "%s", dot);
    external_check("/usr/bin/dot", "/usr/bin/dot -Tsvg %s > /dev/null", dot);
    free(dot);
}

Test(render, malformed_is_refused_with_a_message)
{
    const char *m = refused("{\"normal\": [", API_RENDER_SVG);
    cr_assert(strstr(m, "not valid JSON") && strstr(m, "line 1"), "%s", m);
    m = refused("[]", API_RENDER_DOT);
    cr_assert(strstr(m, "object"), "%s", m);
    m = refused("{\"space\":\"fixed-cnn\",\"channels\":[8]}", API_RENDER_SVG);
    cr_assert(strstr(m, "not an architecture nasd can draw"), "%s", m);
    /* Odd number of genes, an input from the future, a missing op. */
    m = refused("{\"normal\":[[\"sep_conv_3x3\",0]]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/normal"), "%s", m);
    m = refused("{\"normal\":[[\"sep_conv_3x3\",0],[\"skip_connect\",2]]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/normal/1/1"), "%s", m);
    m = refused("{\"normal\":[[\"a\",1e300],[\"b\",1]]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/normal/0/1"), "%s", m);
    m = refused("{\"normal\":[[\"a\",0.5],[\"b\",1]]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/normal/0/1"), "%s", m);
    free(draw("{\"normal\":[[\"a\",1.0],[\"b\",0]]}", API_RENDER_SVG)); /* 1.0 is 1 */
    m = refused("{\"normal\":[[7,0],[\"skip_connect\",1]]}", API_RENDER_DOT);
    cr_assert(strstr(m, "/normal/0/0"), "%s", m);
    m = refused("{\"normal\":[[\"a\",0],[\"b\",1]],\"normal_concat\":[9]}", API_RENDER_DOT);
    cr_assert(strstr(m, "/normal_concat/0"), "%s", m);
    m = refused("{\"normal\":[{\"inputs\":[0,3],\"ops\":[\"identity\",\"identity\"]}]}",
                API_RENDER_SVG);
    cr_assert(strstr(m, "/normal/0/inputs/1"), "%s", m);
    m = refused("{\"normal\":[{\"inputs\":[0],\"ops\":[\"identity\",\"identity\"]}]}",
                API_RENDER_SVG);
    cr_assert(strstr(m, "/normal/0"), "%s", m);
    m = refused("{\"nodes\":[{\"input\":0,\"activation\":\"tanh\"}]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/nodes/0/input"), "%s", m);
    m = refused("{\"recurrent\":[[\"tanh\",1]]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/recurrent/0/1"), "%s", m);
    m = refused("{\"layers\":[{\"op\":\"conv_3x3\",\"skips\":[0]}]}", API_RENDER_SVG);
    cr_assert(strstr(m, "/layers/0/skips/0"), "%s", m);
    m = refused("{\"layers\":[{\"op\":\"conv_3x3\"},{\"op\":\"conv_3x3\",\"skips\":[-2]}]}",
                API_RENDER_SVG);
    cr_assert(strstr(m, "/layers/1/skips/0"), "%s", m);
    m = refused("{\"layers\":[{\"filter_height\":3,\"filter_width\":0,\"filters\":8}]}",
                API_RENDER_DOT);
    cr_assert(strstr(m, "/layers/0"), "%s", m);
    /* JSON is no drawing. */
    char err[128], *out = NULL;
    json_t *j = json_loads(darts_cnn, 0, NULL);
    cr_assert_eq(api_render(j, API_RENDER_JSON, &out, NULL, err, sizeof(err)), -1);
    cr_assert_null(out);
    json_decref(j);
}

/* The reader above is a check only if it refuses what is not XML. */
Test(render, the_xml_reader_refuses_broken_documents)
{
    doc *d = calloc(1, sizeof(*d));
    cr_assert_eq(xml_read("<svg><g></svg>", d), -1);
    cr_assert_eq(xml_read("<svg><text>a < b</text></svg>", d), -1);
    cr_assert_eq(xml_read("<svg><text>a & b</text></svg>", d), -1);
    cr_assert_eq(xml_read("<svg x=\"1></svg>", d), -1);
    cr_assert_eq(xml_read("<svg/><svg/>", d), -1);
    cr_assert_eq(xml_read("<svg><text>a &amp; b</text></svg>", d), 0, "%s", d->err);
    cr_assert_str_eq(d->els[1].text, "a & b");
    free(d);
}
