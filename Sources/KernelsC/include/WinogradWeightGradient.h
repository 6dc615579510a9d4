#ifndef FEATUREMAPS_WINOGRADWEIGHTGRADIENT_H
#define FEATUREMAPS_WINOGRADWEIGHTGRADIENT_H

/* Weight gradient of a 3x3, stride-1, padding-1 convolution by Winograd F(2x2, 3x3) or
   F(4x4, 3x3) (`tile` 2 or 4), AVX-512 (call only after fm_cpu_features() reported FM_CPU_AVX512).

   The forward pass of one 2x2 output tile is Y = A^T [(G g G^T) . (B^T d B)] A, with d the 4x4
   tile of the padded input at stride 2 and g the 3x3 kernel. Hence, with U = G g G^T,
     dL/dU[p][o][c] = sum over images and tiles of Z[p][o][tile] * V[p][c][tile]
   where V = B^T d B (input transformed) and Z = A dY A^T (the 2x2 output-gradient tile lifted
   to 4x4), and dL/dg = G^T (dL/dU) G. Per tile and (o, c): 16 multiply-adds instead of 36.
   Tiles past an odd edge are partial: dY is zero there.

   F(4x4, 3x3) likewise with the forward pass's F(4x4) matrices (winograd_avx512.c): d is the
   6x6 tile at stride 4, V = B^T d B, Z = A dY A^T lifts the 4x4 output-gradient tile to 6x6
   (A = the transpose of A^T, 6x4), and dL/dg = G^T (dL/dU) G with G 6x3: 36 multiply-adds per
   tile and (o, c) for 16 outputs, 2.25 per output where F(2x2) does 4 and the direct kernel 9.

   bf16 (call only after fm_cpu_features() reported AVX512-BF16): V and Z are rounded to bf16
   (as roundedToBF16 does) as the transforms write them, two neighbouring tiles of a row per
   32-bit word, and the products run on VDPBF16PS with fp32 sums; a row of an odd number of
   tiles gets one of zero gradient. The 3x3 fold and every sum across tiles stay fp32. Only
   with tile 2: tile 4 computes fp32 whatever bf16 says (the Swift caller refuses the pair).

   Floats of scratch one call needs (64-byte alignment is done inside). */
long fm_wino_wgrad_scratch_floats(long inChannels, long outChannels, long height, long width, int tile, int bf16);

/* dw[o][c*9 + i*3 + j] = sum over `images` images of the weight gradient, overwritten (zero when
   images == 0). x: [images][inChannels][height][width], dy: [images][outChannels][height][width].
   The images are summed in a fixed order, so the result depends only on the inputs. */
void fm_wino_wgrad_avx512(long images, long inChannels, long outChannels, long height, long width,
                          const float *x, const float *dy, float *scratch, float *dw, int tile, int bf16);

/* The same with tile 4 and fp32 on AVX2 + FMA without AVX-512 (winograd_wgrad_avx2.c; call
   only after fm_cpu_features() reported FM_CPU_AVX2): the same scratch
   (fm_wino_wgrad_scratch_floats with tile 4, bf16 0) and results up to rounding. */
void fm_wino_wgrad_avx2(long images, long inChannels, long outChannels, long height, long width,
                        const float *x, const float *dy, float *scratch, float *dw);

#endif
