// SPDX-License-Identifier: MIT
/*
 * render_internal.h - the graph model shared by the readers of
 * architecture JSON (render.c) and the writers of SVG and DOT
 * (render_draw.c). Internal to api/render*.c.
 *
 * The one design decision to know: a drawing is one graph per cell whose
 * edges only go from an earlier node to a later one (every reader adds
 * nodes in an order that makes this so), which is what lets the layout
 * rank nodes in a single pass.
 */
#ifndef API_RENDER_INTERNAL_H
#define API_RENDER_INTERNAL_H

#include <stddef.h>

/* Bounds that no architecture of the papers comes near; past them a
 * request is refused rather than drawn. */
#define MAX_NODES 512
#define MAX_EDGES 2048
#define MAX_CELLS 2
#define LABEL_MAX 64

enum node_kind { NODE_INPUT, NODE_MID, NODE_OUTPUT };

typedef struct node {
    char label[LABEL_MAX];
    enum node_kind kind;
    int rank, slot;
    double x, y, w, h;
} node;

typedef struct edge {
    int from, to;
    char label[LABEL_MAX];
    int parallel;  /* how many earlier edges join the same two nodes */
    double lx, ly; /* SVG: where the label's right end sits, before the target */
    int routed;    /* SVG: runs through (lx, ly): labelled, or into a node with labels */
    int laned;     /* SVG: skips ranks, so runs at y = lane up to x = lane_end */
    double lane, lane_end;
} edge;

typedef struct cell {
    char name[16];  /* "normal", "reduce", "cell", ... (DOT ids) */
    char title[48]; /* shown above the drawing */
    node nodes[MAX_NODES];
    int nnodes;
    edge *edges; /* MAX_EDGES */
    int nedges;
    double width, height; /* of the laid-out cell */
} cell;

typedef struct drawing {
    const char *kind;
    cell *cells[MAX_CELLS];
    int ncells;
} drawing;

/* Writes d as DOT or SVG (laying it out first); malloc'd text in *out,
 * its length in *len. 0, or -1 when out of memory. */
int api__render_write(drawing *d, int svg, char **out, size_t *len);

#endif
