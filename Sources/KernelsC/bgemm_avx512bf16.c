/* bf16 products on AVX512-BF16 (VDPBF16PS): the rounding packers and the micro-kernel bf16gemm
   runs between them (Sources/Kernels/BF16GEMM.swift), plus the peak microbenchmark. */
#include "KernelsC.h"
#include <string.h>
#include "bf16_round.h"

/* Portable: the software path runs this on every CPU (vectorised by the compiler for the
   platform's baseline, SSE2 or NEON). */
void fm_bf16_round_floats(float *x, long count) {
    for (long i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, 4);
        bits = bf16_round_bits(bits);
        memcpy(x + i, &bits, 4);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "gemm_store_avx512.h"

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* The scalar pair: element 2q (low half) and 2q + 1 (high half) of one lane. */
static inline uint32_t bf16_pair(const float *x, long kStride, long p, long kc) {
    uint32_t lo = 0, hi = 0;
    if (p < kc) memcpy(&lo, x + p * kStride, 4);
    if (p + 1 < kc) memcpy(&hi, x + (p + 1) * kStride, 4);
    return bf16_pair_bits(lo, hi);
}

/* r[i][j] -> r[j][i] for a 16 x 16 matrix of dwords: 32-bit and 64-bit unpacks transpose the
   4 x 4 blocks inside each 128-bit lane, two rounds of 128-bit lane shuffles move the blocks. */
BF16_TARGET __attribute__((always_inline))
static inline void bf16_transpose16(__m512i *r) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i + c], 128-bit lane L: rows 4i..4i+3 of column 4L + c. */
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i a0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), a1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
        __m512i a2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88), a3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_i32x4(a0, a2, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(a0, a2, 0xDD);
        r[4 + c] = _mm512_shuffle_i32x4(a1, a3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(a1, a3, 0xDD);
    }
}

