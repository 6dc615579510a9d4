#ifndef FEATUREMAPS_BF16KERNELS_H
#define FEATUREMAPS_BF16KERNELS_H

#include <stdint.h>

/* bfloat16 products (bf16gemm): packers that round fp32 to bf16, the AVX512-BF16 micro-kernel
   (VDPBF16PS) and the AMX micro-kernel (TDPBF16PS). Each hardware function carries its own
   target attribute and is called only after fm_cpu_features() reported its extension (and, for
   AMX, after fm_amx_request_permission() returned 1), so the library still runs everywhere.
   Off x86-64 the hardware functions are empty and never called. bf16 values are stored as
   uint16_t (the high half of the fp32 bit pattern). */

/* Rounding: x to the nearest bf16, ties to even; NaN stays NaN (quiet bit set, sign and high
   payload kept); values beyond bf16's range become infinity. The same bits as Swift's
   roundedToBF16, which the tests check. Subnormals are kept (not flushed). */

/* Packs X[lane, p] = x[lane * laneStride + p * kStride], lanes 0..<lanes, p 0..<kc, as bf16
   pairs in slivers of `width` lanes: dst[s][q][l][2] holds X[s*width + l, 2q] in element 0 and
   X[s*width + l, 2q + 1] in element 1, q in 0..<kPadded/2 (kPadded even, >= kc). Lanes past
   `lanes` and p past kc are zero. The VNNI layout of the broadcast operand of the AVX512-BF16
   kernel (width FM_BF16_MR) and of every B operand (width FM_BF16_NR, or 16 for AMX tiles). */
void fm_bf16_pack_pairs(const float *x, long laneStride, long kStride, long lanes, long kc, long kPadded,
                        long width, uint16_t *dst);

/* Packs X as above into AMX A tiles: dst[s][kb][l][32] holds X[s*16 + l, 32*kb + 0..<32] (16 lanes
   per sliver, kPadded a multiple of 32), zero past `lanes` and past kc. */
void fm_bf16_pack_rows16(const float *x, long laneStride, long kStride, long lanes, long kc, long kPadded,
                         uint16_t *dst);

/* x[0..<count] rounded to bf16 in place, kept as fp32 (the software path's packed operands). */
void fm_bf16_round_floats(float *x, long count);

/* Rows and columns of the AVX512-BF16 micro-tile (C row-major, vectors along N). */
#define FM_BF16_MR 8
#define FM_BF16_NR 48

/* C[rows, cols] = alpha * (A sliver x B sliver) + beta * C, beta == 0 not reading C; fp32 sums.
   a: fm_bf16_pack_pairs slivers of width FM_BF16_MR, b: of width FM_BF16_NR, `pairs` k-pairs each,
   64-byte aligned. rows <= FM_BF16_MR, cols <= FM_BF16_NR. Call only when fm_cpu_features()
   reports FM_CPU_AVX512_BF16. */
void fm_bgemm_kernel_avx512bf16(long pairs, const uint16_t *a, const uint16_t *b, float *c, long ldc,
                                long rows, long cols, float alpha, float beta);

/* 1 when this process may use AMX tile data: asks Linux once per call for XFEATURE_XTILEDATA
   (arch_prctl(ARCH_REQ_XCOMP_PERM)); 0 if refused, off Linux or off x86-64. Idempotent (the
   permission is process-wide); Swift's CPUFeatures calls it once. */
int fm_amx_request_permission(void);

/* Rows and columns of C per AMX block: 2 x 2 tiles of 16 x 16 fp32. */
#define FM_AMX_MR 32
#define FM_AMX_NR 32

/* Loads the tile configuration fm_bgemm_kernel_amx uses (8 tiles of 16 rows x 64 bytes) on the
   calling thread / releases it. Bracket each thread's run of kernels with them. */
void fm_amx_configure(void);
void fm_amx_release(void);

/* C[rows, cols] = alpha * (A x B) + beta * C for one block of up to 32 x 32, beta == 0 not reading
   C. a0, a1: fm_bf16_pack_rows16 slivers (rows 0..<16 and 16..<32; a1 may repeat a0 when rows <= 16);
   b0, b1: fm_bf16_pack_pairs slivers of width 16 (columns 0..<16, 16..<32). `blocks` k-blocks of
   32. Call between fm_amx_configure and fm_amx_release, only where AMX is permitted. */
void fm_bgemm_kernel_amx(long blocks, const uint16_t *a0, const uint16_t *a1, const uint16_t *b0,
                         const uint16_t *b1, float *c, long ldc, long rows, long cols, float alpha, float beta);

/* Peak microbenchmarks: `iterations` rounds of independent dot products on registers (24
   VDPBF16PS on zmm) or tiles (4 TDPBF16PS, 16x16x32 each) on the calling thread. Return the
   FLOPs done (2 per multiply-add); `sink` receives a value so nothing is optimised away. */
double fm_bf16_peak_avx512bf16(long iterations, float *sink);
double fm_bf16_peak_amx(long iterations, float *sink);
/* The same loop with 24 fp32 FMAs on zmm (FM_CPU_AVX512): the fp32 side of the comparison. */
double fm_fp32_peak_avx512(long iterations, float *sink);

/* Hardware rounding for the tests: dst[i] = VCVTNE2PS2BF16's bf16 of src[i] (count a multiple of
   32). Only where FM_CPU_AVX512_BF16. */
void fm_bf16_convert_hardware(const float *src, uint16_t *dst, long count);

#endif
