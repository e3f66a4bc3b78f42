// SPDX-License-Identifier: MIT
/*
 * darts_cells.c - the typed DARTS genotypes of nas.h (a darts-cnn cell
 * pair, a darts-rnn recurrent cell): their checks, their JSON as results
 * and train jobs serve it, and the one-word token of a spec text
 * ("sep_conv_3x3/0,.../2.3.4.5|max_pool_3x3/0,.../2.3.4.5"), written and
 * read back.
 *
 * The one design decision to know: a genotype is parsed once, where it
 * enters as JSON (the API's spec conversion, api/spec_genotype.c); inside
 * the engine it is a struct. The kinds' validation checks it here, so a
 * spec filled by hand is refused with the same messages
 * ("genotype.normal[3][1]: ...") as before. The only text read back is
 * the engine's own token, from a final-training checkpoint's spec text:
 * what the final training of a resumed darts job trains.
 */
#include "search/darts/darts.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...) nas_fail(NAS_EINVAL, __VA_ARGS__)

const char *nas_darts_op_name(int k)
{
    return k > NAS_DARTS_NONE && k < NAS_DARTS_NPRIM ? nas__darts_prim_names[k] : NULL;
}

const char *nas_darts_rnn_op_name(int k)
{
    return k > NAS_DARTS_RNN_NONE && k < NAS_DARTS_RNN_NPRIM ? nas__darts_rnn_prim_names[k] : NULL;
}

/* ---------------------------------------------------- derived genotypes */

void nas__darts_genotype_of(const nas_darts_gene *normal, const nas_darts_gene *reduce,
                            nas_darts_genotype *out)
{
    *out = (nas_darts_genotype){.normal = *normal,
                                .reduce = *reduce,
                                .n_normal_concat = NAS_DARTS_NODES,
                                .n_reduce_concat = NAS_DARTS_NODES};
    for (int k = 0; k < NAS_DARTS_NODES; k++)
        out->normal_concat[k] = out->reduce_concat[k] = k + 2;
}

void nas__darts_rnn_genotype_of(const struct nas_darts_rnn_gene *g, nas_darts_rnn_genotype *out)
{
    out->nconcat = NAS_DARTS_RNN_NODES;
    for (int k = 0; k < NAS_DARTS_RNN_NODES; k++) {
        out->op[k] = g->op[k];
        out->from[k] = g->from[k];
        out->concat[k] = k + 1;
    }
}

/* ---------------------------------------------------------------- checks */

/* n distinct nodes in [lo, hi], 1 <= n <= hi - lo + 1. */
static int check_concat(const char *field, const int *v, int n, int lo, int hi)
{
    if (n < 1 || n > hi - lo + 1)
        return BAD("genotype.%s: must list 1 to %d nodes", field, hi - lo + 1);
    for (int i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > hi)
            return BAD("genotype.%s[%d]: must be a node in [%d, %d]", field, i, lo, hi);
        for (int k = 0; k < i; k++)
            if (v[k] == v[i])
                return BAD("genotype.%s[%d]: node %d appears twice", field, i, v[i]);
    }
    return NAS_OK;
}

static int check_gene(const char *field, const nas_darts_gene *g)
{
    for (int j = 0; j < NAS_DARTS_NODES; j++)
        for (int t = 0; t < 2; t++) {
            int n = 2 * j + t, from = g->from[j][t];
            if (!nas_darts_op_name(g->op[j][t]))
                return BAD("genotype.%s[%d][0]: unknown op %d (known: "
                           "max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, "
                           "sep_conv_5x5, dil_conv_3x3, dil_conv_5x5)",
                           field, n, g->op[j][t]);
            if (from < 0 || from > j + 1)
                return BAD("genotype.%s[%d][1]: input %d is out of range for "
                           "node %d: [0, %d] (0, 1: the cell inputs, 2..: earlier "
                           "nodes)",
                           field, n, from, j, j + 1);
        }
    return NAS_OK;
}

