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

/* The weight gradient's lane sums for output channels o0 ..< o0 + OC, input channel c and kernel
   row i of one image (fm_conv_wgrad_rows_avx2): KW x OC accumulators (at most 10 of the 16 ymm
   registers, with OC loads of dy and one of x beside them), per vector of 8 output pixels one
   load of each channel's dy, KW loads of the input row shifted by j, KW x OC FMAs. The last
   vector of a row takes dy's remaining pixels and zeros, so the input lanes past wo it reads
   (the row's padding or the next row, finite) add nothing. */
V8_TARGET __attribute__((always_inline))
static inline void wgrad_rows(const float *xpad, long channels, long hp, long wp, long kh, const float *dy, long ho,
                              long wo, float *acc, int accumulate, long o0, long c, long i, const int OC, const int KW) {
    const long ostride = channels * kh * KW * 8;
    float *a0 = acc + ((o0 * channels + c) * kh + i) * KW * 8;
    v8f a[2][7];
#pragma clang loop unroll(full)
    for (int k = 0; k < OC; k++)
#pragma clang loop unroll(full)
        for (int j = 0; j < KW; j++) a[k][j] = accumulate ? load8(a0 + k * ostride + 8 * j) : (v8f)0.0f;
    const long full = wo / 8, rest = wo - 8 * full;
    for (long oy = 0; oy < ho; oy++) {
        const float *xr = xpad + (c * hp + oy + i) * wp, *d0 = dy + (o0 * ho + oy) * wo;
        for (long v = 0; v <= full; v++) {
            if (v == full && rest == 0) break;
            v8f d[2];
#pragma clang loop unroll(full)
            for (int k = 0; k < OC; k++) d[k] = v < full ? load8(d0 + k * ho * wo + 8 * v) : load_first(d0 + k * ho * wo + 8 * v, rest);
#pragma clang loop unroll(full)
            for (int j = 0; j < KW; j++) {
                const v8f x = load8(xr + 8 * v + j);
#pragma clang loop unroll(full)
                for (int k = 0; k < OC; k++) a[k][j] = fma8(d[k], x, a[k][j]);
            }
        }
    }
#pragma clang loop unroll(full)
    for (int k = 0; k < OC; k++)
#pragma clang loop unroll(full)
        for (int j = 0; j < KW; j++) store8(a0 + k * ostride + 8 * j, a[k][j]);
}

typedef void (*WgradRows)(const float *, long, long, long, long, const float *, long, long, float *, int, long, long,
                          long);

#define WGRAD_ROWS(OC, KW) \
V8_TARGET static void wgrad_rows_##OC##_##KW(const float *xpad, long channels, long hp, long wp, long kh, \
                                             const float *dy, long ho, long wo, float *acc, int accumulate, long o0, \
                                             long c, long i) { \
    wgrad_rows(xpad, channels, hp, wp, kh, dy, ho, wo, acc, accumulate, o0, c, i, OC, KW); \
}
WGRAD_ROWS(1, 1) WGRAD_ROWS(1, 2) WGRAD_ROWS(1, 3) WGRAD_ROWS(1, 4) WGRAD_ROWS(1, 5) WGRAD_ROWS(1, 6) WGRAD_ROWS(1, 7)
WGRAD_ROWS(2, 1) WGRAD_ROWS(2, 2) WGRAD_ROWS(2, 3) WGRAD_ROWS(2, 4) WGRAD_ROWS(2, 5)
/* wgradRows[OC - 1][KW - 1]: two output channels a call up to KW = 5, one past it (registers). */
static const WgradRows wgradRows[2][7] = {
    {wgrad_rows_1_1, wgrad_rows_1_2, wgrad_rows_1_3, wgrad_rows_1_4, wgrad_rows_1_5, wgrad_rows_1_6, wgrad_rows_1_7},
    {wgrad_rows_2_1, wgrad_rows_2_2, wgrad_rows_2_3, wgrad_rows_2_4, wgrad_rows_2_5, wgrad_rows_1_6, wgrad_rows_1_7}};

V8_TARGET void fm_conv_wgrad_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw,
                                       const float *dy, long outChannels, long ho, long wo, float *acc, int accumulate) {
    const long pair = kw <= 5 ? 2 : 1;
    for (long o0 = 0; o0 < outChannels; o0 += pair) {
        const long oc = outChannels - o0 < pair ? outChannels - o0 : pair;
        for (long c = 0; c < channels; c++)
            for (long i = 0; i < kh; i++)
                wgradRows[oc - 1][kw - 1](xpad, channels, hp, wp, kh, dy, ho, wo, acc, accumulate, o0, c, i);
    }
}

#else

void fm_conv_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw, const float *w,
                       const float *bias, long outChannels, long ho, long wo, float *y) {
    (void)xpad; (void)channels; (void)hp; (void)wp; (void)kh; (void)kw; (void)w; (void)bias; (void)outChannels;
    (void)ho; (void)wo; (void)y;
}

void fm_conv_wgrad_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw,
                             const float *dy, long outChannels, long ho, long wo, float *acc, int accumulate) {
    (void)xpad; (void)channels; (void)hp; (void)wp; (void)kh; (void)kw; (void)dy; (void)outChannels; (void)ho;
    (void)wo; (void)acc; (void)accumulate;
}

#endif
