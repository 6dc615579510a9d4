#include "WinogradKernels.h"
#include <string.h>

/* Winograd F(4x4, 3x3) for x86-64 with AVX2 and FMA but no AVX-512: the three steps of
   winograd_avx512.c's F(4x4) (formulas in WinogradKernels.h) with the same layouts, so the Swift
   side (Conv2dWinograd.swift) blocks and threads them alike and the weight transform is the
   shared fm_winograd_f4_weights. Vectors hold 8 tiles. Written on clang's 8-lane vector type
   with a function target attribute, like portable_kernels.c's AVX2 forms.

   Two ways to a tile's 6x6 patch and 4x4 outputs:
   - planes at least 29 wide (8 tiles a tile row or more): per tile row, the six input rows
     copied into a zero-padded strip and de-interleaved four ways (columns 4tx + j), 8 tiles a
     vector along the row; the outputs interleaved back into 32 consecutive floats;
   - narrower planes (airbench's 15, 7 and 3): a vector along the row would be mostly empty, so
     the 8 lanes are 8 consecutive tiles of the block (across tile rows and images): each
     tile's patch rows are read by masked loads (zeros past the plane's border) and transposed
     into lanes, and each lane's 4x4 outputs are scattered back to its tile (transposing them
     back and storing rows measured slower); the products, which dominate there (many channels
     on few pixels), still see full vectors. */

#if defined(__x86_64__)
#include "winograd_f4_vec8.h"
#include <immintrin.h>

/* A 4 x 16 block of M (4 of a panel's 8 output channels, 16 tiles) over all channels: per
   channel two loads of V, four broadcasts of U, eight FMAs into accumulators in registers
   (8 of the 16 ymm registers: enough independent sums to cover the FMA latency of two units). */
