#include "ConvKernels.h"

#include <stdint.h>
#include <string.h>
#include "bf16_round.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* A tile's T x OB accumulators start at the bias (or zero) and end in tile[T][16*OB]. */
__attribute__((target("avx512f"), always_inline))
static inline void tile_start(__m512 acc[28][2], const float *bias, const int OB, const int T) {
#pragma clang loop unroll(full)
    for (int b = 0; b < OB; b++) {
        __m512 init = bias ? _mm512_loadu_ps(bias + 16 * b) : _mm512_setzero_ps();
#pragma clang loop unroll(full)
        for (int k = 0; k < T; k++) acc[k][b] = init;
    }
}

__attribute__((target("avx512f"), always_inline))
static inline void tile_finish(__m512 acc[28][2], float *tile, const int OB, const int T) {
#pragma clang loop unroll(full)
    for (int k = 0; k < T; k++)
#pragma clang loop unroll(full)
        for (int b = 0; b < OB; b++) _mm512_storeu_ps(tile + (k * OB + b) * 16, acc[k][b]);
}

/* One tile: T consecutive wide-row pixels x (16*OB) output channels, summed over all taps.
   T*OB = 24 accumulators; per tap OB weight loads and T broadcasts feed T*OB FMAs. */
__attribute__((target("avx512f"), always_inline))
static inline void conv_tile(const float *x, const int *off, long taps, const float *w,
                             const float *bias, float *tile, const int OB, const int T) {
    __m512 acc[28][2];
    tile_start(acc, bias, OB, T);
    for (long t = 0; t < taps; t++) {
        const float *xp = x + off[t];
        __m512 wv[2];
#pragma clang loop unroll(full)
        for (int b = 0; b < OB; b++) wv[b] = _mm512_loadu_ps(w + 16 * (OB * t + b));
#pragma clang loop unroll(full)
        for (int k = 0; k < T; k++) {
            __m512 xb = _mm512_set1_ps(xp[k]);
#pragma clang loop unroll(full)
            for (int b = 0; b < OB; b++) acc[k][b] = _mm512_fmadd_ps(xb, wv[b], acc[k][b]);
        }
    }
    tile_finish(acc, tile, OB, T);
}

/* In-register transpose of a 16 x 16 block: r[i] lane j becomes r[j] lane i. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 *r) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) { t[2*i] = _mm512_unpacklo_ps(r[2*i], r[2*i+1]); t[2*i+1] = _mm512_unpackhi_ps(r[2*i], r[2*i+1]); }
    for (int i = 0; i < 4; i++) {
        r[4*i]   = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4*i]),   _mm512_castps_pd(t[4*i+2])));
        r[4*i+1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4*i]),   _mm512_castps_pd(t[4*i+2])));
        r[4*i+2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4*i+1]), _mm512_castps_pd(t[4*i+3])));
        r[4*i+3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4*i+1]), _mm512_castps_pd(t[4*i+3])));
    }
    for (int i = 0; i < 4; i++) {
        t[i]    = _mm512_shuffle_f32x4(r[i],   r[i+4],  0x88);
        t[i+4]  = _mm512_shuffle_f32x4(r[i],   r[i+4],  0xdd);
        t[i+8]  = _mm512_shuffle_f32x4(r[i+8], r[i+12], 0x88);
        t[i+12] = _mm512_shuffle_f32x4(r[i+8], r[i+12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i]    = _mm512_shuffle_f32x4(t[i],   t[i+8],  0x88);
        r[i+8]  = _mm512_shuffle_f32x4(t[i],   t[i+8],  0xdd);
        r[i+4]  = _mm512_shuffle_f32x4(t[i+4], t[i+12], 0x88);
        r[i+12] = _mm512_shuffle_f32x4(t[i+4], t[i+12], 0xdd);
    }
}
/* Stores pixels k0..k0+15 of a tile ([T][lanes] floats) into y: each channel's 16 pixel
   values become one vector by a 16 x 16 transpose, and the valid ones (ox < wo, q < widePlane),
   which are consecutive in y however the wide row wraps, go out with one compress and store.
   rowStart >= 0: the tile lies within one output row and starts at y offset rowStart. */
