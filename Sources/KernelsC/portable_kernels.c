#include "KernelsC.h"
#include "bf16_round.h"

/* Every product and sum below is written out as the Swift code it mirrors computes it: no
   contraction of a * b + c into a fused multiply-add the Swift code does not do. */
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "vec8_avx2.h"

#define AVX2_TARGET V8_TARGET

/* ---- GEMM micro-kernel (GEMMMicroKernel.swift, SwiftSIMDKernel) ---- */

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

/* ---- 2x2 stride-2 max pool over one plane (MaxPool2d.swift, maxPool2x2Plane) ---- */

typedef float v16f __attribute__((ext_vector_type(16)));
typedef int v8i __attribute__((ext_vector_type(8)));

/* One later window position against the best so far: it wins if larger, or if it is the first
   NaN (`beats` in MaxPool2d.swift). Selections only, so the values are the Swift code's bits. */
AVX2_TARGET static inline void pool_consider(v8f value, int position, v8f *best, v8i *offset) {
    v8i wins = (value > *best) | ((value != value) & (*best == *best));
    *best = (v8f)((wins & (v8i)value) | (~wins & (v8i)*best));
    *offset = (wins & (v8i)position) | (~wins & *offset);
}

/* Eight windows from the two rows at top[0..<16] and bottom[0..<16]: values into y[0..<count],
   arg-maxes (first + 2 * lane + the winner's offset) into argmax[0..<count]. */
AVX2_TARGET static inline void pool_eight(const float *top, const float *bottom, long w, long first, float *y,
                                          int32_t *argmax, long count) {
    const v8i lanes = {0, 2, 4, 6, 8, 10, 12, 14};
    v16f t, b;
    memcpy(&t, top, sizeof t);
    memcpy(&b, bottom, sizeof b);
    v8f best = __builtin_shufflevector(t, t, 0, 2, 4, 6, 8, 10, 12, 14);
    v8i offset = (v8i)0;
    pool_consider(__builtin_shufflevector(t, t, 1, 3, 5, 7, 9, 11, 13, 15), 1, &best, &offset);
    pool_consider(__builtin_shufflevector(b, b, 0, 2, 4, 6, 8, 10, 12, 14), (int)w, &best, &offset);
    pool_consider(__builtin_shufflevector(b, b, 1, 3, 5, 7, 9, 11, 13, 15), (int)w + 1, &best, &offset);
    v8i index = lanes + (int)first + offset;
    memcpy(y, &best, (size_t)count * sizeof(float));
    memcpy(argmax, &index, (size_t)count * sizeof(int32_t));
}

AVX2_TARGET
void fm_max_pool_2x2_plane_avx2(const float *x, long w, long ho, long wo, float *y, int32_t *argmax) {
    for (long oy = 0; oy < ho; oy++) {
        long top = 2 * oy * w, outRow = oy * wo, ox = 0;
        for (; ox + 8 <= wo; ox += 8)
            pool_eight(x + top + 2 * ox, x + top + w + 2 * ox, w, top + 2 * ox, y + outRow + ox,
                       argmax + outRow + ox, 8);
        /* The row's last 1 to 7 windows take one eight-lane step too, on zero-padded copies of
           the two rows (a scalar loop's data-dependent branches mispredict, as in the Swift
           code); the padded lanes are not stored. */
        long rest = wo - ox;
        if (rest > 0) {
            float t[16] = {0}, b[16] = {0};
            memcpy(t, x + top + 2 * ox, (size_t)(2 * rest) * sizeof(float));
            memcpy(b, x + top + w + 2 * ox, (size_t)(2 * rest) * sizeof(float));
            pool_eight(t, b, w, top + 2 * ox, y + outRow + ox, argmax + outRow + ox, rest);
        }
    }
}

