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