__attribute__((target("avx512f")))
static void store_pixels(const float *tile, long lanes, long T, long k0, long q0, long rowStart, long wp, long wo,
                         long widePlane, float *yBlock, long plane, long channels) {
    __mmask16 valid = 0;
    long first = -1;
    if (rowStart >= 0) {
        /* A row-aligned tile: every pixel is valid and they follow each other in y. */
        long count = T - k0 < 16 ? T - k0 : 16;
        valid = (__mmask16)((1u << count) - 1u);
        first = rowStart + k0;
    } else {
        long q = q0 + k0, oy = q / wp, ox = q % wp;
        for (long k = 0; k < 16 && k0 + k < T && q < widePlane; k++, q++) {
            if (ox < wo) {
                valid |= (__mmask16)(1u << k);
                if (first < 0) first = oy * wo + ox;
            }
            if (++ox == wp) { ox = 0; oy++; }
        }
    }
    if (!valid) return;
    __mmask16 out = (__mmask16)((1u << __builtin_popcount(valid)) - 1u);
    for (long b = 0; b * 16 < channels; b++) {
        __m512 r[16];
        for (int k = 0; k < 16; k++)
            r[k] = k0 + k < T ? _mm512_loadu_ps(tile + (k0 + k) * lanes + 16 * b) : _mm512_setzero_ps();
        transpose16(r);
        long n = channels - 16 * b < 16 ? channels - 16 * b : 16;
        for (long o = 0; o < n; o++)
            _mm512_mask_storeu_ps(yBlock + (16 * b + o) * plane + first, out, _mm512_maskz_compress_ps(valid, r[o]));
    }
}

/* A tile function: T wide-row pixels from x (floats, or bf16 pair words) over `taps` entries of
   the offset table, weights w (floats, or pair words), into tile[T][lanes]. */
typedef void (*conv_tile_fn)(const void *, const int *, long, const void *, const float *, float *);

/* conv_tile with bf16 products: x holds pair words (p[q]: bf16 of x[q] low, of x[q + 1] high),
   `off` one entry per pair of taps (j, j + 1) of a kernel row, w the matching weight pairs (a
   zero high half past an odd row). Per pair OB weight loads feed T*OB VDPBF16PS, each taking
   its pixel's word as an embedded broadcast and doing two multiply-adds per lane: a 5-tap row
   takes 3 instead of 5. */
__attribute__((target("avx512f,avx512bf16"), always_inline))
static inline void conv_tile_bf16(const uint32_t *p, const int *off, long pairs, const uint32_t *w,
                                  const float *bias, float *tile, const int OB, const int T) {
    __m512 acc[28][2];
    tile_start(acc, bias, OB, T);
    for (long t = 0; t < pairs; t++) {
        const uint32_t *pp = p + off[t];
        __m512bh wv[2];
#pragma clang loop unroll(full)
        for (int b = 0; b < OB; b++) wv[b] = (__m512bh)_mm512_loadu_si512(w + 16 * (OB * t + b));
#pragma clang loop unroll(full)
        for (int k = 0; k < T; k++) {
#pragma clang loop unroll(full)
            for (int b = 0; b < OB; b++) acc[k][b] = dpbf16_broadcast(acc[k][b], wv[b], pp + k);
        }
    }
    tile_finish(acc, tile, OB, T);
}

/* The fp32 and bf16 tiles of one shape (16*OB channels x T pixels): conv_tile_SHAPE and
   conv_tile_bf16_SHAPE. */
#define CONV_TILES(SHAPE, OB, T) \
__attribute__((target("avx512f"))) \
static void conv_tile_##SHAPE(const void *x, const int *off, long taps, const void *w, const float *bias, float *tile) { \
    conv_tile((const float *)x, off, taps, (const float *)w, bias, tile, OB, T); \
} \
__attribute__((target("avx512f,avx512bf16"))) \
static void conv_tile_bf16_##SHAPE(const void *x, const int *off, long pairs, const void *w, const float *bias, float *tile) { \
    conv_tile_bf16((const uint32_t *)x, off, pairs, (const uint32_t *)w, bias, tile, OB, T); \
}
CONV_TILES(16x24, 1, 24)
CONV_TILES(16x28, 1, 28)
CONV_TILES(16x16, 1, 16)
CONV_TILES(16x8, 1, 8)
CONV_TILES(32x12, 2, 12)
CONV_TILES(32x8, 2, 8)

/* The tile widths a block of 16 (one) or 32 (two) channels can take, the first one the
   fallback for rows no width divides, and their functions in fp32 and bf16. */