BF16_TARGET
void fm_bf16_pack_pairs(const float *x, long laneStride, long kStride, long lanes, long kc, long kPadded,
                        long width, uint16_t *dst) {
    long pairs = kPadded / 2;
    long slivers = (lanes + width - 1) / width;
    uint32_t *out = (uint32_t *)dst;
    if (laneStride == 1) {
        /* Lanes contiguous (B as stored, A transposed): rows 2q and 2q + 1 are read left to right
           across every sliver (long contiguous reads the prefetchers follow, as sgemm's packB),
           16 lanes at a time; the rounded high halves of row 2q + 1 and row 2q interleave by a
           shift and an or. */
        for (long q = 0; q < pairs; q++) {
            long p = 2 * q;
            const float *r0 = x + p * kStride, *r1 = r0 + kStride;
            for (long s = 0; s < slivers; s++) {
                long l0 = s * width;
                long valid = lanes - l0 < width ? lanes - l0 : width;
                uint32_t *o = out + (s * pairs + q) * width;
                if (valid == width && width % 16 == 0 && p + 1 < kc) {
                    /* A whole sliver of two real rows (nearly every one): no masks. At -O2 the
                       masked loop below stays a loop with its masks computed per 16 lanes, and
                       the tall products (B packed from memory) lost 3-8% at 2 threads. */
                    for (long c0 = 0; c0 < width; c0 += 16) {
                        _mm512_storeu_si512(o + c0, bf16_pair16(_mm512_loadu_ps(r0 + l0 + c0), _mm512_loadu_ps(r1 + l0 + c0)));
                    }
                    continue;
                }
                for (long c0 = 0; c0 < width; c0 += 16) {
                    long n = valid - c0;
                    __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1u) : 0;
                    long store = width - c0 < 16 ? width - c0 : 16;
                    __mmask16 sm = (__mmask16)((1u << store) - 1u);
                    __m512 v0 = p < kc ? _mm512_maskz_loadu_ps(m, r0 + l0 + c0) : _mm512_setzero_ps();
                    __m512 v1 = p + 1 < kc ? _mm512_maskz_loadu_ps(m, r1 + l0 + c0) : _mm512_setzero_ps();
                    _mm512_mask_storeu_epi32(o + c0, sm, bf16_pair16(v0, v1));
                }
            }
        }
        return;
    }
    for (long s = 0; s < slivers; s++) {
        long l0 = s * width;
        long valid = lanes - l0 < width ? lanes - l0 : width;
        uint32_t *sliver = out + s * pairs * width;
        if (kStride == 1) {
            /* k contiguous (A as stored, B transposed): a lane's pairs are adjacent floats. Per 16
               lanes and 32 k: each lane's 32 floats rounded, their high halves gathered in order by
               one word permute (16 pairs), then a 16 x 16 transpose in registers turns lanes x pairs
               into 16 packed rows of 16 lanes, stored whole. */
            __m512i highHalves = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33,
                                                  31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
            for (long g0 = 0; g0 < width; g0 += 16) {
                long group = width - g0 < 16 ? width - g0 : 16;  /* 8 or 16: widths are 8, 16 and 48 */
                long live = valid - g0 < 0 ? 0 : valid - g0 > group ? group : valid - g0;
                __mmask16 rowMask = group == 16 ? (__mmask16)0xFFFF : (__mmask16)0xFF;
                long q0 = 0;
                for (; 2 * q0 + 32 <= kc; q0 += 16) {
                    __m512i r[16];
                    /* Both loops unrolled so r stays in registers (SwiftPM builds C at -O2, whose
                       unrolling threshold leaves them as loops over a stack array). */
#pragma clang loop unroll(full)
                    for (int l = 0; l < 16; l++) {
                        if (l < live) {
                            const float *src = x + (l0 + g0 + l) * laneStride + 2 * q0;
                            r[l] = _mm512_permutex2var_epi16(bf16_round16(_mm512_loadu_ps(src)), highHalves,
                                                             bf16_round16(_mm512_loadu_ps(src + 16)));
                        } else {
                            r[l] = _mm512_setzero_si512();
                        }
                    }
                    bf16_transpose16(r);
#pragma clang loop unroll(full)
                    for (int q = 0; q < 16; q++) _mm512_mask_storeu_epi32(sliver + (q0 + q) * width + g0, rowMask, r[q]);
                }
                for (long q = q0; q < pairs; q++)
                    for (long l = 0; l < group; l++)
                        sliver[q * width + g0 + l] = l < live ? bf16_pair(x + (l0 + g0 + l) * laneStride, 1, 2 * q, kc) : 0;
            }
        } else {
            for (long q = 0; q < pairs; q++)
                for (long l = 0; l < width; l++)
                    sliver[q * width + l] = l < valid ? bf16_pair(x + (l0 + l) * laneStride, kStride, 2 * q, kc) : 0;
        }
    }
}

BF16_TARGET
void fm_bf16_pack_rows16(const float *x, long laneStride, long kStride, long lanes, long kc, long kPadded,
                         uint16_t *dst) {
    long blocks = kPadded / 32;
    long slivers = (lanes + 15) / 16;
    __m512i highHalves = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33,
                                          31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (long s = 0; s < slivers; s++) {
        for (long kb = 0; kb < blocks; kb++) {
            uint16_t *tile = dst + (s * blocks + kb) * 16 * 32;
            long p0 = 32 * kb;
            long n = kc - p0 < 32 ? kc - p0 : 32;
            for (long l = 0; l < 16; l++) {
                long lane = s * 16 + l;
                if (lane >= lanes || n <= 0) {
                    _mm512_storeu_si512(tile + 32 * l, _mm512_setzero_si512());
                    continue;
                }
                const float *row = x + lane * laneStride + p0 * kStride;
                __m512 lo, hi;
                if (kStride == 1) {
                    __mmask16 m0 = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
                    __mmask16 m1 = n >= 32 ? (__mmask16)0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
                    lo = _mm512_maskz_loadu_ps(m0, row);
                    hi = _mm512_maskz_loadu_ps(m1, row + 16);
                } else {
                    float buffer[32] __attribute__((aligned(64)));
                    for (long p = 0; p < 32; p++) buffer[p] = p < n ? row[p * kStride] : 0.0f;
                    lo = _mm512_load_ps(buffer);
                    hi = _mm512_load_ps(buffer + 16);
                }
                __m512i packed = _mm512_permutex2var_epi16(bf16_round16(lo), highHalves, bf16_round16(hi));
                _mm512_storeu_si512(tile + 32 * l, packed);
            }
        }
    }
}

#define MR FM_BF16_MR
#define NV (FM_BF16_NR / 16)

