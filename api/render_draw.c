// SPDX-License-Identifier: MIT
/*
 * render_draw.c - a drawing (render_internal.h) as Graphviz DOT text or as
 * an SVG laid out here.
 *
 * The one design decision to know: the layout is layered, left to right:
 * a node's rank is one more than the largest rank of its sources (one
 * pass, since edges go forward), the output sits after everything, a
 * rank's nodes are ordered by the mean height of their sources (one
 * barycentre sweep against crossings), and the labels of the edges into a
 * node are stacked in the gap just before it, so labels of different
 * targets never collide. No edge runs behind a node or a label: one that
 * skips ranks follows a horizontal lane clear of what lies in between, and
 * an unlabelled edge into a node with labelled ones gets its own place in
 * that node's stack. Everything from the JSON is escaped for where it
 * goes (XML text and attributes, DOT strings).
 */
#include "render_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- the layout */

#define FONT_PX 12
#define CHAR_W 7.2 /* average advance of the sans-serif font at FONT_PX */
#define NODE_H 28.0
#define ROW_GAP 22.0
#define PAD 16.0
#define TITLE_H 26.0
#define LABEL_PITCH 17.0 /* between the labels of the edges into one node */

static double text_w(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80; /* count UTF-8 characters */
    return (double)n * CHAR_W;
}

/* ---------------------------------------------------- long edges */

#define LANE_CLEAR 5.0 /* between a lane and a node box or a label */

typedef struct span {
    double lo, hi;
} span;

static int span_cmp(const void *a, const void *b)
{
    double x = ((const span *)a)->lo, y = ((const span *)b)->lo;
    return (x > y) - (x < y);
}

/* An edge that skips ranks would run straight behind the nodes of the
 * ranks between its ends (an unread cell input to the output passes
 * behind the last node and looks like that node's edge), so it runs along
 * a horizontal lane instead: the height nearest to the middle of its ends
 * that clears, by LANE_CLEAR, every node box and every edge label of the
 * ranks in between and every lane already laid over any of them. The
 * obstacles are merged intervals, so this is O(k log k) in what lies
 * between. *xb receives where the lane ends (past the last rank in
 * between). Returns 0 when the edge skips no rank. */
static int lane_of(const cell *c, const edge *e, double *lane, double *xb)
{
    const node *s = &c->nodes[e->from], *t = &c->nodes[e->to];
    if (t->rank - s->rank < 2)
        return 0;
    /* At most a box per node, a label and a lane per edge. */
    span *ob = malloc(sizeof(*ob) * (size_t)(c->nnodes + 2 * c->nedges));
    if (!ob)
        return 0;
    int n = 0;
    double right = s->x + s->w / 2;
    for (int i = 0; i < c->nnodes; i++) {
        const node *m = &c->nodes[i];
        if (m->rank <= s->rank || m->rank >= t->rank)
            continue;
        ob[n++] = (span){m->y - m->h / 2 - LANE_CLEAR, m->y + m->h / 2 + LANE_CLEAR};
        if (m->x + m->w / 2 > right)
            right = m->x + m->w / 2;
    }
    for (int k = 0; k < c->nedges; k++) {
        const edge *f = &c->edges[k];
        const node *m = &c->nodes[f->to], *mf = &c->nodes[f->from];
        if (f->label[0] && m->rank > s->rank && m->rank < t->rank)
            ob[n++] = (span){f->ly - 7.5 - LANE_CLEAR, f->ly + 7.5 + LANE_CLEAR};
        /* Another lane over some of the same ranks: one line each. */
        int lo = mf->rank > s->rank ? mf->rank : s->rank,
            hi = m->rank < t->rank ? m->rank : t->rank;
        if (f != e && f->laned && lo + 1 < hi)
            ob[n++] = (span){f->lane - LANE_CLEAR, f->lane + LANE_CLEAR};
    }
    qsort(ob, (size_t)n, sizeof(*ob), span_cmp);
    double want = (s->y + t->y) / 2, best = want;
    for (int i = 0; i < n;) {
        double lo = ob[i].lo, hi = ob[i].hi;
        for (i++; i < n && ob[i].lo <= hi; i++)
            if (ob[i].hi > hi)
                hi = ob[i].hi;
        if (want > lo && want < hi) {
            best = want - lo < hi - want ? lo : hi;
            break;
        }
    }
    free(ob);
    *lane = best;
    *xb = right + 8.0;
    return 1;
}

