#include "WinogradKernels.h"
#include "bf16_round.h"

/* Winograd F(2x2, 3x3): the formulas are in WinogradKernels.h; the Swift side
   (Sources/Kernels/Ops/Conv2dWinograd.swift) sizes the blocks and threads. The weight transform
   is portable C (it runs once per call on O*C*9 floats); the rest is AVX-512 behind function
   target attributes, like conv_avx512.c. */

/* U[p = n*i + j] = (G g G^T)[i][j] for the n x 3 matrix G, eight output channels at a time,
   innermost, so that the compiler runs the transform on 8-lane vectors and each position's 8
   floats of one (panel, c) are stored together. */
__attribute__((always_inline)) static inline void transform_weights(const float *w, long outChannels, long channels, long opad,
                                                                    long firstPanel, long lastPanel, float *u, int n,
                                                                    const float G[][3]) {
    const long panels = opad / 8;
    for (long o0 = 8 * firstPanel; o0 < 8 * lastPanel; o0 += 8) {
        for (long c = 0; c < channels; c++) {
            float g[9][8], gg[6][3][8], t[36][8];
            for (int j = 0; j < 9; j++)
                for (int l = 0; l < 8; l++)
                    g[j][l] = o0 + l < outChannels ? w[((o0 + l) * channels + c) * 9 + j] : 0.0f;
            for (int i = 0; i < n; i++)  /* G g */
                for (int j = 0; j < 3; j++)
                    for (int l = 0; l < 8; l++)
                        gg[i][j][l] = G[i][0] * g[j][l] + G[i][1] * g[3 + j][l] + G[i][2] * g[6 + j][l];
            for (int i = 0; i < n; i++)  /* (G g) G^T */
                for (int j = 0; j < n; j++)
                    for (int l = 0; l < 8; l++)
                        t[n * i + j][l] = G[j][0] * gg[i][0][l] + G[j][1] * gg[i][1][l] + G[j][2] * gg[i][2][l];
            for (int p = 0; p < n * n; p++)
                for (int l = 0; l < 8; l++) u[((p * panels + o0 / 8) * channels + c) * 8 + l] = t[p][l];
        }
    }
}

