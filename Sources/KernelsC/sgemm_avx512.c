#include "KernelsC.h"

#if defined(__x86_64__)
#include <immintrin.h>

int fm_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

#define MR FM_AVX512_MR
#define NV (FM_AVX512_NR / 16)

/* Stores one row of accumulators: full vectors, or masked for a ragged right edge. */
__attribute__((target("avx512f"), always_inline))
static inline void store_row(float *c, const __m512 *acc, long cols, __m512 va, __m512 vb, int readC) {
    for (int v = 0; v < NV; v++) {
        long left = cols - 16 * v;
        if (left <= 0) break;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 r = _mm512_mul_ps(va, acc[v]);
        if (readC) {
            __m512 old = _mm512_maskz_loadu_ps(mask, c + 16 * v);
            r = _mm512_add_ps(r, _mm512_mul_ps(vb, old));
        }
        _mm512_mask_storeu_ps(c + 16 * v, mask, r);
    }
}

__attribute__((target("avx512f")))
void fm_sgemm_kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            long rows, long cols, float alpha, float beta) {
    __m512 acc[MR][NV];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();

    for (long p = 0; p < kc; p++) {
        __m512 bv[NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        a += MR;
        b += 16 * NV;
    }

    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int readC = beta != 0.0f;
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (i < rows) store_row(c + i * ldc, acc[i], cols, va, vb, readC);
    }
}

#else

int fm_cpu_has_avx512(void) { return 0; }

void fm_sgemm_kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            long rows, long cols, float alpha, float beta) {
    (void)kc; (void)a; (void)b; (void)c; (void)ldc; (void)rows; (void)cols; (void)alpha; (void)beta;
}

#endif

#if defined(__x86_64__)
#define MA FM_AVX512_NT_MA
#define NB FM_AVX512_NT_NB
/* K block: measured best of 512, 1024, 2048 (longer blocks amortise the horizontal sums;
   at 2048 the MA rows of A no longer fit L1). */
#define NT_KC 1024

__attribute__((target("avx512f")))
static void nt_tile(long kc, const float *const *ar, const float *const *br, float *out) {
    __m512 acc[MA][NB];
#pragma clang loop unroll(full)
    for (int i = 0; i < MA; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) acc[i][j] = _mm512_setzero_ps();
    long p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 bv[NB];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) bv[j] = _mm512_loadu_ps(br[j] + p);
#pragma clang loop unroll(full)
        for (int i = 0; i < MA; i++) {
            __m512 av = _mm512_loadu_ps(ar[i] + p);
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    if (p < kc) {
        __mmask16 mask = (__mmask16)((1u << (kc - p)) - 1u);
        __m512 bv[NB];
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) bv[j] = _mm512_maskz_loadu_ps(mask, br[j] + p);
#pragma clang loop unroll(full)
        for (int i = 0; i < MA; i++) {
            __m512 av = _mm512_maskz_loadu_ps(mask, ar[i] + p);
#pragma clang loop unroll(full)
            for (int j = 0; j < NB; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < MA; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) out[i * NB + j] = _mm512_reduce_add_ps(acc[i][j]);
}

__attribute__((target("avx512f")))
void fm_sgemm_nt_avx512(long m, long n, long k, float alpha, const float *a, long lda,
                        const float *b, long ldb, float beta, float *c, long ldc) {
    for (long p0 = 0; p0 < k; p0 += NT_KC) {
        long kc = k - p0 < NT_KC ? k - p0 : NT_KC;
        int first = p0 == 0;
        for (long i0 = 0; i0 < m; i0 += MA) {
            /* Rows past the edge repeat the last row; their results are not stored. */
            const float *ar[MA];
            for (int i = 0; i < MA; i++) ar[i] = a + (i0 + i < m ? i0 + i : m - 1) * lda + p0;
            for (long j0 = 0; j0 < n; j0 += NB) {
                const float *br[NB];
                for (int j = 0; j < NB; j++) br[j] = b + (j0 + j < n ? j0 + j : n - 1) * ldb + p0;
                float t[MA * NB];
                nt_tile(kc, ar, br, t);
                for (int i = 0; i < MA && i0 + i < m; i++) {
                    float *row = c + (i0 + i) * ldc + j0;
                    for (int j = 0; j < NB && j0 + j < n; j++) {
                        float s = alpha * t[i * NB + j];
                        if (!first) row[j] += s;
                        else row[j] = beta == 0.0f ? s : s + beta * row[j];
                    }
                }
            }
        }
    }
}
#else
void fm_sgemm_nt_avx512(long m, long n, long k, float alpha, const float *a, long lda,
                        const float *b, long ldb, float beta, float *c, long ldc) {
    (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
}
#endif