/* 8 x 48 of C in 24 zmm accumulators; per k-pair three B vectors (16 columns x 2 k each) and
   eight 32-bit broadcasts of A's pairs, 24 VDPBF16PS. */
BF16_TARGET
void fm_bgemm_kernel_avx512bf16(long pairs, const uint16_t *a, const uint16_t *b, float *c, long ldc,
                                long rows, long cols, float alpha, float beta) {
    __m512 acc[MR][NV];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();

    const int32_t *ap = (const int32_t *)a;
    const __m512i *bp = (const __m512i *)b;
    for (long q = 0; q < pairs; q++) {
        __m512bh bv[NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_load_si512(bp + v);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32(ap[i]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
        }
        ap += MR;
        bp += NV;
    }

    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int readC = beta != 0.0f;
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (i < rows) fm_store_row(c + i * ldc, acc[i], NV, cols, va, vb, readC);
    }
}

/* 24 independent accumulators, as the micro-kernel keeps: the latency of each VDPBF16PS is hidden
   by the other 23, so the loop runs at the unit's throughput. */
BF16_TARGET
double fm_bf16_peak_avx512bf16(long iterations, float *sink) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_setzero_ps();
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3F803F80); /* pairs of 1.0 */
    __m512bh y = (__m512bh)_mm512_set1_epi32(0x24002400); /* pairs of 2^-55: sums stay finite */
    for (long it = 0; it < iterations; it++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
        __asm__ volatile("" : "+v"(x), "+v"(y));  /* keep the operands in registers, loop not folded */
    }
    __m512 total = acc[0];
    for (int i = 1; i < 24; i++) total = _mm512_add_ps(total, acc[i]);
    *sink = _mm512_reduce_add_ps(total);
    return (double)iterations * 24.0 * 32.0 * 2.0;
}

/* The same loop with fp32 FMAs on the same registers: what the bf16 loop is compared with when
   CPUFeatures decides whether VDPBF16PS is worth its rounding on this CPU. */
__attribute__((target("avx512f")))
double fm_fp32_peak_avx512(long iterations, float *sink) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_setzero_ps();
    __m512 x = _mm512_set1_ps(1.0f);
    __m512 y = _mm512_set1_ps(0x1p-55f); /* sums stay finite */
    for (long it = 0; it < iterations; it++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
        __asm__ volatile("" : "+v"(x), "+v"(y));
    }
    __m512 total = acc[0];
    for (int i = 1; i < 24; i++) total = _mm512_add_ps(total, acc[i]);
    *sink = _mm512_reduce_add_ps(total);
    return (double)iterations * 24.0 * 16.0 * 2.0;
}

BF16_TARGET
void fm_bf16_convert_hardware(const float *src, uint16_t *dst, long count) {
    for (long i = 0; i + 32 <= count; i += 32) {
        /* cvtne2ps: the second operand fills the low 16 results. */
        __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(dst + i, (__m512i)r);
    }
}

#else

void fm_bf16_pack_pairs(const float *x, long laneStride, long kStride, long lanes, long kc, long kPadded,
                        long width, uint16_t *dst) {
    (void)x; (void)laneStride; (void)kStride; (void)lanes; (void)kc; (void)kPadded; (void)width; (void)dst;
}
void fm_bf16_pack_rows16(const float *x, long laneStride, long kStride, long lanes, long kc, long kPadded,
                         uint16_t *dst) {
    (void)x; (void)laneStride; (void)kStride; (void)lanes; (void)kc; (void)kPadded; (void)dst;
}
void fm_bgemm_kernel_avx512bf16(long pairs, const uint16_t *a, const uint16_t *b, float *c, long ldc,
                                long rows, long cols, float alpha, float beta) {
    (void)pairs; (void)a; (void)b; (void)c; (void)ldc; (void)rows; (void)cols; (void)alpha; (void)beta;
}
double fm_bf16_peak_avx512bf16(long iterations, float *sink) { (void)iterations; *sink = 0; return 0; }
double fm_fp32_peak_avx512(long iterations, float *sink) { (void)iterations; *sink = 0; return 0; }
void fm_bf16_convert_hardware(const float *src, uint16_t *dst, long count) { (void)src; (void)dst; (void)count; }

#endif