void fm_winograd_f2_weights(const float *w, long outChannels, long channels, long opad, long firstPanel,
                            long lastPanel, float *u) {
    static const float G[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    transform_weights(w, outChannels, channels, opad, firstPanel, lastPanel, u, 4, G);
}

void fm_winograd_f4_weights(const float *w, long outChannels, long channels, long opad, long firstPanel,
                            long lastPanel, float *u) {
    static const float G[6][3] = {{1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                  {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1}};
    transform_weights(w, outChannels, channels, opad, firstPanel, lastPanel, u, 6, G);
}

#if defined(__x86_64__)
#include <immintrin.h>

#define WG_TARGET __attribute__((target("avx512f")))

/* Lanes j of a 16-float load at row + s that lie inside the row [0, w). */
static inline __mmask16 row_mask(long s, long w) {
    long lo = -s, hi = w - s;
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

static inline __mmask16 first_lanes(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

/* Floats of each of the input transform's two row buffers (16 KiB of stack each). */
#define WG_ROW_BUFFER 4096

/* Pass 1 of the input transform of tile rows ty0 ..< ty0 + seg of one channel `src`: each input
   row the tiles read multiplied by B on the right (even/odd lanes of two loads give the four
   columns of 16 tiles) into hb[k][parity][m][tx], padded row 2*ty0 + 2m + parity. */
WG_TARGET static inline void input_rows(const float *src, long h, long w, long ty0, long mrows, float *hb) {
    const long tw = (w + 1) / 2, parity = mrows * tw, kstride = 2 * parity;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long t0 = 0; t0 < tw; t0 += 16) {
        const __mmask16 lanes = first_lanes(tw - t0);
        const long s = 2 * t0 - 1;
        const __mmask16 ma0 = row_mask(s, w), ma1 = row_mask(s + 16, w);
        const __mmask16 mb0 = row_mask(s + 2, w), mb1 = row_mask(s + 18, w);
        for (long yy = 0; yy < 2 * mrows; yy++) {
            const long y = 2 * ty0 + yy - 1;
            float *dst = hb + (yy & 1) * parity + (yy >> 1) * tw + t0;
            if (y < 0 || y >= h) {
                for (int k = 0; k < 4; k++) _mm512_mask_storeu_ps(dst + k * kstride, lanes, _mm512_setzero_ps());
                continue;
            }
            const float *row = src + y * w + s;
            __m512 a0 = _mm512_maskz_loadu_ps(ma0, row), a1 = _mm512_maskz_loadu_ps(ma1, row + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(mb0, row + 2), b1 = _mm512_maskz_loadu_ps(mb1, row + 18);
            __m512 d0 = _mm512_permutex2var_ps(a0, even, a1);
            __m512 d1 = _mm512_permutex2var_ps(a0, odd, a1);
            __m512 d2 = _mm512_permutex2var_ps(b0, even, b1);
            __m512 d3 = _mm512_permutex2var_ps(b0, odd, b1);
            _mm512_mask_storeu_ps(dst, lanes, _mm512_sub_ps(d0, d2));
            _mm512_mask_storeu_ps(dst + kstride, lanes, _mm512_add_ps(d1, d2));
            _mm512_mask_storeu_ps(dst + 2 * kstride, lanes, _mm512_sub_ps(d2, d1));
            _mm512_mask_storeu_ps(dst + 3 * kstride, lanes, _mm512_sub_ps(d1, d3));
        }
    }
}

/* Pass 2 for 16 tiles t ..< t + 16 (lanes `lanes`) and k: tile t reads padded rows 2ty .. 2ty+3,
   hb even/odd at m = ty and ty + 1 (t and t + tw); the four positions 4i + k, i < 4. */
WG_TARGET static inline void input_columns(const float *hb, long parity, long tw, long t, long k, __mmask16 lanes,
                                           __m512 *q) {
    const float *hk = hb + 2 * k * parity + t;
    __m512 e0 = _mm512_maskz_loadu_ps(lanes, hk), o0 = _mm512_maskz_loadu_ps(lanes, hk + parity);
    __m512 e1 = _mm512_maskz_loadu_ps(lanes, hk + tw), o1 = _mm512_maskz_loadu_ps(lanes, hk + parity + tw);
    q[0] = _mm512_sub_ps(e0, e1);
    q[1] = _mm512_add_ps(o0, e1);
    q[2] = _mm512_sub_ps(e1, o0);
    q[3] = _mm512_sub_ps(o0, o1);
}

/* The input transform of tile rows ty0 ..< ty0 + seg of one image, into v + t (t = (ty - ty0)*tw + tx):
   pass 1 (input_rows) per channel, then pass 2 combines four rows per tile with vectors along
   consecutive tiles, which for narrow planes span several tile rows, so the vectors are full
   whatever the width. */
WG_TARGET static void input_segment(const float *image, long channels, long h, long w, long ty0, long seg,
                                    float *v, long ldv) {
    const long tw = (w + 1) / 2, plane = h * w, pstride = channels * ldv;
    const long mrows = seg + 1, parity = mrows * tw, tiles = seg * tw;
    /* Two row buffers: pass 1 of channel c runs before pass 2 of channel c - 1, so pass 2 never
       loads what the masked stores just wrote (a store-forwarding stall on every load). */
    float buffers[2][WG_ROW_BUFFER];
    for (long c = 0; c <= channels; c++) {
        if (c < channels) input_rows(image + c * plane, h, w, ty0, mrows, buffers[c & 1]);
        if (c == 0) continue;
        const float *hb = buffers[(c - 1) & 1];
        float *out = v + (c - 1) * ldv;
        for (long t = 0; t < tiles; t += 16) {
            const __mmask16 lanes = first_lanes(tiles - t);
#pragma clang loop unroll(full)
            for (int k = 0; k < 4; k++) {
                __m512 q[4];
                input_columns(hb, parity, tw, t, k, lanes, q);
#pragma clang loop unroll(full)
                for (int i = 0; i < 4; i++) _mm512_mask_storeu_ps(out + (4 * i + k) * pstride + t, lanes, q[i]);
            }
        }
    }
}

/* input_segment with V rounded to bf16 as it is written (winograd_bf16_avx512.c's layout: vb[p][q][t],
   channels 2q and 2q + 1 in the low and high halves of each word, a zero high half past an odd
   count): pass 1 of a channel pair into two buffers while pass 2 packs the previous pair's. */
WG_TARGET static void input_segment_bf16(const float *image, long channels, long h, long w, long ty0, long seg,
                                         float *vFloats, long ldv) {
    uint32_t *v = (uint32_t *)vFloats;
    const long tw = (w + 1) / 2, plane = h * w, pairs = (channels + 1) / 2, pstride = pairs * ldv;
    const long mrows = seg + 1, parity = mrows * tw, tiles = seg * tw;
    float buffers[2][2][WG_ROW_BUFFER];
    for (long q = 0; q <= pairs; q++) {
        if (q < pairs) {
            input_rows(image + 2 * q * plane, h, w, ty0, mrows, buffers[q & 1][0]);
            if (2 * q + 1 < channels) input_rows(image + (2 * q + 1) * plane, h, w, ty0, mrows, buffers[q & 1][1]);
        }
        if (q == 0) continue;
        const float *lo = buffers[(q - 1) & 1][0], *hi = buffers[(q - 1) & 1][1];
        const int hasHigh = 2 * (q - 1) + 1 < channels;
        uint32_t *out = v + (q - 1) * ldv;
        for (long t = 0; t < tiles; t += 16) {
            const __mmask16 lanes = first_lanes(tiles - t);
#pragma clang loop unroll(full)
            for (int k = 0; k < 4; k++) {
                __m512 a[4], b[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                input_columns(lo, parity, tw, t, k, lanes, a);
                if (hasHigh) input_columns(hi, parity, tw, t, k, lanes, b);
#pragma clang loop unroll(full)
                for (int i = 0; i < 4; i++)
                    _mm512_mask_storeu_epi32(out + (4 * i + k) * pstride + t, lanes,
                                             bf16_pair16(a[i], b[i]));
            }
        }
    }
}

typedef void (*InputSegment)(const float *, long, long, long, long, long, float *, long);

/* The input transform of tile rows firstRow ..< firstRow + rows (side x side output tiles) as
   segments of at most `most` tile rows of one image each, then zeros in the padding tiles. */
WG_TARGET static void input_blocks(InputSegment segment, long side, long vRows, long most,
                                   const float *x, long channels, long h, long w, long firstRow, long rows,
                                   float *v, long ldv) {
    const long th = (h + side - 1) / side, tw = (w + side - 1) / side;
    for (long r = 0; r < rows;) {
        const long n = (firstRow + r) / th, ty = (firstRow + r) % th;
        long seg = th - ty < rows - r ? th - ty : rows - r;
        if (seg > most) seg = most;
        segment(x + n * channels * h * w, channels, h, w, ty, seg, v + r * tw, ldv);
        r += seg;
    }
    const long used = rows * tw;
    if (used < ldv)
        for (long pc = 0; pc < vRows; pc++)
            for (long t = used; t < ldv; t++) v[pc * ldv + t] = 0;
}

WG_TARGET void fm_winograd_f2_input(const float *x, long channels, long h, long w, long firstRow, long rows,
                                    float *v, long ldv) {
    /* Tile rows per segment: the row buffer holds 4 * 2 * (seg + 1) * tw floats. */
    const long most = WG_ROW_BUFFER / (8 * ((w + 1) / 2)) - 1;
    input_blocks(input_segment, 2, 16 * channels, most, x, channels, h, w, firstRow, rows, v, ldv);
}

WG_TARGET void fm_winograd_f2_input_bf16(const float *x, long channels, long h, long w, long firstRow, long rows,
                                         uint32_t *vb, long ldv) {
    const long most = WG_ROW_BUFFER / (8 * ((w + 1) / 2)) - 1;
    /* The padding tiles' zero words are zero floats' bits. */
    input_blocks(input_segment_bf16, 2, 16 * ((channels + 1) / 2), most, x, channels, h, w, firstRow, rows,
                 (float *)vb, ldv);
}

/* An 8 x (16*NV) block of M over all channels: per channel, NV loads of V, 8 broadcasts of U,
   8*NV FMAs into accumulators that stay in registers. */
WG_TARGET static inline void multiply_tile(const float *u, const float *v, long ldv, long channels,
                                           float *m, const int NV) {
    __m512 acc[8][3];
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_ps();
    for (long c = 0; c < channels; c++) {
        __m512 b[3];
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) b[j] = _mm512_loadu_ps(v + c * ldv + 16 * j);
#pragma clang loop unroll(full)
        for (int i = 0; i < 8; i++) {
            __m512 a = _mm512_set1_ps(u[c * 8 + i]);
#pragma clang loop unroll(full)
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++)
#pragma clang loop unroll(full)
        for (int j = 0; j < NV; j++) _mm512_storeu_ps(m + i * ldv + 16 * j, acc[i][j]);
}

#define MULTIPLY_VARIANT(NAME, NV) \
WG_TARGET static void NAME(const float *u, const float *v, long ldv, long channels, float *m) { \
    multiply_tile(u, v, ldv, channels, m, NV); \
}
MULTIPLY_VARIANT(multiply_8x48, 3)
MULTIPLY_VARIANT(multiply_8x32, 2)
MULTIPLY_VARIANT(multiply_8x16, 1)

WG_TARGET void fm_winograd_multiply(long positions, const float *u, const float *v, float *m, long opad,
                                    long channels, long ldv, long tiles) {
    for (long p = 0; p < positions; p++) {
        const float *up = u + p * opad * channels;
        const float *vp = v + p * channels * ldv;
        float *mp = m + p * opad * ldv;
        for (long t0 = 0; t0 < tiles; t0 += 48) {
            const long left = tiles - t0;
            void (*kernel)(const float *, const float *, long, long, float *) =
                left >= 48 ? multiply_8x48 : left >= 32 ? multiply_8x32 : multiply_8x16;
            /* The V panel (channels x 48) stays in L1 while the output channels go by. */
            for (long o0 = 0; o0 < opad; o0 += 8)
                kernel(up + o0 * channels, vp + t0, ldv, channels, mp + o0 * ldv + t0);
        }
    }
}

/* A^T M A for 16 tiles from the 16 products q[p], plus the bias: the 2x2 outputs of each tile. */
WG_TARGET static inline void tile_outputs(const __m512 *q, __m512 b, __m512 *y00, __m512 *y01, __m512 *y10, __m512 *y11) {
    __m512 s0[4], s1[4];
#pragma clang loop unroll(full)
    for (int k = 0; k < 4; k++) {
        s0[k] = _mm512_add_ps(_mm512_add_ps(q[k], q[4 + k]), q[8 + k]);
        s1[k] = _mm512_sub_ps(_mm512_sub_ps(q[4 + k], q[8 + k]), q[12 + k]);
    }
    *y00 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]), b);
    *y01 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]), b);
    *y10 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]), b);
    *y11 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]), b);
}

