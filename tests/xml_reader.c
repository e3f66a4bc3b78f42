// SPDX-License-Identifier: MIT
/*
 * xml_reader.c - the drawing tests' XML reader (tests/xml_reader.h).
 *
 * The one design decision to know: one pass over the text with a stack of
 * open elements' indices; every element goes into a fixed array (MAX_EL),
 * so a reader of a test's output never allocates.
 */
#include "xml_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int entity(const char **p, char *out)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
        if (strncmp(*p, ents[i].name, strlen(ents[i].name)) == 0) {
            *out = ents[i].c;
            *p += strlen(ents[i].name);
            return 0;
        }
    return -1;
}

int xml_read(const char *s, doc *d)
{
    int stack[256], depth = 0, root_done = 0;
    const char *p = s;
    d->n = 0;
#define XFAIL(...) return (snprintf(d->err, sizeof(d->err), __VA_ARGS__), -1)
    while (*p) {
        if (*p != '<') {
            char c;
            if (*p == '&') {
                if (entity(&p, &c))
                    XFAIL("bad entity at offset %td", p - s);
            } else if (*p == '>') {
                XFAIL("a bare > at offset %td", p - s);
            } else {
                c = *p++;
            }
            if (depth == 0) {
                if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
                    XFAIL("text outside the root at offset %td", p - s);
                continue;
            }
            el *e = &d->els[stack[depth - 1]];
            size_t l = strlen(e->text);
            if (l + 1 < sizeof(e->text))
                e->text[l] = c, e->text[l + 1] = '\0';
            continue;
        }
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p, p[1] == '?' ? "?>" : "-->");
            if (!end)
                XFAIL("unterminated declaration or comment");
            p = end + (p[1] == '?' ? 2 : 3);
            continue;
        }
        if (p[1] == '/') {
            p += 2;
            size_t n = strcspn(p, "> \n");
            if (depth == 0 || strlen(d->els[stack[depth - 1]].name) != n ||
                strncmp(d->els[stack[depth - 1]].name, p, n) != 0)
                XFAIL("mismatched end tag at offset %td", p - s);
            p += n;
            p += strspn(p, " \n");
            if (*p != '>')
                XFAIL("bad end tag at offset %td", p - s);
            p++;
            if (--depth == 0)
                root_done = 1;
            continue;
        }
        if (root_done)
            XFAIL("a second root element at offset %td", p - s);
        if (d->n == MAX_EL)
            XFAIL("too many elements");
        el *e = &d->els[d->n];
        memset(e, 0, sizeof(*e));
        e->from = e->to = e->node = -1;
        e->parent = depth ? stack[depth - 1] : -1;
        p++;
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:");
        if (n == 0 || n >= sizeof(e->name))
            XFAIL("bad element name at offset %td", p - s);
        memcpy(e->name, p, n);
        p += n;
        for (;;) {
            p += strspn(p, " \n\t");
            if (*p == '/' && p[1] == '>') {
                p += 2;
                d->n++;
                if (depth == 0)
                    root_done = 1;
                break;
            }
            if (*p == '>') {
                p++;
                if (depth == 256)
                    XFAIL("too deep");
                stack[depth++] = d->n++;
                break;
            }
            char an[32], av[400];
            size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_:");
            if (k == 0 || k >= sizeof(an) || p[k] != '=' || p[k + 1] != '"')
                XFAIL("bad attribute at offset %td", p - s);
            memcpy(an, p, k);
            an[k] = '\0';
            p += k + 2;
            size_t vl = 0;
            while (*p != '"') {
                char c;
                if (!*p || *p == '<')
                    XFAIL("unterminated attribute %s at offset %td", an, p - s);
                if (*p == '&') {
                    if (entity(&p, &c))
                        XFAIL("bad entity in attribute %s", an);
                } else {
                    c = *p++;
                }
                if (vl + 1 < sizeof(av))
                    av[vl++] = c;
            }
            av[vl] = '\0';
            p++;
            if (!strcmp(an, "class"))
                snprintf(e->cls, sizeof(e->cls), "%.159s", av);
            else if (!strcmp(an, "x"))
                e->x = atof(av);
            else if (!strcmp(an, "y"))
                e->y = atof(av);
            else if (!strcmp(an, "width"))
                e->w = atof(av);
            else if (!strcmp(an, "height"))
                e->h = atof(av);
            else if (!strcmp(an, "data-from"))
                e->from = atoi(av);
            else if (!strcmp(an, "data-to"))
                e->to = atoi(av);
            else if (!strcmp(an, "data-node"))
                e->node = atoi(av);
            else if (!strcmp(an, "d"))
                snprintf(e->d, sizeof(e->d), "%.399s", av);
        }
    }
    if (depth || !root_done)
        XFAIL("the document ends inside an element or has none");
    return 0;
#undef XFAIL
}
