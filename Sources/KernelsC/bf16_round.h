/* roundedToBF16's rounding (ties to even, subnormals kept, NaN kept NaN) in C: the bf16 GEMM's
   packers (bgemm_avx512bf16.c) and bf16 Winograd (winograd_bf16_avx512.c) share it. Private to
   KernelsC. */
#ifndef FEATUREMAPS_BF16_ROUND_H
#define FEATUREMAPS_BF16_ROUND_H
#include <stdint.h>

/* roundedToBF16's bits, as a 32-bit pattern whose low half is zero. */
static inline uint32_t bf16_round_bits(uint32_t bits) {
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (bits | 0x00400000u) & 0xFFFF0000u;
    return (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
}

/* The word VDPBF16PS takes for the pair (lo, hi), given as float bit patterns: lo rounded to
   bf16 in the low half, hi in the high half (a lane's two products are consecutive steps of
   its sum). */
static inline uint32_t bf16_pair_bits(uint32_t lo, uint32_t hi) {
    return bf16_round_bits(hi) | (bf16_round_bits(lo) >> 16);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Sixteen floats rounded as bf16_round_bits does (integer arithmetic, so the bits match the
   Swift function on every input, subnormals included). */
__attribute__((target("avx512f"), always_inline))
static inline __m512i bf16_round16(__m512 x) {
    __m512i bits = _mm512_castps_si512(x);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    rounded = _mm512_mask_or_epi32(rounded, nan, bits, _mm512_set1_epi32(0x00400000));
    return _mm512_and_si512(rounded, _mm512_set1_epi32((int)0xFFFF0000u));
}

/* bf16_pair_bits for sixteen lanes: lo's lanes rounded into the low halves, hi's into the high. */
__attribute__((target("avx512f"), always_inline))
static inline __m512i bf16_pair16(__m512 lo, __m512 hi) {
    return _mm512_or_si512(bf16_round16(hi), _mm512_srli_epi32(bf16_round16(lo), 16));
}

/* dst[t] = bf16_pair(lo[t], hi[t]) for t < count (a multiple of 16); hi NULL: a zero high half.
   The pair words VDPBF16PS takes, from two rows of floats. */
__attribute__((target("avx512f"), always_inline))
static inline void bf16_pack_rows(const float *lo, const float *hi, long count, uint32_t *dst) {
    for (long t = 0; t < count; t += 16)
        _mm512_storeu_si512(dst + t, bf16_pair16(_mm512_loadu_ps(lo + t), hi ? _mm512_loadu_ps(hi + t) : _mm512_setzero_ps()));
}

/* acc + w . (the pair word *p in every lane), the word as VDPBF16PS's embedded broadcast
   operand. clang folds a broadcast into VFMADD231PS but not into VDPBF16PS: from
   _mm512_set1_epi32 it emits a VBROADCASTSS per word. Where every product has its own word
   (the direct convolution's tiles) that doubles the instructions: on the Zen 4 the seed net's
   bf16 training step went from 6,774 to 7,534 img/s with this. Where one word feeds two to
   four products (the Winograd products) it measured no faster (VGG 1,693 vs 1,694 img/s,
   airbench 623 vs 635), so they keep the intrinsic. */
__attribute__((target("avx512f,avx512bf16"), always_inline))
static inline __m512 dpbf16_broadcast(__m512 acc, __m512bh w, const uint32_t *p) {
    __asm__("vdpbf16ps %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*p));
    return acc;
}
#endif

#endif