/* Output rows interleave each tile's left and right outputs: lanes 0..15 and 16..31 of (a, b). */
#define WG_INTERLEAVE_LO _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define WG_INTERLEAVE_HI _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* Tile rows ty0 ..< ty0 + seg of one image (tiles m + t, t = (ty - ty0)*tw + tx), any width:
   vectors along the tiles of one tile row, masked at the plane's edges. */
WG_TARGET static void output_rows(const float *m, long pstride, long ldv, long outChannels, const float *bias,
                                  long h, long w, long ty0, long seg, float *image) {
    const long tw = (w + 1) / 2, plane = h * w;
    const __m512i lo = WG_INTERLEAVE_LO, hi = WG_INTERLEAVE_HI;
    for (long o = 0; o < outChannels; o++) {
        const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        for (long r = 0; r < seg; r++) {
            const long ty = ty0 + r;
            const float *src = m + o * ldv + r * tw;
            float *out = image + o * plane + 2 * ty * w;
            for (long t0 = 0; t0 < tw; t0 += 16) {
                const __mmask16 lanes = first_lanes(tw - t0);
                __m512 q[16], y00, y01, y10, y11;
#pragma clang loop unroll(full)
                for (int p = 0; p < 16; p++) q[p] = _mm512_maskz_loadu_ps(lanes, src + p * pstride + t0);
                tile_outputs(q, b, &y00, &y01, &y10, &y11);
                const long x0 = 2 * t0, count = w - x0 < 32 ? w - x0 : 32;
                const __mmask16 m0 = first_lanes(count), m1 = first_lanes(count - 16 > 0 ? count - 16 : 0);
                _mm512_mask_storeu_ps(out + x0, m0, _mm512_permutex2var_ps(y00, lo, y01));
                _mm512_mask_storeu_ps(out + x0 + 16, m1, _mm512_permutex2var_ps(y00, hi, y01));
                if (2 * ty + 1 < h) {
                    _mm512_mask_storeu_ps(out + w + x0, m0, _mm512_permutex2var_ps(y10, lo, y11));
                    _mm512_mask_storeu_ps(out + w + x0 + 16, m1, _mm512_permutex2var_ps(y10, hi, y11));
                }
            }
        }
    }
}

