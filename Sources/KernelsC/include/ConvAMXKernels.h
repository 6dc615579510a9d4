#ifndef FEATUREMAPS_CONVAMXKERNELS_H
#define FEATUREMAPS_CONVAMXKERNELS_H

#include <stdint.h>

/* Stride-1 convolution on AMX tiles (TDPBF16PS), read in place from a zero-padded image: the
   implicit GEMM  y[o, q] = sum_{t, c} W_t[o, c] * xpad[c, q + offset_t]  over the "wide" output
   pixels q = oy * Wp + ox (Wp = W + 2 * padding; the columns ox >= Wo are computed and dropped),
   with offset_t = i * Wp + j for tap t = (i, j). A tiles are 16 output channels x 32 input
   channels of one tap's weights; B tiles are 16 input-channel pairs x 16 consecutive pixels of
   the padded image, loaded straight from it (no columns matrix); C tiles 16 output channels x 16
   pixels, 2 x 2 of them per block. Operands are bf16 (rounded as Swift's roundedToBF16), sums
   fp32. Call only where fm_amx_request_permission() returned 1; off x86-64 these are empty. */

/* Pair words of one NCHW fp32 image, zero-padded by `padding` on every side: for each pair of
   channels cp (channels 2cp and 2cp + 1, zero past `channels`), `planeWords` words starting at
   dst + cp * planeWords hold (x[2cp][h][w] in the low half, x[2cp+1][h][w] in the high half) at
   (h + padding) * (width + 2 padding) + w + padding, and zero everywhere else (the border and the
   slack after the padded plane). `pairs` planes are written (pairs * 2 >= channels). AVX-512F. */
void fm_conv_amx_pair_image(const float *x, long channels, long height, long width, long padding,
                            long planeWords, long pairs, uint32_t *dst);

/* Weights [O][C][taps] fp32 as the kernel's A tiles: dst[((t * oTiles + ot) * cBlocks + cb) * 512
   + r * 32 + j] = bf16(w[ot*16 + r][cb*32 + j][t]), zero past O or C. */
void fm_conv_amx_pack_weights(const float *w, long outChannels, long inChannels, long taps, long oTiles,
                              long cBlocks, uint16_t *dst);

/* One image: y[o][oy][ox] (NCHW fp32, o < outChannels) = bias[o] (if bias) + the sums above.
   x: fm_conv_amx_pair_image's planes (cBlocks * 16 of them, `planeWords` words apart), which must
   hold every word a block reads: planeWords >= ceil(outHeight * wp / 32) * 32 + the largest
   offset. w: fm_conv_amx_pack_weights's tiles. offsets: `taps` word offsets. */
void fm_conv_amx_forward(const uint32_t *x, long planeWords, long cBlocks, const uint16_t *w, long oTiles,
                         const long *offsets, long taps, long wp, long outHeight, long outWidth, long outChannels,
                         const float *bias, float *y);

/* Weight gradient, the transposed implicit GEMM  dW_t[c, o] = sum_q xpad[c, q + offset_t] * dy[o, q]
   over the wide pixels q of a run of images laid one after another: A tiles are 16 input channels
   x 32 pixels of the padded image (bf16, one row per channel), B tiles 16 pixel pairs x 16 output
   channels of dy (bf16 pair words, dy zero at dropped columns and past each image's pixels). */

/* Rounds each channel of one NCHW fp32 image (`channels` planes of height x width) to bf16 into
   dst + c * rowHalfwords: x[c][h][w] at (h + padding) * wp + w + padding, zero elsewhere in the
   first `planeHalfwords`. With padding 0 and wp > width it lays dy out on the wide pixels. */
void fm_conv_amx_plane_bf16(const float *x, long channels, long height, long width, long padding, long wp,
                            long planeHalfwords, long rowHalfwords, uint16_t *dst);

/* dst[k * rowsPadded + r] = the pair word (wide[r][2k], wide[r][2k + 1]) of rows r < rows
   (rowHalfwords apart, even), zero for rows..<rowsPadded (a multiple of 16); k < pairs. */
void fm_conv_amx_pair_transpose(const uint16_t *wide, long rows, long rowHalfwords, long pairs, long rowsPadded,
                                uint32_t *dst);

/* acc[t][c][o] (taps x cTiles*16 x oTiles*16 fp32) = (accumulate ? acc : 0) + sum over k < pixels
   (a multiple of 32) of x[c][k + offsets[t]] * dy pair words [k / 2][o]. x rows are rowHalfwords
   apart and must hold every offset read; rows past the channels and their sums are don't-cares. */
void fm_conv_amx_weight_gradient(const uint16_t *x, long rowHalfwords, long cTiles, const uint32_t *dy, long oTiles,
                                 long pixels, const long *offsets, long taps, float *acc, int accumulate);

#endif