/* ---- The same pool with AVX-512: sixteen windows a step, and a row's last windows by masked
   loads and stores instead of copies through zero-padded buffers (on the AMD EPYC Zen 3 the
   AVX2 form's tails by AVX2 masked loads and stores measured slower than the copies: 15x15
   planes 15.7-23.7 against 11.2-13.8 ms for 65,536 planes, 2026-12-02). airbench's planes are 31, 15
   and 7 wide, so every row of theirs ends in such a tail; the copies (two variable-length
   memcpy calls in, two out, per row) made the AVX2 form 3.4x (15x15) and 7.6x (7x7) slower than
   copying the tensor. The comparisons and selections are pool_consider's, so the bits are. ---- */

#define AVX512_TARGET __attribute__((target("avx512f,avx512vl")))

AVX512_TARGET static inline void pool_consider16(__m512 value, int position, __m512 *best, __m512i *offset) {
    __mmask16 wins = _mm512_cmp_ps_mask(value, *best, _CMP_GT_OQ)
                   | (_mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(*best, *best, _CMP_ORD_Q));
    *best = _mm512_mask_mov_ps(*best, wins, value);
    *offset = _mm512_mask_mov_epi32(*offset, wins, _mm512_set1_epi32(position));
}

/* `count` (1...16) windows from the two rows at top[0..<2 count] and bottom[0..<2 count]. Lanes
   past the windows load nothing (masked), so they cannot fault, and are not stored. */
AVX512_TARGET static inline void pool_sixteen(const float *top, const float *bottom, long w, long first, float *y,
                                              int32_t *argmax, long count) {
    const long need = 2 * count;
    const __mmask16 low = need >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << need) - 1);
    const __mmask16 high = need <= 16 ? (__mmask16)0 : (__mmask16)((1u << (need - 16)) - 1);
    const __mmask16 out = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 t0 = _mm512_maskz_loadu_ps(low, top), t1 = _mm512_maskz_loadu_ps(high, top + 16);
    __m512 b0 = _mm512_maskz_loadu_ps(low, bottom), b1 = _mm512_maskz_loadu_ps(high, bottom + 16);
    __m512 best = _mm512_permutex2var_ps(t0, even, t1);
    __m512i offset = _mm512_setzero_si512();
    pool_consider16(_mm512_permutex2var_ps(t0, odd, t1), 1, &best, &offset);
    pool_consider16(_mm512_permutex2var_ps(b0, even, b1), (int)w, &best, &offset);
    pool_consider16(_mm512_permutex2var_ps(b0, odd, b1), (int)w + 1, &best, &offset);
    __m512i index = _mm512_add_epi32(_mm512_add_epi32(even, _mm512_set1_epi32((int)first)), offset);
    _mm512_mask_storeu_ps(y, out, best);
    _mm512_mask_storeu_epi32(argmax, out, index);
}

AVX512_TARGET
void fm_max_pool_2x2_planes_avx512(const float *x, long planes, long h, long w, long ho, long wo, float *y,
                                   int32_t *argmax) {
    for (long plane = 0; plane < planes; plane++) {
        const float *xin = x + plane * h * w;
        float *yout = y + plane * ho * wo;
        int32_t *aout = argmax + plane * ho * wo;
        for (long oy = 0; oy < ho; oy++) {
            long top = 2 * oy * w, outRow = oy * wo;
            for (long ox = 0; ox < wo; ox += 16) {
                long count = wo - ox < 16 ? wo - ox : 16;
                pool_sixteen(xin + top + 2 * ox, xin + top + w + 2 * ox, w, top + 2 * ox, yout + outRow + ox,
                             aout + outRow + ox, count);
            }
        }
    }
}

/* A window that covers its whole plane (airbench's final MaxPool2d(3) on 3x3 maps): sixteen
   planes a step, element j of each gathered and considered in plane order, as the general loop
   considers a window's pixels; the arg-max is the flat index j. The general loop spent about
   40 ns a plane on its branches. Selections only, so its bits. */
