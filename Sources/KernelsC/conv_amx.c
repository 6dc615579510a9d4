/* Stride-1 convolution on AMX tiles, read in place from the padded image (ConvAMXKernels.h has
   the contract; Conv2dAMX.swift the Swift side). Written from Intel's SDM (TDPBF16PS, the tile
   configuration of bgemm_amx.c). */
#include "ConvAMXKernels.h"
#include "BF16Kernels.h"

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include "bf16_round.h"

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl")))

__attribute__((target("avx512f")))
void fm_conv_amx_pair_image(const float *x, long channels, long height, long width, long padding,
                            long planeWords, long pairs, uint32_t *dst) {
    long wp = width + 2 * padding, hp = height + 2 * padding;
    long plane = height * width;
    for (long cp = 0; cp < pairs; cp++) {
        uint32_t *out = dst + cp * planeWords;
        long c0 = 2 * cp, c1 = 2 * cp + 1;
        const float *lo = c0 < channels ? x + c0 * plane : 0;
        const float *hi = c1 < channels ? x + c1 * plane : 0;
        /* Top border, then each row as left border, pixels, right border; the bottom border and
           the slack after the plane are zero too, so dropped columns read finite values. */
        __builtin_memset(out, 0, (size_t)(padding * wp + padding) * 4);
        for (long h = 0; h < height; h++) {
            uint32_t *row = out + (h + padding) * wp + padding;
            for (long w = 0; w < width; w += 16) {
                long n = width - w < 16 ? width - w : 16;
                __mmask16 m = (__mmask16)((1u << n) - 1u);
                __m512 a = lo ? _mm512_maskz_loadu_ps(m, lo + h * width + w) : _mm512_setzero_ps();
                __m512 b = hi ? _mm512_maskz_loadu_ps(m, hi + h * width + w) : _mm512_setzero_ps();
                _mm512_mask_storeu_epi32(row + w, m, bf16_pair16(a, b));
            }
            /* The right border of this row and the left border of the next. */
            if (h + 1 < height) __builtin_memset(row + width, 0, (size_t)(2 * padding) * 4);
        }
        long written = (padding + height - 1) * wp + padding + width;
        if (height == 0) written = padding * wp + padding;
        __builtin_memset(out + written, 0, (size_t)(planeWords - written) * 4);
        (void)hp;
    }
}

void fm_conv_amx_pack_weights(const float *w, long outChannels, long inChannels, long taps, long oTiles,
                              long cBlocks, uint16_t *dst) {
    for (long t = 0; t < taps; t++)
        for (long ot = 0; ot < oTiles; ot++)
            for (long cb = 0; cb < cBlocks; cb++) {
                uint16_t *tile = dst + ((t * oTiles + ot) * cBlocks + cb) * 512;
                for (long r = 0; r < 16; r++) {
                    long o = ot * 16 + r;
                    for (long j = 0; j < 32; j++) {
                        long c = cb * 32 + j;
                        uint32_t bits = 0;
                        if (o < outChannels && c < inChannels) {
                            float v = w[(o * inChannels + c) * taps + t];
                            __builtin_memcpy(&bits, &v, 4);
                            bits = bf16_round_bits(bits);
                        }
                        tile[r * 32 + j] = (uint16_t)(bits >> 16);
                    }
                }
            }
}

/* Where the 16 wide pixels q0..<q0+16 land in an output plane: up to `count` runs, each a row's
   masked store at y + q0 + shift (shift = -oy * (wp - outWidth)). */
struct amx_runs {
    int count;
    long shift[20];
    __mmask16 mask[20];
};

static void amx_output_runs(long q0, long wide, long wp, long outWidth, struct amx_runs *runs) {
    runs->count = 0;
    long end = q0 + 16 < wide ? q0 + 16 : wide;
    for (long oy = q0 / wp; oy * wp < end; oy++) {
        long lo = oy * wp > q0 ? oy * wp : q0;
        long hi = oy * wp + outWidth < end ? oy * wp + outWidth : end;
        if (hi <= lo) continue;
        unsigned bits = ((1u << (hi - q0)) - 1u) & ~((1u << (lo - q0)) - 1u);
        runs->shift[runs->count] = -oy * (wp - outWidth);
        runs->mask[runs->count] = (__mmask16)bits;
        runs->count++;
    }
}

/* One block: output channels 16 ot ..< 16 ot + 32 (16 when `two` is 0) x wide pixels q0 ..< q0 + 32,
   summed over every tap and channel block, then stored through `runs` with the bias. */
