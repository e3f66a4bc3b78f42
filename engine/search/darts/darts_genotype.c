// SPDX-License-Identifier: MIT
/*
 * darts_genotype.c - from alpha to a discrete cell: the derivation rule
 * of the paper and the two ways users see the result (JSON in the
 * reference implementation's structure, and its Genotype(...) text).
 *
 * The one design decision to know: the rule works on softmax(alpha) per
 * edge, like the reference's genotype(): edges compete across rows, and
 * only the softmax makes rows comparable. Ties go the reference's way
 * (a stable sort of the edges, the first maximal op of a row).
 */
#include "search/darts/darts.h"
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void softmax_row(const float *a, double *p)
{
    double m = a[0], z = 0.0;
    for (int k = 1; k < NAS_DARTS_NPRIM; k++)
        m = a[k] > m ? a[k] : m;
    for (int k = 0; k < NAS_DARTS_NPRIM; k++)
        z += p[k] = exp((double)a[k] - m);
    for (int k = 0; k < NAS_DARTS_NPRIM; k++)
        p[k] /= z;
}

/* The strongest op of a row other than `none` (the first on ties). */
static int best_op(const double *p)
{
    int best = 1;
    for (int k = 2; k < NAS_DARTS_NPRIM; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

void nas__darts_derive(const float *alpha, nas_darts_gene *out)
{
    double p[NAS_DARTS_EDGES][NAS_DARTS_NPRIM];
    for (int e = 0; e < NAS_DARTS_EDGES; e++)
        softmax_row(alpha + e * NAS_DARTS_NPRIM, p[e]);
    for (int j = 0, start = 0; j < NAS_DARTS_NODES; start += j + 2, j++) {
        /* The two strongest edges by their best op, strongest first; an
         * edge displaces an earlier one only when strictly stronger. */
        int first = -1, second = -1;
        for (int i = 0; i < j + 2; i++) {
            double s = p[start + i][best_op(p[start + i])];
            if (first < 0 || s > p[start + first][best_op(p[start + first])]) {
                second = first;
                first = i;
            } else if (second < 0 || s > p[start + second][best_op(p[start + second])]) {
                second = i;
            }
        }
        int pick[2] = {first, second};
        for (int t = 0; t < 2; t++) {
            out->from[j][t] = pick[t];
            out->op[j][t] = best_op(p[start + pick[t]]);
        }
    }
}

static void gene_json(nas_json_buf *b, const nas_darts_gene *g)
{
    nas__json_buf_puts(b, "[");
    for (int j = 0; j < NAS_DARTS_NODES; j++)
        for (int t = 0; t < 2; t++) {
            nas__json_buf_puts(b, j || t ? ", [" : "[");
            nas__json_buf_str(b, nas__darts_prim_names[g->op[j][t]], "");
            nas__json_buf_puts(b, ", ");
            nas__json_buf_u64(b, (uint64_t)g->from[j][t]);
            nas__json_buf_puts(b, "]");
        }
    nas__json_buf_puts(b, "]");
}

/* The buffer's text, or NULL (and nothing leaked) when it ran out. */
static char *finish(nas_json_buf *b)
{
    if (!b->oom)
        return b->s;
    free(b->s);
    nas_fail(NAS_ENOMEM, "darts: genotype: out of memory");
    return NULL;
}

char *nas__darts_genotype_json(const nas_darts_gene *normal, const nas_darts_gene *reduce)
{
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{\"normal\": ");
    gene_json(&b, normal);
    nas__json_buf_puts(&b, ", \"normal_concat\": [2, 3, 4, 5], \"reduce\": ");
    gene_json(&b, reduce);
    nas__json_buf_puts(&b, ", \"reduce_concat\": [2, 3, 4, 5]}");
    return finish(&b);
}

static void gene_text(nas_json_buf *b, const nas_darts_gene *g)
{
    char t[64];
    nas__json_buf_puts(b, "[");
    for (int j = 0; j < NAS_DARTS_NODES; j++)
        for (int k = 0; k < 2; k++) {
            snprintf(t, sizeof(t), "%s('%s', %d)", j || k ? ", " : "",
                     nas__darts_prim_names[g->op[j][k]], g->from[j][k]);
            nas__json_buf_puts(b, t);
        }
    nas__json_buf_puts(b, "]");
}

char *nas__darts_genotype_text(const nas_darts_gene *normal, const nas_darts_gene *reduce)
{
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "Genotype(normal=");
    gene_text(&b, normal);
    nas__json_buf_puts(&b, ", normal_concat=range(2, 6), reduce=");
    gene_text(&b, reduce);
    nas__json_buf_puts(&b, ", reduce_concat=range(2, 6))");
    return finish(&b);
}

static void alpha_rows(nas_json_buf *b, const float *alpha)
{
    char t[32];
    nas__json_buf_puts(b, "[");
    for (int e = 0; e < NAS_DARTS_EDGES; e++) {
        double p[NAS_DARTS_NPRIM];
        softmax_row(alpha + e * NAS_DARTS_NPRIM, p);
        nas__json_buf_puts(b, e ? ",[" : "[");
        for (int k = 0; k < NAS_DARTS_NPRIM; k++) {
            snprintf(t, sizeof(t), "%s%.6g", k ? "," : "", p[k]);
            nas__json_buf_puts(b, t);
        }
        nas__json_buf_puts(b, "]");
    }
    nas__json_buf_puts(b, "]");
}

char *nas__darts_alpha_json(const float *normal, const float *reduce)
{
    nas_json_buf b = {0};
    nas__json_buf_puts(&b, "{\"ops\":[");
    for (int k = 0; k < NAS_DARTS_NPRIM; k++) {
        nas__json_buf_puts(&b, k ? "," : "");
        nas__json_buf_str(&b, nas__darts_prim_names[k], "");
    }
    nas__json_buf_puts(&b, "],\"normal\":");
    alpha_rows(&b, normal);
    nas__json_buf_puts(&b, ",\"reduce\":");
    alpha_rows(&b, reduce);
    nas__json_buf_puts(&b, "}");
    return finish(&b);
}
