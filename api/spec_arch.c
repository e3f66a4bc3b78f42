// SPDX-License-Identifier: MIT
/*
 * spec_arch.c - a search's result architecture as the architecture of a
 * `train` job: the architecture served by GET /v1/jobs/{id}/result (the
 * cell or arc keys beside "space") folded into the table's form (those
 * keys under "genotype"), the genotype types of darts-rnn, enas-micro,
 * enas-macro and enas-rnn, and every genotype's conversion to the
 * engine's nas_job_spec.genotype.
 *
 * The one design decision to know: the user pastes what nasd served,
 * unchanged. So the served form is the input form: api__spec_arch_fold()
 * moves the keys of the space's cell or arc into "genotype", and each
 * space's genotype type reads exactly the structure that space's search
 * reports (the engine's arc_json writers). The engine takes an ENAS arc as
 * the reference's fixed-arc string and a NAS-RL architecture as ints too
 * (engine/jobs/nasrl_train.c), so an arc object is turned into ints here,
 * with the names the engine spells the choices with
 * (nas_arch_choice_names): nothing is listed twice. The engine checks the
 * ints decision by decision when the API asks it to validate the spec
 * before the 202 (api_spec_implemented), so a wrong arc is a 400.
 */
#include "spec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- folding */

/* Only train rows fold; a served key always gathers unless a fixed-arc
 * string stands for the arc (a train job's ENAS result). */

static int names_field(const field *fs, const char *key)
{
    for (; fs && fs->name; fs++)
        if (!strcmp(fs->name, key))
            return 1;
    return 0;
}

/* The keys of each space's cell or arc as its search serves them. */
static const struct {
    const char *space;
    const char *keys[5];
} served_keys[] = {
    {"darts-cnn", {"normal", "normal_concat", "reduce", "reduce_concat"}},
    {"darts-rnn", {"recurrent", "concat"}},
    {"enas-micro", {"normal", "normal_concat", "reduce", "reduce_concat"}},
    {"enas-macro", {"layers"}},
    {"enas-rnn", {"nodes", "output"}},
    {"nasrl-cnn", {"layers"}},
    {"nasrl-rnn", {"base", "nodes", "cell_inject", "cell_output"}},
};

static int served_key(const char *space, const char *key)
{
    for (size_t i = 0; i < sizeof served_keys / sizeof served_keys[0]; i++)
        if (!strcmp(served_keys[i].space, space))
            for (size_t k = 0; served_keys[i].keys[k]; k++)
                if (!strcmp(served_keys[i].keys[k], key))
                    return 1;
    return 0;
}

/* What a train job's result architecture reports for the record besides
 * what its table takes: the dataset's classes or vocabulary, an ENAS arc
 * both as JSON ("arc") and as the fixed-arc string (taken as the
 * genotype) with the nodes it fixes, and the hyperparameters it trained
 * with (a train job takes those under /hyperparameters). Dropped when
 * such an architecture is pasted; any other unknown key is still a 400. */
static int record_key(const space_row *row, const char *key, const json_t *v)
{
    static const char *const always[] = {"classes",   "vocab",   "arc",
                                         "fixed_arc", "dropout", "dropout_input"};
    if (names_field(row->arch, key))
        return 0;
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (!strcmp(always[i], key))
            return 1;
    if (names_field(row->hp, key))
        return 1;
    /* nodes fixed by an ENAS arc; enas-rnn's embedding is its hidden size;
     * an enas-macro train result's layer count is its arc's */
    return json_is_integer(v) &&
           (!strcmp(key, "nodes") || !strcmp(key, "embed") || !strcmp(key, "layers"));
}