/* Rank by longest path, order each rank by the mean slot of its nodes'
 * sources (one barycentre sweep: fewer crossings), then place the labels
 * of a node's incoming edges one under the other in the gap just before
 * it, where they cannot collide with another target's labels. */
static void layout(cell *c)
{
    int maxrank = 0, nranks;
    for (int i = 0; i < c->nnodes; i++) {
        node *n = &c->nodes[i];
        n->rank = 0;
        n->w = text_w(n->label) + 24.0;
        if (n->w < 44.0)
            n->w = 44.0;
        n->h = NODE_H;
    }
    /* Edges go from earlier to later nodes, so one pass in node order
     * sees every source's final rank. */
    for (int i = 0; i < c->nnodes; i++) {
        node *n = &c->nodes[i];
        if (n->kind == NODE_OUTPUT)
            continue;
        for (int k = 0; k < c->nedges; k++)
            if (c->edges[k].to == i && c->nodes[c->edges[k].from].rank + 1 > n->rank)
                n->rank = c->nodes[c->edges[k].from].rank + 1;
        if (n->kind == NODE_INPUT)
            n->rank = 0;
        if (n->rank > maxrank)
            maxrank = n->rank;
    }
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].kind == NODE_OUTPUT)
            c->nodes[i].rank = maxrank + 1;
    nranks = maxrank + 2;

    int order[MAX_NODES], count[MAX_NODES] = {0}, maxcount = 0, fanin[MAX_NODES] = {0};
    double key[MAX_NODES], colw[MAX_NODES] = {0}, label_w = 0;
    int no = 0;
    for (int r = 0; r < nranks; r++) {
        int first = no;
        for (int i = 0; i < c->nnodes; i++) {
            if (c->nodes[i].rank != r)
                continue;
            double sum = 0;
            int n = 0;
            for (int k = 0; k < c->nedges; k++)
                if (c->edges[k].to == i) {
                    sum += c->nodes[c->edges[k].from].slot;
                    n++;
                }
            key[i] = n ? sum / n : (double)count[r];
            /* Insertion sort by key, stable in creation order. */
            int j = no++;
            while (j > first && key[order[j - 1]] > key[i]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
            count[r]++;
        }
        for (int j = first; j < no; j++)
            c->nodes[order[j]].slot = j - first;
        if (count[r] > maxcount)
            maxcount = count[r];
    }
    int maxfan = 1, labelled[MAX_NODES] = {0};
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].w > colw[c->nodes[i].rank])
            colw[c->nodes[i].rank] = c->nodes[i].w;
    /* Into a node with labelled edges, an unlabelled one (enas-macro's
     * chain beside its skips) takes a place in the stack too: at the
     * node's height it would run behind the label of another edge. */
    for (int k = 0; k < c->nedges; k++)
        if (c->edges[k].label[0])
            labelled[c->edges[k].to] = 1;
    for (int k = 0; k < c->nedges; k++) {
        c->edges[k].routed = labelled[c->edges[k].to];
        if (!c->edges[k].routed)
            continue;
        if (text_w(c->edges[k].label) > label_w)
            label_w = text_w(c->edges[k].label);
        if (++fanin[c->edges[k].to] > maxfan)
            maxfan = fanin[c->edges[k].to];
    }
    double gap = label_w > 0 ? label_w + 70.0 : 48.0;
    double pitch = NODE_H + ROW_GAP;
    if (maxfan * LABEL_PITCH + 8.0 > pitch)
        pitch = maxfan * LABEL_PITCH + 8.0;
    double inner_h = (maxcount - 1) * pitch + NODE_H;
    double total_h = inner_h + (maxfan - 1) * LABEL_PITCH;
    double x = PAD, colx[MAX_NODES];
    for (int r = 0; r < nranks; r++) {
        colx[r] = x + colw[r] / 2;
        x += colw[r] + (r + 1 < nranks ? gap : 0);
    }
    for (int i = 0; i < c->nnodes; i++) {
        node *n = &c->nodes[i];
        double col_h = (count[n->rank] - 1) * pitch + NODE_H;
        n->x = colx[n->rank];
        n->y = TITLE_H + PAD + (maxfan - 1) * LABEL_PITCH / 2 + (inner_h - col_h) / 2 +
               n->slot * pitch + NODE_H / 2;
    }
    /* The labels into a node, top to bottom by the height at which their
     * edges arrive: the source's, or the lane of an edge that skips ranks
     * (fewer crossings in the gap). Targets go in rank order, so a lane
     * sees the final labels of the ranks it crosses. */
    for (int k = 0; k < c->nedges; k++)
        c->edges[k].laned = 0;
    for (int r = 1; r < nranks; r++) {
        for (int t = 0; t < c->nnodes; t++) {
            if (c->nodes[t].rank != r)
                continue;
            int idx[MAX_NODES], m = 0;
            double at[MAX_NODES];
            for (int k = 0; k < c->nedges; k++) {
                edge *e = &c->edges[k];
                if (e->to != t)
                    continue;
                e->laned = lane_of(c, e, &e->lane, &e->lane_end);
                if (!e->routed || m == MAX_NODES)
                    continue;
                int j = m++;
                double yk = (e->laned ? e->lane : c->nodes[e->from].y) + e->parallel * 0.01;
                while (j > 0 && at[j - 1] > yk) {
                    idx[j] = idx[j - 1];
                    at[j] = at[j - 1];
                    j--;
                }
                idx[j] = k;
                at[j] = yk;
            }
            const node *n = &c->nodes[t];
            for (int j = 0; j < m; j++) {
                edge *e = &c->edges[idx[j]];
                e->lx = n->x - n->w / 2 - 22.0;
                e->ly = n->y + (j - (m - 1) / 2.0) * LABEL_PITCH;
            }
        }
    }
    c->width = x + PAD;
    c->height = TITLE_H + PAD + total_h + PAD;
}

