#ifndef FEATUREMAPS_PORTABLE_KERNELS_H
#define FEATUREMAPS_PORTABLE_KERNELS_H
#include <stdint.h>

/* C forms of Swift kernels (portable_kernels.c): the Swift SIMD GEMM micro-kernel for AVX2 + FMA,
   GELU, batch normalisation's rows and sums, and bf16 rounding for AVX-512 and for AVX2, with the same arithmetic,
   operation for operation, so they give the same bits. The Swift
   target is compiled for the platform's baseline (SSE2 on x86-64), where Swift's fused
   multiply-adds become libm calls; and plain loops run on 128-bit vectors. These run instead
   when fm_cpu_features() reports FM_CPU_AVX512 (the _avx512 forms) or FM_CPU_AVX2 (the _avx2 ones). Off x86-64 they are never called. */

/* Rows and columns of the AVX2 micro-tile: the Swift SIMD kernel's 6 x 16, so both read the
   same packed slivers. */
#define FM_AVX2_MR 6
#define FM_AVX2_NR 16

/* C[rows, cols] = alpha * (A sliver x B sliver) + beta * C, beta == 0 not reading C.
   a: packed [kc][FM_AVX2_MR], b: packed [kc][FM_AVX2_NR]. rows <= FM_AVX2_MR, cols <= FM_AVX2_NR. */
void fm_sgemm_kernel_avx2(long kc, const float *a, const float *b, float *c, long ldc,
                          long rows, long cols, float alpha, float beta);

/* y[i] = GELU(x[i]) (erf form) and dx[i] = dy[i] * GELU'(x[i]) for i < count, sixteen lanes at
   a time (a tail padded with zeros), as Sources/Kernels/Ops/GELU.swift computes them. The
   avx512 forms need FM_CPU_AVX512, the avx2 forms FM_CPU_AVX2. */
void fm_gelu_forward_avx512(const float *x, float *y, long count);
void fm_gelu_backward_avx512(const float *x, const float *dy, float *dx, long count);
void fm_gelu_forward_avx2(const float *x, float *y, long count);
void fm_gelu_backward_avx2(const float *x, const float *dy, float *dx, long count);

/* RunSums.add (Sources/Kernels/Ops/Reductions.swift) over `runs` runs of n elements, run r at
   g + r * stride and x + r * stride: the terms of `kind` added to acc, in the order of one run
   after another: floats 0-63 are s0, s1, d0, d1, 16 lanes each (of each 32 elements of a run the
   first 16 go to s0/d0, the next to s1/d1; a last 16 to s0/d0), the rest go one by one to the
   tail sums acc[64] (s) and acc[65] (d). The partial sums stay in registers across the runs. */
#define FM_RUN_SUM_PLAIN 0                /* s += g */
#define FM_RUN_SUM_SQUARED_DEVIATIONS 1   /* d += (x - mean)^2 */
#define FM_RUN_SUM_CENTERED_DOT 2         /* s += g, d += g (x - mean) */
#define FM_RUN_SUM_MASKED_CENTERED_DOT 3  /* the same with g = 0 where !(x * scale + shift > 0) */
#define FM_RUN_SUM_GELU_CENTERED_DOT 4    /* the same with g = GELU'(x * scale + shift) g, written out (fm_bn_gelu_gradient_sums_chunk only) */
void fm_run_sums_strided_avx512(int kind, const float *g, const float *x, long n, long runs, long stride,
                                float mean, float scale, float shift, float *acc);
void fm_run_sums_strided_avx2(int kind, const float *g, const float *x, long n, long runs, long stride,
                              float mean, float scale, float shift, float *acc);

/* Batch norm's passes over channels ch0 ..< ch0 + count (count <= FM_CHANNEL_CHUNK) of [n, c, plane],
   image by image, each image's chunk of planes read front to back (BatchNorm2d.swift):
   - chunk_sums: for each channel k, RunSums of `kind` (params[3k ...]: mean, scale, shift, or
     NULL for none) over groups of `group` images, each group's total added to sums[k], dots[k]
     in Double, group after group: RunSums' bits, and the per-channel loops' totals;
   - forward_chunk: y = x * scale + shift, then with relu == FM_BN_RELU max with 0 (NaN kept), with
     relu == FM_BN_GELU GELU (fm_gelu_forward's lanes); coefficients[2k ...]: scale, shift;
   - backward_chunk: dx = scale * g + a * x + b, coefficients[5k ...]: scale, a, b, maskScale, maskShift;
     g = dy, or where masked != 0, dy where x * maskScale + maskShift > 0 and 0 elsewhere (a fused
     ReLU's gradient).
   - gelu_gradient_chunk: dy = GELU'(x * scale + shift) dz (fm_gelu_backward's lanes), coefficients[2k ...]:
     scale, shift: a fused GELU's gradient, the batch norm's output recomputed; dy may be dz.
   Each is the Swift loops' expression, element by element, so the same bits. */
