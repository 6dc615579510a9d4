#include "WinogradKernels.h"
#include <string.h>
#include "bf16_round.h"

/* The transform-domain products of Winograd F(2x2, 3x3) and F(4x4, 3x3) in bf16 on AVX512-BF16
   (VDPBF16PS: per 32-bit lane, the two products of a pair of bf16 values added to an fp32 sum).
   U and V are rounded to bf16 as roundedToBF16 does (ties to even, subnormals kept, NaN kept
   NaN), in pairs of consecutive input channels c = 2q, 2q + 1 (low half 2q), so each lane's
   pair is one step of the sum over c; the sums and the output transform stay fp32. The input
   and weight transforms are the fp32 ones of winograd_avx512.c. */

void fm_winograd_weights_bf16(const float *u, long positions, long opad, long channels, uint32_t *ub) {
    const long panels = opad / 8, pairs = (channels + 1) / 2;
    for (long pp = 0; pp < positions * panels; pp++)
        for (long q = 0; q < pairs; q++)
            for (int l = 0; l < 8; l++) {
                uint32_t lo, hi = 0;
                memcpy(&lo, u + (pp * channels + 2 * q) * 8 + l, 4);
                if (2 * q + 1 < channels) memcpy(&hi, u + (pp * channels + 2 * q + 1) * 8 + l, 4);
                ub[(pp * pairs + q) * 8 + l] = bf16_pair_bits(lo, hi);
            }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define WB_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

WB_TARGET void fm_winograd_input_bf16(long positions, const float *v, long channels, long ldv, long tiles,
                                      uint32_t *vb) {
    const long pairs = (channels + 1) / 2;
    for (long p = 0; p < positions; p++)
        for (long q = 0; q < pairs; q++) {
            const float *lo = v + (p * channels + 2 * q) * ldv;
            bf16_pack_rows(lo, 2 * q + 1 < channels ? lo + ldv : 0, tiles, vb + (p * pairs + q) * ldv);
        }
}

/* An 8 x (16*NV) block of M over all channel pairs: per pair, NV loads of V, 8 broadcasts of
   U's pair, 8*NV VDPBF16PS into accumulators that stay in registers. */
WB_TARGET static inline void multiply_tile_bf16(const uint32_t *u, const uint32_t *v, long ldv, long pairs,
                                                float *m, const int NV) {
    __m512 acc[8][3];
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_ps();
    for (long q = 0; q < pairs; q++) {
        __m512bh b[3];
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) b[j] = (__m512bh)_mm512_loadu_si512(v + q * ldv + 16 * j);
#pragma clang loop unroll(full)
        for (int i = 0; i < 8; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)u[q * 8 + i]);
#pragma clang loop unroll(full)
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], a, b[j]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) _mm512_storeu_ps(m + i * ldv + 16 * j, acc[i][j]);
}

#define MULTIPLY_BF16_VARIANT(NAME, NV) \
WB_TARGET static void NAME(const uint32_t *u, const uint32_t *v, long ldv, long pairs, float *m) { \
    multiply_tile_bf16(u, v, ldv, pairs, m, NV); \
}
MULTIPLY_BF16_VARIANT(multiply_bf16_8x48, 3)
MULTIPLY_BF16_VARIANT(multiply_bf16_8x32, 2)
MULTIPLY_BF16_VARIANT(multiply_bf16_8x16, 1)

WB_TARGET void fm_winograd_multiply_bf16(long positions, const uint32_t *ub, const uint32_t *vb, float *m, long opad,
                                         long channels, long ldv, long tiles) {
    const long pairs = (channels + 1) / 2;
    for (long p = 0; p < positions; p++) {
        const uint32_t *up = ub + p * opad * pairs;
        const uint32_t *vp = vb + p * pairs * ldv;
        float *mp = m + p * opad * ldv;
        for (long t0 = 0; t0 < tiles; t0 += 48) {
            const long left = tiles - t0;
            void (*kernel)(const uint32_t *, const uint32_t *, long, long, float *) =
                left >= 48 ? multiply_bf16_8x48 : left >= 32 ? multiply_bf16_8x32 : multiply_bf16_8x16;
            for (long o0 = 0; o0 < opad; o0 += 8)
                kernel(up + o0 * pairs, vp + t0, ldv, pairs, mp + o0 * ldv + t0);
        }
    }
}

#else

void fm_winograd_input_bf16(long positions, const float *v, long channels, long ldv, long tiles, uint32_t *vb) {
    (void)positions; (void)v; (void)channels; (void)ldv; (void)tiles; (void)vb;
}

void fm_winograd_multiply_bf16(long positions, const uint32_t *ub, const uint32_t *vb, float *m, long opad,
                               long channels, long ldv, long tiles) {
    (void)positions; (void)ub; (void)vb; (void)m; (void)opad; (void)channels; (void)ldv; (void)tiles;
}

#endif