AMX_TARGET __attribute__((always_inline))
static inline void amx_forward_block(const uint32_t *x, long planeWords, long cBlocks, const uint16_t *w, long oTiles,
                                     const long *offsets, long taps, long q0, long ot, long outChannels, long outPlane,
                                     const float *bias, float *y, const struct amx_runs runs[2], float *block) {
    int two = ot + 1 < oTiles;
    long stride = planeWords * 4;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (long t = 0; t < taps; t++) {
        const uint32_t *xb = x + q0 + offsets[t];
        const uint16_t *a0 = w + (t * oTiles + ot) * cBlocks * 512;
        const uint16_t *a1 = two ? a0 + cBlocks * 512 : a0;
        for (long cb = 0; cb < cBlocks; cb++) {
            _tile_loadd(6, xb + cb * 16 * planeWords, stride);
            _tile_loadd(7, xb + cb * 16 * planeWords + 16, stride);
            _tile_loadd(4, a0 + cb * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_loadd(5, a1 + cb * 512, 64);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, block, 128);
    _tile_stored(1, block + 16, 128);
    _tile_stored(2, block + 16 * 32, 128);
    _tile_stored(3, block + 16 * 32 + 16, 128);
    long rows = two ? 32 : 16;
    for (long r = 0; r < rows; r++) {
        long o = ot * 16 + r;
        if (o >= outChannels) break;
        __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        float *yo = y + o * outPlane + q0;
        for (int v = 0; v < 2; v++) {
            __m512 value = _mm512_add_ps(_mm512_load_ps(block + r * 32 + 16 * v), b);
            for (int k = 0; k < runs[v].count; k++)
                _mm512_mask_storeu_ps(yo + 16 * v + runs[v].shift[k], runs[v].mask[k], value);
        }
    }
}

AMX_TARGET
void fm_conv_amx_forward(const uint32_t *x, long planeWords, long cBlocks, const uint16_t *w, long oTiles,
                         const long *offsets, long taps, long wp, long outHeight, long outWidth, long outChannels,
                         const float *bias, float *y) {
    long wide = outHeight * wp, outPlane = outHeight * outWidth;
    float block[32 * 32] __attribute__((aligned(64)));
    struct amx_runs runs[2];
    fm_amx_configure();
    /* Keep in L1 whichever operand fits: a pair of o-tiles' weights (taps x cBlocks x 2 KiB: 36 KiB
       for 3x3 and 64 channels) over the image's pixel blocks, else the image's pixel block over
       every o-tile. Xeon 6/207 with AMX, 1 thread, batch 256, the two orders interleaved in one
       process (best of 5 x 7, CPU time, a busy host): 24->64 @31 37.1 vs 41.9 ms pixels outer;
       64-channel inputs equal; software prefetch of the next weight tiles gained nothing. */
    if (taps * cBlocks * 2048 <= 40 * 1024) {
        for (long ot = 0; ot < oTiles; ot += 2)
            for (long q0 = 0; q0 < wide; q0 += 32) {
                amx_output_runs(q0, wide, wp, outWidth, &runs[0]);
                amx_output_runs(q0 + 16, wide, wp, outWidth, &runs[1]);
                amx_forward_block(x, planeWords, cBlocks, w, oTiles, offsets, taps, q0, ot, outChannels, outPlane, bias,
                                  y, runs, block);
            }
    } else {
        for (long q0 = 0; q0 < wide; q0 += 32) {
            amx_output_runs(q0, wide, wp, outWidth, &runs[0]);
            amx_output_runs(q0 + 16, wide, wp, outWidth, &runs[1]);
            for (long ot = 0; ot < oTiles; ot += 2)
                amx_forward_block(x, planeWords, cBlocks, w, oTiles, offsets, taps, q0, ot, outChannels, outPlane, bias,
                                  y, runs, block);
        }
    }
    fm_amx_release();
}

/* ---- Weight gradient ---- */

__attribute__((target("avx512f,avx512bw,avx512vl")))
void fm_conv_amx_plane_bf16(const float *x, long channels, long height, long width, long padding, long wp,
                            long planeHalfwords, long rowHalfwords, uint16_t *dst) {
    long plane = height * width;
    for (long c = 0; c < channels; c++) {
        uint16_t *out = dst + c * rowHalfwords;
        const float *src = x + c * plane;
        __builtin_memset(out, 0, (size_t)planeHalfwords * 2);
        for (long h = 0; h < height; h++) {
            uint16_t *row = out + (h + padding) * wp + padding;
            for (long w = 0; w < width; w += 16) {
                long n = width - w < 16 ? width - w : 16;
                __mmask16 m = (__mmask16)((1u << n) - 1u);
                __m512i rounded = bf16_round16(_mm512_maskz_loadu_ps(m, src + h * width + w));
                _mm256_mask_storeu_epi16(row + w, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded, 16)));
            }
        }
    }
}