/* ---------------------------------------------------------- output */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void put(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* s escaped for XML text and attribute values. */
static void put_xml(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': put(b, "&amp;"); break;
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '"': put(b, "&quot;"); break;
        case '\'': put(b, "&apos;"); break;
        default:
            /* XML 1.0 forbids most control characters even escaped. */
            put(b, "%c", (unsigned char)*s < 0x20 ? ' ' : *s);
        }
    }
}

/* s as the inside of a DOT double-quoted string. */
static void put_dot(sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(b, "\\%c", *s);
        else
            put(b, "%c", (unsigned char)*s < 0x20 ? ' ' : *s);
    }
}

static const char *const fill[] = {"#c1e1c1", "#add8e6", "#eee8aa"}; /* by node_kind */
static const char *const dot_fill[] = {"darkseagreen2", "lightblue", "palegoldenrod"};

static void write_dot(sbuf *b, const drawing *d)
{
    put(b, "digraph \"%s\" {\n", d->kind);
    put(b, "  rankdir=LR;\n  compound=true;\n");
    put(b, "  node [shape=box, style=\"filled,rounded\", fontname=\"Helvetica\", "
           "fontsize=12, height=0.4, penwidth=1.5];\n");
    put(b, "  edge [fontname=\"Helvetica\", fontsize=11];\n");
    for (int ci = 0; ci < d->ncells; ci++) {
        const cell *c = d->cells[ci];
        const char *ind = d->ncells > 1 ? "    " : "  ";
        if (d->ncells > 1)
            put(b, "  subgraph \"cluster_%s\" {\n    label=\"%s\";\n", c->name, c->title);
        for (int i = 0; i < c->nnodes; i++) {
            put(b, "%s\"%s/%d\" [label=\"", ind, c->name, i);
            put_dot(b, c->nodes[i].label);
            put(b, "\", fillcolor=%s];\n", dot_fill[c->nodes[i].kind]);
        }
        for (int k = 0; k < c->nedges; k++) {
            const edge *e = &c->edges[k];
            put(b, "%s\"%s/%d\" -> \"%s/%d\"", ind, c->name, e->from, c->name, e->to);
            if (e->label[0]) {
                put(b, " [label=\"");
                put_dot(b, e->label);
                put(b, "\"]");
            }
            put(b, ";\n");
        }
        if (d->ncells > 1)
            put(b, "  }\n");
    }
    put(b, "}\n");
}