AVX512_TARGET
void fm_max_pool_whole_planes_avx512(const float *x, long planes, long plane, float *y, int32_t *argmax) {
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i stride = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)plane));
    for (long first = 0; first < planes; first += 16) {
        const long count = planes - first < 16 ? planes - first : 16;
        const __mmask16 in = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
        const float *base = x + first * plane;
        __m512 best = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, stride, base, 4);
        __m512i offset = _mm512_setzero_si512();
        for (long j = 1; j < plane; j++)
            pool_consider16(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, stride, base + j, 4), (int)j, &best,
                            &offset);
        _mm512_mask_storeu_ps(y + first, in, best);
        _mm512_mask_storeu_epi32(argmax + first, in, offset);
    }
}

/* The backward of that pool (maxPool2x2BackwardPlane in MaxPool2d.swift) with AVX-512: each
   window's four pixels get its gradient (zero where the fused ReLU's output is not positive) or
   zero by the recorded arg-max, sixteen windows a step, a row's last windows by masked loads and
   stores (the Swift code takes them one by one); the column and row an odd size leaves outside
   every window get zero. Selections only, so the Swift code's bits. */
AVX512_TARGET
void fm_max_pool_2x2_backward_planes_avx512(const float *g, const int32_t *argmax, const float *relu, long planes,
                                            long h, long w, long ho, long wo, float *dx) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i one = _mm512_set1_epi32(1), right = _mm512_set1_epi32((int)w), rightOne = _mm512_set1_epi32((int)w + 1);
    for (long plane = 0; plane < planes; plane++) {
        const float *gPlane = g + plane * ho * wo, *reluPlane = relu ? relu + plane * ho * wo : 0;
        const int32_t *argPlane = argmax + plane * ho * wo;
        float *dxPlane = dx + plane * h * w;
        for (long oy = 0; oy < ho; oy++) {
            const long top = 2 * oy * w;
            float *topRow = dxPlane + top, *bottomRow = topRow + w;
            for (long ox = 0; ox < wo; ox += 16) {
                const long count = wo - ox < 16 ? wo - ox : 16, need = 2 * count;
                const __mmask16 in = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
                const __mmask16 first = need >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << need) - 1);
                const __mmask16 second = need <= 16 ? (__mmask16)0 : (__mmask16)((1u << (need - 16)) - 1);
                const long at = oy * wo + ox;
                __m512 value = _mm512_maskz_loadu_ps(in, gPlane + at);
                if (reluPlane)
                    value = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(in, reluPlane + at),
                                                                   _mm512_setzero_ps(), _CMP_GT_OQ), value);
                __m512i offset = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(in, argPlane + at),
                                                  _mm512_add_epi32(even, _mm512_set1_epi32((int)(top + 2 * ox))));
                __m512 topLeft = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(offset, _mm512_setzero_si512()), value);
                __m512 topRight = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(offset, one), value);
                __m512 bottomLeft = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(offset, right), value);
                __m512 bottomRight = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(offset, rightOne), value);
                _mm512_mask_storeu_ps(topRow + 2 * ox, first, _mm512_permutex2var_ps(topLeft, low, topRight));
                _mm512_mask_storeu_ps(topRow + 2 * ox + 16, second, _mm512_permutex2var_ps(topLeft, high, topRight));
                _mm512_mask_storeu_ps(bottomRow + 2 * ox, first, _mm512_permutex2var_ps(bottomLeft, low, bottomRight));
                _mm512_mask_storeu_ps(bottomRow + 2 * ox + 16, second,
                                      _mm512_permutex2var_ps(bottomLeft, high, bottomRight));
            }
            if (w > 2 * wo) {
                topRow[w - 1] = 0;
                bottomRow[w - 1] = 0;
            }
        }
        if (h > 2 * ho)
            for (long x = 0; x < w; x++) dxPlane[2 * ho * w + x] = 0;
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
#define FM_UNUSED_RUN_SUMS(suffix)                                                                   \
    void fm_run_sums_strided_##suffix(int kind, const float *g, const float *x, long n, long runs, long stride, \
                                      float mean, float scale, float shift, float *acc) {           \
        (void)kind; (void)g; (void)x; (void)n; (void)runs; (void)stride; (void)mean; (void)scale;     \
        (void)shift; (void)acc;                                                                    \
    }