typedef struct { long T; conv_tile_fn fp32, bf16; } ConvTileWidth;
static const ConvTileWidth oneVector[] = {
    {24, conv_tile_16x24, conv_tile_bf16_16x24}, {28, conv_tile_16x28, conv_tile_bf16_16x28},
    {16, conv_tile_16x16, conv_tile_bf16_16x16}, {8, conv_tile_16x8, conv_tile_bf16_16x8}};
static const ConvTileWidth twoVectors[] = {{12, conv_tile_32x12, conv_tile_bf16_32x12}, {8, conv_tile_32x8, conv_tile_bf16_32x8}};

/* Tiles that divide the output width run along each output row and compute no dropped
   columns; otherwise tiles run along the wide rows (and drop Wp - Wo columns per row). x and
   w are floats or, with `bf16`, pair words (both 4 bytes an element). */
__attribute__((target("avx512f")))
static void conv_direct(const void *xpad, long images, long imageSize, long wp, long ho, long wo,
                        const int *offsets, long entries, const void *w, const float *bias,
                        long vectors, long outChannels, float *y, int bf16) {
    const ConvTileWidth *widths = vectors == 1 ? oneVector : twoVectors;
    const int count = vectors == 1 ? 4 : 2;
    long T = widths[0].T;
    conv_tile_fn tileFn = bf16 ? widths[0].bf16 : widths[0].fp32;
    int rowAligned = 0;
    for (int v = 0; v < count && !rowAligned; v++)
        if (wo % widths[v].T == 0) { T = widths[v].T; tileFn = bf16 ? widths[v].bf16 : widths[v].fp32; rowAligned = 1; }
    const long lanes = 16 * vectors;
    const long blocks = (outChannels + lanes - 1) / lanes;
    const long widePlane = ho * wp, plane = ho * wo;
    const uint32_t *xw = (const uint32_t *)xpad, *ww = (const uint32_t *)w;
    float tile[28 * 16] __attribute__((aligned(64)));
    for (long n = 0; n < images; n++) {
        const uint32_t *x = xw + n * imageSize;
        float *yImage = y + n * outChannels * plane;
        for (long blk = 0; blk < blocks; blk++) {
            const uint32_t *wb = ww + blk * entries * lanes;
            const float *bb = bias ? bias + blk * lanes : 0;
            long channels = outChannels - blk * lanes < lanes ? outChannels - blk * lanes : lanes;
            float *yBlock = yImage + blk * lanes * plane;
            if (rowAligned) {
                for (long oy = 0; oy < ho; oy++)
                    for (long ox = 0; ox < wo; ox += T) {
                        long q0 = oy * wp + ox;
                        tileFn(x + q0, offsets, entries, wb, bb, tile);
                        for (long k0 = 0; k0 < T; k0 += 16)
                            store_pixels(tile, lanes, T, k0, q0, oy * wo + ox, wp, wo, widePlane, yBlock, plane, channels);
                    }
            } else {
                for (long q0 = 0; q0 < widePlane; q0 += T) {
                    tileFn(x + q0, offsets, entries, wb, bb, tile);
                    for (long k0 = 0; k0 < T; k0 += 16)
                        store_pixels(tile, lanes, T, k0, q0, -1, wp, wo, widePlane, yBlock, plane, channels);
                }
            }
        }
    }
}

__attribute__((target("avx512f")))
void fm_conv_direct_avx512(const float *xpad, long images, long imageSize, long wp, long ho, long wo,
                           const int *tapOffsets, long taps, const float *w, const float *bias,
                           long vectors, long outChannels, float *y) {
    conv_direct(xpad, images, imageSize, wp, ho, wo, tapOffsets, taps, w, bias, vectors, outChannels, y, 0);
}

__attribute__((target("avx512f")))
void fm_conv_direct_bf16_avx512(const uint32_t *pairs, long images, long imageSize, long wp, long ho, long wo,
                                const int *pairOffsets, long pairCount, const uint32_t *w, const float *bias,
                                long vectors, long outChannels, float *y) {
    conv_direct(pairs, images, imageSize, wp, ho, wo, pairOffsets, pairCount, w, bias, vectors, outChannels, y, 1);
}

__attribute__((target("avx512f")))
void fm_conv_pair_words_avx512(const float *x, long count, uint32_t *p) {
    long q = 0;
    for (; q + 16 <= count; q += 16) _mm512_storeu_si512(p + q, bf16_pair16(_mm512_loadu_ps(x + q), _mm512_loadu_ps(x + q + 1)));
    for (; q < count; q++) {
        uint32_t lo, hi;
        memcpy(&lo, x + q, 4);
        memcpy(&hi, x + q + 1, 4);
        p[q] = bf16_pair_bits(lo, hi);
    }
}