int nas__darts_genotype_check(const nas_darts_genotype *gt)
{
    int rc;
    if (gt->n_normal_concat == 0 && gt->n_reduce_concat == 0)
        return BAD("genotype: missing (the darts-cnn architecture needs one)");
    if ((rc = check_gene("normal", &gt->normal)) < 0 ||
        (rc = check_concat("normal_concat", gt->normal_concat, gt->n_normal_concat, 2,
                           1 + NAS_DARTS_NODES)) < 0 ||
        (rc = check_gene("reduce", &gt->reduce)) < 0)
        return rc;
    return check_concat("reduce_concat", gt->reduce_concat, gt->n_reduce_concat, 2,
                        1 + NAS_DARTS_NODES);
}

int nas__darts_rnn_genotype_check(const nas_darts_rnn_genotype *gt)
{
    if (gt->nconcat == 0)
        return BAD("genotype: missing (the darts-rnn architecture needs one)");
    for (int n = 0; n < NAS_DARTS_RNN_NODES; n++) {
        if (!nas_darts_rnn_op_name(gt->op[n]))
            return BAD("genotype.recurrent[%d]: unknown op %d (known: tanh, "
                       "relu, sigmoid, identity)",
                       n, gt->op[n]);
        if (gt->from[n] < 0 || gt->from[n] > n)
            return BAD("genotype.recurrent[%d]: the input must be an integer "
                       "in [0, %d] (0: s0, i: node i)",
                       n, n);
    }
    return check_concat("concat", gt->concat, gt->nconcat, 1, NAS_DARTS_RNN_NODES);
}

/* ------------------------------------------------------------------ JSON */

/* [[op, input], ...] of n pairs. */
static void pairs_dump(nas_json_buf *b, const char *const *names, const int *op, const int *from,
                       int n)
{
    nas__json_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        nas__json_buf_puts(b, i ? ",[" : "[");
        nas__json_buf_str(b, names[op[i]], "");
        nas__json_buf_puts(b, ",");
        nas__json_buf_u64(b, (uint64_t)from[i]);
        nas__json_buf_puts(b, "]");
    }
    nas__json_buf_puts(b, "]");
}

static void concat_dump(nas_json_buf *b, const int *v, int n)
{
    nas__json_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        nas__json_buf_puts(b, i ? "," : "");
        nas__json_buf_u64(b, (uint64_t)v[i]);
    }
    nas__json_buf_puts(b, "]");
}

static void gene_dump(nas_json_buf *b, const nas_darts_gene *g)
{
    pairs_dump(b, nas__darts_prim_names, &g->op[0][0], &g->from[0][0], 2 * NAS_DARTS_NODES);
}

char *nas__darts_genotype_dump(const nas_darts_genotype *gt)
{
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{\"normal\":");
    gene_dump(&b, &gt->normal);
    nas__json_buf_puts(&b, ",\"normal_concat\":");
    concat_dump(&b, gt->normal_concat, gt->n_normal_concat);
    nas__json_buf_puts(&b, ",\"reduce\":");
    gene_dump(&b, &gt->reduce);
    nas__json_buf_puts(&b, ",\"reduce_concat\":");
    concat_dump(&b, gt->reduce_concat, gt->n_reduce_concat);
    nas__json_buf_puts(&b, "}");
    if (!b.oom)
        return b.s;
    free(b.s);
    nas_fail(NAS_ENOMEM, "darts: genotype: out of memory");
    return NULL;
}

void nas__darts_rnn_genotype_members(const nas_darts_rnn_genotype *gt, nas_json_buf *b)
{
    nas__json_buf_puts(b, "\"recurrent\":");
    pairs_dump(b, nas__darts_rnn_prim_names, gt->op, gt->from, NAS_DARTS_RNN_NODES);
    nas__json_buf_puts(b, ",\"concat\":");
    concat_dump(b, gt->concat, gt->nconcat);
}

/* ----------------------------------------------------------------- token */

/* Appends "op/in,op/in,.../c.c.c" to buf. */
static void token_part(char *buf, size_t cap, const char *const *names, const int *op,
                       const int *from, int n, const int *concat, int nconcat)
{
    size_t len = strlen(buf);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s/%d", i ? "," : "",
                                names[op[i]], from[i]);
    for (int i = 0; i < nconcat; i++)
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%d", i ? "." : "/",
                                concat[i]);
}