static void write_svg_cell(sbuf *b, const cell *c, double y0)
{
    put(b, "<g class=\"cell\" id=\"%s\" transform=\"translate(0,%.1f)\">\n", c->name, y0);
    put(b, "<text class=\"title\" x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">", PAD, PAD + 4);
    put_xml(b, c->title);
    put(b, "</text>\n");
    for (int k = 0; k < c->nedges; k++) {
        const edge *e = &c->edges[k];
        const node *s = &c->nodes[e->from], *t = &c->nodes[e->to];
        double x1 = s->x + s->w / 2, y1 = s->y, x2 = t->x - t->w / 2 - 2, y2 = t->y;
        put(b, "<path class=\"edge\" data-from=\"%d\" data-to=\"%d\" d=\"M%.1f,%.1f ", e->from,
            e->to, x1, y1);
        if (e->laned) {
            /* Onto the lane in the gap after the source (left of any
             * label there), along it past the ranks in between. */
            put(b, "C%.1f,%.1f %.1f,%.1f %.1f,%.1f L%.1f,%.1f ", x1 + 15, y1, x1 + 15, e->lane,
                x1 + 30, e->lane, e->lane_end, e->lane);
            x1 = e->lane_end;
            y1 = e->lane;
        }
        if (e->routed) {
            /* Source -> the label's left end, along the label, -> target. */
            double lw = text_w(e->label) + 8, l0 = e->lx - lw, dx = (l0 - x1) / 2;
            put(b, "C%.1f,%.1f %.1f,%.1f %.1f,%.1f L%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f",
                x1 + dx, y1, l0 - dx, e->ly, l0, e->ly, e->lx, e->ly, e->lx + 12, e->ly, x2 - 12,
                y2, x2, y2);
        } else {
            double dx = (x2 - x1) / 2;
            put(b, "C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1 + dx, y1, x2 - dx, y2, x2, y2);
        }
        put(b, "\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.3\" "
               "marker-end=\"url(#arrow)\"/>\n");
    }
    /* Labels over every edge, so no line runs through one. */
    for (int k = 0; k < c->nedges; k++) {
        const edge *e = &c->edges[k];
        if (!e->label[0])
            continue;
        double lw = text_w(e->label) + 8;
        put(b,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"15\" rx=\"3\" fill=\"#fff\" "
            "fill-opacity=\"0.9\"/>\n",
            e->lx - lw, e->ly - 7.5, lw);
        put(b,
            "<text class=\"edge-label\" data-from=\"%d\" data-to=\"%d\" x=\"%.1f\" "
            "y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">",
            e->from, e->to, e->lx - lw / 2, e->ly + 4);
        put_xml(b, e->label);
        put(b, "</text>\n");
    }
    for (int i = 0; i < c->nnodes; i++) {
        const node *n = &c->nodes[i];
        put(b, "<g class=\"node %s\" data-node=\"%d\">",
            n->kind == NODE_INPUT    ? "input"
            : n->kind == NODE_OUTPUT ? "output"
                                     : "mid",
            i);
        put(b,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"6\" "
            "fill=\"%s\" stroke=\"#333\" stroke-width=\"1.2\"/>",
            n->x - n->w / 2, n->y - n->h / 2, n->w, n->h, fill[n->kind]);
        put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", n->x, n->y + 4);
        put_xml(b, n->label);
        put(b, "</text></g>\n");
    }
    put(b, "</g>\n");
}

static void write_svg(sbuf *b, const drawing *d)
{
    double w = 0, h = 0;
    for (int i = 0; i < d->ncells; i++) {
        if (d->cells[i]->width > w)
            w = d->cells[i]->width;
        h += d->cells[i]->height;
    }
    put(b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
        "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
        "font-size=\"%d\" data-kind=\"%s\">\n",
        w, h, w, h, FONT_PX, d->kind);
    put(b, "<title>%s architecture</title>\n", d->kind);
    put(b, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
           "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 "
           "L0,10 z\" fill=\"#555\"/></marker></defs>\n");
    put(b, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    double y = 0;
    for (int i = 0; i < d->ncells; i++) {
        write_svg_cell(b, d->cells[i], y);
        y += d->cells[i]->height;
    }
    put(b, "</svg>\n");
}

int api__render_write(drawing *d, int svg, char **out, size_t *len)
{
    sbuf b = {0};
    if (svg) {
        for (int i = 0; i < d->ncells; i++)
            layout(d->cells[i]);
        write_svg(&b, d);
    } else {
        write_dot(&b, d);
    }
    if (b.oom || !b.s) {
        free(b.s);
        *out = NULL;
        return -1;
    }
    *out = b.s;
    *len = b.len;
    return 0;
}