/* The same for even planes 8, 16 or 32 wide (tw = 4, 8, 16) and whole vectors of tile rows:
   16 tiles are 16/tw tile rows, whose outputs are 64 consecutive floats of the plane, stored as
   four full vectors. */
WG_TARGET static void output_planes(const float *m, long pstride, long ldv, long outChannels, const float *bias,
                                    long w, long ty0, long seg, float *image, long plane) {
    const long tw = w / 2, tiles = seg * tw;
    const __m512i lo = WG_INTERLEAVE_LO, hi = WG_INTERLEAVE_HI;
    for (long o = 0; o < outChannels; o++) {
        const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        const float *src = m + o * ldv;
        float *out = image + o * plane + 2 * ty0 * w;
        for (long t = 0; t < tiles; t += 16, out += 64) {
            __m512 q[16], y00, y01, y10, y11;
#pragma clang loop unroll(full)
            for (int p = 0; p < 16; p++) q[p] = _mm512_loadu_ps(src + p * pstride + t);
            tile_outputs(q, b, &y00, &y01, &y10, &y11);
            __m512 e0 = _mm512_permutex2var_ps(y00, lo, y01), e1 = _mm512_permutex2var_ps(y00, hi, y01);
            __m512 d0 = _mm512_permutex2var_ps(y10, lo, y11), d1 = _mm512_permutex2var_ps(y10, hi, y11);
            if (tw == 16) {         /* rows of 32: even row, odd row */
                _mm512_storeu_ps(out, e0); _mm512_storeu_ps(out + 16, e1);
                _mm512_storeu_ps(out + 32, d0); _mm512_storeu_ps(out + 48, d1);
            } else if (tw == 8) {   /* rows of 16: two tile rows */
                _mm512_storeu_ps(out, e0); _mm512_storeu_ps(out + 16, d0);
                _mm512_storeu_ps(out + 32, e1); _mm512_storeu_ps(out + 48, d1);
            } else {                /* rows of 8: e and d hold two tile rows each, in 256-bit halves */
                _mm512_storeu_ps(out, _mm512_shuffle_f32x4(e0, d0, 0x44));
                _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(e0, d0, 0xEE));
                _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(e1, d1, 0x44));
                _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(e1, d1, 0xEE));
            }
        }
    }
}