V8_TARGET static void multiply_4x16(const float *u, const float *v, long ldv, long channels, float *m, long ldm) {
    v8f acc[4][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = (v8f)0.0f;
    for (long c = 0; c < channels; c++) {
        const v8f b0 = load8(v + c * ldv), b1 = load8(v + c * ldv + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) {
            const v8f a = (v8f)u[c * 8 + i];
            acc[i][0] = fma8(a, b0, acc[i][0]);
            acc[i][1] = fma8(a, b1, acc[i][1]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++) {
        store8(m + i * ldm, acc[i][0]);
        store8(m + i * ldm + 8, acc[i][1]);
    }
}

/* 64-byte aligned: the inner loop (84 bytes) then starts on a cache line wherever the code
   before it in the binary ends. Placed 48 bytes into a line it ran 24% slower (AMD EPYC Zen 3,
   airbench step, perf samples 29.9k vs 24.1k for the identical loop). */
V8_TARGET __attribute__((aligned(64))) void fm_winograd_multiply_avx2(long positions, const float *u, const float *v, float *m, long opad,
                                         long channels, long ldv, long tiles) {
    for (long p = 0; p < positions; p++) {
        const float *up = u + p * opad * channels;
        const float *vp = v + p * channels * ldv;
        float *mp = m + p * opad * ldv;
        /* The V panel (channels x 16) stays in L1 while the output channels go by. */
        for (long t0 = 0; t0 < tiles; t0 += 16)
            for (long o0 = 0; o0 < opad; o0 += 4)
                multiply_4x16(up + (o0 / 8) * 8 * channels + o0 % 8, vp + t0, ldv, channels, mp + o0 * ldv + t0, ldv);
    }
}

/* y = A^T m for one 6-vector m (A^T rows: 1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1). */
V8_TARGET static inline void at6(const v8f *m, v8f *y) {
    v8f a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = fma8((v8f)2.0f, d, b);
    y[2] = fma8((v8f)4.0f, c, a);
    y[3] = fma8((v8f)8.0f, d, b) + m[5];
}

/* B^T d B for 8 tiles: d[6 * i + j] holds patch element (i, j) of each tile; the 36 results in
   position order p = 6 * i + k. */
V8_TARGET static inline void input_tiles(const v8f *d, v8f *out) {
    v8f e[6][6];   /* e[i] = B^T applied along patch row i: (d B)[i][k] */
#pragma clang loop unroll(full)
    for (int i = 0; i < 6; i++) bt6(d + 6 * i, e[i]);
#pragma clang loop unroll(full)
    for (int k = 0; k < 6; k++) {
        v8f col[6], q[6];
#pragma clang loop unroll(full)
        for (int i = 0; i < 6; i++) col[i] = e[i][k];
        bt6(col, q);
#pragma clang loop unroll(full)
        for (int i = 0; i < 6; i++) out[6 * i + k] = q[i];
    }
}

/* A^T M A + bias for 8 tiles: m[p] the 36 products; y[4 * a + b] output (a, b) of each tile. */
V8_TARGET static inline void output_tiles(const v8f *m, v8f bias, v8f *y) {
    v8f s[4][6];   /* s[a][k] = (A^T M)[a][k] */
#pragma clang loop unroll(full)
    for (int k = 0; k < 6; k++) {
        v8f col[6], res[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 6; i++) col[i] = m[6 * i + k];
        at6(col, res);
#pragma clang loop unroll(full)
        for (int a = 0; a < 4; a++) s[a][k] = res[a];
    }
#pragma clang loop unroll(full)
    for (int a = 0; a < 4; a++) {
        v8f row[4];
        at6(s[a], row);
#pragma clang loop unroll(full)
        for (int b = 0; b < 4; b++) y[4 * a + b] = row[b] + bias;
    }
}

/* Floats of one strip row: a zero, the widest row the path takes, whole groups of 8 tiles, and
   the 8 floats the last group's fifth and sixth columns read past them. */
#define V8_STRIP_ROW (FM_WINOGRAD_MAX_WIDTH + 48)

/* The tiles of one tile row (ty of image `image`), 8 along the row at a time, into v + t0. */
V8_TARGET static void input_row_tiles(const float *image, long channels, long h, long w, long ty, float *v,
                                      long ldv, long pstride, float strip[6][V8_STRIP_ROW]) {
    const long tw = (w + 3) / 4, plane = h * w;
    for (long c = 0; c < channels; c++) {
        const float *src = image + c * plane;
        /* strip[i][1 + x] = input row 4ty - 1 + i at column x; column 0 and those past w stay zero. */
        for (int i = 0; i < 6; i++) {
            const long y = 4 * ty - 1 + i;
            if (y >= 0 && y < h) memcpy(strip[i] + 1, src + y * w, (size_t)w * sizeof(float));
            else memset(strip[i] + 1, 0, (size_t)w * sizeof(float));
        }
        float *out = v + c * ldv;
        for (long t0 = 0; t0 < tw; t0 += 8) {
            v8f d[36], q[36];
#pragma clang loop unroll(full)
            for (int i = 0; i < 6; i++) {
                /* Tile t0 + l's patch row i is strip[i][4 (t0 + l) + j], j < 6: de-interleave 32
                   floats four ways (j < 4), then j = 4, 5 are columns 0, 1 of the next tile. */
                const float *s = strip[i] + 4 * t0;
                v8f a0 = load8(s), a1 = load8(s + 8), a2 = load8(s + 16), a3 = load8(s + 24), a4 = load8(s + 32);
                v8f lo01 = __builtin_shufflevector(a0, a1, 0, 4, 8, 12, 1, 5, 9, 13);
                v8f lo23 = __builtin_shufflevector(a0, a1, 2, 6, 10, 14, 3, 7, 11, 15);
                v8f hi01 = __builtin_shufflevector(a2, a3, 0, 4, 8, 12, 1, 5, 9, 13);
                v8f hi23 = __builtin_shufflevector(a2, a3, 2, 6, 10, 14, 3, 7, 11, 15);
                v8f *row = d + 6 * i;
                row[0] = __builtin_shufflevector(lo01, hi01, 0, 1, 2, 3, 8, 9, 10, 11);
                row[1] = __builtin_shufflevector(lo01, hi01, 4, 5, 6, 7, 12, 13, 14, 15);
                row[2] = __builtin_shufflevector(lo23, hi23, 0, 1, 2, 3, 8, 9, 10, 11);
                row[3] = __builtin_shufflevector(lo23, hi23, 4, 5, 6, 7, 12, 13, 14, 15);
                row[4] = __builtin_shufflevector(row[0], a4, 1, 2, 3, 4, 5, 6, 7, 8);
                row[5] = __builtin_shufflevector(row[1], a4, 1, 2, 3, 4, 5, 6, 7, 9);
            }
            input_tiles(d, q);
            const long count = tw - t0;
#pragma clang loop unroll(full)
            for (int p = 0; p < 36; p++) store_first(out + p * pstride + t0, q[p], count);
        }
    }
}

/* Where the patch of each of 8 tiles starts in its image (row 4ty - 1, column 4tx - 1) and which
   of its 6 rows and 6 columns lie inside the plane. */
typedef struct {
    long offset[8];              /* of the patch origin from the batch's first float, channel 0 */
    unsigned char rows[8], columns[8];   /* bit i: patch row / column i inside */
    long count;                  /* lanes that are tiles */
} TileLanes;

static inline void tile_lanes(long firstTile, long count, long channelsPlane, long h, long w, long tw, long th,
                              TileLanes *lanes) {
    lanes->count = count;
    for (long l = 0; l < 8; l++) {
        lanes->offset[l] = 0; lanes->rows[l] = 0; lanes->columns[l] = 0;
        if (l >= count) continue;
        const long t = firstTile + l, rowOfBatch = t / tw, tx = t % tw;
        const long n = rowOfBatch / th, ty = rowOfBatch % th;
        const long y0 = 4 * ty - 1, x0 = 4 * tx - 1;
        lanes->offset[l] = n * channelsPlane + y0 * w + x0;
        for (int i = 0; i < 6; i++) {
            if (y0 + i >= 0 && y0 + i < h) lanes->rows[l] |= (unsigned char)(1u << i);
            if (x0 + i >= 0 && x0 + i < w) lanes->columns[l] |= (unsigned char)(1u << i);
        }
    }
}

/* Groups of 8 tiles the gathered paths take per pass over the channels: each channel's V lines
   are then written whole, 16 tiles of a line within two neighbouring groups, rather than half a
   line per pass with every other channel's lines between the halves, which evicted them (part
   of the input transform's 26.7-28.0 -> 18.4-19.5 ms on 256 channels @7x7, Zen 3). The output
   transform reads M in the same order; that measured neither faster nor slower. */
#define V8_GATHER_GROUPS 4

/* The tiles of `groups` groups of 8 of the block (lanes[g], starting at tile 8g of v), each lane
   one tile: its six patch rows read by masked loads (the plane's border, and lanes past the
   group's count, read as zeros without touching memory), transposed so that lanes become tiles. */
V8_TARGET static void input_gathered_tiles(const float *x, long channels, long h, long w, const TileLanes *lanes,
                                           long groups, float *v, long ldv, long pstride) {
    const long plane = h * w;
    /* mask[g][i][l]: the columns of lane l's patch row i to read: none where the row lies outside
       the plane, columns 6 and 7 never. */
    __m256i mask[V8_GATHER_GROUPS][6][8];
    for (long g = 0; g < groups; g++)
        for (int i = 0; i < 6; i++)
            for (int l = 0; l < 8; l++) {
                const unsigned columns = lanes[g].rows[l] >> i & 1 ? lanes[g].columns[l] : 0;
                mask[g][i][l] = _mm256_setr_epi32(-(int)(columns & 1), -(int)(columns >> 1 & 1),
                                                  -(int)(columns >> 2 & 1), -(int)(columns >> 3 & 1),
                                                  -(int)(columns >> 4 & 1), -(int)(columns >> 5 & 1), 0, 0);
            }
    for (long c = 0; c < channels; c++)
        for (long g = 0; g < groups; g++) {
            v8f d[36], q[36];
#pragma clang loop unroll(full)
            for (int i = 0; i < 6; i++) {
                v8f r[8];
#pragma clang loop unroll(full)
                for (int l = 0; l < 8; l++)
                    r[l] = (v8f)_mm256_maskload_ps(x + lanes[g].offset[l] + c * plane + i * w, mask[g][i][l]);
                v8f columns[8];   /* columns 6 and 7 lie past the patch */
                transpose8x8(r, columns);
#pragma clang loop unroll(full)
                for (int j = 0; j < 6; j++) d[6 * i + j] = columns[j];
            }
            input_tiles(d, q);
            float *out = v + c * ldv + 8 * g;
            /* All 8 lanes: the block's vectors have room (ldv is whole vectors of 16 tiles), and
               lanes past the count are zeros. */
#pragma clang loop unroll(full)
            for (int p = 0; p < 36; p++) store8(out + p * pstride, q[p]);
        }
}

V8_TARGET void fm_winograd_f4_input_avx2(const float *x, long channels, long h, long w, long firstRow, long rows,
                                         float *v, long ldv) {
    const long th = (h + 3) / 4, tw = (w + 3) / 4, pstride = channels * ldv, tiles = rows * tw;
    if (tw >= 8) {
        float strip[6][V8_STRIP_ROW];
        memset(strip, 0, sizeof strip);
        for (long r = 0; r < rows; r++) {
            const long n = (firstRow + r) / th, ty = (firstRow + r) % th;
            input_row_tiles(x + n * channels * h * w, channels, h, w, ty, v + r * tw, ldv, pstride, strip);
        }
    } else {
        for (long t0 = 0; t0 < tiles; t0 += 8 * V8_GATHER_GROUPS) {
            TileLanes lanes[V8_GATHER_GROUPS];
            long groups = 0;
            for (long t = t0; t < tiles && groups < V8_GATHER_GROUPS; t += 8, groups++)
                tile_lanes(firstRow * tw + t, tiles - t < 8 ? tiles - t : 8, channels * h * w, h, w, tw, th, &lanes[groups]);
            input_gathered_tiles(x, channels, h, w, lanes, groups, v + t0, ldv, pstride);
        }
    }
    /* Zero tiles past the block, so the products never read stale memory. */
    for (long pc = 0; pc < 36 * channels; pc++)
        for (long t = tiles; t < ldv; t++) v[pc * ldv + t] = 0;
}

/* Output rows of one tile row: 8 tiles along the row at a time, their 4x4 outputs interleaved
   back into 32 consecutive floats of each output row. */
V8_TARGET static void output_row_tiles(const float *m, long pstride, long ldv, long outChannels, const float *bias,
                                       long h, long w, long ty, float *image) {
    const long tw = (w + 3) / 4, plane = h * w;
    for (long o = 0; o < outChannels; o++) {
        const v8f b = (v8f)(bias ? bias[o] : 0.0f);
        const float *src = m + o * ldv;
        float *out = image + o * plane + 4 * ty * w;
        for (long t0 = 0; t0 < tw; t0 += 8) {
            const long count = tw - t0;
            v8f q[36], y[16];
#pragma clang loop unroll(full)
            for (int p = 0; p < 36; p++) q[p] = load_first(src + p * pstride + t0, count);
            output_tiles(q, b, y);
            const long x0 = 4 * t0, columns = w - x0 < 32 ? w - x0 : 32;
            for (int a = 0; a < 4 && 4 * ty + a < h; a++) {
                /* Interleave y[4a + b] (b < 4, lanes = tiles) into tile-major order. */
                const v8f *r = y + 4 * a;
                v8f s01lo = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
                v8f s01hi = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
                v8f s23lo = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
                v8f s23hi = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
                /* s01lo: the (b0, b1) pairs of tiles 0, 1 | 4, 5; s23lo their (b2, b3) pairs; hi: tiles 2, 3 | 6, 7. */
                v8f tiles01 = __builtin_shufflevector(s01lo, s23lo, 0, 1, 8, 9, 2, 3, 10, 11);
                v8f tiles45 = __builtin_shufflevector(s01lo, s23lo, 4, 5, 12, 13, 6, 7, 14, 15);
                v8f tiles23 = __builtin_shufflevector(s01hi, s23hi, 0, 1, 8, 9, 2, 3, 10, 11);
                v8f tiles67 = __builtin_shufflevector(s01hi, s23hi, 4, 5, 12, 13, 6, 7, 14, 15);
                float *dst = out + a * w + x0;
                if (columns == 32) {
                    store8(dst, tiles01);
                    store8(dst + 8, tiles23);
                    store8(dst + 16, tiles45);
                    store8(dst + 24, tiles67);
                } else {
                    float row[32];
                    store8(row, tiles01);
                    store8(row + 8, tiles23);
                    store8(row + 16, tiles45);
                    store8(row + 24, tiles67);
                    memcpy(dst, row, (size_t)columns * sizeof(float));
                }
            }
        }
    }
}

/* The outputs of `groups` groups of 8 tiles of the block (lanes[g], from tile 8g of m), each
   lane's scattered to its own tile. */
V8_TARGET static void output_gathered_tiles(const float *m, long pstride, long ldv, long outChannels, const float *bias,
                                            long h, long w, const TileLanes *lanes, long groups, float *y) {
    const long plane = h * w;
    for (long o = 0; o < outChannels; o++) {
        const v8f b = (v8f)(bias ? bias[o] : 0.0f);
        for (long g = 0; g < groups; g++) {
            v8f q[36], r[16];
            /* All 8 lanes: the block's products have room (whole vectors of 16 tiles). */
#pragma clang loop unroll(full)
            for (int p = 0; p < 36; p++) q[p] = load8(m + o * ldv + p * pstride + 8 * g);
            output_tiles(q, b, r);
            float outputs[16][8];
#pragma clang loop unroll(full)
            for (int k = 0; k < 16; k++) store8(outputs[k], r[k]);
            for (long l = 0; l < lanes[g].count; l++) {
                /* The patch origin is one row and column before the tile's first output. */
                float *dst = y + lanes[g].offset[l] + o * plane + w + 1;
                const unsigned rows = lanes[g].rows[l] >> 1, columns = lanes[g].columns[l] >> 1;
                for (int a = 0; a < 4; a++) {
                    if (!(rows >> a & 1)) break;
                    for (int c = 0; c < 4; c++) {
                        if (!(columns >> c & 1)) break;
                        dst[a * w + c] = outputs[4 * a + c][l];
                    }
                }
            }
        }
    }
}

V8_TARGET void fm_winograd_f4_output_avx2(const float *m, long opad, long ldv, long outChannels, const float *bias,
                                          long h, long w, long firstRow, long rows, float *y) {
    const long th = (h + 3) / 4, tw = (w + 3) / 4, plane = h * w, pstride = opad * ldv, tiles = rows * tw;
    if (tw >= 8) {
        for (long r = 0; r < rows; r++) {
            const long n = (firstRow + r) / th, ty = (firstRow + r) % th;
            output_row_tiles(m + r * tw, pstride, ldv, outChannels, bias, h, w, ty, y + n * outChannels * plane);
        }
    } else {
        for (long t0 = 0; t0 < tiles; t0 += 8 * V8_GATHER_GROUPS) {
            TileLanes lanes[V8_GATHER_GROUPS];
            long groups = 0;
            /* Offsets count in the output's planes: outChannels planes an image. */
            for (long t = t0; t < tiles && groups < V8_GATHER_GROUPS; t += 8, groups++)
                tile_lanes(firstRow * tw + t, tiles - t < 8 ? tiles - t : 8, outChannels * plane, h, w, tw, th, &lanes[groups]);
            output_gathered_tiles(m + t0, pstride, ldv, outChannels, bias, h, w, lanes, groups, y);
        }
    }
}

#else

void fm_winograd_f4_input_avx2(const float *x, long channels, long h, long w, long firstRow, long rows,
                               float *v, long ldv) {
    (void)x; (void)channels; (void)h; (void)w; (void)firstRow; (void)rows; (void)v; (void)ldv;
}

void fm_winograd_multiply_avx2(long positions, const float *u, const float *v, float *m, long opad,
                               long channels, long ldv, long tiles) {
    (void)positions; (void)u; (void)v; (void)m; (void)opad; (void)channels; (void)ldv; (void)tiles;
}

void fm_winograd_f4_output_avx2(const float *m, long opad, long ldv, long outChannels, const float *bias,
                                long h, long w, long firstRow, long rows, float *y) {
    (void)m; (void)opad; (void)ldv; (void)outChannels; (void)bias; (void)h; (void)w; (void)firstRow;
    (void)rows; (void)y;
}

#endif