json_t *api__spec_arch_fold(const space_row *row, const json_t *arch)
{
    const char *key;
    json_t *v, *out, *g;
    const json_t *fixed = json_object_get(arch, "fixed_arc");

    if (!row || !json_is_object(arch))
        return json_incref((json_t *)arch);
    /* The recipe before results named their space pasted the whole served
     * architecture as the genotype: its "space" there is the row's. */
    json_t *gt = json_object_get(arch, "genotype");
    const char *gsp = json_string_value(json_object_get(gt, "space"));
    if (gsp && !strcmp(gsp, row->space)) {
        json_t *copy = json_deep_copy(arch);
        json_t *inner = json_object_get(copy, "genotype");
        json_object_del(inner, "space");
        json_t *folded = copy ? api__spec_arch_fold(row, copy) : NULL;
        json_decref(copy);
        return folded;
    }
    if (!json_is_string(fixed) || !names_field(row->arch, "genotype") ||
        json_object_get(arch, "genotype"))
        fixed = NULL; /* no fixed-arc string stands for the arc */
    if (!(out = json_object()) || !(g = json_object())) {
        json_decref(out);
        return NULL;
    }
    if (fixed && json_object_set(out, "genotype", (json_t *)fixed)) {
        json_decref(out);
        json_decref(g);
        return NULL;
    }
    json_object_foreach((json_t *)arch, key, v)
    {
        int gather = names_field(row->arch, "genotype") && !json_object_get(arch, "genotype") &&
                     served_key(row->space, key);
        if (record_key(row, key, v) && !(gather && !fixed))
            continue;
        if (json_object_set(gather && !fixed ? g : out, key, v)) {
            json_decref(out);
            json_decref(g);
            return NULL;
        }
    }
    if (json_object_size(g) == 0 || json_object_get(out, "genotype")) {
        json_decref(g);
        return out;
    }
    if (json_object_set_new(out, "genotype", g)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------- ENAS and NAS-RL arcs to ints */

typedef struct ints {
    char text[NAS_GENOTYPE_MAX];
    size_t len;
    int overflow;
} ints;

static void put_int(ints *b, long v)
{
    int n = snprintf(b->text + b->len, sizeof b->text - b->len, "%s%ld", b->len ? " " : "", v);
    if (n < 0 || (size_t)n >= sizeof b->text - b->len)
        b->overflow = 1;
    else
        b->len += (size_t)n;
}

/* The index of name among the engine's names for space, or -1. */
static long name_index(const char *space, const char *what, const json_t *name)
{
    int n = 0;
    const char *const *names = nas_arch_choice_names(space, what, &n);
    for (int i = 0; json_is_string(name) && i < n; i++)
        if (!strcmp(names[i], json_string_value(name)))
            return i;
    return -1;
}

/* parent/i[/tail] as a JSON pointer, cut to PTR_MAX. */
static void at(char out[PTR_MAX], const char *parent, size_t i, const char *tail)
{
    char idx[24];
    snprintf(idx, sizeof idx, "%zu", i);
    api__spec_child_ptr(out, parent, idx);
    if (tail) {
        char tmp[PTR_MAX];
        memcpy(tmp, out, PTR_MAX);
        api__spec_child_ptr(out, tmp, tail);
    }
}

static int bad(api_problem *err, const char *ptr, const char *fmt, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return api_problem_set(err, 0, API_PROBLEM_INVALID_FIELD, ptr, "%s %s", ptr, msg);
}

static int choice(const char *space, const char *what, const json_t *v, const char *ptr, ints *b,
                  api_problem *err)
{
    int n = 0;
    const char *const *names = nas_arch_choice_names(space, what, &n);
    long k = name_index(space, what, v);
    if (k >= 0) {
        put_int(b, k);
        return 0;
    }
    json_t *allowed = json_array();
    for (int i = 0; allowed && i < n; i++)
        json_array_append_new(allowed, json_string(names[i]));
    return api__spec_choice_error(allowed, ptr, v, err);
}

static int small_int(const json_t *v, const char *ptr, long lo, api_problem *err, long *x)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > 4096)
        return bad(err, ptr, "must be an integer >= %s", lo < 0 ? "-1" : "0");
    *x = (long)json_integer_value(v);
    return 0;
}

/* enas-micro: per cell and node "x_id x_op y_id y_op"; *nodes per cell. */
static int micro_ints(const json_t *g, const char *ptr, ints *b, int *nodes, api_problem *err)
{
    static const char *const cells[] = {"normal", "reduce"};
    char p[PTR_MAX], q[PTR_MAX];
    for (int c = 0; c < 2; c++) {
        const json_t *cell = json_object_get(g, cells[c]), *node;
        size_t i;
        api__spec_child_ptr(p, ptr, cells[c]);
        if (!json_is_array(cell) || json_array_size(cell) < 1)
            return bad(err, p, "must be %s", "an array of {\"inputs\": [i, j], \"ops\": [a, b]}");
        if (c == 1 && (int)json_array_size(cell) != *nodes)
            return bad(err, p, "must have as many nodes as %s", "the normal cell");
        *nodes = (int)json_array_size(cell);
        json_array_foreach(cell, i, node)
        {
            const json_t *in = json_object_get(node, "inputs"), *op = json_object_get(node, "ops");
            at(q, p, i, NULL);
            if (!json_is_array(in) || json_array_size(in) != 2 || !json_is_array(op) ||
                json_array_size(op) != 2)
                return bad(err, q, "must be %s", "{\"inputs\": [i, j], \"ops\": [a, b]}");
            for (size_t k = 0; k < 2; k++) {
                long x = 0;
                char r[PTR_MAX], t[PTR_MAX];
                api__spec_child_ptr(t, q, "inputs");
                at(r, t, k, NULL);
                if (small_int(json_array_get(in, k), r, 0, err, &x))
                    return -1;
                put_int(b, x);
                api__spec_child_ptr(t, q, "ops");
                at(r, t, k, NULL);
                if (choice("enas-micro", "op", json_array_get(op, k), r, b, err))
                    return -1;
            }
        }
    }
    return 0;
}

