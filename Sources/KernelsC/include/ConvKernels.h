#ifndef FEATUREMAPS_CONVKERNELS_H
#define FEATUREMAPS_CONVKERNELS_H

#include <stdint.h>

/* Direct stride-1 convolution with AVX-512, vectors along output channels (call only after
   fm_cpu_features() reported FM_CPU_AVX512; on other CPUs the panel GEMM in Conv2dPanels.swift runs).

   For each image n and output pixel (oy, ox) of a zero-padded input [C][Hp][Wp]:
     y[n][o][oy][ox] = bias[o] + sum_t w[t][o] * xpad[n][tapOffsets[t] + oy*Wp + ox]
   with tapOffsets[t] = (c*Hp + i)*Wp + j for tap t = (c, i, j). Pixels are taken as
   "wide rows" q = oy*Wp + ox, ox < Wp, so a tile of consecutive q reads consecutive floats
   of the padded image for every tap; columns ox >= Wo are computed and not stored.

   xpad:       images x imageSize floats, followed by at least FM_CONV_MARGIN + kw floats.
   w:          packed [outChannels / (16*vectors), rounded up][taps][16*vectors], 64-byte aligned,
               zero past outChannels.
   bias:       [that many blocks * 16*vectors] floats, or NULL for none.
   vectors:    1 (16 channels per block) or 2 (32).
   y:          [images][outChannels][ho][wo]. */
#define FM_CONV_MARGIN 32

void fm_conv_direct_avx512(const float *xpad, long images, long imageSize, long wp, long ho, long wo,
                           const int *tapOffsets, long taps, const float *w, const float *bias,
                           long vectors, long outChannels, float *y);

/* The same convolution with bf16 products (AVX512-BF16; call only after fm_cpu_features()
   reported it): taps paired along kernel rows, (j, j + 1), a pair's two products summed by one
   VDPBF16PS lane, fp32 sums; bias and outputs fp32.
     pairs:       images x imageSize pair words of the padded images (fm_conv_pair_words_avx512),
                  followed by FM_CONV_MARGIN + kw - 1 more (of the margin).
     pairOffsets: per pair of taps (c, i, j) and (c, i, j + 1), j even, the offset of (c, i, j);
                  a row of odd width ends with (c, i, kw - 1) alone.
     w:           packed [blocks][pairCount][16*vectors] words: bf16 of w(c, i, j) in the low half,
                  of w(c, i, j + 1) (zero for a lone tap) in the high half; zero past outChannels. */
void fm_conv_direct_bf16_avx512(const uint32_t *pairs, long images, long imageSize, long wp, long ho, long wo,
                                const int *pairOffsets, long pairCount, const uint32_t *w, const float *bias,
                                long vectors, long outChannels, float *y);

/* p[q] = bf16(x[q]) | bf16(x[q + 1]) << 16 for q < count (roundedToBF16's rounding): the pair
   words of fm_conv_direct_bf16_avx512. Reads x[0 ... count]. */
void fm_conv_pair_words_avx512(const float *x, long count, uint32_t *p);

/* Weight gradient of the same convolution, summed over a group of images:
     dw[o][t] (+)= sum_n sum_q dy[n][o][q] * xpad[n*imageSize + tapOffsets[t] + q],   q < widePlane
   dy:  the output gradient on wide rows, [images][outChannels][widePlane], zero in the dropped
        columns (ox >= Wo) so they add nothing.
   xpad, imageSize, tapOffsets: as for fm_conv_direct_avx512 (margin included).
   dw:  [outChannels][taps], overwritten when accumulate is 0, added to otherwise.
   Vectors run along q: each tile of 8 channels x 3 taps keeps 24 accumulators over every
   image of the group and sums them horizontally once. */
void fm_conv_wgrad_avx512(long outChannels, long taps, long images, long widePlane,
                          const float *dy, const float *xpad, long imageSize, const int *tapOffsets,
                          float *dw, int accumulate);