/* The same for narrow planes (tw < 16: a tile row would fill a quarter or half of a vector):
   vectors along 16 consecutive tiles of the segment, which span several tile rows; each run of
   one tile row's outputs is a masked store at a base shifted so that its first lane lands on
   the row's first column (masked-off lanes are neither written nor faulted). */
WG_TARGET static void output_packed(const float *m, long pstride, long ldv, long outChannels, const float *bias,
                                    long h, long w, long ty0, long seg, float *image) {
    const long tw = (w + 1) / 2, plane = h * w, tiles = seg * tw;
    const __m512i lo = WG_INTERLEAVE_LO, hi = WG_INTERLEAVE_HI;
    for (long o = 0; o < outChannels; o++) {
        const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
        const float *src = m + o * ldv;
        float *out = image + o * plane + 2 * ty0 * w;
        for (long t0 = 0; t0 < tiles; t0 += 16) {
            const __mmask16 lanes = first_lanes(tiles - t0);
            __m512 q[16], y00, y01, y10, y11;
#pragma clang loop unroll(full)
            for (int p = 0; p < 16; p++) q[p] = _mm512_maskz_loadu_ps(lanes, src + p * pstride + t0);
            tile_outputs(q, b, &y00, &y01, &y10, &y11);
            const __m512 even[2] = {_mm512_permutex2var_ps(y00, lo, y01), _mm512_permutex2var_ps(y00, hi, y01)};
            const __m512 odd[2] = {_mm512_permutex2var_ps(y10, lo, y11), _mm512_permutex2var_ps(y10, hi, y11)};
            /* Half hf holds tiles k0 ..< k0 + 8, two lanes (left, right output) each. */
            for (int hf = 0; hf < 2; hf++) {
                const long k0 = t0 + 8 * hf, kEnd = k0 + 8 < tiles ? k0 + 8 : tiles;
                for (long k = k0; k < kEnd;) {
                    const long r = k / tw, tx = k % tw;
                    const long runEnd = (r + 1) * tw < kEnd ? (r + 1) * tw : kEnd;
                    const long first = 2 * (k - k0), columns = 2 * (runEnd - k) < w - 2 * tx ? 2 * (runEnd - k) : w - 2 * tx;
                    const __mmask16 mask = (__mmask16)(((1u << columns) - 1u) << first);
                    float *row = out + 2 * r * w + 2 * tx - first;
                    _mm512_mask_storeu_ps(row, mask, even[hf]);
                    if (2 * (ty0 + r) + 1 < h) _mm512_mask_storeu_ps(row + w, mask, odd[hf]);
                    k = runEnd;
                }
            }
        }
    }
}

