#include "KernelsC.h"
#include "bf16_round.h"

/* Every product and sum below is written out as the Swift code it mirrors computes it: no
   contraction of a * b + c into a fused multiply-add the Swift code does not do. */
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <string.h>

typedef float v8f __attribute__((ext_vector_type(8)));

#define AVX2_TARGET __attribute__((target("avx2,fma")))

/* ---- GEMM micro-kernel (GEMMMicroKernel.swift, SwiftSIMDKernel) ---- */

AVX2_TARGET static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

AVX2_TARGET static inline void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

AVX2_TARGET
void fm_sgemm_kernel_avx2(long kc, const float *a, const float *b, float *c, long ldc,
                          long rows, long cols, float alpha, float beta) {
    v8f acc[FM_AVX2_MR][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < FM_AVX2_MR; i++) acc[i][0] = acc[i][1] = (v8f)0;
    for (long p = 0; p < kc; p++) {
        v8f b0 = load8(b), b1 = load8(b + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < FM_AVX2_MR; i++) {
            v8f av = (v8f)a[i];
            acc[i][0] = __builtin_elementwise_fma(av, b0, acc[i][0]);
            acc[i][1] = __builtin_elementwise_fma(av, b1, acc[i][1]);
        }
        a += FM_AVX2_MR;
        b += FM_AVX2_NR;
    }
    v8f va = (v8f)alpha, vb = (v8f)beta;
    if (rows == FM_AVX2_MR && cols == FM_AVX2_NR) {
#pragma clang loop unroll(full)
        for (int i = 0; i < FM_AVX2_MR; i++) {
            float *row = c + i * ldc;
            if (beta == 0) {
                store8(row, va * acc[i][0]);
                store8(row + 8, va * acc[i][1]);
            } else {
                store8(row, va * acc[i][0] + vb * load8(row));
                store8(row + 8, va * acc[i][1] + vb * load8(row + 8));
            }
        }
        return;
    }
    /* Ragged tile: the accumulators through a stack tile, then the same arithmetic lane by lane
       on the valid part. */
    float tile[FM_AVX2_MR][FM_AVX2_NR];
#pragma clang loop unroll(full)
    for (int i = 0; i < FM_AVX2_MR; i++) {
        store8(tile[i], acc[i][0]);
        store8(tile[i] + 8, acc[i][1]);
    }
    for (long i = 0; i < rows; i++) {
        float *row = c + i * ldc;
        for (long j = 0; j < cols; j++)
            row[j] = beta == 0 ? alpha * tile[i][j] : alpha * tile[i][j] + beta * row[j];
    }
}

/* ---- GELU, batch-norm rows, run sums, bf16 rounding: portable_kernels_body.h, once per target ---- */

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl"))), apply_to = function)
#define FM_GELU_SUFFIX avx512
#define FM_GELU_LANES 16
#include "portable_kernels_body.h"
#undef FM_GELU_SUFFIX
#undef FM_GELU_LANES
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define FM_GELU_SUFFIX avx2
#define FM_GELU_LANES 8
#include "portable_kernels_body.h"
#undef FM_GELU_SUFFIX
#undef FM_GELU_LANES
#pragma clang attribute pop

#else

void fm_sgemm_kernel_avx2(long kc, const float *a, const float *b, float *c, long ldc,
                          long rows, long cols, float alpha, float beta) {
    (void)kc; (void)a; (void)b; (void)c; (void)ldc; (void)rows; (void)cols; (void)alpha; (void)beta;
}
void fm_gelu_forward_avx512(const float *x, float *y, long count) { (void)x; (void)y; (void)count; }
void fm_gelu_backward_avx512(const float *x, const float *dy, float *dx, long count) {
    (void)x; (void)dy; (void)dx; (void)count;
}
void fm_gelu_forward_avx2(const float *x, float *y, long count) { (void)x; (void)y; (void)count; }
void fm_gelu_backward_avx2(const float *x, const float *dy, float *dx, long count) {
    (void)x; (void)dy; (void)dx; (void)count;
}
#define FM_UNUSED_BN_ROWS(suffix)                                                                   \
    void fm_bn_forward_row_##suffix(const float *x, float *y, long count, float scale, float shift, \
                                    int relu) {                                                     \
        (void)x; (void)y; (void)count; (void)scale; (void)shift; (void)relu;                         \
    }                                                                                               \
    void fm_bn_backward_row_##suffix(const float *x, const float *dy, float *dx, long count,         \
                                     float scale, float a, float b, int masked, float maskScale,     \
                                     float maskShift) {                                             \
        (void)x; (void)dy; (void)dx; (void)count; (void)scale; (void)a; (void)b; (void)masked;       \
        (void)maskScale; (void)maskShift;                                                           \
    }
FM_UNUSED_BN_ROWS(avx512)
FM_UNUSED_BN_ROWS(avx2)
#define FM_UNUSED_RUN_SUMS(suffix)                                                                   \
    void fm_run_sums_##suffix(int kind, const float *g, const float *x, long n, float mean, float scale, \
                              float shift, float *acc) {           \
        (void)kind; (void)g; (void)x; (void)n; (void)mean; (void)scale; (void)shift; (void)acc;        \
    }
FM_UNUSED_RUN_SUMS(avx512)
FM_UNUSED_RUN_SUMS(avx2)
void fm_bf16_round_floats_avx512(float *x, long count) { (void)x; (void)count; }
void fm_bf16_round_floats_avx2(float *x, long count) { (void)x; (void)count; }
void fm_pack_b_rows_avx512(const float *b, long rowStride, long kc, long nc, long nr, float *dst) {
    (void)b; (void)rowStride; (void)kc; (void)nc; (void)nr; (void)dst;
}
void fm_pack_b_rows_avx2(const float *b, long rowStride, long kc, long nc, long nr, float *dst) {
    (void)b; (void)rowStride; (void)kc; (void)nc; (void)nr; (void)dst;
}

#endif
