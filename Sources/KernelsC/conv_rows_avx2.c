#include "KernelsC.h"

#include <string.h>

/* The direct convolution for AVX2 CPUs without AVX-512 (ConvKernels.h, fm_conv_rows_avx2): 32
   pixels of an output row for two output channels in 8 ymm accumulators, over every tap
   (c, i, j): per tap two broadcast weights, four loads of the zero-padded input row (read in
   place, shifted by j) and eight FMAs. No packing: the implicit GEMM's packing of B costs about
   as much as its products when there are only 16 filters (the notebook's net). */

#if defined(__x86_64__)
#include "vec8_avx2.h"

/* Output channels o0 ..< o0 + OC, pixels ox0 ..< ox0 + 8 R of row oy (the last vector may run
   past wo: those lanes are computed from the row's padding or the next row and not stored). */
V8_TARGET __attribute__((always_inline))
static inline void rows_tile(const float *xpad, long channels, long hp, long wp, long kh, long kw, const float *w,
                             const float *bias, long o0, long oy, long ox0, long wo, long ho, float *y, const int OC,
                             const int R) {
    const long taps = channels * kh * kw;
    v8f acc[2][4];
#pragma clang loop unroll(full)
    for (int k = 0; k < OC; k++)
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) acc[k][r] = (v8f)(bias ? bias[o0 + k] : 0.0f);
    for (long c = 0; c < channels; c++)
        for (long i = 0; i < kh; i++) {
            const float *row = xpad + (c * hp + oy + i) * wp + ox0;
            const float *w0 = w + o0 * taps + (c * kh + i) * kw;
            for (long j = 0; j < kw; j++) {
                v8f x[4];
#pragma clang loop unroll(full)
                for (int r = 0; r < R; r++) x[r] = load8(row + j + 8 * r);
#pragma clang loop unroll(full)
                for (int k = 0; k < OC; k++) {
                    const v8f b = (v8f)w0[k * taps + j];
#pragma clang loop unroll(full)
                    for (int r = 0; r < R; r++) acc[k][r] = fma8(b, x[r], acc[k][r]);
                }
            }
        }
#pragma clang loop unroll(full)
    for (int k = 0; k < OC; k++) {
        float *out = y + ((o0 + k) * ho + oy) * wo + ox0;
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) {
            const long count = wo - ox0 - 8 * r;
            if (count > 0) store_first(out + 8 * r, acc[k][r], count);
        }
    }
}

typedef void (*RowsTile)(const float *, long, long, long, long, long, const float *, const float *, long, long, long,
                         long, long, float *);

#define ROWS_TILE(OC, R) \
V8_TARGET static void rows_tile_##OC##_##R(const float *xpad, long channels, long hp, long wp, long kh, long kw, \
                                           const float *w, const float *bias, long o0, long oy, long ox0, long wo, \
                                           long ho, float *y) { \
    rows_tile(xpad, channels, hp, wp, kh, kw, w, bias, o0, oy, ox0, wo, ho, y, OC, R); \
}
ROWS_TILE(1, 1) ROWS_TILE(1, 2) ROWS_TILE(1, 3) ROWS_TILE(1, 4)
ROWS_TILE(2, 1) ROWS_TILE(2, 2) ROWS_TILE(2, 3) ROWS_TILE(2, 4)
/* rowsTiles[OC - 1][R - 1] */
static const RowsTile rowsTiles[2][4] = {{rows_tile_1_1, rows_tile_1_2, rows_tile_1_3, rows_tile_1_4},
                                         {rows_tile_2_1, rows_tile_2_2, rows_tile_2_3, rows_tile_2_4}};

V8_TARGET void fm_conv_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw, const float *w,
                                 const float *bias, long outChannels, long ho, long wo, float *y) {
    for (long o0 = 0; o0 < outChannels; o0 += 2) {
        const long oc = outChannels - o0 < 2 ? outChannels - o0 : 2;
        for (long oy = 0; oy < ho; oy++)
            for (long ox0 = 0; ox0 < wo; ox0 += 32) {
                const long left = (wo - ox0 + 7) / 8, r = left < 4 ? left : 4;
                rowsTiles[oc - 1][r - 1](xpad, channels, hp, wp, kh, kw, w, bias, o0, oy, ox0, wo, ho, y);
            }
    }
}

#else

void fm_conv_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw, const float *w,
                       const float *bias, long outChannels, long ho, long wo, float *y) {
    (void)xpad; (void)channels; (void)hp; (void)wp; (void)kh; (void)kw; (void)w; (void)bias; (void)outChannels;
    (void)ho; (void)wo; (void)y;
}

#endif