WG_TARGET void fm_winograd_f2_output(const float *m, long opad, long ldv, long outChannels, const float *bias,
                                     long h, long w, long firstRow, long rows, float *y) {
    const long th = (h + 1) / 2, tw = (w + 1) / 2, plane = h * w, pstride = opad * ldv;
    for (long r = 0; r < rows;) {
        const long n = (firstRow + r) / th, ty = (firstRow + r) % th;
        const long seg = th - ty < rows - r ? th - ty : rows - r;
        float *image = y + n * outChannels * plane;
        if ((w == 8 || w == 16 || w == 32) && h % 2 == 0 && (seg * tw) % 16 == 0)
            output_planes(m + r * tw, pstride, ldv, outChannels, bias, w, ty, seg, image, plane);
        else if (tw < 16)
            output_packed(m + r * tw, pstride, ldv, outChannels, bias, h, w, ty, seg, image);
        else
            output_rows(m + r * tw, pstride, ldv, outChannels, bias, h, w, ty, seg, image);
        r += seg;
    }
}

/* ---- F(4x4, 3x3): 6x6 patches, 36 positions, 4x4 output tiles ---- */

/* f4_bt (r = B^T d for one 6-vector d): winograd_f4_bt.h, shared with the weight gradient. */
#include "winograd_f4_bt.h"

/* y = A^T m for one 6-vector m (A^T rows: 1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1). */
WG_TARGET static inline void f4_at(const __m512 *m, __m512 *y) {
    __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_sub_ps(m[1], m[2]);
    __m512 c = _mm512_add_ps(m[3], m[4]), d = _mm512_sub_ps(m[3], m[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d, b);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), c, a);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d, b), m[5]);
}

#define WG_F4_BUFFER 6144

/* As input_segment, for F(4x4, 3x3): pass 1 multiplies each input row by B (8 tiles per
   vector: lanes 4l + j of two loads) into hb[k][row % 4][row / 4][tx]; pass 2 combines six rows
   per tile along 16 consecutive tiles. */