#define FM_CHANNEL_CHUNK 32
#define FM_BN_RELU 1
#define FM_BN_GELU 2
void fm_channel_chunk_sums_avx512(int kind, const float *g, const float *x, long n, long c, long plane, long group,
                                  long ch0, long count, const float *params, double *sums, double *dots);
void fm_channel_chunk_sums_avx2(int kind, const float *g, const float *x, long n, long c, long plane, long group,
                                long ch0, long count, const float *params, double *sums, double *dots);
void fm_bn_forward_chunk_avx512(const float *x, float *y, long n, long c, long plane, long ch0, long count,
                                const float *coefficients, int relu);
void fm_bn_forward_chunk_avx2(const float *x, float *y, long n, long c, long plane, long ch0, long count,
                              const float *coefficients, int relu);
void fm_bn_backward_chunk_avx512(const float *x, const float *dy, float *dx, long n, long c, long plane, long ch0,
                                 long count, const float *coefficients, int masked);
void fm_bn_backward_chunk_avx2(const float *x, const float *dy, float *dx, long n, long c, long plane, long ch0,
                               long count, const float *coefficients, int masked);

void fm_bn_gelu_gradient_chunk_avx512(const float *x, const float *dz, float *dy, long n, long c, long plane, long ch0,
                                      long count, const float *coefficients);
void fm_bn_gelu_gradient_chunk_avx2(const float *x, const float *dz, float *dy, long n, long c, long plane, long ch0,
                                    long count, const float *coefficients);

/* The two passes above in one: dy = GELU'(x * scale + shift) dz written as chunk_sums of
   FM_RUN_SUM_CENTERED_DOT adds it up (params[3k ...]: mean, scale, shift), so the bits of
   gelu_gradient_chunk followed by chunk_sums over dy. */
void fm_bn_gelu_gradient_sums_chunk_avx512(const float *x, const float *dz, float *dy, long n, long c, long plane,
                                           long group, long ch0, long count, const float *params, double *sums,
                                           double *dots);
void fm_bn_gelu_gradient_sums_chunk_avx2(const float *x, const float *dz, float *dy, long n, long c, long plane,
                                         long group, long ch0, long count, const float *params, double *sums,
                                         double *dots);

/* fm_bf16_round_floats (x[0..<count] rounded to bf16 in place, the same bits) for AVX-512 and
   AVX2: the bf16 software path's rounding of the GEMM's packed blocks. */
void fm_bf16_round_floats_avx512(float *x, long count);
void fm_bf16_round_floats_avx2(float *x, long count);

/* packB's copy for B as stored (Sources/Kernels/GEMMPacking.swift): rows p < kc of b (row
   stride rowStride) into nr-wide slivers [ceil(nc/nr)][kc][nr], the last zero-padded; at the
   target's vector width. */
void fm_pack_b_rows_avx512(const float *b, long rowStride, long kc, long nc, long nr, float *dst);
void fm_pack_b_rows_avx2(const float *b, long rowStride, long kc, long nc, long nr, float *dst);

/* maxPool2x2Plane (Sources/Kernels/Ops/MaxPool2d.swift) for AVX2: the 2x2 stride-2 windows of one
   [.., w] plane into y [ho, wo] and each window's arg-max (flat index in the plane), the first
   maximum in the order top-left, top-right, bottom-left, bottom-right, a NaN winning over a
   number. Selections only: the Swift code's values and indices. Needs FM_CPU_AVX2. */
void fm_max_pool_2x2_plane_avx2(const float *x, long w, long ho, long wo, float *y, int32_t *argmax);
/* The same for `planes` consecutive [h, w] planes into [ho, wo] ones, with AVX-512 (masked loads
   and stores for each row's last windows). Needs FM_CPU_AVX512. */
void fm_max_pool_2x2_planes_avx512(const float *x, long planes, long h, long w, long ho, long wo, float *y,
                                   int32_t *argmax);
/* A window covering the whole of each of `planes` planes of `plane` values: y[p] and argmax[p]
   (flat index), the first maximum in plane order, a NaN winning. Needs FM_CPU_AVX512. */
void fm_max_pool_whole_planes_avx512(const float *x, long planes, long plane, float *y, int32_t *argmax);
/* Its backward: dx [planes, h, w] from the gradient g and arg-maxes [planes, ho, wo], g counting
   only where `relu` (a fused ReLU's pooled output, or NULL) is positive; every pixel of dx written.
   Needs FM_CPU_AVX512. */
void fm_max_pool_2x2_backward_planes_avx512(const float *g, const int32_t *argmax, const float *relu, long planes,
                                            long h, long w, long ho, long wo, float *dx);

#endif