/* enas-macro: per layer its op, then one bit per earlier layer (a skip
 * from layer i is listed as i - 1, as the search writes it). */
static int macro_ints(const json_t *g, const char *ptr, ints *b, int *layers, api_problem *err)
{
    const json_t *ls = json_object_get(g, "layers"), *l;
    char p[PTR_MAX], q[PTR_MAX];
    size_t i;
    api__spec_child_ptr(p, ptr, "layers");
    if (!json_is_array(ls) || json_array_size(ls) < 1 || json_array_size(ls) > 64)
        return bad(err, p, "must be %s", "an array of 1..64 {\"op\": o, \"skips\": [..]}");
    *layers = (int)json_array_size(ls);
    json_array_foreach(ls, i, l)
    {
        const json_t *skips = json_object_get(l, "skips"), *s;
        unsigned char bits[64] = {0};
        size_t k;
        at(q, p, i, "op");
        if (choice("enas-macro", "op", json_object_get(l, "op"), q, b, err))
            return -1;
        at(q, p, i, "skips");
        if (!json_is_array(skips))
            return bad(err, q, "must be %s", "an array");
        json_array_foreach(skips, k, s)
        {
            long x = 0;
            char r[PTR_MAX];
            at(r, q, k, NULL);
            if (small_int(s, r, -1, err, &x))
                return -1;
            if (x + 1 >= (long)i)
                return bad(err, r, "must name an earlier layer (%s)", "layer j is listed as j - 1");
            bits[x + 1] = 1;
        }
        for (size_t j = 0; j < i; j++)
            put_int(b, bits[j]);
    }
    return 0;
}

/* enas-rnn: the first node's activation, then per node its input and
 * activation. */
static int rnn_ints(const json_t *g, const char *ptr, ints *b, int *nodes, api_problem *err)
{
    const json_t *ns = json_object_get(g, "nodes"), *n;
    char p[PTR_MAX], q[PTR_MAX];
    size_t i;
    api__spec_child_ptr(p, ptr, "nodes");
    if (!json_is_array(ns) || json_array_size(ns) < 2)
        return bad(err, p, "must be %s", "an array of 2 or more {\"input\": i, \"activation\": a}");
    *nodes = (int)json_array_size(ns);
    json_array_foreach(ns, i, n)
    {
        if (i) {
            long x = 0;
            at(q, p, i, "input");
            if (small_int(json_object_get(n, "input"), q, 0, err, &x))
                return -1;
            put_int(b, x);
        }
        at(q, p, i, "activation");
        if (choice("enas-rnn", "activation", json_object_get(n, "activation"), q, b, err))
            return -1;
    }
    return 0;
}

/* nasrl-cnn: the layer count, then per layer fh fw filters stride and
 * its inputs (their count first). */
static int nasrl_cnn_ints(const json_t *g, const char *ptr, ints *b, int *size, api_problem *err)
{
    static const char *const keys[] = {"filter_height", "filter_width", "filters", "stride"};
    const json_t *ls = json_object_get(g, "layers"), *l, *in;
    char p[PTR_MAX], q[PTR_MAX];
    size_t i, k;
    api__spec_child_ptr(p, ptr, "layers");
    if (!json_is_array(ls) || json_array_size(ls) < 1 || json_array_size(ls) > 64)
        return bad(err, p, "must be %s", "an array of 1..64 layers");
    *size = (int)json_array_size(ls);
    put_int(b, *size);
    json_array_foreach(ls, i, l)
    {
        long x = 0;
        for (k = 0; k < 4; k++) {
            at(q, p, i, keys[k]);
            if (small_int(json_object_get(l, keys[k]), q, 1, err, &x))
                return -1;
            put_int(b, x);
        }
        at(q, p, i, "inputs");
        in = json_object_get(l, "inputs");
        if (!json_is_array(in))
            return bad(err, q, "must be %s", "an array of earlier layers");
        put_int(b, (long)json_array_size(in));
        json_array_foreach(in, k, l)
        {
            char r[PTR_MAX];
            at(r, q, k, NULL);
            if (small_int(l, r, 0, err, &x))
                return -1;
            put_int(b, x);
        }
    }
    return 0;
}