void nas__darts_genotype_token(const nas_darts_genotype *gt, char *buf, size_t cap)
{
    NAS_ASSERT(cap >= 1);
    buf[0] = '\0';
    token_part(buf, cap, nas__darts_prim_names, &gt->normal.op[0][0], &gt->normal.from[0][0],
               2 * NAS_DARTS_NODES, gt->normal_concat, gt->n_normal_concat);
    size_t len = strlen(buf);
    if (len + 1 < cap) {
        buf[len] = '|';
        buf[len + 1] = '\0';
    }
    token_part(buf, cap, nas__darts_prim_names, &gt->reduce.op[0][0], &gt->reduce.from[0][0],
               2 * NAS_DARTS_NODES, gt->reduce_concat, gt->n_reduce_concat);
}

void nas__darts_rnn_genotype_token(const nas_darts_rnn_genotype *gt, char *buf, size_t cap)
{
    NAS_ASSERT(cap >= 1);
    buf[0] = '\0';
    token_part(buf, cap, nas__darts_rnn_prim_names, gt->op, gt->from, NAS_DARTS_RNN_NODES,
               gt->concat, gt->nconcat);
}

/* One part of a token back: n pairs "op/in" split by ',', then '/' and
 * up to maxc concat nodes split by '.'. The end of the part, or NULL. */
static const char *token_read(const char *p, const char *const *names, int nnames, int *op,
                              int *from, int n, int *concat, int maxc, int *nconcat)
{
    char *end;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(p, "/");
        op[i] = -1;
        for (int k = 1; k < nnames; k++)
            if (strlen(names[k]) == len && strncmp(p, names[k], len) == 0)
                op[i] = k;
        if (op[i] < 0 || p[len] != '/')
            return NULL;
        from[i] = (int)strtol(p + len + 1, &end, 10);
        if (end == p + len + 1 || *end != (i + 1 < n ? ',' : '/'))
            return NULL;
        p = end + 1;
    }
    for (*nconcat = 0; *nconcat < maxc;) {
        concat[(*nconcat)++] = (int)strtol(p, &end, 10);
        if (end == p)
            return NULL;
        p = end;
        if (*p != '.')
            break;
        p++;
    }
    return p;
}

/* The token after " genotype=" in a spec text. */
static const char *token_of(const char *spec_text)
{
    const char *at = spec_text ? strstr(spec_text, " genotype=") : NULL;
    return at ? at + strlen(" genotype=") : NULL;
}

int nas__darts_genotype_from_spec_text(const char *spec_text, nas_darts_genotype *out)
{
    const char *p = token_of(spec_text);
    nas_darts_genotype gt = {0};
    if (p)
        p = token_read(p, nas__darts_prim_names, NAS_DARTS_NPRIM, &gt.normal.op[0][0],
                       &gt.normal.from[0][0], 2 * NAS_DARTS_NODES, gt.normal_concat,
                       NAS_DARTS_NODES, &gt.n_normal_concat);
    if (p && *p == '|')
        p = token_read(p + 1, nas__darts_prim_names, NAS_DARTS_NPRIM, &gt.reduce.op[0][0],
                       &gt.reduce.from[0][0], 2 * NAS_DARTS_NODES, gt.reduce_concat,
                       NAS_DARTS_NODES, &gt.n_reduce_concat);
    else
        p = NULL;
    if (!p || (*p && *p != ' '))
        return nas_fail(NAS_EFORMAT, "no darts-cnn genotype in the spec text \"%.200s\"",
                        spec_text ? spec_text : "");
    *out = gt;
    return nas__darts_genotype_check(out);
}

int nas__darts_rnn_genotype_from_spec_text(const char *spec_text, nas_darts_rnn_genotype *out)
{
    const char *p = token_of(spec_text);
    nas_darts_rnn_genotype gt = {0};
    if (p)
        p = token_read(p, nas__darts_rnn_prim_names, NAS_DARTS_RNN_NPRIM, gt.op, gt.from,
                       NAS_DARTS_RNN_NODES, gt.concat, NAS_DARTS_RNN_NODES, &gt.nconcat);
    if (!p || (*p && *p != ' '))
        return nas_fail(NAS_EFORMAT, "no darts-rnn genotype in the spec text \"%.200s\"",
                        spec_text ? spec_text : "");
    *out = gt;
    return nas__darts_rnn_genotype_check(out);
}
