#ifndef FEATUREMAPS_WINOGRADKERNELS_H
#define FEATUREMAPS_WINOGRADKERNELS_H

#include <stdint.h>

/* Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
   Networks", 2015) for 3x3 kernels at stride 1 and padding 1, with AVX-512. Call only after
   fm_cpu_features() reported FM_CPU_AVX512.

   Each 2x2 block of outputs ("tile") of one image and output channel is
     Y = A^T [ sum_c (G g[o][c] G^T) .* (B^T d[c] B) ] A
   with d[c] the 4x4 input patch around the tile (zero outside the image) and
     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
     A^T = [1 1 1 0; 0 1 -1 -1],
   so the 3x3 taps (9 multiplies per output, 36 per tile) become 16 multiplies per tile, one
   per position p = 4*i + k of the 4x4 transformed patch: 16 matrix products
     M[p][o][tile] = sum_c U[p][o][c] * V[p][c][tile].

   Tiles are numbered in "tile rows": tile row r of the whole batch is image r / th, tile row
   ty = r % th (th = ceil(h/2)), holding tw = ceil(w/2) tiles. A block is a run of consecutive
   tile rows; its tile t = (r - firstRow) * tw + tx. Vectors run along tiles. */

/* The widest image fm_winograd_f2_input takes (its per-channel row buffer is fixed). */
#define FM_WINOGRAD_MAX_WIDTH 512

/* U[p][o / 8][c][o % 8] = (G w[o][c] G^T)[p] for the panels of 8 output channels
   firstPanel ..< lastPanel (o < opad, opad a multiple of 8; zero for o >= outChannels), so
   that threads can each take some panels. w: [outChannels][channels][3][3]. u: 16 * opad *
   channels floats. */
void fm_winograd_f2_weights(const float *w, long outChannels, long channels, long opad, long firstPanel,
                            long lastPanel, float *u);

/* V[p][c][t] = (B^T d B)[p] for the tiles of tile rows firstRow ..< firstRow + rows, read from
   x: [images][channels][h][w]. v row stride ldv (>= rows * tw); tiles rows*tw ..< ldv are
   set to zero so the product never reads stale memory. */
void fm_winograd_f2_input(const float *x, long channels, long h, long w, long firstRow, long rows,
                          float *v, long ldv);

/* M[p][o][t] = sum_c U[p][o][c] * V[p][c][t] for p < positions (16 for F(2x2, 3x3), 36 for
   F(4x4, 3x3)), o < opad, t < tiles (a multiple of 16 and <= ldv); m row stride ldv, position
   stride opad * ldv. Sums run over c in order. */
void fm_winograd_multiply(long positions, const float *u, const float *v, float *m, long opad,
                          long channels, long ldv, long tiles);

/* y[n][o][2ty + a][2tx + b] = bias[o] + (A^T M A)[a][b] for the block's tile rows, rows and
   columns past h and w dropped. m as fm_winograd_multiply wrote it; bias [outChannels] or
   NULL. y: [images][outChannels][h][w]. */
void fm_winograd_f2_output(const float *m, long opad, long ldv, long outChannels, const float *bias,
                           long h, long w, long firstRow, long rows, float *y);

/* F(4x4, 3x3): the same three steps with 6x6 transformed patches (36 positions) and 4x4 output
   tiles (th = ceil(h/4), tw = ceil(w/4) tiles per image, tile rows as above):
     B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
     G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
     A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
   2.25 multiplies per output instead of 4, at larger rounding errors (the transforms scale
   values by up to 8 and by fractions that are not exact in binary). */
void fm_winograd_f4_weights(const float *w, long outChannels, long channels, long opad, long firstPanel,
                            long lastPanel, float *u);
void fm_winograd_f4_input(const float *x, long channels, long h, long w, long firstRow, long rows,
                          float *v, long ldv);
void fm_winograd_f4_output(const float *m, long opad, long ldv, long outChannels, const float *bias,
                           long h, long w, long firstRow, long rows, float *y);

/* The F(4x4, 3x3) steps for AVX2 + FMA without AVX-512 (winograd_avx2.c): the same arguments,
   layouts and results up to rounding (8 tiles a vector; call only after fm_cpu_features()
   reported FM_CPU_AVX2). U is fm_winograd_f4_weights'. */
void fm_winograd_f4_input_avx2(const float *x, long channels, long h, long w, long firstRow, long rows,
                               float *v, long ldv);
void fm_winograd_multiply_avx2(long positions, const float *u, const float *v, float *m, long opad,
                               long channels, long ldv, long tiles);
void fm_winograd_f4_output_avx2(const float *m, long opad, long ldv, long outChannels, const float *bias,
                                long h, long w, long firstRow, long rows, float *y);

/* bf16 products (winograd_bf16_avx512.c; call the last two only on AVX512-BF16): U and V rounded
   to bf16 as roundedToBF16 does, channels in pairs q = c / 2 (c = 2q in the low half, a zero
   high half past an odd channel count), fp32 sums over the pairs in order.
   ub[p][o / 8][q][o % 8] from u as fm_winograd_f2_weights / f4_weights wrote it;
   vb[p][q][t] (row stride ldv) from v as the input transforms wrote it, t < tiles (a multiple
   of 16); m as fm_winograd_multiply writes it. */
void fm_winograd_weights_bf16(const float *u, long positions, long opad, long channels, uint32_t *ub);
void fm_winograd_input_bf16(long positions, const float *v, long channels, long ldv, long tiles, uint32_t *vb);
/* fm_winograd_f2_input followed by fm_winograd_input_bf16 in one pass (the same bits; AVX-512):
   vb[p][q][t] for the block's tiles, zero words past them up to ldv. */
void fm_winograd_f2_input_bf16(const float *x, long channels, long h, long w, long firstRow, long rows,
                               uint32_t *vb, long ldv);
void fm_winograd_multiply_bf16(long positions, const uint32_t *ub, const uint32_t *vb, float *m, long opad,
                               long channels, long ldv, long tiles);

#endif