FM_UNUSED_RUN_SUMS(avx512)
FM_UNUSED_RUN_SUMS(avx2)
#define FM_UNUSED_CHUNKS(suffix)                                                                     \
    void fm_channel_chunk_sums_##suffix(int kind, const float *g, const float *x, long n, long c,     \
                                        long plane, long group, long ch0, long count,                \
                                        const float *params, double *sums, double *dots) {           \
        (void)kind; (void)g; (void)x; (void)n; (void)c; (void)plane; (void)group; (void)ch0;          \
        (void)count; (void)params; (void)sums; (void)dots;                                          \
    }                                                                                               \
    void fm_bn_forward_chunk_##suffix(const float *x, float *y, long n, long c, long plane, long ch0, \
                                      long count, const float *coefficients, int relu) {            \
        (void)x; (void)y; (void)n; (void)c; (void)plane; (void)ch0; (void)count; (void)coefficients;  \
        (void)relu;                                                                                 \
    }                                                                                               \
    void fm_bn_backward_chunk_##suffix(const float *x, const float *dy, float *dx, long n, long c,    \
                                       long plane, long ch0, long count, const float *coefficients, \
                                       int masked) {                                                \
        (void)x; (void)dy; (void)dx; (void)n; (void)c; (void)plane; (void)ch0; (void)count;          \
        (void)coefficients; (void)masked;                                                           \
    }                                                                                               \
    void fm_bn_gelu_gradient_chunk_##suffix(const float *x, const float *dz, float *dy, long n,       \
                                            long c, long plane, long ch0, long count,                \
                                            const float *coefficients) {                             \
        (void)x; (void)dz; (void)dy; (void)n; (void)c; (void)plane; (void)ch0; (void)count;          \
        (void)coefficients;                                                                         \
    }                                                                                               \
    void fm_bn_gelu_gradient_sums_chunk_##suffix(const float *x, const float *dz, float *dy, long n,  \
                                                 long c, long plane, long group, long ch0,           \
                                                 long count, const float *params, double *sums,      \
                                                 double *dots) {                                     \
        (void)x; (void)dz; (void)dy; (void)n; (void)c; (void)plane; (void)group; (void)ch0;          \
        (void)count; (void)params; (void)sums; (void)dots;                                          \
    }
FM_UNUSED_CHUNKS(avx512)
FM_UNUSED_CHUNKS(avx2)
void fm_bf16_round_floats_avx512(float *x, long count) { (void)x; (void)count; }
void fm_bf16_round_floats_avx2(float *x, long count) { (void)x; (void)count; }
void fm_max_pool_2x2_plane_avx2(const float *x, long w, long ho, long wo, float *y, int32_t *argmax) {
    (void)x; (void)w; (void)ho; (void)wo; (void)y; (void)argmax;
}
void fm_max_pool_2x2_planes_avx512(const float *x, long planes, long h, long w, long ho, long wo, float *y,
                                   int32_t *argmax) {
    (void)x; (void)planes; (void)h; (void)w; (void)ho; (void)wo; (void)y; (void)argmax;
}
void fm_max_pool_whole_planes_avx512(const float *x, long planes, long plane, float *y, int32_t *argmax) {
    (void)x; (void)planes; (void)plane; (void)y; (void)argmax;
}
void fm_max_pool_2x2_backward_planes_avx512(const float *g, const int32_t *argmax, const float *relu, long planes,
                                            long h, long w, long ho, long wo, float *dx) {
    (void)g; (void)argmax; (void)relu; (void)planes; (void)h; (void)w; (void)ho; (void)wo; (void)dx;
}
void fm_pack_b_rows_avx512(const float *b, long rowStride, long kc, long nc, long nr, float *dst) {
    (void)b; (void)rowStride; (void)kc; (void)nc; (void)nr; (void)dst;
}
void fm_pack_b_rows_avx2(const float *b, long rowStride, long kc, long nc, long nr, float *dst) {
    (void)b; (void)rowStride; (void)kc; (void)nc; (void)nr; (void)dst;
}

#endif
