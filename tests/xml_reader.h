// SPDX-License-Identifier: MIT
/*
 * xml_reader.h - a tiny XML reader for the drawing tests
 * (tests/test_render.c): elements with the attributes an SVG of nasd's
 * uses (class, x, y, width, height, data-from, data-to, data-node, d),
 * their direct text with entities undone, and each one's parent.
 *
 * The one design decision to know: it is strict where a browser is
 * lenient (an unbalanced tag, a bare '<' or '&', an unterminated
 * attribute, two roots are each a refusal with a sentence in d->err), so
 * a drawing that reads here is well-formed.
 */
#ifndef NAS_TESTS_XML_READER_H
#define NAS_TESTS_XML_READER_H

#define MAX_EL 4096

typedef struct el {
    char name[16];
    char cls[160];
    char text[128]; /* character data directly inside, unescaped */
    double x, y, w, h;
    int from, to; /* data-from / data-to, -1 when absent */
    int node;     /* data-node, -1 when absent */
    char d[400];  /* path data */
    int parent;
} el;

typedef struct doc {
    el els[MAX_EL];
    int n;
    char err[160];
} doc;

/* Reads s into d; 0, or -1 with d->err. */
int xml_read(const char *s, doc *d);

#endif
