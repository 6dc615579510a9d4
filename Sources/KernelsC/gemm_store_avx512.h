/* The epilogue the AVX-512 GEMM micro-kernels share (fp32 and bf16): private to KernelsC. */
#ifndef FEATUREMAPS_GEMM_STORE_AVX512_H
#define FEATUREMAPS_GEMM_STORE_AVX512_H
#include <immintrin.h>

/* c[0..<cols] = alpha * acc + beta * c for one row of `vectors` accumulators: full vectors, or
   masked for a ragged right edge. readC == 0 (beta 0) never reads C, so NaNs there vanish. */
__attribute__((target("avx512f"), always_inline))
static inline void fm_store_row(float *c, const __m512 *acc, int vectors, long cols, __m512 va, __m512 vb,
                                int readC) {
    for (int v = 0; v < vectors; v++) {
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

#endif