WG_TARGET static void f4_input_segment(const float *image, long channels, long h, long w, long ty0, long seg,
                                       float *v, long ldv) {
    const long tw = (w + 3) / 4, plane = h * w, pstride = channels * ldv;
    const __m512i q0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i q1 = _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i q2 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i q3 = _mm512_setr_epi32(3, 7, 11, 15, 19, 23, 27, 31, 3, 7, 11, 15, 19, 23, 27, 31);
    const long mrows = seg + 1, parity = mrows * tw, kstride = 4 * parity, tiles = seg * tw;
    float buffers[2][WG_F4_BUFFER];
    for (long c = 0; c <= channels; c++) {
        if (c < channels) {
            const float *src = image + c * plane;
            float *hb = buffers[c & 1];
            for (long t0 = 0; t0 < tw; t0 += 8) {
                const __mmask16 lanes = first_lanes(tw - t0 < 8 ? tw - t0 : 8);
                const long s = 4 * t0 - 1;
                const __mmask16 ma0 = row_mask(s, w), ma1 = row_mask(s + 16, w);
                const __mmask16 mb0 = row_mask(s + 4, w), mb1 = row_mask(s + 20, w);
                for (long yy = 0; yy < 4 * seg + 2; yy++) {
                    const long y = 4 * ty0 + yy - 1;
                    float *dst = hb + (yy & 3) * parity + (yy >> 2) * tw + t0;
                    if (y < 0 || y >= h) {
                        for (int k = 0; k < 6; k++) _mm512_mask_storeu_ps(dst + k * kstride, lanes, _mm512_setzero_ps());
                        continue;
                    }
                    const float *row = src + y * w + s;
                    __m512 a0 = _mm512_maskz_loadu_ps(ma0, row), a1 = _mm512_maskz_loadu_ps(ma1, row + 16);
                    __m512 b0 = _mm512_maskz_loadu_ps(mb0, row + 4), b1 = _mm512_maskz_loadu_ps(mb1, row + 20);
                    __m512 d[6], r[6];
                    d[0] = _mm512_permutex2var_ps(a0, q0, a1);
                    d[1] = _mm512_permutex2var_ps(a0, q1, a1);
                    d[2] = _mm512_permutex2var_ps(a0, q2, a1);
                    d[3] = _mm512_permutex2var_ps(a0, q3, a1);
                    d[4] = _mm512_permutex2var_ps(b0, q0, b1);
                    d[5] = _mm512_permutex2var_ps(b0, q1, b1);
                    f4_bt(d, r);
#pragma clang loop unroll(full)
                    for (int k = 0; k < 6; k++) _mm512_mask_storeu_ps(dst + k * kstride, lanes, r[k]);
                }
            }
        }
        if (c == 0) continue;
        const float *hb = buffers[(c - 1) & 1];
        float *out = v + (c - 1) * ldv;
        for (long t = 0; t < tiles; t += 16) {
            const __mmask16 lanes = first_lanes(tiles - t);
#pragma clang loop unroll(full)
            for (int k = 0; k < 6; k++) {
                __m512 d[6], r[6];
#pragma clang loop unroll(full)
                for (int i = 0; i < 6; i++)
                    d[i] = _mm512_maskz_loadu_ps(lanes, hb + k * kstride + (i & 3) * parity + (i >> 2) * tw + t);
                f4_bt(d, r);
#pragma clang loop unroll(full)
                for (int i = 0; i < 6; i++) _mm512_mask_storeu_ps(out + (6 * i + k) * pstride + t, lanes, r[i]);
            }
        }
    }
}

WG_TARGET void fm_winograd_f4_input(const float *x, long channels, long h, long w, long firstRow, long rows,
                                    float *v, long ldv) {
    /* Tile rows per segment: the row buffer holds 6 * 4 * (seg + 1) * tw floats. */
    const long most = WG_F4_BUFFER / (24 * ((w + 3) / 4)) - 1;
    input_blocks(f4_input_segment, 4, 36 * channels, most, x, channels, h, w, firstRow, rows, v, ldv);
}