/* Weight gradient with vectors along output channels, for 3x3 and 5x5 kernels, one image:
     acc[blk][c][i*kw + j][lane] (+)= sum_{oy<ho, ox<wo} dyT[oy*wo + ox][blk*16*vectors + lane] * xpad[c][oy + i][ox + j]
   dyT:  the image's output gradient transposed to [ho*wo][opad] (opad = blocks*16*vectors, zero
         past outChannels), 64-byte aligned rows not required.
   xpad: the image zero-padded, [inChannels][hp][wp].
   acc:  [blocks][inChannels][kh*kw][16*vectors], overwritten when accumulate is 0.
   Returns 0 when (kh, kw, vectors) has no kernel here (then nothing is written). Per pixel and
   input channel: `vectors` loads of dyT and kh*kw broadcasts of the input feed kh*kw*vectors FMAs,
   with no horizontal sums. */
int fm_conv_wgrad_bcast_avx512(long inChannels, long kh, long kw, long vectors, long blocks,
                               const float *dyT, long opad, const float *xpad, long hp, long wp,
                               long ho, long wo, float *acc, int accumulate);

/* The same with bf16 products (AVX512-BF16): pixels of each output row in pairs, one VDPBF16PS
   per tap and pair, fp32 sums.
     dyPairs: [ho][(wo + 1) / 2][opad] words from fm_conv_gradient_pair_words_avx512.
     pairs:   the image's pair words (fm_conv_pair_words_avx512 over the padded image and its
              margin), [inChannels][hp][wp] and more.
   Returns 0 when (kh, kw, vectors) has no kernel here. */
int fm_conv_wgrad_bcast_bf16_avx512(long inChannels, long kh, long kw, long vectors, long blocks,
                                    const uint32_t *dyPairs, long opad, const uint32_t *pairs, long hp, long wp,
                                    long ho, long wo, float *acc, int accumulate);

/* dyPairs[oy][pp][o] = bf16(dyT[oy*wo + 2pp][o]) | bf16(dyT[oy*wo + 2pp + 1][o]) << 16 (a zero
   high half past an odd wo), o < opad (a multiple of 16). */
void fm_conv_gradient_pair_words_avx512(const float *dyT, long opad, long ho, long wo, uint32_t *dyPairs);

/* The direct convolution of one zero-padded image at stride 1 on AVX2 + FMA (conv_rows_avx2.c;
   call only after fm_cpu_features() reported FM_CPU_AVX2): y[o][oy][ox] = bias[o] (0 when bias is
   NULL) + sum over c < channels, i < kh, j < kw of w[o][c][i][j] * xpad[c][oy + i][ox + j], for
   o < outChannels, oy < ho, ox < wo. xpad: [channels][hp][wp] followed by at least 8 + kw floats;
   y: [outChannels][ho][wo]. Each output's sum runs over (c, i, j) in that order, one FMA a tap. */
void fm_conv_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw, const float *w,
                       const float *bias, long outChannels, long ho, long wo, float *y);

/* The weight gradient of one zero-padded image at stride 1 on AVX2 + FMA, as lane sums
   (conv_rows_avx2.c; call only after fm_cpu_features() reported FM_CPU_AVX2):
   acc[o][c][i][j][l] (+)= sum over oy < ho and ox = l, l + 8, ... < wo of dy[o][oy][ox] *
   xpad[c][oy + i][ox + j] (accumulate 0: =, else +=), for o < outChannels, c < channels, i < kh,
   j < kw <= 7; dW[o][c][i][j] is the sum of its 8 lanes. xpad: [channels][hp][wp] followed by at
   least 8 + kw finite floats; dy: [outChannels][ho][wo]. */
void fm_conv_wgrad_rows_avx2(const float *xpad, long channels, long hp, long wp, long kh, long kw,
                             const float *dy, long outChannels, long ho, long wo, float *acc, int accumulate);

/* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols: a transpose in 16 x 16 register blocks. */
void fm_transpose_avx512(const float *src, long rows, long cols, long lds, float *dst, long ldd);

#endif