#define WG_MA 8
#define WG_NB 3

__attribute__((target("avx512f")))
void fm_conv_wgrad_avx512(long outChannels, long taps, long images, long widePlane,
                          const float *dy, const float *xpad, long imageSize, const int *tapOffsets,
                          float *dw, int accumulate) {
    const long full = widePlane / 16 * 16;
    const __mmask16 tailMask = (__mmask16)((1u << (widePlane - full)) - 1u);
    for (long o0 = 0; o0 < outChannels; o0 += WG_MA) {
        /* Rows past the last channel repeat it; their sums are not stored. */
        long arow[WG_MA];
        for (int i = 0; i < WG_MA; i++) arow[i] = (o0 + i < outChannels ? o0 + i : outChannels - 1) * widePlane;
        for (long t0 = 0; t0 < taps; t0 += WG_NB) {
            long boff[WG_NB];
            for (int j = 0; j < WG_NB; j++) boff[j] = tapOffsets[t0 + j < taps ? t0 + j : taps - 1];
            __m512 acc[WG_MA][WG_NB];
#pragma clang loop unroll(full)
            for (int i = 0; i < WG_MA; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < WG_NB; j++) acc[i][j] = _mm512_setzero_ps();
            for (long n = 0; n < images; n++) {
                const float *a = dy + n * outChannels * widePlane;
                const float *b = xpad + n * imageSize;
                const float *ar[WG_MA], *br[WG_NB];
                for (int i = 0; i < WG_MA; i++) ar[i] = a + arow[i];
                for (int j = 0; j < WG_NB; j++) br[j] = b + boff[j];
                long q = 0;
                for (; q < full; q += 16) {
                    __m512 bv[WG_NB];
#pragma clang loop unroll(full)
                    for (int j = 0; j < WG_NB; j++) bv[j] = _mm512_loadu_ps(br[j] + q);
#pragma clang loop unroll(full)
                    for (int i = 0; i < WG_MA; i++) {
                        __m512 av = _mm512_loadu_ps(ar[i] + q);
#pragma clang loop unroll(full)
                        for (int j = 0; j < WG_NB; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
                    }
                }
                if (q < widePlane) {
                    __m512 bv[WG_NB];
#pragma clang loop unroll(full)
                    for (int j = 0; j < WG_NB; j++) bv[j] = _mm512_maskz_loadu_ps(tailMask, br[j] + q);
#pragma clang loop unroll(full)
                    for (int i = 0; i < WG_MA; i++) {
                        __m512 av = _mm512_maskz_loadu_ps(tailMask, ar[i] + q);
#pragma clang loop unroll(full)
                        for (int j = 0; j < WG_NB; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
                    }
                }
            }
            for (int i = 0; i < WG_MA && o0 + i < outChannels; i++) {
                float *row = dw + (o0 + i) * taps + t0;
                for (int j = 0; j < WG_NB && t0 + j < taps; j++) {
                    float s = _mm512_reduce_add_ps(acc[i][j]);
                    row[j] = accumulate ? row[j] + s : s;
                }
            }
        }
    }
}

/* A weight-gradient tile's taps x OB accumulators start at zero or at accOut (accumulate) and
   end in accOut[taps][16*OB]. */
__attribute__((target("avx512f"), always_inline))
static inline void wgrad_start(__m512 acc[25][2], const float *accOut, int accumulate, const int taps, const int OB) {
#pragma clang loop unroll(full)
    for (int t = 0; t < taps; t++)
#pragma clang loop unroll(full)
        for (int b = 0; b < OB; b++)
            acc[t][b] = accumulate ? _mm512_loadu_ps(accOut + (t * OB + b) * 16) : _mm512_setzero_ps();
}

__attribute__((target("avx512f"), always_inline))
static inline void wgrad_finish(__m512 acc[25][2], float *accOut, const int taps, const int OB) {
#pragma clang loop unroll(full)
    for (int t = 0; t < taps; t++)
#pragma clang loop unroll(full)
        for (int b = 0; b < OB; b++) _mm512_storeu_ps(accOut + (t * OB + b) * 16, acc[t][b]);
}

__attribute__((target("avx512f"), always_inline))
static inline void wgrad_channel(const float *dyT, long opad, const float *xc, long wp, long ho, long wo,
                                 float *accOut, int accumulate, const int KH, const int KW, const int OB) {
    __m512 acc[25][2];
    wgrad_start(acc, accOut, accumulate, KH * KW, OB);
    for (long oy = 0; oy < ho; oy++) {
        const float *rows[5];
#pragma clang loop unroll(full)
        for (int i = 0; i < KH; i++) rows[i] = xc + (oy + i) * wp;
        const float *d = dyT + oy * wo * opad;
        long ox = 0;
        /* P pixels at a time: each input value, broadcast once, serves every tap of its row that
           reads it for these pixels (KW + P - 1 broadcasts per kernel row instead of P * KW). At
           5x5 x 16 channels (P = 4) that is 44 loads per 100 FMAs instead of 104, off the load
           ports' limit; at 3x3 x 32 channels (P = 2, registers allow no more) 16 per 36 instead
           of 22. Accumulators, P x OB dy vectors and one broadcast stay in registers. */
        const int P = OB == 1 ? 4 : 2;
        for (; ox + P <= wo; ox += P) {
            __m512 dv[4][2];
#pragma clang loop unroll(full)
            for (int u = 0; u < P; u++)
#pragma clang loop unroll(full)
                for (int b = 0; b < OB; b++) dv[u][b] = _mm512_loadu_ps(d + (ox + u) * opad + 16 * b);
#pragma clang loop unroll(full)
            for (int i = 0; i < KH; i++)
#pragma clang loop unroll(full)
                for (int q = 0; q < KW + P - 1; q++) {
                    __m512 xb = _mm512_set1_ps(rows[i][ox + q]);
#pragma clang loop unroll(full)
                    for (int j = 0; j < KW; j++) {
                        int u = q - j;
                        if (u < 0 || u >= P) continue;
#pragma clang loop unroll(full)
                        for (int b = 0; b < OB; b++) acc[i * KW + j][b] = _mm512_fmadd_ps(xb, dv[u][b], acc[i * KW + j][b]);
                    }
                }
        }
        for (; ox < wo; ox++) {
            __m512 dv[2];
#pragma clang loop unroll(full)
            for (int b = 0; b < OB; b++) dv[b] = _mm512_loadu_ps(d + ox * opad + 16 * b);
#pragma clang loop unroll(full)
            for (int i = 0; i < KH; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < KW; j++) {
                    __m512 xb = _mm512_set1_ps(rows[i][ox + j]);
#pragma clang loop unroll(full)
                    for (int b = 0; b < OB; b++) acc[i * KW + j][b] = _mm512_fmadd_ps(xb, dv[b], acc[i * KW + j][b]);
                }
        }
    }
    wgrad_finish(acc, accOut, KH * KW, OB);
}

/* wgrad_channel with bf16 products: pixels in pairs (ox, ox + 1) of an output row. dyPairs holds
   per row and pixel pair the words (dy[ox] low, dy[ox + 1] high; a zero high half after an odd
   last pixel) of opad channels; pc the pair words of the channel's padded plane (p[q]: x[q] low,
   x[q + 1] high), so tap (i, j) of pair (ox, ox + 1) is one VDPBF16PS of the word at row
   oy + i, column ox + j: two products per lane, half the fp32 kernel's multiply-adds. */
__attribute__((target("avx512f,avx512bf16"), always_inline))
static inline void wgrad_channel_bf16(const uint32_t *dyPairs, long opad, const uint32_t *pc, long wp, long ho, long wo,
                                      float *accOut, int accumulate, const int KH, const int KW, const int OB) {
    const long wpairs = (wo + 1) / 2;
    __m512 acc[25][2];
    wgrad_start(acc, accOut, accumulate, KH * KW, OB);
    for (long oy = 0; oy < ho; oy++) {
        const uint32_t *rows[5];
#pragma clang loop unroll(full)
        for (int i = 0; i < KH; i++) rows[i] = pc + (oy + i) * wp;
        const uint32_t *d = dyPairs + oy * wpairs * opad;
        for (long pp = 0; pp < wpairs; pp++) {
            __m512bh dv[2];
#pragma clang loop unroll(full)
            for (int b = 0; b < OB; b++) dv[b] = (__m512bh)_mm512_loadu_si512(d + pp * opad + 16 * b);
#pragma clang loop unroll(full)
            for (int i = 0; i < KH; i++)
#pragma clang loop unroll(full)
                for (int j = 0; j < KW; j++)
#pragma clang loop unroll(full)
                    for (int b = 0; b < OB; b++)
                        acc[i * KW + j][b] = dpbf16_broadcast(acc[i * KW + j][b], dv[b], rows[i] + 2 * pp + j);
        }
    }
    wgrad_finish(acc, accOut, KH * KW, OB);
}

/* The fp32 and bf16 weight-gradient kernels of one shape: wgrad_SHAPE and wgrad_bf16_SHAPE. */
#define WGRAD_KERNELS(SHAPE, KH, KW, OB) \
__attribute__((target("avx512f"))) \
static void wgrad_##SHAPE(const void *dyT, long opad, const void *xc, long wp, long ho, long wo, float *accOut, int accumulate) { \
    wgrad_channel((const float *)dyT, opad, (const float *)xc, wp, ho, wo, accOut, accumulate, KH, KW, OB); \
} \
__attribute__((target("avx512f,avx512bf16"))) \
static void wgrad_bf16_##SHAPE(const void *dyPairs, long opad, const void *pc, long wp, long ho, long wo, float *accOut, int accumulate) { \
    wgrad_channel_bf16((const uint32_t *)dyPairs, opad, (const uint32_t *)pc, wp, ho, wo, accOut, accumulate, KH, KW, OB); \
}
WGRAD_KERNELS(3x3_32, 3, 3, 2)
WGRAD_KERNELS(3x3_16, 3, 3, 1)
WGRAD_KERNELS(5x5_16, 5, 5, 1)

