// SPDX-License-Identifier: MIT
/*
 * gemm_small.c - the GEMMs of a pointwise (1x1) convolution on one image,
 * where one side is a few channels: y (co, hw) = w (co, ci) x (ci, hw),
 * dx (ci, hw) += w^T dy, and dw (co, ci) += dy x^T, with ci and co of
 * 8..100 and hw of 64..1024. OpenBLAS reaches 40-50 % of a core's peak on
 * such shapes (../shared/peer/results.md: 45 GFLOP/s for 20x20 * 20xN of
 * 116): with K that small, packing both operands costs about as much as
 * the multiply.
 *
 * The one design decision to know: no packing. In the NN kernel the small
 * operand (w, or w^T read with a stride) is broadcast one element at a
 * time and the long rows of the other are read in place, 16 floats per
 * vector; a tile of up to 4 rows x 4 vectors of the output lives in 16
 * registers while K runs, and is written (or added) once. The NT kernel
 * (dw) runs its long K in vectors too: a 4 x 4 tile of dot products in 16
 * registers, reduced horizontally at the end. Without AVX-512 both are
 * cblas_sgemm. Each output element is a sum over K in a fixed order, so
 * the numbers do not depend on threads (they differ from OpenBLAS's in
 * rounding only).
 */
#include "internal.h"

#include <cblas.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)

/* Mask of the last of nv vectors covering n columns from j. */
static inline __mmask16 tail_mask(int cols)
{
    return cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
}

/* C[MR rows][NV vectors] (=, or += when acc) sum_p A(i, p) B[p][j..]:
 * A(i, p) is a[i * sa + p * sp]. The last vector is masked by m. */
static inline __attribute__((always_inline)) void
nn_tile(const int MR, const int NV, int k, const float *restrict a, int sa, int sp,
        const float *restrict b, int ldb, float *restrict c, int ldc, __mmask16 m, int acc)
{
    __m512 t[4][4];
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++)
            t[i][v] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        const float *br = b + (size_t)p * ldb;
        __m512 bv[4];
        for (int v = 0; v < NV; v++)
            bv[v] =
                v == NV - 1 ? _mm512_maskz_loadu_ps(m, br + 16 * v) : _mm512_loadu_ps(br + 16 * v);
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[(size_t)i * sa + (size_t)p * sp]);
            for (int v = 0; v < NV; v++)
                t[i][v] = _mm512_fmadd_ps(av, bv[v], t[i][v]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *cr = c + (size_t)i * ldc;
        for (int v = 0; v < NV; v++) {
            __mmask16 mm = v == NV - 1 ? m : (__mmask16)0xffff;
            __m512 r = t[i][v];
            if (acc)
                r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mm, cr + 16 * v));
            _mm512_mask_storeu_ps(cr + 16 * v, mm, r);
        }
    }
}

/* Dispatch on the tile's row count with constant arguments, so each case
 * is its own fully unrolled kernel. */
#define NN_ROWS(NV)                                                                                \
    switch (mr) {                                                                                  \
    case 4: nn_tile(4, NV, k, ai, sa, sp, bj, ldb, cij, ldc, m, acc); break;                       \
    case 3: nn_tile(3, NV, k, ai, sa, sp, bj, ldb, cij, ldc, m, acc); break;                       \
    case 2: nn_tile(2, NV, k, ai, sa, sp, bj, ldb, cij, ldc, m, acc); break;                       \
    default: nn_tile(1, NV, k, ai, sa, sp, bj, ldb, cij, ldc, m, acc); break;                      \
    }

static void nn(int mrows, int n, int k, const float *a, int sa, int sp, const float *b, int ldb,
               float *c, int ldc, int acc)
{
    for (int j = 0; j < n; j += 64) {
        int cols = n - j < 64 ? n - j : 64, nv = (cols + 15) / 16;
        __mmask16 m = tail_mask(cols - 16 * (nv - 1));
        const float *bj = b + j;
        for (int i = 0; i < mrows; i += 4) {
            int mr = mrows - i < 4 ? mrows - i : 4;
            const float *ai = a + (size_t)i * sa;
            float *cij = c + (size_t)i * ldc + j;
            switch (nv) {
            case 4: NN_ROWS(4) break;
            case 3: NN_ROWS(3) break;
            case 2: NN_ROWS(2) break;
            default: NN_ROWS(1) break;
            }
        }
    }
}
#undef NN_ROWS

/* C[MR][NR] += sum_p A[i][p] B[j][p] over k (rows of A and B contiguous). */
static inline __attribute__((always_inline)) void nt_tile(const int MR, const int NR, int k,
                                                          const float *restrict a, int lda,
                                                          const float *restrict b, int ldb,
                                                          float *restrict c, int ldc)
{
    __m512 t[4][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            t[i][j] = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 16) {
        __mmask16 m = tail_mask(k - p);
        __m512 av[4], bv[4];
        for (int i = 0; i < MR; i++)
            av[i] = _mm512_maskz_loadu_ps(m, a + (size_t)i * lda + p);
        for (int j = 0; j < NR; j++)
            bv[j] = _mm512_maskz_loadu_ps(m, b + (size_t)j * ldb + p);
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                t[i][j] = _mm512_fmadd_ps(av[i], bv[j], t[i][j]);
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            c[(size_t)i * ldc + j] += _mm512_reduce_add_ps(t[i][j]);
}

#define NT_COLS(MR)                                                                                \
    switch (nr) {                                                                                  \
    case 4: nt_tile(MR, 4, k, ai, lda, bj, ldb, cij, ldc); break;                                  \
    case 3: nt_tile(MR, 3, k, ai, lda, bj, ldb, cij, ldc); break;                                  \
    case 2: nt_tile(MR, 2, k, ai, lda, bj, ldb, cij, ldc); break;                                  \
    default: nt_tile(MR, 1, k, ai, lda, bj, ldb, cij, ldc); break;                                 \
    }

static void nt(int mrows, int ncols, int k, const float *a, int lda, const float *b, int ldb,
               float *c, int ldc)
{
    for (int i = 0; i < mrows; i += 4) {
        int mr = mrows - i < 4 ? mrows - i : 4;
        const float *ai = a + (size_t)i * lda;
        for (int j = 0; j < ncols; j += 4) {
            int nr = ncols - j < 4 ? ncols - j : 4;
            const float *bj = b + (size_t)j * ldb;
            float *cij = c + (size_t)i * ldc + j;
            switch (mr) {
            case 4: NT_COLS(4) break;
            case 3: NT_COLS(3) break;
            case 2: NT_COLS(2) break;
            default: NT_COLS(1) break;
            }
        }
    }
}
#undef NT_COLS

#endif /* __AVX512F__ */

void nas__gemm_small_nn(int trans_a, int m, int n, int k, const float *a, int lda, const float *b,
                        int ldb, int accumulate, float *c, int ldc)
{
#if defined(__AVX512F__)
    /* A(i, p) is a[i lda + p], or a[p lda + i] for A^T. */
    if (trans_a)
        nn(m, n, k, a, 1, lda, b, ldb, c, ldc, accumulate);
    else
        nn(m, n, k, a, lda, 1, b, ldb, c, ldc, accumulate);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a,
                lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc);
#endif
}

void nas__gemm_small_nt_acc(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                            float *c, int ldc)
{
#if defined(__AVX512F__)
    /* Short dot products are mostly horizontal sums: OpenBLAS's then. */
    if (k >= 256) {
        nt(m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c,
                ldc);
}
