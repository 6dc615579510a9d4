#ifndef FEATUREMAPS_KERNELSC_H
#define FEATUREMAPS_KERNELSC_H

/* AVX-512 GEMM micro-kernel, compiled for AVX-512 with a function-level target attribute and
   called only when fm_cpu_features() reports FM_CPU_AVX512, so the library still runs on AVX2-only
   x86-64 and on arm64 (where fm_cpu_features is always 0 and the Swift kernel runs). */

/* Rows and columns of the AVX-512 micro-tile (C is row-major, vectors run along N). */
#define FM_AVX512_MR 8
#define FM_AVX512_NR 48

/* What this CPU reports (__builtin_cpu_supports), as FM_CPU_* bits; 0 off x86-64.
   FM_CPU_AMX_TILE is the CPU's flag only: Linux also wants arch_prctl(ARCH_REQ_XCOMP_PERM)
   before AMX state may be used. Read once, through Swift's CPUFeatures. */
#define FM_CPU_AVX512 1u        /* AVX-512F and AVX-512VL */
#define FM_CPU_AVX512_BF16 2u   /* AVX512_BF16 */
#define FM_CPU_AMX_TILE 4u      /* AMX-TILE */
#define FM_CPU_AMX_BF16 8u      /* AMX-BF16 (TDPBF16PS) */
#define FM_CPU_AVX2 16u         /* AVX2 and FMA */
unsigned fm_cpu_features(void);

/* C[rows, cols] = alpha * (A sliver x B sliver) + beta * C, beta == 0 not reading C.
   a: packed [kc][FM_AVX512_MR], b: packed [kc][FM_AVX512_NR], both 64-byte aligned.
   rows <= FM_AVX512_MR, cols <= FM_AVX512_NR; only the first rows x cols of C are touched. */
void fm_sgemm_kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            long rows, long cols, float alpha, float beta);

/* Rows of A and of B per register tile of the dot-product form of the "NT" kernel below. */
#define FM_AVX512_NT_MA 8
#define FM_AVX512_NT_NB 3
/* Floats of scratch fm_sgemm_nt_avx512 needs (A transposed in K blocks of 512 x 32). */
#define FM_AVX512_NT_WORK (512 * 32)

/* C[m, n] = alpha * A[m, k] * B[n, k]^T + beta * C (beta == 0 does not read C), row-major with
   row strides lda, ldb, ldc: the product of two matrices that are both contiguous along K
   (a convolution's weight gradient, dY * columns^T). Two forms, chosen by shape:
   - m >= 32 and (n >= 64 or k < 256): an outer-product kernel on C^T. A is transposed into `work` in K blocks
     (vectors along m); the rows of B are broadcast from memory as stored; each 32 x 8 tile of C
     is transposed back in registers. No horizontal sums.
   - otherwise: a dot-product kernel with vectors along K on both operands as stored, 8 x 3 tiles
     of C summed horizontally by a transpose-and-add tree at the end of each K block.
   work: FM_AVX512_NT_WORK floats, 64-byte aligned. Single-threaded; call after
   fm_cpu_features() reported FM_CPU_AVX512. */
void fm_sgemm_nt_avx512(long m, long n, long k, float alpha, const float *a, long lda,
                        const float *b, long ldb, float beta, float *c, long ldc, float *work);

#include "ConvKernels.h"
#include "WinogradKernels.h"
#include "WinogradWeightGradient.h"
#include "BF16Kernels.h"
#include "ConvAMXKernels.h"
#include "PortableKernels.h"

#endif
