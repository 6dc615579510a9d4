/* B^T of Winograd F(4x4, 3x3) on one 6-vector, shared by the forward input transform
   (winograd_avx512.c) and the weight gradient's (winograd_wgrad_avx512.c). x86-64 only: both
   include it inside `#if defined(__x86_64__)`. */
#ifndef FEATUREMAPS_WINOGRAD_F4_BT_H
#define FEATUREMAPS_WINOGRAD_F4_BT_H
#include <immintrin.h>

/* r = B^T d for one 6-vector d (B^T rows: 4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
   0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1). */
__attribute__((target("avx512f"), always_inline))
static inline void f4_bt(const __m512 *d, __m512 *r) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    __m512 t0 = _mm512_fnmadd_ps(four, d[2], d[4]);        /* d4 - 4 d2 */
    __m512 t1 = _mm512_fnmadd_ps(four, d[1], d[3]);        /* d3 - 4 d1 */
    __m512 t2 = _mm512_sub_ps(d[4], d[2]);                 /* d4 - d2 */
    __m512 t3 = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));  /* 2 (d3 - d1) */
    r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    r[1] = _mm512_add_ps(t0, t1);
    r[2] = _mm512_sub_ps(t0, t1);
    r[3] = _mm512_add_ps(t2, t3);
    r[4] = _mm512_sub_ps(t2, t3);
    r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

#endif