__attribute__((target("avx512f")))
void fm_conv_gradient_pair_words_avx512(const float *dyT, long opad, long ho, long wo, uint32_t *dyPairs) {
    const long wpairs = (wo + 1) / 2;
    for (long oy = 0; oy < ho; oy++)
        for (long pp = 0; pp < wpairs; pp++) {
            const float *a = dyT + (oy * wo + 2 * pp) * opad;
            bf16_pack_rows(a, 2 * pp + 1 < wo ? a + opad : 0, opad, dyPairs + (oy * wpairs + pp) * opad);
        }
}

/* A broadcast weight-gradient kernel of one channel: fp32 data, or bf16 pair words. */
typedef void (*wgrad_fn)(const void *, long, const void *, long, long, long, float *, int);

__attribute__((target("avx512f")))
static int wgrad_bcast(long inChannels, long kh, long kw, long vectors, long blocks, const void *dy, long opad,
                       const void *x, long hp, long wp, long ho, long wo, float *acc, int accumulate, int bf16) {
    wgrad_fn kernel = 0;
    if (kh == 3 && kw == 3 && vectors == 2) kernel = bf16 ? wgrad_bf16_3x3_32 : wgrad_3x3_32;
    else if (kh == 3 && kw == 3 && vectors == 1) kernel = bf16 ? wgrad_bf16_3x3_16 : wgrad_3x3_16;
    else if (kh == 5 && kw == 5 && vectors == 1) kernel = bf16 ? wgrad_bf16_5x5_16 : wgrad_5x5_16;
    if (!kernel) return 0;
    /* fp32 and pair words are both 4 bytes an element. */
    const uint32_t *d = (const uint32_t *)dy, *xw = (const uint32_t *)x;
    const long lanes = 16 * vectors, perChannel = kh * kw * lanes;
    for (long blk = 0; blk < blocks; blk++)
        for (long c = 0; c < inChannels; c++)
            kernel(d + blk * lanes, opad, xw + c * hp * wp, wp, ho, wo, acc + (blk * inChannels + c) * perChannel, accumulate);
    return 1;
}