WG_TARGET void fm_winograd_f4_output(const float *m, long opad, long ldv, long outChannels, const float *bias,
                                     long h, long w, long firstRow, long rows, float *y) {
    const long th = (h + 3) / 4, tw = (w + 3) / 4, plane = h * w, pstride = opad * ldv;
    const __m512i lo = WG_INTERLEAVE_LO;
    const __m512i pairsLo = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i pairsHi = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    for (long r = 0; r < rows; r++) {
        const long n = (firstRow + r) / th, ty = (firstRow + r) % th;
        for (long o = 0; o < outChannels; o++) {
            const __m512 b = _mm512_set1_ps(bias ? bias[o] : 0.0f);
            const float *src = m + o * ldv + r * tw;
            float *out = y + (n * outChannels + o) * plane + 4 * ty * w;
            for (long t0 = 0; t0 < tw; t0 += 8) {
                const __mmask16 lanes = first_lanes(tw - t0 < 8 ? tw - t0 : 8);
                /* A^T M: rows a of the 4x6 product for each column k, then times A on the right. */
                __m512 s[4][6];
#pragma clang loop unroll(full)
                for (int k = 0; k < 6; k++) {
                    __m512 col[6], res[4];
#pragma clang loop unroll(full)
                    for (int i = 0; i < 6; i++) col[i] = _mm512_maskz_loadu_ps(lanes, src + (6 * i + k) * pstride + t0);
                    f4_at(col, res);
#pragma clang loop unroll(full)
                    for (int a = 0; a < 4; a++) s[a][k] = res[a];
                }
                const long x0 = 4 * t0, count = w - x0 < 32 ? w - x0 : 32;
                const __mmask16 m0 = first_lanes(count), m1 = first_lanes(count - 16 > 0 ? count - 16 : 0);
#pragma clang loop unroll(full)
                for (int a = 0; a < 4; a++) {
                    if (4 * ty + a >= h) break;
                    __m512 yv[4];
                    f4_at(s[a], yv);
                    /* Lanes l < 8 of y0..y3 are tiles t0 + l: interleave to 4 floats per tile. */
                    __m512 p01 = _mm512_permutex2var_ps(_mm512_add_ps(yv[0], b), lo, _mm512_add_ps(yv[1], b));
                    __m512 p23 = _mm512_permutex2var_ps(_mm512_add_ps(yv[2], b), lo, _mm512_add_ps(yv[3], b));
                    _mm512_mask_storeu_ps(out + a * w + x0, m0, _mm512_permutex2var_ps(p01, pairsLo, p23));
                    _mm512_mask_storeu_ps(out + a * w + x0 + 16, m1, _mm512_permutex2var_ps(p01, pairsHi, p23));
                }
            }
        }
    }
}

#else

void fm_winograd_f2_input(const float *x, long channels, long h, long w, long firstRow, long rows,
                          float *v, long ldv) {
    (void)x; (void)channels; (void)h; (void)w; (void)firstRow; (void)rows; (void)v; (void)ldv;
}
void fm_winograd_f2_input_bf16(const float *x, long channels, long h, long w, long firstRow, long rows,
                               uint32_t *vb, long ldv) {
    (void)x; (void)channels; (void)h; (void)w; (void)firstRow; (void)rows; (void)vb; (void)ldv;
}

void fm_winograd_multiply(long positions, const float *u, const float *v, float *m, long opad,
                          long channels, long ldv, long tiles) {
    (void)positions; (void)u; (void)v; (void)m; (void)opad; (void)channels; (void)ldv; (void)tiles;
}

void fm_winograd_f2_output(const float *m, long opad, long ldv, long outChannels, const float *bias,
                           long h, long w, long firstRow, long rows, float *y) {
    (void)m; (void)opad; (void)ldv; (void)outChannels; (void)bias; (void)h; (void)w; (void)firstRow;
    (void)rows; (void)y;
}

void fm_winograd_f4_input(const float *x, long channels, long h, long w, long firstRow, long rows,
                          float *v, long ldv) {
    (void)x; (void)channels; (void)h; (void)w; (void)firstRow; (void)rows; (void)v; (void)ldv;
}

void fm_winograd_f4_output(const float *m, long opad, long ldv, long outChannels, const float *bias,
                           long h, long w, long firstRow, long rows, float *y) {
    (void)m; (void)opad; (void)ldv; (void)outChannels; (void)bias; (void)h; (void)w; (void)firstRow;
    (void)rows; (void)y;
}

#endif