__attribute__((target("avx512f")))
void fm_conv_amx_pair_transpose(const uint16_t *wide, long rows, long rowHalfwords, long pairs, long rowsPadded,
                                uint32_t *dst) {
    const int *base = (const int *)wide;
    long rowWords = rowHalfwords / 2;
    for (long rb = 0; rb < rowsPadded; rb += 16) {
        long n = rows - rb;
        __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1u) : 0;
        __m512i index = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32((int)rb),
                                                            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
                                           _mm512_set1_epi32((int)rowWords));
        for (long k = 0; k < pairs; k++) {
            __m512i words = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, index, base + k, 4);
            _mm512_storeu_si512(dst + k * rowsPadded + rb, words);
        }
    }
}

AMX_TARGET
void fm_conv_amx_weight_gradient(const uint16_t *x, long rowHalfwords, long cTiles, const uint32_t *dy, long oTiles,
                                 long pixels, const long *offsets, long taps, float *acc, int accumulate) {
    long oPadded = oTiles * 16, cPadded = cTiles * 16;
    long xStride = rowHalfwords * 2, dyStride = oPadded * 4, accStride = oPadded * 4;
    fm_amx_configure();
    for (long t = 0; t < taps; t++) {
        for (long ct = 0; ct < cTiles; ct += 2) {
            int twoC = ct + 1 < cTiles;
            for (long ot = 0; ot < oTiles; ot += 2) {
                int twoO = ot + 1 < oTiles;
                float *c00 = acc + (t * cPadded + ct * 16) * oPadded + ot * 16;
                float *c01 = c00 + 16, *c10 = c00 + 16 * oPadded, *c11 = c10 + 16;
                if (accumulate) {
                    _tile_loadd(0, c00, accStride);
                    _tile_loadd(1, twoO ? c01 : c00, accStride);
                    _tile_loadd(2, twoC ? c10 : c00, accStride);
                    _tile_loadd(3, twoC && twoO ? c11 : c00, accStride);
                } else {
                    _tile_zero(0);
                    _tile_zero(1);
                    _tile_zero(2);
                    _tile_zero(3);
                }
                const uint16_t *a0 = x + ct * 16 * rowHalfwords + offsets[t];
                const uint16_t *a1 = twoC ? a0 + 16 * rowHalfwords : a0;
                const uint32_t *b0 = dy + ot * 16;
                const uint32_t *b1 = twoO ? b0 + 16 : b0;
                for (long k = 0; k < pixels; k += 32) {
                    _tile_loadd(4, a0 + k, xStride);
                    _tile_loadd(6, b0 + (k / 2) * oPadded, dyStride);
                    _tile_loadd(7, b1 + (k / 2) * oPadded, dyStride);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_loadd(5, a1 + k, xStride);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
                _tile_stored(0, c00, accStride);
                if (twoO) _tile_stored(1, c01, accStride);
                if (twoC) _tile_stored(2, c10, accStride);
                if (twoC && twoO) _tile_stored(3, c11, accStride);
            }
        }
    }
    fm_amx_release();
}

#else

void fm_conv_amx_pair_image(const float *x, long channels, long height, long width, long padding,
                            long planeWords, long pairs, uint32_t *dst) {
    (void)x; (void)channels; (void)height; (void)width; (void)padding; (void)planeWords; (void)pairs; (void)dst;
}
void fm_conv_amx_pack_weights(const float *w, long outChannels, long inChannels, long taps, long oTiles,
                              long cBlocks, uint16_t *dst) {
    (void)w; (void)outChannels; (void)inChannels; (void)taps; (void)oTiles; (void)cBlocks; (void)dst;
}
void fm_conv_amx_forward(const uint32_t *x, long planeWords, long cBlocks, const uint16_t *w, long oTiles,
                         const long *offsets, long taps, long wp, long outHeight, long outWidth, long outChannels,
                         const float *bias, float *y) {
    (void)x; (void)planeWords; (void)cBlocks; (void)w; (void)oTiles; (void)offsets; (void)taps; (void)wp;
    (void)outHeight; (void)outWidth; (void)outChannels; (void)bias; (void)y;
}

void fm_conv_amx_plane_bf16(const float *x, long channels, long height, long width, long padding, long wp,
                            long planeHalfwords, long rowHalfwords, uint16_t *dst) {
    (void)x; (void)channels; (void)height; (void)width; (void)padding; (void)wp; (void)planeHalfwords;
    (void)rowHalfwords; (void)dst;
}
void fm_conv_amx_pair_transpose(const uint16_t *wide, long rows, long rowHalfwords, long pairs, long rowsPadded,
                                uint32_t *dst) {
    (void)wide; (void)rows; (void)rowHalfwords; (void)pairs; (void)rowsPadded; (void)dst;
}
void fm_conv_amx_weight_gradient(const uint16_t *x, long rowHalfwords, long cTiles, const uint32_t *dy, long oTiles,
                                 long pixels, const long *offsets, long taps, float *acc, int accumulate) {
    (void)x; (void)rowHalfwords; (void)cTiles; (void)dy; (void)oTiles; (void)pixels; (void)offsets; (void)taps;
    (void)acc; (void)accumulate;
}

#endif