__attribute__((target("avx512f")))
int fm_conv_wgrad_bcast_avx512(long inChannels, long kh, long kw, long vectors, long blocks,
                               const float *dyT, long opad, const float *xpad, long hp, long wp,
                               long ho, long wo, float *acc, int accumulate) {
    return wgrad_bcast(inChannels, kh, kw, vectors, blocks, dyT, opad, xpad, hp, wp, ho, wo, acc, accumulate, 0);
}

__attribute__((target("avx512f")))
int fm_conv_wgrad_bcast_bf16_avx512(long inChannels, long kh, long kw, long vectors, long blocks,
                                    const uint32_t *dyPairs, long opad, const uint32_t *pairs, long hp, long wp,
                                    long ho, long wo, float *acc, int accumulate) {
    return wgrad_bcast(inChannels, kh, kw, vectors, blocks, dyPairs, opad, pairs, hp, wp, ho, wo, acc, accumulate, 1);
}

__attribute__((target("avx512f")))
void fm_transpose_avx512(const float *src, long rows, long cols, long lds, float *dst, long ldd) {
    for (long r0 = 0; r0 < rows; r0 += 16) {
        long nr = rows - r0 < 16 ? rows - r0 : 16;
        __mmask16 rowMask = (__mmask16)((1u << nr) - 1u);
        for (long c0 = 0; c0 < cols; c0 += 16) {
            long nc = cols - c0 < 16 ? cols - c0 : 16;
            __mmask16 colMask = (__mmask16)((1u << nc) - 1u);
            __m512 r[16];
            /* Unrolled so r stays in registers: at -O2 (SwiftPM's release level for C) this loop
               was kept, r went through the stack, and VGG's bf16 training step took 3% longer. */
#pragma clang loop unroll(full)
            for (int k = 0; k < 16; k++)
                r[k] = k < nr ? _mm512_maskz_loadu_ps(colMask, src + (r0 + k) * lds + c0) : _mm512_setzero_ps();
            transpose16(r);
            for (long k = 0; k < nc; k++) _mm512_mask_storeu_ps(dst + (c0 + k) * ldd + r0, rowMask, r[k]);
        }
    }
}