/* nasrl-rnn: per node its combination and activation, then the cell
 * inject's node, combination and activation, then the cell output; *size
 * the tree's base. */
static int nasrl_rnn_ints(const json_t *g, const char *ptr, ints *b, int *size, api_problem *err)
{
    const json_t *ns = json_object_get(g, "nodes"), *n, *inj = json_object_get(g, "cell_inject");
    char p[PTR_MAX], q[PTR_MAX];
    long x = 0;
    size_t i;
    api__spec_child_ptr(p, ptr, "base");
    if (small_int(json_object_get(g, "base"), p, 2, err, &x))
        return -1;
    *size = (int)x;
    api__spec_child_ptr(p, ptr, "nodes");
    if (!json_is_array(ns) || (long)json_array_size(ns) != 2 * x - 1)
        return bad(err, p, "must be %s", "an array of 2 base - 1 nodes");
    json_array_foreach(ns, i, n)
    {
        at(q, p, i, "combine");
        if (choice("nasrl-rnn", "combine", json_object_get(n, "combine"), q, b, err))
            return -1;
        at(q, p, i, "activation");
        if (choice("nasrl-rnn", "activation", json_object_get(n, "activation"), q, b, err))
            return -1;
    }
    api__spec_child_ptr(p, ptr, "cell_inject");
    if (!json_is_object(inj))
        return bad(err, p, "must be %s", "an object");
    api__spec_child_ptr(q, p, "node");
    if (small_int(json_object_get(inj, "node"), q, 0, err, &x))
        return -1;
    put_int(b, x);
    api__spec_child_ptr(q, p, "combine");
    if (choice("nasrl-rnn", "combine", json_object_get(inj, "combine"), q, b, err))
        return -1;
    api__spec_child_ptr(q, p, "activation");
    if (choice("nasrl-rnn", "activation", json_object_get(inj, "activation"), q, b, err))
        return -1;
    api__spec_child_ptr(p, ptr, "cell_output");
    if (small_int(json_object_get(g, "cell_output"), p, 0, err, &x))
        return -1;
    put_int(b, x);
    return 0;
}

/* A fixed-arc string's ints (space-separated), counted; -1 when it holds
 * anything else. */
static int count_ints(const char *s)
{
    int n = 0;
    while (*s) {
        char *end;
        s += strspn(s, " ");
        if (!*s)
            break;
        (void)strtol(s, &end, 10);
        if (end == s)
            return -1;
        n++;
        s = end;
    }
    return n;
}

/* The engine's text of an ENAS genotype (an arc object as served or the
 * fixed-arc string) and the size it fixes: nodes (micro, rnn) or layers
 * (macro). */
static int enas_ints(const char *space, const json_t *g, const char *ptr, ints *b, int *size,
                     api_problem *err)
{
    memset(b, 0, sizeof *b);
    if (json_is_string(g)) {
        int n = count_ints(json_string_value(g)), L;
        if (n < 1 || json_string_length(g) >= sizeof b->text)
            return bad(err, ptr, "must be %s", "a fixed-arc string of space-separated ints");
        b->len = (size_t)snprintf(b->text, sizeof b->text, "%s", json_string_value(g));
        if (!strcmp(space, "enas-micro"))
            *size = n / 8;
        else if (!strcmp(space, "enas-rnn"))
            *size = (n + 1) / 2;
        else if (!strcmp(space, "nasrl-cnn"))
            *size = 0; /* the ints say */
        else if (!strcmp(space, "nasrl-rnn"))
            *size = ((n - 4) / 2 + 1) / 2;
        else {
            for (L = 1; L + L * (L - 1) / 2 < n; L++)
                ;
            *size = L;
        }
        return 0;
    }
    if (!json_is_object(g))
        return bad(err, ptr, "must be %s",
                   "the architecture a search serves, or its "
                   "decisions as a string of ints");
    int rc = !strcmp(space, "enas-micro")   ? micro_ints(g, ptr, b, size, err)
             : !strcmp(space, "enas-macro") ? macro_ints(g, ptr, b, size, err)
             : !strcmp(space, "enas-rnn")   ? rnn_ints(g, ptr, b, size, err)
             : !strcmp(space, "nasrl-cnn")  ? nasrl_cnn_ints(g, ptr, b, size, err)
                                            : nasrl_rnn_ints(g, ptr, b, size, err);
    if (rc)
        return -1;
    if (b->overflow)
        return bad(err, ptr, "is too long: its fixed-arc string must fit %s",
                   "the engine's genotype (1023 bytes)");
    return 0;
}