#else

void fm_transpose_avx512(const float *src, long rows, long cols, long lds, float *dst, long ldd) {
    (void)src; (void)rows; (void)cols; (void)lds; (void)dst; (void)ldd;
}

void fm_conv_gradient_pair_words_avx512(const float *dyT, long opad, long ho, long wo, uint32_t *dyPairs) {
    (void)dyT; (void)opad; (void)ho; (void)wo; (void)dyPairs;
}

int fm_conv_wgrad_bcast_bf16_avx512(long inChannels, long kh, long kw, long vectors, long blocks,
                                    const uint32_t *dyPairs, long opad, const uint32_t *pairs, long hp, long wp,
                                    long ho, long wo, float *acc, int accumulate) {
    (void)inChannels; (void)kh; (void)kw; (void)vectors; (void)blocks; (void)dyPairs; (void)opad; (void)pairs;
    (void)hp; (void)wp; (void)ho; (void)wo; (void)acc; (void)accumulate;
    return 0;
}

int fm_conv_wgrad_bcast_avx512(long inChannels, long kh, long kw, long vectors, long blocks,
                               const float *dyT, long opad, const float *xpad, long hp, long wp,
                               long ho, long wo, float *acc, int accumulate) {
    (void)inChannels; (void)kh; (void)kw; (void)vectors; (void)blocks; (void)dyT; (void)opad; (void)xpad;
    (void)hp; (void)wp; (void)ho; (void)wo; (void)acc; (void)accumulate;
    return 0;
}

void fm_conv_wgrad_avx512(long outChannels, long taps, long images, long widePlane,
                          const float *dy, const float *xpad, long imageSize, const int *tapOffsets,
                          float *dw, int accumulate) {
    (void)outChannels; (void)taps; (void)images; (void)widePlane; (void)dy; (void)xpad; (void)imageSize;
    (void)tapOffsets; (void)dw; (void)accumulate;
}

void fm_conv_direct_avx512(const float *xpad, long images, long imageSize, long wp, long ho, long wo,
                           const int *tapOffsets, long taps, const float *w, const float *bias,
                           long vectors, long outChannels, float *y) {
    (void)xpad; (void)images; (void)imageSize; (void)wp; (void)ho; (void)wo; (void)tapOffsets;
    (void)taps; (void)w; (void)bias; (void)vectors; (void)outChannels; (void)y;
}

void fm_conv_direct_bf16_avx512(const uint32_t *pairs, long images, long imageSize, long wp, long ho, long wo,
                                const int *pairOffsets, long pairCount, const uint32_t *w, const float *bias,
                                long vectors, long outChannels, float *y) {
    (void)pairs; (void)images; (void)imageSize; (void)wp; (void)ho; (void)wo; (void)pairOffsets;
    (void)pairCount; (void)w; (void)bias; (void)vectors; (void)outChannels; (void)y;
}

void fm_conv_pair_words_avx512(const float *x, long count, uint32_t *p) {
    (void)x; (void)count; (void)p;
}

#endif