/* ------------------------------------------------ the genotype types */

/* The space a custom field belongs to: the train row whose architecture
 * table holds it. */
static const char *space_of(const field *f)
{
    size_t n;
    const space_row *rows = api__spec_rows(&n);
    for (size_t i = 0; i < n; i++)
        for (const field *a = rows[i].arch; a && a->name; a++)
            if (a == f)
                return rows[i].space;
    return NULL;
}

static int check_enas(const field *f, const json_t *v, const char *ptr, json_t **out,
                      api_problem *err)
{
    ints b;
    int size;
    const char *space = space_of(f);
    if (!space || enas_ints(space, v, ptr, &b, &size, err))
        return -1;
    *out = json_incref((json_t *)v);
    return 0;
}

static json_t *enas_schema(const field *f)
{
    (void)f;
    return json_pack("{s:[{s:s},{s:s}]}", "oneOf", "type", "object", "type", "string");
}

static const custom_type enas_genotype = {
    "the architecture a search serves (an object) or its decisions as a string of ints", check_enas,
    enas_schema};

const custom_type *api__spec_custom(const field *f)
{
    const char *space;
    if (f->custom)
        return f->custom;
    space = space_of(f);
    if (space && (!strncmp(space, "enas-", 5) || !strncmp(space, "nasrl-", 6)))
        return &enas_genotype;
    if (space && !strcmp(space, "darts-rnn"))
        return &api__spec_darts_rnn_genotype;
    return &api__spec_darts_genotype;
}

/* -------------------------------------------------------- to the engine */

int api__spec_arch_to_engine(const space_row *row, const json_t *arch, nas_job_spec *out)
{
    const json_t *g = json_object_get(arch, "genotype");
    api_problem err = {0};
    ints b;
    int size = 0;

    if (!g)
        return names_field(row->arch, "genotype") ? -1 : 0;
    if (strncmp(row->space, "enas-", 5) != 0 && strncmp(row->space, "nasrl-", 6) != 0)
        return api__spec_darts_to_engine(row->space, g, out);
    if (enas_ints(row->space, g, "/architecture/genotype", &b, &size, &err)) {
        api_problem_clear(&err);
        return -1;
    }
    memcpy(out->genotype, b.text, b.len + 1);
    if (!strcmp(row->space, "nasrl-rnn")) {
        out->tree_base = size;
        return 0;
    }
    if (!strcmp(row->space, "nasrl-cnn"))
        return 0;
    out->search_space = row->space;
    if (!strcmp(row->space, "enas-macro")) {
        out->layers = size;
        out->nodes = 0;
    } else {
        out->nodes = size;
    }
    return 0;
}

/* ------------------------------------------------ a model's architecture */

json_t *api_spec_of_model(const char *dataset, const char *arch_text, api_problem *err)
{
    json_error_t jerr;
    json_t *arch = json_loads(arch_text ? arch_text : "", 0, &jerr), *hp = json_object(), *body;
    const char *space = json_string_value(json_object_get(arch, "space")), *key;
    const space_row *row = space ? api__spec_find_row("train", space) : NULL;
    json_t *v, *spec = NULL;

    if (!row || !hp) {
        api_problem_set(err, 0, API_PROBLEM_INTERNAL, NULL,
                        "the model's architecture names no space a train job builds");
        goto done;
    }
    /* The hyperparameters the network was trained with go back under
     * /hyperparameters (the fold drops them from a pasted architecture). */
    json_object_foreach(arch, key, v)
    {
        for (const field *f = row->hp; f && f->name; f++)
            if (!strcmp(f->name, key) && !f->na && json_object_set(hp, key, v))
                goto oom;
    }
    body = json_pack("{s:s,s:s,s:O,s:O}", "algorithm", "train", "dataset", dataset, "architecture",
                     arch, "hyperparameters", hp);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        goto oom;
    if (api_spec_normalize(text, strlen(text), 0, &spec, err))
        spec = NULL;
    free(text);
    goto done;
oom:
    api__spec_oom(err);
done:
    json_decref(arch);
    json_decref(hp);
    return spec;
}
